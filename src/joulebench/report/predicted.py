"""Predicted vs measured: a calibration profile applied to the stored LLM points it covers.

The split (training models and lengths vs held out), the error rows and the run-to-run floor are
`calibration.validate`'s own, so that the report shows exactly what ``joulebench validate`` prints; the
measured points come from the report's read-only stores instead of `calibration.dataset`'s opener
(which opens for writing). The run-to-run rows are the floor of the error table: a model cannot be
judged more finely than two sweeps of one design agree with each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from joulebench.errors import UsageError
from joulebench.profiles import Profile, read_profile
from joulebench.report.data import StoreData, points_of


@dataclass(frozen=True)
class Validation:
    """One profile against the stored points of its GPU, dtype and engine."""

    profile: str
    path: str
    gpu: str | None
    dtype: str | None
    n_points: int
    rows: tuple[Any, ...]  # calibration.validate.ErrorRow: train, held-out, run-to-run (the floor)
    arrays: dict[str, dict[str, Any]]  # per subset: predicted and measured arrays (validate.figure's input)
    note: str | None = None


def read_profiles(paths: Sequence[str]) -> list[Profile]:
    """Every ``--calibration`` file, checked before any work (exit 2 naming the file when it is not one)."""
    profiles = [read_profile(p, "calibration") for p in paths]
    for profile in profiles:
        if profile.kind != "llm":
            raise UsageError.bad("calibration", profile.path, f"a {profile.kind} profile; the report validates LLM "
                                 "profiles (video validation lives in 'calibrate video')")
        if profile.catalogue_name is None or profile.dtype is None:
            raise UsageError.bad("calibration", profile.path, "the profile names no gpu.catalogue_name or dtype")
        _accelerator(profile)
    return profiles


def _accelerator(profile: Profile) -> Any:
    from joulebench.hardware import get_accelerator

    try:
        return get_accelerator(str(profile.catalogue_name))
    except UsageError as exc:
        raise UsageError.bad("calibration", profile.path, exc.reason) from None


def _engine_of(config_engine: Any) -> str:
    return "static" if str(config_engine or "eager") == "static" else "eager"


def dataset_for(profile: Profile, stores: Sequence[StoreData]) -> Any:
    """The stored GPU LLM phase points of the profile's dtype, device name and engine (every store)."""
    from joulebench.calibration.dataset import PHASES, Dataset, PhasePoint
    from joulebench.hardware.dtypes import canonical

    device_name = profile.gpu.get("device_name")
    engine = "static" if "static" in str(profile.engine or "") else "eager"
    data = Dataset()
    for store, p in points_of(stores, "llm"):
        cfg, run = p.config, store.run(p.run_id)
        if p.status != "ok" or run is None or cfg.get("device") != "cuda":
            continue
        try:
            same_dtype = canonical(str(cfg.get("dtype")), "dtype") == profile.dtype
        except UsageError:
            same_dtype = False
        if not same_dtype or _engine_of(cfg.get("engine")) != engine:
            continue
        if device_name is not None and run.gpu_name != device_name:
            continue
        for phase in PHASES:
            doc = p.summary.get(phase)
            if not isinstance(doc, dict) or "gpu" not in (doc.get("energy_j") or {}):
                continue
            data.points.append(PhasePoint(p.id, str(cfg["model"]), str(cfg["dtype"]), phase, int(cfg["prompt_tokens"]),
                                          int(cfg["output_tokens"]), int(cfg["batch"]), float(doc["latency_s"]),
                                          float(doc["energy_j"]["gpu"]), run.gpu_name,
                                          (run.env.get("gpus") or [{}])[0].get("driver")))
    return data


def validate(profile: Profile, stores: Sequence[StoreData]) -> Validation:
    """Error rows (train, held-out) and their run-to-run floor for one profile; empty with a note when
    the stores hold none of its points."""
    from joulebench.analytic import ModelParams
    from joulebench.calibration.validate import error_table, repeatability_rows, split

    measured = dataset_for(profile, stores)
    gpu = profile.gpu.get("device_name")
    if not measured.points:
        return Validation(profile.name, str(profile.path), gpu, profile.dtype, 0, (), {},
                          "no stored points of this GPU, dtype and engine in the given databases")
    acc = _accelerator(profile)
    params = ModelParams.from_dict(dict(profile.params))
    train, held_out = split(measured.merged())
    rows: list[Any] = []
    arrays: dict[str, dict[str, Any]] = {}
    for subset, part in (("train", train), ("held-out", held_out)):
        if part.points:
            part_rows, part_arrays = error_table(part, acc, params, subset)
            rows += part_rows
            arrays[subset] = part_arrays
    rows += repeatability_rows(measured)
    return Validation(profile.name, str(profile.path), gpu, profile.dtype, len(measured.points), tuple(rows), arrays)
