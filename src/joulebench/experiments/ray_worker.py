"""What runs on the nodes of a Ray cluster for `experiments.ray_executor`: the point worker and the
relay that carries its progress to the driver's view.

A worker opens its meters on the node the first time it is given a point (so that meters that cannot
open fail that point with the reason instead of the worker), takes a `SweepContext` per run (cold idle
baseline then; the warm one, the models and the other cached objects kept across runs, as a local
command keeps them across its sweeps), and returns each point's `Measurement` with its node document.
Nothing here writes to the store: the driver does.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from joulebench.experiments.executors import Job, WorkerSettings, open_context, run_job
from joulebench.experiments.sweep_values import NullObserver, PointFn, failure_reason

#: the shortest gap between two progress messages a worker sends (the callback runs inside windows)
RELAY_PERIOD_S = 0.25


class _Baselines:
    """A worker's `BaselineSink`: baselines kept by run, sent back with each point."""

    def __init__(self) -> None:
        self.by_run: dict[int, dict[str, Any]] = {}

    def set_baseline(self, run_id: int, baseline: Mapping[str, Any]) -> None:
        self.by_run[run_id] = dict(baseline)


class ProgressRelay:
    """A Ray actor holding progress messages of the workers until the driver takes them.
    Hand-written: `ray.util.queue.Queue.put` waits for the queue's answer, which a worker cannot afford
    inside a measured window; here a worker posts and moves on."""

    def __init__(self) -> None:
        self._items: list[tuple[str, int, float, float | None]] = []

    def post(self, item: tuple[str, int, float, float | None]) -> None:
        self._items.append(item)

    def take(self) -> list[tuple[str, int, float, float | None]]:
        items, self._items = self._items, []
        return items


class _RelayObserver(NullObserver):
    """The worker side of the progress view: repetitions (with the GPU's watts) to the relay, throttled."""

    def __init__(self, relay: Any, monitor: Any) -> None:
        self._relay, self._monitor, self._last_s = relay, monitor, 0.0

    def repetition(self, phase: str, index: int, latency_s: float) -> None:
        now = time.monotonic()
        if self._relay is None or now - self._last_s < RELAY_PERIOD_S:
            return
        self._last_s = now
        read = getattr(self._monitor, "latest_gpu_power_w", None)
        self._relay.post.remote((phase, index, latency_s, read() if callable(read) else None))


class PointWorker:
    """A Ray actor measuring points on its node with its own meters (see the module docstring)."""

    def __init__(self, settings: WorkerSettings, relay: Any) -> None:
        self._settings, self._relay = settings, relay
        self._stack: Any = None
        self._monitor: Any = None
        self._env: dict[str, Any] = {}
        self._cache: dict[str, Any] = {}
        self._baselines = _Baselines()
        self._context: Any = None

    def _open(self) -> None:
        from contextlib import ExitStack

        from joulebench.environment import capture

        stack = ExitStack()
        self._monitor = stack.enter_context(self._settings.open_source(self._settings.meters))
        self._stack = stack
        self._env = capture(self._monitor if hasattr(self._monitor, "meters") else None)

    def run(self, execute: PointFn, job: Job) -> tuple[Any, str | None, dict[str, Any]]:
        """(Measurement or None, failure reason or None, node document) for one job of ``execute``."""
        import ray

        runtime = ray.get_runtime_context()
        node: dict[str, Any] = {"node_id": runtime.get_node_id(), "worker_pid": os.getpid(), "attempt": job.attempt,
                                "gpu_ids": [str(g) for g in runtime.get_accelerator_ids().get("GPU", [])],
                                "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
        try:
            if self._monitor is None:
                self._open()
            if self._context is None or self._context.run_id != job.run_id:
                self._context = open_context(self._monitor, job.run_id, self._baselines,
                                             _RelayObserver(self._relay, self._monitor), self._cache, self._settings)
        except Exception as exc:  # noqa: BLE001 - meters that cannot open fail this point, with the reason
            return None, failure_reason(exc), node | {"host": self._env.get("host")}
        measured, error = run_job(execute, job, self._context)
        node |= {"host": self._env.get("host"), "env": self._env, "baseline": self._baselines.by_run.get(job.run_id)}
        return measured, error, node

    def close(self) -> None:
        for value in self._cache.values():  # loaded models (`KeyedCache`) free their device memory
            clear = getattr(value, "clear", None)
            if callable(clear):
                clear()
        if self._stack is not None:
            self._stack.close()
            self._stack = self._monitor = None
