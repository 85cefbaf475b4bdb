"""Run an `LLMPlan`: open the meters, measure the idle baseline, then every point through the Runner."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from joulebench.environment import capture
from joulebench.experiments.plan import LLMPlan
from joulebench.experiments.runner import PointResult, Runner, RunSummary
from joulebench.meters.monitor import EnergyMonitor, MonitorConfig
from joulebench.meters.window import Protocol
from joulebench.store import Store
from joulebench.workloads.llm import DEFAULT_PROTOCOLS, ModelCache, run_llm_point

#: idle baseline length: ten NVML ticks
IDLE_BASELINE_S = 1.0


def protocols_for(plan: LLMPlan) -> dict[str, Protocol]:
    out = dict(DEFAULT_PROTOCOLS)
    for phase, overrides in plan.protocol_overrides.items():
        out[phase] = Protocol(**{**out[phase].to_dict(), **overrides})
    return out


def run_llm_plan(
    plan: LLMPlan,
    store: Store,
    command: str,
    gpus: Sequence[int] | None = None,
    on_event: Callable[[str, int, Any, Any], None] | None = None,
    on_rep: Callable[[str, int, float], None] | None = None,
    monitor_hook: Callable[[EnergyMonitor], None] | None = None,
    models: ModelCache | None = None,
) -> RunSummary:
    """Run every point of ``plan``; pass ``models`` to keep a loaded model across several plans."""
    use_gpu = plan.device == "cuda"
    config = MonitorConfig(gpus=(list(gpus) if gpus is not None else None) if use_gpu else [],
                           require_gpu=use_gpu)
    owns_models = models is None
    cache = models if models is not None else ModelCache()
    protocols = protocols_for(plan)
    with EnergyMonitor.open(config) as monitor:
        if monitor_hook is not None:
            monitor_hook(monitor)
        runner = Runner(store, "llm", command, plan.to_dict(), capture(monitor), on_event=on_event)
        idle = monitor.idle_power_w(IDLE_BASELINE_S)
        runner.set_baseline({"idle_power_w": idle, "duration_s": IDLE_BASELINE_S})

        def execute(point: Any) -> PointResult:
            result = run_llm_point(point, monitor, cache, idle, protocols, on_rep=on_rep)
            result.summary["protocols"] = {k: v.to_dict() for k, v in protocols.items()}
            return result

        try:
            return runner.run(plan.points(), execute)
        finally:
            if owns_models:
                cache.clear()
