"""The monitor end to end on a replayed GPU: the power trace arrives (thread and child process), windows
and spans integrate it, results carry their trace and the check against the counter.

The replay serves a power-sample stream derived from a recorded H200 counter stream in real time
(tests/meter_recordings.py); the assertions compare what the monitor reports with the same samples
integrated directly, so they test the wiring, clock mapping and window arithmetic, not the GPU.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from joulebench.meters.monitor import EnergyMonitor, MonitorConfig
from joulebench.meters.nvml import NvmlEnergyMeter
from joulebench.meters.power_trace import PowerTrace
from joulebench.meters.spans import trace_aligned_per_rep
from joulebench.meters.window import PhaseResult, Protocol, run_repeated
from joulebench.values import Span

from .meter_recordings import UUID, LiveMap, Stream, export_for_child, live_replay, stream_from_counter


def direct_trace(stream: Stream, live: LiveMap) -> PowerTrace:
    """The replayed samples on this machine's perf clock, integrated without the monitor."""
    trace = PowerTrace("direct")
    trace.extend(live.to_test_s(stream.t_s), stream.power_mw / 1000.0)
    return trace


def clock_tolerance_j(monitor: EnergyMonitor, stream: Stream, live: LiveMap) -> float:
    """How far the monitor's figures may sit from the directly integrated samples and still be right: each
    sample moved by at most the clocks' slip since the replay began (`LiveMap.clock_slip_s`) plus the
    monitor's own offset uncertainty and largest jump, at the recording's highest power, at a few read
    boundaries. A miscount (a sample lost, a wrong window edge) costs a sample interval x power: ~20 ms x
    430-750 W, thousands of times more."""
    sampler = monitor.status()["samplers"][0]
    slip_s = live.clock_slip_s() + (sampler["uncertainty_s"] or 0.0) + sampler["max_offset_jump_s"]
    return 4.0 * slip_s * float(np.max(stream.power_mw)) / 1000.0


def replay_monitor(label: str, gpu_process: bool, lead_s: float = 0.0,
                   counter_period_s: float | None = None) -> tuple[EnergyMonitor, Stream, LiveMap]:
    stream = stream_from_counter(label)
    # start 0.3 s into the recording (a buffer's worth of history), or lead_s before it begins
    nvml, live = live_replay(stream, float(stream.t_s[0]) + 0.3 - lead_s)
    meter = NvmlEnergyMeter(nvml, UUID, UUID)
    config = MonitorConfig(cpu=False, ram=False, gpu_process=gpu_process, counter_period_s=counter_period_s,
                           nvml_module="tests.meter_recordings:child_nvml" if gpu_process else None)
    if gpu_process:
        export_for_child(f"counter:{label}", live)
    return EnergyMonitor([meter], [], config), stream, live


def test_thread_mode_trace_integrates_like_the_samples_themselves() -> None:
    monitor, stream, live = replay_monitor("40ms", gpu_process=False, counter_period_s=0.02)
    with monitor:
        assert monitor.has_trace
        time.sleep(0.15)
        t0 = time.perf_counter()
        time.sleep(0.8)
        t1 = time.perf_counter()
        reading = monitor.energy_between(t0, t1)["gpu"]
        spans = monitor.energy_over_spans(np.array([[t0, t0 + 0.3], [t0 + 0.4, t1]]))["gpu"]
        checks = monitor.checks(t0, t1)
        tol_j = clock_tolerance_j(monitor, stream, live)
    direct = direct_trace(stream, live)
    assert reading.source == "nvml-samples" and not reading.estimated
    assert reading.energy_j == pytest.approx(direct.energy_between(t0, t1), rel=1e-6, abs=tol_j)
    assert spans.per_span_j == pytest.approx(tuple(direct.span_energies(np.array([[t0, t0 + 0.3], [t0 + 0.4, t1]]))),
                                             rel=1e-6, abs=tol_j)
    assert spans.method == "trace" and spans.gap_s == 0.0 and spans.min_samples >= 14
    # the derived samples carry the counter's own tick powers: they disagree only by edge placement
    assert len(checks) == 1 and checks[0].device == UUID
    assert t0 <= checks[0].t0_s < checks[0].t1_s <= t1  # on the counter edges inside the window
    assert abs(checks[0].rel_diff) <= checks[0].resolution_rel + 0.01


def test_child_process_delivers_samples_flushes_and_pauses() -> None:
    monitor, stream, live = replay_monitor("5ms", gpu_process=True, lead_s=3.0)
    with monitor:
        assert monitor.has_trace  # the child found a sample buffer (empty until the recording starts)
        time.sleep(max(0.0, float(live.to_test_s(stream.t_s[0])) - time.perf_counter() + 0.4))
        t0 = time.perf_counter()
        time.sleep(0.5)
        t1 = time.perf_counter()
        reading = monitor.energy_between(t0, t1)["gpu"]  # waits for (flushes) samples past t1
        status = monitor.status()
        with monitor.paused():
            reads = monitor.gpu.process.status()[0]["reads"]  # type: ignore[union-attr]
            time.sleep(0.7)
            paused_reads = monitor.gpu.process.status()[0]["reads"]  # type: ignore[union-attr]
    direct = direct_trace(stream, live)
    assert reading.energy_j == pytest.approx(direct.energy_between(t0, t1), rel=1e-4)
    sampler = status["samplers"][0]
    assert sampler["clock"] == "realtime" and sampler["uncertainty_s"] < 1e-3 and sampler["gaps"] == 0
    assert status["trace"] and status["counter_period_s"] == 0.5
    assert paused_reads == reads  # no NVML read while paused


