#!/usr/bin/env python3
"""Measure the study's serving arms on one GPU: transformers serve, in-process CB (knobs), sequential.

Run on the GPU box from the repository root (wheels: scripts/prepare_serving_wheels.py writes .whl-serving;
carry it and source scripts/device_env.sh with WHEELS=.whl-serving, which installs it and puts src/ on the
path; the commands that ran on the H200 are in docs/validation/serving/run_d/measure_serving.cmd):

    WHEELS=.whl-serving source scripts/device_env.sh && python3 scripts/measure_serving.py --plan serve    # <= 360 s
    WHEELS=.whl-serving source scripts/device_env.sh && python3 scripts/measure_serving.py --plan engines  # <= 375 s
    WHEELS=.whl-serving source scripts/device_env.sh && python3 scripts/measure_serving.py --plan knobs    # <= 450 s
    python3 scripts/measure_serving.py --plan quick --budget-s 900                       # CPU smoke, ~4 min

Plans (every field can be overridden: --targets, --laws, --requests T=N, --max-duration T=S, --sweep):
  serve    save a random-weight Llama-3.1-8B checkpoint (bf16, byte-level tokenizer, EOS disabled) under
           /tmp, start ``transformers serve CKPT --continuous-batching`` on it (sdpa), warm it up, then
           load it with the five study laws through the HTTP client, NVML energy on the same box
  engines  in-process: CB with the ``tuned`` preset, sequential bf16 and fp32 (fixed 50 ms), five laws
  knobs    in-process CB under burst with the library defaults, then one arm per knob value and preset
           (the sweep that picked ``tuned``: docs/validation/serving/run_d/knobs)
  must-show  issue 18's arms over as many calls as it takes: transformers serve and CB (tuned) x five
           laws x 200 requests x 2 repeats, then the sequential fp32/bf16 services (5 segments of 40
           requests under burst per repeat) and one real check arm per dtype (fixed 500 ms, segment 0's
           requests); --parts serve,cb,seq picks some of them. The plan keeps one store per card
           model, $OUT/serving/serving-<card>.db (serving-h200.db, serving-h100-sxm.db: the device tool
           lends either), so repeats measured on two cards are never averaged. Each call resumes from it
           (copy the committed stores there first: docs/validation/serving/run_f/serving-*.db.gz,
           committed gzipped since every tracked file travels to the box) and runs the arms not yet
           stored while the next one's expected time fits --budget-s (its bound, or 1.3x the longest
           arm of its kind stored before or during the call); ``timeout -s INT`` stops an overrun
           before the device's limit (run_f/measure_serving.cmd has the commands as run):
             mkdir -p $OUT/serving && cp STORES $OUT/serving/ && gunzip -f $OUT/serving/*.gz; \
               WHEELS=.whl-serving source scripts/device_env.sh && timeout -s INT 588 \
               python3 scripts/measure_serving.py --plan must-show --parts PART --budget-s 575; pack_out
           Two calls resumed from one store return two stores: `joulebench results merge` joins them.
           scripts/must_show_call.sh PARTS wraps one such call, the same command every time: it keeps
           the store in the warm machine's /tmp, so the next call can be sent as soon as one returns.
           The server is warmed with --server-warmup requests (32) at the arms' lengths first. Each
           serve arm sends its own prompts (same lengths, tokens drawn with a salt of its name; tag
           ``fresh-prompts``): transformers serve keeps finished requests' blocks cached across arms,
           and arms sharing seed 0 were served partly from that cache (run_f: 0.118, 0.0957 and
           0.0669 Wh/request for a server's first, second and third arm).
           then, here (no GPU): python3 scripts/measure_serving.py --derive STORE writes each law's
           sequential arm derived from the services (serving/fifo.py) into STORE's folder/derived/
  quick    tiny-llama on CPU, every target, a few requests (checks the script, not the numbers)

Before starting it prints the worst-case runtime (model loads + the sum of the arms' time bounds) and
refuses to start past --budget-s (the must-show plan instead stops before the first arm that no longer
fits). Writes into $OUT (default ./out): serving/<arm>.json (the document
``serve-bench --json`` prints), serving/serving.db (must-show: serving-<card>.db), serving/summary.json (one
row per arm, and the study's figures beside their floors), serving/server.log, and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from joulebench.experiments.progress import LineObserver  # noqa: E402
from joulebench.experiments.serving_arms import own_prompts  # noqa: E402
from joulebench.experiments.serving_bench import ArmOutcome, run_arms  # noqa: E402
from joulebench.experiments.serving_budget import (  # noqa: E402
    MODEL_LOAD_S,
    BudgetObserver,
    BudgetSpent,
    expected_durations,
    stored_ok,
)
from joulebench.experiments.serving_study import LAWS, service_arms, study_arms  # noqa: E402
from joulebench.experiments.serving_table import (  # noqa: E402
    FRESH_PROMPTS,
    preset_variant,
    with_variant,
    without_variant,
)

PORT = 18000
#: expected set-up times, about 1.5x the longest measured: checkpoint 34-38 s (H200, run_d) and 25-41 s
#: (H100, run_f), server ready after 11-17 s, the 32-request warm-up 7-9 s (run_f). Twice those (90/60/60 s)
#: left a 575 s call no room for a warm-up replay of the first arm and that arm (run_f call 6 ran nothing).
CHECKPOINT_S, SERVER_START_S = 60.0, 25.0
SERVER_WARMUP_S = 15.0
SERVER_SETUP_S = CHECKPOINT_S + SERVER_START_S + SERVER_WARMUP_S  # before a server's first measured arm
SERVER_READY_TIMEOUT_S = 180.0  # a server not ready by then is an error, not a slow start
WARMUP_SEED = 99  # the warm-up's requests are not any arm's (the arms use seeds 0..segments-1)
#: the must-show, over as many calls as it takes: each call runs the arms not yet stored while their time
#: bounds fit (bounds from run_d: CB 1.1-1.4 requests/s, serve 0.7-0.9, sequential ~3.1-6.3 s a request)
MUST_SHOW = {"targets": ["serve", "cb"], "laws": list(LAWS), "requests": {"cb": 200, "serve": 200},
             "max_duration": {"cb": 240, "serve": 330}, "repeats": 2, "fit": True,
             "services": {"targets": ["seq-fp32", "seq-bf16"], "segment": 40, "segments": 5, "max_duration": 290}}
#: what ``--parts`` selects of a plan: its serve arms, its CB arms, its sequential arms (and services)
PARTS = ("serve", "cb", "seq")
PLANS: dict[str, dict[str, Any]] = {
    "serve": {"targets": ["serve"], "laws": list(LAWS), "requests": {"serve": 24}, "max_duration": {"serve": 40}},
    "engines": {"targets": ["cb", "seq-bf16", "seq-fp32"], "laws": list(LAWS), "seq_laws": ["fixed-50ms"],
                "requests": {"cb": 24, "seq-bf16": 6, "seq-fp32": 4},
                "max_duration": {"cb": 45, "seq-bf16": 30, "seq-fp32": 30}},
    "knobs": {"targets": ["cb"], "laws": ["burst"], "requests": {"cb": 48}, "max_duration": {"cb": 50},
              "preset": "library", "sweeps": ["max_batch_tokens=1024,8192", "max_requests_per_batch=8,16,32",
                                              "scheduler=prefill_first"],
              "presets": ["graphs-no-kv-padding"]},
    "must-show": MUST_SHOW,
    "quick": {"targets": ["cb", "seq-bf16", "serve"], "laws": ["burst", "fixed-50ms"], "model": "tiny-llama",
              "device": "cpu", "requests": {"cb": 4, "seq-bf16": 2, "serve": 3},
              "max_duration": {"cb": 60, "seq-bf16": 60, "serve": 90}, "prompts": "synthetic:16-64,mean=32",
              "outputs": "2-6"},
}


def checkpoint_saved(ckpt: Path) -> bool:
    """A random-weight checkpoint is already at ``ckpt`` (a warm machine's /tmp keeps it between calls)."""
    return (ckpt / "config.json").is_file()


def server_setup_s(ckpt: Path) -> float:
    """The expected set-up before a server's first measured arm, less the checkpoint's save when one is
    already there (run_f call 12 found one and had its server ready in 18 s, yet its set-up was expected to
    include a 60 s save)."""
    return SERVER_SETUP_S - (CHECKPOINT_S if checkpoint_saved(ckpt) else 0.0)


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


def run_serve(args: argparse.Namespace, arms: list, out: Path, db: Path, observer: Any, json_dir: Path | None) -> list:
    """One transformers serve process for every serve arm: checkpoint, launch, warm up, load, stop."""
    from joulebench.serving.arrivals import parse_arrival, schedule
    from joulebench.serving.client import ClientConfig, run_load
    from joulebench.serving.launcher import ServerProcess, ServerSpec
    from joulebench.serving.prompts import parse_lengths, parse_prompts

    ckpt = Path(args.checkpoint)
    cpu = args.device == "cpu"
    if not checkpoint_saved(ckpt):
        print(f"saving a random-weight {args.model} checkpoint to {ckpt} ...", flush=True)
        took = save_checkpoint(args.model, "float32" if cpu else "bfloat16", args.device, ckpt)
        print(f"  saved in {took:.0f} s", flush=True)
    flags = f"-m joulebench.serving.torch_flags --sdpa-cudnn {args.server_sdpa_cudnn} " if args.server_sdpa_cudnn else ""
    command = (f"{sys.executable} {flags}-m transformers.cli.transformers serve {ckpt} --continuous-batching "
               f"--port {PORT} --host 127.0.0.1 --device {'cpu' if cpu else 'cuda:0'} "
               f"--dtype {'float32' if cpu else 'bfloat16'} --attn-implementation sdpa --log-level info")
    url = f"http://127.0.0.1:{PORT}"
    server = ServerProcess(ServerSpec(command, url, ready_timeout_s=SERVER_READY_TIMEOUT_S))
    try:
        server.start()
        # A real warm-up, not two short requests, on prompts no arm sends (WARMUP_SEED): in run_e and run_f a
        # server's first arm cost up to 1.9x the same load served later, which the later arms' hits in the
        # server's prefix cache explain at least in part (`fresh_prompts`)
        n = args.server_warmup
        print(f"server ready after {server.ready_after_s:.0f} s; warming up with {n} requests", flush=True)
        began = time.perf_counter()
        specs = parse_prompts(arms[0].prompts).build(n, parse_lengths("16", "o"), seed=WARMUP_SEED, text_unit="byte")
        config = ClientConfig(url, str(ckpt), length_control="transformers", max_duration_s=300)
        warm = run_load(config, specs, schedule(parse_arrival("burst"), n))
        ok = sum(r.status == "ok" for r in warm.records)
        print(f"warm-up: {ok}/{n} ok in {time.perf_counter() - began:.0f} s", flush=True)
        arms = [replace(a, url=url, model=str(ckpt)) for a in arms]
        return run_arms(arms, db, f"scripts/measure_serving.py; server: {command}", gpus=args.gpus,
                        idle_s=args.idle_s, json_dir=json_dir, observer=observer)
    finally:
        server.stop()
        (out / "server.log").write_text(server.log_text())
        server.close()


def server_variant(args: argparse.Namespace) -> str | None:
    """What a serve arm's tag adds for the server's configuration (a resuming call finds the arm by it)."""
    return f"server-sdpa-cudnn-{args.server_sdpa_cudnn}" if args.server_sdpa_cudnn else None


def engine_variant(args: argparse.Namespace, plan: dict[str, Any]) -> str | None:
    """What an in-process CB arm's tag adds when ``--preset`` is not the plan's: a preset's name alone is
    not in the tag, so without it a probe of another preset would land in the plan's rows."""
    default = plan.get("preset", "tuned")
    return preset_variant(args.preset) if args.preset and args.preset != default else None


def fresh_prompts(arm: Any) -> Any:
    """``arm`` with prompts no other arm sends (`own_prompts`), tagged ``fresh-prompts``. One server serves
    every serve arm of a call and keeps finished requests' blocks cached for de-duplication (transformers
    5.24, ``cache.py``: evicted only under memory pressure); with the same prompts, a server's first, second
    and third arm cost 0.118, 0.0957 and 0.0669 Wh/request (run_f, H100), each later one served partly from
    the cache."""
    return own_prompts(replace(arm, tag=with_variant(arm.tag, FRESH_PROMPTS)))


def _with_variants(arm: Any, server: str | None, preset: str | None) -> Any:
    """``arm`` with the variant parts of its tag: a resuming call finds an arm by them, and the must-show
    table never averages two variants. A serve arm takes the server's and fresh prompts; a CB arm the
    preset's; a sequential arm none (its engine has no knobs for a preset to change)."""
    if arm.engine is None:
        return fresh_prompts(replace(arm, tag=with_variant(arm.tag, server)))
    if arm.engine.engine == "transformers":
        return replace(arm, tag=with_variant(arm.tag, preset))
    return arm


def untagged_variant(arms: list) -> list:
    """The arms as the defaults keyed them (the serve arms with shared prompts: run_f's first ones): their
    stored windows predict a variant's arms before any of those is stored (a variant's first call
    otherwise expects each arm to take its whole bound, and in run_f call 6 ran nothing)."""
    return [replace(a, prompt_salt=0, tag=without_variant(a.tag)) for a in arms]


def _pairs(items: list[str], kind: type) -> dict[str, Any]:
    return {key: kind(value) for key, _, value in (item.partition("=") for item in items)}


def build_arms(args: argparse.Namespace, plan: dict[str, Any]) -> list:
    parts = set(args.parts or PARTS)
    targets = args.targets.split(",") if args.targets else [t for t in plan["targets"] if t.split("-")[0] in parts]
    laws = args.laws.split(",") if args.laws else plan["laws"]
    requests = {**plan["requests"], **_pairs(args.requests, int)}
    bounds = {**plan["max_duration"], **_pairs(args.max_duration, float)}
    common = {"prompts": args.prompts or plan.get("prompts", "synthetic:200-4000,mean=1200"),
              "outputs": args.outputs or plan.get("outputs", "10-300"),
              "profiles": args.profile, "repeats": args.repeats or plan.get("repeats", 1),
              "preset": args.preset or plan.get("preset", "tuned"), "url": f"http://127.0.0.1:{PORT}",
              "served_model": args.checkpoint}
    arms = []
    for target in targets:
        target_laws = plan.get("seq_laws", laws) if target.startswith("seq") else laws
        arms += study_arms(args.model, args.device, [target], target_laws, requests, bounds, **common)
    variant, preset = server_variant(args), engine_variant(args, plan)
    arms = [_with_variants(a, variant, preset) for a in arms]
    if "services" in plan and not args.targets and "seq" in parts:
        svc = plan["services"]
        arms += service_arms(args.model, args.device, svc["targets"], svc["segment"], svc["segments"],
                             svc["max_duration"], repeats=common["repeats"],
                             prompts=common["prompts"], outputs=common["outputs"], profiles=args.profile)
    if args.plan == "knobs" or args.sweep:
        from joulebench.experiments.serving_arms import knob_sweep

        base = [a for a in arms if a.engine is not None and a.engine.engine == "transformers"]
        arms = base + [s for spec in (args.sweep or plan["sweeps"]) for a in base for s in knob_sweep(a, spec)]
        arms += [replace(a, name=f"{a.name}@{p}", engine=replace(a.engine, preset=p))
                 for p in plan.get("presets", []) for a in base]
    return arms


def store_name(fit: bool, device: str) -> str:
    """The store a plan writes: ``serving.db``, or for a resumable plan on a GPU one store per card model
    (``serving-h200.db``, ``serving-h100-sxm.db``): its arms are compared with each other, and the device
    tool lends an H100 or an H200 call by call (2026-12-07), so a store that mixed them would average two
    cards' repeats into one row."""
    if not fit or device == "cpu":
        return "serving.db"
    from joulebench.hardware.catalogue import detect_name, name_for_device

    device_name = detect_name()
    if device_name is None:
        print("error: device cuda: no GPU visible (a resumable plan keeps one store per card)", file=sys.stderr)
        raise SystemExit(2)
    card = name_for_device(device_name) or re.sub(r"[^a-z0-9]+", "-", device_name.lower()).strip("-")
    return f"serving-{card}.db"


def worst_case_s(arms: list, idle_s: float) -> float:
    loads = len({(a.engine.model, a.engine.dtype) for a in arms if a.engine is not None})
    worst = sum(a.max_duration_s for a in arms) + MODEL_LOAD_S * loads + 2 * idle_s
    if any(a.engine is None for a in arms):
        worst += SERVER_SETUP_S
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
    parser.add_argument("--prompts", default=None, help="prompt source (default: the plan's, else the study's)")
    parser.add_argument("--outputs", default=None, help="output lengths (default: the plan's, else 10-300)")
    parser.add_argument("--preset", default=None, help="CB knob preset (default: the plan's, else tuned)")
    parser.add_argument("--sweep", nargs="*", default=None, help="KNOB=V1,V2 (replaces the knobs plan's sweeps)")
    parser.add_argument("--repeats", type=int, default=None, help="default: the plan's, else 1")
    parser.add_argument("--profile", nargs="*", default=[], help="calibration profiles for the floor")
    parser.add_argument("--checkpoint", default="/tmp/joulebench-ckpt")
    parser.add_argument("--server-warmup", type=int, default=32, help="requests at the arms' prompt lengths, "
                        "16 output tokens each, sent at once before the first measured serve arm")
    parser.add_argument("--server-sdpa-cudnn", choices=["on", "off"], default=None,
                        help="PyTorch's cuDNN SDPA in the server (default: torch's choice); the arms' tag says it")
    parser.add_argument("--parts", default=None, help=f"comma list of {', '.join(PARTS)}: the plan's arms of "
                        "those kinds only, in the plan's order (default: all)")
    parser.add_argument("--gpus", default="0")
    parser.add_argument("--idle-s", type=float, default=5.0)
    parser.add_argument("--budget-s", type=float, default=570.0, help="refuse plans whose worst case is longer")
    parser.add_argument("--study", default=None, help="seed_figures.json (default: shared/reference/ if present)")
    parser.add_argument("--dry-run", action="store_true", help="print the arms and the worst case, run nothing")
    parser.add_argument("--derive", default=None, metavar="DB",
                        help="no GPU work: the sequential arms the service runs in DB give (DB's folder/derived/)")
    args = parser.parse_args()
    if args.server_warmup < 1:
        parser.error(f"--server-warmup {args.server_warmup}: must be at least 1 request")
    if args.derive:
        return derive(Path(args.derive))
    if args.parts is not None:
        bad = [part for part in args.parts.split(",") if part not in PARTS]
        if bad or not args.parts:
            parser.error(f"--parts {args.parts}: each must be one of {', '.join(PARTS)}")
        args.parts = args.parts.split(",")
    plan = PLANS[args.plan]
    args.model = args.model or plan.get("model", "llama-3.1-8b")
    args.device = args.device or plan.get("device", "cuda")
    args.gpus = None if args.device == "cpu" else [int(g) for g in args.gpus.split(",")]
    args.idle_s = 0.0 if args.device == "cpu" else args.idle_s
    began = time.perf_counter()
    arms = build_arms(args, plan)
    out = Path(os.environ.get("OUT", "out")) / "serving"
    fit = bool(plan.get("fit"))
    db = out / store_name(fit, args.device)
    stored = stored_ok(arms, db) if fit else {}
    todo = [a for a in arms if a.name not in stored]
    worst = worst_case_s(todo, args.idle_s)
    print(f"{db}: {len(arms)} arms, {len(stored)} stored, {len(todo)} to run; worst-case runtime {worst:.0f} s "
          f"(budget {args.budget_s:.0f} s{', runs what fits' if fit else ''})", flush=True)
    if args.dry_run:
        for arm in todo:
            print(f"  {arm.name}: {arm.arrival}, {arm.requests} requests, <= {arm.max_duration_s:g} s")
        return 0
    if worst > args.budget_s and not fit:
        print("refusing: lower --requests / --max-duration or split the plan (--targets, --laws)")
        return 2
    out.mkdir(parents=True, exist_ok=True)
    expected = expected_durations(arms, {**stored_ok(untagged_variant(arms), db), **stored}) if fit else {}
    observer = BudgetObserver(began + args.budget_s, expected) if fit else LineObserver()
    json_dir = None if fit else out  # few files in $OUT: a call returns at most 8 (the store has every arm)
    outcomes = []
    serve_arms = [a for a in todo if a.engine is None]
    engine_arms = [a for a in todo if a.engine is not None]
    try:
        if serve_arms and (not fit or observer.left_s() > observer.margin_s + observer.need_s(serve_arms[0])
                           + server_setup_s(Path(args.checkpoint))):
            outcomes += list(zip(serve_arms, run_serve(args, serve_arms, out, db, observer, json_dir), strict=True))
        if engine_arms:
            done = run_arms(engine_arms, db, "scripts/measure_serving.py", gpus=args.gpus,
                            idle_s=args.idle_s, json_dir=json_dir, observer=observer)
            outcomes += list(zip(engine_arms, done, strict=True))
    except BudgetSpent as stop:
        print(f"stopped: {stop}; the same command resumes from {db}")
    if fit:
        stored = stored_ok(arms, db)
        outcomes = [(a, ArmOutcome(stored[a.name])) for a in arms if a.name in stored]
        print(f"{len(outcomes)} of {len(arms)} arms stored")
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


def derive(db: Path) -> int:
    """The derived sequential arms of the service runs in ``db`` (CPU only): DB's folder/derived/<arm>.json,
    and the check arms beside the measured ones."""
    from joulebench.experiments.serving_derive import derive_study
    from joulebench.store import Store

    store = Store.open_read(db)
    try:
        docs = derive_study(store)
    finally:
        store.close()
    folder = db.parent / "derived"
    folder.mkdir(exist_ok=True)
    for doc in docs:
        (folder / f"{doc['arm']}.json").write_text(json.dumps(doc, indent=2, default=str))
        h, measured = doc["headline"], (doc.get("measured") or {}).get("headline")
        print(f"{doc['arm']:<36} Wh/req {h['wh_per_request']:.3g}  TTFT p50 {h['ttft_p50_s']:.2f} s  "
              f"E2E p50/p99 {h['e2e_p50_s']:.1f}/{h['e2e_p99_s']:.1f} s  ratio {h['ratio_to_floor'] or float('nan'):.1f}")
        for warning in doc["warnings"]:
            print(f"  WARNING {warning}")
        if measured:
            print(f"  measured {doc['measured']['arm']:<27} Wh/req {measured['wh_per_request']:.3g}  TTFT p50 "
                  f"{measured['ttft_p50_s']:.2f} s  E2E p50/p99 {measured['e2e_p50_s']:.1f}/{measured['e2e_p99_s']:.1f} s")
    print(f"{len(docs)} derived arms in {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
