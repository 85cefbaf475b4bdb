"""Case I's per-reply mean from a designed subset: fit, predict, correct on a random check sample.

The study measured every one of its 10,000 prompts (5 warm-ups + 10 prefill + 10 full runs each). Cost
is a smooth function of the two lengths, so far fewer measurements suffice:

1. **fit** the study's own length models on the designed grid (relative least squares, `calibration.fits`):
   prefill ``t = a s + b s^2 + c`` and ``E = A s + B``; decode ``t = e g + f s g + h g^2 + r`` and
   ``E = C g + D s g + E0`` - one fit per phase, quantity and component;
2. **predict** every request of the population (request = prefill + decode);
3. **correct** with a random check sample (the *difference estimator* of survey sampling):
   ``mean = mean(prediction over all N) + mean(measured - predicted over the n checked)``. Its error is
   the residuals' spread: ``half-width = t(n-1) * sd(residuals) / sqrt(n) * sqrt(1 - n/N)``. The fit is
   made on the grid only, so the check sample is independent of it; the estimate is unbiased whether or
   not the length model is right (a wrong model only widens the interval), and measurement noise of the
   checked points is inside the residuals.

Check batches are added until the primary figure (GPU energy per reply; the first metered component
where there is no GPU) is known to the target, or the protocol time reaches the budget: a fraction of
what the study's protocol would have spent on the same population, predicted from the latency fits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from joulebench.calibration.fits import LinearFit, relative_lstsq, t_quantile

#: the study's length models: columns of the design matrix from prompt (s) and reply (g) tokens
FORMS: dict[tuple[str, str], tuple[tuple[str, Callable[[np.ndarray, np.ndarray], np.ndarray]], ...]] = {
    ("prefill", "latency"): (("s", lambda s, g: s), ("s2", lambda s, g: s * s), ("1", lambda s, g: np.ones_like(s))),
    ("prefill", "energy"): (("s", lambda s, g: s), ("1", lambda s, g: np.ones_like(s))),
    ("decode", "latency"): (("g", lambda s, g: g), ("sg", lambda s, g: s * g), ("g2", lambda s, g: g * g),
                            ("1", lambda s, g: np.ones_like(s))),
    ("decode", "energy"): (("g", lambda s, g: g), ("sg", lambda s, g: s * g), ("1", lambda s, g: np.ones_like(s))),
}
#: the sum of the metered components, estimated where any of them is
TOTAL = "total"
#: the study's protocol per prompt: warm-ups and full runs of the whole request, prefill-only runs
STUDY_WARMUPS, STUDY_PREFILL_RUNS, STUDY_FULL_RUNS = 5, 10, 10


def design(form: str, metric: str, s: np.ndarray, g: np.ndarray) -> np.ndarray:
    return np.column_stack([f(s.astype(float), g.astype(float)) for _, f in FORMS[(form, metric)]])


@dataclass(frozen=True)
class Observed:
    """The measured figures of some points: lengths, and per phase a latency and energies by component."""

    s: np.ndarray
    g: np.ndarray
    values: Mapping[str, Mapping[str, np.ndarray]]  # phase -> "latency" | component -> values
    estimated: Mapping[str, bool]  # component -> labelled estimate
    measure_s: float
    wall_s: float

    @classmethod
    def of(cls, summaries: Sequence[Mapping[str, Any]]) -> Observed:
        comps = sorted({c for doc in summaries for c in (doc.get("request") or {}).get("energy_j", {})})
        values: dict[str, dict[str, np.ndarray]] = {}
        for phase in ("prefill", "decode", "request"):
            values[phase] = {"latency": np.array([float(doc[phase]["latency_s"]) for doc in summaries])}
            for c in comps:
                values[phase][c] = np.array([float(doc[phase]["energy_j"].get(c, np.nan)) for doc in summaries])
            if len(comps) > 1:
                values[phase][TOTAL] = np.sum([values[phase][c] for c in comps], axis=0)
        estimated = {c: any(bool((doc["request"].get("estimated") or {}).get(c)) for doc in summaries) for c in comps}
        if len(comps) > 1:
            estimated[TOTAL] = any(estimated.values())
        return cls(np.array([doc["config"]["prompt_tokens"] for doc in summaries], dtype=float),
                   np.array([doc["config"]["output_tokens"] for doc in summaries], dtype=float), values, estimated,
                   float(sum(doc.get("measure_s", 0.0) for doc in summaries)),
                   float(sum(doc.get("wall_s", 0.0) for doc in summaries)))

    @property
    def components(self) -> list[str]:
        return [c for c in self.values.get("request", {}) if c != "latency"]

    @property
    def primary(self) -> str:
        """GPU where metered, else the first measured component, else the first estimate."""
        comps = [c for c in self.components if c != TOTAL]
        measured = [c for c in comps if not self.estimated.get(c)]
        return "gpu" if "gpu" in comps else (measured or comps or ["latency"])[0]


@dataclass(frozen=True)
class Figure:
    """One estimated population mean (J or s) with its 95% half-width from the check sample."""

    mean: float
    half_width: float
    predicted_mean: float
    model_half_width: float  # from the fit's covariance alone (no check sample)
    spread: float  # standard deviation of the prediction across the population
    check_error: float  # mean |relative error| of the prediction on the check sample

    @property
    def relative(self) -> float:
        return self.half_width / abs(self.mean) if self.mean else float("nan")

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "ci95": self.half_width, "ci95_relative": self.relative,
                "predicted_mean": self.predicted_mean, "model_ci95": self.model_half_width, "spread": self.spread,
                "check_mean_abs_rel_error": self.check_error}


def _fit(form: str, metric: str, obs: Observed, values: np.ndarray) -> LinearFit | None:
    ok = np.isfinite(values) & (values > 0)
    if ok.sum() <= len(FORMS[(form, metric)]):
        return None
    return relative_lstsq(design(form, metric, obs.s[ok], obs.g[ok]), values[ok])


@dataclass(frozen=True)
class Estimate:
    """Every per-reply figure of a thank-you study: fits, population means, protocol time."""

    fits: Mapping[str, LinearFit]  # "prefill/latency", "decode/gpu", ...
    figures: Mapping[str, Figure]  # "prefill/gpu", "request/latency", ...
    n_design: int
    n_check: int
    population: int
    primary: str
    estimated: Mapping[str, bool]
    measure_s: float
    wall_s: float
    study_protocol_s: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def primary_relative_ci(self) -> float:
        fig = self.figures.get(f"request/{self.primary}")
        return fig.relative if fig is not None else float("nan")

    @property
    def time_ratio(self) -> float:
        return self.measure_s / self.study_protocol_s if self.study_protocol_s > 0 else float("nan")


def _predict(fit: LinearFit, form: str, metric: str, s: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, float]:
    x = design(form, metric, s, g)
    mean_row = x.mean(axis=0)
    model_var = float(mean_row @ fit.cov @ mean_row) if np.all(np.isfinite(fit.cov)) else float("nan")
    return x @ fit.coef, float(np.sqrt(model_var)) * 1.96 if np.isfinite(model_var) else float("nan")


def _corrected(pred_all: np.ndarray, pred_check: np.ndarray, measured: np.ndarray, model_hw: float) -> Figure:
    n, big_n = len(measured), len(pred_all)
    resid = measured - pred_check
    mean = float(pred_all.mean() + (resid.mean() if n else 0.0))
    if n >= 2:
        se = float(resid.std(ddof=1)) / np.sqrt(n) * np.sqrt(max(0.0, 1.0 - n / big_n))
        half = t_quantile(n - 1) * se
    else:
        half = float("nan")
    error = float(np.mean(np.abs(resid / measured))) if n else float("nan")
    return Figure(mean, half, float(pred_all.mean()), model_hw, float(pred_all.std()), error)


def estimate(design_docs: Sequence[Mapping[str, Any]], check_docs: Sequence[Mapping[str, Any]],
             s_all: np.ndarray, g_all: np.ndarray) -> Estimate | None:
    """The population means from the grid's fits corrected by the check sample; None when the grid's
    fits are not identified (too many of its points failed)."""
    grid = Observed.of(design_docs)
    check = Observed.of(check_docs) if check_docs else None
    s_all, g_all = s_all.astype(float), g_all.astype(float)
    fits: dict[str, LinearFit] = {}
    figures: dict[str, Figure] = {}
    for metric in ["latency", *grid.components]:
        kind = "latency" if metric == "latency" else "energy"
        preds_all, preds_check, model_var = [], [], 0.0
        for phase in ("prefill", "decode"):
            fit = _fit(phase, kind, grid, grid.values[phase][metric])
            if fit is None or not fit.identified:
                return None
            fits[f"{phase}/{metric}"] = fit
            pred_all, model_hw = _predict(fit, phase, kind, s_all, g_all)
            pred_check = (design(phase, kind, check.s, check.g) @ fit.coef) if check else np.zeros(0)
            measured = check.values[phase][metric] if check else np.zeros(0)
            figures[f"{phase}/{metric}"] = _corrected(pred_all, pred_check, measured, model_hw)
            preds_all.append(pred_all)
            preds_check.append(pred_check)
            model_var += model_hw**2
        measured = check.values["request"][metric] if check else np.zeros(0)
        figures[f"request/{metric}"] = _corrected(preds_all[0] + preds_all[1], preds_check[0] + preds_check[1],
                                                  measured, float(np.sqrt(model_var)))
    t_prefill = design("prefill", "latency", s_all, g_all) @ fits["prefill/latency"].coef
    t_full = t_prefill + design("decode", "latency", s_all, g_all) @ fits["decode/latency"].coef
    study_s = float(np.sum((STUDY_WARMUPS + STUDY_FULL_RUNS) * t_full + STUDY_PREFILL_RUNS * t_prefill))
    both = [grid] + ([check] if check else [])
    return Estimate(fits, figures, len(grid.s), 0 if check is None else len(check.s), len(s_all), grid.primary,
                    dict(grid.estimated), sum(o.measure_s for o in both), sum(o.wall_s for o in both), study_s)


def stop_reason(est: Estimate | None, n_check: int, attempted: int, target: float, budget_fraction: float,
                min_check: int, max_check: int) -> str | None:
    """Why the study stops adding check batches now (``n_check`` usable of ``attempted`` check points),
    or None to measure another batch."""
    if est is None:
        return "the designed grid's fits are not identified (failed points)"
    if n_check >= min_check and est.primary_relative_ci <= target:
        return f"target reached: +-{est.primary_relative_ci:.1%} <= +-{target:.0%}"
    if est.measure_s >= budget_fraction * est.study_protocol_s:
        return f"GPU-time budget reached ({budget_fraction:.0%} of the study's protocol)"
    if attempted >= max_check:
        return f"check sample at its maximum ({max_check})"
    if attempted >= est.population:
        return "every request of the population is measured"
    return None
