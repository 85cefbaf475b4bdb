"""The NVML power-sample buffer reader and the power trace, on replayed real readings.

Streams are derived from the recorded H200 counter streams (a sample every 20 ms at the power of the
counter tick around it) until real sample buffers are recorded; see tests/meter_recordings.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from joulebench.meters.power_trace import PowerTrace, check_against_counter
from joulebench.meters.samples import ClockMap, PowerSampleReader, bracket_offset_s, decode_samples
from joulebench.meters.spans import contiguous, span_energies, trace_aligned_per_rep
from joulebench.meters.trace import EnergyTrace

from .conftest import load_stream
from .meter_recordings import ReplayNvml, Stream, stream_from_counter


class Clock:
    """The recording's perf time that a replay serves as 'now'; the test moves it."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def reader_on(stream: Stream, clock: Clock) -> tuple[PowerSampleReader, ReplayNvml]:
    nvml = ReplayNvml(stream, clock)
    # the samples are stamped on the recording's clock, and "perf_counter" is the recording's: map exactly
    readers = {"realtime": lambda: round((clock() - stream.perf_minus_ts_s) * 1e9)}
    reader = PowerSampleReader(nvml, "GPU-replay-0", readers=readers, perf_ns=lambda: round(clock() * 1e9))
    return reader, nvml


@pytest.fixture(params=["40ms", "5ms"])
def derived(request: pytest.FixtureRequest) -> Stream:
    return stream_from_counter(request.param)


def test_decode_gives_watts_from_milliwatt_unsigned_ints(derived: Stream) -> None:
    nvml = ReplayNvml(derived, Clock(float(derived.t_s[-1])))
    value_type, samples = nvml.nvmlDeviceGetSamples("h", 0, 0)
    ts, watts = decode_samples(value_type, samples)
    assert value_type == 1 and ts.size == len(samples) > 50
    assert watts == pytest.approx(np.array([s.sampleValue.uiVal for s in samples]) / 1000.0)
    assert 50.0 < float(np.median(watts)) < 1000.0  # an H200 between idle and its 700 W limit
    with pytest.raises(ValueError, match="value type"):
        decode_samples(42, samples)


def test_reads_every_half_second_see_every_sample_once_and_no_gap(derived: Stream) -> None:
    clock = Clock(float(derived.t_s[0]))
    reader, _ = reader_on(derived, clock)
    got = []
    while clock.t < derived.t_s[-1] + 0.5:
        got.append(reader.read())
        clock.t += 0.5
    times = np.concatenate([b.t_s for b in got])
    assert times.size == derived.ts_us.size  # every sample, none twice
    assert np.all(np.diff(times) > 0)
    assert reader.gaps == 0 and all(b.gap is None for b in got)
    assert times == pytest.approx(derived.t_s, abs=1e-6)  # on the recording's perf clock
    assert reader.clock is not None and reader.clock.clock == "realtime"


def test_a_read_later_than_the_buffer_reports_the_lost_span() -> None:
    stream = stream_from_counter("40ms")
    stream.buffer_s = 0.5  # this replay's buffer: the recording is 1.8 s long
    clock = Clock(float(stream.t_s[0]) + 0.3)
    reader, _ = reader_on(stream, clock)
    first = reader.read()
    clock.t += 1.2  # late: the buffer kept only the last 0.5 s
    late = reader.read()
    assert first.gap is None and late.gap is not None and reader.gaps == 1
    lost_from, lost_to = late.gap
    assert lost_to - lost_from == pytest.approx(1.2 - 0.5, abs=0.03)
    assert lost_from == pytest.approx(float(first.t_s[-1]), abs=1e-6)


def test_samples_not_newer_than_the_last_seen_are_dropped_and_counted() -> None:
    stream = stream_from_counter("5ms")
    clock = Clock(float(stream.t_s[0]) + 1.0)
    reader, nvml = reader_on(stream, clock)
    first = reader.read()
    nvml.ignore_last_seen = True  # a driver that hands back its whole buffer every time
    clock.t += 0.2
    again = reader.read()
    assert again.stale == first.t_s.size and reader.stale == again.stale
    assert again.t_s.size == 10 and float(again.t_s[0]) > float(first.t_s[-1])  # only the 0.2 s that is new


def test_not_found_is_no_error_but_other_nvml_errors_count() -> None:
    stream = stream_from_counter("40ms")
    clock = Clock(float(stream.t_s[0]) + 0.5)
    reader, nvml = reader_on(stream, clock)
    reader.read()
    assert reader.read().t_s.size == 0 and reader.errors == 0  # nothing new yet: NOT_FOUND
    nvml.fail_next = 15  # NVML_ERROR_GPU_IS_LOST
    clock.t += 0.2
    assert reader.read().t_s.size == 0 and reader.errors == 1
    assert reader.read().t_s.size > 0  # and the next read picks up from where it was


