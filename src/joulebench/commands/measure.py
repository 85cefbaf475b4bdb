"""``joulebench measure llm``, ``joulebench demo`` and ``joulebench env``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from joulebench.commands import command_line
from joulebench.errors import UsageError
from joulebench.experiments.plan import LLMPlan, parse_int_list, parse_str_list
from joulebench.experiments.runner import RunSummary
from joulebench.meters.monitor import EnergyMonitor
from joulebench.report.console import console as make_console
from joulebench.report.tables import llm_points_table
from joulebench.store import DEFAULT_DB, Store

measure_app = typer.Typer(help="Measure latency and energy of a workload on this machine.", no_args_is_help=True)


def run_with_progress(plans: list[LLMPlan], db: str, gpus: list[int] | None, quiet: bool) -> RunSummary:
    """Run plans with a rich progress bar (points, phase, live GPU power) on stderr; one model cache is
    shared, so consecutive plans on the same model load it once. Returns the merged summary."""
    from joulebench.experiments.llm_sweep import run_llm_plan
    from joulebench.workloads.llm import ModelCache

    console = make_console(stderr=True, quiet=quiet)
    monitors: list[EnergyMonitor] = []
    models = ModelCache()
    merged: RunSummary | None = None
    with Store(db) as store, Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console, transient=False,
    ) as progress:
        total = sum(len(plan.points()) for plan in plans)
        task = progress.add_task("points", total=total, status="")

        def power() -> str:
            p = monitors[-1].latest_gpu_power_w() if monitors else None
            return f"GPU {p:.0f} W" if p is not None else ""

        def on_event(event: str, index: int, config: Any, payload: Any) -> None:
            label = (f"{config['model']} {config['dtype']} b={config['batch']} s={config['prompt_tokens']} "
                     f"g={config['output_tokens']}")
            if event in ("done", "skip", "failed"):
                progress.advance(task)
            if event == "failed":
                console.print(f"[red]failed[/red] {label}: {payload}")
            progress.update(task, description=label if event == "start" else "points", status=f"{event} {power()}")

        def on_rep(phase: str, i: int, latency_s: float) -> None:
            progress.update(task, status=f"{phase} rep {i} {latency_s * 1e3:.1f} ms {power()}")

        try:
            for plan in plans:
                summary = run_llm_plan(plan, store, command_line(), gpus, on_event=on_event, on_rep=on_rep,
                                       monitor_hook=monitors.append, models=models)
                if merged is None:
                    merged = summary
                else:
                    merged.done += summary.done
                    merged.skipped += summary.skipped
                    merged.failed += summary.failed
        finally:
            models.clear()
    assert merged is not None
    return merged


@contextmanager
def json_stdout_guard(as_json: bool) -> Iterator[None]:
    """With --json, stdout must hold one JSON document: anything a library prints while we run goes
    to stderr instead."""
    if not as_json:
        yield
        return
    with redirect_stdout(sys.stderr):
        yield


def _emit(summary: RunSummary, as_json: bool, db: str, title: str) -> None:
    points = [d["summary"] for d in summary.done]
    if as_json:
        doc = {"run_id": summary.run_id, "db": db, "points": points,
               "skipped": summary.skipped, "failed": summary.failed}
        sys.stdout.write(json.dumps(doc, indent=2, default=float) + "\n")
        return
    console = make_console()
    if points:
        console.print(llm_points_table(points, title=title))
    if summary.skipped:
        console.print(f"{len(summary.skipped)} point(s) already in {db}: skipped (delete them or use another --db)")
    for failed in summary.failed:
        console.print(f"[red]failed[/red]: {failed['error']}")
    console.print(f"results in {db} (run {summary.run_id})")


def measure_llm(
    model: str = typer.Argument(..., help="bundled name (e.g. llama-3.1-8b), hub id or local folder; comma list"),
    dtype: str = typer.Option("bfloat16", help="comma list of float32, bfloat16, float16"),
    prompt_tokens: str = typer.Option("128", help="comma list: exact prompt lengths (random token ids)"),
    output_tokens: str = typer.Option("32", help="comma list: output lengths (EOS ignored unless --stop natural)"),
    batch: str = typer.Option("1", help="comma list of batch sizes"),
    device: str = typer.Option("cuda", help="cuda or cpu"),
    gpus: str | None = typer.Option(None, help="comma list of CUDA-visible GPU indices to meter (default: all)"),
    messages: str | None = typer.Option(None, help="JSON/JSONL file of chat conversations (uses the chat template)"),
    stop: str = typer.Option("exact", help="exact (EOS ignored) or natural"),
    prompt_spread: float = typer.Option(0.0, help="batch>1: prompt lengths uniform in [(1-spread)*s, s], left-padded"),
    phases: str = typer.Option("prefill,decode,request", help="which phase windows to measure"),
    weights: str = typer.Option("random", help="random, or pretrained (hub/local only)"),
    seed: int = typer.Option(0),
    db: str = typer.Option(DEFAULT_DB, help="results database (SQLite)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document on stdout"),
) -> None:
    """Measure prefill, decode and the whole request of a causal LM, each in its own energy window."""
    if weights not in ("random", "pretrained"):
        raise UsageError(f"--weights {weights}: unknown; allowed: random, pretrained")
    plan = LLMPlan(
        models=[m.strip() for m in model.split(",") if m.strip()],
        dtypes=parse_str_list("--dtype", dtype, ("float32", "bfloat16", "float16")),
        prompt_tokens=parse_int_list("--prompt-tokens", prompt_tokens),
        output_tokens=parse_int_list("--output-tokens", output_tokens),
        batches=parse_int_list("--batch", batch),
        device=device, random_weights=weights == "random", stop=stop, messages=messages,
        prompt_spread=prompt_spread, seed=seed,
        phases=parse_str_list("--phases", phases, ("prefill", "decode", "request")),
    )
    gpu_list = parse_int_list("--gpus", gpus, minimum=0) if gpus else None
    with json_stdout_guard(as_json):
        summary = run_with_progress([plan], db, gpu_list, quiet=False)
    _emit(summary, as_json, db, f"{model} on {device}")


def demo(
    db: str = typer.Option(DEFAULT_DB, help="results database (SQLite)"),
    device: str | None = typer.Option(None, help="cuda or cpu (default: cuda when present)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """A small sweep on the bundled tiny model: prefill/decode latency and energy, stored in --db."""
    from joulebench.experiments.plan import cuda_available

    chosen = device or ("cuda" if cuda_available() else "cpu")
    plan = LLMPlan(models=["tiny-llama"], dtypes=["float32"], prompt_tokens=[32, 128, 512], output_tokens=[32],
                   batches=[1, 4], device=chosen, protocol_overrides={
                       "prefill": {"min_window_s": 0.5}, "decode": {"min_window_s": 0.5},
                       "request": {"min_window_s": 0.5}})
    with json_stdout_guard(as_json):
        summary = run_with_progress([plan], db, None, quiet=as_json)
    _emit(summary, as_json, db, f"demo: tiny-llama on {chosen}")


def env(as_json: bool = typer.Option(False, "--json")) -> None:
    """What telemetry this machine offers: GPUs and NVML, RAPL domains, the estimates in use."""
    from joulebench.telemetry import describe

    doc = describe()
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    console = make_console()
    for key, value in doc.items():
        console.print(f"[bold]{key}[/bold]: {value}")


def register(app: typer.Typer) -> None:
    measure_app.command("llm")(measure_llm)
    app.add_typer(measure_app, name="measure")
    app.command("demo")(demo)
    app.command("env")(env)
