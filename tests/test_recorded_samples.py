"""Real NVML sample buffers recorded on an H200 (scripts/record_nvml_samples.py), replayed.

The recordings are ``tests/data/nvml_samples_<scenario>.json`` (recorded on 2026-12-02, see
docs/validation/issue10/README.md; a test skips only where its recording is missing). They check the
sample decoding and clock identification against what the recording saw, the gap detection on the
recorded gap probe, and the trace against the energy counter recorded beside it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from joulebench.meters.power_trace import PowerTrace
from joulebench.meters.samples import ClockMap, PowerSampleReader
from joulebench.meters.spans import trace_aligned_per_rep
from joulebench.meters.trace import EnergyTrace, aligned_energy_per_rep

from .meter_recordings import ReplayNvml, recording, stream_from_recording


def need(scenario: str) -> dict[str, Any]:
    doc = recording(scenario)
    if doc is None:
        pytest.skip(f"tests/data/nvml_samples_{scenario}.json not recorded yet (scripts/record_nvml_samples.py)")
    return doc


def counter_trace(doc: dict[str, Any]) -> EnergyTrace:
    trace = EnergyTrace()
    for t, mj in zip(doc["counter"]["t_s"], doc["counter"]["energy_mj"], strict=True):
        trace.append(t, mj / 1000.0)
    return trace


def power_trace(doc: dict[str, Any]) -> PowerTrace:
    stream = stream_from_recording(doc)
    trace = PowerTrace("recorded")
    trace.extend(stream.t_s, stream.power_mw / 1000.0)
    return trace


@pytest.mark.parametrize("scenario", ["idle", "steady"])
def test_sample_values_are_milliwatts_agreeing_with_power_usage(scenario: str) -> None:
    doc = need(scenario)
    stream = stream_from_recording(doc)
    assert stream.value_type == 1  # unsigned int, as NVML documents for power samples
    usage_t, usage_mw = np.asarray(doc["power_usage"]["t_s"]), np.asarray(doc["power_usage"]["power_mw"])
    inside = (stream.t_s >= usage_t[0]) & (stream.t_s <= usage_t[-1])
    assert abs(float(np.mean(stream.power_mw[inside])) / float(np.mean(usage_mw)) - 1.0) < 0.05


def test_recorded_timestamps_identify_one_clock_with_recent_samples() -> None:
    doc = need("steady")
    clocks, ages = set(), []
    for poll in doc["polls"]:
        if not poll["ts_us"]:
            continue
        readers = {c: (lambda v=poll[f"{c}_us"]: v * 1000) for c in ("realtime", "monotonic", "boottime")}
        cmap = ClockMap.identify(max(poll["ts_us"]), readers)
        clocks.add(cmap.clock)
        ages.append(poll[f"{cmap.clock}_us"] / 1e6 - max(poll["ts_us"]) / 1e6)
    assert len(clocks) == 1 and "anchored" not in clocks
    assert 0.0 <= min(ages) and max(ages) < 0.1  # the newest sample is never from the future, never stale


def test_the_recorded_gap_probe_is_reported_as_one_gap() -> None:
    doc = need("idle")
    stream = stream_from_recording(doc)
    full = doc["first_full_read"]["ts_us"]
    stream.buffer_s = (max(full) - min(full)) / 1e6  # the driver's buffer depth, as first read
    now = {"t": 0.0}
    nvml = ReplayNvml(stream, lambda: now["t"])
    readers = {"realtime": lambda: round((now["t"] - stream.perf_minus_ts_s) * 1e9)}
    reader = PowerSampleReader(nvml, "h", readers=readers, perf_ns=lambda: round(now["t"] * 1e9))
    gaps = []
    for poll in doc["polls"]:  # the recorded read schedule, including the pause
        now["t"] = poll["perf_before_s"]
        batch = reader.read()
        if batch.gap is not None:
            gaps.append(batch.gap)
    assert reader.gaps == 1 and len(gaps) == 1
    lost_s = gaps[0][1] - gaps[0][0]
    assert doc["gap_probe_s"] - stream.buffer_s - 0.6 < lost_s < doc["gap_probe_s"] - stream.buffer_s + 0.6


@pytest.mark.parametrize("scenario", ["steady", "short"])
def test_trace_short_windows_match_the_counter_reference(scenario: str) -> None:
    """Each 1.2 s window of the default trace method within 1% of the counter over the whole ~8 s load,
    the mean within 0.5% (the issue's must-show, here on recorded data)."""
    doc = need(scenario)
    spans = np.asarray(doc["load_spans"])
    reference = aligned_energy_per_rep(counter_trace(doc), spans[2:]).energy_per_rep_j
    trace = power_trace(doc)
    per_window = max(3, int(np.ceil(1.2 / float(np.mean(spans[:, 1] - spans[:, 0])))))
    errors = []
    for start in range(2, len(spans) - per_window, per_window):
        estimate = trace_aligned_per_rep(trace, spans[start: start + per_window])
        errors.append(estimate.energy_per_rep_j / reference - 1.0)
    assert len(errors) >= 4
    assert abs(float(np.mean(errors))) <= 0.005 and float(np.max(np.abs(errors))) <= 0.01


def test_bursty_trace_integral_matches_the_counter() -> None:
    doc = need("bursty")
    counter = counter_trace(doc)
    edges = counter.edges()
    spans = np.asarray(doc["load_spans"])
    inside = edges.inside(float(spans[0, 0]), float(spans[-1, 1]))
    t0, t1 = float(inside.t_s[0]), float(inside.t_s[-1])
    counter_j = float(inside.energy_j[-1] - inside.energy_j[0])
    assert abs(power_trace(doc).energy_between(t0, t1) / counter_j - 1.0) < 0.02
