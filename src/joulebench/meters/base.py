"""What every meter shares: the cumulative-energy `Meter` protocol (its `Reading` is in `joulebench.values`).

Every meter exposes one cumulative, monotonic energy value in joules. Counters (NVML, RAPL) read it
from hardware and undo wraps and resets; estimates integrate a power model. Keeping one shape for both
lets one sampler, one trace type and one window algorithm serve every component, and the `source` /
`estimated` labels travel with each number so that estimates are never passed off as measurements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["COMPONENTS", "Meter", "WrapTracker"]

COMPONENTS = ("gpu", "cpu", "ram")


class Meter(Protocol):
    """A source of cumulative energy for one device of one component."""

    component: str
    device: str
    source: str
    estimated: bool
    #: how often the underlying value changes, in seconds (0 = continuously, e.g. an estimate)
    update_period_s: float

    def read_energy_j(self, now_s: float) -> float:
        """Cumulative energy in joules since an arbitrary origin; monotonic non-decreasing."""
        ...

    def close(self) -> None: ...


@dataclass
class WrapTracker:
    """Turns a raw counter that may wrap (RAPL) or reset (NVML after a driver reload) into a monotonic
    total. ``max_range`` is the wrap modulus when known; without it a decrease is taken as a reset to
    zero, so the new raw value is all new energy."""

    max_range: float | None = None
    _last_raw: float | None = None
    _total: float = 0.0
    wraps: int = 0
    resets: int = 0
    _history: list[float] = field(default_factory=list, repr=False)

    def update(self, raw: float) -> float:
        if self._last_raw is None:
            self._last_raw = raw
            return self._total
        delta = raw - self._last_raw
        if delta < 0:
            if self.max_range is not None and self._last_raw <= self.max_range:
                delta = raw + self.max_range - self._last_raw
                self.wraps += 1
            else:
                delta = raw
                self.resets += 1
        self._total += delta
        self._last_raw = raw
        return self._total
