"""Fit the analytic model's parameters to measured LLM points, one profile per (GPU, engine, dtype).

Latency first: ``mu_compute``, ``mu_memory`` and ``t_launch_s`` (and the launch-overlap mode, chosen by
the lower training error; in cost model v2 also ``mu_attention`` and ``t_step_s``) by nonlinear least
squares, every efficiency within (0, 1] (`ModelParams`' physical bounds), on *relative* residuals of prefill and decode
latency, so that a 30 ms prefill weighs as much as a 3 s decode. Then energy, with the "work" model
of `ModelParams`: ``p_idle_w`` is the measured idle baseline of the runs (not fitted), and the
energies per FLOP, per byte and per kernel are fitted by non-negative linear least squares on relative
GPU-energy residuals with the predicted latency held. (The earlier "bound" model, active power per
bound class, left held-out prefill energy 28% off in bf16: launches hide memory time, so
``mu_memory`` is not identifiable and the memory power with it.) The forward model is exactly
`analytic.predict_llm_grid`, so ``predict --calibration`` with the written profile reproduces the
fitted values. Uncertainties are one standard error from the
Jacobian at the optimum (``cov = s^2 (J^T J)^-1``), which assumes independent residuals.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.optimize import least_squares, lsq_linear

from joulebench.analytic import ModelParams, llm_arch, precision_for, predict_llm_grid
from joulebench.analytic.params import LATEST_COST_MODEL, LEGACY_COST_MODEL, OVERLAP_MODES, WORK_ENERGY_FIELDS
from joulebench.analytic.predict import llm_features
from joulebench.calibration.dataset import Dataset
from joulebench.calibration.fits import jacobian_stderr
from joulebench.hardware import Accelerator

LATENCY_FIELDS = ("mu_compute", "mu_memory", "t_launch_s")
#: fitted in cost model v2 besides LATENCY_FIELDS
V2_LATENCY_FIELDS = ("mu_attention", "t_step_s")
#: log-space bounds of each latency field (efficiencies within (0, 1])
LATENCY_BOUNDS = {"mu_compute": (0.05, 1.0), "mu_memory": (0.05, 1.0), "mu_attention": (0.05, 1.0),
                  "t_launch_s": (1e-7, 1e-3), "t_step_s": (1e-7, 2e-2)}
POWER_FIELDS = ("p_compute_w", "p_memory_w", "p_launch_w")
ENERGY_MODELS = ("work", "bound")
#: scale of each work-energy field to SI (pJ per FLOP, pJ per byte, uJ per kernel -> J)
WORK_UNITS = np.array([1e-12, 1e-12, 1e-6])


def _model_grids(data: Dataset) -> Iterator[tuple[list[int], Any, Any, np.ndarray, np.ndarray, np.ndarray,
                                                   dict[str, Any]]]:
    """Per (model, engine): the indices of its points, its architecture and precision, the (s, g, b) grid
    and the engine options, so that each group is predicted in one vectorised call."""
    for model, engine in sorted({(p.model, p.engine) for p in data.points}):
        idx = [i for i, p in enumerate(data.points) if p.model == model and p.engine == engine]
        pts = [data.points[i] for i in idx]
        s = np.asarray([p.prompt_tokens for p in pts], dtype=float)
        g = np.asarray([max(p.output_tokens, 2) for p in pts], dtype=float)
        b = np.asarray([p.batch for p in pts], dtype=float)
        opts: dict[str, Any] = {} if engine == "eager" else {"engine": engine}
        if any(p.cache_len for p in pts):
            opts["static_cache_len"] = np.asarray([p.cache_len or (p.prompt_tokens + p.output_tokens - 1)
                                                   for p in pts], dtype=float)
        yield idx, llm_arch(model), precision_for(pts[0].dtype), s, g, b, opts


def predict_points(data: Dataset, acc: Accelerator, params: ModelParams, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
    """Predicted (latency_s, gpu energy_j) for every phase point; ``kw`` go to `predict_llm_grid`
    (op-model options such as ``attn_impl``); each point's engine is its own."""
    latency = np.empty(len(data.points))
    energy = np.empty(len(data.points))
    for idx, arch, prec, s, g, b, opts in _model_grids(data):
        out = predict_llm_grid(arch, acc, params, prec, s, g, b, **opts, **kw)
        for j, i in enumerate(idx):
            phase = data.points[i].phase
            latency[i] = out[f"{phase}_latency_s"][j]
            energy[i] = out[f"{phase}_energy_j"][j]
    return latency, energy


def work_points(data: Dataset, acc: Accelerator, params: ModelParams | None = None, **kw: Any) -> np.ndarray:
    """(FLOPs, bytes, kernels) of every phase point, the regressors of the work energy model."""
    out = np.empty((len(data.points), 3))
    for idx, arch, prec, s, g, b, opts in _model_grids(data):
        feats = llm_features(arch, acc, prec, s, g, b, params=params, **opts, **kw)
        for j, i in enumerate(idx):
            f = feats[data.points[i].phase]
            out[i] = (f.flops[j], f.bytes[j], f.n_kernels[j])
    return out


@dataclass(frozen=True)
class FitResult:
    params: ModelParams
    stderr: dict[str, float]
    train_latency_mape: float
    train_energy_mape: float
    n_points: int


