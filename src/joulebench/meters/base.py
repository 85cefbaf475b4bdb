"""Values shared by every meter: a `Reading`, and the cumulative-energy `Meter` protocol.

Every meter exposes one cumulative, monotonic energy value in joules. Counters (NVML, RAPL) read it
from hardware and undo wraps and resets; estimates integrate a power model. Keeping one shape for both
lets one sampler, one trace type and one window algorithm serve every component, and the `source` /
`estimated` labels travel with each number so that estimates are never passed off as measurements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

COMPONENTS = ("gpu", "cpu", "ram")


@dataclass(frozen=True)
class Reading:
    """Energy of one component over one time interval.

    ``idle_power_w`` / ``idle_state`` name the idle baseline that "above idle" subtracts ("cold": taken at
    start; "warm": after the warm-ups, the GPU left idle for a settle time); None until one is applied
    (`meters.idle.IdleBaseline.apply`)."""

    component: str  # "gpu" | "cpu" | "ram"
    energy_j: float
    duration_s: float
    source: str  # e.g. "nvml-samples", "nvml-counter", "rapl", "estimate-cpu-tdp-util", "estimate-ram-per-gb"
    estimated: bool
    devices: tuple[str, ...] = ()
    idle_power_w: float | None = None
    idle_state: str | None = None

    @property
    def avg_power_w(self) -> float:
        return self.energy_j / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def above_idle_energy_j(self) -> float | None:
        """Energy beyond what the idle card would have used over the same time (None without a baseline)."""
        if self.idle_power_w is None:
            return None
        return self.energy_j - self.idle_power_w * self.duration_s

    def to_dict(self) -> dict[str, object]:
        return {
            "component": self.component,
            "energy_j": self.energy_j,
            "duration_s": self.duration_s,
            "avg_power_w": self.avg_power_w,
            "source": self.source,
            "estimated": self.estimated,
            "devices": list(self.devices),
            "idle_power_w": self.idle_power_w,
            "idle_state": self.idle_state,
            "above_idle_energy_j": self.above_idle_energy_j,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, object]) -> Reading:
        idle = doc.get("idle_power_w")
        state = doc.get("idle_state")
        return cls(
            component=str(doc["component"]),
            energy_j=float(doc["energy_j"]),  # type: ignore[arg-type]
            duration_s=float(doc["duration_s"]),  # type: ignore[arg-type]
            source=str(doc["source"]),
            estimated=bool(doc["estimated"]),
            devices=tuple(str(d) for d in doc.get("devices") or ()),  # type: ignore[union-attr]
            idle_power_w=None if idle is None else float(idle),  # type: ignore[arg-type]
            idle_state=None if state is None else str(state),
        )


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
