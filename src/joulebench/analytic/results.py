"""Values of an LLM prediction: per op, per phase, per request, and the per-phase sums a fit regresses on.

`PhasePrediction` is a *prediction* of one phase; the measured phase is ``meters.window.PhaseResult``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from joulebench.analytic.params import ModelParams


@dataclass(frozen=True)
class OpResult:
    """One op of one phase (decode: summed over all steps)."""

    name: str
    category: str
    flops: float
    bytes: float
    n_kernels: float
    latency_s: float
    compute_s: float
    memory_s: float
    launch_s: float
    bound: str
    executed_flops: float | None = None
    busy_compute_s: float = 0.0
    busy_gpu_s: float = 0.0

    @property
    def intensity_flops_per_byte(self) -> float:
        return self.flops / self.bytes if self.bytes else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "category": self.category,
            "flops": self.flops,
            "executed_flops": self.executed_flops,
            "bytes": self.bytes,
            "intensity_flops_per_byte": (None if not self.bytes else self.flops / self.bytes),
            "n_kernels": self.n_kernels,
            "bound": self.bound,
            "latency_s": self.latency_s,
            "compute_s": self.compute_s,
            "memory_s": self.memory_s,
            "launch_s": self.launch_s,
        }


@dataclass(frozen=True)
class PhasePrediction:
    """One predicted phase (decode: all steps summed); ``flops`` dense-counted, ``executed_flops`` as run."""

    name: str
    steps: int
    flops: float
    bytes: float
    n_kernels: float
    latency_s: float
    energy_j: float
    compute_s: float
    memory_s: float
    launch_s: float
    ops: tuple[OpResult, ...] = field(default_factory=tuple)
    executed_flops: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "flops": self.flops,
            "executed_flops": self.executed_flops,
            "bytes": self.bytes,
            "n_kernels": self.n_kernels,
            "latency_s": self.latency_s,
            "energy_j": self.energy_j,
            "time_split_s": {"compute": self.compute_s, "memory": self.memory_s, "launch": self.launch_s},
            "ops": [op.to_dict() for op in self.ops],
        }


@dataclass(frozen=True)
class LLMPrediction:
    model: str
    gpu: str
    dtype: str
    prompt_tokens: int
    output_tokens: int
    batch: int
    prefill: PhasePrediction
    decode: PhasePrediction
    params: ModelParams
    graphs: bool
    engine: str = "eager"

    @property
    def latency_s(self) -> float:
        return self.prefill.latency_s + self.decode.latency_s

    @property
    def energy_j(self) -> float:
        return self.prefill.energy_j + self.decode.energy_j


@dataclass(frozen=True)
class PhaseFeatures:
    """Per-phase sums for fitting (arrays over the grid). With the classification of bounds fixed,

    ``latency_s = compute_bound_s / mu_compute + memory_bound_s / mu_memory + n_kernels * t_launch_s``
    (overlap "sum"), and ``flops_s`` / ``bytes_s`` are the plain totals over the peaks.
    """

    flops: np.ndarray  # counted FLOPs (what the work energy model charges)
    bytes: np.ndarray
    n_kernels: np.ndarray
    flops_s: np.ndarray  # total FLOPs / peak FLOP/s
    bytes_s: np.ndarray  # total bytes / peak bandwidth
    compute_bound_s: np.ndarray  # sum of F / peak over (op, step) that are compute-bound
    memory_bound_s: np.ndarray  # sum of D / peak over (op, step) that are memory-bound
    n_forwards: np.ndarray | None = None  # forwards in the phase (1 prefill, G-1 decode): t_step_s's regressor
