#!/usr/bin/env bash
# Static-engine LLM calibration on one H200 (issue 11): the designed sweep with the static cache and the
# compiled decode (`joulebench calibrate llm --engine static`), then the v2 fit and its validation (held-out
# models, unaligned prompt lengths 77/1200/3000, batch 3), each MAPE beside its run-to-run floor.
#
# Usage (device):  bash scripts/calibrate_static_engine.sh [DTYPE]      (DTYPE default bf16)
# The sweep driver records `engine` and `static_cache_len` in each point's config; transformers >= 5.17.
# GPU time: `joulebench calibrate llm --engine static --estimate` prints the predictor's estimate (344 s for
#        bf16 on an H200, of which 270 s are an assumed 30 s per torch.compile of a decode shape; measured
#        2026-12-03: 27 points in 250 s, then the other 21, Llama-3.1-8B's included, in 361 s); the
#        sweep is cut at 330 s by `timeout` so that the fit always runs on what was measured (points are
#        stored one transaction each; a second run resumes).
# Writes into $OUT: static_<dtype>.db (the sweep), h200-transformers-static-<dtype>.yaml (the profile),
#        its -validation.md/.json/.png, sweep.log and nvidia-smi.csv.
set -u
DTYPE=${1:-bf16}
OUTDIR=${OUT:-./out}
mkdir -p "$OUTDIR"
if [ -f scripts/device_env.sh ]; then source scripts/device_env.sh; fi
DB="$OUTDIR/static_${DTYPE}.db"
PROFILE="$OUTDIR/h200-transformers-static-${DTYPE}.yaml"
joulebench calibrate llm --engine static --dtype "$DTYPE" --estimate --gpu-name h200 | tee "$OUTDIR/sweep.log"
nvidia-smi --query-gpu=timestamp,power.draw,clocks.sm,temperature.gpu --format=csv -l 1 > "$OUTDIR/nvidia-smi.csv" &
SMI=$!
timeout "${SWEEP_S:-330}" joulebench calibrate llm --engine static --dtype "$DTYPE" --measure-only --db "$DB" ${MODELS:+--models "$MODELS"} >> "$OUTDIR/sweep.log" 2>&1
echo "sweep rc $?" | tee -a "$OUTDIR/sweep.log"
kill "$SMI" 2>/dev/null
joulebench calibrate llm --engine static --dtype "$DTYPE" --fit-only --gpu-name h200 --db "$DB" --out "$PROFILE" \
  2>&1 | tee -a "$OUTDIR/sweep.log"
joulebench validate --calibration "$PROFILE" --db "$DB" | tee -a "$OUTDIR/sweep.log"
type pack_out >/dev/null 2>&1 && pack_out
