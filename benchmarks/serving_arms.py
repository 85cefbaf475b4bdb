"""The study's in-process serving arms in one process: Wh per request, J per token, ratio to floor.

The arms are `experiments.serving_study.study_arms` (one plan for this benchmark and for
scripts/measure_serving.py): Llama-3.1-8B architecture with random weights, prompts 200-4000 tokens
(mean ~1200), outputs 10-300 tokens, EOS ignored; sequential fp32 and bf16 at fixed 50 ms, and
continuous batching (knob preset ``--preset``, default ``tuned``) under burst, U(0, 1 s) and fixed
50/300/500 ms. All arms draw the same request set (seed 0), so comparisons between arms are paired.
Request counts (x ``--scale``): sequential 32, batching 200; each arm is bounded by its time limit.

    python benchmarks/serving_arms.py OUT_DIR [--model llama-3.1-8b] [--device cuda] [--db FILE]
    python benchmarks/serving_arms.py OUT_DIR --quick      # CPU smoke run with tiny-llama

Writes OUT_DIR/<arm>.json (the same document ``serve-bench --json`` prints) and OUT_DIR/summary.json.
For the HTTP server target (transformers serve) and the GPU plans, use scripts/measure_serving.py.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from joulebench.experiments.progress import LineObserver
from joulebench.experiments.serving_bench import run_arms
from joulebench.experiments.serving_study import LAWS, study_arms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--model", default="llama-3.1-8b")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--db", default=None, help="results database (default OUT_DIR/serving.db)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the request counts")
    parser.add_argument("--idle-s", type=float, default=5.0, help="idle power measured before the arms")
    parser.add_argument("--only", default=None, help="comma-separated arm names to run")
    parser.add_argument("--preset", default="tuned", help="continuous-batching knob preset")
    parser.add_argument("--quick", action="store_true", help="tiny-llama on CPU, a few requests per arm")
    args = parser.parse_args()
    model, device = (args.model, args.device) if not args.quick else ("tiny-llama", "cpu")
    seq_n, cb_n = (3, 6) if args.quick else (max(2, round(32 * args.scale)), max(4, round(200 * args.scale)))
    lengths = {"prompts": "synthetic:16-64,mean=32", "outputs": "2-6"} if args.quick else {}
    bounds = {"seq-fp32": 240.0, "seq-bf16": 200.0, "cb": 160.0}
    requests = {"seq-fp32": seq_n, "seq-bf16": seq_n, "cb": cb_n}
    arms = study_arms(model, device, ["seq-fp32", "seq-bf16"], ["fixed-50ms"], requests, bounds, **lengths)
    arms += study_arms(model, device, ["cb"], list(LAWS), requests, bounds, preset=args.preset, **lengths)
    if args.only:
        wanted = set(args.only.split(","))
        arms = [a for a in arms if a.name in wanted]
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)


    outcomes = run_arms(
        arms, args.db or out / "serving.db", "benchmarks/serving_arms.py", gpus=None,
        idle_s=0.0 if args.quick else args.idle_s, json_dir=out, observer=LineObserver(),
    )
    table = {}
    for arm, outcome in zip(arms, outcomes, strict=True):
        table[arm.name] = outcome.summary.get("headline", {"error": outcome.failed})
        print(arm.name, json.dumps(table[arm.name]))
    (out / "summary.json").write_text(json.dumps(table, indent=2, default=str))


if __name__ == "__main__":
    main()
