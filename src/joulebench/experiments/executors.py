"""Who runs a sweep's points: this process (``local``) or workers of a Ray cluster (``ray``).

The sweep driver (`experiments.sweep`) keeps everything that touches the store: it skips stored points,
claims a point before it hands it out, and writes each finished point in one transaction. An executor
only turns admitted points (`Job`) into `Finished` ones. Why that split: the SQLite store stays
single-writer however many machines measure, and resume, claims and failure rules are written once.

A worker of any executor runs points the same way: it opens its own meters (`WorkerSettings`), measures
its cold idle baseline at the start of each run and its warm one once after the first warm-ups
(`open_context`), and keeps a cache (the loaded model) across points, so that a point measured on a
Ray worker follows the same protocol as one measured here.

The executors a command can choose from, by name, are in `experiments.executor_choice`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from joulebench.experiments.sweep_values import (
    BaselineSink,
    MeterSpec,
    PointFn,
    SourceOpener,
    SweepContext,
    SweepObserver,
    failure_reason,
)
from joulebench.values import Measurement, Point


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker opens its meters and takes its baselines (the same for every point of a sweep)."""

    meters: MeterSpec
    open_source: SourceOpener
    idle_s: float
    warm_settle_s: float


@dataclass(frozen=True)
class Job:
    """One admitted (claimed) point, as handed to an executor. ``attempt`` counts from 1."""

    index: int
    point: Point
    key: str
    run_id: int
    attempt: int = 1


@dataclass(frozen=True)
class Finished:
    """What came back for a job: a `Measurement`, or the reason it failed; ``node`` is the worker's
    per-node environment (host, GPU state, baselines, attempt), stored in the point's summary
    (``summary["node"]``) by remote executors and ``None`` for the local one (its run holds it)."""

    job: Job
    measured: Measurement | None
    error: str | None = None
    node: Mapping[str, Any] | None = None


class ExecutorSession(Protocol):
    """One sweep's use of an executor, driven by `sweep.run_sweep`.

    ``monitor`` is what the progress view reads live watts from; ``in_flight`` are jobs handed out and
    not yet collected (their claims are released when the driver stops early)."""

    monitor: Any

    def environment(self) -> dict[str, Any]: ...

    def begin(self, run_id: int, store: Any) -> None: ...

    def has_slot(self) -> bool: ...

    def submit(self, job: Job) -> None: ...

    def collect(self, block: bool) -> list[Finished]: ...

    def in_flight(self) -> list[Job]: ...


class Executor(Protocol):
    """Lives as long as a command (several sweeps may share its workers); ``close`` frees them."""

    name: str

    def session(self, execute: PointFn, settings: WorkerSettings, observer: SweepObserver,
                cache: dict[str, Any]) -> AbstractContextManager[ExecutorSession]: ...

    def close(self) -> None: ...


def open_context(monitor: Any, run_id: int, sink: BaselineSink, observer: SweepObserver, cache: dict[str, Any],
                 settings: WorkerSettings) -> SweepContext:
    """A worker's `SweepContext` for one run: the cold idle baseline measured now (recorded in ``sink``);
    the warm one is measured when the first point asks for it, after its warm-ups."""
    cold = None
    if settings.idle_s > 0 and hasattr(monitor, "has_trace"):
        from joulebench.meters.idle import measure_idle

        cold = measure_idle(monitor, settings.idle_s, 0.0, "cold")
    context = SweepContext(monitor, run_id, sink, cold, observer, cache,
                           idle_s=settings.idle_s, warm_settle_s=settings.warm_settle_s)
    if cold is not None:
        sink.set_baseline(run_id, context.baseline_doc())
    return context


def run_job(execute: PointFn, job: Job, context: SweepContext) -> tuple[Measurement | None, str | None]:
    """Run one point: its `Measurement`, or the reason it failed (an exception of the point, out of
    memory included, fails that point only). Ctrl-C and exits propagate."""
    try:
        return execute(job.point, context), None
    except Exception as exc:  # noqa: BLE001 - one bad point must not end the sweep
        return None, failure_reason(exc)


class LocalSession:
    """Points run one at a time in this process, under one monitor opened for the sweep."""

    def __init__(self, monitor: Any, execute: PointFn, settings: WorkerSettings, observer: SweepObserver,
                 cache: dict[str, Any]) -> None:
        self.monitor = monitor
        self._execute, self._settings, self._observer, self._cache = execute, settings, observer, cache
        self._context: SweepContext | None = None
        self._current: Job | None = None
        self._done: list[Finished] = []

    def environment(self) -> dict[str, Any]:
        from joulebench.environment import capture

        return capture(self.monitor if hasattr(self.monitor, "meters") else None)

    def begin(self, run_id: int, store: Any) -> None:
        self._context = open_context(self.monitor, run_id, store, self._observer, self._cache, self._settings)

    def has_slot(self) -> bool:
        return True

    def submit(self, job: Job) -> None:
        assert self._context is not None, "begin() first"
        self._current = job
        measured, error = run_job(self._execute, job, self._context)
        self._current = None  # not reached on Ctrl-C: the job stays in flight and its claim is released
        self._done.append(Finished(job, measured, error))

    def collect(self, block: bool) -> list[Finished]:
        done, self._done = self._done, []
        return done

    def in_flight(self) -> list[Job]:
        return [self._current] if self._current is not None else []


class LocalExecutor:
    """The default: this process measures every point with the meters of this machine."""

    name = "local"

    @contextmanager
    def session(self, execute: PointFn, settings: WorkerSettings, observer: SweepObserver,
                cache: dict[str, Any]) -> Iterator[LocalSession]:
        with settings.open_source(settings.meters) as monitor:
            yield LocalSession(monitor, execute, settings, observer, cache)

    def close(self) -> None:
        return None


#: retries of a point whose (remote) worker died, before it is stored failed
DEFAULT_RETRIES = 2
