"""Running a study through the one sweep driver, and storing its tables beside its points.

A study is one or more sweeps of ordinary `LLMPoint` s (`run_sweep`, kind ``llm``: resumable, one
transaction per point) sharing one model cache, then its tables, stored as one point of kind ``study``
through the same driver with no meters. That point's configuration names the study, its parameters and
the keys of the points its tables come from: a second run over the same stored points finds it and
prints the same tables without computing or measuring anything; a run that measured more (a resumed,
interrupted study) has other inputs, hence a new table point. A study point whose inputs failed is
stored *failed*, so that a resume measures them again and recomputes the tables.

GPU time: every point's wall time is recorded in its summary (``wall_s``), and ``measure_s`` without
the model load when the point loaded a model - the time the protocol spent, which is what protocol
efficiency is judged on (`llm_estimate`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, ClassVar

from joulebench.experiments.sweep import SweepResult, run_sweep
from joulebench.experiments.sweep_values import MeterSpec, PointOutcome, SweepObserver
from joulebench.store import Store
from joulebench.values import Measurement, key_of, register_point


@register_point("study")
@dataclass(frozen=True)
class StudyPoint:
    """The tables of one study over a set of measured points (their keys)."""

    kind: ClassVar[str] = "study"

    study: str
    parameters: Mapping[str, Any]
    inputs: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"study": self.study, "parameters": dict(self.parameters), "inputs": list(self.inputs)}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> StudyPoint:
        return cls(str(doc["study"]), dict(doc.get("parameters") or {}), tuple(doc.get("inputs") or ()))

    def label(self) -> str:
        return f"study {self.study} tables ({len(self.inputs)} points)"


def _no_meters(_: MeterSpec) -> AbstractContextManager[Any]:
    return nullcontext(None)


def timed(execute: Callable[[Any, Any], Measurement]) -> Callable[[Any, Any], Measurement]:
    """The point function with its wall time (and that time less a model load it did) in the summary."""

    def run(point: Any, context: Any) -> Measurement:
        model_key = (point.model, point.dtype, point.device, point.random_weights)
        loads = context.cache.get("study_last_model") != model_key
        t0 = time.perf_counter()
        try:
            measured = execute(point, context)
        finally:  # a point that failed after loading still leaves its model loaded for the next
            context.cache["study_last_model"] = model_key
        wall = time.perf_counter() - t0
        load = float(measured.summary.get("model_load_s") or 0.0) if loads else 0.0
        summary = dict(measured.summary) | {"wall_s": wall, "measure_s": max(wall - load, 0.0)}
        return dataclasses.replace(measured, summary=summary)

    return run


@dataclass
class StudyRunner:
    """Sweeps of one study command into one open store, sharing a model cache and a progress view."""

    store: Store
    command: str
    gpus: Sequence[int] | None = None
    observer: SweepObserver | None = None
    cache: dict[str, Any] = field(default_factory=dict)
    results: list[SweepResult] = field(default_factory=list)

    def sweep(self, points: Sequence[Any], plan: Mapping[str, Any], device: str) -> list[PointOutcome]:
        """Measure (or find stored) ``points``; outcomes in the order of ``points``."""
        from joulebench.workloads.llm import run_llm_point

        if not points:
            return []
        result = run_sweep("llm", points, timed(run_llm_point), self.store.path, self.command, plan,
                           MeterSpec(device, self.gpus), observer=self.observer, cache=self.cache, store=self.store)
        self.results.append(result)
        return list(result.outcomes)

    def save_tables(self, study: str, parameters: Mapping[str, Any], outcomes: Sequence[PointOutcome],
                    build: Callable[[], Mapping[str, Any]]) -> PointOutcome:
        """Store the study's tables (``build()``) as its ``study`` point, or find them stored."""
        inputs = tuple(key_of(o.point) for o in outcomes)
        failed = [o for o in outcomes if o.status in ("failed", "claimed")]
        point = StudyPoint(study, parameters, inputs)

        def execute(_: Any, __: Any) -> Measurement:
            failures = [f"{len(failed)} of {len(outcomes)} points failed or were measured elsewhere"] if failed else []
            return Measurement(dict(build()), check_failures=failures)

        result = run_sweep("study", [point], execute, self.store.path, self.command, {"study": study},
                           MeterSpec("cpu"), idle_s=0.0, open_source=_no_meters, store=self.store)
        self.results.append(result)
        return result.outcomes[0]

    def close(self) -> None:
        models = self.cache.get("llm_models")
        if models is not None:
            models.clear()

    @property
    def exit_code(self) -> int:
        return max((r.exit_code for r in self.results), default=0)

    def counts(self) -> dict[str, int]:
        kinds = [o for r in self.results for o in r.outcomes if o.point.kind == "llm"]
        return {status: sum(o.status == status for o in kinds) for status in ("done", "skipped", "claimed", "failed")}


def summaries(outcomes: Sequence[PointOutcome]) -> list[Mapping[str, Any] | None]:
    """Each outcome's summary, None where the point has no usable figures (failed, or measured elsewhere)."""
    return [o.summary if o.status in ("done", "skipped") and o.summary else None for o in outcomes]
