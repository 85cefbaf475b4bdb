"""A cumulative-energy trace and the arithmetic on it: update edges, interpolation, alignment.

NVML's energy counter (and RAPL on some CPUs) changes only every ~100 ms. A sampler polls it (every
5 ms inside windows measured on counter edges; slowly where a power trace does the measuring, see
`power_trace`) and records (time, cumulative energy). An *edge* is the first sample that shows a new
value; the update happened between the previous sample and that one, so we place it at their midpoint
(error at most half a poll period, kept as the edge's ``uncertainty_s``). Between edges the counter says nothing, so energy
inside a tick is interpolated linearly between edge points. Windows whose ends are *aligned* on
edges avoid interpolation altogether, which is what makes a 40 ms phase measurable: repeat it until a
window holds several ticks, take the energy between the first and last edge inside the run, and divide
by the (time-weighted, fractional) number of repetitions inside those same edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from joulebench.stats import t_quantile


@dataclass(frozen=True)
class Edges:
    """Counter update points: estimated update times, the cumulative energy after each update, and how
    far each update may lie from its estimated time (half the poll interval around it)."""

    t_s: np.ndarray
    energy_j: np.ndarray
    uncertainty_s: np.ndarray

    def __len__(self) -> int:
        return int(self.t_s.size)

    def inside(self, t0_s: float, t1_s: float) -> Edges:
        mask = (self.t_s >= t0_s) & (self.t_s <= t1_s)
        return Edges(self.t_s[mask], self.energy_j[mask], self.uncertainty_s[mask])


class EnergyTrace:
    """Samples of one meter's cumulative energy, appended by the sampler thread."""

    def __init__(self, continuous: bool = False) -> None:
        #: a continuous trace (an estimate integrated at every sample) has an edge at every sample
        self.continuous = continuous
        self._t: list[float] = []
        self._e: list[float] = []

    def append(self, t_s: float, energy_j: float) -> None:
        self._t.append(t_s)
        self._e.append(energy_j)

    def extend(self, t_s: np.ndarray, energy_j: np.ndarray) -> None:
        self._t.extend(t_s.tolist())
        self._e.extend(energy_j.tolist())

    def __len__(self) -> int:
        return len(self._t)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        n = min(len(self._t), len(self._e))  # the sampler may be appending concurrently
        return np.asarray(self._t[:n], dtype=float), np.asarray(self._e[:n], dtype=float)

    def edges(self) -> Edges:
        t, e = self.arrays()
        if t.size == 0 or self.continuous:
            return Edges(t, e, np.zeros_like(t))
        changed = np.nonzero(np.diff(e) != 0)[0] + 1
        t_edge = 0.5 * (t[changed - 1] + t[changed])
        half = 0.5 * (t[changed] - t[changed - 1])
        # the first sample anchors the series even though its update time is unknown; it is only used
        # for interpolation far from any window of interest, never for alignment
        return Edges(np.concatenate([t[:1], t_edge]), np.concatenate([e[:1], e[changed]]), np.concatenate([[0.0], half]))

    def energy_at(self, t_s: float) -> float:
        """Cumulative energy at ``t_s`` by linear interpolation between edges (clamped at the ends)."""
        edges = self.edges()
        if len(edges) == 0:
            return 0.0
        return float(np.interp(t_s, edges.t_s, edges.energy_j))

    def energy_between(self, t0_s: float, t1_s: float) -> float:
        return self.energy_at(t1_s) - self.energy_at(t0_s)

    def power_series(self) -> tuple[np.ndarray, np.ndarray]:
        """Average power between consecutive edges, stamped at the interval midpoints (for plots)."""
        edges = self.edges()
        if len(edges) < 2:
            return np.empty(0), np.empty(0)
        dt = np.diff(edges.t_s)
        de = np.diff(edges.energy_j)
        ok = dt > 0
        return (0.5 * (edges.t_s[1:] + edges.t_s[:-1]))[ok], de[ok] / dt[ok]


def covered_reps(spans: np.ndarray, t0_s: float, t1_s: float) -> float:
    """Fractional number of repetitions inside [t0_s, t1_s]: each span (begin, end) counts by the share
    of its duration that falls inside. Assumes power is steady within a repetition, which holds for the
    phases we repeat (one prefill, one decode run)."""
    begin, end = spans[:, 0], spans[:, 1]
    overlap = np.clip(np.minimum(end, t1_s) - np.maximum(begin, t0_s), 0.0, None)
    duration = np.maximum(end - begin, 1e-12)
    return float(np.sum(overlap / duration))


@dataclass(frozen=True)
class AlignedEstimate:
    """Per-repetition energy from edge-aligned blocks of one trace."""

    energy_per_rep_j: float
    ci95_j: float  # half-width of the 95% confidence interval
    blocks: int
    aligned_s: float  # time between the first and last edge used
    reps_covered: float
    method: str  # "aligned" | "interpolated" (counter edges), "trace-aligned" | "trace-run" | "trace-spans"


def t95(dof: int) -> float:
    """Two-sided 95% Student-t quantile (`joulebench.stats`)."""
    return t_quantile(dof, 0.95)


def aligned_energy_per_rep(trace: EnergyTrace, spans: np.ndarray, max_blocks: int = 5) -> AlignedEstimate:
    """Energy per repetition from the edges that fall inside the repeated run.

    ``spans`` holds (begin_s, end_s) for each repetition. When fewer than two edges fall inside the run
    (a run shorter than one counter tick), fall back to interpolation over the whole run, and say so.
    """
    run0, run1 = float(spans[0, 0]), float(spans[-1, 1])
    edges = trace.edges().inside(run0, run1)
    if len(edges) < 2:
        energy = trace.energy_between(run0, run1)
        return AlignedEstimate(energy / len(spans), float("nan"), 0, 0.0, float(len(spans)), "interpolated")
    total_reps = covered_reps(spans, float(edges.t_s[0]), float(edges.t_s[-1]))
    total_energy = float(edges.energy_j[-1] - edges.energy_j[0])
    per_rep = total_energy / total_reps if total_reps > 0 else float("nan")
    n_blocks = min(max_blocks, len(edges) - 1)
    ci = float("nan")
    if n_blocks >= 2:
        cut = np.linspace(0, len(edges) - 1, n_blocks + 1).round().astype(int)
        values = []
        for a, b in zip(cut[:-1], cut[1:], strict=True):
            reps = covered_reps(spans, float(edges.t_s[a]), float(edges.t_s[b]))
            if reps > 0:
                values.append(float(edges.energy_j[b] - edges.energy_j[a]) / reps)
        if len(values) >= 2:
            ci = t95(len(values) - 1) * float(np.std(values, ddof=1)) / np.sqrt(len(values))
    return AlignedEstimate(per_rep, ci, n_blocks, float(edges.t_s[-1] - edges.t_s[0]), total_reps, "aligned")
