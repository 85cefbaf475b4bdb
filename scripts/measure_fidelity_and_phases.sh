#!/usr/bin/env bash
# One device call for issue 10 (measurement fidelity), in order of what later work depends on:
#   1. smoke: tiny-llama on CUDA, eager and static (does the round-2 workload run at all?)
#   2. raw NVML sample buffers for the CPU replay tests (scripts/record_nvml_samples.py, ~50 s)
#   3. Llama-3.1-8B bf16 s=1200 g=256, eager and static: phases, consistency, floors, idle (scripts/measure_llama8b_phases.sh)
#   4. short windows vs 20 s references and meter overhead on eager/static decode (scripts/measure_meter_fidelity.py)
# Everything lands in $OUT/results.tgz (plus $OUT/log.txt); each step has its own time limit so that a
# failure or a slow step never costs the later ones more than their share. Total <= 9.5 minutes.
set -uo pipefail
source scripts/device_env.sh
OUT=${OUT:-./out}; R=/tmp/res; mkdir -p "$R" "$OUT"
export PYTHONUNBUFFERED=1
step() { local name=$1 limit=$2; shift 2; local t0=$SECONDS; echo "== $name (limit ${limit}s)";
         timeout "$limit" "$@"; echo "== $name: exit $? after $(( SECONDS - t0 )) s"; }
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv \
  > "$R/nvidia-smi-start.csv"
OUT=$R step record 90 python3 scripts/record_nvml_samples.py 2>&1 | tail -20
for engine in eager static; do
  step "smoke-$engine" 80 joulebench measure llm tiny-llama --device cuda --dtype fp32 --prompt-tokens 32 \
    --output-tokens 8 --engine "$engine" --db "$R/smoke.db" --json > "$R/smoke_$engine.json"
done
OUT=$R step llama8b 300 bash scripts/measure_llama8b_phases.sh eager,static 2>&1 | tail -30
left=$(( 560 - SECONDS )); echo "fidelity gets ${left}s"
OUT=$R step fidelity "$left" python3 scripts/measure_meter_fidelity.py --deadline-s $(( left - 40 )) 2>&1 | tail -40
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv \
  > "$R/nvidia-smi-end.csv"
tar czf "$OUT/results.tgz" -C "$R" . && ls -la "$R" && du -sh "$OUT/results.tgz"
