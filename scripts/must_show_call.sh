#!/usr/bin/env bash
# One device call of issue 18's must-show (scripts/measure_serving.py --plan must-show), the same command
# every call, so that the next call can be sent the moment one returns and find the machine warm.
#
# Why: the device machine goes back 30 s after a call, and a fresh one costs 1-2 minutes of device time
# to start, a checkpoint save (25-41 s) and a server start (11-16 s) before the first arm (run_f,
# 2026-12-07). A warm machine keeps /tmp: the store stays in $STATE between calls, and the plan resumes
# from it, so nothing needs copying into the tree between two calls. A fresh machine starts from the
# committed stores (docs/validation/serving/run_f/serving-*.db.gz); the first line printed says which.
# Each call returns the card's store (gzipped by pack_out once over 8 MiB) and the logs in $OUT; commit
# the last one returned, or `joulebench results merge` several (a store is a superset of the ones before
# it on the same machine): python3 scripts/ingest_must_show_call.py N FILES_AT lands one call's files and store.
#
# Usage, as the device command (carry .whl-serving):
#   bash scripts/must_show_call.sh PARTS [BUDGET_S] [measure_serving.py options...]
#   bash scripts/must_show_call.sh serve,cb,seq 575
# PARTS: comma list of serve, cb, seq (the plan's order). BUDGET_S (default 575) bounds the plan; the call
# ends within BUDGET_S + 20 s. JB_LOCAL=1 skips the wheels (a CPU check here: src/ on the path).
set -o pipefail
parts=${1:?PARTS: comma list of serve, cb, seq}
budget=${2:-575}
shift $(( $# < 2 ? $# : 2 ))
OUT=${OUT:-./out}
STATE=${STATE:-/tmp/must-show}
mkdir -p "$OUT" "$STATE/serving"
if [ -z "$JB_LOCAL" ]; then
  rm -rf /tmp/site
  WHEELS=.whl-serving source scripts/device_env.sh || exit 1
else
  export PYTHONPATH=$PWD/src
  pack_out() { :; }
fi
if ls "$STATE"/serving/serving*.db >/dev/null 2>&1; then
  echo "resuming from this machine's store: $(ls "$STATE"/serving/serving*.db | xargs -n1 basename | tr '\n' ' ')"
else
  cp docs/validation/serving/run_f/serving-*.db.gz "$STATE/serving/" 2>/dev/null && gunzip -f "$STATE"/serving/*.gz
  echo "resuming from the committed stores: $(ls "$STATE"/serving/ | tr '\n' ' ')"
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,uuid,driver_version,power.draw,temperature.gpu \
  --format=csv | tee "$OUT/card.csv"
OUT=$STATE PYTHONUNBUFFERED=1 timeout -s INT $((budget + 13)) python3 scripts/measure_serving.py --plan must-show \
  --parts "$parts" --budget-s "$budget" "$@" 2>&1 | grep -v -i warn | tee "$OUT/must_show.log" | tail -30
status=$?
cp "$STATE"/serving/serving*.db "$OUT/"
[ -f "$STATE/serving/server.log" ] && cp "$STATE/serving/server.log" "$OUT/" && rm -f "$STATE/serving/server.log"
pack_out
exit $status
