"""``joulebench study thank-you|sizes|precision|batch``: the study's findings as one resumable command each.

Parse -> plan (`experiments.studies.llm`, validated before any model loads) -> the study through the
one sweep driver (`experiments.studies.llm_studies`) -> the study's tables beside its published figures,
for people (rich) or programs (``--json``), optionally an HTML report (``--report``). Exit 1 when a
point failed; a second run of the same command resumes.

The video studies (``video-scaling``, ``video-models``) are plan builders of
`experiments.studies.video`; they are registered on this same ``study`` sub-app beside these (the
lead wires them; see `register`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import typer

from joulebench.commands import command_line
from joulebench.commands.measure import json_stdout_guard
from joulebench.commands.options import DB, DEVICE, GPUS, JSON, POINT_BUDGET
from joulebench.errors import EXIT_CHECK_FAILED, UsageError
from joulebench.experiments.progress import ProgressObserver
from joulebench.parsing import choice, parse_choices, parse_int_list, parse_names
from joulebench.report.console import console as make_console

study_app = typer.Typer(help="Reproduce the study's findings on this machine: one resumable command each.",
                        no_args_is_help=True)

SIZES_MODELS = "qwen2.5-0.5b,qwen2.5-1.5b,qwen2.5-3b,qwen2.5-7b,qwen2.5-14b,mistral-7b-v0.3,llama-3.1-8b"
CUDA_DTYPES = "fp32,bf16,fp16,bnb-int8,bnb-nf4,torchao-int8,torchao-int4,torchao-fp8"
HOST_DTYPES = "fp32,bf16,fp16"
SOURCE_HELP = ("thank-you, synthetic, or a .jsonl file of requests ({\"messages\": [...]} and/or \"prompt_tokens\"; "
               "optional \"reply_tokens\")")

# options every study shares (one definition each; typer reads an option's metadata from its default)
WINDOW = typer.Option(None, help="shortest energy window of each phase in seconds (default: the workload's 1.2 s; "
                      "shorter for quick trials)")
REPORT = typer.Option(None, help="also write an HTML report of the database to this .html file")
SOURCE = typer.Option("synthetic", help=SOURCE_HELP)
DRAW_SEED = typer.Option(0, help="seed of the requests drawn from --source")
PROMPT_TOKENS = typer.Option(1200, help="prompt tokens of each point (the study's mean)")
OUTPUT_TOKENS = typer.Option(64, help="reply tokens of each point")
TABLES_ONLY = typer.Option(False, help="the tables from the points --db already holds for these options (e.g. a run "
                           "cut short); measures and stores nothing, needs no GPU")


def report_hook(path: str | None) -> Callable[[str], None] | None:
    """Check ``--report`` before any work; returns what writes it at the end (None without the flag)."""
    if path is None:
        return None
    try:
        from joulebench.report.build import build_report, check_output
    except ImportError:
        raise UsageError.bad("report", path, "the HTML report (joulebench.report.build) is not part of this "
                             "installation") from None
    check_output(path, "report")

    def write(db: str) -> None:
        build_report([db], path, title=f"joulebench study ({db})")

    return write


class StudyProgress(ProgressObserver):
    """The shared progress bar, its total growing with each sweep (a study's sweeps are not known up front)."""

    def __init__(self, title: str) -> None:
        super().__init__(0, quiet=False, title=title)

    def sweep_started(self, total: int, monitor: Any) -> None:
        task = self.progress.tasks[0]
        self.progress.update(self.task, total=(task.total or 0) + total)
        if monitor is not None:
            super().sweep_started(total, monitor)


def _window(min_window_s: float | None, point_budget_s: float | None) -> dict[str, dict[str, float]]:
    from joulebench.experiments.llm_plan import protocol_overrides

    return protocol_overrides(min_window_s, point_budget_s)


def _run(study: str, build_plan: Callable[[], Any], run: Callable[[Any, Any], dict[str, Any]], db: str,
         gpus: str | None, as_json: bool, report: str | None) -> None:
    """Validate everything (plan, --gpus, --report, --db), run the study, print, write the report."""
    from joulebench.experiments.studies.runner import StudyRunner
    from joulebench.store import Store, check_db_path

    gpu_list = parse_int_list("gpus", gpus, minimum=0) if gpus else None
    write_report = report_hook(report)
    check_db_path(db)
    with json_stdout_guard(as_json):
        plan = build_plan()
        for note in getattr(getattr(plan, "prompts", None), "notes", ()):
            make_console(stderr=True).print(f"note: {note}", markup=False, highlight=False)
        with Store(db) as store, StudyProgress(f"study {study}") as observer:
            runner = StudyRunner(store, command_line(), gpu_list, observer)
            try:
                doc = run(plan, runner)
            finally:
                runner.close()
    if write_report is not None:
        write_report(db)
        doc["report"] = report
    emit(doc, as_json)


def emit(doc: Mapping[str, Any], as_json: bool) -> None:
    """The study's document for programs (--json) or its tables for people; exit 1 when a point failed."""
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2, default=float) + "\n")
    else:
        from rich.markup import escape

        from joulebench.experiments.studies.tables import StudyTable

        console = make_console()
        for item in doc["tables"]:
            console.print(rich_table(StudyTable.from_dict(item)))
            for note in item.get("notes") or []:
                console.print(f"  {escape(str(note))}", highlight=False)
        counts = doc["points"]
        console.print(f"points: {counts.get('done', 0)} measured, {counts.get('skipped', 0)} already stored, "
                      f"{counts.get('failed', 0)} failed; protocol time {doc['gpu_time']['measure_s']:.1f} s "
                      f"(wall {doc['gpu_time']['wall_s']:.1f} s)")
        for failed in doc["failed"]:
            console.print(f"[red]failed[/red] {escape(failed)}")
        console.print(f"reference: {escape(doc['reference_source'])}", highlight=False)
        where = "tables only, nothing stored" if doc.get("tables_only") else f"study point {doc['study_point_id']}"
        console.print(f"results in {escape(doc['db'])} ({where})"
                      + (f"; report {escape(str(doc['report']))}" if doc.get("report") else ""))
    if doc["exit_code"]:
        raise typer.Exit(doc["exit_code"])


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def rich_table(item: Any) -> Any:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(item.title))
    for column in item.columns:
        table.add_column(escape(column), justify="left" if column in ("model", "component", "what", "flags") else "right")
    for row in item.rows:
        table.add_row(*(escape(_cell(v)) for v in row))
    return table


