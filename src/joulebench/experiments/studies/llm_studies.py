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
from joulebench.experiments.studies.llm_estimate import Estimate, estimate, stop_reason
from joulebench.experiments.studies.llm_tables import batch_tables, precision_tables, sizes_tables, thank_you_tables
from joulebench.experiments.studies.runner import StudyRunner, summaries
from joulebench.experiments.studies.tables import StudyTable, reference_source
from joulebench.experiments.sweep_values import PointOutcome
from joulebench.store import Store
from joulebench.values import key_of

Summary = Mapping[str, Any]
WHOLE = ("prefill", "decode", "request")


def _whole(doc: Summary | None) -> Summary | None:
    """``doc`` where it holds every phase a study's tables read, else None."""
    return doc if doc is not None and all(phase in doc for phase in WHOLE) else None


def _by_plan(outcomes: Sequence[PointOutcome]) -> list[Summary | None]:
    """Each outcome's usable summary in plan order, None where it has none."""
    return [_whole(doc) for doc in summaries(outcomes)]


def _usable(outcomes: Sequence[PointOutcome]) -> list[Summary]:
    return [doc for doc in _by_plan(outcomes) if doc is not None]


def _failed(outcomes: Sequence[PointOutcome]) -> list[str]:
    return [f"{o.point.label()}: {o.error}" for o in outcomes if o.status in ("failed", "claimed")]


def _gpu_time(outcomes: Sequence[PointOutcome]) -> dict[str, float]:
    """Protocol time of the study's stored points, each once (batch 1 is one point in both batch curves)."""
    once = {o.point_id: doc for o, doc in zip(outcomes, summaries(outcomes), strict=True) if doc is not None}
    return _gpu_time_of(list(once.values()))


def _gpu_time_of(docs: Sequence[Summary]) -> dict[str, float]:
    return {"measure_s": float(sum(d.get("measure_s", 0.0) for d in docs)),
            "wall_s": float(sum(d.get("wall_s", 0.0) for d in docs))}


def _document(study: str, runner: StudyRunner, stored: PointOutcome, outcomes: Sequence[PointOutcome],
              parameters: Mapping[str, Any]) -> dict[str, Any]:
    doc = dict(stored.summary)
    return {"study": study, "db": str(runner.store.path), "study_point_id": stored.point_id,
            "parameters": dict(parameters), "tables": doc.get("tables", []), "stop": doc.get("stop"),
            "gpu_time": doc.get("gpu_time") or _gpu_time(outcomes), "reference_source": reference_source(),
            "points": runner.counts(), "failed": _failed(outcomes), "exit_code": runner.exit_code}


def _tables_doc(tables: Sequence[StudyTable], gpu_time: dict[str, float], **extra: Any) -> dict[str, Any]:
    return {"tables": [t.to_dict() for t in tables], "gpu_time": gpu_time, "reference_source": reference_source()} | extra


def _thank_you_tables_doc(plan: ThankYouPlan, est: Estimate | None, reason: str, docs: Sequence[Summary],
                          gpu_time: dict[str, float]) -> dict[str, Any]:
    if est is None:
        return _tables_doc([], gpu_time, stop=reason)
    return _tables_doc(thank_you_tables(est, reason, plan.prompts.describe(), docs), gpu_time, stop=reason,
                       figures_j={k: f.to_dict() for k, f in est.figures.items()}, primary=est.primary,
                       study_protocol_s=est.study_protocol_s)


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
        return _thank_you_tables_doc(plan, est, reason, _usable(outcomes), _gpu_time(outcomes))

    stored = runner.save_tables("thank-you", params, outcomes, build)
    return _document("thank-you", runner, stored, outcomes, params)


def _tables_only_document(study: str, store: Store, params: Mapping[str, Any], doc: Mapping[str, Any],
                          stored: int) -> dict[str, Any]:
    return {"study": study, "db": str(store.path), "study_point_id": None, "parameters": params, "tables": doc["tables"],
            "stop": doc["stop"], "gpu_time": doc["gpu_time"], "reference_source": doc["reference_source"],
            "tables_only": True, "points": {"done": 0, "skipped": stored, "claimed": 0, "failed": 0},
            "failed": [], "exit_code": 0}


def _stored_points(store: Store, points: Sequence[Any]) -> list[Summary | None]:
    """Each point's usable stored summary (None where it is missing), found by its key as a sweep finds
    it to resume: so a point another study measured with the same configuration (sizes' Llama-3.1-8B fp32
    is precision's fp32) is found here as the full run finds it."""
    found = [store.finished(point) for point in points]
    return [None if stored is None else _whole(stored.summary) for stored in found]


