"""``joulebench calibrate``, ``validate`` and ``fit``: close the loop between measurement and model."""

from __future__ import annotations

import typer

from joulebench.calibration.design import HELD_OUT_MODELS, TRAIN_MODELS, calibration_plans
from joulebench.errors import UsageError
from joulebench.hardware.dtypes import canonical
from joulebench.parsing import parse_int_list
from joulebench.report.console import console as make_console
from joulebench.store import DEFAULT_DB, Store


def calibrate(
    dtype: str = typer.Option("bfloat16", help="float32, bfloat16 or float16"),
    engine: str = typer.Option("transformers-eager", help="the engine being calibrated"),
    gpu_name: str = typer.Option("auto", help="catalogue name of the GPU (auto = the one present)"),
    models: str | None = typer.Option(None, help="comma list of models to measure (default: the designed set)"),
    device: str = typer.Option("cuda"),
    gpus: str | None = typer.Option(None, help="GPU index to meter (default 0)"),
    db: list[str] = typer.Option([DEFAULT_DB], help="results database; with --fit-only, repeat to average "
                                 "several sweeps of the design point by point"),
    measure_only: bool = typer.Option(False, help="run the sweep and stop (fit later, elsewhere)"),
    fit_only: bool = typer.Option(False, help="fit on the points already in --db; measure nothing"),
    out: str | None = typer.Option(None, help="profile file to write (default <gpu>-<engine>-<dtype>.yaml)"),
) -> None:
    """Run the designed sweep (reusing points already in --db), then fit a calibration profile and
    validate it on the held-out points (other models, other prompt lengths)."""
    from joulebench.commands import command_line
    from joulebench.commands.measure import sweep_llm

    dtype = canonical(dtype, "dtype")
    if measure_only and fit_only:
        raise UsageError("--measure-only and --fit-only exclude each other")
    if fit_only:
        _fit_and_print(db, dtype, engine, gpu_name, out, command_line())
        return
    if len(db) != 1:
        raise UsageError("--db: a sweep measures into one database; several are allowed with --fit-only")
    chosen = tuple(m.strip() for m in models.split(",")) if models else TRAIN_MODELS + HELD_OUT_MODELS
    plans = calibration_plans(dtype, device, chosen)
    gpu_list = parse_int_list("gpus", gpus, minimum=0) if gpus else [0] if device == "cuda" else None
    sweep_llm(plans, db[0], gpu_list, quiet=False)
    if measure_only:
        return
    _fit_and_print(db, dtype, engine, gpu_name, out, command_line())


def _fit_and_print(db: list[str], dtype: str, engine: str, gpu_name: str, out: str | None, command: str) -> None:
    from joulebench.calibration.llm_calibrate import calibrate_from_store
    from joulebench.calibration.validate import ErrorRow, markdown_table

    for path in db:
        Store.open_existing(path).close()
    result = calibrate_from_store(db, dtype=dtype, engine=engine, gpu_name=gpu_name, out=out, command=command)
    console = make_console()
    console.print(f"profile written: {result['profile']}")
    console.print({k: v for k, v in result["params"].items()})
    console.print(markdown_table([ErrorRow(**r) for r in result["rows"]]))


def validate(
    calibration: str = typer.Option(..., help="calibration profile (YAML) written by calibrate"),
    db: list[str] = typer.Option([DEFAULT_DB], help="results database holding the measured points; repeat to "
                                 "average several sweeps"),
    figure: str | None = typer.Option(None, help="write a predicted-vs-measured figure (PNG/SVG)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Predict the held-out points of --db with a profile and print latency and energy errors per phase."""
    import json
    import sys
    from pathlib import Path

    from joulebench.analytic import ModelParams
    from joulebench.calibration.dataset import load_llm_points
    from joulebench.calibration.profile import read_profile
    from joulebench.calibration.validate import error_table, markdown_table, repeatability_rows, split
    from joulebench.calibration.validate import figure as draw
    from joulebench.hardware import get_accelerator

    profile = read_profile(calibration)
    for path in db:
        Store.open_existing(path).close()
    acc = get_accelerator(profile["gpu"]["catalogue_name"])
    params = ModelParams.from_dict(profile["params"])
    measured = load_llm_points(db, profile["dtype"], gpu_name=profile["gpu"].get("device_name"))
    train, held_out = split(measured.merged())
    rows, arrays = [], {}
    for subset, part in (("train", train), ("held-out", held_out)):
        if part.points:
            r, a = error_table(part, acc, params, subset)
            rows += r
            arrays[subset] = a
    rows += repeatability_rows(measured)
    if figure:
        draw(arrays, f"{profile['profile']}: predicted vs measured", Path(figure))
    if as_json:
        sys.stdout.write(json.dumps({"profile": profile["profile"], "rows": [r.to_dict() for r in rows]}, indent=2) + "\n")
    else:
        make_console().print(markdown_table(rows))


def fit(
    model: str = typer.Option(..., help="model whose stored points to fit (e.g. llama-3.1-8b)"),
    dtype: str = typer.Option("float32"),
    db: list[str] = typer.Option([DEFAULT_DB], help="results database(s); repeat to pool several"),
    component: str = typer.Option("gpu", help="gpu, cpu or ram"),
    batch: int = typer.Option(1),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The study's closed forms (E_prefill = A*s + B, E_decode = C*g + D*s*g + E0, t_prefill, t_decode)
    fitted on stored measurements, with 95% CIs, beside the study's values."""
    import json
    import sys

    from joulebench.calibration.closed_forms import fit_closed_forms, load_study_reference, render_table

    if component not in ("gpu", "cpu", "ram"):
        raise UsageError(f"--component {component}: unknown; allowed: gpu, cpu, ram")
    for path in db:
        Store.open_existing(path).close()
    forms = fit_closed_forms(list(db), model, dtype, component=component, batch=batch)
    if as_json:
        sys.stdout.write(json.dumps(forms.to_dict(), indent=2) + "\n")
        return
    make_console().print(render_table(forms, load_study_reference()))


def register(app: typer.Typer) -> None:
    app.command("fit")(fit)
    app.command("calibrate")(calibrate)
    app.command("validate")(validate)
