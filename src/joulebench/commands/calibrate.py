"""``joulebench calibrate llm``, ``validate`` and ``fit``: close the loop between measurement and model
(``calibrate video`` lives with the video commands)."""

from __future__ import annotations

import typer

from joulebench.analytic.params import LATEST_COST_MODEL
from joulebench.calibration.design import calibration_plans
from joulebench.errors import UsageError
from joulebench.parsing import parse_int_list
from joulebench.report.console import console as make_console
from joulebench.store import DEFAULT_DB, Store

calibrate_app = typer.Typer(help="Fit calibration profiles on measured points and validate them out of sample.",
                            no_args_is_help=True)

def calibrate(
    dtype: str = typer.Option("bfloat16", help="fp32|float32, bf16|bfloat16 or fp16|float16"),
    engine: str = typer.Option("eager", help="the engine being calibrated: eager, static (static cache + compiled "
                               "decode) or server (transformers-eager etc. accepted)"),
    gpu_name: str = typer.Option("auto", help="catalogue name of the GPU (auto = the one present)"),
    models: str | None = typer.Option(None, help="comma list of models to measure (default: the designed set)"),
    device: str = typer.Option("cuda", help="cuda (a CPU sweep cannot be fitted: no GPU energy)"),
    gpus: str | None = typer.Option(None, help="GPU index to meter (default 0)"),
    db: list[str] = typer.Option([DEFAULT_DB], help="results database; with --fit-only, repeat to average "
                                 "several sweeps of the design point by point"),
    measure_only: bool = typer.Option(False, help="run the sweep and stop (fit later, elsewhere)"),
    fit_only: bool = typer.Option(False, help="fit on the points already in --db; measure nothing"),
    cost_model: str = typer.Option(LATEST_COST_MODEL, help="v2 (tiles, waves, causal attention, per-step host "
                                   "time) or v1 (the model of the profiles before v2)"),
    estimate: bool = typer.Option(False, help="print the sweep's estimated GPU seconds (predictor) and stop"),
    out: str | None = typer.Option(None, help="profile file to write (default <gpu>-transformers-<engine>-<dtype>.yaml)"),
) -> None:
    """Run the designed sweep (reusing points already in --db), then fit a calibration profile and
    validate it on the held-out points (other models, unaligned prompt lengths, other batch sizes)."""
    from joulebench.analytic.engines import get_engine
    from joulebench.analytic.params import COST_MODELS
    from joulebench.commands import command_line
    from joulebench.hardware.dtypes import TORCH_DTYPES, canonical

    dtype = canonical(dtype, "dtype", TORCH_DTYPES)
    eng = get_engine(engine, "engine")
    if cost_model not in COST_MODELS:
        raise UsageError.bad("cost_model", cost_model, f"unknown; allowed: {', '.join(COST_MODELS)}")
    if measure_only and fit_only:
        raise UsageError("--measure-only and --fit-only exclude each other")
    if fit_only:
        _fit_and_print(db, dtype, eng.name, gpu_name, out, command_line(), cost_model)
        return
    if len(db) != 1:
        raise UsageError("--db: a sweep measures into one database; several are allowed with --fit-only")
    chosen = tuple(m.strip() for m in models.split(",")) if models else None
    if estimate:
        from joulebench.calibration.design import default_models, estimate_seconds

        # priced only, no device needed: plans of the engine's models, built as eager plans
        plans = calibration_plans(dtype, "cpu", chosen or default_models(eng.name), engine="eager")
        gpu = "h200" if gpu_name == "auto" else gpu_name
        make_console().print(f"estimated {estimate_seconds(plans, gpu, eng.name):.0f} s of {gpu} time "
                             f"for the {eng.name} design")
        return
    from joulebench.commands.measure import sweep_llm

    if device != "cuda":
        raise UsageError.bad("device", device, "a calibration fits GPU energy and the card's ceilings; measure with "
                             "--device cuda (a CPU sweep could not be fitted)")
    plans = calibration_plans(dtype, device, chosen, engine=eng.name)
    gpu_list = parse_int_list("gpus", gpus, minimum=0) if gpus else [0] if device == "cuda" else None
    result = sweep_llm(plans, db[0], gpu_list, quiet=False)
    if result.exit_code:
        make_console(stderr=True).print(f"{len(result.failed)} point(s) failed; fitting on the rest", markup=False)
    if measure_only:
        return
    _fit_and_print(db, dtype, eng.name, gpu_name, out, command_line(), cost_model)


