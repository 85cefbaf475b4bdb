"""``joulebench measure llm``, ``joulebench demo`` and ``joulebench env``: parse, plan, sweep, print."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from typing import Any

import typer

from joulebench.commands import command_line
from joulebench.commands.executor_options import EXECUTOR, GPU_TYPE, RAY_ADDRESS, RAY_RETRIES
from joulebench.commands.options import DB, DEVICE, GPUS, JSON, POINT_BUDGET
from joulebench.experiments.executor_choice import ExecutorChoice
from joulebench.experiments.llm_plan import LLMPlan, protocol_overrides
from joulebench.experiments.sweep import SweepResult
from joulebench.hardware.dtypes import allowed
from joulebench.parsing import choice, parse_choices, parse_int_list, parse_names
from joulebench.report.console import console as make_console
from joulebench.values import DECODE_METHODS, LLM_ENGINES, LLM_PHASES

measure_app = typer.Typer(help="Measure latency and energy of a workload on this machine.", no_args_is_help=True)


@contextmanager
def json_stdout_guard(as_json: bool) -> Iterator[None]:
    """With --json, stdout must hold one JSON document: anything a library prints goes to stderr."""
    if not as_json:
        yield
        return
    with redirect_stdout(sys.stderr):
        yield


def sweep_llm(plans: Sequence[LLMPlan], db: str, gpus: list[int] | None, quiet: bool,
              executor: ExecutorChoice = ExecutorChoice()) -> SweepResult:
    """Run validated plans with the shared progress bar (points, phase, live GPU watts) on stderr, on
    the chosen executor (validated against the plans' device before the database is opened)."""
    from joulebench.experiments.executor_choice import open_executor
    from joulebench.experiments.llm_sweep import run_llm_plans
    from joulebench.experiments.progress import ProgressObserver
    from joulebench.store import Store, check_db_path

    total = sum(len(plan.points()) for plan in plans)
    check_db_path(db)
    with open_executor(executor, plans[0].device, gpus) as chosen, Store(db) as store, \
            ProgressObserver(total, quiet=quiet) as observer:
        return run_llm_plans(plans, store, command_line(), gpus, observer, executor=chosen)


def result_document(result: SweepResult) -> dict[str, Any]:
    """The ``--json`` contract of a sweep: measured points, skipped and failed ones, the exit code."""
    return {
        "run_id": result.run_id, "db": result.db, "exit_code": result.exit_code,
        "points": [dict(o.summary) | {"point_id": o.point_id} for o in result.done],
        "skipped": [{"config": o.point.to_dict(), "point_id": o.point_id, "reason": o.error or "already stored"}
                    for o in result.skipped],
        "failed": [{"config": o.point.to_dict(), "point_id": o.point_id, "error": o.error} for o in result.failed],
    }


def emit_llm(result: SweepResult, as_json: bool, title: str) -> None:
    """Print the sweep for people (rich) or programs (--json); exit 1 when a point failed."""
    from rich.markup import escape

    from joulebench.report.tables import llm_points_table

    doc = result_document(result)
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2, default=float) + "\n")
    else:
        console = make_console()
        if doc["points"]:
            console.print(llm_points_table(doc["points"], title=title))
        if doc["skipped"]:
            console.print(f"{len(doc['skipped'])} point(s) already in {escape(result.db)}: skipped "
                          "(ids in `joulebench results list`; use another --db to measure again)")
        for failed in doc["failed"]:
            console.print(f"[red]failed[/red] (point {failed['point_id']}): {escape(str(failed['error']))}")
        console.print(f"results in {escape(result.db)} (run {result.run_id})")
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def print_notes(plans: Sequence[LLMPlan]) -> None:
    """One line per model reference that did not resolve the obvious way (an offline hub id)."""
    from joulebench.models.configs import resolve

    seen: set[str] = set()
    for plan in plans:
        for name in plan.models:
            note = resolve(name).note
            if note and note not in seen:
                seen.add(note)
                make_console(stderr=True).print(f"note: {note}", markup=False, highlight=False)


