"""Short-window protocol: repeat a phase until its window is long enough to measure.

A phase of tens of milliseconds is shorter than one NVML counter tick (~100 ms) and spans only one or
two power samples (~20 ms), so one call cannot be measured on its own. The protocol repeats the phase
back to back until the run spans at least ``min_window_s`` (and ``min_reps``), then takes the energy
between the first and last power sample inside the run (or, without a power trace, the first and last
counter update) and divides by the repetitions those points enclose (`spans.trace_aligned_per_rep`,
`trace.aligned_energy_per_rep`). Splitting the run into blocks gives a 95% confidence interval.
Defaults come from benchmarks/short_window.py on an H100/H200 (docs/VALIDATION.md): a 1.2 s window held
the per-call error of 40 ms and 5 ms phases under 1% on counter edges; scripts/measure_meter_fidelity.py
measures both methods against >= 20 s references.

A phase whose measured part is only a piece of the call returns a `values.Span` (e.g. decode: from the first
token's stamp to the end of ``generate``): the energy is then integrated over those spans alone.
Every result stores the `Protocol` that produced it, its power trace and the trace-vs-counter check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from joulebench.errors import UsageError
from joulebench.meters.monitor import EnergyMonitor
from joulebench.meters.power_trace import TraceCheck, TraceSlice
from joulebench.meters.trace import AlignedEstimate
from joulebench.values import AsDict, Reading, Span

if TYPE_CHECKING:
    from joulebench.meters.idle import IdleBaseline

WINDOW_METHODS = ("auto", "trace", "counter")


@dataclass(frozen=True)
class Protocol(AsDict):
    """How a phase is repeated and windowed. Stored beside every measurement."""

    warmup_reps: int = 2
    min_window_s: float = 1.2
    min_reps: int = 3
    max_reps: int = 100_000
    cooldown_s: float = 0.0
    max_blocks: int = 5
    #: with ``window_method="counter"``, repetitions shorter than this are windowed with fast counter
    #: polling (edges placed to ~2.5 ms); longer ones keep the slow polling
    fast_poll_below_s: float = 0.5
    #: "trace" (power samples), "counter" (energy-counter edges), "auto" (the trace where there is one)
    window_method: str = "auto"

    def __post_init__(self) -> None:
        if self.warmup_reps < 0 or self.min_reps < 1 or self.max_reps < self.min_reps:
            raise UsageError("protocol: warmup_reps >= 0 and 1 <= min_reps <= max_reps are required")
        if self.min_window_s < 0 or self.cooldown_s < 0:
            raise UsageError("protocol: min_window_s and cooldown_s must be >= 0")
        if self.window_method not in WINDOW_METHODS:
            raise UsageError.bad("window_method", self.window_method, f"one of {', '.join(WINDOW_METHODS)}")

    @classmethod
    def from_dict(cls, doc: dict[str, object]) -> Protocol:
        return cls(**doc)  # type: ignore[arg-type]


@dataclass(frozen=True)
class PhaseResult:
    """Per-repetition latency and energy of one repeated phase: what `run_repeated` returns (here, beside
    its `Protocol`, because it is the windows' result and is read back with the meters' own types)."""

    latency_s: float  # mean wall time of one repetition
    latency_std_s: float
    reps: int
    readings: dict[str, Reading]  # per component, energy of ONE repetition
    estimates: dict[str, AlignedEstimate]
    spans: Any  # numpy (reps, 2): begin/end perf_counter times
    protocol: Protocol
    #: GPU SM clock read right after the last repetition (None without NVML): explains drift
    sm_clock_mhz: float | None = None
    #: the power samples of each GPU over the run (empty without a power trace)
    traces: dict[str, TraceSlice] = field(default_factory=dict)
    #: trace vs energy counter over the run, per GPU (see `power_trace.check_against_counter`)
    checks: tuple[TraceCheck, ...] = ()

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
            "readings": {c: r.to_dict() for c, r in self.readings.items()},
            "estimates": {c: asdict(e) for c, e in self.estimates.items()},
            "spans": self.spans.tolist(),
            "power_trace": {d: t.to_dict() for d, t in self.traces.items()},
            "checks": [c.to_dict() for c in self.checks],
        }

    @classmethod
    def from_dict(cls, doc: dict[str, object]) -> PhaseResult:
        def section(key: str) -> dict[str, dict[str, object]]:
            return doc.get(key) or {}  # type: ignore[return-value]

        clock = doc.get("sm_clock_mhz")
        return cls(
            latency_s=float(doc["latency_s"]),  # type: ignore[arg-type]
            latency_std_s=float(doc["latency_std_s"]),  # type: ignore[arg-type]
            reps=int(doc["reps"]),  # type: ignore[call-overload]
            readings={c: Reading.from_dict(r) for c, r in section("readings").items()},
            estimates={c: AlignedEstimate(**e) for c, e in section("estimates").items()},  # type: ignore[arg-type]
            spans=np.asarray(doc.get("spans") or np.empty((0, 2)), dtype=float).reshape(-1, 2),
            protocol=Protocol.from_dict(doc["protocol"]),  # type: ignore[arg-type]
            sm_clock_mhz=None if clock is None else float(clock),  # type: ignore[arg-type]
            traces={d: TraceSlice.from_dict(t) for d, t in section("power_trace").items()},
            checks=tuple(TraceCheck.from_dict(c) for c in doc.get("checks") or ()),  # type: ignore[union-attr]
        )


def resolve_method(monitor: EnergyMonitor, protocol: Protocol) -> str:
    if protocol.window_method == "auto":
        return "trace" if monitor.has_trace else "counter"
    if protocol.window_method == "trace" and not monitor.has_trace:
        return "counter"  # no sample buffer on this GPU/driver: the counter is all there is
    return protocol.window_method


def run_repeated(
    monitor: EnergyMonitor,
    phase: Callable[[], object],
    protocol: Protocol,
    prepare: Callable[[], object] | None = None,
    on_rep: Callable[[int, float], None] | None = None,
    baseline: IdleBaseline | None = None,
) -> PhaseResult:
    """Run ``phase`` (which must block until its device work is done) under ``protocol``.

    ``prepare`` runs before each repetition *outside* the timed span (e.g. rewinding a KV cache); it
    must be cheap, since its energy still lands in the window between spans. ``on_rep(i, latency_s)``
    is called after each repetition (progress display). ``baseline`` is attached to every reading
    (its "above idle" then subtracts it).
    """
    warm_s = float("inf")
    for _ in range(protocol.warmup_reps):
        if prepare is not None:
            prepare()
        t0 = time.perf_counter()
        phase()
        warm_s = time.perf_counter() - t0
    method = resolve_method(monitor, protocol)
    fast = method == "counter" and warm_s < protocol.fast_poll_below_s
    with monitor.fast_polling() if fast else nullcontext():
        arr, clock_mhz = _repeat(monitor, phase, protocol, prepare, on_rep, method)
        per_rep = monitor.per_rep(arr, method=method)
    run0, run1 = float(arr[0, 0]), float(arr[-1, 1])
    durations = arr[:, 1] - arr[:, 0]
    readings = {c: r for c, (r, _) in per_rep.items()}
    if baseline is not None:
        readings = {c: baseline.apply(r) for c, r in readings.items()}
    if protocol.cooldown_s > 0:
        time.sleep(protocol.cooldown_s)
    return PhaseResult(
        latency_s=float(np.mean(durations)),
        latency_std_s=float(np.std(durations, ddof=1)) if len(durations) > 1 else 0.0,
        reps=len(arr),
        readings=readings,
        estimates={c: e for c, (_, e) in per_rep.items()},
        spans=arr,
        protocol=protocol,
        sm_clock_mhz=clock_mhz,
        traces=monitor.trace_slices(run0 - 0.1, run1 + 0.1),
        checks=tuple(monitor.checks(run0, run1)),
    )


def _repeat(monitor: EnergyMonitor, phase: Callable[[], object], protocol: Protocol,
            prepare: Callable[[], object] | None, on_rep: Callable[[int, float], None] | None,
            method: str) -> tuple[np.ndarray, float | None]:
    """Back-to-back repetitions until the window is long enough; (begin, end) of each, and the GPU's
    SM clock read as the last one ends (before the GPU idles and the driver lowers it)."""
    if method == "counter":
        monitor.wait_for_update(time.perf_counter(), timeout_s=0.3)  # the first edge at the new polling rate
    spans: list[tuple[float, float]] = []
    t_start = time.perf_counter()
    while True:
        if prepare is not None:
            prepare()
        begin = time.perf_counter()
        result = phase()
        end = time.perf_counter()
        if isinstance(result, Span):
            begin, end = result.begin_s, result.end_s
        spans.append((begin, end))
        if on_rep is not None:
            on_rep(len(spans), end - begin)
        enough_time = time.perf_counter() - t_start >= protocol.min_window_s
        if (enough_time and len(spans) >= protocol.min_reps) or len(spans) >= protocol.max_reps:
            break
    clock_mhz = monitor.gpu_sm_clock_mhz()
    arr = np.asarray(spans, dtype=float)
    if method == "counter":  # an interpolated fallback (window shorter than a tick) needs an update after the end
        monitor.wait_for_update(float(arr[-1, 1]), timeout_s=0.3)
    return arr, clock_mhz
