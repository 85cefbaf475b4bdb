"""Stability: repetitions interleaved across phases until each phase's 95% CI is tight, or time runs out.

Eager decode on our H200 hosts drifted 21-33 ms/token between runs minutes apart: two back-to-back
repetitions of one phase cannot see that, and phases measured one after the other see different
host states. So repetitions go in rounds (prefill, decode, request, prefill, decode, ...): the host's
slow drift lands on every phase alike and shows as spread. After each round, per phase, the mean,
coefficient of variation and 95% CI half-width over rounds of latency and of each measured (not
estimated) component's energy; a phase stops when both half-widths are within ``target_rel_ci`` of
their means (default +-2%) after ``min_rounds``. When the time budget runs out first, the phases
still outside the target are flagged ``unstable``. A repetition is one `window.run_repeated` call
(one short-window block, or one call of a long phase); ``on_rep`` sees each as it ends, outside any
window, so the caller can record the host's launch cost per repetition.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from joulebench.errors import UsageError
from joulebench.meters.monitor import EnergyMonitor
from joulebench.meters.spans import mean_ci95
from joulebench.meters.window import PhaseResult, Protocol, run_repeated
from joulebench.values import AsDict, Reading

if TYPE_CHECKING:
    from joulebench.meters.idle import IdleBaseline


@dataclass(frozen=True)
class PhaseRun:
    """One phase to interleave: the call (blocking until its device work is done) and its preparation."""

    name: str
    run: Callable[[], object]
    prepare: Callable[[], object] | None = None


@dataclass(frozen=True)
class Spread(AsDict):
    """Mean, coefficient of variation and relative 95% CI half-width of one quantity over repetitions."""

    mean: float
    cv: float
    rel_ci95: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        arr = np.asarray(values, dtype=float)
        mean, half = mean_ci95(arr)
        sd = float(np.std(arr, ddof=1)) if arr.size > 1 else float("nan")
        return cls(mean, sd / abs(mean) if mean else float("nan"), half / abs(mean) if mean else float("nan"), arr.size)


@dataclass(frozen=True)
class StablePhase:
    """All repetitions of one phase, their spread, and whether it met the target."""

    name: str
    results: tuple[PhaseResult, ...]
    latency: Spread
    energy: dict[str, Spread]  # measured components only (estimates follow latency)
    unstable: bool

    @property
    def latency_s(self) -> float:
        return self.latency.mean

    @property
    def readings(self) -> dict[str, Reading]:
        """Per component, the mean over repetitions of the per-repetition reading."""
        out: dict[str, Reading] = {}
        for component, first in self.results[0].readings.items():
            values = [r.readings[component] for r in self.results if component in r.readings]
            out[component] = replace(first, energy_j=float(np.mean([v.energy_j for v in values])),
                                     duration_s=float(np.mean([v.duration_s for v in values])))
        return out

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "rounds": len(self.results), "unstable": self.unstable,
                "latency": self.latency.to_dict(), "energy": {c: s.to_dict() for c, s in self.energy.items()},
                "readings": {c: r.to_dict() for c, r in self.readings.items()},
                "results": [r.to_dict() for r in self.results]}


@dataclass(frozen=True)
class InterleavedResult:
    phases: dict[str, StablePhase]
    rounds: int
    wall_s: float
    budget_s: float
    target_rel_ci: float

    @property
    def unstable(self) -> list[str]:
        return [name for name, p in self.phases.items() if p.unstable]

    def to_dict(self) -> dict[str, object]:
        return {"rounds": self.rounds, "wall_s": self.wall_s, "budget_s": self.budget_s,
                "target_rel_ci": self.target_rel_ci, "unstable": self.unstable,
                "phases": {n: p.to_dict() for n, p in self.phases.items()}}


def _stable_phase(name: str, results: list[PhaseResult], target: float, min_rounds: int) -> StablePhase:
    latency = Spread.of([r.latency_s for r in results])
    energy = {c: Spread.of([r.readings[c].energy_j for r in results])
              for c, reading in results[0].readings.items() if not reading.estimated}
    spreads = [latency, *energy.values()]
    met = len(results) >= min_rounds and all(np.isfinite(s.rel_ci95) and s.rel_ci95 <= target for s in spreads)
    return StablePhase(name, tuple(results), latency, energy, unstable=not met)


def run_interleaved(
    monitor: EnergyMonitor,
    phases: Sequence[PhaseRun],
    protocols: Mapping[str, Protocol],
    target_rel_ci: float = 0.02,
    budget_s: float = 300.0,
    min_rounds: int = 3,
    max_rounds: int = 100,
    on_rep: Callable[[str, int, PhaseResult], None] | None = None,
    baseline: IdleBaseline | None = None,
) -> InterleavedResult:
    """Rounds of every phase (in the given order) until each is stable or ``budget_s`` is spent.

    Warm-ups (``protocol.warmup_reps``) run in the first round only. The first ``min_rounds`` rounds
    always run (a spread needs them); after that a repetition is not started for a phase whose last
    repetition would no longer fit in the budget left."""
    names = [p.name for p in phases]
    if len(set(names)) != len(names) or not names:
        raise UsageError.bad("phases", names, "give at least one phase, each name once")
    missing = [n for n in names if n not in protocols]
    if missing:
        raise UsageError.bad("protocols", missing, "a protocol for every phase is required")
    if not 0 < target_rel_ci < 1:
        raise UsageError.bad("target_rel_ci", target_rel_ci, "must be between 0 and 1 (e.g. 0.02 for +-2%)")
    if budget_s <= 0 or min_rounds < 2 or max_rounds < min_rounds:
        raise UsageError("run_interleaved: budget_s > 0 and 2 <= min_rounds <= max_rounds are required")
    results: dict[str, list[PhaseResult]] = {n: [] for n in names}
    last_wall: dict[str, float] = dict.fromkeys(names, 0.0)
    done: set[str] = set()
    t0 = time.perf_counter()
    rounds = 0
    while rounds < max_rounds and len(done) < len(names):
        ran = False
        for phase in phases:
            if phase.name in done:
                continue
            if rounds >= min_rounds and time.perf_counter() - t0 + last_wall[phase.name] > budget_s:
                continue
            protocol = protocols[phase.name] if rounds == 0 else replace(protocols[phase.name], warmup_reps=0)
            start = time.perf_counter()
            result = run_repeated(monitor, phase.run, protocol, prepare=phase.prepare, baseline=baseline)
            last_wall[phase.name] = time.perf_counter() - start
            results[phase.name].append(result)
            ran = True
            if on_rep is not None:
                on_rep(phase.name, rounds, result)
            if not _stable_phase(phase.name, results[phase.name], target_rel_ci, min_rounds).unstable:
                done.add(phase.name)
        rounds += 1
        if not ran:
            break
    return InterleavedResult({n: _stable_phase(n, results[n], target_rel_ci, min_rounds) for n in names},
                             rounds, time.perf_counter() - t0, budget_s, target_rel_ci)
