#!/usr/bin/env bash
# Device run for issue 2 (measurement core): short-window accuracy, meter overhead, Llama-3.1-8B phases.
# Run on the GPU machine from the repo root with .whl carried (scripts/prepare_device_wheels.py).
set -u
source scripts/device_env.sh
R=${OUT:-/tmp/out}/r; mkdir -p "$R"
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.sm,clocks.mem,temperature.gpu --format=csv > "$R/nvidia_smi.csv" 2>&1
python3 -m pip list 2>/dev/null > "$R/pip_list.txt"
joulebench env --json > "$R/env.json" 2> "$R/env.err"
echo "== short window"; timeout 200 python3 benchmarks/short_window.py --out "$R/short_window" --trials 8 2>&1 | grep -v -i warn
echo "== meter overhead"; timeout 100 python3 benchmarks/meter_overhead.py --out "$R/meter_overhead.json" 2>&1 | grep -v -i warn
echo "== llama decode"; timeout 170 joulebench measure llm llama-3.1-8b --dtype bfloat16,float32 --prompt-tokens 1200 \
  --output-tokens 256 --db "$R/issue2.db" --json > "$R/llama8b_decode.json" 2> "$R/llama8b_decode.err"; echo "rc $?"
echo "== llama prefill"; timeout 120 joulebench measure llm llama-3.1-8b --dtype bfloat16,float32 --prompt-tokens 128,512,1200,4000 \
  --output-tokens 1 --phases prefill --db "$R/issue2.db" --json > "$R/llama8b_prefill.json" 2> "$R/llama8b_prefill.err"; echo "rc $?"
tail -3 "$R"/*.err
tar czf "${OUT:-/tmp/out}/run_issue2.tgz" -C "$(dirname "$R")" r
