"""The energy monitor: opens the meters this machine offers, samples them in the background, and
answers "how many joules did each component use between t0 and t1, or over these spans?".

Time everywhere is ``time.perf_counter()`` seconds, so workloads stamp their phases with the same
clock the samplers use. For GPUs a child process (`nvml_process`) reads NVML's power-sample buffer
every 0.5 s, giving a ~20 ms power trace per GPU (`power_trace.PowerTrace`), and the energy counter
every 0.5 s, only to cross-check the trace (`checks`). Polling the counter every 5 ms slowed a
launch-bound decode by ~7% on our H200 host (3-4 ms of CPU per NVML query); reading the buffer costs
~0.7 ms per read, so the default meters cost ~4 NVML calls a second (benchmarks/meter_overhead.py and
scripts/measure_meter_fidelity.py measure what that costs the workload). Where the driver has no
sample buffer the counter is polled every 50 ms instead and windows use its edges, polled every 5 ms
inside short windows (`fast_polling`). A thread integrates the CPU/RAM estimates, reads RAPL and copies
the child's rows every second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from joulebench.errors import TelemetryUnavailable
from joulebench.meters.base import COMPONENTS, Meter
from joulebench.meters.estimates import CpuEstimateMeter, RamEstimateMeter
from joulebench.meters.gpu_sampling import GpuSampling
from joulebench.meters.nvml import GpuState, NvmlEnergyMeter, open_gpu_meters
from joulebench.meters.power_trace import PowerTrace, TraceCheck, TraceSlice, check_against_counter
from joulebench.meters.rapl import RaplMeter, find_rapl_domains
from joulebench.meters.spans import SpanEnergy, contiguous, span_energies, trace_aligned_per_rep
from joulebench.meters.trace import AlignedEstimate, EnergyTrace, aligned_energy_per_rep
from joulebench.values import Reading

#: GPU counter polling without a power trace: slow by default, fast for windows on counter edges
SLOW_POLL_S = 0.05
FAST_POLL_S = 0.005
#: with a power trace the counter only cross-checks it: twice a second is plenty
CHECK_POLL_S = 0.5
#: how often the power-sample buffer is read (it holds ~2.5 s on the H200)
SAMPLES_PERIOD_S = 0.5


@dataclass(frozen=True)
class MonitorConfig:
    """Which components to meter, and how. ``gpus=None`` means every visible GPU; ``[]`` means none."""

    gpus: Sequence[int] | None = None
    require_gpu: bool = False
    cpu: bool = True
    ram: bool = True
    #: GPU counter polling period; None = 0.5 s with a power trace, 50 ms without one
    counter_period_s: float | None = None
    #: read NVML's power-sample buffer (a ~20 ms trace) where the driver has one
    power_samples: bool = True
    samples_period_s: float = SAMPLES_PERIOD_S
    #: how power samples integrate ("trapezoid" | "previous") and the sensor lag subtracted from stamps
    trace_rule: str = "trapezoid"
    sample_lag_s: float = 0.0
    #: poll NVML from a child process (see meters/nvml_process.py); False keeps it on the thread
    gpu_process: bool = True
    #: "module:factory" of a stand-in for pynvml in the child process (CPU tests replaying recordings)
    nvml_module: str | None = None


class EnergyMonitor:
    """Owns the meters and their traces for the lifetime of a run."""

    def __init__(self, meters: list[Meter], gpu_states: list[GpuState], config: MonitorConfig) -> None:
        self.meters = meters
        self.gpu_states = gpu_states
        self.config = config
        self.traces: list[EnergyTrace] = [EnergyTrace(continuous=m.update_period_s == 0.0) for m in meters]
        #: the power trace of each GPU (empty until the sample buffer is read; stays empty without one)
        self.power: dict[str, PowerTrace] = {
            m.device: PowerTrace(m.device, config.trace_rule, config.sample_lag_s) for m in meters if m.component == "gpu"
        }
        self._gpu = [i for i, m in enumerate(meters) if isinstance(m, NvmlEnergyMeter)]
        self.gpu_sample_period_s = config.counter_period_s or SLOW_POLL_S
        #: the thread's own period: CPU/RAM estimates, RAPL and (without a child process) the GPU counters
        self.sample_period_s = self.gpu_sample_period_s if self._gpu else 0.02
        self._stop = threading.Event()
        self._paused = False
        self._thread: threading.Thread | None = None
        self._read_lock = threading.Lock()  # estimate meters integrate state: one reader at a time
        #: CPU seconds the sampler thread used, and its wall time: its cost to the workload's host
        self.sampler_cpu_s = 0.0
        self.sampler_wall_s = 0.0
        self.samples = 0
        self.gpu = GpuSampling([meters[i] for i in self._gpu], [self.traces[i] for i in self._gpu],  # type: ignore[misc]
                               [self.power[meters[i].device] for i in self._gpu])
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

    @property
    def has_trace(self) -> bool:
        """True when every metered GPU has a power trace from the sample buffer."""
        return self.gpu.trace_on

    # -- polling control ----------------------------------------------------------------------
    @contextmanager
    def fast_polling(self, period_s: float = FAST_POLL_S) -> Iterator[None]:
        """Poll the GPU counters every ``period_s`` inside the block (windows on counter edges)."""
        previous = self.gpu_sample_period_s
        self._set_gpu_period(min(period_s, previous))
        try:
            yield
        finally:
            self._set_gpu_period(previous)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No NVML calls and no sampler-thread work inside the block (the "no meter" arm of an overhead
        measurement; estimates integrate the paused time at their next read)."""
        self._paused = True
        self.gpu.pause(True)
        try:
            yield
        finally:
            self.gpu.pause(False)
            self._paused = False

    def _set_gpu_period(self, period_s: float) -> None:
        self.gpu_sample_period_s = period_s
        if self.gpu.process is not None:
            self.gpu.set_period(period_s)
        elif self._gpu:
            self.sample_period_s = period_s

    # -- sampling -----------------------------------------------------------------------------
    def _sample_once(self, now_s: float) -> None:
        with self._read_lock:
            for i in self._thread_meters:
                self.traces[i].append(now_s, self.meters[i].read_energy_j(now_s))

    def refresh(self) -> None:
        """Copy the counter rows and power samples the GPU child process wrote since the last call."""
        self.gpu.refresh()

    def flush(self) -> None:
        """Read the counters and the sample buffers now and copy them in (a window just ended)."""
        self.gpu.flush()

    def _run(self) -> None:
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        try:
            self._loop()
        finally:
            self.sampler_cpu_s += time.thread_time() - cpu0
            self.sampler_wall_s += time.perf_counter() - wall0

    def _loop(self) -> None:
        next_samples = next_refresh = 0.0
        while not self._stop.is_set():
            now = time.perf_counter()
            if self._paused:
                self._stop.wait(self.sample_period_s)
                continue
            self.samples += 1
            self._sample_once(now)
            if self.gpu.readers and now >= next_samples:
                self.gpu.read_here()
                next_samples = now + self.config.samples_period_s
            if self.gpu.process is not None and now >= next_refresh:
                self.refresh()  # keeps the child's rings from overflowing on long runs
                next_refresh = now + 1.0
            self._stop.wait(max(0.0, self.sample_period_s - (time.perf_counter() - now)))

    def start(self) -> EnergyMonitor:
        if self._thread is None and self.gpu.process is None:
            if self.gpu.start(self.config.gpu_process, self.gpu_sample_period_s, self.config.samples_period_s,
                              self.config.power_samples, self.config.nvml_module):
                self._thread_meters = [i for i in range(len(self.meters)) if i not in self._gpu]
                # the thread now only integrates estimates, reads RAPL and copies rows: it need not wake often
                self.sample_period_s = 0.1
            if self.gpu.trace_on and self.config.counter_period_s is None:
                self._set_gpu_period(CHECK_POLL_S)
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
        self.gpu.close()

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

    def _power_for(self, component: str) -> list[PowerTrace]:
        return [self.power[m.device] for m, _ in self._group(component)] if component == "gpu" and self.has_trace else []

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
                time.sleep(min(self.gpu_sample_period_s, 0.05))

    def wait_for_trace(self, after_s: float, timeout_s: float = 0.3) -> bool:
        """Block until every power trace holds a sample later than ``after_s`` (the driver samples every
        ~20 ms); False if one did not within ``timeout_s``."""
        if not self.has_trace:
            return True
        deadline = time.perf_counter() + timeout_s
        self.refresh()
        while not all(p.last_t_s() > after_s for p in self.power.values()):
            if time.perf_counter() > deadline:
                return False
            self.flush()
            if not all(p.last_t_s() > after_s for p in self.power.values()):
                time.sleep(0.01)
        return True

    def cumulative_j(self, times_s: np.ndarray) -> dict[str, np.ndarray]:
        """Energy per component from ``times_s[0]`` to each time (the trace for GPUs), vectorised."""
        times = np.asarray(times_s, dtype=float)
        self.wait_for_trace(float(np.max(times)))
        self.refresh()
        out: dict[str, np.ndarray] = {}
        for component in self.components:
            total = np.zeros_like(times)
            for p in self._power_for(component):
                total += p.energy_at(times)
            if not self._power_for(component) or not np.all(np.isfinite(total)):
                total = np.zeros_like(times)  # no trace, or times outside its samples: the counters throughout
                for _, trace in self._group(component):
                    edges = trace.edges()
                    if len(edges):
                        total += np.interp(times, edges.t_s, edges.energy_j)
            out[component] = total - total[0]
        return out

    def energy_between(self, t0_s: float, t1_s: float) -> dict[str, Reading]:
        """Energy per component between two perf_counter times (trace for GPUs, else counter edges)."""
        spans = self.energy_over_spans(np.array([[t0_s, t1_s]]))
        return {c: s.reading for c, s in spans.items()}

    def energy_over_spans(self, spans: np.ndarray) -> dict[str, SpanEnergy]:
        """Energy of each (begin, end) span per component, their mean and a 95% CI over the spans.

        Waits (at most 0.3 s) for the trace to pass the last end; a span the samples do not cover
        reads NaN (never an extrapolated figure)."""
        spans = np.asarray(spans, dtype=float).reshape(-1, 2)
        self.wait_for_trace(float(np.max(spans[:, 1])))
        self.refresh()
        out: dict[str, SpanEnergy] = {}
        for component in self.components:
            group = self._group(component)
            power = self._power_for(component)
            source = "nvml-samples" if power else "+".join(sorted({m.source for m, _ in group}))
            out[component] = span_energies(spans, component, power, [t for _, t in group], source,
                                           any(m.estimated for m, _ in group), tuple(m.device for m, _ in group))
        return out

    def per_rep(self, spans: np.ndarray, method: str = "auto") -> dict[str, tuple[Reading, AlignedEstimate]]:
        """Energy per repetition for each component from (begin, end) spans of a repeated phase.

        GPU: ``"trace"`` integrates the power trace (aligned inside back-to-back runs, per span
        otherwise), ``"counter"`` aligns on counter edges; ``"auto"`` takes the trace where there is one."""
        spans = np.asarray(spans, dtype=float).reshape(-1, 2)
        use_trace = self.has_trace and method in ("auto", "trace")
        if use_trace:
            self.wait_for_trace(float(np.max(spans[:, 1])))
        self.refresh()
        back_to_back = contiguous(spans)
        mean_s = float(np.mean(spans[:, 1] - spans[:, 0]))
        out: dict[str, tuple[Reading, AlignedEstimate]] = {}
        for component in self.components:
            group = self._group(component)
            power = self._power_for(component) if use_trace else []
            estimates = self._per_rep_estimates(spans, power, [t for _, t in group], back_to_back)
            energy = sum(e.energy_per_rep_j for e in estimates)
            ci = float(np.sqrt(sum(e.ci95_j**2 for e in estimates)))
            methods = {e.method for e in estimates}
            merged = AlignedEstimate(energy, ci, min(e.blocks for e in estimates), min(e.aligned_s for e in estimates),
                                     min(e.reps_covered for e in estimates), methods.pop() if len(methods) == 1 else "mixed")
            source = "nvml-samples" if power else "+".join(sorted({m.source for m, _ in group}))
            out[component] = (Reading(component, float(energy), mean_s, source, any(m.estimated for m, _ in group),
                                      tuple(m.device for m, _ in group)), merged)
        return out

    @staticmethod
    def _per_rep_estimates(spans: np.ndarray, power: list[PowerTrace], counters: list[EnergyTrace],
                           back_to_back: bool) -> list[AlignedEstimate]:
        """One estimate per trace of a component: aligned inside back-to-back runs, else per span."""
        if back_to_back:
            if power:
                return [trace_aligned_per_rep(p, spans) for p in power]
            return [aligned_energy_per_rep(c, spans) for c in counters]
        per = span_energies(spans, "", power, counters, "", False, ())
        busy_s = float(np.sum(spans[:, 1] - spans[:, 0]))
        return [AlignedEstimate(per.mean_j, per.ci95_j, len(spans), busy_s, float(len(spans)),
                                "trace-spans" if power else "interpolated")]

    def checks(self, t0_s: float, t1_s: float) -> list[TraceCheck]:
        """Trace vs energy counter per GPU over a window (see `power_trace.check_against_counter`)."""
        self.refresh()
        if not self.has_trace:
            return []
        out = []
        for i in self._gpu:
            check = check_against_counter(self.power[self.meters[i].device], self.traces[i], t0_s, t1_s)
            if check is not None:
                out.append(check)
        return out

    def trace_slices(self, t0_s: float, t1_s: float) -> dict[str, TraceSlice]:
        return {d: p.slice(t0_s, t1_s) for d, p in self.power.items() if self.has_trace}

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

    def _gpu_query(self, name: str) -> float | None:
        values = [v for i in self._gpu if (v := getattr(self.meters[i], name)()) is not None]
        return float(np.mean(values)) if values else None

    def gpu_sm_clock_mhz(self) -> float | None:
        """Mean SM clock of the metered GPUs now (one NVML query each); None without GPU meters."""
        return self._gpu_query("sm_clock_mhz")

    def gpu_temperature_c(self) -> float | None:
        return self._gpu_query("temperature_c")

    def latest_gpu_power_w(self) -> float | None:
        """Power of the metered GPUs now: the newest trace samples, else the last counter tick."""
        self.refresh()
        if self.has_trace:
            values = [p.latest_power_w() for p in self.power.values()]
            return sum(v for v in values if v is not None) if any(v is not None for v in values) else None
        powers = [p[-1] for i in self._gpu if (p := self.traces[i].power_series()[1]).size]
        return sum(powers) if powers else None

    def status(self) -> dict[str, Any]:
        """How the GPUs are sampled: trace or counter, periods, the timestamp clock, gaps and errors."""
        return {"trace": self.has_trace, "counter_period_s": self.gpu_sample_period_s,
                "samples_period_s": self.config.samples_period_s, "trace_rule": self.config.trace_rule,
                "sample_lag_s": self.config.sample_lag_s, "gaps": {d: len(p.gaps) for d, p in self.power.items()},
                "samplers": self.gpu.status()}