def measure_llm(
    model: str = typer.Argument(..., help="bundled name (e.g. llama-3.1-8b), hub id or local folder; comma list"),
    dtype: str = typer.Option("bf16", help=f"comma list of: {allowed(('fp32', 'bf16', 'fp16'))} (quantized: "
                              "bnb-int8, bnb-nf4, torchao-int8, torchao-int4, torchao-fp8 on CUDA)"),
    prompt_tokens: str = typer.Option("128", help="comma list: exact prompt lengths (random token ids)"),
    output_tokens: str = typer.Option("32", help="comma list: output lengths (EOS ignored unless --stop natural)"),
    batch: str = typer.Option("1", help="comma list of batch sizes"),
    device: str = DEVICE,
    engine: str = typer.Option("eager", help="eager (generate as it comes) or static (static KV cache + "
                               "torch.compile / CUDA graphs; CUDA only)"),
    decode_method: str = typer.Option("request", help="request (decode inside the real generate call) or loop "
                                      "(a hand-written forward loop, for comparison)"),
    static_cache_len: int | None = typer.Option(None, help="static engine: one KV cache length for every point "
                                                "(one compiled graph); default: each point's tokens rounded up to 256"),
    gpus: str | None = GPUS,
    messages: str | None = typer.Option(None, help="JSON/JSONL file of chat conversations (uses the chat template)"),
    stop: str = typer.Option("exact", help="exact (EOS ignored) or natural"),
    prompt_spread: float = typer.Option(0.0, help="batch>1: prompt lengths uniform in [(1-spread)*s, s], left-padded"),
    phases: str = typer.Option("prefill,decode,request", help="which phase windows to measure (comma list)"),
    weights: str = typer.Option("random", help="random, or pretrained (hub/local only)"),
    seed: int = typer.Option(0, help="seed of the random prompts"),
    point_budget_s: float | None = POINT_BUDGET,
    db: str = DB,
    as_json: bool = JSON,
    executor: str = EXECUTOR,
    ray_address: str | None = RAY_ADDRESS,
    gpu_type: str | None = GPU_TYPE,
    ray_retries: int = RAY_RETRIES,
) -> None:
    """Measure prefill, decode and the whole request of a causal LM, each in its own energy window."""
    choice("weights", weights, ("random", "pretrained"))
    plan = LLMPlan(
        models=parse_names("model", model),
        dtypes=[d.strip() for d in dtype.split(",") if d.strip()] or [dtype],
        prompt_tokens=parse_int_list("prompt_tokens", prompt_tokens),
        output_tokens=parse_int_list("output_tokens", output_tokens),
        batches=parse_int_list("batch", batch, maximum=65_536),
        device=device, random_weights=weights == "random", stop=stop, messages=messages,
        prompt_spread=prompt_spread, seed=seed, phases=parse_choices("phases", phases, LLM_PHASES),
        engine=choice("engine", engine, LLM_ENGINES), decode_method=choice("decode_method", decode_method, DECODE_METHODS),
        static_cache_len=static_cache_len, protocol_overrides=protocol_overrides(None, point_budget_s),
    )
    gpu_list = parse_int_list("gpus", gpus, minimum=0) if gpus else None
    chosen = ExecutorChoice(executor, ray_address, gpu_type, ray_retries).check(device, gpu_list)
    print_notes([plan])
    with json_stdout_guard(as_json):
        result = sweep_llm([plan], db, gpu_list, quiet=False, executor=chosen)
    emit_llm(result, as_json, f"{model} on {device}")


def demo(
    db: str = DB,
    device: str | None = typer.Option(None, help="cuda or cpu (default: cuda when present)"),
    as_json: bool = JSON,
) -> None:
    """A small sweep on the bundled tiny model: prefill/decode latency and energy, stored in --db."""
    from joulebench.workloads.device import cuda_available

    chosen = device or ("cuda" if cuda_available() else "cpu")
    window = {"min_window_s": 0.5}
    plan = LLMPlan(models=["tiny-llama"], dtypes=["fp32"], prompt_tokens=[32, 128, 512], output_tokens=[32],
                   batches=[1, 4], device=chosen,
                   protocol_overrides={"prefill": window, "decode": window, "request": window})
    with json_stdout_guard(as_json):
        result = sweep_llm([plan], db, None, quiet=as_json)
    emit_llm(result, as_json, f"demo: tiny-llama on {chosen}")


def env(as_json: bool = JSON) -> None:
    """What telemetry this machine offers: GPUs and NVML, RAPL domains, the estimates in use."""
    from rich.table import Table

    from joulebench.telemetry import describe

    doc = describe()
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    table = Table(title="telemetry on this machine", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    for key, value in doc.items():
        table.add_row(key, json.dumps(value, default=str) if not isinstance(value, str) else value)
    make_console().print(table)


def register(app: typer.Typer) -> None:
    measure_app.command("llm")(measure_llm)
    app.add_typer(measure_app, name="measure")
    app.command("demo")(demo)
    app.command("env")(env)
