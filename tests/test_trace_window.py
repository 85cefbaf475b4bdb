"""Window arithmetic on recorded real NVML counter streams (H200, 5 ms polling)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from joulebench.meters.trace import EnergyTrace, aligned_energy_per_rep, covered_reps


def trace_from(stream: dict[str, Any]) -> EnergyTrace:
    trace = EnergyTrace()
    for t, e in zip(stream["t_s"], stream["energy_j"], strict=True):
        trace.append(t, e)
    return trace


def test_edges_are_about_100ms_apart(recorded_stream: dict[str, Any]) -> None:
    edges = trace_from(recorded_stream).edges()
    gaps = np.diff(edges.t_s[1:])  # the first point is the anchor sample, not an update
    assert len(gaps) >= 10
    assert 0.09 < float(np.median(gaps)) < 0.11


def test_aligned_estimate_matches_the_20s_reference_within_1_percent(recorded_stream: dict[str, Any]) -> None:
    spans = np.asarray(recorded_stream["spans"])
    estimate = aligned_energy_per_rep(trace_from(recorded_stream), spans)
    reference = recorded_stream["reference_j_per_call"]
    assert estimate.method == "aligned"
    assert abs(estimate.energy_per_rep_j / reference - 1.0) < 0.01
    assert estimate.blocks >= 2 and estimate.ci95_j > 0


def test_naive_single_call_reading_is_far_off(recorded_stream: dict[str, Any]) -> None:
    """A start/stop counter difference over one short call reads 0 J or a whole tick: the reason the
    protocol exists."""
    spans = np.asarray(recorded_stream["spans"])
    t = np.asarray(recorded_stream["t_s"])
    e = np.asarray(recorded_stream["energy_j"])
    reference = recorded_stream["reference_j_per_call"]
    errors = []
    for begin, end in spans[5:-5]:
        e0 = e[np.searchsorted(t, begin) - 1]
        e1 = e[np.searchsorted(t, end)]
        errors.append(abs((e1 - e0) / reference - 1.0))
    assert float(np.median(errors)) > 0.5


def test_interpolated_fallback_when_no_edge_inside() -> None:
    trace = EnergyTrace()
    for t in np.arange(0.0, 1.0, 0.005):
        trace.append(float(t), 10.0 * (int(t / 0.1)))  # 100 J/s in 100 ms steps
    spans = np.array([[0.42, 0.46]])
    estimate = aligned_energy_per_rep(trace, spans)
    assert estimate.method == "interpolated"
    assert estimate.energy_per_rep_j == pytest.approx(4.0, rel=0.05)


def test_covered_reps_counts_fractions() -> None:
    spans = np.array([[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]])
    assert covered_reps(spans, 0.5, 2.5) == pytest.approx(2.0)
    assert covered_reps(spans, -1.0, 5.0) == pytest.approx(3.0)
    assert covered_reps(spans, 1.25, 1.5) == pytest.approx(0.25)
