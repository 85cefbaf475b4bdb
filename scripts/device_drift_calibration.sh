#!/usr/bin/env bash
# Device run (issue 4): host drift and meter overhead (launch probe per run), then the designed LLM
# calibration sweep for one dtype. The sweep resumes from the store, so a cut run can be continued.
# Usage: bash scripts/device_drift_calibration.sh DTYPE [SWEEP_TIMEOUT_S] [skip-overhead]
set -u
source scripts/device_env.sh
R=${OUT:-/tmp/out}/r; mkdir -p "$R"
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm,clocks.sm --format=csv > "$R/gpu_$1.csv"
cat "$R/gpu_$1.csv"
if [ "${3:-}" != "skip-overhead" ]; then
  echo "== meter overhead with launch probe"
  timeout 150 python3 benchmarks/meter_overhead.py --arms '' --periods-ms 50 5 --rounds 12 \
    --out "$R/meter_overhead_$1.json" 2>&1 | grep -v -i warn
fi
echo "== calibration sweep $1"
timeout "${2:-420}" joulebench calibrate --dtype "$1" --measure-only --db "$R/calibration_$1.db" > "$R/cal_$1.log" 2>&1
echo "rc $?"; tail -c 400 "$R/cal_$1.log"
tar czf "${OUT:-/tmp/out}/drift_calibration_$1.tgz" -C "$(dirname "$R")" r
