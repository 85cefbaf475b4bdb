"""The one sweep driver: every plan (LLM, video, serving arms, calibration, studies) runs through here.

Order of work, and why:

1. the plan's points are built and validated by the caller before this runs (bad input exits 2 with
   nothing written) - the driver trusts them;
2. the store is opened (ownership and schema checked) and the meters are opened;
3. the run is recorded with its environment, and the **cold** idle baseline is measured;
4. each point: skipped when stored ``ok``; claimed atomically (another sweep on the same database skips
   it); run by the kind's point function under the open meters - here, or on a worker of another
   executor (`experiments.executors`: ``local`` or ``ray``; the driver alone writes to the store);
   stored in one transaction with its rows and records. A point whose own checks failed is stored
   *failed* with its data (a resume runs it again); an exception (out of memory included) is stored
   failed with its reason and the sweep goes on; Ctrl-C releases the claims of the points in flight and
   propagates (exit 130), every finished point kept;
5. the **warm** idle baseline is measured once, when the first point asks for it after its warm-ups
   (the card idles ~40 W higher right after work than cold), so "above idle" uses the warm figure.

The driver owns no presentation: a `SweepObserver` (the rich progress bar with live watts, or nothing)
hears about points and repetitions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joulebench.errors import EXIT_CHECK_FAILED, EXIT_OK
from joulebench.experiments.executors import Executor, ExecutorSession, Finished, Job, LocalExecutor, WorkerSettings
from joulebench.experiments.sweep_values import (
    IDLE_BASELINE_S,
    WARM_SETTLE_S,
    MeterSpec,
    NullObserver,
    PointFn,
    PointOutcome,
    SourceOpener,
    SweepObserver,
)
from joulebench.interrupts import raise_if_interrupted
from joulebench.store import Store
from joulebench.values import Point, key_of


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


@contextmanager
def open_monitor(meters: MeterSpec) -> Iterator[Any]:
    """The local energy monitor: NVML for the selected GPUs when on CUDA, RAPL or estimates for CPU/RAM."""
    from joulebench.meters.monitor import EnergyMonitor, MonitorConfig

    config = MonitorConfig(gpus=(list(meters.gpus) if meters.gpus is not None else None) if meters.uses_gpu else [],
                           require_gpu=meters.uses_gpu)
    with EnergyMonitor.open(config) as monitor:
        yield monitor


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
    executor: Executor | None = None,
) -> SweepResult:
    """Run validated ``points`` of one ``kind`` into the database ``db`` (see the module docstring).

    ``cache`` lets several sweeps of one command share a loaded model; ``store`` an open database;
    ``executor`` runs the points elsewhere (default: here, `LocalExecutor`)."""
    watcher = observer or NullObserver()
    chosen = executor if executor is not None else LocalExecutor()
    settings = WorkerSettings(meters, open_source, idle_s, warm_settle_s if meters.uses_gpu else 0.0)
    owns_store = store is None
    opened = store if store is not None else Store(db)
    try:
        with chosen.session(execute, settings, watcher, cache if cache is not None else {}) as session:
            run_id = opened.begin_run(kind, command, plan, session.environment())
            session.begin(run_id, opened)
            result = SweepResult(run_id, str(db))
            watcher.sweep_started(len(points), session.monitor)
            _drive(points, session, opened, run_id, watcher, result)
            return result
    finally:
        if owns_store:
            opened.close()


def _drive(points: Sequence[Point], session: ExecutorSession, store: Store, run_id: int, watcher: SweepObserver,
           result: SweepResult) -> None:
    """Admit points one by one while the executor has room, store each finished one as it comes back;
    outcomes in plan order. Any exit before the end (Ctrl-C included) releases the in-flight claims."""
    finished: list[tuple[int, PointOutcome]] = []

    def settle(done: Sequence[Finished]) -> None:
        for item in done:
            raise_if_interrupted()  # a Ctrl-C some library swallowed, or that failed this point: store nothing
            outcome = _store_finished(item, store, run_id)
            finished.append((item.job.index, outcome))
            watcher.point_finished(item.job.index, outcome)

    try:
        for index, point in enumerate(points):
            while not session.has_slot():
                settle(session.collect(block=True))
            key = key_of(point)
            early = _admit(point, key, store, run_id)
            if early is not None:
                finished.append((index, early))
                watcher.point_finished(index, early)
                continue
            try:  # claimed now: a stop before the job is in flight (Ctrl-C, an observer's budget) frees it
                watcher.point_started(index, point)
                session.submit(Job(index, point, key, run_id))
            except BaseException:
                store.release(key)
                raise
            settle(session.collect(block=False))
        while session.in_flight():
            settle(session.collect(block=True))
    except BaseException:
        for job in session.in_flight():
            store.release(job.key)
        raise
    result.outcomes += [outcome for _, outcome in sorted(finished, key=lambda pair: pair[0])]


def _admit(point: Point, key: str, store: Store, run_id: int) -> PointOutcome | None:
    """None when the point is to be measured (claimed now), else why not: stored already, or claimed."""
    if store.has_point(key):
        stored = store.point_by_key(key)
        return PointOutcome(point, "skipped", stored.id if stored else None, stored.summary if stored else {})
    if not store.claim(key, run_id):
        return PointOutcome(point, "claimed", error="another sweep is measuring this point")
    return None


def _store_finished(item: Finished, store: Store, run_id: int) -> PointOutcome:
    """One transaction per point: a failure with its reason, or the measurement (failed when its own
    checks failed); a remote worker's environment goes into the summary as ``node``."""
    point, key, config = item.job.point, item.job.key, item.job.point.to_dict()
    node = {"node": dict(item.node)} if item.node is not None else {}
    if item.measured is None:
        reason = (item.error or "no measurement came back")[:2000]
        point_id = store.save_point(run_id, point.kind, config, node, status="failed", error=reason, key=key)
        return PointOutcome(point, "failed", point_id, {}, reason)
    measured = item.measured
    failures = list(measured.check_failures)
    status = "failed" if failures else "ok"
    error = "; ".join(failures)[:2000] if failures else None
    summary = dict(measured.summary) | ({"check_failures": failures} if failures else {}) | node
    point_id = store.save_point(run_id, point.kind, config, summary, measured.measurements,
                                measured.records, status=status, error=error, key=key)
    return PointOutcome(point, "failed" if failures else "done", point_id, summary, error)
