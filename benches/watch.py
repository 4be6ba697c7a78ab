#!/usr/bin/env python3
"""File-watch latency: `berth watch` against `docker compose watch` (Compose
v2 on a private Debian docker.io engine), same project, same run.

Measured, per tool:
- sync: from a file's save on the host to the new content being readable
  inside the container (read through /proc/<pid>/root of the container's
  init, polled every millisecond), p50 and p95 over --edits edits;
- restart: from a save that triggers `action: restart` to the restarted
  service accepting TCP connections (it listens in the host's network
  namespace; the old process gone first), p50 and p95 over --restarts edits.

Targets (issue 7): sync p50 < 100 ms with the debounce included and faster
than Compose; restart < 300 ms.

Usage (as root, one bench at a time):
    flock /tmp/berth-bench.lock benches/watch.py [--edits 100] [--restarts 20] [--tools berth,docker]

Everything started (a private dockerd, the containers, berth's temporary
root) is stopped and removed at the end.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "benches"))
import compose as cbench  # noqa: E402  (reuses its build and Dockerd)

IMAGE = cbench.IMAGE
COMPOSE = cbench.COMPOSE
PORTS = {"berth": 18731, "docker": 18732}

# No bridge networks: `web` needs none, and `api` listens in the host's
# network namespace, so "accepting connections" is the service itself and
# not a port-forwarding layer (docker-proxy accepts for a stopped container).
COMPOSE_FILE = """services:
  web:
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; mkdir -p /www; sleep 3600 & wait"]
    network_mode: none
    develop:
      watch:
        - path: ./src
          target: /www
          action: sync
  api:
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 127.0.0.1:{port} -h / & wait"]
    network_mode: host
    develop:
      watch:
        - path: ./conf
          action: restart
