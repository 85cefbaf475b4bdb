"""CLI commands: serve-bench (serving benchmark under a controlled arrival law) and serve-floor.

Thin: parses options into `experiments.serving_arms.ArmSpec` values (one, or several for a rate or
knob sweep), which validate everything before any model is loaded, server launched, request sent
or file written; `run_arms` does the work; this module prints. Library errors name fields
(``max_duration_s=...``); the CLI prints them as this command's flags. Exit codes: 0 ok, 1 an arm
failed its own checks (no request served, server died, a figure below its floor), 2 bad input.
"""

from __future__ import annotations

import json
from typing import Any

import typer

from joulebench.commands import command_line
from joulebench.errors import EXIT_CHECK_FAILED, UsageError
from joulebench.experiments.serving_arms import (
    DEFAULT_OUTPUTS,
    DEFAULT_PROMPTS,
    ArmSpec,
    FloorSpec,
    check_arms,
    knob_sweep,
    rate_sweep,
)
from joulebench.serving.specs import MAX_DURATION_S, MAX_REQUESTS, parse_duration_s
from joulebench.store import DEFAULT_DB


def _gpus(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError.bad("gpus", text, "use comma-separated GPU indices, e.g. 0,1") from None
    if any(v < 0 for v in values):
        raise UsageError.bad("gpus", text, "GPU indices are >= 0")
    return values


def serve_bench(
    url: str | None = typer.Option(None, "--url", help="OpenAI-compatible server, e.g. http://host:8000"),
    model: str | None = typer.Option(None, "--model", help="served model name (--url) or model to load (--engine)"),
    engine: str | None = typer.Option(None, "--engine", help="in-process engine: transformers | sequential"),
    dtype: str = typer.Option("bf16", "--dtype", help="fp32|float32, bf16|bfloat16, fp16|float16 (--engine)"),
    device: str = typer.Option("cuda", "--device", help="cpu | cuda | cuda:N (--engine)"),
    arrival: str = typer.Option(
        "burst", "--arrival", help="fixed:50ms | uniform:0s,1s | poisson:20/s | gamma:20/s,0.5 | burst | trace:FILE"
    ),
    requests: int = typer.Option(100, "--requests", help=f"number of requests (at most {MAX_REQUESTS:,}, and memory)"),
    prompts: str = typer.Option(
        DEFAULT_PROMPTS, "--prompts", help="synthetic:N | synthetic:LO-HI | synthetic:LO-HI,mean=M | FILE.jsonl"
    ),
    output_tokens: str = typer.Option(DEFAULT_OUTPUTS, "--output-tokens", help="N | LO-HI | LO-HI,mean=M"),
    text_unit: str = typer.Option("word", "--text-unit", help="synthetic text: word (1 token/word) | byte (1/letter)"),
    shared_prefix: int = typer.Option(0, "--shared-prefix", help="same first N tokens in every prompt (prefix cache)"),
    prompt_salt: int = typer.Option(0, "--prompt-salt", help="N > 0: prompt tokens drawn afresh, same lengths (no "
                                    "cache hit from runs before; --rates salts each arm)"),
    max_duration: str = typer.Option("600s", "--max-duration", help=f"hard bound on the run (at most {MAX_DURATION_S:g} s)"),
    request_timeout: str = typer.Option("600s", "--request-timeout", help="per-request timeout (--url)"),
    max_concurrency: int | None = typer.Option(None, "--max-concurrency", help="cap on requests in flight"),
    ramp_up: str = typer.Option("0s", "--ramp-up", help="rate grows linearly from 0 over this time"),
    slo: str | None = typer.Option(None, "--slo", help="goodput SLOs, e.g. ttft:0.5s,tpot:50ms (p90 for --rates)"),
    prefill_weight: float = typer.Option(1.0, "--prefill-weight", help="cost of a prefill token vs a decode token"),
    api: str = typer.Option("auto", "--api", help="auto | completions | chat (--url)"),
    length_control: str = typer.Option(
        "vllm", "--length-control", help="exact lengths via: vllm (ignore_eos, SGLang too) | transformers | none"
    ),
    continuous_usage: bool = typer.Option(False, "--continuous-usage", help="vLLM per-chunk usage stats"),
    server: str | None = typer.Option(None, "--server", help="launch this server command for the run (needs --url)"),
    server_timeout: str = typer.Option("600s", "--server-timeout", help="how long --server may take to be ready"),
    engine_knob: list[str] = typer.Option([], "--engine-knob", help="continuous batching knob NAME=VALUE (repeat)"),
    engine_preset: str | None = typer.Option(
        None, "--engine-preset", help="named knob set: library, tuned, bounded-graphs (the GPU pick, issue 18), ..."
    ),
    sweep: str | None = typer.Option(None, "--sweep", help="one arm per knob value, e.g. max_batch_tokens=256,1024"),
    rates: str | None = typer.Option(None, "--rates", help="one arm per rate, e.g. 1/s,2/s,5/s (energy/latency Pareto)"),
    rate_law: str = typer.Option("poisson", "--rate-law", help="poisson | fixed (--rates)"),
    floor_model: str | None = typer.Option(None, "--floor-model", help="architecture for the floor (default: the model)"),
    floor_gpu: str | None = typer.Option(None, "--floor-gpu", help="catalogue GPU for the floor (default: metered)"),
    floor_dtype: str = typer.Option("bf16", "--floor-dtype", help="dtype the server runs, for its floor (--url)"),
    floor_profile: list[str] = typer.Option([], "--floor-profile", help="calibration profile (best pJ/FLOP; repeat)"),
    gpus: str | None = typer.Option(None, "--gpus", help="GPU indices to meter, e.g. 0,1 (default all)"),
    dcgm_url: str | None = typer.Option(None, "--dcgm-url", help="DCGM exporter /metrics URL of a remote server"),
    idle: str = typer.Option("0s", "--idle", help="measure idle power this long before the run"),
    seed: int = typer.Option(0, "--seed", help="seed of the arrival law and the prompts"),
    name: str = typer.Option("arm", "--name", help="label of this arm"),
    tag: str | None = typer.Option(None, "--tag", help="store it as a new point even if the config ran before"),
    db: str = typer.Option(DEFAULT_DB, "--db", help="results database (SQLite)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """Benchmark a server or an in-process engine under an arrival law: latency, throughput, energy, floor."""
    from joulebench.store import check_db_path

    arms, idle_s, gpu_list = _plan(locals())
    check_db_path(db, "db")
    from joulebench.experiments.progress import ProgressObserver
    from joulebench.experiments.serving_bench import run_arms, validate_arms

    validate_arms(arms, dcgm_url)
    with ProgressObserver(len(arms), quiet=as_json, title="arms") as observer:
        outcomes = run_arms(arms, db, command_line(), gpu_list, dcgm_url, idle_s, observer=observer)
    summaries = [o.summary for o in outcomes]
    doc: dict[str, Any] = summaries[0] if len(summaries) == 1 else {"arms": summaries}
    if rates is not None:
        from joulebench.serving.metrics import parse_slo
        from joulebench.serving.pareto import pareto

        parsed = parse_slo(slo)
        doc["pareto"] = pareto(summaries, None if parsed is None else parsed.limits_s)
    if as_json:
        typer.echo(json.dumps(doc, indent=2, default=str))
    else:
        from joulebench.commands.serve_tables import print_arm, print_pareto

        for summary in summaries:
            print_arm(summary)
        if "pareto" in doc:
            print_pareto(doc["pareto"])
    if any(o.failed or o.check_failures for o in outcomes):
        raise typer.Exit(EXIT_CHECK_FAILED)


def _plan(opts: dict[str, Any]) -> tuple[list[ArmSpec], float, list[int] | None]:
    """Every option parsed and every arm validated; nothing opened."""
    from joulebench.hardware import dtypes
    from joulebench.serving.launcher import ServerSpec
    from joulebench.workloads.engine import EngineConfig, parse_knobs

    engine_config = None
    if opts["engine"] is not None:
        if not opts["model"]:
            raise UsageError.bad("model", "", "required with --engine (bundled name, hub id or local path)")
        if opts["url"] is not None or opts["server"] is not None:
            raise UsageError("give either --url/--server or --engine, not both")
        engine_config = EngineConfig(opts["model"], opts["engine"], opts["dtype"], opts["device"],
                                     knobs=parse_knobs(opts["engine_knob"]), preset=opts["engine_preset"])
    url = opts["url"]
    server_spec = None
    if opts["server"] is not None:
        url = url or "http://127.0.0.1:8000"
        server_spec = ServerSpec(opts["server"], url, parse_duration_s(opts["server_timeout"], "server_timeout_s", False))
    floor = FloorSpec(opts["floor_model"], opts["floor_gpu"], dtypes.canonical(opts["floor_dtype"], "floor_dtype"),
                      tuple(opts["floor_profile"]))
    arm = ArmSpec(
        name=opts["name"], arrival=opts["arrival"], requests=opts["requests"], prompts=opts["prompts"],
        output_tokens=opts["output_tokens"], seed=opts["seed"],
        ramp_up_s=parse_duration_s(opts["ramp_up"], "ramp_up_s"), max_concurrency=opts["max_concurrency"],
        max_duration_s=parse_duration_s(opts["max_duration"], "max_duration_s", allow_zero=False),
        slo=opts["slo"], prefill_weight=opts["prefill_weight"], url=url, model=opts["model"] if url else None,
        api=opts["api"], request_timeout_s=parse_duration_s(opts["request_timeout"], "request_timeout_s", False),
        length_control=opts["length_control"], continuous_usage=opts["continuous_usage"], text_unit=opts["text_unit"],
        shared_prefix_tokens=opts["shared_prefix"], prompt_salt=opts["prompt_salt"],
        server=server_spec, engine=engine_config, floor=floor, tag=opts["tag"],
    )
    arms = [arm]
    if opts["sweep"] is not None:
        arms = [a for base in arms for a in knob_sweep(base, opts["sweep"])]
    if opts["rates"] is not None:
        arms = [a for base in arms for a in rate_sweep(base, opts["rates"], opts["rate_law"])]
    check_arms(arms)
    idle_s = parse_duration_s(opts["idle"], "idle", maximum_s=3600.0)
    return arms, idle_s, _gpus(opts["gpus"])


def serve_floor(
    model: str = typer.Option("llama-3.1-8b", "--model", help="architecture: bundled name, hub id or local path"),
    gpu: str = typer.Option("h100-sxm", "--gpu", help="catalogue GPU name"),
    dtype: str = typer.Option("bf16", "--dtype", help="fp32|float32, bf16|bfloat16, fp16|float16"),
    prompt_tokens: str = typer.Option("200-4000,mean=1200", "--prompt-tokens", help="N | LO-HI | LO-HI,mean=M"),
    output_tokens: str = typer.Option("10-300", "--output-tokens", help="N | LO-HI | LO-HI,mean=M"),
    batch: float | None = typer.Option(None, "--batch", help="requests sharing each weight read (default unbounded)"),
    figure: list[str] = typer.Option([], "--figure", help="imported figure NAME=WH_PER_REQUEST (repeat)"),
    study: str | None = typer.Option(None, "--study", help="seed_figures.json: the study's serving figures"),
    profile: list[str] = typer.Option([], "--profile", help="calibration profile of the card (best pJ/FLOP; repeat)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """The physical floor of a request's GPU energy, and imported figures beside it (ratio_to_floor)."""
    from joulebench.serving.figures import STUDY, FigureSetting, compare, study_figures

    try:
        base = FigureSetting(model, gpu, dtype, prompt_tokens, output_tokens, float("inf") if batch is None else batch)
        figures: dict[str, float] = {}
        settings: dict[str, FigureSetting] = {}
        for item in figure:
            name, sep, value = item.partition("=")
            try:
                figures[name.strip()] = float(value)
            except ValueError:
                raise UsageError.bad("figure", item, "use NAME=WH, e.g. tgi=1.1e-3") from None
            if not sep or not name.strip() or not figures[name.strip()] > 0:
                raise UsageError.bad("figure", item, "use NAME=WH with a positive number of Wh")
            settings[name.strip()] = base
        if study is not None:
            for name, value in study_figures(study).items():
                figures[f"study:{name}"], settings[f"study:{name}"] = value, STUDY.get(name, FigureSetting())
        rows = compare(figures, settings, profile) if figures else compare({"(floor only)": 1.0}, {"(floor only)": base})
    except UsageError as exc:
        raise UsageError(exc.with_flag("--" + (exc.field or "").replace("_", "-") if exc.field else None)) from None
    if not figures:
        rows[0].update({"figure": None, "wh_per_request": None, "ratio_to_floor": None, "below_floor": None})
    if as_json:
        typer.echo(json.dumps({"rows": rows}, indent=2, default=str))
    else:
        from joulebench.commands.serve_tables import print_floors

        print_floors(rows)
    if any(r["below_floor"] for r in rows):
        raise typer.Exit(EXIT_CHECK_FAILED)


def register(app: typer.Typer) -> None:
    """Attach this family's commands to the main app."""
    app.command("serve-bench")(serve_bench)
    app.command("serve-floor")(serve_floor)
