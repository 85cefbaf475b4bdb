#!/usr/bin/env python3
"""Measure the study's serving arms on one GPU: transformers serve, in-process CB (knobs), sequential.

Run on the GPU box from the repository root (wheels: scripts/prepare_serving_wheels.py writes .whl-serving;
carry it and source scripts/device_env.sh with WHEELS=.whl-serving, which installs it and puts src/ on the
path; the commands that ran on the H200 are in docs/validation/serving/run_d/measure_serving.cmd):

    WHEELS=.whl-serving source scripts/device_env.sh && python3 scripts/measure_serving.py --plan serve    # <= 480 s
    WHEELS=.whl-serving source scripts/device_env.sh && python3 scripts/measure_serving.py --plan engines  # <= 375 s
    WHEELS=.whl-serving source scripts/device_env.sh && python3 scripts/measure_serving.py --plan knobs    # <= 450 s
    python3 scripts/measure_serving.py --plan quick --budget-s 900                       # CPU smoke, ~4 min

Plans (every field can be overridden: --targets, --laws, --requests T=N, --max-duration T=S, --sweep):
  serve    save a random-weight Llama-3.1-8B checkpoint (bf16, byte-level tokenizer, EOS disabled) under
           /tmp, start ``transformers serve CKPT --continuous-batching`` on it (sdpa), warm it up, then
           load it with the five study laws through the HTTP client, NVML energy on the same box
  engines  in-process: CB with the ``tuned`` preset, sequential bf16 and fp32 (fixed 50 ms), five laws
  knobs    in-process CB under burst with the library defaults, then one arm per knob value and preset
           (the sweep that picks ``tuned``: fill workloads/engine.py PRESETS["tuned"] from its table)
  quick    tiny-llama on CPU, every target, a few requests (checks the script, not the numbers)

Before starting it prints the worst-case runtime (model loads + the sum of the arms' time bounds) and
refuses to start past --budget-s. Writes into $OUT (default ./out): serving/<arm>.json (the document
``serve-bench --json`` prints), serving/serving.db, serving/summary.json (one row per arm, and the
study's figures beside their floors), serving/server.log, and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from joulebench.experiments.progress import LineObserver  # noqa: E402
from joulebench.experiments.serving_bench import run_arms  # noqa: E402
from joulebench.experiments.serving_study import LAWS, study_arms  # noqa: E402

PORT = 18000
CHECKPOINT_S, SERVER_START_S, MODEL_LOAD_S = 150.0, 120.0, 40.0  # worst cases on the H200 box
PLANS: dict[str, dict[str, Any]] = {
    "serve": {"targets": ["serve"], "laws": list(LAWS), "requests": {"serve": 24}, "max_duration": {"serve": 40}},
    "engines": {"targets": ["cb", "seq-bf16", "seq-fp32"], "laws": list(LAWS), "seq_laws": ["fixed-50ms"],
                "requests": {"cb": 24, "seq-bf16": 6, "seq-fp32": 4},
                "max_duration": {"cb": 45, "seq-bf16": 30, "seq-fp32": 30}},
    "knobs": {"targets": ["cb"], "laws": ["burst"], "requests": {"cb": 48}, "max_duration": {"cb": 50},
              "preset": "library", "sweeps": ["max_batch_tokens=1024,8192", "max_requests_per_batch=8,16,32",
                                              "scheduler=prefill_first"],
              "presets": ["graphs-no-kv-padding"]},
    "quick": {"targets": ["cb", "seq-bf16", "serve"], "laws": ["burst", "fixed-50ms"], "model": "tiny-llama",
              "device": "cpu", "requests": {"cb": 4, "seq-bf16": 2, "serve": 3},
              "max_duration": {"cb": 60, "seq-bf16": 60, "serve": 90}, "prompts": "synthetic:16-64,mean=32",
              "outputs": "2-6"},
}


def save_checkpoint(model: str, dtype: str, device: str, out: Path) -> float:
    """A random-weight checkpoint transformers serve can load offline: weights, config, byte tokenizer."""
    from joulebench.workloads.device import free_device_memory
    from joulebench.workloads.llm import load_model
    from joulebench.workloads.tokenizer import byte_tokenizer

    began = time.perf_counter()
    loaded = load_model(model, dtype, device)
    generation = loaded.model.generation_config
    generation.eos_token_id, generation.pad_token_id = None, 0
    loaded.model.save_pretrained(out)
    byte_tokenizer(loaded.model.config.vocab_size).save_pretrained(out)
    del loaded
    free_device_memory()
    return time.perf_counter() - began


def run_serve(args: argparse.Namespace, arms: list, out: Path) -> list:
    """One transformers serve process for every serve arm: checkpoint, launch, warm up, load, stop."""
    from joulebench.serving.arrivals import parse_arrival, schedule
    from joulebench.serving.client import ClientConfig, run_load
    from joulebench.serving.launcher import ServerProcess, ServerSpec
    from joulebench.serving.prompts import parse_lengths, parse_prompts

    ckpt = Path(args.checkpoint)
    cpu = args.device == "cpu"
    if not (ckpt / "config.json").is_file():
        print(f"saving a random-weight {args.model} checkpoint to {ckpt} ...", flush=True)
        took = save_checkpoint(args.model, "float32" if cpu else "bfloat16", args.device, ckpt)
        print(f"  saved in {took:.0f} s", flush=True)
    command = (f"{sys.executable} -m transformers.cli.transformers serve {ckpt} --continuous-batching "
               f"--port {PORT} --host 127.0.0.1 --device {'cpu' if cpu else 'cuda:0'} "
               f"--dtype {'float32' if cpu else 'bfloat16'} --attn-implementation sdpa --log-level info")
    url = f"http://127.0.0.1:{PORT}"
    server = ServerProcess(ServerSpec(command, url, ready_timeout_s=SERVER_START_S * 3))
    try:
        server.start()
        print(f"server ready after {server.ready_after_s:.0f} s; warming up", flush=True)
        specs = parse_prompts("synthetic:64").build(2, parse_lengths("4", "o"), seed=9, text_unit="byte")
        config = ClientConfig(url, str(ckpt), length_control="transformers", max_duration_s=300)
        warm = run_load(config, specs, schedule(parse_arrival("burst"), 2))
        print(f"warm-up: {[r.status for r in warm.records]}", flush=True)
        arms = [replace(a, url=url, model=str(ckpt)) for a in arms]
        return run_arms(arms, out / "serving.db", "scripts/measure_serving.py", gpus=args.gpus, idle_s=args.idle_s,
                        json_dir=out, observer=LineObserver())
    finally:
        server.stop()
        (out / "server.log").write_text(server.log_text())
        server.close()


def _pairs(items: list[str], kind: type) -> dict[str, Any]:
    return {key: kind(value) for key, _, value in (item.partition("=") for item in items)}


def build_arms(args: argparse.Namespace, plan: dict[str, Any]) -> list:
    targets = args.targets.split(",") if args.targets else plan["targets"]
    laws = args.laws.split(",") if args.laws else plan["laws"]
    requests = {**plan["requests"], **_pairs(args.requests, int)}
    bounds = {**plan["max_duration"], **_pairs(args.max_duration, float)}
    common = {"prompts": plan.get("prompts", "synthetic:200-4000,mean=1200"), "outputs": plan.get("outputs", "10-300"),
              "profiles": args.profile, "repeats": args.repeats, "preset": args.preset or plan.get("preset", "tuned"),
              "url": f"http://127.0.0.1:{PORT}"}
    arms = []
    for target in targets:
        target_laws = plan.get("seq_laws", laws) if target.startswith("seq") else laws
        arms += study_arms(args.model, args.device, [target], target_laws, requests, bounds, **common)
    if args.plan == "knobs" or args.sweep:
        from joulebench.experiments.serving_arms import knob_sweep

        base = [a for a in arms if a.engine is not None and a.engine.engine == "transformers"]
        arms = base + [s for spec in (args.sweep or plan["sweeps"]) for a in base for s in knob_sweep(a, spec)]
        arms += [replace(a, name=f"{a.name}@{p}", engine=replace(a.engine, preset=p))
                 for p in plan.get("presets", []) for a in base]
    return arms


def worst_case_s(arms: list, idle_s: float) -> float:
    loads = len({(a.engine.model, a.engine.dtype) for a in arms if a.engine is not None})
    worst = sum(a.max_duration_s for a in arms) + MODEL_LOAD_S * loads + 2 * idle_s
    if any(a.engine is None for a in arms):
        worst += CHECKPOINT_S + SERVER_START_S
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan", choices=list(PLANS), default="quick")
    parser.add_argument("--model", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--targets", default=None, help="comma list of seq-fp32, seq-bf16, cb, serve")
    parser.add_argument("--laws", default=None, help=f"comma list of {', '.join(LAWS)}")
    parser.add_argument("--requests", nargs="*", default=[], help="TARGET=N overrides")
    parser.add_argument("--max-duration", nargs="*", default=[], help="TARGET=SECONDS overrides")
    parser.add_argument("--preset", default=None, help="CB knob preset (default: the plan's, else tuned)")
    parser.add_argument("--sweep", nargs="*", default=None, help="KNOB=V1,V2 (replaces the knobs plan's sweeps)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--profile", nargs="*", default=[], help="calibration profiles for the floor")
    parser.add_argument("--checkpoint", default="/tmp/joulebench-ckpt")
    parser.add_argument("--gpus", default="0")
    parser.add_argument("--idle-s", type=float, default=5.0)
    parser.add_argument("--budget-s", type=float, default=570.0, help="refuse plans whose worst case is longer")
    parser.add_argument("--study", default=None, help="seed_figures.json (default: shared/reference/ if present)")
    parser.add_argument("--dry-run", action="store_true", help="print the arms and the worst case, run nothing")
    args = parser.parse_args()
    plan = PLANS[args.plan]
    args.model = args.model or plan.get("model", "llama-3.1-8b")
    args.device = args.device or plan.get("device", "cuda")
    args.gpus = None if args.device == "cpu" else [int(g) for g in args.gpus.split(",")]
    args.idle_s = 0.0 if args.device == "cpu" else args.idle_s
    arms = build_arms(args, plan)
    worst = worst_case_s(arms, args.idle_s)
    print(f"{len(arms)} arms; worst-case runtime {worst:.0f} s (budget {args.budget_s:.0f} s)", flush=True)
    if args.dry_run:
        for arm in arms:
            print(f"  {arm.name}: {arm.arrival}, {arm.requests} requests, <= {arm.max_duration_s:g} s")
        return 0
    if worst > args.budget_s:
        print("refusing: lower --requests / --max-duration or split the plan (--targets, --laws)")
        return 2
    out = Path(os.environ.get("OUT", "out")) / "serving"
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    outcomes = []
    serve_arms = [a for a in arms if a.engine is None]
    engine_arms = [a for a in arms if a.engine is not None]
    if serve_arms:
        outcomes += list(zip(serve_arms, run_serve(args, serve_arms, out), strict=True))
    if engine_arms:
        done = run_arms(engine_arms, out / "serving.db", "scripts/measure_serving.py", gpus=args.gpus,
                        idle_s=args.idle_s, json_dir=out, observer=LineObserver())
        outcomes += list(zip(engine_arms, done, strict=True))
    print_table(outcomes, out, args.profile, args.study)
    print(f"done in {time.perf_counter() - began:.0f} s; results in {out}")
    return 0


HEAD = ("completed", "failed", "flagged", "wh_per_request", "gpu_wh_per_request", "floor_wh_per_request",
        "ratio_to_floor", "j_per_output_token", "j_per_input_token", "steady_j_per_output_token", "ttft_p50_s",
        "ttft_p90_s", "tpot_p50_s", "tpot_p90_s", "e2e_p50_s", "output_tokens_per_s")
SHOWN = ("wh_per_request", "gpu_wh_per_request", "floor_wh_per_request", "ratio_to_floor", "j_per_output_token",
         "ttft_p50_s", "tpot_p50_s", "output_tokens_per_s")


def print_table(outcomes: list, out: Path, profiles: list[str], study_path: str | None) -> None:
    from joulebench.serving.figures import STUDY, compare, study_figures

    rows = []
    for arm, outcome in outcomes:
        head = outcome.summary.get("headline", {})
        rows.append({"arm": arm.name, **{k: head.get(k) for k in HEAD}, "knobs": outcome.summary.get("engine_knobs"),
                     "check_failures": outcome.summary.get("check_failures"), "error": outcome.failed})
    fmt = "{:<34} {:>9} {:>9} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9}"
    print(fmt.format("arm", "done/fail", "Wh/req", "GPU Wh", "floor Wh", "ratio", "J/outtok", "TTFT p50", "TPOT p50",
                     "out tok/s"))
    for r in rows:
        cells = [r["arm"][:34], f"{r['completed']}/{r['failed']}"]
        cells += ["-" if r[k] is None else f"{r[k]:.3g}" for k in SHOWN]
        below = r["ratio_to_floor"] is not None and r["ratio_to_floor"] < 1
        print(fmt.format(*cells) + ("  BELOW FLOOR" if below else "") + (f"  ERROR {r['error'][:80]}" if r["error"] else ""))
    candidates = [Path(study_path)] if study_path else [ROOT / "shared" / "reference" / "seed_figures.json",
                                                        ROOT.parent / "shared" / "reference" / "seed_figures.json"]
    seed = next((c for c in candidates if c.is_file()), None)
    study = compare(study_figures(seed), STUDY, profiles) if seed is not None else []
    for row in study:
        print(f"study {row['figure']:<34} {row['wh_per_request']:.3g} Wh/req, floor {row['floor_wh']:.3g} Wh, "
              f"ratio {row['ratio_to_floor']:.2f}" + ("  BELOW FLOOR" if row["below_floor"] else ""))
    (out / "summary.json").write_text(json.dumps({"arms": rows, "study": study}, indent=2, default=str))


if __name__ == "__main__":
    raise SystemExit(main())
