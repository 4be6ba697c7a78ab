#!/usr/bin/env bash
# Installs berth on a Debian 12 machine: the packages it needs at run time,
# the binary (built from this checkout) in /usr/local/bin, and the busybox
# base image the examples build on. Run as root; safe to run again.
set -euo pipefail
cd "$(dirname "$0")"
if [[ $(id -u) -ne 0 ]]; then
  echo "install.sh: run as root (sudo ./install.sh)" >&2
  exit 2
fi
need=()
command -v iptables-restore >/dev/null || need+=(iptables)
command -v ip >/dev/null || need+=(iproute2)
[[ -x /bin/busybox ]] || need+=(busybox-static)
if ((${#need[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi
echo "building berth (release)..."
cargo build --release --locked -q -p berth
install -m 0755 target/release/berth /usr/local/bin/berth
echo "installed /usr/local/bin/berth ($(berth version --short 2>/dev/null || echo built))"
BERTH=/usr/local/bin/berth examples/base/busybox.sh
