"""The sweep's vocabulary, shared by the driver (`experiments.sweep`), the executors and their workers:
what a point function is given (`SweepContext`, opened under a `MeterSpec`), what it reports progress to
(`SweepObserver`), what became of a point (`PointOutcome`), and how a failure is named (`failure_reason`).

Why a module of its own: the driver hands points to the executors, and the executors' workers (here or on
a Ray node) build the same context the driver's points get; with this vocabulary in the driver, the two
imported each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from joulebench.values import Measurement, Point

#: idle baselines: ten NVML counter ticks; warm baseline after this much settling once work stopped
IDLE_BASELINE_S = 1.0
WARM_SETTLE_S = 2.0


class SweepObserver(Protocol):
    """What the driver tells about its progress (all optional no-ops in `NullObserver`)."""

    def sweep_started(self, total: int, monitor: Any) -> None: ...

    def point_started(self, index: int, point: Point) -> None: ...

    def point_finished(self, index: int, outcome: PointOutcome) -> None: ...

    def repetition(self, phase: str, index: int, latency_s: float) -> None: ...


class NullObserver:
    def sweep_started(self, total: int, monitor: Any) -> None:
        return None

    def point_started(self, index: int, point: Point) -> None:
        return None

    def point_finished(self, index: int, outcome: PointOutcome) -> None:
        return None

    def repetition(self, phase: str, index: int, latency_s: float) -> None:
        return None


@dataclass(frozen=True)
class MeterSpec:
    """Which meters the sweep opens: GPUs when ``device`` is CUDA (``gpus=None``: all visible)."""

    device: str = "cpu"
    gpus: Sequence[int] | None = None

    @property
    def uses_gpu(self) -> bool:
        return self.device.startswith("cuda")


class BaselineSink(Protocol):
    """Where a `SweepContext` records its run's baselines: the `Store` here; a remote worker keeps them
    and sends them back with its points (only the driver writes to the store)."""

    def set_baseline(self, run_id: int, baseline: Mapping[str, Any]) -> None: ...


@dataclass
class SweepContext:
    """What a point function may use: the open meters, the baselines, a cache that lives as long as the
    sweep (a loaded model kept across points), and the repetition callback for progress."""

    monitor: Any
    run_id: int
    store: BaselineSink
    cold: Any  # meters.idle.IdleBaseline, or None when no baseline was asked for
    observer: SweepObserver
    cache: dict[str, Any] = field(default_factory=dict)
    warm: Any = None
    idle_s: float = IDLE_BASELINE_S
    warm_settle_s: float = WARM_SETTLE_S

    def on_rep(self, phase: str, index: int, latency_s: float) -> None:
        self.observer.repetition(phase, index, latency_s)

    def idle_w(self) -> dict[str, float]:
        """The baseline "above idle" subtracts: the warm one, measured now if it is not yet (call after
        the point's warm-ups, so that the card is as warm as it is between measured phases)."""
        if self.warm is None and "warm_idle" in self.cache:  # measured by an earlier sweep of this command
            self.warm = self.cache["warm_idle"]
            self.store.set_baseline(self.run_id, self.baseline_doc())
        if self.warm is None and self.warm_settle_s > 0 and self.idle_s > 0 and hasattr(self.monitor, "has_trace"):
            from joulebench.meters.idle import measure_idle

            self.warm = self.cache["warm_idle"] = measure_idle(self.monitor, self.idle_s, self.warm_settle_s, "warm")
            self.store.set_baseline(self.run_id, self.baseline_doc())
        chosen = self.warm or self.cold
        return dict(chosen.power_w) if chosen is not None else {}

    def baseline_doc(self) -> dict[str, Any]:
        """The run's baselines as stored: cold (at start), warm (after work, settled) when measured, and
        which one "above idle" subtracts."""
        chosen = self.warm or self.cold
        doc: dict[str, Any] = {"idle_power_w": dict(chosen.power_w) if chosen else {}, "duration_s": self.idle_s,
                               "above_idle_uses": chosen.state if chosen else None}
        for baseline in (self.cold, self.warm):
            if baseline is not None:
                doc[baseline.state] = baseline.to_dict()
        return doc


@dataclass(frozen=True)
class PointOutcome:
    """What happened to one point of the plan in this sweep."""

    point: Point
    status: str  # "done" | "skipped" (stored before) | "claimed" (another sweep has it) | "failed"
    point_id: int | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


PointFn = Callable[[Any, SweepContext], Measurement]
SourceOpener = Callable[[MeterSpec], AbstractContextManager[Any]]


def is_out_of_memory(exc: BaseException) -> bool:
    try:
        import torch

        if isinstance(exc, torch.OutOfMemoryError):
            return True
    except ImportError:
        pass
    return "out of memory" in str(exc).lower()


def failure_reason(exc: BaseException) -> str:
    """The stored reason of a point that raised (out of memory named as such); frees device memory, so
    that the next point starts clean."""
    from joulebench.workloads.device import free_device_memory

    reason = f"{'out of memory' if is_out_of_memory(exc) else type(exc).__name__}: {exc}"[:2000]
    free_device_memory()
    return reason
