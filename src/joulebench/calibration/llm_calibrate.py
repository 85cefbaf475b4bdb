"""One command's worth of LLM calibration: load stored points, split train / held out, fit, validate,
and write the profile with its validation table, per-point JSON and figure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from joulebench.analytic import ModelParams
from joulebench.analytic.params import LATEST_COST_MODEL
from joulebench.calibration.dataset import Dataset
from joulebench.calibration.llm_fit import fit_llm, predict_points
from joulebench.hardware import Accelerator


def calibrate_from_store(db: str | Sequence[str], dtype: str, engine: str = "eager",
                         gpu_name: str = "auto", out: str | None = None, command: str = "",
                         cost_model: str = LATEST_COST_MODEL) -> dict[str, Any]:
    """Fit on the designed training subset of the stored points of ``engine``, validate on the held-out
    subset, and write ``<profile>.yaml`` plus ``<profile>-validation.md/.json/.png`` (beside ``out``).

    Several stores holding sweeps of the same design are averaged point by point before the fit
    (`Dataset.merged`), and their run-to-run disagreement is reported beside the model's errors, per
    row for the same points (`validate.floor_rows`). The fitted idle power must lie in the card's
    plausible range, like every profile's."""
    import json
    from pathlib import Path

    from joulebench.analytic.engines import get_engine
    from joulebench.calibration.dataset import load_llm_points
    from joulebench.calibration.profile import build_profile, profile_name, write_profile
    from joulebench.calibration.validate import error_table, figure, floor_rows, markdown_table, repeatability_rows, split
    from joulebench.hardware import get_accelerator
    from joulebench.hardware.catalogue import name_for_device

    eng = get_engine(engine)
    paths = [db] if isinstance(db, str) else list(db)
    measured = load_llm_points(paths, dtype, engine=eng.name)
    repeat_rows = repeatability_rows(measured)
    data = measured.merged()
    device_name = data.points[0].gpu_name or ""
    if gpu_name == "auto":
        from joulebench.errors import UsageError

        detected = name_for_device(device_name)
        if detected is None:
            raise UsageError(f"--gpu-name auto: '{device_name}' is not in the hardware catalogue; pass --gpu-name")
        gpu_name = detected
    acc = get_accelerator(gpu_name)
    train, held_out = split(data)
    fit = fit_llm(train, acc, dtype, cost_model=cost_model)
    fit.params.check_idle(acc)
    name = profile_name(gpu_name, eng.profile_name, dtype)
    target = Path(out) if out else Path(f"{name}.yaml")
    profile = build_profile(fit, train, gpu_name, eng.profile_name, dtype, command)
    rows_train, arr_train = error_table(train, acc, fit.params, "train")
    rows = rows_train
    arrays = {"train": arr_train}
    if held_out.points:
        rows_hold, arr_hold = error_table(held_out, acc, fit.params, "held-out")
        rows = rows_train + rows_hold
        arrays["held-out"] = arr_hold
    rows = rows + repeat_rows
    floors = floor_rows(measured, {"train": train, "held-out": held_out})
    profile["validation"] = [r.to_dict() for r in rows]
    profile["validation_floors"] = [r.to_dict() for r in floors]
    write_profile(profile, target)
    stem = target.with_suffix("")
    Path(f"{stem}-validation.md").write_text(
        f"# {name}: fit on {len(train.points)} phase points, validated on {len(held_out.points)} held out\n\n"
        + (f"Each point is the mean of {len(paths)} sweeps; 'run-to-run' rows compare the sweeps with each other.\n\n"
           if repeat_rows else "")
        + markdown_table(rows, floors) + "\n")
    Path(f"{stem}-validation.json").write_text(json.dumps({"profile": name, "rows": [r.to_dict() for r in rows],
                                                            "floors": [r.to_dict() for r in floors],
                                                            "points": _point_table(train, held_out, acc, fit.params)},
                                                           indent=2))
    figure(arrays, f"{name}: predicted vs measured", Path(f"{stem}-validation.png"))
    return {"profile": str(target), "rows": [r.to_dict() for r in rows], "floors": [r.to_dict() for r in floors],
            "params": fit.params.to_dict()}


def _point_table(train: Dataset, held_out: Dataset, acc: Accelerator, params: ModelParams) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for subset, data in (("train", train), ("held-out", held_out)):
        if not data.points:
            continue
        pred_t, pred_e = predict_points(data, acc, params)
        for p, t, e in zip(data.points, pred_t, pred_e, strict=True):
            out.append({**p.key(), "subset": subset, "repeats": p.repeats, "measured_latency_s": p.latency_s,
                        "predicted_latency_s": float(t),
                        "measured_gpu_energy_j": p.gpu_energy_j, "predicted_gpu_energy_j": float(e)})
    return out
