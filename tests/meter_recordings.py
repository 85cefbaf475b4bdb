"""Replaying real NVML readings for the meter tests (CI has no GPU).

Two kinds of source, both real readings:

- ``tests/data/nvml_samples_<scenario>.json``: raw power-sample buffers and energy-counter polls side
  by side, recorded on an H200 by scripts/record_nvml_samples.py (format documented there). Tests that
  need real sample buffers skip while these files are absent.
- ``tests/data/nvml_stream_<label>.json``: energy-counter streams polled every 5 ms (H200). From these a
  power-sample stream is *derived* (a sample every 20 ms holding the average power of the counter tick
  it falls in), so that the sample-buffer code paths can be exercised on real power levels now.

`ReplayNvml` is just enough of pynvml: devices, the energy counter and ``nvmlDeviceGetSamples`` served
from a stream as of a clock that the test drives (or real time, mapped onto the recording).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from joulebench.meters.samples import bracket_offset_s

DATA = Path(__file__).parent / "data"
FORMAT = "joulebench-nvml-recording/1"
UUID = "GPU-replay-0"
ENV = "JOULEBENCH_REPLAY_NVML"


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


@dataclass
class Stream:
    """Samples (us on the recording's sample clock, mW) and counter polls (recording perf s, mJ)."""

    label: str
    ts_us: np.ndarray
    power_mw: np.ndarray
    value_type: int
    counter_t_s: np.ndarray
    counter_mj: np.ndarray
    #: recording perf seconds = ts_us * 1e-6 + perf_minus_ts_s
    perf_minus_ts_s: float
    buffer_s: float = 2.5

    @property
    def t_s(self) -> np.ndarray:
        """Sample times on the recording's perf clock."""
        return self.ts_us * 1e-6 + self.perf_minus_ts_s


def recording(scenario: str) -> dict[str, Any] | None:
    path = DATA / f"nvml_samples_{scenario}.json"
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    assert doc["format"] == FORMAT
    return doc


def recorded_clock(doc: dict[str, Any]) -> str:
    """The host clock the recorded samples are stamped with: the one in which, at every read, the newest
    sample is a little in the past (the same rule as `ClockMap.identify`)."""
    votes: dict[str, int] = {}
    for poll in doc["polls"]:
        if poll["ts_us"]:
            ages = {c: (poll[f"{c}_us"] - max(poll["ts_us"])) * 1e-6 for c in ("realtime", "monotonic", "boottime")}
            fits = {c: a for c, a in ages.items() if -0.002 <= a <= 10.0}
            if fits:
                best = min(fits, key=fits.__getitem__)
                votes[best] = votes.get(best, 0) + 1
    return max(votes, key=votes.__getitem__)


def recorded_offset_s(doc: dict[str, Any]) -> float:
    """perf - sample clock, from the reads in the recording (each bracketed by perf_counter)."""
    clock = recorded_clock(doc)
    values = [0.5 * (p["perf_before_s"] + p["perf_after_s"]) - p[f"{clock}_us"] * 1e-6 for p in doc["polls"]]
    return float(np.median(values))


def stream_from_recording(doc: dict[str, Any]) -> Stream:
    ts, mw = {}, {}
    for poll in doc["polls"]:
        for t, v in zip(poll["ts_us"], poll["value"], strict=True):
            ts[t], mw[t] = t, v
    keys = sorted(ts)
    return Stream(doc["scenario"], np.array(keys, dtype=np.int64), np.array([mw[k] for k in keys]),
                  int(doc["sample_value_type"]), np.asarray(doc["counter"]["t_s"]),
                  np.asarray(doc["counter"]["energy_mj"]), recorded_offset_s(doc))


def stream_from_counter(label: str, interval_s: float = 0.02, realtime_origin_s: float = 1.7e9) -> Stream:
    """A sample every ``interval_s`` holding the average power of the real counter tick around it."""
    doc = json.loads((DATA / f"nvml_stream_{label}.json").read_text())
    t, e = np.asarray(doc["t_s"]), np.asarray(doc["energy_j"])
    changed = np.nonzero(np.diff(e) != 0)[0] + 1
    edge_t = 0.5 * (t[changed - 1] + t[changed])
    edge_e = e[changed]
    tick_w = np.diff(edge_e) / np.diff(edge_t)
    times = np.arange(edge_t[0] + interval_s, edge_t[-1], interval_s)
    power_w = tick_w[np.clip(np.searchsorted(edge_t, times) - 1, 0, tick_w.size - 1)]
    ts_us = np.round((times - t[0] + realtime_origin_s) * 1e6).astype(np.int64)
    perf_minus_ts = float(t[0] - realtime_origin_s)
    return Stream(f"derived-{label}", ts_us, np.round(power_w * 1000.0), 1, t, e * 1000.0 + 5e9, perf_minus_ts)


class _Value:
    def __init__(self, mw: float) -> None:
        self.uiVal = int(mw)


class _Sample:
    def __init__(self, ts: int, mw: float) -> None:
        self.timeStamp = ts
        self.sampleValue = _Value(mw)


class ReplayNvml:
    """pynvml stand-in serving one GPU from a `Stream` as of ``now_s()`` (recording perf seconds)."""

    NVMLError = NVMLError
    NVML_TOTAL_POWER_SAMPLES = 0
    NVML_CLOCK_SM = 1
    NVML_TEMPERATURE_GPU = 0

    def __init__(self, stream: Stream, now_s: Callable[[], float], ts_shift_us: int = 0) -> None:
        self.stream = stream
        self.now_s = now_s
        self.ts_shift_us = ts_shift_us  # moves the served timestamps onto another clock
        self.sample_calls = 0
        self.fail_next: int | None = None  # an NVML error code for the next sample read
        self.ignore_last_seen = False

    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, i: int) -> str:
        return UUID

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> str:
        return UUID

    def nvmlDeviceGetUUID(self, handle: str) -> str:
        return UUID

    def nvmlDeviceGetClockInfo(self, handle: str, which: int) -> int:
        return 1980

    def nvmlDeviceGetTemperature(self, handle: str, which: int) -> int:
        return 41

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: str) -> float:
        s = self.stream
        i = int(np.searchsorted(s.counter_t_s, self.now_s(), side="right")) - 1
        return float(s.counter_mj[max(i, 0)])

    def now_ts_us(self) -> float:
        return (self.now_s() - self.stream.perf_minus_ts_s) * 1e6

    def nvmlDeviceGetSamples(self, handle: str, sampling_type: int, last_seen_us: int) -> tuple[int, list[_Sample]]:
        self.sample_calls += 1
        if self.fail_next is not None:
            code, self.fail_next = self.fail_next, None
            raise NVMLError(code)
        s = self.stream
        now_us = self.now_ts_us()
        ts = s.ts_us + self.ts_shift_us
        keep = (s.ts_us <= now_us) & (s.ts_us >= now_us - s.buffer_s * 1e6)
        if not self.ignore_last_seen:
            keep &= ts > last_seen_us
        if not np.any(keep):
            raise NVMLError(6)  # NVML_ERROR_NOT_FOUND
        return s.value_type, [_Sample(int(t), float(p)) for t, p in zip(ts[keep], s.power_mw[keep], strict=True)]


