#!/usr/bin/env bash
# One device call (one H200) for two issues that need the same carried wheels (ray's and the CLI's):
#   1. issue 14: scripts/compare_ray_executor.sh (local, one-node Ray, local again; ~3-4 min, at most 7.5);
#   2. issue 11: the static-engine calibration resumed from the committed store
#      (docs/validation/calibration/h200-transformers-static-bf16.db: Qwen2.5-0.5B done, Qwen2.5-1.5B's
#      prefill done), training model Llama-3.1-8B first, then Qwen2.5-1.5B's decode, with the time left.
#
# Before (here):  python3 scripts/prepare_ray_wheel.py, then copy the CLI wheels of
#                 scripts/prepare_device_wheels.py --studies (all but bitsandbytes) into .whl-ray
# Device call:    carry [".whl-ray"], command "bash scripts/compare_ray_and_calibrate_static.sh", timeout_s 595
# Writes:         $OUT/compare_ray_executor.{json,log,tgz} and the files of scripts/calibrate_static_engine.sh
set -u
OUT=${OUT:-./out}
mkdir -p "$OUT"
TOTAL_S=${TOTAL_S:-575}
FIT_S=60   # the fit and the validation after the sweep
bash scripts/compare_ray_executor.sh
left=$(( TOTAL_S - SECONDS - FIT_S ))
echo "ray comparison done at ${SECONDS} s; ${left} s left for the static sweep"
if [ "$left" -lt 60 ]; then
  echo "static calibration: skipped (${left} s left)"
  exit 0
fi
cp docs/validation/calibration/h200-transformers-static-bf16.db "$OUT/static_bf16.db"
WHEELS=.whl-ray SWEEP_S=$left MODELS=llama-3.1-8b,qwen2.5-1.5b bash scripts/calibrate_static_engine.sh bf16
