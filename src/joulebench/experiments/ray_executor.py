"""Points on a Ray cluster: one worker actor per GPU (or per node for CPU points), results to the driver.

Why actors and not one Ray task per point: a worker keeps its meters open on its GPU, measures its idle
baselines as a local sweep does (cold at the start of each run, warm once after the first warm-ups) and
keeps the loaded model across points. A task per point would re-open NVML, re-measure ~3 s of idle
and reload the model for every point, and its figures would follow another protocol than local ones.

Slots (`plan_slots`): a CUDA point gets one GPU (``num_gpus=1``, optionally ``accelerator_type``: the
``--gpu-type`` constraint, which Ray derives from the GPU name, e.g. ``H200``) and its node's cores
shared out by GPU, one worker per matching GPU of every alive node; a CPU point gets a whole node, one
worker per node, because CPU and RAM meters read the whole host. Each worker is pinned to its node, so
that a node's workers are known (several on one node are flagged: their CPU/RAM readings are
host-wide). On CPU-only test clusters the CPU points of the real workloads are scheduled by the same
code; ``worker_resources`` overrides the request (e.g. GPUs declared as a custom resource).

The driver alone writes to the store: a worker returns its `Measurement` and its node's environment
(`environment.capture`, baselines, GPU ids, attempt), stored as ``summary["node"]``. A worker that dies
mid-point (killed, node lost) is replaced and its point retried up to ``retries`` times, then stored
failed with the reason; an exception of the point itself is stored failed at once, as locally.
Repetitions and live watts reach the driver's progress view through a small relay actor, at most a few
times a second (the callback runs inside measured windows and must stay cheap).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from joulebench.errors import UsageError
from joulebench.experiments.executors import DEFAULT_RETRIES, Finished, Job, WorkerSettings
from joulebench.experiments.ray_worker import PointWorker, ProgressRelay
from joulebench.experiments.sweep_values import PointFn, SweepObserver

_WAIT_S = 0.2


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError.bad("executor", "ray", "needs the ray package: pip install 'joulebench[ray]'") from None
    return ray


def probe_gcs(address: str | None, timeout_s: float = 5.0) -> None:
    """Refuse a ``host:port`` where nothing listens, at once: ``ray.init`` would wait on it for minutes
    (seen with ray 2.60: still waiting after 5 min). ``auto`` and ``ray://`` addresses are Ray's to check."""
    if not address or address in ("auto", "local") or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError.bad("ray_address", address, "give host:port (the head's GCS port, 6379 by default), "
                             "auto, or ray://host:port")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except (OSError, OverflowError) as exc:
        raise UsageError.bad("ray_address", address, f"nothing answers there ({exc}); is the Ray head "
                             "running (ray start --head)?") from None


@dataclass(frozen=True)
class Slot:
    """One worker to start: the node it is pinned to and the resources it asks for."""

    node_id: str
    options: Mapping[str, Any]


def worker_options(uses_gpu: bool, gpu_type: str | None, cpus: int = 1) -> dict[str, Any]:
    """What one worker asks Ray for: a GPU (of ``gpu_type``) for CUDA points, and ``cpus`` CPUs - Ray
    sets a worker's OMP_NUM_THREADS to its CPUs, so a worker given one CPU would run torch's host work
    on one thread where a local run uses every core."""
    options: dict[str, Any] = {"num_cpus": max(1, cpus)}
    if uses_gpu:
        options["num_gpus"] = 1
        if gpu_type:
            options["accelerator_type"] = gpu_type
    return options


def gpu_types(nodes: Sequence[Mapping[str, Any]]) -> list[str]:
    """The accelerator types the alive nodes advertise (``accelerator_type:H200`` -> ``H200``)."""
    found = {name.split(":", 1)[1] for node in nodes if node.get("Alive")
             for name in (node.get("Resources") or {}) if name.startswith("accelerator_type:")}
    return sorted(found)