def thank_you(
    model: str = typer.Option("llama-3.1-8b", help="bundled name, hub id or local folder"),
    dtype: str = typer.Option("fp32", help="dtype of the study's case I: fp32"),
    device: str = DEVICE,
    engine: str = typer.Option("eager", help="eager (the study's generate) or static (CUDA graphs)"),
    requests: int = typer.Option(10_000, help="requests in the population (the study: 10,000)"),
    source: str = typer.Option("thank-you", help=SOURCE_HELP),
    target_ci: float = typer.Option(0.02, help="stop when the GPU Wh per reply is known to this relative 95% half-width"),
    budget_fraction: float = typer.Option(0.2, help="stop at this share of the GPU time the study's protocol would spend"),
    check_batch: int = typer.Option(4, help="requests measured per check batch"),
    max_check: int = typer.Option(48, help="most check requests to measure"),
    seed: int = typer.Option(0, help="seed of the population and of the check sample"),
    min_window_s: float | None = WINDOW,
    point_budget_s: float | None = POINT_BUDGET,
    gpus: str | None = GPUS,
    db: str = DB,
    report: str | None = REPORT,
    as_json: bool = JSON,
    tables_only: bool = TABLES_ONLY,
) -> None:
    """Case I: Wh per "thank you" reply (GPU/CPU/RAM, prefill/decode) from a designed subset, +-2% CI."""
    from joulebench.data.lengths import THANK_YOU_REPLIES
    from joulebench.data.prompts import open_prompts
    from joulebench.experiments.studies.llm import ThankYouPlan
    from joulebench.experiments.studies.llm_studies import run_thank_you

    if check_batch < 1:
        raise UsageError.bad("check_batch", check_batch, "must be >= 1")

    def plan() -> ThankYouPlan:
        prompts = open_prompts(source, requests, seed, model, THANK_YOU_REPLIES)
        return ThankYouPlan(prompts, model, dtype, device, engine, seed, _window(min_window_s, point_budget_s), check_batch,
                            min(8, max_check), max_check, target_ci, budget_fraction, check_device=not tables_only)

    if tables_only:
        from joulebench.experiments.studies.llm_studies import thank_you_tables_only

        _tables_only(plan, thank_you_tables_only, db, gpus, as_json, report)
        return
    _run("thank-you", plan, run_thank_you, db, gpus, as_json, report)