def test_run_repeated_on_the_trace_keeps_trace_checks_and_round_trips() -> None:
    monitor, stream, live = replay_monitor("40ms", gpu_process=False)
    protocol = Protocol(warmup_reps=0, min_window_s=0.9, min_reps=3)
    with monitor:
        result = run_repeated(monitor, lambda: time.sleep(0.04), protocol)
        tol_j = clock_tolerance_j(monitor, stream, live)
    gpu = result.estimates["gpu"]
    assert gpu.method == "trace-aligned" and result.readings["gpu"].source == "nvml-samples"
    expected = trace_aligned_per_rep(direct_trace(stream, live), result.spans)
    assert result.readings["gpu"].energy_j == pytest.approx(expected.energy_per_rep_j, rel=1e-6, abs=tol_j)
    slice_ = result.traces[UUID]
    assert len(slice_.t_s) >= 40 and slice_.t_s[0] <= result.spans[0, 0]
    back = PhaseResult.from_dict(result.to_dict())
    assert back.readings == result.readings and back.estimates == result.estimates
    assert np.array_equal(back.spans, result.spans) and back.traces == result.traces and back.protocol == protocol


def test_a_phase_returning_a_span_is_measured_over_that_span_only() -> None:
    monitor, stream, live = replay_monitor("40ms", gpu_process=False)

    def generate_like() -> Span:
        time.sleep(0.03)  # "prefill": not part of the phase
        first_token = time.perf_counter()
        time.sleep(0.12)
        return Span(first_token, time.perf_counter())

    with monitor:
        result = run_repeated(monitor, generate_like, Protocol(warmup_reps=0, min_window_s=0.6, min_reps=3))
        tol_j = clock_tolerance_j(monitor, stream, live)
    assert result.estimates["gpu"].method == "trace-spans"
    assert result.latency_s == pytest.approx(0.12, abs=0.03)
    expected = direct_trace(stream, live).span_energies(result.spans)
    assert result.readings["gpu"].energy_j == pytest.approx(float(np.mean(expected)), rel=1e-6, abs=tol_j)


def test_counter_method_is_still_available_and_says_so() -> None:
    monitor, _, _ = replay_monitor("40ms", gpu_process=False)
    with monitor:
        result = run_repeated(monitor, lambda: time.sleep(0.04),
                              Protocol(warmup_reps=0, min_window_s=0.6, window_method="counter"))
    assert result.estimates["gpu"].method in ("aligned", "interpolated")
    assert result.readings["gpu"].source == "nvml-counter"


def test_cumulative_energy_follows_the_trace_and_spans_outside_it_fall_back_to_the_counter() -> None:
    monitor, stream, live = replay_monitor("40ms", gpu_process=False, counter_period_s=0.02)
    with monitor:
        time.sleep(0.6)
        now = time.perf_counter()
        times = np.linspace(now - 0.5, now - 0.05, 10)
        cumulative = monitor.cumulative_j(times)["gpu"]
        first_sample = float(live.to_test_s(stream.t_s[0]))
        outside = monitor.energy_over_spans(np.array([[first_sample - 0.2, first_sample + 0.1], [now - 0.3, now - 0.1]]))
        tol_j = clock_tolerance_j(monitor, stream, live)
    direct = direct_trace(stream, live)
    assert cumulative == pytest.approx(direct.energy_at(times) - direct.energy_at(times[:1]), rel=1e-6, abs=tol_j)
    gpu = outside["gpu"]
    assert gpu.method == "trace+counter" and all(np.isfinite(gpu.per_span_j))
    assert gpu.per_span_j[1] == pytest.approx(direct.energy_between(now - 0.3, now - 0.1), rel=1e-6, abs=tol_j)


def test_the_meter_child_outlives_a_ctrl_c_of_its_process_group() -> None:
    """Ctrl-C (and `timeout -s INT` in a device call) signals the whole group: the sampler must go on
    reading until its owner closes it, not die with a traceback of its own."""
    monitor, _, _ = replay_monitor("5ms", gpu_process=True)
    with monitor:
        sampler = monitor.gpu.process  # type: ignore[union-attr]
        before = sampler.status()[0]["reads"]
        os.kill(sampler._process.pid, signal.SIGINT)
        time.sleep(0.7)
        assert sampler._process.is_alive()
        assert sampler.status()[0]["reads"] > before  # still reading
    assert not sampler._process.is_alive()  # closed by its owner
