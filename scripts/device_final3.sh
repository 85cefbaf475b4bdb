#!/usr/bin/env bash
# Device run: short-window accuracy and meter overhead with NVML polled from a child process (issue 2).
set -u
source scripts/device_env.sh
R=${OUT:-/tmp/out}/r; mkdir -p "$R"
echo "== short window"; timeout 200 python3 benchmarks/short_window.py --out "$R/short_window" --trials 8 2>&1 | grep -v -i warn
echo "== meter overhead"; timeout 200 python3 benchmarks/meter_overhead.py --rounds 15 --out "$R/meter_overhead.json" 2>&1 | grep -v -i warn
tar czf "${OUT:-/tmp/out}/final3.tgz" -C "$(dirname "$R")" r
