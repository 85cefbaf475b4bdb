#!/usr/bin/env bash
# Device run 2: meter overhead, Llama-3.1-8B phases (issue 2), then the bf16 calibration sweep (issue 4).
set -u
source scripts/device_env.sh
R=${OUT:-/tmp/out}/r; mkdir -p "$R"
left() { echo $(( ${1} - SECONDS )); }
echo "== meter overhead"; timeout 90 python3 benchmarks/meter_overhead.py --out "$R/meter_overhead.json" 2>&1 | grep -v -i warn
echo "== llama decode"; timeout 170 joulebench measure llm llama-3.1-8b --dtype bfloat16,float32 --prompt-tokens 1200 \
  --output-tokens 256 --db "$R/issue2.db" --json > "$R/llama8b_decode.json" 2> "$R/llama8b_decode.err"; echo "rc $?"
echo "== llama prefill"; timeout 110 joulebench measure llm llama-3.1-8b --dtype bfloat16,float32 --prompt-tokens 128,512,1200,4000 \
  --output-tokens 1 --phases prefill --db "$R/issue2.db" --json > "$R/llama8b_prefill.json" 2> "$R/llama8b_prefill.err"; echo "rc $?"
echo "== calibrate bf16 ($(left 580) s left)"; timeout $(left 580) joulebench calibrate --dtype bfloat16 --measure-only \
  --db "$R/calibration.db" > "$R/cal_bf16.log" 2>&1; echo "rc $?"
for f in "$R"/*.err "$R"/cal_bf16.log; do echo "-- $f"; tail -n 4 "$f"; done
tar czf "${OUT:-/tmp/out}/run2.tgz" -C "$(dirname "$R")" r
