#!/usr/bin/env python3
"""Image benchmarks, berth against its anchors in one run:

  pull  berth image pull of a multi-layer image from a local registry (Debian's
        docker-registry on 127.0.0.1), layers unpacked and ready for overlayfs,
        vs `skopeo copy docker://… dir:` followed by `tar -x` of every layer.
  load  berth image load vs `docker load` (Debian's dockerd, private data and
        exec roots, no bridge, no iptables) of the same docker-archive.

The image is built here from files of the machine itself: a busybox layer,
/usr/lib/python3.*, /usr/share/perl + /usr/share/zoneinfo, /usr/include and a
small layer with whiteouts (gzip layers, ~200 MB unpacked).

Usage (as root):  benches/image.py [--runs 3] [--skip-docker]

Everything it starts (registry, dockerd and its containerd) is stopped and
checked gone at the end; temporary roots are removed.
"""

import argparse
import glob
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# BERTH_BIN: a prebuilt berth to measure instead of building target/release.
BERTH = os.environ.get("BERTH_BIN") or os.path.join(REPO, "target/release/berth")
REF = "bench/multi:1"


def sh(cmd, env=None, check=True):
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and out.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{out.stdout}")
    return out


def timed(cmds, env=None):
    t = time.perf_counter()
    for cmd in cmds:
        out = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {out.stderr.strip()[-2000:]}")
    return time.perf_counter() - t


# --- building the test image -------------------------------------------------

