"""``joulebench calibrate``, ``validate`` and ``fit``: close the loop between measurement and model."""

from __future__ import annotations

import typer

from joulebench.calibration.design import HELD_OUT_MODELS, TRAIN_MODELS, calibration_plans
from joulebench.experiments.plan import parse_int_list, parse_str_list
from joulebench.store import DEFAULT_DB


def calibrate(
    dtype: str = typer.Option("bfloat16", help="float32, bfloat16 or float16"),
    engine: str = typer.Option("transformers-eager", help="the engine being calibrated"),
    gpu_name: str = typer.Option("auto", help="catalogue name of the GPU (auto = the one present)"),
    models: str | None = typer.Option(None, help="comma list of models to measure (default: the designed set)"),
    device: str = typer.Option("cuda"),
    gpus: str | None = typer.Option(None, help="GPU index to meter (default 0)"),
    db: str = typer.Option(DEFAULT_DB),
    measure_only: bool = typer.Option(False, help="run the sweep and stop (fit later, elsewhere)"),
    out: str | None = typer.Option(None, help="profile file to write (default docs-style name in .)"),
) -> None:
    """Run the designed sweep (reusing points already in --db), then fit a calibration profile."""
    from joulebench.commands.measure import run_with_progress

    dtype = parse_str_list("--dtype", dtype, ("float32", "bfloat16", "float16"))[0]
    chosen = tuple(m.strip() for m in models.split(",")) if models else TRAIN_MODELS + HELD_OUT_MODELS
    plans = calibration_plans(dtype, device, chosen)
    gpu_list = parse_int_list("--gpus", gpus, minimum=0) if gpus else [0] if device == "cuda" else None
    run_with_progress(plans, db, gpu_list, quiet=False)
    if measure_only:
        return
    from joulebench.calibration.llm_fit import calibrate_from_store

    calibrate_from_store(db, dtype=dtype, engine=engine, gpu_name=gpu_name, out=out)


def register(app: typer.Typer) -> None:
    app.command("calibrate")(calibrate)