def test_clock_map_picks_the_clock_in_which_samples_are_recent() -> None:
    now_ns = {"realtime": 1_700_000_000_000_000_000, "monotonic": 5_000_000_000_000, "boottime": 5_100_000_000_000}
    readers = {k: (lambda v=v: v) for k, v in now_ns.items()}
    newest_us = now_ns["monotonic"] // 1000 - 15_000  # 15 ms old on the monotonic clock
    cmap = ClockMap.identify(newest_us, readers)
    assert cmap.clock == "monotonic"
    assert cmap.to_perf_s(np.array([newest_us]))[0] == pytest.approx(cmap.offset_s + newest_us * 1e-6)
    unknown = ClockMap.identify(123, readers)  # in no known clock: anchored, and it says how uncertain
    assert unknown.clock == "anchored" and unknown.uncertainty_s >= 0.04
    offset, half = bracket_offset_s(lambda: 0)
    assert 0 < half < 1e-3


def test_previous_rule_on_tick_averages_reproduces_the_counter_exactly() -> None:
    stream = load_stream("40ms")
    counter = EnergyTrace()
    for t, e in zip(stream["t_s"], stream["energy_j"], strict=True):
        counter.append(t, e)
    edges = counter.edges()
    trace = PowerTrace("gpu0", rule="previous")
    t_e, e_e = edges.t_s[1:], edges.energy_j[1:]
    trace.extend(t_e, np.concatenate([[0.0], np.diff(e_e) / np.diff(t_e)]))  # each value: power since the one before
    assert trace.energy_between(float(t_e[0]), float(t_e[-1])) == pytest.approx(float(e_e[-1] - e_e[0]), rel=1e-12)
    check = check_against_counter(trace, counter, float(t_e[2]), float(t_e[-2]))
    assert check is not None and abs(check.rel_diff) < 1e-9
    assert 0 < check.resolution_rel < 0.02  # edges placed to 2.5 ms over a ~1.5 s window


def test_trapezoid_integral_nan_outside_and_lag_shift() -> None:
    trace = PowerTrace("gpu0", lag_s=0.01)
    t = np.arange(0.0, 2.0, 0.02)
    trace.extend(t, 100.0 + 50.0 * (t >= 1.0))  # a 50 W step at 1 s
    assert trace.energy_between(0.1, 0.5) == pytest.approx(40.0)
    assert trace.energy_between(1.2, 1.4) == pytest.approx(30.0)
    assert np.isnan(trace.energy_between(-0.5, 0.5)) and np.isnan(trace.energy_between(1.0, 5.0))
    assert trace.samples_between(-1.0, 0.1)[0] == pytest.approx(-0.01)  # stamps moved back by the lag
    spans = np.array([[0.1, 0.3], [1.5, 1.9]])
    assert trace.span_energies(spans) == pytest.approx([20.0, 60.0])


def test_extend_drops_out_of_order_and_grows_consistently() -> None:
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.009, 0.047, 10_000))
    p = rng.uniform(80.0, 700.0, t.size)
    trace = PowerTrace("gpu0", capacity=16)
    for chunk in np.array_split(np.arange(t.size), 97):
        trace.extend(t[chunk], p[chunk])
        trace.extend(t[chunk][:3], p[chunk][:3])  # repeats must not count twice
    assert len(trace) == t.size
    expected = float(np.sum(0.5 * (p[1:] + p[:-1]) * np.diff(t)))
    assert trace.energy_between(float(t[0]), float(t[-1])) == pytest.approx(expected, rel=1e-12)


def test_trace_aligned_short_window_matches_the_20s_reference(derived: Stream) -> None:
    label = derived.label.removeprefix("derived-")
    doc = load_stream(label)
    trace = PowerTrace("gpu0")
    trace.extend(derived.t_s, derived.power_mw / 1000.0)
    spans = np.asarray(doc["spans"])
    estimate = trace_aligned_per_rep(trace, spans)
    assert estimate.method == "trace-aligned" and estimate.blocks >= 2 and estimate.ci95_j > 0
    assert abs(estimate.energy_per_rep_j / doc["reference_j_per_call"] - 1.0) < 0.01


def test_span_energies_count_nothing_between_spans() -> None:
    trace = PowerTrace("gpu0")
    t = np.arange(0.0, 10.0, 0.02)
    trace.extend(t, np.where((t % 1.0) < 0.5, 300.0, 100.0))  # 300 W for half of each second
    spans = np.array([[k + 0.05, k + 0.45] for k in range(8)])
    assert not contiguous(spans) and contiguous(np.array([[0.0, 1.0], [1.0, 2.0]]))
    result = span_energies(spans, "gpu", [trace], [], "nvml-samples", False, ("gpu0",))
    assert result.mean_j == pytest.approx(120.0, rel=1e-6)  # 0.4 s at 300 W, the 100 W parts not counted
    assert result.ci95_j == pytest.approx(0.0, abs=1e-6) and result.min_samples >= 19
    assert result.reading.duration_s == pytest.approx(0.4) and result.method == "trace"