def _tables_only(build_plan: Callable[[], Any], tables: Callable[[Any, Any], dict[str, Any]], db: str,
                 gpus: str | None, as_json: bool, report: str | None) -> None:
    """``--tables-only``: read the store, compute the tables, print them; refuses what would run or write."""
    from pathlib import Path

    from joulebench.store import Store

    if gpus is not None:
        raise UsageError.bad("gpus", gpus, "--tables-only meters nothing; leave --gpus out")
    if report is not None:
        raise UsageError.bad("report", report, "--tables-only writes nothing; run `joulebench report` on the database")
    if not Path(db).is_file():
        raise UsageError.bad("db", db, "no such results database; --tables-only reads the points one holds")
    with json_stdout_guard(as_json):
        plan = build_plan()
        with Store.open_read(db) as store:
            doc = tables(plan, store)
    emit(doc, as_json)


def _lengths(requests: int | None, source: str, seed: int, model: str, prompt_tokens: int,
             output_tokens: int) -> list[tuple[int, int]]:
    if not requests:
        return [(prompt_tokens, output_tokens)]
    from joulebench.data.prompts import open_prompts

    prompts = open_prompts(source, requests, seed, model)
    return [(s.prompt_tokens, max(2, s.reply_tokens)) for s in prompts.samples]


def sizes(
    model: str = typer.Option(SIZES_MODELS, help="comma list of models (default: the study's seven)"),
    dtype: str = typer.Option("fp32", help="dtype (the study's case I: fp32)"),
    device: str = DEVICE,
    engine: str = typer.Option("eager", help="eager or static"),
    prompt_tokens: int = PROMPT_TOKENS,
    output_tokens: int = OUTPUT_TOKENS,
    requests: int = typer.Option(0, help="0: one point per model at --prompt-tokens/--output-tokens; N: N requests "
                                 "from --source per model"),
    source: str = SOURCE,
    seed: int = DRAW_SEED,
    min_window_s: float | None = WINDOW,
    point_budget_s: float | None = POINT_BUDGET,
    gpus: str | None = GPUS,
    db: str = DB,
    report: str | None = REPORT,
    as_json: bool = JSON,
    tables_only: bool = TABLES_ONLY,
) -> None:
    """Prefill and decode energy per model size (Qwen2.5 0.5B..14B, Mistral-7B, Llama-3.1-8B)."""
    from joulebench.experiments.studies.llm import GridStudyPlan
    from joulebench.experiments.studies.llm_studies import grid_tables_only, run_sizes

    models = parse_names("model", model)
    _positive(prompt_tokens=prompt_tokens, output_tokens=output_tokens)

    def plan() -> GridStudyPlan:
        lengths = _lengths(requests, source, seed, models[0], prompt_tokens, output_tokens)
        return GridStudyPlan("sizes", models, [dtype], [choice("engine", engine, ("eager", "static"))], device,
                             lengths, _window(min_window_s, point_budget_s), check_device=not tables_only)

    if tables_only:
        _tables_only(plan, grid_tables_only, db, gpus, as_json, report)
        return
    _run("sizes", plan, run_sizes, db, gpus, as_json, report)


