"""Energy over spans of time: one value per span from the power trace, or per repetition of a phase.

Two questions, two methods:

- **arbitrary spans** (`span_energies`): each (begin, end) span integrates the trace on its own, e.g.
  decode measured from the first token's stamp to the end of each ``generate`` call (0.1-10 s), with a
  95% CI over the spans. Nothing between spans is counted.
- **a repeated short phase** (`trace_aligned_per_rep`): back-to-back repetitions of a 5-40 ms phase.
  Integrating each 5 ms span on a 20 ms trace would be noise; instead integrate between the first and
  last sample inside the run (``guard_s`` in from its ends, away from the idle-to-load transients) and
  divide by the fractional number of repetitions those samples enclose, as `trace.aligned_energy_per_rep`
  does with counter edges. Splitting at samples into blocks gives the CI.

Estimated components (CPU/RAM models) and counters without a trace use their cumulative `EnergyTrace`,
interpolated between edges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from joulebench.meters.power_trace import PowerTrace
from joulebench.meters.trace import AlignedEstimate, EnergyTrace, covered_reps, t95
from joulebench.values import Reading

#: how far inside a repeated run the trace-aligned window starts and ends: two ~20 ms sample intervals
TRACE_GUARD_S = 0.05


def contiguous(spans: np.ndarray, tolerance: float = 0.05) -> bool:
    """True when each span starts right after the one before (pauses under ``tolerance`` of a span):
    then the time between spans may be shared out among them, otherwise it must not be counted."""
    spans = np.asarray(spans, dtype=float).reshape(-1, 2)
    if len(spans) < 2:
        return True
    pauses = spans[1:, 0] - spans[:-1, 1]
    mean_s = float(np.mean(spans[:, 1] - spans[:, 0]))
    return bool(np.all(pauses <= max(1e-3, tolerance * mean_s)))


@dataclass(frozen=True)
class SpanEnergy:
    """Energy of one component over each of a set of spans, and their mean with a 95% CI."""

    reading: Reading  # mean energy per span over the mean span duration
    per_span_j: tuple[float, ...]
    ci95_j: float  # half-width over spans (t-distribution); NaN for a single span
    method: str  # "trace" | "trace+counter" (some spans outside the samples) | "counter-interpolated" | "estimate"
    gap_s: float = 0.0  # time inside the spans where trace samples were lost
    min_samples: int = -1  # fewest trace samples inside one span; -1 where no trace is used

    @property
    def mean_j(self) -> float:
        return self.reading.energy_j

    def to_dict(self) -> dict[str, object]:
        return {"reading": self.reading.to_dict(), "per_span_j": list(self.per_span_j), "ci95_j": self.ci95_j,
                "method": self.method, "gap_s": self.gap_s, "min_samples": self.min_samples}

    @classmethod
    def from_dict(cls, doc: dict[str, object]) -> SpanEnergy:
        return cls(Reading.from_dict(doc["reading"]), tuple(float(x) for x in doc["per_span_j"]),  # type: ignore[arg-type, union-attr]
                   float(doc["ci95_j"]), str(doc["method"]), float(doc.get("gap_s", 0.0)),  # type: ignore[arg-type]
                   int(doc.get("min_samples", -1)))  # type: ignore[call-overload]


def mean_ci95(values: np.ndarray) -> tuple[float, float]:
    """Mean and the half-width of its 95% CI (Student t); NaN half-width for fewer than two values."""
    values = np.asarray(values, dtype=float)
    mean = float(np.mean(values)) if values.size else float("nan")
    if values.size < 2:
        return mean, float("nan")
    return mean, float(t95(values.size - 1) * np.std(values, ddof=1) / np.sqrt(values.size))


def span_energies(spans: np.ndarray, component: str, power: Sequence[PowerTrace], counters: Sequence[EnergyTrace],
                  source: str, estimated: bool, devices: tuple[str, ...]) -> SpanEnergy:
    """Per-span energy of one component: from its power traces when given, else its cumulative traces."""
    spans = np.asarray(spans, dtype=float).reshape(-1, 2)
    duration = float(np.mean(spans[:, 1] - spans[:, 0]))
    gap_s, min_samples = 0.0, -1
    def from_counters() -> np.ndarray:
        return np.sum([[c.energy_between(float(b), float(e)) for b, e in spans] for c in counters], axis=0)

    if power:
        per = np.sum([p.span_energies(spans) for p in power], axis=0)
        gap_s = sum(p.gap_overlap_s(float(b), float(e)) for p in power for b, e in spans)
        min_samples = min(len(p.samples_between(float(b), float(e))) for p in power for b, e in spans)
        method = "trace"
        uncovered = ~np.isfinite(per)
        if uncovered.any() and counters:  # spans the samples do not reach: the counter, and say so
            per = np.where(uncovered, from_counters(), per)
            method = "trace+counter"
    else:
        per = from_counters()
        method = "estimate" if estimated else "counter-interpolated"
    mean, ci = mean_ci95(per)
    reading = Reading(component, mean, duration, source, estimated, devices)
    return SpanEnergy(reading, tuple(float(x) for x in per), ci, method, gap_s, min_samples)


def trace_aligned_per_rep(trace: PowerTrace, spans: np.ndarray, max_blocks: int = 5,
                          guard_s: float = TRACE_GUARD_S) -> AlignedEstimate:
    """Per-repetition energy of back-to-back repetitions from the samples inside the run (see module doc).

    With fewer than two samples inside (a run shorter than ~2 sample intervals plus the guards), the
    whole run is integrated and divided by the repetitions, and the method says so ("trace-run")."""
    spans = np.asarray(spans, dtype=float).reshape(-1, 2)
    run0, run1 = float(spans[0, 0]), float(spans[-1, 1])
    inner = trace.samples_between(run0 + guard_s, run1 - guard_s)
    if inner.size < 2:
        energy = trace.energy_between(run0, run1)
        return AlignedEstimate(energy / len(spans), float("nan"), 0, 0.0, float(len(spans)), "trace-run")
    a, b = float(inner[0]), float(inner[-1])
    reps = covered_reps(spans, a, b)
    per_rep = trace.energy_between(a, b) / reps if reps > 0 else float("nan")
    n_blocks = min(max_blocks, inner.size - 1)
    ci = float("nan")
    if n_blocks >= 2:
        cut = inner[np.linspace(0, inner.size - 1, n_blocks + 1).round().astype(int)]
        values = [trace.energy_between(float(x), float(y)) / r
                  for x, y in zip(cut[:-1], cut[1:], strict=True) if (r := covered_reps(spans, float(x), float(y))) > 0]
        if len(values) >= 2:
            ci = mean_ci95(np.asarray(values))[1]
    return AlignedEstimate(per_rep, ci, n_blocks, b - a, reps, "trace-aligned")
