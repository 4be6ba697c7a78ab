#!/usr/bin/env bash
# Imports a minimal Debian 12 base image with the packages the devstack example
# runs (Python, PostgreSQL, Redis), made with debootstrap from Debian's own
# package archive: no registry, no Docker Hub.
#
#   examples/base/debian.sh [IMAGE]
#
# BERTH (default `berth`) is the binary to import with (it honours BERTH_ROOT).
# BERTH_EXAMPLES_CACHE, when set, is a directory that keeps the root
# filesystem as a tar between runs: later imports (into other roots) skip
# debootstrap.
set -euo pipefail
image=${1:-berth-examples/debian-devstack:bookworm}
berth=${BERTH:-berth}
if "$berth" image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi
# Bump when the package list or the clean-up below changes.
version=1
cache=${BERTH_EXAMPLES_CACHE:-}
tarball=${cache:+$cache/debian-devstack-bookworm-v$version.tar}

import() {
  "$berth" image import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["bash"]' - "$image" >/dev/null
}

if [[ -n $tarball && -s $tarball ]]; then
  import <"$tarball"
  echo "imported $image (from $tarball)"
  exit 0
fi

command -v debootstrap >/dev/null || apt-get install -y -q debootstrap >/dev/null
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
mirror=${mirror:-http://deb.debian.org/debian}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
echo "debootstrap: building the Debian base (a few minutes)..."
# In a mount namespace of its own: debootstrap mounts /proc and /sys inside the
# new root, and those mounts must neither show on the host (where a test
# comparing mount tables would see them) nor outlive a killed run.
unshare --mount --propagation private debootstrap --variant=minbase \
  --include=python3,python3-psycopg2,python3-redis,postgresql-15,redis-server \
  bookworm "$root" "$mirror" >/dev/null
# What a container does not need: package caches, docs, translations.
rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
  "$root"/usr/share/man/* "$root"/usr/share/locale/*
# The Debian packages created a default cluster; the example makes its own.
rm -rf "$root"/var/lib/postgresql/15 "$root"/etc/postgresql/15
if [[ -n $tarball ]]; then
  mkdir -p "$cache"
  tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  import <"$tarball"
else
  tar -C "$root" -c . | import
fi
echo "imported $image"