@dataclass
class LiveMap:
    """Maps this machine's clocks onto a recording: recording perf = perf_counter() + shift_s."""

    shift_s: float
    ts_shift_us: int  # served timestamp = recorded timestamp + this (lands on this machine's realtime)
    perf_minus_real_s: float = 0.0  # the realtime-to-perf offset the stamps were put on, bracketed
    bracket_s: float = 0.0  # that offset's uncertainty

    @classmethod
    def start_at(cls, stream: Stream, rec_t0_s: float) -> LiveMap:
        perf0 = time.perf_counter()
        offset, half = bracket_offset_s(time.time_ns, tries=20)  # perf - realtime, as the monitor measures it
        shift = rec_t0_s - perf0
        # a sample recorded at rec perf r is served stamped with the realtime at which test perf = r - shift
        ts_shift = round((stream.perf_minus_ts_s - shift - offset) * 1e6)
        return cls(shift, ts_shift, offset, half)

    def to_test_s(self, rec_s: np.ndarray) -> np.ndarray:
        return np.asarray(rec_s) - self.shift_s

    def clock_slip_s(self) -> float:
        """How far this machine's realtime has moved against perf_counter since the replay began, plus the
        two measurements' uncertainties and the stamps' 1 us rounding. The replay's stamps stay on the
        realtime of its start, while the monitor maps them with the offset it measures at each read (as it
        must on a real GPU), so the two disagree by this much: a CI run under load once saw ~3 us, 2.8e-5
        of a 0.45 s cumulative energy."""
        offset, half = bracket_offset_s(time.time_ns, tries=20)
        return abs(offset - self.perf_minus_real_s) + half + self.bracket_s + 1e-6


def live_replay(stream: Stream, rec_t0_s: float) -> tuple[ReplayNvml, LiveMap]:
    live = LiveMap.start_at(stream, rec_t0_s)
    return ReplayNvml(stream, lambda: time.perf_counter() + live.shift_s, live.ts_shift_us), live


def export_for_child(source: str, live: LiveMap) -> None:
    """Let a spawned NVML child process replay the same stream on the same mapping (`child_nvml`)."""
    os.environ[ENV] = json.dumps({"source": source, "shift_s": live.shift_s, "ts_shift_us": live.ts_shift_us})


def load_source(source: str) -> Stream:
    kind, name = source.split(":")
    if kind == "counter":
        return stream_from_counter(name)
    doc = recording(name)
    assert doc is not None
    return stream_from_recording(doc)


def child_nvml() -> ReplayNvml:
    """Factory named in ``MonitorConfig(nvml_module="tests.meter_recordings:child_nvml")``."""
    cfg = json.loads(os.environ[ENV])
    return ReplayNvml(load_source(cfg["source"]), lambda: time.perf_counter() + cfg["shift_s"], int(cfg["ts_shift_us"]))
