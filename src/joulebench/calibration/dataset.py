"""Measured LLM points from the store, as arrays the fitter and the validator share."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from joulebench.errors import UsageError
from joulebench.store import Store

PHASES = ("prefill", "decode")


@dataclass(frozen=True)
class PhasePoint:
    """One measured phase of one stored point."""

    point_id: int
    model: str
    dtype: str
    phase: str
    prompt_tokens: int
    output_tokens: int
    batch: int
    latency_s: float
    gpu_energy_j: float
    gpu_name: str | None
    driver: str | None
    repeats: int = 1  # measurements averaged into this point (several sweeps of one design)
    engine: str = "eager"  # the point config's ``engine`` (missing: "eager", every sweep before the field)
    cache_len: int | None = None  # static engine: the static cache's length when the point recorded it

    def same_config(self) -> tuple[str, str, int, int, int]:
        return (self.model, self.phase, self.prompt_tokens, self.output_tokens, self.batch)

    def key(self) -> dict[str, Any]:
        return {"point_id": self.point_id, "model": self.model, "phase": self.phase, "s": self.prompt_tokens,
                "g": self.output_tokens, "b": self.batch}


@dataclass
class Dataset:
    points: list[PhasePoint] = field(default_factory=list)
    idle_power_w: list[float] = field(default_factory=list)  # GPU idle baselines of the runs used
    environments: list[dict[str, Any]] = field(default_factory=list)

    def select(self, keep: Iterable[bool]) -> Dataset:
        return Dataset([p for p, k in zip(self.points, keep, strict=True) if k], self.idle_power_w, self.environments)

    def array(self, attr: str) -> np.ndarray:
        return np.asarray([getattr(p, attr) for p in self.points])

    def groups(self) -> dict[tuple[str, str, int, int, int], list[PhasePoint]]:
        """Measurements of the same (model, phase, s, g, b), in load order."""
        out: dict[tuple[str, str, int, int, int], list[PhasePoint]] = {}
        for p in self.points:
            out.setdefault(p.same_config(), []).append(p)
        return out

    def merged(self) -> Dataset:
        """One point per configuration: repeated sweeps (several stores) averaged. Why: launch-bound
        phases drift by 3-19% (mean per phase) between two sweeps on one machine, so the mean of two is the better
        measurement to fit and to judge a prediction against."""
        points = [
            replace(group[0], latency_s=float(np.mean([p.latency_s for p in group])),
                    gpu_energy_j=float(np.mean([p.gpu_energy_j for p in group])), repeats=len(group))
            for group in self.groups().values()
        ]
        return Dataset(points, self.idle_power_w, self.environments)


def load_llm_points(db_paths: Iterable[str], dtype: str, gpu_name: str | None = None,
                    engine: str = "eager") -> Dataset:
    """Every ok LLM point of ``dtype`` and ``engine`` metered on a GPU (optionally of one device name).

    Dtypes compare in the one vocabulary (``bf16`` and ``bfloat16`` are the same); a point without an
    ``engine`` in its config ran the eager engine (the only one before the field)."""
    from joulebench.analytic.engines import get_engine
    from joulebench.hardware.dtypes import canonical

    want_dtype, want_engine = canonical(dtype), get_engine(engine).name
    data = Dataset()
    for path in db_paths:
        with Store.open_read(path) as store:
            runs = {r.id: r for r in store.runs()}
            used_runs: set[int] = set()
            for p in store.points(kind="llm", status="ok"):
                cfg = p.config
                env = runs[p.run_id].env
                gpus = env.get("gpus") or []
                if not gpus or cfg.get("device") != "cuda" or _canonical_or_none(cfg.get("dtype")) != want_dtype:
                    continue
                if get_engine(cfg.get("engine")).name != want_engine:
                    continue
                name = gpus[0].get("name")
                if gpu_name is not None and name != gpu_name:
                    continue
                for phase in PHASES:
                    doc = p.summary.get(phase)
                    if not doc or "gpu" not in doc.get("energy_j", {}):
                        continue
                    data.points.append(PhasePoint(
                        p.id, cfg["model"], dtype, phase, int(cfg["prompt_tokens"]), int(cfg["output_tokens"]),
                        int(cfg["batch"]), float(doc["latency_s"]), float(doc["energy_j"]["gpu"]), name,
                        gpus[0].get("driver"), engine=want_engine,
                        cache_len=None if cfg.get("static_cache_len") is None else int(cfg["static_cache_len"])))
                if p.run_id not in used_runs:
                    used_runs.add(p.run_id)
                    idle = runs[p.run_id].baseline.get("idle_power_w", {}).get("gpu")
                    if idle is not None:
                        data.idle_power_w.append(float(idle))
                    data.environments.append(env)
    if not data.points:
        raise UsageError(f"no stored GPU LLM points with dtype {dtype} and engine {want_engine}"
                         + (f" on {gpu_name}" if gpu_name else "") + " in the given database(s)")
    return data


def _canonical_or_none(text: Any) -> str | None:
    from joulebench.hardware.dtypes import canonical

    try:
        return canonical(text)
    except ValueError:
        return None
