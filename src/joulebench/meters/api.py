"""The Python API: ``with joulebench.measure(gpus=[0]) as m: ...`` then ``m.reading``."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from joulebench.meters.monitor import EnergyMonitor, MonitorConfig
from joulebench.values import Reading


@dataclass
class Measured:
    """Filled when the ``with`` block ends: one `Reading` per component over the block."""

    monitor: EnergyMonitor
    t_start_s: float = 0.0
    t_end_s: float = 0.0
    readings: dict[str, Reading] = field(default_factory=dict)

    @property
    def reading(self) -> dict[str, Reading]:
        return self.readings

    @property
    def latency_s(self) -> float:
        return self.t_end_s - self.t_start_s


@contextmanager
def measure(gpus: Sequence[int] | None = None, cpu: bool = True, ram: bool = True) -> Iterator[Measured]:
    """Meter the enclosed block. For GPU work, synchronise the device before leaving the block.

    GPU energy integrates the ~20 ms power trace (or, without one, interpolates between counter
    updates); for phases shorter than a few hundred milliseconds use
    `joulebench.meters.window.run_repeated`, which repeats and aligns.
    """
    monitor = EnergyMonitor.open(MonitorConfig(gpus=gpus, require_gpu=bool(gpus), cpu=cpu, ram=ram))
    monitor.start()
    out = Measured(monitor)
    try:
        if not monitor.has_trace:
            monitor.wait_for_update(time.perf_counter(), timeout_s=0.3)
        out.t_start_s = time.perf_counter()
        yield out
        out.t_end_s = time.perf_counter()
        if not monitor.has_trace:
            monitor.wait_for_update(out.t_end_s, timeout_s=0.3)
        out.readings = monitor.energy_between(out.t_start_s, out.t_end_s)
    finally:
        monitor.close()
