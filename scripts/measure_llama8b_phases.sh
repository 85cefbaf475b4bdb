#!/usr/bin/env bash
# Issue 10 must-show: Llama-3.1-8B bf16 (random weights), s=1200, g=256, eager and static engines:
# prefill, decode (inside the real generate call), request, their consistency and their physical floors,
# with the cold and warm idle baselines of each run. Writes $OUT/llama8b_phases.db and one JSON per
# engine, plus nvidia-smi readings before and after. About 4 minutes on one H200 (static: compile ~100 s).
# Usage (on the device, after `source scripts/device_env.sh`): bash scripts/measure_llama8b_phases.sh [eager,static]
set -uo pipefail
OUT=${OUT:-./out}
mkdir -p "$OUT"
engines=${1:-eager,static}
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.sm,clocks.mem,temperature.gpu,power.draw \
  --format=csv > "$OUT/nvidia-smi-llama8b-before.csv"
for engine in ${engines//,/ }; do
  start=$(date +%s)
  joulebench measure llm llama-3.1-8b --dtype bf16 --prompt-tokens 1200 --output-tokens 256 --batch 1 \
    --device cuda --engine "$engine" --db "$OUT/llama8b_phases.db" --json > "$OUT/llama8b_$engine.json"
  echo "engine $engine: exit $? in $(( $(date +%s) - start )) s"
done
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.sm,clocks.mem,temperature.gpu,power.draw \
  --format=csv > "$OUT/nvidia-smi-llama8b-after.csv"
python3 - "$OUT" <<'PY'
import json, sys, pathlib
for f in sorted(pathlib.Path(sys.argv[1]).glob("llama8b_*.json")):
    doc = json.loads(f.read_text())
    for p in doc["points"]:
        c = p["consistency"]
        print(f.stem, "flags", p["flags"], "consistency", {k: v for k, v in c.items() if "ratio" in k})
        for ph in ("prefill", "decode", "request"):
            d = p[ph]
            fl = d.get("floor", {})
            print(f"  {ph:8s} {d['latency_s']:.4f} s  gpu {d['energy_j'].get('gpu', float('nan')):.1f} J"
                  f"  above-idle {d.get('above_idle_energy_j', {}).get('gpu', float('nan')):.1f} J"
                  f"  floor x{fl.get('latency_ratio_to_floor', float('nan')):.2f} t / x{fl.get('energy_ratio_to_floor', float('nan')):.2f} E")
PY
