#!/usr/bin/env python3
"""Runtime benchmark: start a busybox container that runs `true`, without a
network, and wait for it to end — berth against its anchors in one run:

  berth    berth container run --rm --network none busybox true
           (warm: the monitor runs and keeps a spare shim, as after any
           earlier berth command; "berth cold" turns the spare off)
  runc     runc run of an equivalent bundle (runc spec, terminal off)
  docker   docker run --rm --network none (Debian's docker.io, a private
           dockerd with its own data/exec roots, no bridge, no iptables)
  podman   podman run --rm --network none (Debian's podman, private
           storage and run roots)
  floor    unshare --fork --pid --mount --uts --ipc --net chroot ROOTFS /bin/true

Every tool runs the same image (the project's busybox test image) back to
back; medians and ratios are printed. Then the supervision overhead: the
RSS (and PSS) of berth's shim per running container and of its monitor,
against Docker's containerd-shim-runc-v2 for the same containers.

Usage (as root, under the shared lock):
  flock /tmp/berth-bench.lock benches/runtime.py [--runs 50] [--rss 10]
        [--tools berth,runc,docker,podman,floor]

Everything it starts is stopped and checked gone at the end; temporary
roots are removed.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from image import Dockerd  # noqa: E402  (the benches share the private dockerd)
from compose import ensure_anchors  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BERTH = os.path.join(REPO, "target/release/berth")
IMAGE = "berthbench/busybox:latest"


def sh(cmd, env=None, check=True, cwd=None):
    out = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and out.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{out.stdout}")
    return out


def timed(cmd, env=None, cwd=None):
    t = time.perf_counter()
    out = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
    return took


def build(tmp, cargo=True):
    if cargo:
        sh(["cargo", "build", "--release", "-q", "-p", "berth", "-p", "berth-testkit"], cwd=REPO)
    oci = os.path.join(tmp, "busybox.oci.tar")
    docker = os.path.join(tmp, "busybox.docker.tar")
    sh([os.path.join(REPO, "target/release/berth-testimage"), oci, "latest"])
    sh(["skopeo", "copy", "--quiet", f"oci-archive:{oci}:latest", f"docker-archive:{docker}:{IMAGE}"])
    return oci, docker


def unpack_rootfs(oci, dest):
    """The image's single layer, as a directory (for runc and the floor)."""
    with tarfile.open(oci) as t:
        index = json.load(t.extractfile("index.json"))
        digest = index["manifests"][0]["digest"].split(":")[1]
        manifest = json.load(t.extractfile(f"blobs/sha256/{digest}"))
        os.makedirs(dest)
        for layer in manifest["layers"]:
            blob = t.extractfile("blobs/sha256/" + layer["digest"].split(":")[1])
            with tarfile.open(fileobj=blob, mode="r|*") as lt:
                lt.extractall(dest, filter="fully_trusted")


def runc_bundle(tmp, rootfs):
    bundle = os.path.join(tmp, "bundle")
    os.makedirs(bundle)
    sh(["runc", "spec"], cwd=bundle)
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        spec = json.load(f)
    spec["root"] = {"path": rootfs, "readonly": False}
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/true"]
    with open(path, "w") as f:
        json.dump(spec, f)
    return bundle


class Tool:
    def __init__(self, name, cmd, env=None, before=None):
        self.name, self.cmd, self.env, self.before = name, cmd, env, before
        self.n = 0

    def once(self):
        self.n += 1
        cmd = [c.replace("{n}", str(self.n)) for c in self.cmd]
        return timed(cmd, env=self.env)


def cpu_times():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[3] + v[4], sum(v)  # idle + iowait, total


def idle_since(start):
    idle, total = cpu_times()
    return 100.0 * (idle - start[0]) / max(1, total - start[1])


def wait_for_idle(minutes):
    """Other work on the machine (builds, tests) skews a latency benchmark:
    wait (at most `minutes`) for a second with the CPUs at least 70% idle."""
    deadline = time.time() + 60 * minutes
    while time.time() < deadline:
        start = cpu_times()
        time.sleep(1)
        if idle_since(start) >= 70:
            return
    print("bench: the machine stayed busy; measuring anyway", file=sys.stderr)


