"""The study's serving arms in one process: Wh per request and J per output token, per arrival law.

Arms (issue 5, "must show"): Llama-3.1-8B architecture with random weights, prompts 200-4000 tokens
(mean ~1200), outputs 10-300 tokens, EOS ignored:
  seq-fp32         float32, one generate at a time, requests queued at fixed 50 ms
  seq-bf16         bfloat16, same
  cb-burst         bfloat16 continuous batching, all requests at once
  cb-uniform-0-1s  bfloat16 continuous batching, gaps U(0 s, 1 s)
  cb-fixed-50ms    ... one request every 50 ms
  cb-fixed-300ms   ... every 300 ms
  cb-fixed-500ms   ... every 500 ms

Request counts (about 12 minutes of an H100/H200 together, model loads included; each arm is also
bounded by its --max-duration): sequential arms 32 requests each (~3.5-4.5 s a request: about 2 + 2.3
minutes), batching arms 200 each (burst ~1 min; the timed laws 10-100 s of arrivals plus the drain),
enough for a steady-state window of tens of seconds at the slower laws. All arms draw the same request
set (seed 0; the sequential arms take its first 32), so comparisons between arms are paired.

    python benchmarks/serving_arms.py OUT_DIR [--model llama-3.1-8b] [--device cuda] [--db FILE]
    python benchmarks/serving_arms.py OUT_DIR --quick      # CPU smoke run with tiny-llama

Writes OUT_DIR/<arm>.json (the same document ``serve-bench --json`` prints) and OUT_DIR/summary.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from joulebench.experiments.serving_bench import ArmSpec, run_arms
from joulebench.workloads.engine import EngineConfig

PROMPTS = "synthetic:200-4000,mean=1200"
OUTPUTS = "10-300"


def study_arms(model: str, device: str, scale: float = 1.0, quick: bool = False) -> list[ArmSpec]:
    """The seven arms; ``scale`` multiplies request counts, ``quick`` shrinks everything for a CPU smoke."""
    seq_n, cb_n = max(2, round(32 * scale)), max(4, round(200 * scale))
    prompts, outputs = (PROMPTS, OUTPUTS) if not quick else ("synthetic:16-64,mean=32", "2-6")
    if quick:
        seq_n, cb_n = 3, 6

    def arm(name: str, engine: str, dtype: str, arrival: str, n: int, max_s: float) -> ArmSpec:
        return ArmSpec(
            name=name,
            arrival=arrival,
            requests=n,
            prompts=prompts,
            output_tokens=outputs,
            seed=0,
            max_duration_s=max_s,
            slo="ttft:2s,tpot:100ms",
            engine=EngineConfig(model, engine, dtype, device),
        )

    return [
        arm("seq-fp32", "sequential", "float32", "fixed:50ms", seq_n, 240.0),
        arm("seq-bf16", "sequential", "bfloat16", "fixed:50ms", seq_n, 200.0),
        arm("cb-burst", "transformers", "bfloat16", "burst", cb_n, 150.0),
        arm("cb-uniform-0-1s", "transformers", "bfloat16", "uniform:0s,1s", cb_n, 160.0),
        arm("cb-fixed-50ms", "transformers", "bfloat16", "fixed:50ms", cb_n, 120.0),
        arm("cb-fixed-300ms", "transformers", "bfloat16", "fixed:300ms", cb_n, 120.0),
        arm("cb-fixed-500ms", "transformers", "bfloat16", "fixed:500ms", cb_n, 160.0),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out_dir")
    parser.add_argument("--model", default="llama-3.1-8b")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--db", default=None, help="results database (default OUT_DIR/serving.db)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the request counts")
    parser.add_argument("--idle-s", type=float, default=5.0, help="idle power measured before the arms")
    parser.add_argument("--only", default=None, help="comma-separated arm names to run")
    parser.add_argument("--quick", action="store_true", help="tiny-llama on CPU, a few requests per arm")
    args = parser.parse_args()
    model, device = (args.model, args.device) if not args.quick else ("tiny-llama", "cpu")
    arms = study_arms(model, device, args.scale, args.quick)
    if args.only:
        wanted = set(args.only.split(","))
        arms = [a for a in arms if a.name in wanted]
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def progress(event: str, index: int, config, payload) -> None:
        print(f"[{event}] {config['name']}" + (f": {payload}" if event == "failed" else ""), flush=True)

    outcomes = run_arms(
        arms,
        args.db or out / "serving.db",
        "benchmarks/serving_arms.py",
        gpus=None,
        idle_s=0.0 if args.quick else args.idle_s,
        json_dir=out,
        on_event=progress,
    )
    table = {}
    for arm, outcome in zip(arms, outcomes, strict=True):
        table[arm.name] = outcome.summary.get("headline", {"error": outcome.failed})
        print(arm.name, json.dumps(table[arm.name]))
    (out / "summary.json").write_text(json.dumps(table, indent=2, default=str))


if __name__ == "__main__":
    main()
