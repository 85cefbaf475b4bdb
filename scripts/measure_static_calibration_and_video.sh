#!/usr/bin/env bash
# Third device call of round 2: the static-engine calibration sweep + fit (issue 11; sweep cut at 330 s),
# then Wan2.1-1.3B full pipelines (issue 19): the 720x1280x81 call with 3 steps measured inside it (its
# component split, 50 steps predicted) and, at 480x832x81, 3 sampled steps against one full 50-step run,
# with whatever time is left. <= 9.5 minutes; everything in $OUT/results.tgz.
set -uo pipefail
source scripts/device_env.sh
OUT=${OUT:-./out}; R=/tmp/res; mkdir -p "$R" "$OUT"
export PYTHONUNBUFFERED=1
OUT=$R SWEEP_S=${SWEEP_S:-330} bash scripts/calibrate_static_engine.sh bf16 2>&1 | tail -40
echo "== calibration done after $SECONDS s"
for part in ${PARTS:-split-720 validate-480}; do
  left=$(( ${TOTAL_S:-565} - SECONDS )); [ "$left" -lt 60 ] && { echo "no time for $part"; continue; }
  OUT=$R timeout "$left" python3 scripts/measure_video_pipelines.py --parts "$part" 2>&1 | tail -25
  echo "== $part done after $SECONDS s"
done
tar czf "$OUT/results.tgz" -C "$R" . && du -sh "$OUT/results.tgz"