def measure(tool, runs, warmup=3):
    for _ in range(warmup):
        tool.once()
    return [tool.once() for _ in range(runs)]


def rss_kib(pid, field="VmRSS"):
    try:
        if field == "Pss":
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        return int(line.split()[1])
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def pids_named(name, under=None):
    out = []
    for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if name in cmd and (under is None or under in cmd):
            out.append(int(pid))
    return out


def berth_rss(env, root, n):
    """RSS of each shim while `n` containers sleep, and of the monitor."""
    names = [f"rss{i}" for i in range(n)]
    try:
        for c in names:
            sh([BERTH, "container", "run", "-d", "--name", c, IMAGE, "sleep", "1000"], env=env)
        time.sleep(1)
        shims = []
        for c in names:
            st = json.load(open(os.path.join(root, "containers", container_id(env, c), "state.json")))
            shims.append(st["shim"]["pid"])
        monitor = int(open(os.path.join(root, "run/monitor.pid")).read())
        return ([rss_kib(p) for p in shims], [rss_kib(p, "Pss") for p in shims],
                rss_kib(monitor), rss_kib(monitor, "Pss"))
    finally:
        sh([BERTH, "container", "rm", "-f", *names], env=env, check=False)


def container_id(env, name):
    out = sh([BERTH, "container", "inspect", name], env=env).stdout
    return json.loads(out)[0]["Id"]


