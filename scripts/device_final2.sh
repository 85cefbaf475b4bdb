#!/usr/bin/env bash
# Device run after moving NVML polling to a child process: short-window accuracy and meter overhead
# again (issue 2), then the fixed-interval serving arms (issue 5) at half the request count.
set -u
source scripts/device_env.sh
R=${OUT:-/tmp/out}/r; mkdir -p "$R/serving"
echo "== short window"; timeout 170 python3 benchmarks/short_window.py --out "$R/short_window" --trials 8 2>&1 | grep -v -i warn
echo "== meter overhead"; timeout 100 python3 benchmarks/meter_overhead.py --pairs 12 --out "$R/meter_overhead.json" 2>&1 | grep -v -i warn
echo "== serving"; timeout $(( 575 - SECONDS )) python3 benchmarks/serving_arms.py "$R/serving" \
  --only cb-fixed-50ms,cb-fixed-300ms,cb-fixed-500ms --scale 0.5 --db "$R/serving/serving.db" 2>&1 \
  | grep -v -i -E "warn|deprecat" | tail -n 12
tar czf "${OUT:-/tmp/out}/final2.tgz" -C "$(dirname "$R")" r
