#!/usr/bin/env python3
"""DNS benchmark: berth's embedded DNS server (`berth __internal dns`) against
dnsmasq (Debian's dnsmasq-base) serving the same names, in one run.

A throwaway network namespace plays the host: one bridge carries two gateway
addresses, 10.210.0.1 (berth) and 10.210.0.2 (dnsmasq). A second namespace
plays a container (10.210.0.10, a veth on the bridge) and runs the clients:

  latency     one query at a time over UDP; p50 / p99 of the round trip
  throughput  --clients processes, each keeping --window queries in flight,
              for --seconds; answers per second

Names: --names containers `app-web-N` with alias `svc-N`, plus a service
`web` with 4 replicas; queries cycle through all of them (A records). Every
answer is checked (NOERROR, at least one address). berth gets them as DNS
records under a temporary root, dnsmasq as an addn-hosts file.

Usage (as root):  benches/dns.py [--names 200] [--queries 20000] [--seconds 3]
                  [--clients 2] [--window 16] [--runs 3]

Everything it starts (both servers, namespaces, the temporary root) is
stopped, reaped and removed at the end, also on failure.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BERTH = os.path.join(REPO, "target/release/berth")
BERTH_GW = "10.210.0.1"
DNSMASQ_GW = "10.210.0.2"
CLIENT = "10.210.0.10"
TARGET_P50_MS = 0.5

# Runs inside the client namespace: argv = mode server names.json args...
CLIENT_CODE = r"""
import json, os, socket, struct, sys, time, select

mode, server, names_file = sys.argv[1], sys.argv[2], sys.argv[3]
names = json.load(open(names_file))

