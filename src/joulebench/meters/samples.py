"""The NVML power-sample buffer: read it, put its timestamps on our clock, notice what was lost.

``nvmlDeviceGetSamples(handle, NVML_TOTAL_POWER_SAMPLES, last_seen_us)`` returns the power samples the
driver buffered after ``last_seen_us``, each a ``c_nvmlSample_t`` with ``timeStamp`` ("CPU timestamp in
microseconds") and a ``sampleValue`` union whose member is named by the returned value type (power
samples come as ``unsigned int`` milliwatts). Measured on an H200 (driver 580): a sample every ~20 ms
(9-47 ms), a buffer of ~2.5 s, ~0.7 ms per call against ~3 ms for one energy-counter read. Reading it
every 0.5 s gives a 20 ms power trace at a fraction of the cost of polling the counter fast.

Timestamps: NVML does not say which host clock it stamps with. `ClockMap.identify` tries the realtime,
monotonic and boot-time clocks and keeps the one in which the newest sample is a few ms old (never in
the future, never older than the buffer); the offset to ``time.perf_counter()`` is then measured at every
read by bracketing one read of that clock between two perf_counter reads (the bracket width, ~1 us, is
the conversion's uncertainty; a realtime clock stepped by NTP shows up as an offset jump and is counted).
What the clock map cannot see is how long before its stamp the sensor measured: the step test in
scripts/record_nvml_samples.py measures that lag, which `PowerTrace` can subtract.

Lost samples: a read finds a *gap* when its oldest new sample is more than ``max_interval_s`` after the
last one seen (the reader came too late and the buffer had already dropped samples, or the driver
stopped sampling), and *stale* samples when timestamps are not newer than the last seen (clock step,
driver reset); stale samples are dropped and counted, gaps are reported to the trace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: the sample interval never exceeded 47 ms on the H200; two of those without a sample means samples were lost
GAP_INTERVAL_S = 0.1
#: the H200 keeps ~2.5 s of samples; a sample older than this is not from the buffer we think we read
MAX_SAMPLE_AGE_S = 10.0
#: ``sampleValue`` union member for each NVML_VALUE_TYPE_* (nvml.h: nvmlValueType_t)
VALUE_FIELDS = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}
NVML_ERROR_NOT_FOUND = 6


def _clock_readers() -> dict[str, Callable[[], int]]:
    return {
        "realtime": time.time_ns,
        "monotonic": lambda: time.clock_gettime_ns(time.CLOCK_MONOTONIC),
        "boottime": lambda: time.clock_gettime_ns(time.CLOCK_BOOTTIME),
    }


def bracket_offset_s(read_ns: Callable[[], int], tries: int = 5,
                     perf_ns: Callable[[], int] = time.perf_counter_ns) -> tuple[float, float]:
    """(perf_counter - clock) in seconds and its uncertainty: the narrowest of ``tries`` brackets."""
    best = (0.0, float("inf"))
    for _ in range(tries):
        p0 = perf_ns()
        c = read_ns()
        p1 = perf_ns()
        half = (p1 - p0) / 2e9
        if half < best[1]:
            best = (((p0 + p1) / 2 - c) / 1e9, half)
    return best


@dataclass(frozen=True)
class ClockMap:
    """perf_counter seconds = NVML microseconds * 1e-6 + ``offset_s``, to within ``uncertainty_s``."""

    clock: str  # "realtime" | "monotonic" | "boottime" | "anchored" (newest sample taken as "now")
    offset_s: float
    uncertainty_s: float

    def to_perf_s(self, ts_us: np.ndarray) -> np.ndarray:
        return np.asarray(ts_us, dtype=np.float64) * 1e-6 + self.offset_s

    @classmethod
    def identify(cls, newest_ts_us: int, readers: dict[str, Callable[[], int]] | None = None,
                 max_age_s: float = MAX_SAMPLE_AGE_S, perf_ns: Callable[[], int] = time.perf_counter_ns) -> ClockMap:
        """The host clock in which the newest buffered sample is youngest without lying in the future."""
        readers = readers or _clock_readers()
        best: tuple[float, str] | None = None
        for name, read_ns in readers.items():
            age_s = read_ns() / 1e9 - newest_ts_us * 1e-6
            if -0.002 <= age_s <= max_age_s and (best is None or age_s < best[0]):
                best = (age_s, name)
        if best is None:
            # no known clock fits: trust only that the newest sample is recent (uncertain by one interval)
            return cls("anchored", perf_ns() / 1e9 - newest_ts_us * 1e-6, GAP_INTERVAL_S / 2)
        offset, half = bracket_offset_s(readers[best[1]], perf_ns=perf_ns)
        return cls(best[1], offset, half)

    def remeasured(self, readers: dict[str, Callable[[], int]] | None = None,
                   perf_ns: Callable[[], int] = time.perf_counter_ns) -> ClockMap:
        if self.clock == "anchored":
            return self
        offset, half = bracket_offset_s((readers or _clock_readers())[self.clock], perf_ns=perf_ns)
        return ClockMap(self.clock, offset, half)


@dataclass
class SampleBatch:
    """New samples of one read, on the perf_counter clock, and what the read noticed."""

    t_s: np.ndarray
    power_w: np.ndarray
    gap: tuple[float, float] | None = None  # (last seen, first new) perf times when samples were lost
    stale: int = 0


def decode_samples(value_type: int, samples: Any) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps in us, power in W) from pynvml's (value type, [c_nvmlSample_t]) pair."""
    name = VALUE_FIELDS.get(int(value_type))
    if name is None:
        raise ValueError(f"unknown NVML sample value type {value_type}")
    ts = np.fromiter((int(s.timeStamp) for s in samples), dtype=np.int64, count=len(samples))
    mw = np.fromiter((float(getattr(s.sampleValue, name)) for s in samples), dtype=np.float64, count=len(samples))
    return ts, mw / 1000.0


