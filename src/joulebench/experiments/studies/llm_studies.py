"""The four LLM studies end to end: sweeps through the one driver, then tables stored beside the points.

Each function takes a validated plan and a `StudyRunner` (one open store, one model cache, one
progress view) and returns the study's document: its tables, the reference they are shown beside,
what was measured and skipped, the GPU time, and the exit code (1 when a point failed). Running the
same command again resumes: stored points are skipped, and the thank-you study's stopping rule,
evaluated on the same stored figures, takes the same decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from joulebench.experiments.studies.llm import BatchPlan, GridStudyPlan, ThankYouPlan
from joulebench.experiments.studies.llm_estimate import estimate, stop_reason
from joulebench.experiments.studies.llm_tables import batch_tables, precision_tables, sizes_tables, thank_you_tables
from joulebench.experiments.studies.runner import StudyRunner, summaries
from joulebench.experiments.studies.tables import StudyTable, reference_source
from joulebench.experiments.sweep import PointOutcome

Summary = Mapping[str, Any]
WHOLE = ("prefill", "decode", "request")


def _usable(outcomes: Sequence[PointOutcome]) -> list[Summary]:
    return [doc for doc in summaries(outcomes) if doc is not None and all(p in doc for p in WHOLE)]


def _failed(outcomes: Sequence[PointOutcome]) -> list[str]:
    return [f"{o.point.label()}: {o.error}" for o in outcomes if o.status in ("failed", "claimed")]


def _gpu_time(outcomes: Sequence[PointOutcome]) -> dict[str, float]:
    docs = [d for d in summaries(outcomes) if d is not None]
    return {"measure_s": float(sum(d.get("measure_s", 0.0) for d in docs)),
            "wall_s": float(sum(d.get("wall_s", 0.0) for d in docs))}


def _document(study: str, runner: StudyRunner, stored: PointOutcome, outcomes: Sequence[PointOutcome],
              parameters: Mapping[str, Any]) -> dict[str, Any]:
    doc = dict(stored.summary)
    return {"study": study, "db": str(runner.store.path), "study_point_id": stored.point_id,
            "parameters": dict(parameters), "tables": doc.get("tables", []), "stop": doc.get("stop"),
            "gpu_time": doc.get("gpu_time") or _gpu_time(outcomes), "reference_source": reference_source(),
            "points": runner.counts(), "failed": _failed(outcomes), "exit_code": runner.exit_code}


def _tables_doc(tables: Sequence[StudyTable], outcomes: Sequence[PointOutcome], **extra: Any) -> dict[str, Any]:
    return {"tables": [t.to_dict() for t in tables], "gpu_time": _gpu_time(outcomes),
            "reference_source": reference_source()} | extra


def run_thank_you(plan: ThankYouPlan, runner: StudyRunner) -> dict[str, Any]:
    """Case I: the designed grid, then check batches until the per-reply mean is known to the target."""
    params = plan.to_dict()
    design = runner.sweep(plan.design_points(), params | {"stage": "design"}, plan.device)
    checks: list[PointOutcome] = []
    s_all, g_all = plan.prompts.prompts, plan.prompts.replies
    batch = 0
    while True:
        est = estimate(_usable(design), _usable(checks), s_all, g_all)
        reason = stop_reason(est, len(_usable(checks)), len(checks), plan.target_ci, plan.budget_fraction,
                             plan.min_check, plan.max_check)
        points = plan.check_points(batch)
        if reason is not None or not points:
            reason = reason or "every request of the population is measured"
            break
        checks += runner.sweep(points, params | {"stage": f"check {batch}"}, plan.device)
        batch += 1
    outcomes = design + checks

    def build() -> dict[str, Any]:
        if est is None:
            return _tables_doc([], outcomes, stop=reason)
        figures = {k: f.to_dict() for k, f in est.figures.items()}
        docs = _usable(outcomes)
        return _tables_doc(thank_you_tables(est, reason, plan.prompts.describe(), docs), outcomes, stop=reason,
                           figures_j=figures, primary=est.primary, study_protocol_s=est.study_protocol_s)

    stored = runner.save_tables("thank-you", params, outcomes, build)
    return _document("thank-you", runner, stored, outcomes, params)


def _grid(study: str, plan: GridStudyPlan, runner: StudyRunner,
          tables: Callable[[Sequence[Summary | None], Sequence[str]], list[StudyTable]]) -> dict[str, Any]:
    params = plan.to_dict()
    outcomes = runner.sweep(plan.points(), params, plan.device)
    usable = [doc if doc is not None and all(p in doc for p in WHOLE) else None for doc in summaries(outcomes)]
    stored = runner.save_tables(study, params, outcomes, lambda: _tables_doc(tables(usable, _failed(outcomes)),
                                                                             outcomes))
    return _document(study, runner, stored, outcomes, params)


def run_sizes(plan: GridStudyPlan, runner: StudyRunner) -> dict[str, Any]:
    """Prefill and decode energy per model size."""
    return _grid("sizes", plan, runner, sizes_tables)


def run_precision(plan: GridStudyPlan, runner: StudyRunner) -> dict[str, Any]:
    """Prefill and decode per precision (and engine)."""
    return _grid("precision", plan, runner, precision_tables)


def run_batch(plan: BatchPlan, runner: StudyRunner) -> dict[str, Any]:
    """Energy per effective and computed token along batch sizes, with and without length bucketing."""
    params = plan.to_dict()
    points = plan.points()
    modes = [mode for mode in plan.bucketing for _ in plan.batches for _ in range(plan.draws)]
    outcomes = runner.sweep(points, params, plan.device)
    usable = [doc if doc is not None and all(p in doc for p in WHOLE) else None for doc in summaries(outcomes)]
    stored = runner.save_tables("batch", params, outcomes,
                                lambda: _tables_doc(batch_tables(usable, modes, _failed(outcomes)), outcomes))
    return _document("batch", runner, stored, outcomes, params)
