"""Idle baselines, cold and warm: what the machine draws doing nothing, and in which state.

An H200 idled at ~79 W cold (at start) and ~122 W right after work (2026-12-02): subtracting the cold
figure overstated "above idle" energy by ~40 W times the duration. So a run measures both: ``cold``
before anything ran, ``warm`` after the warm-ups with the GPU left idle for ``settle_s``. "Above idle"
uses the warm one; every reading it touches names the baseline (`IdleBaseline.apply`). The SM clock
and temperature at the end of the window are kept: they explain why the two differ.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from joulebench.errors import UsageError
from joulebench.values import Reading

if TYPE_CHECKING:
    from joulebench.meters.monitor import EnergyMonitor

STATES = ("cold", "warm")


@dataclass(frozen=True)
class IdleBaseline:
    """Average power per component over an idle window, and the state the GPU was in."""

    state: str  # "cold" | "warm"
    power_w: dict[str, float]
    duration_s: float
    settle_s: float
    sources: dict[str, str]
    estimated: dict[str, bool]
    sm_clock_mhz: float | None = None
    temperature_c: float | None = None
    t_start_s: float = math.nan

    def apply(self, reading: Reading) -> Reading:
        """The reading with this baseline attached (its ``above_idle_energy_j`` then subtracts it)."""
        power = self.power_w.get(reading.component)
        if power is None:
            return reading
        return replace(reading, idle_power_w=power, idle_state=self.state)

    def to_dict(self) -> dict[str, object]:
        return {"state": self.state, "power_w": dict(self.power_w), "duration_s": self.duration_s,
                "settle_s": self.settle_s, "sources": dict(self.sources), "estimated": dict(self.estimated),
                "sm_clock_mhz": self.sm_clock_mhz, "temperature_c": self.temperature_c, "t_start_s": self.t_start_s}

    @classmethod
    def from_dict(cls, doc: dict[str, object]) -> IdleBaseline:
        def opt(key: str) -> float | None:
            value = doc.get(key)
            return None if value is None else float(value)  # type: ignore[arg-type]

        return cls(str(doc["state"]), {k: float(v) for k, v in doc["power_w"].items()},  # type: ignore[union-attr]
                   float(doc["duration_s"]), float(doc["settle_s"]),  # type: ignore[arg-type]
                   {k: str(v) for k, v in doc["sources"].items()},  # type: ignore[union-attr]
                   {k: bool(v) for k, v in doc["estimated"].items()},  # type: ignore[union-attr]
                   opt("sm_clock_mhz"), opt("temperature_c"), float(doc.get("t_start_s", math.nan)))  # type: ignore[arg-type]


def measure_idle(monitor: EnergyMonitor, duration_s: float = 5.0, settle_s: float = 0.0,
                 state: str = "cold") -> IdleBaseline:
    """Sleep ``settle_s`` (the GPU's clocks and power fall after work), then average each component's
    power over ``duration_s`` of doing nothing. The caller must have no GPU work in flight."""
    if state not in STATES:
        raise UsageError.bad("state", state, f"one of {', '.join(STATES)}")
    if not duration_s > 0:
        raise UsageError.bad("idle_s", duration_s, "must be > 0 seconds")
    if not settle_s >= 0:
        raise UsageError.bad("settle_s", settle_s, "must be >= 0 seconds")
    time.sleep(settle_s)
    if not monitor.has_trace:
        # windows on counter edges: edges placed to 2.5 ms (nothing runs to be disturbed)
        with monitor.fast_polling():
            return _measure(monitor, duration_s, settle_s, state)
    return _measure(monitor, duration_s, settle_s, state)


def _measure(monitor: EnergyMonitor, duration_s: float, settle_s: float, state: str) -> IdleBaseline:
    if not monitor.has_trace:
        monitor.wait_for_update(time.perf_counter())
    t0 = time.perf_counter()
    time.sleep(duration_s)
    t1 = time.perf_counter()
    clock, temperature = monitor.gpu_sm_clock_mhz(), monitor.gpu_temperature_c()
    if not monitor.has_trace:
        monitor.wait_for_update(t1)
        readings = {c: r for c, (r, _) in monitor.per_rep(np.array([[t0, t1]]), method="counter").items()}
    else:
        readings = monitor.energy_between(t0, t1)
    return IdleBaseline(
        state=state,
        power_w={c: r.energy_j / (t1 - t0) for c, r in readings.items()},
        duration_s=t1 - t0,
        settle_s=settle_s,
        sources={c: r.source for c, r in readings.items()},
        estimated={c: r.estimated for c, r in readings.items()},
        sm_clock_mhz=clock,
        temperature_c=temperature,
        t_start_s=t0,
    )