@dataclass
class PowerSampleReader:
    """Reads one GPU's power-sample buffer incrementally (from the last timestamp seen)."""

    pynvml: Any
    handle: Any
    max_interval_s: float = GAP_INTERVAL_S
    readers: dict[str, Callable[[], int]] | None = None  # host clocks by name (tests replay a recording's)
    perf_ns: Callable[[], int] = time.perf_counter_ns
    last_seen_us: int = 0
    clock: ClockMap | None = None
    gaps: int = 0
    stale: int = 0
    errors: int = 0
    reads: int = 0
    #: largest change of the clock offset between reads (s): a stepped realtime clock shows here
    max_offset_jump_s: float = 0.0
    _sampling_type: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        self._sampling_type = int(getattr(self.pynvml, "NVML_TOTAL_POWER_SAMPLES", 0))

    def supported(self) -> bool:
        """True when the driver has a power-sample buffer for this GPU (checked once, at the border)."""
        try:
            self.pynvml.nvmlDeviceGetSamples(self.handle, self._sampling_type, 0)
        except self.pynvml.NVMLError as exc:
            return _code(exc) == NVML_ERROR_NOT_FOUND  # supported, just empty right now
        return True

    def read(self) -> SampleBatch:
        self.reads += 1
        empty = SampleBatch(np.empty(0), np.empty(0))
        try:
            value_type, samples = self.pynvml.nvmlDeviceGetSamples(self.handle, self._sampling_type, self.last_seen_us)
        except self.pynvml.NVMLError as exc:
            if _code(exc) != NVML_ERROR_NOT_FOUND:  # NOT_FOUND: nothing newer than last_seen
                self.errors += 1
            return empty
        if not samples:
            return empty
        ts_us, power_w = decode_samples(value_type, samples)
        order = np.argsort(ts_us, kind="stable")
        ts_us, power_w = ts_us[order], power_w[order]
        fresh = ts_us > self.last_seen_us
        fresh[1:] &= np.diff(ts_us) > 0  # duplicates count once
        stale = int(np.count_nonzero(~fresh))
        ts_us, power_w = ts_us[fresh], power_w[fresh]
        self.stale += stale
        if ts_us.size == 0:
            return SampleBatch(np.empty(0), np.empty(0), None, stale)
        self._update_clock(int(ts_us[-1]))
        assert self.clock is not None
        t_s = self.clock.to_perf_s(ts_us)
        gap = None
        if self.last_seen_us and (ts_us[0] - self.last_seen_us) * 1e-6 > self.max_interval_s:
            gap = (float(self.clock.to_perf_s(np.array([self.last_seen_us]))[0]), float(t_s[0]))
            self.gaps += 1
        self.last_seen_us = int(ts_us[-1])
        return SampleBatch(t_s, power_w, gap, stale)

    def _update_clock(self, newest_us: int) -> None:
        if self.clock is None:
            self.clock = ClockMap.identify(newest_us, self.readers, perf_ns=self.perf_ns)
            return
        new = self.clock.remeasured(self.readers, self.perf_ns)
        self.max_offset_jump_s = max(self.max_offset_jump_s, abs(new.offset_s - self.clock.offset_s))
        self.clock = new


def _code(exc: Exception) -> int | None:
    value = getattr(exc, "value", None)
    return int(value) if isinstance(value, int) else None
