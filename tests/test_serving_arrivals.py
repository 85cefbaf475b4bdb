"""Arrival laws: exact schedules, distributions (fixed seeds), reproducibility, ramp-up, spec errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from joulebench.errors import UsageError
from joulebench.serving.arrivals import parse_arrival, ramp, schedule
from joulebench.serving.specs import parse_duration_s, parse_rate_per_s


def ks_statistic(sample: np.ndarray, cdf) -> float:
    x = np.sort(sample)
    n = x.size
    f = cdf(x)
    return float(max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n)))


def gaps(spec: str, n: int, seed: int = 1) -> np.ndarray:
    return np.diff(schedule(parse_arrival(spec), n + 1, seed))


def test_fixed_schedule_is_exact() -> None:
    assert schedule(parse_arrival("fixed:50ms"), 5) == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2], abs=1e-12)
    assert schedule(parse_arrival("fixed:0.3s"), 3) == pytest.approx([0.0, 0.3, 0.6])


def test_burst_sends_all_at_zero() -> None:
    assert schedule(parse_arrival("burst"), 4) == [0.0, 0.0, 0.0, 0.0]


def test_times_generator_matches_schedule() -> None:
    law = parse_arrival("poisson:20/s")
    assert list(law.times_s(10, seed=3)) == schedule(law, 10, 3)


@pytest.mark.parametrize("spec", ["poisson:20/s", "gamma:20/s,0.5", "uniform:0s,1s"])
def test_seeds_reproduce_and_differ(spec: str) -> None:
    law = parse_arrival(spec)
    assert schedule(law, 50, 7) == schedule(law, 50, 7)
    assert schedule(law, 50, 7) != schedule(law, 50, 8)
    times = schedule(law, 50, 7)
    assert times[0] == 0.0 and all(b >= a for a, b in zip(times, times[1:], strict=False))


def test_poisson_gaps_are_exponential() -> None:
    g = gaps("poisson:20/s", 5000)
    d = ks_statistic(g, lambda x: 1.0 - np.exp(-20.0 * x))
    assert d < 1.36 / math.sqrt(g.size)  # KS at 5%
    assert g.mean() == pytest.approx(1 / 20, rel=0.05)


def test_uniform_gaps_are_uniform() -> None:
    g = gaps("uniform:0s,1s", 5000)
    assert g.min() >= 0.0 and g.max() <= 1.0
    assert ks_statistic(g, lambda x: np.clip(x, 0, 1)) < 1.36 / math.sqrt(g.size)
    g2 = gaps("uniform:100ms,300ms", 2000)
    assert g2.min() >= 0.1 and g2.max() <= 0.3 and g2.mean() == pytest.approx(0.2, rel=0.03)


@pytest.mark.parametrize("shape", [0.5, 1.0, 4.0])
def test_gamma_mean_and_burstiness(shape: float) -> None:
    g = gaps(f"gamma:20/s,{shape}", 20000)
    assert g.mean() == pytest.approx(1 / 20, rel=0.05)
    cv2 = g.var() / g.mean() ** 2
    assert cv2 == pytest.approx(1 / shape, rel=0.1)


def test_trace_csv_and_jsonl(tmp_path) -> None:
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("time_s,other\n10.0,b\n10.5,a\n11.0,c\n")
    assert schedule(parse_arrival(f"trace:{csv_path}"), 3) == pytest.approx([0.0, 0.5, 1.0])
    unsorted = tmp_path / "u.csv"
    unsorted.write_text("time_s,other\n10.5,a\n10.0,b\n11.0,c\n")  # refused, not silently sorted (issue 16)
    with pytest.raises(UsageError, match="line 3.*sorted"):
        parse_arrival(f"trace:{unsorted}")
    jl = tmp_path / "t.jsonl"
    jl.write_text("\n".join(json.dumps({"timestamp": t}) for t in (2.0, 2.25, 3.0)))
    assert schedule(parse_arrival(f"trace:{jl}"), 2) == pytest.approx([0.0, 0.25])
    with pytest.raises(UsageError, match="holds only 3"):
        schedule(parse_arrival(f"trace:{jl}"), 4)


def test_ramp_warps_time_and_keeps_rate_after() -> None:
    times = np.array(schedule(parse_arrival("fixed:100ms"), 101, ramp_up_s=4.0))
    g = np.diff(times)
    assert g[0] > 0.1  # slower at the start
    late = g[times[1:] > 4.0 + 1e-9]
    assert late == pytest.approx(np.full(late.size, 0.1))
    # instantaneous rate at base time tau < R/2 is rate * t / R
    assert ramp(np.array([0.5]), 4.0)[0] == pytest.approx(math.sqrt(2 * 4.0 * 0.5))


@pytest.mark.parametrize(
    "spec, match",
    [
        ("weibull:3", "unknown law"),
        ("fixed:", "missing argument"),
        ("fixed:abc", "not a duration"),
        ("uniform:1s", "two gap bounds"),
        ("uniform:2s,1s", "below the lower"),
        ("poisson:-3/s", "not a rate|must be > 0"),
        ("gamma:20/s", "rate and a shape"),
        ("gamma:20/s,0", "shape must be > 0"),
        ("burst:3", "no argument"),
        ("trace:/nonexistent.csv", "not found"),
    ],
)
def test_bad_specs_fail_with_one_line(spec: str, match: str) -> None:
    with pytest.raises(UsageError, match=match) as info:
        parse_arrival(spec)
    assert "\n" not in str(info.value)


def test_unknown_law_lists_allowed_forms() -> None:
    with pytest.raises(UsageError, match="poisson:20/s"):
        parse_arrival("nope")


def test_duration_and_rate_units() -> None:
    assert parse_duration_s("50ms", "f") == pytest.approx(0.05)
    assert parse_duration_s("2min", "f") == 120.0
    assert parse_duration_s("1.5", "f") == 1.5
    assert parse_rate_per_s("1200/min", "f") == pytest.approx(20.0)
    assert parse_rate_per_s("5", "f") == 5.0
