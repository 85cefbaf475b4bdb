"""The one sweep driver: every plan (LLM, video, serving arms, calibration, studies) runs through here.

Order of work, and why:

1. the plan's points are built and validated by the caller before this runs (bad input exits 2 with
   nothing written) - the driver trusts them;
2. the store is opened (ownership and schema checked) and the meters are opened;
3. the run is recorded with its environment, and the **cold** idle baseline is measured;
4. each point: skipped when stored ``ok``; claimed atomically (another sweep on the same database skips
   it); run by the kind's point function under the open meters; stored in one transaction with its
   rows and records. A point whose own checks failed is stored *failed* with its data (a resume runs it
   again); an exception (out of memory included) is stored failed with its reason and the sweep goes on;
   Ctrl-C releases the claim and propagates (exit 130), every finished point kept;
5. the **warm** idle baseline is measured once, when the first point asks for it after its warm-ups
   (the card idles ~40 W higher right after work than cold), so "above idle" uses the warm figure.

The driver owns no presentation: a `SweepObserver` (the rich progress bar with live watts, or nothing)
hears about points and repetitions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from joulebench.errors import EXIT_CHECK_FAILED, EXIT_OK
from joulebench.store import Store
from joulebench.values import Measurement, Point, key_of

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


@dataclass
class SweepContext:
    """What a point function may use: the open meters, the baselines, a cache that lives as long as the
    sweep (a loaded model kept across points), and the repetition callback for progress."""

    monitor: Any
    run_id: int
    store: Store
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


@dataclass
class SweepResult:
    run_id: int
    db: str
    outcomes: list[PointOutcome] = field(default_factory=list)

    def _with(self, status: str) -> list[PointOutcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def done(self) -> list[PointOutcome]:
        return self._with("done")

    @property
    def skipped(self) -> list[PointOutcome]:
        return self._with("skipped") + self._with("claimed")

    @property
    def failed(self) -> list[PointOutcome]:
        return self._with("failed")

    @property
    def exit_code(self) -> int:
        """1 when a point ran but failed (or failed its own checks), else 0."""
        return EXIT_CHECK_FAILED if self.failed else EXIT_OK

    def merge(self, other: SweepResult) -> SweepResult:
        self.outcomes += other.outcomes
        return self


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


@contextmanager
def open_monitor(meters: MeterSpec) -> Iterator[Any]:
    """The local energy monitor: NVML for the selected GPUs when on CUDA, RAPL or estimates for CPU/RAM."""
    from joulebench.meters.monitor import EnergyMonitor, MonitorConfig

    config = MonitorConfig(gpus=(list(meters.gpus) if meters.gpus is not None else None) if meters.uses_gpu else [],
                           require_gpu=meters.uses_gpu)
    with EnergyMonitor.open(config) as monitor:
        yield monitor


def _free_device_memory() -> None:
    from joulebench.workloads.device import free_device_memory

    free_device_memory()


def run_sweep(
    kind: str,
    points: Sequence[Point],
    execute: PointFn,
    db: str | Path,
    command: str,
    plan: Mapping[str, Any],
    meters: MeterSpec = MeterSpec(),
    *,
    observer: SweepObserver | None = None,
    idle_s: float = IDLE_BASELINE_S,
    warm_settle_s: float = WARM_SETTLE_S,
    open_source: SourceOpener = open_monitor,
    cache: dict[str, Any] | None = None,
    store: Store | None = None,
) -> SweepResult:
    """Run validated ``points`` of one ``kind`` into the database ``db`` (see the module docstring).

    ``cache`` lets several sweeps of one command share a loaded model; ``store`` an open database."""
    from joulebench.environment import capture

    watcher = observer or NullObserver()
    owns_store = store is None
    opened = store if store is not None else Store(db)
    try:
        with open_source(meters) as monitor:
            run_id = opened.begin_run(kind, command, plan, capture(monitor if hasattr(monitor, "meters") else None))
            cold = None
            if idle_s > 0 and hasattr(monitor, "has_trace"):
                from joulebench.meters.idle import measure_idle

                cold = measure_idle(monitor, idle_s, 0.0, "cold")
            context = SweepContext(monitor, run_id, opened, cold, watcher, cache if cache is not None else {},
                                   idle_s=idle_s, warm_settle_s=warm_settle_s if meters.uses_gpu else 0.0)
            if cold is not None:
                opened.set_baseline(run_id, context.baseline_doc())
            result = SweepResult(run_id, str(db))
            watcher.sweep_started(len(points), monitor)
            for index, point in enumerate(points):
                outcome = _run_point(index, point, execute, context)
                result.outcomes.append(outcome)
                watcher.point_finished(index, outcome)
            return result
    finally:
        if owns_store:
            opened.close()


def _run_point(index: int, point: Point, execute: PointFn, context: SweepContext) -> PointOutcome:
    store, config = context.store, point.to_dict()
    key = key_of(point)
    if store.has_point(key):
        stored = store.point_by_key(key)
        return PointOutcome(point, "skipped", stored.id if stored else None, stored.summary if stored else {})
    if not store.claim(key, context.run_id):
        return PointOutcome(point, "claimed", error="another sweep is measuring this point")
    context.observer.point_started(index, point)
    try:
        measured = execute(point, context)
    except (KeyboardInterrupt, SystemExit):
        store.release(key)
        raise
    except Exception as exc:  # noqa: BLE001 - one bad point must not end the sweep
        reason = f"{'out of memory' if is_out_of_memory(exc) else type(exc).__name__}: {exc}"[:2000]
        _free_device_memory()
        point_id = store.save_point(context.run_id, point.kind, config, {}, status="failed", error=reason, key=key)
        return PointOutcome(point, "failed", point_id, {}, reason)
    failures = list(measured.check_failures)
    status = "failed" if failures else "ok"
    error = "; ".join(failures)[:2000] if failures else None
    summary = dict(measured.summary) | ({"check_failures": failures} if failures else {})
    point_id = store.save_point(context.run_id, point.kind, config, summary, measured.measurements,
                                measured.records, status=status, error=error, key=key)
    return PointOutcome(point, "failed" if failures else "done", point_id, summary, error)
