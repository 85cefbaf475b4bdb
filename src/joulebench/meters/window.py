"""Short-window protocol: repeat a phase until its window is long enough to measure.

A phase of tens of milliseconds is shorter than one NVML counter tick (~100 ms), so a start/stop
counter difference over one call reads 0 J or several ticks' worth. The protocol repeats the phase
back to back until the run spans at least ``min_window_s`` (and ``min_reps``), then takes the energy
between the first and last counter update inside the run and divides by the repetitions those updates
enclose (`trace.aligned_energy_per_rep`). The run is split into blocks at counter updates to give a
95% confidence interval. Defaults come from benchmarks/short_window.py on an H100/H200
(docs/VALIDATION.md): a 1.2 s window held the per-call error of 40 ms and 5 ms phases under 1%.
Every reading stores the `Protocol` that produced it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import numpy as np

from joulebench.errors import UsageError
from joulebench.meters.base import Reading
from joulebench.meters.monitor import EnergyMonitor
from joulebench.meters.trace import AlignedEstimate


@dataclass(frozen=True)
class Protocol:
    """How a phase is repeated and windowed. Stored beside every measurement."""

    warmup_reps: int = 2
    min_window_s: float = 1.2
    min_reps: int = 3
    max_reps: int = 100_000
    cooldown_s: float = 0.0
    max_blocks: int = 5
    #: repetitions shorter than this are windowed with fast GPU polling (edges placed to ~2.5 ms);
    #: longer ones keep the default slow polling, which costs the workload nothing measurable
    fast_poll_below_s: float = 0.5

    def __post_init__(self) -> None:
        if self.warmup_reps < 0 or self.min_reps < 1 or self.max_reps < self.min_reps:
            raise UsageError("protocol: warmup_reps >= 0 and 1 <= min_reps <= max_reps are required")
        if self.min_window_s < 0 or self.cooldown_s < 0:
            raise UsageError("protocol: min_window_s and cooldown_s must be >= 0")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class PhaseResult:
    """Per-repetition latency and energy of one repeated phase."""

    latency_s: float  # mean wall time of one repetition
    latency_std_s: float
    reps: int
    readings: dict[str, Reading]  # per component, energy of ONE repetition
    estimates: dict[str, AlignedEstimate]
    spans: np.ndarray  # (reps, 2) begin/end perf_counter times
    protocol: Protocol
    #: GPU SM clock read right after the last repetition (None without NVML): explains drift
    sm_clock_mhz: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "latency_s": self.latency_s,
            "latency_std_s": self.latency_std_s,
            "reps": self.reps,
            "energy_j": {c: r.energy_j for c, r in self.readings.items()},
            "ci95_j": {c: e.ci95_j for c, e in self.estimates.items()},
            "window_method": {c: e.method for c, e in self.estimates.items()},
            "aligned_s": {c: e.aligned_s for c, e in self.estimates.items()},
            "sources": {c: r.source for c, r in self.readings.items()},
            "estimated": {c: r.estimated for c, r in self.readings.items()},
            "protocol": self.protocol.to_dict(),
            "sm_clock_mhz": self.sm_clock_mhz,
        }


def run_repeated(
    monitor: EnergyMonitor,
    phase: Callable[[], object],
    protocol: Protocol,
    prepare: Callable[[], object] | None = None,
    on_rep: Callable[[int, float], None] | None = None,
) -> PhaseResult:
    """Run ``phase`` (which must block until its device work is done) under ``protocol``.

    ``prepare`` runs before each repetition *outside* the timed span (e.g. rewinding a KV cache); it
    must be cheap, since its energy still lands in the window between spans. ``on_rep(i, latency_s)``
    is called after each repetition (progress display).
    """
    warm_s = float("inf")
    for _ in range(protocol.warmup_reps):
        if prepare is not None:
            prepare()
        t0 = time.perf_counter()
        phase()
        warm_s = time.perf_counter() - t0
    polling = monitor.fast_polling() if warm_s < protocol.fast_poll_below_s else nullcontext()
    with polling:
        arr, clock_mhz = _repeat(monitor, phase, protocol, prepare, on_rep)
        per_rep = monitor.per_rep(arr)
    durations = arr[:, 1] - arr[:, 0]
    if protocol.cooldown_s > 0:
        time.sleep(protocol.cooldown_s)
    return PhaseResult(
        latency_s=float(np.mean(durations)),
        latency_std_s=float(np.std(durations, ddof=1)) if len(durations) > 1 else 0.0,
        reps=len(arr),
        readings={c: r for c, (r, _) in per_rep.items()},
        estimates={c: e for c, (_, e) in per_rep.items()},
        spans=arr,
        protocol=protocol,
        sm_clock_mhz=clock_mhz,
    )


def _repeat(monitor: EnergyMonitor, phase: Callable[[], object], protocol: Protocol,
            prepare: Callable[[], object] | None,
            on_rep: Callable[[int, float], None] | None) -> tuple[np.ndarray, float | None]:
    """Back-to-back repetitions until the window is long enough; (begin, end) of each, and the GPU's
    SM clock read as the last one ends (before the GPU idles and the driver lowers it)."""
    monitor.wait_for_update(time.perf_counter(), timeout_s=0.3)  # the first edge at the new polling rate
    spans: list[tuple[float, float]] = []
    t_start = time.perf_counter()
    while True:
        if prepare is not None:
            prepare()
        begin = time.perf_counter()
        phase()
        end = time.perf_counter()
        spans.append((begin, end))
        if on_rep is not None:
            on_rep(len(spans), end - begin)
        enough_time = end - t_start >= protocol.min_window_s
        if (enough_time and len(spans) >= protocol.min_reps) or len(spans) >= protocol.max_reps:
            break
    clock_mhz = monitor.gpu_sm_clock_mhz()
    arr = np.asarray(spans, dtype=float)
    # an interpolated fallback (window shorter than a tick) needs an update after the end
    monitor.wait_for_update(float(arr[-1, 1]), timeout_s=0.3)
    return arr, clock_mhz