def _fit_and_print(db: list[str], dtype: str, engine: str, gpu_name: str, out: str | None, command: str,
                   cost_model: str) -> None:
    from joulebench.calibration.llm_calibrate import calibrate_from_store
    from joulebench.calibration.validate import ErrorRow, markdown_table

    for path in db:
        Store.open_read(path).close()
    result = calibrate_from_store(db, dtype=dtype, engine=engine, gpu_name=gpu_name, out=out, command=command,
                                  cost_model=cost_model)
    console = make_console()
    console.print(f"profile written: {result['profile']}")
    from rich.table import Table

    table = Table(title="fitted parameters", show_header=False)
    for key, value in result["params"].items():
        table.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
    console.print(table)
    console.print(markdown_table([ErrorRow(**r) for r in result["rows"]], [ErrorRow(**r) for r in result["floors"]]))


def validate(
    calibration: str = typer.Option(..., help="calibration profile (YAML) written by calibrate"),
    db: list[str] = typer.Option([DEFAULT_DB], help="results database holding the measured points; repeat to "
                                 "average several sweeps"),
    figure: str | None = typer.Option(None, help="write a predicted-vs-measured figure (PNG/SVG)"),
    as_json: bool = typer.Option(False, "--json", help="print {profile, rows, floors} as JSON (rows: per subset "
                                 "and phase; floors: run-to-run disagreement of the same points)"),
) -> None:
    """Predict the points of --db with a profile and print latency and energy errors per phase, each
    beside the run-to-run floor of the same points."""
    import json
    import sys
    from pathlib import Path

    from joulebench.analytic.params import ModelParams, params_from_mapping
    from joulebench.calibration.dataset import load_llm_points
    from joulebench.calibration.validate import error_table, floor_rows, markdown_table, repeatability_rows, split
    from joulebench.calibration.validate import figure as draw
    from joulebench.hardware import get_accelerator
    from joulebench.profiles import read_profile

    profile = read_profile(calibration)
    for path in db:
        Store.open_read(path).close()
    if profile.catalogue_name is None:
        raise UsageError.bad("calibration", calibration, "the profile names no gpu.catalogue_name")
    acc = get_accelerator(profile.catalogue_name)
    params = params_from_mapping(dict(profile.params), ModelParams(), calibration, acc)
    measured = load_llm_points(db, profile.dtype or "bf16", gpu_name=profile.gpu.get("device_name"),
                               engine=profile.engine or "eager")
    train, held_out = split(measured.merged())
    rows, arrays, parts = [], {}, {}
    for subset, part in (("train", train), ("held-out", held_out)):
        if part.points:
            r, a = error_table(part, acc, params, subset)
            rows += r
            arrays[subset] = a
            parts[subset] = part
    rows += repeatability_rows(measured)
    floors = floor_rows(measured, parts)
    if figure:
        draw(arrays, f"{profile.name}: predicted vs measured", Path(figure))
    if as_json:
        sys.stdout.write(json.dumps({"profile": profile.name, "rows": [r.to_dict() for r in rows],
                                     "floors": [f.to_dict() for f in floors]}, indent=2) + "\n")
    else:
        make_console().print(markdown_table(rows, floors))


def fit(
    model: str = typer.Option(..., help="model whose stored points to fit (e.g. llama-3.1-8b)"),
    dtype: str = typer.Option("fp32", help="dtype of the stored points (any spelling; the study's case I: fp32)"),
    db: list[str] = typer.Option([DEFAULT_DB], help="results database(s); repeat to pool several"),
    component: str = typer.Option("gpu", help="gpu, cpu or ram"),
    batch: int = typer.Option(1, help="batch size of the stored points"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document instead of tables"),
) -> None:
    """The study's closed forms (E_prefill = A*s + B, E_decode = C*g + D*s*g + E0, t_prefill, t_decode)
    fitted on stored measurements, with 95% CIs, beside the study's values."""
    import json
    import sys

    from joulebench.calibration.closed_forms import fit_closed_forms
    from joulebench.calibration.closed_forms_report import load_study_reference, render_table

    if component not in ("gpu", "cpu", "ram"):
        raise UsageError(f"--component {component}: unknown; allowed: gpu, cpu, ram")
    for path in db:
        Store.open_read(path).close()
    forms = fit_closed_forms(list(db), model, dtype, component=component, batch=batch)
    if as_json:
        sys.stdout.write(json.dumps(forms.to_dict(), indent=2) + "\n")
        return
    make_console().print(render_table(forms, load_study_reference()))


def register(app: typer.Typer) -> None:
    app.command("fit")(fit)
    calibrate_app.command("llm")(calibrate)
    app.add_typer(calibrate_app, name="calibrate")
    app.command("validate")(validate)
