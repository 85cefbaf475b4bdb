"""How much of a device call is left for the next serving arm: a resumable plan's budget.

A device call has a hard limit (600 s), so a plan that takes many calls (issue 18's must-show) runs the
arms not yet stored while the next one's expected time still fits, and stops cleanly before one that
does not (`BudgetObserver`). An arm's expected time is learned from the arms of its kind stored before
the call or finished in it (`expected_durations`, `window_s`); `stored_ok` finds them by point key, as a
resuming sweep does.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from joulebench.experiments.progress import LineObserver

#: an engine's model load before its first arm (Llama-3.1-8B from a local checkpoint, run_d-run_f)
MODEL_LOAD_S = 40.0


class BudgetSpent(Exception):
    """The next arm's time bound no longer fits the call; the finished arms are stored."""


class BudgetObserver(LineObserver):
    """Stops the sweep before an arm whose expected time (plus a margin) is past the deadline.

    An arm is expected to take its ``max_duration_s``, or, once an arm of its kind is stored (before this
    call or by it), `EXPECTED_FACTOR` x the longest of their windows (capped by the bound): in run_e the
    serve arms' 330 s bound fitted one arm a call, where each took 92-145 s, and on 2026-12-07 a call
    stopped with 279 s left before a second 40-request fp32 segment bounded at 290 s, the first having
    taken well under that. An arm that overruns is still cut by its own bound, and the documented command
    stops the call with SIGINT before the device's limit (the arm in flight is lost, the rest kept)."""

    def __init__(self, deadline_s: float, expected_s: dict[str, float] | None = None, margin_s: float = 15.0) -> None:
        self.deadline_s, self.expected_s, self.margin_s = deadline_s, dict(expected_s or {}), margin_s
        self.loaded: tuple[str, str] | None = None  # the (model, dtype) the last engine arm loaded

    def need_s(self, point: Any) -> float:
        """The arm's expected time, and `MODEL_LOAD_S` more when its engine must load another model first."""
        load = point.engine is not None and (point.engine.model, point.engine.dtype) != self.loaded
        return min(point.max_duration_s, self.expected_s.get(arm_kind(point), point.max_duration_s)) + (
            MODEL_LOAD_S if load else 0.0)

    def left_s(self) -> float:
        return self.deadline_s - time.perf_counter()

    def point_started(self, index: int, point: Any) -> None:
        left, need = self.left_s(), self.need_s(point)
        if need + self.margin_s > left:
            raise BudgetSpent(f"{point.name} may take {need:.0f} s and {left:.0f} s are left")
        if point.engine is not None:
            self.loaded = (point.engine.model, point.engine.dtype)

    def point_finished(self, index: int, outcome: Any) -> None:
        super().point_finished(index, outcome)
        seconds = window_s(outcome.summary) if outcome.status == "done" else None
        if seconds:
            kind = arm_kind(outcome.point)
            self.expected_s[kind] = max(self.expected_s.get(kind, 0.0), EXPECTED_FACTOR * seconds)


def arm_kind(arm: Any) -> str:
    """Arms whose durations predict each other: the server, or one engine and dtype."""
    return "serve" if arm.engine is None else f"{arm.engine.engine}-{arm.engine.dtype}"


#: an arm is expected to take this many times the longest stored window of its kind
EXPECTED_FACTOR = 1.3


def window_s(summary: Any) -> float | None:
    """The energy window's length of a stored arm's summary, None when it has none."""
    seconds = ((summary or {}).get("energy") or {}).get("window", {}).get("duration_s")
    return float(seconds) if seconds else None


def expected_durations(arms: list, stored: dict[str, dict], factor: float = EXPECTED_FACTOR) -> dict[str, float]:
    """``factor`` x the longest stored window of each kind of arm (the arms' names key ``stored``)."""
    longest: dict[str, float] = {}
    for arm in arms:
        seconds = window_s(stored.get(arm.name))
        if seconds:
            longest[arm_kind(arm)] = max(longest.get(arm_kind(arm), 0.0), seconds)
    return {kind: factor * seconds for kind, seconds in longest.items()}


def stored_ok(arms: list, db: Path) -> dict[str, dict]:
    """Summaries of the ``arms`` the store at ``db`` holds as finished (by point key, as the sweep resumes)."""
    if not db.is_file():
        return {}
    from joulebench.store import Store

    with Store.open_read(db) as store:
        found = {a.name: store.finished(a) for a in arms}
    return {name: dict(p.summary) for name, p in found.items() if p is not None}