def busybox_rootfs(d):
    for sub in ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "root"]:
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    bb = "/bin/busybox" if os.path.exists("/bin/busybox") else "/usr/bin/busybox"
    shutil.copy(bb, os.path.join(d, "bin/busybox"))
    applets = subprocess.run([bb, "--list-full"], capture_output=True, text=True).stdout.split()
    for a in applets:
        p = os.path.join(d, a)
        if a != "bin/busybox" and not os.path.lexists(p):
            os.symlink("/bin/busybox", p)
    with open(os.path.join(d, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")


def layer_from(paths):
    """A tar of host paths, stored under the same paths."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for src, arc in paths:
            tf.add(src, arcname=arc)
    return buf.getvalue()


def whiteout_layer(python_dir):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name in ["usr/share/zoneinfo/.wh.UTC", python_dir.lstrip("/") + "/json/.wh..wh..opq",
                     python_dir.lstrip("/") + "/json/__init__.py"]:
            data = b"# replaced\n" if name.endswith(".py") else b""
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def digest(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def write_oci_archive(path, layers):
    blobs, descs, diff_ids = {}, [], []
    for raw in layers:
        diff_ids.append(digest(raw))
        gz = gzip.compress(raw, compresslevel=6, mtime=0)
        blobs[digest(gz)] = gz
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest(gz), "size": len(gz)})
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    blobs[digest(config)] = config
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": digest(config), "size": len(config)},
                           "layers": descs}).encode()
    blobs[digest(manifest)] = manifest
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(manifest),
        "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}).encode()
    with tarfile.open(path, "w") as tf:
        def add(name, data):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", index)
        for d, data in blobs.items():
            add("blobs/sha256/" + d[7:], data)
    return sum(len(l) for l in layers)


def build_image(tmp):
    bb = os.path.join(tmp, "bbroot")
    busybox_rootfs(bb)
    layers = [layer_from([(os.path.join(bb, n), n) for n in sorted(os.listdir(bb))])]
    python = sorted(glob.glob("/usr/lib/python3.[0-9]*"))
    groups = [[(p, p.lstrip("/")) for p in python[-1:]],
              [(p, p.lstrip("/")) for p in ["/usr/share/perl", "/usr/share/zoneinfo"] if os.path.isdir(p)],
              [(p, p.lstrip("/")) for p in ["/usr/include"] if os.path.isdir(p)]]
    for g in groups:
        if g:
            layers.append(layer_from(g))
    layers.append(whiteout_layer(python[-1] if python else "/usr/lib/python3"))
    path = os.path.join(tmp, "multi.oci.tar")
    size = write_oci_archive(path, layers)
    return path, len(layers), size


# --- fixtures ---------------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Registry:
    def __init__(self, tmp):
        self.port = free_port()
        d = os.path.join(tmp, "registry")
        os.makedirs(d)
        cfg = os.path.join(d, "config.yml")
        with open(cfg, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {d}/data\n"
                    f"http:\n  addr: 127.0.0.1:{self.port}\n")
        self.proc = subprocess.Popen(["docker-registry", "serve", cfg], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        sys.exit("bench: docker-registry did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


class Dockerd:
    """A private dockerd, child of this process (so it is reaped here), with
    its own data and exec roots and no networking changes on the host."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "docker")
        os.makedirs(self.dir)
        self.sock = os.path.join(self.dir, "docker.sock")
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(
            ["/usr/sbin/dockerd", "--data-root", os.path.join(self.dir, "data"),
             "--exec-root", os.path.join(self.dir, "exec"), "--pidfile", os.path.join(self.dir, "pid"),
             "--bridge=none", "--iptables=false", "--ip6tables=false",
             "-H", f"unix://{self.sock}"], stdout=self.log, stderr=self.log)
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{self.sock}")
        for _ in range(300):
            if subprocess.run(["/usr/bin/docker", "info"], env=self.env, capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        self.stop()
        sys.exit("bench: dockerd did not start; see " + self.log.name)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        # dockerd's own containerd must be gone too: anything still running
        # from our directory is ours, ended by pid.
        left = []
        for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if self.dir.encode() in f.read():
                        left.append(int(pid))
            except OSError:
                pass
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        if left:
            print(f"bench: killed leftover dockerd helpers {left}", file=sys.stderr)
        subprocess.run(["umount", "-R", os.path.join(self.dir, "data")], capture_output=True)


# --- measurements -----------------------------------------------------------------

def berth_pull(tmp, host):
    root = os.path.join(tmp, "berth-pull")
    shutil.rmtree(root, ignore_errors=True)
    return timed([[BERTH, "--root", root, "image", "pull", "-q", f"{host}/{REF}"]])


def skopeo_pull(tmp, host):
    out = os.path.join(tmp, "skopeo")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    t = timed([["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{host}/{REF}", f"dir:{out}/blobs"]])
    with open(os.path.join(out, "blobs/manifest.json")) as f:
        layers = [l["digest"][7:] for l in json.load(f)["layers"]]
    cmds = []
    for i, h in enumerate(layers):
        d = os.path.join(out, f"layer{i}")
        os.makedirs(d)
        cmds.append(["tar", "-xf", os.path.join(out, "blobs", h), "-C", d, "--same-owner", "--xattrs"])
    return t + timed(cmds)


def berth_load(tmp, archive):
    root = os.path.join(tmp, "berth-load")
    shutil.rmtree(root, ignore_errors=True)
    return timed([[BERTH, "--root", root, "image", "load", "-q", "-i", archive]])


def docker_load(dockerd, archive):
    subprocess.run(["/usr/bin/docker", "rmi", "-f", REF], env=dockerd.env, capture_output=True)
    return timed([["/usr/bin/docker", "load", "-q", "-i", archive]], env=dockerd.env)


def save_loads_into_docker(tmp, dockerd):
    """Checks that `docker load` accepts what `berth image save` writes, and
    that docker then has the same image id (the config digest)."""
    root = os.path.join(tmp, "berth-load")
    out = os.path.join(tmp, "berth-saved.tar")
    sh([BERTH, "--root", root, "image", "save", "-o", out, REF])
    want = sh([BERTH, "--root", root, "image", "inspect", "-f", "{{.Id}}", REF]).stdout.strip()
    subprocess.run(["/usr/bin/docker", "rmi", "-f", REF], env=dockerd.env, capture_output=True)
    sh(["/usr/bin/docker", "load", "-q", "-i", out], env=dockerd.env)
    got = sh(["/usr/bin/docker", "image", "inspect", "-f", "{{.Id}}", REF], env=dockerd.env).stdout.strip()
    return got == want, want, got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-docker", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root")
    print("bench: building berth (release)...", file=sys.stderr, flush=True)
    if not os.environ.get("BERTH_BIN"):
        sh(["cargo", "build", "--release", "-q", "-p", "berth"])
    tmp = tempfile.mkdtemp(prefix="berth-image-bench-")
    reg = dockerd = None
    compat = None
    results = {}
    try:
        print("bench: building the test image...", file=sys.stderr, flush=True)
        oci, nlayers, size = build_image(tmp)
        docker_archive = os.path.join(tmp, "multi.docker.tar")
        sh(["skopeo", "copy", "--quiet", f"oci-archive:{oci}:multi", f"docker-archive:{docker_archive}:{REF}"])
        reg = Registry(tmp)
        host = f"127.0.0.1:{reg.port}"
        sh(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci-archive:{oci}:multi", f"docker://{host}/{REF}"])
        if not args.skip_docker:
            dockerd = Dockerd(tmp)
        for i in range(args.runs):
            print(f"bench: run {i + 1}/{args.runs}", file=sys.stderr, flush=True)
            results.setdefault("pull berth", []).append(berth_pull(tmp, host))
            results.setdefault("pull skopeo+tar", []).append(skopeo_pull(tmp, host))
            results.setdefault("load berth", []).append(berth_load(tmp, docker_archive))
            if dockerd:
                results.setdefault("load docker", []).append(docker_load(dockerd, docker_archive))
        if dockerd:
            compat = save_loads_into_docker(tmp, dockerd)
    finally:
        if dockerd:
            dockerd.stop()
        if reg:
            reg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    print()
    print(f"image: {nlayers} gzip layers, {size / 1e6:.0f} MB unpacked; median of {args.runs} runs")
    print(f"{'operation':<34} {'berth':>9} {'anchor':>9} {'anchor/berth':>13}")
    rows = [("pull + unpack (registry on 127.0.0.1)", "pull berth", "pull skopeo+tar", "skopeo copy + tar -x"),
            ("load docker-archive", "load berth", "load docker", "docker load")]
    for label, b, a, aname in rows:
        if b in med and a in med:
            print(f"{label:<34} {med[b]:>8.2f}s {med[a]:>8.2f}s {med[a] / med[b]:>12.1f}x   ({aname})")
        elif b in med:
            print(f"{label:<34} {med[b]:>8.2f}s {'-':>9}")
    if compat:
        ok, want, got = compat
        print(f"docker load of `berth image save`: {'accepted, same image id' if ok else 'DIFFERENT id'} ({got})")
        if not ok:
            sys.exit(f"bench: berth's id {want} != docker's {got}")


if __name__ == "__main__":
    main()