def query(i, name):
    q = struct.pack(">HHHHHH", i & 0xFFFF, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00\x00\x01\x00\x01"

def check(resp, qid):
    qid_r, flags, _, an = struct.unpack(">HHHH", resp[:8])
    if qid_r != qid & 0xFFFF or flags & 0x8000 == 0 or flags & 0xF != 0 or an < 1:
        sys.exit(f"bad answer to query {qid}: flags={flags:#x} answers={an}")

queries = [query(i, names[i % len(names)]) for i in range(65536)]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((os.environ.get("CLIENT_ADDR", "0.0.0.0"), 0))
s.connect((server, 53))

if mode == "latency":
    n = int(sys.argv[4])
    s.settimeout(2)
    for i in range(500):  # warm up
        s.send(queries[i]); check(s.recv(1500), i)
    rtts = []
    pc = time.perf_counter_ns
    for i in range(n):
        q = queries[i & 0xFFFF]
        t = pc(); s.send(q); r = s.recv(1500); rtts.append(pc() - t)
        check(r, i)
    print(json.dumps(rtts))
else:
    seconds, window = float(sys.argv[4]), int(sys.argv[5])
    s.setblocking(False)
    sent = got = 0
    end = time.perf_counter() + seconds
    for _ in range(window):
        s.send(queries[sent & 0xFFFF]); sent += 1
    p = select.poll(); p.register(s, select.POLLIN)
    while time.perf_counter() < end:
        if not p.poll(1000):
            # A lost datagram: put another query in flight.
            s.send(queries[sent & 0xFFFF]); sent += 1
            continue
        while True:
            try:
                r = s.recv(1500)
            except BlockingIOError:
                break
            got += 1
            if r[3] & 0xF != 0:
                sys.exit("error answer")
            s.send(queries[sent & 0xFFFF]); sent += 1
    print(json.dumps({"answers": got, "seconds": seconds}))
"""


def sh(cmd, check=True):
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stdout}")
    return out.stdout


class Bench:
    def __init__(self, args):
        self.args = args
        tag = f"{os.getpid():x}"
        self.host_ns = f"bdnsh{tag}"
        self.client_ns = f"bdnsc{tag}"
        self.tmp = tempfile.mkdtemp(prefix="berth-dns-bench-")
        self.root = os.path.join(self.tmp, "root")
        self.procs = []
        self.netns = []

    # --- setup -------------------------------------------------------------

    def namespaces(self):
        for ns in (self.host_ns, self.client_ns):
            sh(["ip", "netns", "add", ns])
            self.netns.append(ns)
            sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        h = ["ip", "-n", self.host_ns]
        sh(h + ["link", "add", "br0", "type", "bridge"])
        sh(h + ["link", "set", "br0", "up"])
        for a in (BERTH_GW, DNSMASQ_GW):
            sh(h + ["addr", "add", f"{a}/16", "dev", "br0"])
        sh(h + ["link", "add", "vclient", "type", "veth", "peer", "name", "eth0", "netns", self.client_ns])
        sh(h + ["link", "set", "vclient", "master", "br0", "up"])
        c = ["ip", "-n", self.client_ns]
        sh(c + ["addr", "add", f"{CLIENT}/16", "dev", "eth0"])
        sh(c + ["link", "set", "eth0", "up"])
        # Wait for the bridge port to forward (no STP on a new bridge, but
        # the link needs a moment to come up).
        for _ in range(100):
            if subprocess.run(["ip", "netns", "exec", self.client_ns, "busybox", "ping", "-c1", "-W1", BERTH_GW],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError("client namespace cannot reach the gateway")

    def records(self):
        """The same names for both servers; returns the query list."""
        n = self.args.names
        dns = os.path.join(self.root, "networks", "dns")
        os.makedirs(os.path.join(dns, "networks"))
        os.makedirs(os.path.join(dns, "endpoints"))
        with open(os.path.join(dns, "networks", "bench.json"), "w") as f:
            json.dump({"name": "bench", "gateways": [BERTH_GW], "internal": True}, f)
        hosts = []
        names = []

        def endpoint(cid, name, addr, aliases):
            with open(os.path.join(dns, "endpoints", f"{cid}.json"), "w") as f:
                json.dump({"container_id": cid, "container_name": name, "networks": [
                    {"network": "bench", "addresses": [addr], "aliases": aliases}]}, f)
            hosts.append(f"{addr} {name} {' '.join(aliases)}")

        for i in range(1, n + 1):
            addr = f"10.210.{1 + i // 250}.{1 + i % 250}"
            endpoint(f"c{i}", f"app-web-{i}", addr, [f"svc-{i}"])
            names += [f"app-web-{i}", f"svc-{i}"]
        for r in range(1, 5):
            endpoint(f"r{r}", f"app-api-{r}", f"10.210.100.{r}", ["web"])
        names.append("web")
        # The client itself is a container on the network (berth scopes by it).
        endpoint("client", "app-client-1", CLIENT, ["client"])
        with open(os.path.join(self.tmp, "hosts"), "w") as f:
            f.write("\n".join(hosts) + "\n")
        with open(os.path.join(self.tmp, "resolv.conf"), "w") as f:
            f.write("nameserver 127.0.0.1\n")
        with open(os.path.join(self.tmp, "names.json"), "w") as f:
            json.dump(names, f)
        return names

    def spawn(self, cmd, log):
        p = subprocess.Popen(["nsenter", f"--net=/run/netns/{self.host_ns}", "--"] + cmd,
                             stdin=subprocess.DEVNULL, stdout=open(log, "w"), stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def start_berth(self):
        self.berth = self.spawn([BERTH, "--root", self.root, "__internal", "dns",
                                 "--resolv-conf", os.path.join(self.tmp, "resolv.conf")],
                                os.path.join(self.tmp, "berth-dns.log"))
        pid_file = os.path.join(self.root, "run", "dns.pid")
        for _ in range(300):
            try:
                with open(pid_file) as f:
                    if BERTH_GW in json.load(f)["listening"]:
                        return
            except (OSError, ValueError):
                pass
            if self.berth.poll() is not None:
                break
            time.sleep(0.01)
        raise RuntimeError("berth's DNS server did not start: " + open(os.path.join(self.tmp, "berth-dns.log")).read())

    def start_dnsmasq(self):
        self.dnsmasq = self.spawn([
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            f"--addn-hosts={os.path.join(self.tmp, 'hosts')}", f"--listen-address={DNSMASQ_GW}",
            "--bind-interfaces", "--port=53", "--user=root", "--local-ttl=0",
            f"--pid-file={os.path.join(self.tmp, 'dnsmasq.pid')}", "--log-facility=-",
        ], os.path.join(self.tmp, "dnsmasq.log"))
        for _ in range(300):
            if self.client("latency", DNSMASQ_GW, "10", check=False) is not None:
                return
            if self.dnsmasq.poll() is not None:
                break
            time.sleep(0.01)
        raise RuntimeError("dnsmasq did not start: " + open(os.path.join(self.tmp, "dnsmasq.log")).read())

    # --- measuring -----------------------------------------------------------

    def client_cmd(self, mode, server, *rest):
        return ["ip", "netns", "exec", self.client_ns, "python3", "-c", CLIENT_CODE, mode, server,
                os.path.join(self.tmp, "names.json"), *rest]

    def client(self, mode, server, *rest, check=True):
        out = subprocess.run(self.client_cmd(mode, server, *rest), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        if out.returncode != 0:
            if check:
                raise RuntimeError(f"client against {server} failed: {out.stderr.strip()[-500:]}")
            return None
        return json.loads(out.stdout)

    def latency(self, server):
        rtts = sorted(self.client("latency", server, str(self.args.queries)))
        q = lambda p: rtts[min(len(rtts) - 1, int(p * len(rtts)))] / 1e6
        return q(0.50), q(0.99)

    def throughput(self, server):
        ps = [subprocess.Popen(self.client_cmd("throughput", server, str(self.args.seconds), str(self.args.window)),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(self.args.clients)]
        total = 0
        for p in ps:
            out, err = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(f"throughput client against {server} failed: {err.strip()[-500:]}")
            r = json.loads(out)
            total += r["answers"] / r["seconds"]
        return total

    # --- teardown ------------------------------------------------------------

    def close(self):
        # berth's server leaves by itself with its last network.
        try:
            os.unlink(os.path.join(self.root, "networks", "dns", "networks", "bench.json"))
            self.berth.wait(timeout=3)
        except Exception:
            pass
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for ns in reversed(self.netns):
            subprocess.run(["ip", "netns", "del", ns])
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--names", type=int, default=200)
    ap.add_argument("--queries", type=int, default=20000)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-build", action="store_true", help="use target/release/berth as it is")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root (network namespaces)")
    if not shutil.which("dnsmasq"):
        sys.exit("bench: dnsmasq not found: apt-get install dnsmasq-base")
    if not args.no_build:
        print("bench: building berth (release)...", file=sys.stderr, flush=True)
        sh(["cargo", "build", "--release", "-q", "-p", "berth"])

    b = Bench(args)
    try:
        b.namespaces()
        names = b.records()
        b.start_berth()
        b.start_dnsmasq()
        servers = {"berth": BERTH_GW, "dnsmasq": DNSMASQ_GW}
        res = {k: {"p50": [], "p99": [], "qps": []} for k in servers}
        for run in range(args.runs):
            # Alternate who goes first, so neither always gets the warmer machine.
            order = list(servers) if run % 2 == 0 else list(reversed(servers))
            for k in order:
                p50, p99 = b.latency(servers[k])
                res[k]["p50"].append(p50)
                res[k]["p99"].append(p99)
            for k in order:
                res[k]["qps"].append(b.throughput(servers[k]))
            print(f"bench: run {run + 1}/{args.runs} done", file=sys.stderr, flush=True)
    finally:
        b.close()

    med = {k: {m: statistics.median(v) for m, v in r.items()} for k, r in res.items()}
    print(f"\nDNS, {len(names)} names ({args.names} containers + aliases + 4 replicas), "
          f"{args.queries} sequential queries; {args.clients}x{args.window} in flight for "
          f"{args.seconds:g} s; median of {args.runs} runs; {os.cpu_count()} CPUs shared with the clients")
    print(f"{'':22}{'berth':>12}{'dnsmasq':>12}{'berth/dnsmasq':>16}")
    for label, m, fmt in [("latency p50 (ms)", "p50", "{:.3f}"), ("latency p99 (ms)", "p99", "{:.3f}"),
                          ("answers/s", "qps", "{:.0f}")]:
        a, d = med["berth"][m], med["dnsmasq"][m]
        print(f"{label:22}{fmt.format(a):>12}{fmt.format(d):>12}{a / d:>15.2f}x")
    ok = med["berth"]["p50"] < TARGET_P50_MS
    print(f"target p50 < {TARGET_P50_MS} ms: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