def docker_rss(dockerd, n):
    names = [f"rss{i}" for i in range(n)]
    try:
        for c in names:
            sh(["/usr/bin/docker", "run", "-d", "--network", "none", "--name", c, IMAGE, "sleep", "1000"],
               env=dockerd.env)
        time.sleep(1)
        shims = pids_named("containerd-shim-runc-v2", under=dockerd.dir)
        return [rss_kib(p) for p in shims], [rss_kib(p, "Pss") for p in shims]
    finally:
        sh(["/usr/bin/docker", "rm", "-f", *names], env=dockerd.env, check=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--rss", type=int, default=10, help="containers for the RSS measurement")
    ap.add_argument("--tools", default="berth,runc,docker,podman,floor")
    ap.add_argument("--no-build", action="store_true", help="use the release binaries as they are")
    ap.add_argument("--wait-idle", type=float, default=5,
                    help="minutes to wait, before each tool, for the CPUs to be mostly idle (0: do not)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root")
    tools = args.tools.split(",")
    ensure_anchors(tools, compose=False)
    tmp = tempfile.mkdtemp(prefix="berth-bench-rt-")
    dockerd = None
    podman = ["podman", "--root", os.path.join(tmp, "podman/root"), "--runroot", os.path.join(tmp, "podman/run"),
              "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
    berth_env = dict(os.environ, BERTH_ROOT=os.path.join(tmp, "berth-root"))
    berth_cold_env = dict(os.environ, BERTH_ROOT=os.path.join(tmp, "berth-cold"), BERTH_NO_SPARE="1")
    results, rss, idle = {}, {}, {}
    try:
        oci, archive = build(tmp, cargo=not args.no_build)
        rootfs = os.path.join(tmp, "rootfs")
        unpack_rootfs(oci, rootfs)
        runners = []
        if "berth" in tools:
            for env in (berth_env, berth_cold_env):
                sh([BERTH, "image", "load", "-i", archive], env=env)
            cmd = [BERTH, "container", "run", "--rm", "--network", "none", IMAGE, "true"]
            runners.append(Tool("berth", cmd, berth_env))
            runners.append(Tool("berth cold", cmd, berth_cold_env))
        if "runc" in tools:
            bundle = runc_bundle(tmp, rootfs)
            runners.append(Tool("runc", ["runc", "--root", os.path.join(tmp, "runc"), "run", "--bundle", bundle,
                                         "bench-{n}"]))
        if "docker" in tools:
            dockerd = Dockerd(tmp)
            sh(["/usr/bin/docker", "load", "-i", archive], env=dockerd.env)
            runners.append(Tool("docker", ["/usr/bin/docker", "run", "--rm", "--network", "none", IMAGE, "true"],
                                dockerd.env))
        if "podman" in tools:
            sh([*podman, "load", "-i", archive])
            # Low limits: podman raises nofile and nproc by default, which
            # needs CAP_SYS_RESOURCE (not in every sandbox's bounding set).
            limits = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
            runners.append(Tool("podman", [*podman, "run", "--rm", "--network", "none", *limits, IMAGE, "true"]))
        if "floor" in tools:
            runners.append(Tool("floor", ["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net",
                                          "chroot", rootfs, "/bin/true"]))
        for t in runners:
            if args.wait_idle:
                wait_for_idle(args.wait_idle)
            print(f"bench: {t.name}, {args.runs} runs...", file=sys.stderr, flush=True)
            start = cpu_times()
            results[t.name] = measure(t, args.runs)
            idle[t.name] = idle_since(start)
        if "berth" in tools and args.rss:
            rss["berth"] = berth_rss(berth_env, berth_env["BERTH_ROOT"], args.rss)
        if dockerd and args.rss:
            rss["docker"] = docker_rss(dockerd, args.rss)
    finally:
        for env in (berth_env, berth_cold_env):
            if os.path.exists(env["BERTH_ROOT"]):
                sh([BERTH, "__internal", "shutdown"], env=env, check=False)
        if "podman" in tools and shutil.which("podman"):
            sh([*podman, "rm", "-af"], check=False)
            sh([*podman, "rmi", "-af"], check=False)
            sh(["umount", "-R", os.path.join(tmp, "podman/root")], check=False)
        if dockerd:
            dockerd.stop()
        left = pids_named(tmp)
        if left:
            print(f"bench: processes left under {tmp}: {left}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
    report(results, rss, idle, args)


def report(results, rss, idle, args):
    print()
    print(f"start + wait for `true` in busybox, no network, {args.runs} runs each (after 3 warm-up runs)")
    print(f"{'tool':<12} {'median':>9} {'p10':>9} {'p90':>9} {'cpu idle':>9}  berth is")
    base = statistics.median(results["berth"]) if "berth" in results else None
    for name, v in results.items():
        v = sorted(v)
        med = statistics.median(v)
        p10, p90 = v[len(v) // 10], v[(len(v) * 9) // 10]
        ratio = ""
        if base and name != "berth":
            ratio = f"{med / base:.2f}x faster" if med > base else f"{base / med:.2f}x slower"
        print(f"{name:<12} {med * 1000:>7.1f}ms {p10 * 1000:>7.1f}ms {p90 * 1000:>7.1f}ms"
              f" {idle.get(name, 0):>8.0f}%  {ratio}")
    if base is not None:
        print(f"target: berth median under 15 ms: {'met' if base < 0.015 else 'NOT met'} ({base * 1000:.1f} ms)")
    if rss:
        print()
        print(f"supervision memory with {args.rss} sleeping containers (KiB per process)")
        if "berth" in rss:
            r, p, mr, mp = rss["berth"]
            print(f"berth shim   RSS median {statistics.median(r):>7.0f}   PSS median {statistics.median(p):>7.0f}"
                  f"   (one per container)")
            print(f"berth monitor RSS {mr:>8}   PSS {mp:>8}   (one per root)")
        if "docker" in rss:
            r, p = rss["docker"]
            if r:
                print(f"docker shim  RSS median {statistics.median(r):>7.0f}   PSS median {statistics.median(p):>7.0f}"
                      f"   (containerd-shim-runc-v2, {len(r)} found)")
        if "berth" in rss and "docker" in rss and rss["docker"][0]:
            b, d = statistics.median(rss["berth"][0]), statistics.median(rss["docker"][0])
            print(f"berth's shim uses {d / b:.1f}x less RSS than Docker's")


if __name__ == "__main__":
    main()
