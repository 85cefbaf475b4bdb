"""A GPU power trace (timestamped samples on the perf_counter clock) and the energy it integrates to.

The trace comes from NVML's power-sample buffer (`meters.samples`), one sample every ~20 ms. Energy
over any span is the integral of the samples: by default the trapezoid between neighbouring samples
(each sample taken as the power at its stamp), or ``rule="previous"`` where each sample is the average
power since the sample before (the better rule if the sensor averages; scripts/measure_meter_fidelity.py
compares both against the energy counter). Spans that reach outside the samples integrate to NaN: no
energy is extrapolated. Gaps (samples lost between reads) are kept so that a span over one can say so.

`check_against_counter` compares the trace with the energy counter over a window, on the counter's own
update edges (the only points where the counter value is known); its `resolution_rel` is what placing
those edges to half a poll period allows, so that a disagreement is read against what it can resolve.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from joulebench.meters.trace import EnergyTrace
from joulebench.values import AsDict

RULES = ("trapezoid", "previous")


@dataclass(frozen=True)
class TraceSlice:
    """The samples of one trace inside one window (kept with every phase)."""

    device: str
    t_s: tuple[float, ...]
    power_w: tuple[float, ...]
    gaps: tuple[tuple[float, float], ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"device": self.device, "t_s": list(self.t_s), "power_w": list(self.power_w),
                "gaps": [list(g) for g in self.gaps]}

    @classmethod
    def from_dict(cls, doc: dict[str, object]) -> TraceSlice:
        gaps = doc.get("gaps") or []
        return cls(str(doc["device"]), tuple(float(x) for x in doc["t_s"]),  # type: ignore[union-attr]
                   tuple(float(x) for x in doc["power_w"]),  # type: ignore[union-attr]
                   tuple((float(a), float(b)) for a, b in gaps))  # type: ignore[union-attr]


@dataclass(frozen=True)
class TraceCheck(AsDict):
    """Trace vs energy counter over one interval: ``rel_diff = trace_j / counter_j - 1``."""

    device: str
    t0_s: float
    t1_s: float
    counter_j: float
    trace_j: float
    rel_diff: float
    #: the size of disagreement that counter-edge placement alone can cause (worst case)
    resolution_rel: float

    @classmethod
    def from_dict(cls, doc: dict[str, object]) -> TraceCheck:
        return cls(**doc)  # type: ignore[arg-type]


class PowerTrace:
    """Samples of one GPU's power, appended as they are read; queries integrate them."""

    def __init__(self, device: str, rule: str = "trapezoid", lag_s: float = 0.0, capacity: int = 4096) -> None:
        if rule not in RULES:
            raise ValueError(f"rule={rule!r}: one of {', '.join(RULES)}")
        self.device = device
        self.rule = rule
        #: the sensor measures ``lag_s`` before its stamp: samples are moved back by it
        self.lag_s = lag_s
        self._t = np.empty(capacity)
        self._p = np.empty(capacity)
        self._cum = np.empty(capacity)  # energy from the first sample to each sample, J
        self._n = 0
        self.gaps: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._n

    def extend(self, t_s: np.ndarray, power_w: np.ndarray) -> None:
        t = np.asarray(t_s, dtype=float) - self.lag_s
        p = np.asarray(power_w, dtype=float)
        with self._lock:
            if self._n:
                keep = t > self._t[self._n - 1]  # out-of-order samples would break the integral
                t, p = t[keep], p[keep]
            if t.size == 0:
                return
            need = self._n + t.size
            if need > self._t.size:
                size = max(need, 2 * self._t.size)
                for name in ("_t", "_p", "_cum"):
                    grown = np.empty(size)
                    grown[: self._n] = getattr(self, name)[: self._n]
                    setattr(self, name, grown)
            t_all = np.concatenate([self._t[self._n - 1: self._n], t]) if self._n else t
            p_all = np.concatenate([self._p[self._n - 1: self._n], p]) if self._n else p
            start = self._cum[self._n - 1] if self._n else 0.0
            steps = self._steps(t_all, p_all)
            cum = start + np.cumsum(steps) if self._n else np.concatenate([[0.0], np.cumsum(steps)])
            self._t[self._n: need], self._p[self._n: need], self._cum[self._n: need] = t, p, cum
            self._n = need

    def add_gap(self, t0_s: float, t1_s: float) -> None:
        self.gaps.append((t0_s - self.lag_s, t1_s - self.lag_s))

    def _steps(self, t: np.ndarray, p: np.ndarray) -> np.ndarray:
        dt = np.diff(t)
        return 0.5 * (p[1:] + p[:-1]) * dt if self.rule == "trapezoid" else p[1:] * dt

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        n = self._n
        return self._t[:n].copy(), self._p[:n].copy()

    def last_t_s(self) -> float:
        """Time of the newest sample (-inf while empty)."""
        return float(self._t[self._n - 1]) if self._n else float("-inf")

    def latest_power_w(self) -> float | None:
        return float(self._p[self._n - 1]) if self._n else None

    def energy_at(self, times_s: np.ndarray) -> np.ndarray:
        """Energy from the first sample to each time (J); NaN outside the sampled range."""
        n = self._n
        times = np.asarray(times_s, dtype=float)
        if n < 2:
            return np.full(times.shape, np.nan)
        t, p, cum = self._t[:n], self._p[:n], self._cum[:n]
        i = np.clip(np.searchsorted(t, times, side="right") - 1, 0, n - 2)
        dt = times - t[i]
        if self.rule == "trapezoid":
            p_at = p[i] + (p[i + 1] - p[i]) * dt / (t[i + 1] - t[i])
            out = cum[i] + 0.5 * (p[i] + p_at) * dt
        else:
            out = cum[i] + p[i + 1] * dt
        return np.where((times < t[0]) | (times > t[-1]), np.nan, out)

    def energy_between(self, t0_s: float, t1_s: float) -> float:
        e = self.energy_at(np.array([t0_s, t1_s]))
        return float(e[1] - e[0])

    def span_energies(self, spans: np.ndarray) -> np.ndarray:
        """Energy of each (begin, end) span, J; NaN for a span the samples do not cover."""
        spans = np.asarray(spans, dtype=float).reshape(-1, 2)
        return self.energy_at(spans[:, 1]) - self.energy_at(spans[:, 0])

    def samples_between(self, t0_s: float, t1_s: float) -> np.ndarray:
        """Sample times inside [t0_s, t1_s]."""
        t = self._t[: self._n]
        return t[(t >= t0_s) & (t <= t1_s)].copy()

    def gap_overlap_s(self, t0_s: float, t1_s: float) -> float:
        return float(sum(max(0.0, min(b, t1_s) - max(a, t0_s)) for a, b in self.gaps))

    def slice(self, t0_s: float, t1_s: float) -> TraceSlice:
        t, p = self._t[: self._n], self._p[: self._n]
        keep = (t >= t0_s) & (t <= t1_s)
        gaps = tuple(g for g in self.gaps if g[1] >= t0_s and g[0] <= t1_s)
        return TraceSlice(self.device, tuple(t[keep].tolist()), tuple(p[keep].tolist()), gaps)