def precision(
    model: str = typer.Option("llama-3.1-8b", help="bundled name, hub id or local folder"),
    dtype: str | None = typer.Option(None, help=f"comma list (default on cuda: {CUDA_DTYPES}; on cpu: {HOST_DTYPES})"),
    device: str = DEVICE,
    engine: str | None = typer.Option(None, help="comma list of eager, static (default: both on cuda, eager on cpu)"),
    prompt_tokens: int = PROMPT_TOKENS,
    output_tokens: int = OUTPUT_TOKENS,
    requests: int = typer.Option(0, help="0: one point per precision; N: N requests from --source per precision"),
    source: str = SOURCE,
    seed: int = DRAW_SEED,
    min_window_s: float | None = WINDOW,
    point_budget_s: float | None = POINT_BUDGET,
    gpus: str | None = GPUS,
    db: str = DB,
    report: str | None = REPORT,
    as_json: bool = JSON,
    tables_only: bool = TABLES_ONLY,
) -> None:
    """Prefill and decode per precision: fp32, bf16, fp16, bitsandbytes int8/NF4, torchao int8/int4/fp8."""
    from joulebench.experiments.studies.llm import GridStudyPlan
    from joulebench.experiments.studies.llm_studies import grid_tables_only, run_precision
    from joulebench.hardware.dtypes import parse_list

    on_cuda = device == "cuda"
    dtypes = parse_list(dtype or (CUDA_DTYPES if on_cuda else HOST_DTYPES))
    engines = parse_choices("engine", engine or ("eager,static" if on_cuda else "eager"), ("eager", "static"))
    _positive(prompt_tokens=prompt_tokens, output_tokens=output_tokens)

    def plan() -> GridStudyPlan:
        lengths = _lengths(requests, source, seed, model, prompt_tokens, output_tokens)
        return GridStudyPlan("precision", [model], dtypes, engines, device, lengths, _window(min_window_s, point_budget_s),
                             check_device=not tables_only)

    if tables_only:
        _tables_only(plan, grid_tables_only, db, gpus, as_json, report)
        return
    _run("precision", plan, run_precision, db, gpus, as_json, report)


def batch(
    model: str = typer.Option("llama-3.1-8b", help="bundled name, hub id or local folder"),
    dtype: str = typer.Option("bf16", help="dtype"),
    device: str = DEVICE,
    engine: str = typer.Option("eager", help="eager or static"),
    batches: str = typer.Option("1,2,4,8,16,32", help="comma list of batch sizes"),
    requests: int = typer.Option(256, help="requests the batches are drawn from (and bucketed over)"),
    source: str = SOURCE,
    output_tokens: int = typer.Option(64, help="reply tokens of every row"),
    draws: int = typer.Option(1, help="batches measured per batch size and bucketing"),
    bucketing: str = typer.Option("off,on", help="off (random batches), on (length bucketing), or both"),
    seed: int = typer.Option(0, help="seed of the requests and of the batches"),
    min_window_s: float | None = WINDOW,
    point_budget_s: float | None = POINT_BUDGET,
    gpus: str | None = GPUS,
    db: str = DB,
    report: str | None = REPORT,
    as_json: bool = JSON,
    tables_only: bool = TABLES_ONLY,
) -> None:
    """Case II batching: energy per effective and computed token along batch sizes (left padding, bucketing)."""
    from joulebench.data.prompts import open_prompts
    from joulebench.experiments.studies.llm import BUCKETING, BatchPlan
    from joulebench.experiments.studies.llm_studies import batch_tables_only, run_batch

    sizes_ = parse_int_list("batches", batches, maximum=4096)
    modes = parse_choices("bucketing", bucketing, BUCKETING)
    _positive(output_tokens=output_tokens)

    def plan() -> BatchPlan:
        prompts = open_prompts(source, requests, seed, model)
        return BatchPlan(prompts, sizes_, model, dtype, device, choice("engine", engine, ("eager", "static")),
                         output_tokens, draws, modes, seed, _window(min_window_s, point_budget_s),
                         check_device=not tables_only)

    if tables_only:
        _tables_only(plan, batch_tables_only, db, gpus, as_json, report)
        return
    _run("batch", plan, run_batch, db, gpus, as_json, report)