def fit_llm(data: Dataset, acc: Accelerator, dtype: str, base: ModelParams | None = None,
            energy_model: str = "work", cost_model: str = LEGACY_COST_MODEL, **kw: Any) -> FitResult:
    """Fit latency, then energy (``energy_model`` "work", or "bound" for the ablation); ``kw`` are
    op-model options passed to every prediction. ``cost_model`` v2 also fits ``mu_attention`` and
    ``t_step_s`` (the static engine's per-step host time); the profile records which model it is."""
    if energy_model not in ENERGY_MODELS:
        raise ValueError(f"energy_model '{energy_model}' unknown; allowed: {', '.join(ENERGY_MODELS)}")
    base = base or ModelParams.defaults_for(acc, dtype)
    measured_t = data.array("latency_s")
    measured_e = data.array("gpu_energy_j")
    idle_w = float(np.median(data.idle_power_w)) if data.idle_power_w else base.p_idle_w
    names = LATENCY_FIELDS + (V2_LATENCY_FIELDS if cost_model == LATEST_COST_MODEL else ())
    lower = np.log([LATENCY_BOUNDS[n][0] for n in names])
    upper = np.log([LATENCY_BOUNDS[n][1] for n in names])

    best: tuple[float, Any, ModelParams] | None = None
    for mode in OVERLAP_MODES:
        start = replace(base, launch_overlap=mode, p_idle_w=idle_w, cost_model=cost_model)

        def with_x(x: np.ndarray, start: ModelParams = start) -> ModelParams:
            values = np.minimum(np.exp(x), np.exp(upper))
            return replace(start, **{n: float(v) for n, v in zip(names, values, strict=True)})

        def latency_residuals(x: np.ndarray, with_x: Any = with_x) -> np.ndarray:
            return predict_points(data, acc, with_x(x), **kw)[0] / measured_t - 1.0

        guess = {**start.to_dict(), "mu_attention": start.mu_attention or start.mu_compute, "t_step_s": 1e-4}
        x0 = np.clip(np.log([min(float(guess[n]), LATENCY_BOUNDS[n][1]) for n in names]), lower, upper)
        result = least_squares(latency_residuals, x0, bounds=(lower, upper))
        loss = float(np.mean(np.abs(result.fun)))
        if best is None or loss < best[0]:
            best = (loss, result, with_x(result.x))
    assert best is not None
    _, latency_result, params = best
    stderr = jacobian_stderr(latency_result.jac, latency_result.fun, names, np.exp(latency_result.x))

    if energy_model == "work":
        params = _fit_work_energy(data, acc, params, idle_w, stderr, **kw)
    else:
        params = _fit_bound_power(data, acc, params, idle_w, stderr, **kw)
    stderr["p_idle_w"] = float(np.std(data.idle_power_w, ddof=1)) if len(data.idle_power_w) > 1 else float("nan")
    pred_t, pred_e = predict_points(data, acc, params, **kw)
    return FitResult(params, stderr, float(np.mean(np.abs(pred_t / measured_t - 1))),
                     float(np.mean(np.abs(pred_e / measured_e - 1))), len(data.points))


def _fit_work_energy(data: Dataset, acc: Accelerator, params: ModelParams, idle_w: float,
                     stderr: dict[str, float], **kw: Any) -> ModelParams:
    """E = idle * t_predicted + work @ (e_flop, e_byte, e_kernel): linear and non-negative, on relative
    residuals (the system is divided row by row by the measured energy)."""
    measured_e = data.array("gpu_energy_j")
    pred_t = predict_points(data, acc, params, **kw)[0]
    design = work_points(data, acc, params, **kw) * WORK_UNITS / measured_e[:, None]
    target = 1.0 - idle_w * pred_t / measured_e
    col_scale = np.maximum(np.abs(design).max(axis=0), 1e-300)  # conditioning: columns of unit size
    coeffs = lsq_linear(design / col_scale, target, bounds=(0.0, np.inf)).x / col_scale
    stderr.update(jacobian_stderr(design, design @ coeffs - target, WORK_ENERGY_FIELDS))
    return replace(params, p_compute_w=0.0, p_memory_w=0.0, p_launch_w=0.0,
                   **dict(zip(WORK_ENERGY_FIELDS, (float(v) for v in coeffs), strict=True)))


def _fit_bound_power(data: Dataset, acc: Accelerator, params: ModelParams, idle_w: float,
                     stderr: dict[str, float], **kw: Any) -> ModelParams:
    """Active power above idle per bound class, each at most TDP - idle (the earlier model)."""
    measured_e = data.array("gpu_energy_j")

    def residuals(x: np.ndarray) -> np.ndarray:
        p = replace(params, **dict(zip(POWER_FIELDS, np.exp(x), strict=True)))
        return predict_points(data, acc, p, **kw)[1] / measured_e - 1.0

    ceiling_w = max(acc.tdp_w - idle_w, 1.0)
    x0 = np.log([min(max(getattr(params, f), 1.0), 0.9 * ceiling_w) for f in POWER_FIELDS])
    result = least_squares(residuals, x0, bounds=(np.log([1e-3] * 3), np.log([ceiling_w] * 3)))
    stderr.update(jacobian_stderr(result.jac, result.fun, POWER_FIELDS, np.exp(result.x)))
    return replace(params, **dict(zip(POWER_FIELDS, (float(v) for v in np.exp(result.x)), strict=True)))
