#!/usr/bin/env bash
# Device run: meter overhead against the GPU polling period, and short-window accuracy at 20 ms polling.
set -u
source scripts/device_env.sh
R=${OUT:-/tmp/out}/r; mkdir -p "$R"
echo "== meter overhead"; timeout 200 python3 benchmarks/meter_overhead.py --rounds 15 --arms "" --periods-ms 5 20 50 \
  --out "$R/meter_overhead_periods.json" 2>&1 | grep -v -i warn
echo "== short window at 20 ms polling"; timeout 120 python3 benchmarks/short_window.py --out "$R/short_window_20ms" \
  --trials 8 --sample-period-ms 20 --workloads 5ms --reference-s 15 2>&1 | grep -v -i warn
tar czf "${OUT:-/tmp/out}/final4.tgz" -C "$(dirname "$R")" r