def _positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1 or (name == "output_tokens" and value < 2):
            raise UsageError.bad(name, value, "must be >= 2 (a decode needs a second token)" if name == "output_tokens"
                                 else "must be >= 1")


def _video_study(plans: Sequence[Any], db: str, as_json: bool, title: str) -> None:
    """Run video study plans through the one sweep driver and print their points (exit 1 on a failure)."""
    from joulebench.commands.video_table import print_video_points
    from joulebench.experiments.video_plan import run_video_plan
    from joulebench.store import check_db_path

    check_db_path(db, "db")
    total = sum(len(plan.typed_points) for plan in plans)
    points: list[dict[str, Any]] = []
    with ProgressObserver(total, quiet=as_json, title=title) as observer:
        for plan in plans:
            points += run_video_plan(plan, db, command_line(), observer=observer)
    if as_json:
        sys.stdout.write(json.dumps({"study": title, "points": points}, indent=2, default=str) + "\n")
    else:
        print_video_points(points)
    if any("error" in p for p in points):
        raise typer.Exit(EXIT_CHECK_FAILED)


def video_scaling(
    device: str = typer.Option("cuda", help="cuda or cpu"),
    dtype: str = typer.Option("bf16", help="transformer dtype"),
    sweeps: str = typer.Option("resolution,frames,steps", help="which of the study's three Wan2.1-1.3B sweeps"),
    sample_steps: int = typer.Option(2, help="denoising steps measured inside each call (the rest predicted)"),
    model: str = typer.Option("wan2.1-t2v-1.3b", help="the model swept (the study's is Wan2.1-T2V-1.3B)"),
    db: str = DB,
    as_json: bool = JSON,
) -> None:
    """Case III scaling: the study's resolution, frame-count and step-count sweeps of Wan2.1-1.3B."""
    from joulebench.experiments.studies.video import SWEEPS, video_scaling_plans

    plans = video_scaling_plans(device=device, dtype=dtype, sample_steps=sample_steps,
                                sweeps=parse_choices("sweeps", sweeps, SWEEPS), model=model)
    _video_study(list(plans.values()), db, as_json, "video-scaling")


def video_models(
    models: str = typer.Option(",".join(("animatediff-lightning", "cogvideox-2b", "cogvideox-5b", "ltx-video-0.9.7-dev",
                                         "mochi-1", "wan2.1-t2v-1.3b", "wan2.1-t2v-14b", "hunyuanvideo")),
                               help="comma list of bundled video models (each at its defaults)"),
    device: str = typer.Option("cuda", help="cuda or cpu"),
    dtype: str = typer.Option("bf16", help="transformer dtype"),
    sample_steps: int = typer.Option(2, help="denoising steps measured inside each call (the rest predicted)"),
    db: str = DB,
    as_json: bool = JSON,
) -> None:
    """Case III cross-model table: each model at its defaults, beside the study's Table 4."""
    from joulebench.experiments.studies.video import video_models_plan

    plan = video_models_plan(parse_names("models", models), device=device, dtype=dtype, sample_steps=sample_steps)
    _video_study([plan], db, as_json, "video-models")


def register(app: typer.Typer) -> None:
    study_app.command("thank-you")(thank_you)
    study_app.command("sizes")(sizes)
    study_app.command("precision")(precision)
    study_app.command("batch")(batch)
    study_app.command("video-scaling")(video_scaling)
    study_app.command("video-models")(video_models)
    app.add_typer(study_app, name="study")


__all__ = ["register", "study_app"]
