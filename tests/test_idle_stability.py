"""Idle baselines (cold/warm, named in every reading), interleaved repetitions until stable, and the
value classes' dict round trips. CPU-only monitors (labelled estimates) and a replayed GPU."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest

from joulebench.errors import UsageError
from joulebench.meters.idle import IdleBaseline, measure_idle
from joulebench.meters.monitor import EnergyMonitor, MonitorConfig
from joulebench.meters.spans import SpanEnergy
from joulebench.meters.stability import PhaseRun, Spread, _stable_phase, run_interleaved
from joulebench.meters.window import Protocol, run_repeated
from joulebench.values import Reading

from .test_monitor_trace import direct_trace, replay_monitor


def cpu_monitor() -> EnergyMonitor:
    return EnergyMonitor.open(MonitorConfig(gpus=[], cpu=True, ram=True))


def test_idle_baseline_on_a_replayed_gpu_is_the_trace_average() -> None:
    monitor, stream, live = replay_monitor("40ms", gpu_process=False)
    with monitor:
        baseline = measure_idle(monitor, duration_s=0.5, settle_s=0.1, state="warm")
    direct = direct_trace(stream, live)
    t0 = baseline.t_start_s
    assert baseline.state == "warm" and baseline.settle_s == 0.1 and baseline.sources["gpu"] == "nvml-samples"
    expected_w = direct.energy_between(t0, t0 + baseline.duration_s) / baseline.duration_s
    assert baseline.power_w["gpu"] == pytest.approx(expected_w, rel=1e-6)
    assert baseline.sm_clock_mhz == 1980 and baseline.temperature_c == 41


def test_idle_on_cpu_estimates_and_readings_name_their_baseline() -> None:
    with cpu_monitor() as monitor:
        cold = measure_idle(monitor, duration_s=0.3, state="cold")
        result = run_repeated(monitor, lambda: time.sleep(0.01), Protocol(warmup_reps=0, min_window_s=0.2), baseline=cold)
    assert set(cold.power_w) == {"cpu", "ram"} and all(v > 0 for v in cold.power_w.values())
    assert cold.estimated == {"cpu": True, "ram": True} and cold.sm_clock_mhz is None
    ram = result.readings["ram"]
    assert ram.idle_state == "cold" and ram.idle_power_w == cold.power_w["ram"]
    assert ram.above_idle_energy_j == pytest.approx(ram.energy_j - cold.power_w["ram"] * ram.duration_s)
    assert ram.to_dict()["idle_state"] == "cold"
    assert IdleBaseline.from_dict(cold.to_dict()) == cold


def test_idle_rejects_bad_input_naming_the_field() -> None:
    with cpu_monitor() as monitor:
        with pytest.raises(UsageError, match="state='hot'"):
            measure_idle(monitor, 0.1, state="hot")
        with pytest.raises(UsageError, match="idle_s=0"):
            measure_idle(monitor, 0.0)
        with pytest.raises(UsageError, match="settle_s=-1"):
            measure_idle(monitor, 0.1, settle_s=-1)


def test_reading_without_baseline_has_no_above_idle_and_round_trips() -> None:
    reading = Reading("gpu", 12.5, 0.04, "nvml-samples", False, ("GPU-a",))
    assert reading.above_idle_energy_j is None
    assert Reading.from_dict(reading.to_dict()) == reading
    span = SpanEnergy(reading, (12.0, 13.0), 6.35, "trace", 0.0, 3)
    assert SpanEnergy.from_dict(span.to_dict()) == span


def test_interleaved_rounds_alternate_phases_and_stop_when_stable() -> None:
    calls: list[str] = []
    seen: list[tuple[str, int]] = []

    def phase(name: str, seconds: float):  # noqa: ANN202
        def run() -> None:
            calls.append(name)
            time.sleep(seconds)
        return run

    phases = [PhaseRun("prefill", phase("prefill", 0.01)), PhaseRun("decode", phase("decode", 0.03))]
    protocols = {"prefill": Protocol(warmup_reps=1, min_window_s=0.05), "decode": Protocol(warmup_reps=1, min_window_s=0.0,
                                                                                           min_reps=1)}
    with cpu_monitor() as monitor:
        result = run_interleaved(monitor, phases, protocols, target_rel_ci=0.5, budget_s=60.0, min_rounds=3,
                                 on_rep=lambda name, i, res: seen.append((name, i)))
    # The number of rounds depends on how steady sleep() was on this machine; what the rule fixes does not.
    assert result.unstable == [] and result.rounds >= 3  # a loose target within a large budget is always met
    assert seen[:6] == [("prefill", 0), ("decode", 0), ("prefill", 1), ("decode", 1), ("prefill", 2), ("decode", 2)]
    for name, stable in result.phases.items():
        reps = list(stable.results)
        first_met = next(k for k in range(1, len(reps) + 1) if not _stable_phase(name, reps[:k], 0.5, 3).unstable)
        assert first_met == len(reps) >= 3  # stopped at the first repetition that met the target, not later
        assert [i for n, i in seen if n == name] == list(range(len(reps)))  # one repetition a round
    decode = result.phases["decode"]
    assert calls.count("decode") == 1 + decode.latency.n  # one warm-up, in the first round only, then one call a round
    assert decode.energy == {}  # CPU/RAM are estimates: stability is judged on latency
    assert decode.readings["ram"].energy_j == pytest.approx(np.mean([r.readings["ram"].energy_j for r in decode.results]))


def test_a_noisy_phase_is_flagged_unstable_when_the_budget_runs_out() -> None:
    rng = random.Random(0)
    phases = [PhaseRun("steady", lambda: time.sleep(0.005)), PhaseRun("noisy", lambda: time.sleep(rng.uniform(0.001, 0.03)))]
    protocols = {n: Protocol(warmup_reps=0, min_window_s=0.0, min_reps=1) for n in ("steady", "noisy")}
    with cpu_monitor() as monitor:
        result = run_interleaved(monitor, phases, protocols, target_rel_ci=0.02, budget_s=0.8, min_rounds=3)
    assert "noisy" in result.unstable
    noisy = result.phases["noisy"]
    assert noisy.latency.n >= 3 and noisy.latency.rel_ci95 > 0.02 and noisy.latency.cv > 0.2
    assert result.to_dict()["unstable"] == result.unstable


def test_interleaved_input_is_checked_before_anything_runs() -> None:
    ran: list[int] = []
    with cpu_monitor() as monitor:
        with pytest.raises(UsageError, match="protocols"):
            run_interleaved(monitor, [PhaseRun("a", lambda: ran.append(1))], {})
        with pytest.raises(UsageError, match="target_rel_ci=2"):
            run_interleaved(monitor, [PhaseRun("a", lambda: ran.append(1))], {"a": Protocol()}, target_rel_ci=2)
    assert ran == []


def test_spread_of_known_values() -> None:
    spread = Spread.of([9.0, 10.0, 11.0])
    assert spread.mean == 10.0 and spread.cv == pytest.approx(0.1)
    t_2 = 4.302652729911275  # two-sided 95% Student-t quantile, 2 degrees of freedom (scipy.stats.t.ppf(0.975, 2))
    assert spread.rel_ci95 == pytest.approx(t_2 * 1.0 / np.sqrt(3) / 10.0)
    assert np.isnan(Spread.of([5.0]).rel_ci95)
