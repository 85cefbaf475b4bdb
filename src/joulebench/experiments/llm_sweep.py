"""LLM plans through the one sweep driver: points of one or several plans, one model cache shared."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from joulebench.experiments.llm_plan import LLMPlan
from joulebench.experiments.sweep import SweepResult, run_sweep
from joulebench.experiments.sweep_values import MeterSpec, SweepObserver
from joulebench.store import Store
from joulebench.workloads.llm import run_llm_point

if TYPE_CHECKING:
    from joulebench.experiments.executors import Executor


def run_llm_plans(plans: Sequence[LLMPlan], store: Store, command: str, gpus: Sequence[int] | None = None,
                  observer: SweepObserver | None = None, executor: Executor | None = None) -> SweepResult:
    """Run every point of ``plans`` in order (each plan one run of the open ``store``); models stay loaded
    across plans that share them. Plans are validated already (on construction). ``executor``: where
    the points run (default here; see `experiments.executors`)."""
    cache: dict[str, object] = {}
    result: SweepResult | None = None
    try:
        for plan in plans:
            meters = MeterSpec(plan.device, gpus)
            done = run_sweep("llm", plan.points(), run_llm_point, store.path, command, plan.to_dict(), meters,
                             observer=observer, cache=cache, store=store, executor=executor)
            result = done if result is None else result.merge(done)
    finally:
        models = cache.get("llm_models")
        if models is not None:
            models.clear()  # type: ignore[attr-defined]
    assert result is not None
    return result
