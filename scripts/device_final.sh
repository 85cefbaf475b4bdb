#!/usr/bin/env bash
# Device run: meter overhead (issue 2) then serving arms (issue 5). Usage: bash scripts/device_final.sh ARMS SCALE [overhead]
set -u
source scripts/device_env.sh
R=${OUT:-/tmp/out}/r; mkdir -p "$R/serving"
if [ "${3:-}" = overhead ]; then
  echo "== meter overhead"; timeout 150 python3 benchmarks/meter_overhead.py --pairs 12 --out "$R/meter_overhead.json" 2>&1 | grep -v -i warn
fi
echo "== serving $1 scale $2"
timeout 540 python3 benchmarks/serving_arms.py "$R/serving" --only "$1" --scale "$2" --db "$R/serving/serving.db" 2>&1 \
  | grep -v -i -E "warn|deprecat" | tail -n 20
tar czf "${OUT:-/tmp/out}/final.tgz" -C "$(dirname "$R")" r
