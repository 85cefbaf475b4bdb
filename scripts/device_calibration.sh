#!/usr/bin/env bash
# Device run: the designed LLM calibration sweep for one dtype (issue 4). Usage: bash scripts/device_calibration.sh DTYPE
set -u
source scripts/device_env.sh
R=${OUT:-/tmp/out}/r; mkdir -p "$R"
timeout 570 joulebench calibrate --dtype "$1" --measure-only --db "$R/calibration_$1.db" > "$R/cal_$1.log" 2>&1
echo "rc $?"; tail -c 600 "$R/cal_$1.log"
tar czf "${OUT:-/tmp/out}/calibration_$1.tgz" -C "$(dirname "$R")" r
