"""Energy of a serving run: whole window, steady-state window, per completed request, per request.

Energy sources
  Anything with ``components`` and ``energy_between(t0_s, t1_s) -> {component: Reading}`` on the
  ``perf_counter`` clock: the local `EnergyMonitor` (NVML, RAPL or labelled estimates, GPU set chosen
  through ``MonitorConfig(gpus=...)``) or a `DcgmPoller` for a server on another host.

Whole window
  From the first send to the last end of any request. Energy per completed request = window energy /
  completed requests (failed requests' energy stays in the numerator: it was spent).

Steady-state window (after ML.ENERGY: from the moment the system is full to the moment it drains)
  N(t) = requests in the system at t: from admission (engines: start of prefill) or send (HTTP: the
  client cannot see admission) to end. The steady level L = the time-weighted median of N(t) over the
  whole window, at least 1. The window starts when N first reaches L (the ramp is over) and ends when
  N falls below L for the last time (the drain begins). J per output token = window energy / output
  tokens whose arrival time lies inside it. A window shorter than `STEADY_MIN_S` or holding fewer than
  `STEADY_MIN_TOKENS` tokens is flagged ``reliable: false``.

Per-request attribution
  Each request is a set of work segments: prefill from admission (or send) to its first token,
  weighing ``prefill_weight`` per prompt token (plus the extra tokens that came with the first chunk),
  and one decode segment per later chunk, from the previous chunk to it, weighing its token count.
  Work is spread uniformly over its segment. The timeline is split at every segment end; each
  interval's energy (difference of the source's cumulative energy) is shared among the requests
  active in it in proportion to their work in it. Energy of intervals where nothing is active (idle
  gaps) is shared in proportion to the energy each request already received. The parts therefore sum
  to the window energy exactly (telescoping), per component.

  Why ``prefill_weight = 1`` by default: in a batched forward step, prefill and decode tokens are rows
  of the same matrix products (about 2 x parameters FLOPs each, the same weight read shared by all
  rows), so within one interval a prefill token and a decode token cost alike to first order.
  Attention over long contexts and launch-bound decode make the true ratio workload dependent; pass
  another weight (``--prefill-weight``) to test the sensitivity. The weight only matters when
  prefill and decode overlap in time; alone in an interval, a request takes all of its energy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from joulebench.serving.records import RequestRecord
from joulebench.units import j_to_wh
from joulebench.values import Reading, Span

STEADY_MIN_S = 1.0
STEADY_MIN_TOKENS = 100
PREFILL_WEIGHT = 1.0
ZERO_SEGMENT_S = 1e-6


class EnergySource(Protocol):
    @property
    def components(self) -> list[str]: ...

    def energy_between(self, t0_s: float, t1_s: float) -> dict[str, Reading]: ...


def cumulative_j(source: Any, times_s: np.ndarray) -> dict[str, np.ndarray]:
    """Cumulative energy per component at each time (relative to ``times_s[0]``), vectorised.

    Uses the source's own ``cumulative_j`` when it has one (DCGM), the monitor's traces when it exposes
    them (one interpolation per trace instead of one call per interval), else ``energy_between``.
    """
    if hasattr(source, "cumulative_j"):
        return source.cumulative_j(times_s)
    meters, traces = getattr(source, "meters", None), getattr(source, "traces", None)
    out: dict[str, np.ndarray] = {}
    if meters is not None and traces is not None:
        for component in source.components:
            total = np.zeros_like(times_s, dtype=float)
            for meter, trace in zip(meters, traces, strict=True):
                if meter.component != component:
                    continue
                edges = trace.edges()
                if len(edges):
                    total += np.interp(times_s, edges.t_s, edges.energy_j)
            out[component] = total - total[0]
        return out
    for component in source.components:
        out[component] = np.array(
            [0.0] + [source.energy_between(times_s[0], t)[component].energy_j for t in times_s[1:]]
        )
    return out


# -- windows ---------------------------------------------------------------------------------------
def _start(r: RequestRecord) -> float | None:
    return r.admit_s if r.admit_s is not None else r.send_s


def run_window(records: Sequence[RequestRecord]) -> tuple[float, float] | None:
    starts = [r.send_s for r in records if r.send_s is not None]
    ends = [r.end_s for r in records if r.end_s is not None]
    if not starts or not ends:
        return None
    return min(starts), max(ends)


@dataclass(frozen=True)
class SteadyWindow(Span):
    """The span in which at least ``level`` requests (the time-weighted median) were in the system."""

    level: int = 1


def in_system(records: Sequence[RequestRecord]) -> tuple[np.ndarray, np.ndarray]:
    """N(t) as a step function: (times, count from each time until the next)."""
    events: list[tuple[float, int]] = []
    for r in records:
        start = _start(r)
        if start is not None and r.end_s is not None and r.end_s > start:
            events += [(start, 1), (r.end_s, -1)]
    if not events:
        return np.zeros(0), np.zeros(0, dtype=int)
    events.sort(key=lambda e: (e[0], e[1]))
    times = np.array([e[0] for e in events])
    counts = np.cumsum([e[1] for e in events])
    return times, counts


def steady_window(records: Sequence[RequestRecord]) -> SteadyWindow | None:
    times, counts = in_system(records)
    if times.size < 2:
        return None
    durations = np.diff(times)
    level_counts = counts[:-1]
    if durations.sum() <= 0:
        return None
    order = np.argsort(level_counts, kind="stable")
    cum = np.cumsum(durations[order])
    median = int(level_counts[order][np.searchsorted(cum, cum[-1] / 2.0)])
    level = max(1, median)
    at_level = np.nonzero(level_counts >= level)[0]
    if at_level.size == 0:
        return None
    return SteadyWindow(float(times[at_level[0]]), float(times[at_level[-1] + 1]), "steady", level)


# -- attribution -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    request: int  # position in the records list
    t0_s: float
    t1_s: float
    weight: float


def work_segments(records: Sequence[RequestRecord], prefill_weight: float = PREFILL_WEIGHT) -> list[Segment]:
    segments: list[Segment] = []
    for i, r in enumerate(records):
        start = _start(r)
        if start is None or r.first_token_s is None:
            if start is not None and r.end_s is not None and r.end_s > start:
                # failed before any token: its prompt was (at most) prefilled
                segments.append(Segment(i, start, r.end_s, prefill_weight * r.prompt_tokens_requested))
            continue
        prompt = r.prompt_tokens if r.prompt_tokens is not None else r.prompt_tokens_requested
        first_extra = (r.chunk_tokens[0] - 1) if r.chunk_tokens else 0
        pending = prefill_weight * prompt + first_extra
        segments.append(Segment(i, start, max(r.first_token_s, start + ZERO_SEGMENT_S), pending))
        for j in range(1, len(r.chunk_times_s)):
            a, b, k = r.chunk_times_s[j - 1], r.chunk_times_s[j], r.chunk_tokens[j]
            if b - a < ZERO_SEGMENT_S:  # tokens that arrived together: to the previous segment
                last = segments[-1]
                segments[-1] = Segment(i, last.t0_s, last.t1_s, last.weight + k)
            else:
                segments.append(Segment(i, a, b, float(k)))
    return segments


def attribute(
    records: Sequence[RequestRecord],
    cumulative: dict[str, np.ndarray],
    grid_s: np.ndarray,
    segments: Sequence[Segment],
) -> dict[str, np.ndarray]:
    """Energy per request and component (array aligned with ``records``) over the window spanned by
    ``grid_s``, given the cumulative energy at each grid time (see module docstring)."""
    n = len(records)
    t0, t1 = grid_s[0], grid_s[-1]
    density_delta = np.zeros(grid_s.size)
    spans: list[tuple[int, int, int, float]] = []
    for seg in segments:
        a, b = max(seg.t0_s, t0), min(seg.t1_s, t1)
        if b <= a or seg.weight <= 0:
            continue
        density = seg.weight / (seg.t1_s - seg.t0_s)
        ia, ib = int(np.searchsorted(grid_s, a)), int(np.searchsorted(grid_s, b))
        if ib <= ia:
            continue
        density_delta[ia] += density
        density_delta[ib] -= density
        spans.append((seg.request, ia, ib, density))
    active_density = np.cumsum(density_delta)[:-1]
    busy = active_density > 1e-15
    out: dict[str, np.ndarray] = {}
    for component, cum in cumulative.items():
        energy = np.diff(cum)
        per_weight = np.zeros_like(energy)
        # energy per unit of work per second in each interval: E_j / (D_j * len_j), times len_j below
        per_weight[busy] = energy[busy] / active_density[busy]
        prefix = np.concatenate([[0.0], np.cumsum(per_weight)])
        shares = np.zeros(n)
        for request, ia, ib, density in spans:
            shares[request] += density * (prefix[ib] - prefix[ia])
        idle_j = float(energy[~busy].sum())
        if idle_j:
            total = shares.sum()
            shares += idle_j * (shares / total if total > 0 else np.full(n, 1.0 / max(n, 1)))
        out[component] = shares
    return out


def attribution_grid(segments: Sequence[Segment], t0_s: float, t1_s: float) -> np.ndarray:
    """Every segment end inside the window, plus the window ends, sorted and unique."""
    points = [t0_s, t1_s]
    for seg in segments:
        points += [seg.t0_s, seg.t1_s]
    return np.unique(np.clip(np.asarray(points), t0_s, t1_s))


# -- the report ------------------------------------------------------------------------------------
def _readings_dict(readings: dict[str, Reading]) -> dict[str, Any]:
    return {c: r.to_dict() for c, r in readings.items()}


def _total(readings: dict[str, Reading]) -> float:
    return float(sum(r.energy_j for r in readings.values()))


def per_request_figures(total_j: float, gpu_j: float | None, records: Sequence[RequestRecord]) -> dict[str, Any]:
    """A window's energy per completed request (all components and GPU) and per output and input token
    of the completed requests (None where there is nothing to divide by)."""
    completed = sum(r.ok for r in records)
    output_tokens = sum(r.output_tokens or 0 for r in records if r.ok)
    input_tokens = sum(_prompt(r) for r in records if r.ok)
    gpu = completed and gpu_j is not None
    return {
        "energy_per_completed_request_j": total_j / completed if completed else None,
        "energy_per_completed_request_wh": j_to_wh(total_j / completed) if completed else None,
        "gpu_energy_per_completed_request_j": gpu_j / completed if gpu else None,  # type: ignore[operator]
        "gpu_energy_per_completed_request_wh": j_to_wh(gpu_j / completed) if gpu else None,  # type: ignore[operator]
        "energy_per_output_token_j": total_j / output_tokens if output_tokens else None,
        "energy_per_input_token_j": total_j / input_tokens if input_tokens else None,
    }


def energy_report(
    records: Sequence[RequestRecord],
    source: EnergySource,
    prefill_weight: float = PREFILL_WEIGHT,
    t_ref_s: float = 0.0,
) -> tuple[dict[str, Any], dict[int, dict[str, float]]]:
    """(summary, per-request energy by record index and component). Times in the summary are relative
    to ``t_ref_s`` (the run's schedule zero)."""
    window = run_window(records)
    if window is None or window[1] <= window[0]:
        return {"available": False, "reason": "no request was sent and finished"}, {}
    t0, t1 = window
    readings = source.energy_between(t0, t1)
    total_j = _total(readings)
    gpu_j = readings["gpu"].energy_j if "gpu" in readings else None
    summary: dict[str, Any] = {
        "available": True,
        "window": {
            "start_s": t0 - t_ref_s,
            "end_s": t1 - t_ref_s,
            "duration_s": t1 - t0,
            "energy_j": total_j,
            "components": _readings_dict(readings),
        },
        "estimated_components": sorted(c for c, r in readings.items() if r.estimated),
        **per_request_figures(total_j, gpu_j, records),
        "prefill_weight": prefill_weight,
    }
    summary["steady_state"] = _steady_report(records, source, t_ref_s)
    segments = work_segments(records, prefill_weight)
    grid = attribution_grid(segments, t0, t1)
    cumulative = cumulative_j(source, grid)
    shares = attribute(records, cumulative, grid, segments)
    per_request: dict[int, dict[str, float]] = {}
    for pos, record in enumerate(records):
        per_request[record.index] = {c: float(v[pos]) for c, v in shares.items()}
    attributed = {c: float(v.sum()) for c, v in shares.items()}
    summary["attribution"] = {
        "attributed_j": attributed,
        "window_j": {c: float(cumulative[c][-1]) for c in cumulative},
    }
    served = [r for r in records if r.ok]
    ok_shares = [sum(per_request[r.index].values()) for r in served]
    summary["attributed_per_request_j"] = _quantiles(ok_shares)
    summary["attributed_j_per_output_token"] = _quantiles(
        [j / r.output_tokens for j, r in zip(ok_shares, served, strict=True) if r.output_tokens]
    )
    summary["attributed_j_per_input_token"] = _quantiles(
        [j / _prompt(r) for j, r in zip(ok_shares, served, strict=True) if _prompt(r)]
    )
    return summary, per_request


def _prompt(r: RequestRecord) -> int:
    return r.prompt_tokens if r.prompt_tokens is not None else r.prompt_tokens_requested


def _steady_report(records: Sequence[RequestRecord], source: EnergySource, t_ref_s: float) -> dict[str, Any]:
    window = steady_window(records)
    if window is None or window.duration_s <= 0:
        return {"available": False}
    readings = source.energy_between(window.begin_s, window.end_s)
    tokens = 0
    prompt_tokens = 0  # prompts whose prefill ended (first token) inside the window
    for r in records:
        if not r.ok:  # tokens of failed requests were not served
            continue
        for t, k in zip(r.chunk_times_s, r.chunk_tokens, strict=True):
            if window.begin_s <= t <= window.end_s:
                tokens += k
        if r.first_token_s is not None and window.begin_s <= r.first_token_s <= window.end_s:
            prompt_tokens += _prompt(r)
    total = _total(readings)
    gpu = readings["gpu"].energy_j if "gpu" in readings else None
    reliable = window.duration_s >= STEADY_MIN_S and tokens >= STEADY_MIN_TOKENS
    return {
        "available": True,
        "reliable": reliable,
        "start_s": window.begin_s - t_ref_s,
        "end_s": window.end_s - t_ref_s,
        "duration_s": window.duration_s,
        "level_in_system": window.level,
        "energy_j": total,
        "components": _readings_dict(readings),
        "output_tokens": tokens,
        "j_per_output_token": total / tokens if tokens else None,
        "input_tokens": prompt_tokens,
        "j_per_input_token": total / prompt_tokens if prompt_tokens else None,
        "gpu_j_per_output_token": gpu / tokens if tokens and gpu is not None else None,
        "rule": "N(t) = requests in the system; window from N first reaching its time-weighted median "
        "to N last falling below it",
    }


def _quantiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "median": None, "p90": None, "p99": None}
    arr = np.asarray(values)
    return {
        "mean": float(arr.mean()),
        "median": float(np.median(arr)),
        "p90": float(np.percentile(arr, 90)),
        "p99": float(np.percentile(arr, 99)),
    }
