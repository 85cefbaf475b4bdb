#!/usr/bin/env bash
# Second device call of round 2: the static-engine calibration sweep + fit (issue 11,
# scripts/calibrate_static_engine.sh, sweep cut at 330 s) and the meter-overhead parts of the fidelity
# run that the first call had no time for (eager and static decode, warm idle; issue 10). <= 9.5 min.
set -uo pipefail
source scripts/device_env.sh
OUT=${OUT:-./out}; R=/tmp/res; mkdir -p "$R" "$OUT"
export PYTHONUNBUFFERED=1
t0=$SECONDS
OUT=$R bash scripts/calibrate_static_engine.sh bf16 2>&1 | tail -40
echo "== calibration done after $(( SECONDS - t0 )) s"
left=$(( 560 - SECONDS ))
OUT=$R timeout "$left" python3 scripts/measure_meter_fidelity.py --skip windows --overhead-budget-s 30 \
  --deadline-s $(( left - 60 )) 2>&1 | tail -30
tar czf "$OUT/results.tgz" -C "$R" . && du -sh "$OUT/results.tgz"
