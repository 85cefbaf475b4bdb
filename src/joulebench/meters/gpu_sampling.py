"""Where the GPU rows come from: the NVML child process (default), or this process's sampler thread.

Both deliver the same two streams into the monitor's traces: (time, cumulative energy) counter rows
into each GPU's `EnergyTrace`, and power samples (with gaps) into each GPU's `PowerTrace`. Keeping
this in one place lets `EnergyMonitor` ask questions without knowing which process polled.
"""

from __future__ import annotations

import threading
from typing import Any

from joulebench.meters.nvml import NvmlEnergyMeter
from joulebench.meters.nvml_process import NvmlProcessSampler
from joulebench.meters.power_trace import PowerTrace
from joulebench.meters.samples import PowerSampleReader
from joulebench.meters.trace import EnergyTrace


class GpuSampling:
    """The GPU side of one monitor: counters and power-sample buffers, polled here or in a child."""

    def __init__(self, meters: list[NvmlEnergyMeter], counters: list[EnergyTrace], power: list[PowerTrace]) -> None:
        self.meters = meters
        self.counters = counters
        self.power = power
        self.process: NvmlProcessSampler | None = None
        self.readers: list[PowerSampleReader] = []  # polled by the monitor's thread when there is no child
        #: True when every GPU has a power trace from its sample buffer
        self.trace_on = False
        self._lock = threading.Lock()

    def start(self, use_process: bool, counter_period_s: float, samples_period_s: float, want_samples: bool,
              nvml_module: str | None = None) -> bool:
        """Start the child (True) or, failing or not wanted, set up sample readers for the thread (False)."""
        if not self.meters:
            return False
        if use_process:
            sampler = NvmlProcessSampler([m.device for m in self.meters], counter_period_s, samples_period_s,
                                         want_samples, nvml_module=nvml_module)
            if sampler.start():
                self.process = sampler
                self.trace_on = sampler.samples_on
                return True
        if want_samples:
            readers = [PowerSampleReader(m.nvml, m.handle) for m in self.meters]
            if all(r.supported() for r in readers):
                self.readers, self.trace_on = readers, True
                self.read_here()
        return False

    def set_period(self, period_s: float) -> None:
        if self.process is not None:
            self.process.set_period(period_s)

    def pause(self, paused: bool) -> None:
        if self.process is not None:
            self.process.pause(paused)

    def read_here(self) -> None:
        """Thread mode: read each sample buffer into its trace."""
        for reader, trace in zip(self.readers, self.power, strict=False):
            batch = reader.read()
            if batch.gap is not None:
                trace.add_gap(*batch.gap)
            trace.extend(batch.t_s, batch.power_w)

    def refresh(self) -> None:
        """Copy what the child wrote since the last call into the traces."""
        if self.process is None:
            return
        with self._lock:
            t, energy = self.process.new_rows()
            for row, counter in enumerate(self.counters):
                counter.extend(t, energy[row])
            if not self.trace_on:
                return
            for rows, trace in zip(self.process.new_samples(), self.power, strict=True):
                for gap in rows.gaps:
                    trace.add_gap(*gap)
                if rows.dropped and rows.t_s.size:  # the ring overflowed: samples lost before these
                    trace.add_gap(trace.last_t_s(), float(rows.t_s[0]))
                trace.extend(rows.t_s, rows.power_w)

    def flush(self) -> None:
        """Read counters and sample buffers now (child) or the sample buffers (thread mode)."""
        if self.process is not None:
            self.process.flush()
            self.refresh()
        elif self.readers:
            self.read_here()

    def close(self) -> None:
        if self.process is not None:
            self.flush()
            self.process.close()
            self.refresh()
            self.process = None

    def status(self) -> list[dict[str, Any]]:
        """Per GPU: the samples' clock and its uncertainty, stale samples, errors, gaps."""
        if self.process is not None:
            return self.process.status()
        return [{"device": m.device, "clock": r.clock.clock if r.clock else None,
                 "uncertainty_s": r.clock.uncertainty_s if r.clock else None, "stale": r.stale, "errors": r.errors,
                 "gaps": r.gaps, "max_offset_jump_s": r.max_offset_jump_s, "reads": r.reads}
                for m, r in zip(self.meters, self.readers, strict=False)]
