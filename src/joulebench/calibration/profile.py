"""Calibration profiles: a YAML file that ``predict --calibration`` reads (its ``params`` mapping) and
that records where the numbers came from (GPU, driver, engine, library versions, points used,
uncertainty, training error)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from joulebench import profiles
from joulebench.calibration.dataset import Dataset
from joulebench.calibration.llm_fit import FitResult


def profile_name(gpu: str, engine: str, dtype: str) -> str:
    return f"{gpu}-{engine}-{dtype}"


def build_profile(fit: FitResult, train: Dataset, gpu: str, engine: str, dtype: str,
                  command: str) -> dict[str, Any]:
    env = train.environments[0] if train.environments else {}
    gpus = env.get("gpus") or [{}]
    return {
        "profile": profile_name(gpu, engine, dtype),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command,
        "gpu": {"catalogue_name": gpu, "device_name": gpus[0].get("name"), "driver": gpus[0].get("driver"),
                "power_limit_w": gpus[0].get("power_limit_w")},
        "engine": engine,
        "dtype": dtype,
        "libraries": env.get("libraries", {}),
        "params": fit.params.to_dict(),
        "stderr": fit.stderr,
        "fit": {"points": fit.n_points, "train_latency_mape": fit.train_latency_mape,
                "train_energy_mape": fit.train_energy_mape},
        "points_used": [p.key() for p in train.points],
    }


def write_profile(profile: dict[str, Any], path: str | Path) -> Path:
    return profiles.write_profile(profile, path)


def read_profile(path: str | Path) -> dict[str, Any]:
    """The whole profile document, checked by the one reader (`joulebench.profiles`)."""
    return dict(profiles.read_profile(path).document)
