"""Closed-form sums against brute force; the two launch-overlap modes; energy split."""

from __future__ import annotations

import numpy as np
import pytest

from joulebench.analytic.params import ModelParams
from joulebench.analytic.roofline import Ceilings, energy_j, envelope_sums, op_time, op_time_over_range


def _brute(a, b, lo, hi):
    xs = np.arange(lo, hi + 1)
    vals = np.array([ai + bi * xs for ai, bi in zip(a, b, strict=True)])
    idx = np.argmax(vals, axis=0)
    return [float(np.sum(np.where(idx == i, vals[i], 0.0))) for i in range(len(a))]


@pytest.mark.parametrize("seed", range(25))
def test_envelope_sums_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 4))
    a = list(rng.normal(0, 10, k))
    b = list(rng.normal(0, 0.2, k))
    lo = int(rng.integers(0, 50))
    hi = lo + int(rng.integers(0, 300))
    got = envelope_sums(a, b, lo, hi)
    want = _brute(a, b, lo, hi)
    assert sum(float(g) for g in got) == pytest.approx(sum(want), rel=1e-9, abs=1e-9)
    for g, w in zip(got, want, strict=True):
        assert float(g) == pytest.approx(w, rel=1e-9, abs=1e-6)


def test_empty_range_sums_to_zero():
    got = envelope_sums([1.0, 2.0], [0.0, 1.0], 10, 9)
    assert all(float(g) == 0.0 for g in got)


CEIL = Ceilings(peak_flops_per_s=1e12, bandwidth_bytes_per_s=1e9)


def test_op_time_bounds_and_modes():
    p = ModelParams(mu_compute=1.0, mu_memory=1.0, t_launch_s=1e-3)
    # 2e9 FLOP -> 2 ms compute; 1e6 B -> 1 ms memory; 1 kernel -> 1 ms launch
    t = op_time(2e9, 1e6, 1, CEIL, p)
    assert float(t.compute_s) == pytest.approx(2e-3) and float(t.memory_s) == 0.0
    assert float(t.latency_s) == pytest.approx(3e-3)  # "sum": gpu + launch
    assert t.bound().item() == "compute"
    t_max = op_time(
        2e9, 1e6, 1, CEIL, ModelParams(mu_compute=1.0, mu_memory=1.0, t_launch_s=1e-3, launch_overlap="max")
    )
    assert float(t_max.latency_s) == pytest.approx(2e-3)
    t_launch = op_time(1e6, 1e3, 10, CEIL, p)
    assert t_launch.bound().item() == "launch"
    assert float(op_time(1e6, 1e3, 10, CEIL, p, graphs=True).launch_s) == 0.0


def test_mu_scales_time():
    t = op_time(1e9, 1.0, 0, CEIL, ModelParams(mu_compute=0.5, mu_memory=1.0, t_launch_s=0.0))
    assert float(t.latency_s) == pytest.approx(2e-3)


def test_range_sum_matches_steps_with_window():
    p = ModelParams(mu_compute=0.8, mu_memory=0.7, t_launch_s=2e-6, launch_overlap="max")
    f0, f1, d0, d1, nk = 1e8, 3e6, 2e5, 4e3, 3
    lo, hi, window = 5, 400, 128
    total = op_time_over_range(f0, f1, d0, d1, nk, lo, hi, CEIL, p, window=window)
    brute = 0.0
    for k in range(lo, hi + 1):
        kk = min(k, window)
        brute += float(op_time(f0 + f1 * kk, d0 + d1 * kk, nk, CEIL, p).latency_s)
    assert float(total.latency_s) == pytest.approx(brute, rel=1e-9)


def test_energy_is_idle_plus_active_split():
    p = ModelParams(
        mu_compute=1.0,
        mu_memory=1.0,
        t_launch_s=1e-3,
        p_idle_w=100,
        p_compute_w=500,
        p_memory_w=300,
        p_launch_w=50,
    )
    t = op_time(2e9, 1e6, 1, CEIL, p)  # 2 ms compute + 1 ms launch
    assert float(energy_j(t, p)) == pytest.approx(100 * 3e-3 + 500 * 2e-3 + 50 * 1e-3)