def check_against_counter(trace: PowerTrace, counter: EnergyTrace, t0_s: float, t1_s: float) -> TraceCheck | None:
    """Trace vs counter between the counter edges inside [t0_s, t1_s] (or, when fewer than two lie
    inside or they cover less than half of it, the edges just outside); None without two edges."""
    edges = counter.edges()
    if len(edges) < 3:
        return None
    t_e, e_e, u_e = edges.t_s[1:], edges.energy_j[1:], edges.uncertainty_s[1:]  # [0] is the anchor sample
    inside = np.nonzero((t_e >= t0_s) & (t_e <= t1_s))[0]
    if inside.size >= 2 and t_e[inside[-1]] - t_e[inside[0]] >= 0.5 * (t1_s - t0_s):
        a, b = int(inside[0]), int(inside[-1])
    else:
        before = np.nonzero(t_e <= t0_s)[0]
        after = np.nonzero(t_e >= t1_s)[0]
        if before.size == 0 or after.size == 0:
            return None
        a, b = int(before[-1]), int(after[0])
    counter_j = float(e_e[b] - e_e[a])
    trace_j = trace.energy_between(float(t_e[a]), float(t_e[b]))
    if not np.isfinite(trace_j) or counter_j <= 0:
        return None
    mean_w = counter_j / float(t_e[b] - t_e[a])
    return TraceCheck(trace.device, float(t_e[a]), float(t_e[b]), counter_j, trace_j, trace_j / counter_j - 1.0,
                      mean_w * float(u_e[a] + u_e[b]) / counter_j)
