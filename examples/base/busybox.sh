#!/usr/bin/env bash
# Imports a busybox base image (`berth-examples/busybox:latest`) made from
# Debian's busybox-static package: no registry, no Docker Hub.
set -euo pipefail
image=${1:-berth-examples/busybox:latest}
berth=${BERTH:-berth}
if "$berth" image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi
[[ -x /bin/busybox ]] || apt-get install -y -q busybox-static >/dev/null
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,var/www,proc,sys,dev}
chmod 1777 "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list-full); do
  [[ -e "$root/$applet" ]] || ln -s /bin/busybox "$root/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
tar -C "$root" -c . | "$berth" image import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["sh"]' - "$image" >/dev/null
echo "imported $image"