def thank_you_tables_only(plan: ThankYouPlan, store: Store) -> dict[str, Any]:
    """``study thank-you --tables-only``: the study's tables from the points ``store`` holds for this
    plan, measuring nothing and storing nothing. Why: a run cut short (a device call's time, a lost
    machine) keeps every finished point, and reading its figures must not need the GPU again. The
    stopping rule is replayed as `run_thank_you` applies it, over the check batches stored; the stop
    line says whether the study itself would have measured more."""
    design = [doc for doc in _stored_points(store, plan.design_points()) if doc is not None]
    checks: list[Summary] = []
    est, batch = None, 0
    while design:
        est = estimate(design, checks, plan.prompts.prompts, plan.prompts.replies)
        reason = stop_reason(est, len(checks), len(checks), plan.target_ci, plan.budget_fraction, plan.min_check,
                             plan.max_check)
        points = plan.check_points(batch)
        found = [doc for doc in _stored_points(store, points) if doc is not None]
        if reason is None and not points:
            reason = "every request of the population is measured"
        if reason is None and not found:
            reason = (f"tables only: {len(checks)} check requests stored; the study would measure more "
                      f"(at least {plan.min_check}, at most {plan.max_check})")
        if reason is not None:
            break
        checks += found
        batch += 1
    else:
        reason = "no stored point of this plan"
    doc = _thank_you_tables_doc(plan, est, reason, design + checks, _gpu_time_of(design + checks))
    return _tables_only_document("thank-you", store, plan.to_dict(), doc, len(design) + len(checks))


def grid_tables_only(plan: GridStudyPlan, store: Store) -> dict[str, Any]:
    """``study sizes|precision --tables-only``: the tables of the planned points stored so far (rows group
    by each point's own configuration, so a missing point is a missing row)."""
    usable = _stored_points(store, plan.points())
    found = [doc for doc in usable if doc is not None]
    doc = _tables_doc(GRID_TABLES[plan.study](usable, []), _gpu_time_of(found),
                      stop=f"tables only: {len(found)} of {len(usable)} points stored")
    return _tables_only_document(plan.study, store, plan.to_dict(), doc, len(found))


def batch_tables_only(plan: BatchPlan, store: Store) -> dict[str, Any]:
    """``study batch --tables-only``: the study's tables over the planned batches stored so far."""
    points = plan.points()
    usable = _stored_points(store, points)
    found = {key_of(p): doc for p, doc in zip(points, usable, strict=True) if doc is not None}  # batch 1 twice
    doc = _tables_doc(batch_tables(usable, plan.modes(), []),
                      _gpu_time_of(list(found.values())),
                      stop=f"tables only: {sum(doc is not None for doc in usable)} of {len(usable)} planned batches "
                           "stored")
    return _tables_only_document("batch", store, plan.to_dict(), doc, len(found))


#: the table builders of the grid studies, by study name
GRID_TABLES: dict[str, Callable[[Sequence[Summary | None], Sequence[str]], list[StudyTable]]] = {
    "sizes": sizes_tables, "precision": precision_tables}


def _grid(study: str, plan: GridStudyPlan, runner: StudyRunner,
          tables: Callable[[Sequence[Summary | None], Sequence[str]], list[StudyTable]]) -> dict[str, Any]:
    params = plan.to_dict()
    outcomes = runner.sweep(plan.points(), params, plan.device)
    usable = _by_plan(outcomes)
    stored = runner.save_tables(study, params, outcomes, lambda: _tables_doc(tables(usable, _failed(outcomes)),
                                                                             _gpu_time(outcomes)))
    return _document(study, runner, stored, outcomes, params)


def run_sizes(plan: GridStudyPlan, runner: StudyRunner) -> dict[str, Any]:
    """Prefill and decode energy per model size."""
    return _grid("sizes", plan, runner, GRID_TABLES["sizes"])


def run_precision(plan: GridStudyPlan, runner: StudyRunner) -> dict[str, Any]:
    """Prefill and decode per precision (and engine)."""
    return _grid("precision", plan, runner, GRID_TABLES["precision"])


def run_batch(plan: BatchPlan, runner: StudyRunner) -> dict[str, Any]:
    """Energy per effective and computed token along batch sizes, with and without length bucketing."""
    params = plan.to_dict()
    outcomes = runner.sweep(plan.points(), params, plan.device)
    usable = _by_plan(outcomes)
    stored = runner.save_tables("batch", params, outcomes,
                                lambda: _tables_doc(batch_tables(usable, plan.modes(), _failed(outcomes)),
                                                    _gpu_time(outcomes)))
    return _document("batch", runner, stored, outcomes, params)
