"""Point functions and an observer for the Ray executor tests: real tiny-llama points, one of which fails
on purpose (raises, or ends its worker process the way an out-of-memory kill does).

They are pickled by value (see the test's cluster fixture), so that Ray workers need not find this
folder on their path."""

from __future__ import annotations

import os
from typing import Any

from joulebench.experiments.sweep_values import NullObserver
from joulebench.values import Measurement
from joulebench.workloads.llm import run_llm_point

#: the prompt length whose point fails on purpose
PLANTED = 24


def raise_at_planted(point: Any, context: Any) -> Measurement:
    if point.prompt_tokens == PLANTED:
        raise ValueError(f"planted failure at s={PLANTED}")
    return run_llm_point(point, context)


def die_at_planted(point: Any, context: Any) -> Measurement:
    if point.prompt_tokens == PLANTED:
        os._exit(3)  # the worker process ends mid-point, as a kill by the kernel's OOM killer would
    return run_llm_point(point, context)


class RecordingObserver(NullObserver):
    """What the progress view would have been told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def sweep_started(self, total: int, monitor: Any) -> None:
        self.events.append(("sweep", total))
        self.monitor = monitor

    def point_started(self, index: int, point: Any) -> None:
        self.events.append(("start", index))

    def point_finished(self, index: int, outcome: Any) -> None:
        self.events.append(("finish", (index, outcome.status)))

    def repetition(self, phase: str, index: int, latency_s: float) -> None:
        self.events.append(("rep", phase))

    def of(self, kind: str) -> list[Any]:
        return [value for name, value in self.events if name == kind]
