"""The energy monitor: opens the meters this machine offers, samples them on a background thread, and
answers "how many joules did each component use between t0 and t1?".

Time everywhere is ``time.perf_counter()`` seconds, so workloads stamp their phases with the same
clock the sampler uses. GPU counters are polled by a child process (`nvml_process`) every 50 ms by default,
and every 5 ms (20 polls per NVML tick, placing each counter update within 2.5 ms) while a short
phase is repeated (`fast_polling`): an NVML query costs milliseconds of CPU on a VM, and polling every
5 ms slowed a launch-bound decode loop by ~7% on our H200 host while 50 ms cost nothing measurable; instant GPU power
is read every ``power_period_s`` for plots. A thread integrates the CPU/RAM estimates and reads RAPL
every 20 ms. benchmarks/meter_overhead.py measures the cost to the workload.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from joulebench.errors import TelemetryUnavailable
from joulebench.meters.base import COMPONENTS, Meter, Reading
from joulebench.meters.estimates import CpuEstimateMeter, RamEstimateMeter
from joulebench.meters.nvml import GpuState, NvmlEnergyMeter, open_gpu_meters
from joulebench.meters.nvml_process import NvmlProcessSampler
from joulebench.meters.rapl import RaplMeter, find_rapl_domains
from joulebench.meters.trace import AlignedEstimate, EnergyTrace, aligned_energy_per_rep

#: GPU counter polling: slow by default (no measurable cost to the workload), fast for short windows
SLOW_POLL_S = 0.05
FAST_POLL_S = 0.005


@dataclass(frozen=True)
class MonitorConfig:
    """Which components to meter. ``gpus=None`` means every visible GPU; ``[]`` means none."""

    gpus: Sequence[int] | None = None
    require_gpu: bool = False
    cpu: bool = True
    ram: bool = True
    #: GPU counter polling period. None = 50 ms, which measurably costs a launch-bound workload
    #: nothing (+0.4%, CI -0.6..+2.2%, H200), while 5 ms slowed it by ~7%; `fast_polling` switches to
    #: 5 ms for the short repeated phases whose windows need edges placed to a few ms.
    sample_period_s: float | None = None
    power_period_s: float = 0.1
    #: poll NVML from a child process (see meters/nvml_process.py); False keeps it on the thread
    gpu_process: bool = True


@dataclass
class PowerTrace:
    """Instant GPU power samples (for plots and the live display)."""

    t_s: list[float] = field(default_factory=list)
    power_w: list[float] = field(default_factory=list)


class EnergyMonitor:
    """Owns the meters and their traces for the lifetime of a run."""

    def __init__(self, meters: list[Meter], gpu_states: list[GpuState], config: MonitorConfig) -> None:
        self.meters = meters
        self.gpu_states = gpu_states
        self.config = config
        self.traces: list[EnergyTrace] = [EnergyTrace(continuous=m.update_period_s == 0.0) for m in meters]
        self.power: dict[str, PowerTrace] = {m.device: PowerTrace() for m in meters if m.component == "gpu"}
        ticking = any(m.update_period_s >= 0.05 for m in meters)
        self.sample_period_s = config.sample_period_s or (SLOW_POLL_S if ticking else 0.02)
        #: the period at which GPU counters are polled (by the child process or the thread)
        self.gpu_sample_period_s = self.sample_period_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._read_lock = threading.Lock()  # estimate meters integrate state: one reader at a time
        #: CPU seconds the sampler thread used, and its wall time: its cost to the workload's host
        self.sampler_cpu_s = 0.0
        self.sampler_wall_s = 0.0
        self.samples = 0
        self._gpu_process: NvmlProcessSampler | None = None
        #: meters the thread polls (all of them unless a child process polls the GPUs)
        self._thread_meters = list(range(len(meters)))

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def open(cls, config: MonitorConfig | None = None) -> EnergyMonitor:
        config = config or MonitorConfig()
        meters: list[Meter] = []
        states: list[GpuState] = []
        if config.gpus is None or len(config.gpus) > 0:
            try:
                gpu_meters, states = open_gpu_meters(None if config.gpus is None else list(config.gpus))
                meters.extend(gpu_meters)
            except TelemetryUnavailable:
                if config.require_gpu or (config.gpus is not None and len(config.gpus) > 0):
                    raise
        if config.cpu or config.ram:
            rapl = find_rapl_domains()
            rapl_components = {d.component for d in rapl}
            if config.cpu:
                if "cpu" in rapl_components:
                    meters.extend(RaplMeter(d) for d in rapl if d.component == "cpu")
                else:
                    meters.append(CpuEstimateMeter())
            if config.ram:
                if "ram" in rapl_components:
                    meters.extend(RaplMeter(d) for d in rapl if d.component == "ram")
                else:
                    meters.append(RamEstimateMeter())
        return cls(meters, states, config)

    @contextmanager
    def fast_polling(self, period_s: float = FAST_POLL_S) -> Iterator[None]:
        """Poll the GPU counters every ``period_s`` inside the block (short windows), then go back."""
        previous = self.gpu_sample_period_s
        self._set_gpu_period(min(period_s, previous))
        try:
            yield
        finally:
            self._set_gpu_period(previous)

    def _set_gpu_period(self, period_s: float) -> None:
        self.gpu_sample_period_s = period_s
        if self._gpu_process is not None:
            self._gpu_process.set_period(period_s)
        elif any(isinstance(m, NvmlEnergyMeter) for m in self.meters):
            self.sample_period_s = period_s

    # -- sampling -----------------------------------------------------------------------------
    def _sample_once(self, now_s: float) -> None:
        with self._read_lock:
            for i in self._thread_meters:
                self.traces[i].append(now_s, self.meters[i].read_energy_j(now_s))

    def refresh(self) -> None:
        """Copy the rows the GPU child process wrote since the last call into the traces."""
        if self._gpu_process is None:
            return
        t, energy, power = self._gpu_process.new_rows()
        gpu_indices = [i for i, m in enumerate(self.meters) if isinstance(m, NvmlEnergyMeter)]
        for row, i in enumerate(gpu_indices):
            self.traces[i].extend(t, energy[row])
            has_power = ~np.isnan(power[row])
            trace = self.power[self.meters[i].device]
            trace.t_s.extend(t[has_power].tolist())
            trace.power_w.extend(power[row][has_power].tolist())

    def _run(self) -> None:
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        try:
            self._loop()
        finally:
            self.sampler_cpu_s += time.thread_time() - cpu0
            self.sampler_wall_s += time.perf_counter() - wall0

    def _loop(self) -> None:
        period = self.sample_period_s
        next_power = 0.0
        while not self._stop.is_set():
            self.samples += 1
            now = time.perf_counter()
            self._sample_once(now)
            if now >= next_power and self._gpu_process is None:
                for meter in self.meters:
                    if isinstance(meter, NvmlEnergyMeter):
                        p = meter.power_w()
                        if p is not None:
                            trace = self.power[meter.device]
                            trace.t_s.append(now)
                            trace.power_w.append(p)
                next_power = now + self.config.power_period_s
            self._stop.wait(max(0.0, period - (time.perf_counter() - now)))

    def start(self) -> EnergyMonitor:
        gpu_meters = [m for m in self.meters if isinstance(m, NvmlEnergyMeter)]
        if self._thread is None and gpu_meters and self.config.gpu_process and self._gpu_process is None:
            sampler = NvmlProcessSampler([m.device for m in gpu_meters], self.gpu_sample_period_s,
                                         self.config.power_period_s)
            if sampler.start():
                self._gpu_process = sampler
                self._thread_meters = [i for i, m in enumerate(self.meters) if not isinstance(m, NvmlEnergyMeter)]
                # the thread now only integrates estimates and reads RAPL: it need not wake often
                self.sample_period_s = max(self.sample_period_s, 0.02)
        if self._thread is None:
            self._sample_once(time.perf_counter())
            self._thread = threading.Thread(target=self._run, name="joulebench-sampler", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self._sample_once(time.perf_counter())
        if self._gpu_process is not None:
            self.refresh()
            self._gpu_process.close()
            self.refresh()
            self._gpu_process = None

    def close(self) -> None:
        self.stop()
        for meter in self.meters:
            meter.close()

    def __enter__(self) -> EnergyMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- queries ------------------------------------------------------------------------------
    @property
    def components(self) -> list[str]:
        return [c for c in COMPONENTS if any(m.component == c for m in self.meters)]

    def _group(self, component: str) -> list[tuple[Meter, EnergyTrace]]:
        return [(m, t) for m, t in zip(self.meters, self.traces, strict=True) if m.component == component]

    def wait_for_update(self, after_s: float, timeout_s: float = 0.5) -> None:
        """Block until every counter-type trace shows an update later than ``after_s`` (so that an
        interval ending at ``after_s`` is bracketed by edges)."""
        deadline = time.perf_counter() + timeout_s
        for meter, trace in zip(self.meters, self.traces, strict=True):
            if meter.update_period_s <= 0.0:
                continue
            while time.perf_counter() < deadline:
                self.refresh()
                edges = trace.edges()
                if len(edges) and edges.t_s[-1] > after_s:
                    break
                time.sleep(self.sample_period_s)

    def energy_between(self, t0_s: float, t1_s: float) -> dict[str, Reading]:
        """Energy per component between two perf_counter times, interpolated between counter edges."""
        self.refresh()
        out: dict[str, Reading] = {}
        for component in self.components:
            group = self._group(component)
            energy = sum(trace.energy_between(t0_s, t1_s) for _, trace in group)
            out[component] = _reading(component, group, energy, t1_s - t0_s)
        return out

    def per_rep(self, spans: np.ndarray) -> dict[str, tuple[Reading, AlignedEstimate]]:
        """Edge-aligned energy per repetition for each component, from (begin, end) spans."""
        self.refresh()
        out: dict[str, tuple[Reading, AlignedEstimate]] = {}
        mean_s = float(np.mean(spans[:, 1] - spans[:, 0]))
        for component in self.components:
            group = self._group(component)
            estimates = [aligned_energy_per_rep(trace, spans) for _, trace in group]
            energy = sum(e.energy_per_rep_j for e in estimates)
            ci = float(np.sqrt(sum(e.ci95_j**2 for e in estimates)))
            merged = AlignedEstimate(
                energy, ci, min(e.blocks for e in estimates), min(e.aligned_s for e in estimates),
                min(e.reps_covered for e in estimates),
                "aligned" if all(e.method == "aligned" for e in estimates) else "interpolated",
            )
            out[component] = (_reading(component, group, energy, mean_s), merged)
        return out

    def idle_power_w(self, duration_s: float = 1.0) -> dict[str, float]:
        """Average power per component over ``duration_s`` of doing nothing (the idle baseline)."""
        with self.fast_polling():  # nothing runs to be disturbed, and edges need placing
            self.wait_for_update(time.perf_counter())
            t0 = time.perf_counter()
            time.sleep(duration_s)
            t1 = time.perf_counter()
            self.wait_for_update(t1)
        out: dict[str, float] = {}
        for component in self.components:
            group = self._group(component)
            spans = np.array([[t0, t1]])
            energy = sum(aligned_energy_per_rep(trace, spans).energy_per_rep_j for _, trace in group)
            out[component] = energy / (t1 - t0)
        return out

    def read_now_j(self) -> dict[str, float]:
        """Raw cumulative reading per component now (what a naive start/stop meter would use)."""
        totals: dict[str, float] = {c: 0.0 for c in self.components}
        with self._read_lock:
            now = time.perf_counter()
            for i, (meter, trace) in enumerate(zip(self.meters, self.traces, strict=True)):
                energy = meter.read_energy_j(now)
                if i in self._thread_meters:  # the child process owns the GPU traces' ordering
                    trace.append(now, energy)
                totals[meter.component] += energy
        return totals

    def gpu_sm_clock_mhz(self) -> float | None:
        """Mean SM clock of the metered GPUs now (one NVML query each); None without GPU meters."""
        clocks = [c for m in self.meters if isinstance(m, NvmlEnergyMeter) and (c := m.sm_clock_mhz()) is not None]
        return float(np.mean(clocks)) if clocks else None

    def latest_gpu_power_w(self) -> float | None:
        self.refresh()
        values = [trace.power_w[-1] for trace in self.power.values() if trace.power_w]
        return sum(values) if values else None


def _reading(component: str, group: list[tuple[Meter, EnergyTrace]], energy_j: float, duration_s: float) -> Reading:
    sources = sorted({m.source for m, _ in group})
    return Reading(
        component=component,
        energy_j=float(energy_j),
        duration_s=float(duration_s),
        source="+".join(sources),
        estimated=any(m.estimated for m, _ in group),
        devices=tuple(m.device for m, _ in group),
    )
