#!/usr/bin/env python3
"""Build benchmark: an uncached (--no-cache) and a cached (nothing changed)
build of the same Dockerfile (a busybox base, WORKDIR, two COPY and three RUN
steps) with `berth build` (RUN on its build network, and with
`network: host`), `docker build` and `docker compose build` (Compose v2 on a
private dockerd, RUN on its default bridge), in one run. Prints medians and ratios, and checks
that the image berth built loads into that dockerd with `docker load` and
runs there.

Usage (as root, under the bench lock):
    flock /tmp/berth-bench.lock benches/build.py [--runs 5] [--tools berth,docker,compose]

Everything it starts (dockerd, berth's temporary root, images) is removed at
the end.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compose import COMPOSE, IMAGE, REPO, Dockerd, build, ensure_anchors, sh, timed  # noqa: E402

DOCKERFILE = f"""FROM {IMAGE}
WORKDIR /app
COPY files/ /app/files/
RUN for i in $(seq 1 200); do echo "line $i" > /app/gen-$i; done
COPY main.sh /app/main.sh
RUN chmod +x /app/main.sh && /app/main.sh > /app/out.txt
ENV MODE=bench
RUN find /app | wc -l > /app/count && rm /app/gen-1
CMD ["/app/main.sh"]
"""

MAIN = "#!/bin/sh\necho \"mode=${MODE:-none} files=$(ls /app/files | wc -l)\"\n"


def context(tmp):
    d = os.path.join(tmp, "ctx")
    os.makedirs(os.path.join(d, "files"))
    with open(os.path.join(d, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE)
    with open(os.path.join(d, "main.sh"), "w") as f:
        f.write(MAIN)
    for i in range(50):
        with open(os.path.join(d, "files", f"f{i}.txt"), "w") as f:
            f.write(f"file {i}\n" * 100)
    with open(os.path.join(d, "files", "big.bin"), "wb") as f:
        f.write(os.urandom(4 << 20))
    with open(os.path.join(d, "compose.yaml"), "w") as f:
        f.write("services:\n  app:\n    build: .\n")
    # The same build with RUN in the host's network namespace: what the
    # build network (a veth, a lease and a bridge per build) costs.
    with open(os.path.join(d, "compose-host.yaml"), "w") as f:
        f.write("services:\n  app:\n    build:\n      context: .\n      network: host\n")
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tools", default="berth,docker,compose")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root")
    tools = args.tools.split(",")
    ensure_anchors(["docker"] if ("docker" in tools or "compose" in tools) else [])
    tmp = tempfile.mkdtemp(prefix="berth-bench-build-")
    dockerd = None
    berth = os.path.join(REPO, "target/release/berth")
    root = os.path.join(tmp, "berth-root")
    results, notes = {}, []
    try:
        archive = build(tmp)
        ctx = context(tmp)
        cmds = {}
        if "berth" in tools:
            env = dict(os.environ, BERTH_ROOT=root)
            sh([berth, "image", "load", "-i", archive], env=env)
            b = [berth, "-p", "benchb", "--progress", "plain", "build"]
            cmds["berth build"] = (b, [*b, "--no-cache"], env)
            h = [berth, "-p", "benchh", "-f", "compose-host.yaml", "--progress", "plain", "build"]
            cmds["berth build (host)"] = (h, [*h, "--no-cache"], env)
        if "docker" in tools or "compose" in tools:
            dockerd = Dockerd(tmp)
            sh(["/usr/bin/docker", "load", "-i", archive], env=dockerd.env)
        if "docker" in tools:
            d = ["/usr/bin/docker", "build", "-q", "-t", "benchd-app"]
            cmds["docker build"] = ([*d, "."], [*d, "--no-cache", "."], dockerd.env)
        if "compose" in tools:
            c = [COMPOSE, "-p", "benchc", "build"]
            cmds["docker compose build"] = (c, [*c, "--no-cache"], dockerd.env)
        for name, (cmd, no_cache, env) in cmds.items():
            print(f"bench: {name} ({args.runs} runs each)...", file=sys.stderr, flush=True)
            try:
                uncached = [timed(no_cache, env=env, cwd=ctx) for _ in range(args.runs)]
                timed(cmd, env=env, cwd=ctx)  # warm: the cache holds this build
                cached = [timed(cmd, env=env, cwd=ctx) for _ in range(args.runs)]
                results[name] = (statistics.median(uncached), statistics.median(cached))
            except RuntimeError as e:
                notes.append(f"{name}: not measured: {str(e)[-300:]}")
        if "berth" in tools and dockerd:
            notes.append(docker_load_check(berth, root, dockerd, tmp))
    finally:
        if dockerd:
            dockerd.stop()
        if "berth" in tools:
            sh([berth, "--root", root, "__internal", "shutdown"], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    report(results, notes)


def docker_load_check(berth, root, dockerd, tmp):
    """berth's image, saved, loads into dockerd and runs there."""
    out = os.path.join(tmp, "benchb-app.tar")
    sh([berth, "--root", root, "image", "save", "-o", out, "benchb-app"])
    sh(["/usr/bin/docker", "load", "-i", out], env=dockerd.env)
    r = subprocess.run(["/usr/bin/docker", "run", "--rm", "--network", "none", "benchb-app"],
                       env=dockerd.env, capture_output=True, text=True)
    ok = r.returncode == 0 and r.stdout.strip() == "mode=bench files=51"
    return f"docker load of the berth-built image: {'ok' if ok else 'FAILED'} (docker run printed {r.stdout.strip()!r}{r.stderr.strip()[-200:]})"


def report(results, notes):
    print()
    print(f"{'tool':<22} {'uncached':>10} {'cached':>10}   ratio vs berth (uncached, cached)")
    base = results.get("berth build")
    for name, (u, c) in results.items():
        ratio = ""
        if base and name != "berth build":
            ratio = f"{u / base[0]:.1f}x, {c / base[1]:.1f}x"
        print(f"{name:<22} {u:>9.3f}s {c:>9.3f}s   {ratio}")
    for n in notes:
        print(n)


if __name__ == "__main__":
    main()