"""


class Tool:
    def __init__(self, name, cli, env, inspect):
        self.name, self.cli, self.env, self.inspect_cli = name, cli, env, inspect

    def compose(self, d, project, *args, check=True):
        out = subprocess.run([*self.cli, "-p", project, *args], env=self.env, cwd=d,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if check and out.returncode != 0:
            raise RuntimeError(f"{self.name} {' '.join(args)} failed:\n{out.stdout[-3000:]}")
        return out.stdout

    def pid(self, container):
        out = subprocess.run([*self.inspect_cli, container], env=self.env, capture_output=True, text=True)
        return json.loads(out.stdout)[0]["State"]["Pid"]


def wait_until(pred, timeout=15.0, step=0.001):
    t = time.perf_counter()
    while time.perf_counter() - t < timeout:
        if pred():
            return True
        time.sleep(step)
    return False


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def accepts(port):
    s = socket.socket()
    s.settimeout(0.05)
    try:
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def measure(tool, tmp, edits, restarts):
    d = os.path.join(tmp, f"watch-{tool.name}")
    os.makedirs(os.path.join(d, "src"))
    os.makedirs(os.path.join(d, "conf"))
    port = PORTS[tool.name]
    with open(os.path.join(d, "compose.yaml"), "w") as f:
        f.write(COMPOSE_FILE.format(image=IMAGE, port=port))
    project = f"benchw{tool.name[0]}"
    log = open(os.path.join(tmp, f"watch-{tool.name}.log"), "w+")
    watcher = None
    res = {"sync": [], "restart": []}
    try:
        tool.compose(d, project, "up", "-d")
        watcher = subprocess.Popen([*tool.cli, "-p", project, "watch", "--no-up"], env=tool.env, cwd=d,
                                   stdout=log, stderr=subprocess.STDOUT)
        if not wait_until(lambda: "Watch enabled" in read(log.name), timeout=60, step=0.05):
            raise RuntimeError(f"{tool.name} watch did not start:\n{read(log.name)}")
        time.sleep(1)
        web = f"{project}-web-1"
        page = os.path.join(d, "src", "page.txt")
        for i in range(edits):
            root = f"/proc/{tool.pid(web)}/root/www/page.txt"
            content = f"{tool.name} edit {i} {time.time()}\n"
            t = time.perf_counter()
            with open(page, "w") as f:
                f.write(content)
            if not wait_until(lambda: read(root) == content):
                raise RuntimeError(f"{tool.name}: edit {i} never reached the container")
            res["sync"].append(time.perf_counter() - t)
            time.sleep(0.3)
        api = f"{project}-api-1"
        if not wait_until(lambda: accepts(port), timeout=30):
            raise RuntimeError(f"{tool.name}: api does not accept connections")
        for i in range(restarts):
            old = tool.pid(api)
            t = time.perf_counter()
            with open(os.path.join(d, "conf", "app.conf"), "w") as f:
                f.write(f"edit {i}\n")
            if not wait_until(lambda: not os.path.exists(f"/proc/{old}"), timeout=30):
                raise RuntimeError(f"{tool.name}: restart {i}: the old process stayed")
            if not wait_until(lambda: accepts(port), timeout=30):
                raise RuntimeError(f"{tool.name}: restart {i}: no connection after the restart")
            res["restart"].append(time.perf_counter() - t)
            time.sleep(0.5)
    finally:
        if watcher:
            watcher.send_signal(signal.SIGINT)
            try:
                watcher.wait(30)
            except subprocess.TimeoutExpired:
                watcher.kill()
                watcher.wait()
        tool.compose(d, project, "down", "-t", "1", check=False)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edits", type=int, default=100)
    ap.add_argument("--restarts", type=int, default=20)
    ap.add_argument("--tools", default="berth,docker")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root")
    tools = args.tools.split(",")
    cbench.ensure_anchors(tools)
    tmp = tempfile.mkdtemp(prefix="berth-bench-watch-")
    dockerd = None
    results = {}
    berth = os.path.join(REPO, "target/release/berth")
    try:
        archive = cbench.build(tmp)
        runners = []
        if "berth" in tools:
            env = dict(os.environ, BERTH_ROOT=os.path.join(tmp, "berth-root"))
            cbench.sh([berth, "image", "load", "-i", archive], env=env)
            runners.append(Tool("berth", [berth], env, [berth, "container", "inspect"]))
        if "docker" in tools:
            dockerd = cbench.Dockerd(tmp)
            cbench.sh(["/usr/bin/docker", "load", "-i", archive], env=dockerd.env)
            runners.append(Tool("docker", [COMPOSE], dockerd.env, ["/usr/bin/docker", "inspect"]))
        for t in runners:
            print(f"bench: {t.name}: {args.edits} edits, {args.restarts} restarts...", file=sys.stderr, flush=True)
            results[t.name] = measure(t, tmp, args.edits, args.restarts)
    finally:
        if dockerd:
            dockerd.stop()
        if "berth" in tools:
            cbench.sh([berth, "--root", os.path.join(tmp, "berth-root"), "__internal", "shutdown"], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    report(results)


def report(results):
    print()
    print(f"{'tool':<7} {'sync p50':>9} {'sync p95':>9} {'restart p50':>12} {'restart p95':>12}")
    for name, r in results.items():
        s, rs = r["sync"], r["restart"]
        print(f"{name:<7} {statistics.median(s) * 1000:>7.1f}ms {pct(s, 95) * 1000:>7.1f}ms"
              f" {statistics.median(rs) * 1000:>10.1f}ms {pct(rs, 95) * 1000:>10.1f}ms")
    b, d = results.get("berth"), results.get("docker")
    if b and d:
        print()
        print(f"docker/berth: sync p50 x{statistics.median(d['sync']) / statistics.median(b['sync']):.1f},"
              f" restart p50 x{statistics.median(d['restart']) / statistics.median(b['restart']):.1f}")
    if b:
        sp, rp = statistics.median(b["sync"]), statistics.median(b["restart"])
        faster = (not d) or sp < statistics.median(d["sync"])
        print(f"targets: sync p50 < 100 ms and faster than Compose: {'met' if sp < 0.1 and faster else 'NOT met'}"
              f" ({sp * 1000:.1f} ms); restart < 300 ms: {'met' if rp < 0.3 else 'NOT met'} ({rp * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
