#!/usr/bin/env bash
# Bench: time to attach one container to a berth network (veth pair born in
# the container's namespace, addresses, default route, one published port's
# rules) through berth's own code, against Podman's CNI path (bridge +
# portmap plugins, Debian's containernetworking-plugins) in the same run,
# inside a throwaway network namespace playing the host. Prints medians,
# p90 and the ratio. Target: berth under 3 ms median. As root.
#
#   benches/attach.sh [--runs 100]
set -euo pipefail
cd "$(dirname "$0")/.."
exec flock /tmp/berth-bench.lock cargo bench -q -p berth-net --bench attach -- "$@"