def plan_slots(nodes: Sequence[Mapping[str, Any]], uses_gpu: bool, gpu_type: str | None = None,
               workers: int | None = None, worker_resources: Mapping[str, Any] | None = None) -> list[Slot]:
    """The workers a sweep starts on the cluster described by ``ray.nodes()`` (see the module docstring)."""
    slots: list[Slot] = []
    for node in nodes:
        if not node.get("Alive"):
            continue
        resources = node.get("Resources") or {}
        node_id = str(node["NodeID"])
        cpus, gpus = int(resources.get("CPU", 0)), int(resources.get("GPU", 0))
        if worker_resources is not None:
            slots.append(Slot(node_id, dict(worker_resources)))
        elif not uses_gpu:
            if cpus >= 1:
                slots.append(Slot(node_id, worker_options(False, None, cpus)))  # the whole host, as locally
        elif gpus and cpus >= gpus and (gpu_type is None or f"accelerator_type:{gpu_type}" in resources):
            slots += [Slot(node_id, worker_options(True, gpu_type, cpus // gpus))] * gpus  # a fair share of cores
    return slots[:workers] if workers is not None else slots


class _RelayedPower:
    """What the progress view reads live watts from: the last figure a worker sent."""

    def __init__(self) -> None:
        self.power_w: float | None = None

    def latest_gpu_power_w(self) -> float | None:
        return self.power_w


#: a worker process or its node went away: the point is retried on a fresh worker
def _lost_errors(ray: Any) -> tuple[type[BaseException], ...]:
    x = ray.exceptions
    return tuple(getattr(x, n) for n in ("RayActorError", "WorkerCrashedError", "NodeDiedError", "ObjectLostError",
                                         "OwnerDiedError") if hasattr(x, n))


class _Pool:
    """The workers of one `WorkerSettings` (meters, baselines), by slot; a dead worker is replaced in its slot."""

    def __init__(self, ray: Any, settings: WorkerSettings, slots: list[Slot], relay: Any) -> None:
        self._ray, self._settings, self._relay = ray, settings, relay
        self.slots = slots
        self.actors: list[Any] = [self._spawn(slot) for slot in slots]
        self.free: list[int] = list(range(len(slots)))

    def _spawn(self, slot: Slot) -> Any:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        remote = self._ray.remote(PointWorker).options(
            **slot.options, max_restarts=0, max_task_retries=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(slot.node_id, soft=False))
        return remote.remote(self._settings, self._relay)

    def workers_on(self, node_id: str) -> int:
        return sum(1 for slot, actor in zip(self.slots, self.actors, strict=True)
                   if actor is not None and slot.node_id == node_id)

    def replace(self, index: int) -> bool:
        """Kill the worker of slot ``index`` and start another when its node is alive; else drop the slot."""
        self._ray.kill(self.actors[index], no_restart=True)
        alive = {str(n["NodeID"]) for n in self._ray.nodes() if n.get("Alive")}
        self.actors[index] = self._spawn(self.slots[index]) if self.slots[index].node_id in alive else None
        return self.actors[index] is not None

    def close(self, graceful: bool = True) -> None:
        """Close the workers' meters and models, then end them; ``graceful=False`` ends them at once (a
        worker still measuring an abandoned point would otherwise be waited for)."""
        live = [a for a in self.actors if a is not None]
        if graceful:
            try:
                self._ray.get([a.close.remote() for a in live], timeout=30)
            except Exception:  # noqa: BLE001 - a worker that cannot close cleanly is ended all the same
                pass
        for actor in live:
            self._ray.kill(actor, no_restart=True)
        self.actors = []
        self.free = []


class RaySession:
    """One sweep on the pool: hand out jobs to free workers, take results, retry lost workers' points."""

    def __init__(self, ray: Any, pool: _Pool, execute: PointFn, relay: Any, observer: SweepObserver, retries: int,
                 executor_doc: Mapping[str, Any]) -> None:
        self.monitor = _RelayedPower()
        self._ray, self._pool, self._relay, self._observer, self._retries = ray, pool, relay, observer, retries
        self._execute = execute
        self._doc = dict(executor_doc)
        self._running: dict[Any, tuple[Job, int]] = {}
        self._retry: list[Job] = []  # points of lost workers, waiting for a free one
        self._baselines: dict[str, dict[str, Any]] = {}
        self._store: Any = None
        self._run_id = 0

    def environment(self) -> dict[str, Any]:
        from joulebench.environment import capture

        return capture(None) | {"executor": self._doc}

    def begin(self, run_id: int, store: Any) -> None:
        self._store, self._run_id = store, run_id

    def has_slot(self) -> bool:
        return bool(self._pool.free) and not self._retry

    def submit(self, job: Job) -> None:
        index = self._pool.free.pop(0)
        self._running[self._pool.actors[index].run.remote(self._execute, job)] = (job, index)

    def in_flight(self) -> list[Job]:
        return [job for job, _ in self._running.values()] + self._retry

    def collect(self, block: bool) -> list[Finished]:
        out: list[Finished] = []
        while True:
            self._relay_progress()
            while self._retry and self._pool.free:
                self.submit(self._retry.pop(0))
            if self._retry and not self._running and not any(a is not None for a in self._pool.actors):
                out += [Finished(job, None, "worker lost and no worker left on the cluster") for job in self._retry]
                self._retry = []
            if not self._running:
                return out
            ready, _ = self._ray.wait(list(self._running), num_returns=1, timeout=_WAIT_S if block else 0)
            for ref in ready:
                out += self._finish(ref)
            if out or not block:
                return out

    def _relay_progress(self) -> None:
        try:
            items = self._ray.get(self._relay.take.remote(), timeout=10)
        except self._ray.exceptions.RayError:  # the progress view goes quiet; the sweep goes on
            return
        for phase, index, latency_s, power_w in items:
            self.monitor.power_w = power_w
            self._observer.repetition(phase, index, latency_s)

    def _finish(self, ref: Any) -> list[Finished]:
        job, index = self._running.pop(ref)
        try:
            measured, error, node = self._ray.get(ref)
        except _lost_errors(self._ray) as exc:
            if self._pool.replace(index):
                self._pool.free.append(index)
            if job.attempt <= self._retries:
                self._retry.append(replace(job, attempt=job.attempt + 1))
                return []
            reason = f"worker lost ({type(exc).__name__}: {' '.join(str(exc).split())[:300]})"
            return [Finished(job, None, f"{reason}; gave up after {job.attempt} attempt(s)")]
        except self._ray.exceptions.RayError as exc:  # Ray could not run or return the job (unpicklable result)
            self._pool.free.append(index)
            return [Finished(job, None, f"{type(exc).__name__}: {exc}"[:2000])]
        self._pool.free.append(index)
        node["workers_on_node"] = self._pool.workers_on(node["node_id"])
        self._record_baseline(f"{node.get('host')}:{node['worker_pid']}", node.get("baseline"))
        if measured is not None and node["workers_on_node"] > 1 and isinstance(measured.summary.get("flags"), list):
            flags = [*measured.summary["flags"], "cpu_ram_host_wide"]  # other workers ran on this host meanwhile
            measured = replace(measured, summary=dict(measured.summary) | {"flags": flags})
        return [Finished(job, measured, error, node)]

    def _record_baseline(self, worker: str, baseline: Mapping[str, Any] | None) -> None:
        """The run's baselines as stored: the first worker's figures on top (what readers of a local run
        find), every worker's under ``workers``."""
        if not baseline or self._baselines.get(worker) == baseline:
            return
        self._baselines[worker] = dict(baseline)
        first = next(iter(self._baselines.values()))
        self._store.set_baseline(self._run_id, dict(first) | {"workers": dict(self._baselines)})


class RayExecutor:
    """Runs sweeps on the Ray cluster at ``address`` (None: ``RAY_ADDRESS`` or a new local one)."""

    name = "ray"

    def __init__(self, address: str | None = None, gpu_type: str | None = None, retries: int = DEFAULT_RETRIES,
                 workers: int | None = None, worker_resources: Mapping[str, Any] | None = None) -> None:
        if retries < 0:
            raise UsageError.bad("ray_retries", retries, "must be 0 or more")
        if workers is not None and workers < 1:
            raise UsageError.bad("workers", workers, "must be 1 or more")
        self.address, self.gpu_type, self.retries = address, gpu_type, retries
        self.workers, self.worker_resources = workers, worker_resources
        self._ray: Any = None
        self._owns = False
        self._relay: Any = None
        self._pool: _Pool | None = None
        self._pool_settings: WorkerSettings | None = None

    def connect(self) -> Any:
        """Connect once (start a local cluster when no address is given and none is running here)."""
        if self._ray is not None:
            return self._ray
        ray = import_ray()
        if not ray.is_initialized():
            probe_gcs(self.address or os.environ.get("RAY_ADDRESS"))
            try:
                ray.init(address=self.address, include_dashboard=False if self.address is None else None,
                         log_to_driver=False, logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UsageError.bad("ray_address", self.address or "(local)", f"no Ray cluster there: "
                                     f"{' '.join(str(exc).split())[:200]}") from None
            self._owns = True
        self._ray = ray
        return ray

    def slots(self, uses_gpu: bool) -> list[Slot]:
        """The workers this cluster gives a sweep; a `UsageError` (before any work) when there are none."""
        ray = self.connect()
        nodes = ray.nodes()
        slots = plan_slots(nodes, uses_gpu, self.gpu_type, self.workers, self.worker_resources)
        if not slots:
            field, value = ("gpu_type", self.gpu_type) if self.gpu_type else ("executor", "ray")
            what = f"GPU of type {self.gpu_type}" if self.gpu_type else "GPU" if uses_gpu else "CPU"
            types = ", ".join(gpu_types(nodes)) or "none"
            raise UsageError.bad(field, value, f"the Ray cluster has no {what} for a worker (GPU types there: {types})")
        return slots

    def check(self, uses_gpu: bool) -> None:
        """Validate the cluster against the plan before anything is measured or written."""
        self.slots(uses_gpu)

    @contextmanager
    def session(self, execute: PointFn, settings: WorkerSettings, observer: SweepObserver,
                cache: dict[str, Any]) -> Iterator[RaySession]:
        ray = self.connect()
        if self._pool is None or self._pool_settings != settings:  # workers (and their models) are kept
            self._drop_pool()
            if self._relay is None:
                self._relay = ray.remote(ProgressRelay).options(num_cpus=0).remote()
            self._pool = _Pool(ray, settings, self.slots(settings.meters.uses_gpu), self._relay)
            self._pool_settings = settings
        used = {slot.node_id for slot in self._pool.slots}
        doc = {"name": "ray", "address": self.address, "gpu_type": self.gpu_type, "retries": self.retries,
               "workers": len(self._pool.slots), "ray": ray.__version__,
               "nodes": [{"node_id": n["NodeID"], "host": n.get("NodeManagerHostname"), "resources": n.get("Resources")}
                         for n in ray.nodes() if n["NodeID"] in used]}
        try:
            yield RaySession(ray, self._pool, execute, self._relay, observer, self.retries, doc)
        except BaseException:
            self._drop_pool(graceful=False)  # workers still measuring an abandoned point are ended
            raise

    def _drop_pool(self, graceful: bool = True) -> None:
        if self._pool is not None:
            self._pool.close(graceful)
        self._pool, self._pool_settings = None, None

    def close(self) -> None:
        if self._ray is None:
            return
        self._drop_pool()
        if self._relay is not None:
            self._ray.kill(self._relay)
            self._relay = None
        if self._owns:
            self._ray.shutdown()
        self._ray, self._owns = None, False
