"""Fit the analytic model's parameters to measured LLM points, one profile per (GPU, engine, dtype).

Latency first: ``mu_compute``, ``mu_memory`` and ``t_launch_s`` (and the launch-overlap mode, chosen by
the lower training error) by nonlinear least squares on *relative* residuals of prefill and decode
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

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.optimize import least_squares, lsq_linear

from joulebench.analytic import ModelParams, llm_arch, precision_for, predict_llm_grid
from joulebench.analytic.params import OVERLAP_MODES, WORK_ENERGY_FIELDS
from joulebench.analytic.predict import llm_features
from joulebench.calibration.dataset import Dataset
from joulebench.hardware import Accelerator

LATENCY_FIELDS = ("mu_compute", "mu_memory", "t_launch_s")
POWER_FIELDS = ("p_compute_w", "p_memory_w", "p_launch_w")
ENERGY_MODELS = ("work", "bound")
#: scale of each work-energy field to SI (pJ per FLOP, pJ per byte, uJ per kernel -> J)
WORK_UNITS = np.array([1e-12, 1e-12, 1e-6])


def _model_grids(data: Dataset) -> Iterator[tuple[list[int], Any, Any, np.ndarray, np.ndarray, np.ndarray]]:
    """Per model: the indices of its points, its architecture and precision, and the (s, g, b) grid,
    so that each model is predicted in one vectorised call."""
    for model in sorted({p.model for p in data.points}):
        idx = [i for i, p in enumerate(data.points) if p.model == model]
        pts = [data.points[i] for i in idx]
        s = np.asarray([p.prompt_tokens for p in pts], dtype=float)
        g = np.asarray([max(p.output_tokens, 2) for p in pts], dtype=float)
        b = np.asarray([p.batch for p in pts], dtype=float)
        yield idx, llm_arch(model), precision_for(pts[0].dtype), s, g, b


def predict_points(data: Dataset, acc: Accelerator, params: ModelParams, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
    """Predicted (latency_s, gpu energy_j) for every phase point; ``kw`` go to `predict_llm_grid`
    (op-model options such as ``attn_impl``)."""
    latency = np.empty(len(data.points))
    energy = np.empty(len(data.points))
    for idx, arch, prec, s, g, b in _model_grids(data):
        out = predict_llm_grid(arch, acc, params, prec, s, g, b, **kw)
        for j, i in enumerate(idx):
            phase = data.points[i].phase
            latency[i] = out[f"{phase}_latency_s"][j]
            energy[i] = out[f"{phase}_energy_j"][j]
    return latency, energy


def work_points(data: Dataset, acc: Accelerator, **kw: Any) -> np.ndarray:
    """(FLOPs, bytes, kernels) of every phase point, the regressors of the work energy model."""
    out = np.empty((len(data.points), 3))
    for idx, arch, prec, s, g, b in _model_grids(data):
        feats = llm_features(arch, acc, prec, s, g, b, **kw)
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


def _stderr(result: Any, names: Sequence[str], scale: np.ndarray) -> dict[str, float]:
    jac = result.jac
    dof = max(1, jac.shape[0] - jac.shape[1])
    s2 = float(np.sum(result.fun**2)) / dof
    try:
        cov = np.linalg.inv(jac.T @ jac) * s2
    except np.linalg.LinAlgError:
        return {n: float("nan") for n in names}
    # parameters were fitted in log space: d(exp(x)) = exp(x) dx
    return {n: float(np.sqrt(max(cov[i, i], 0.0)) * scale[i]) for i, n in enumerate(names)}


def fit_llm(data: Dataset, acc: Accelerator, dtype: str, base: ModelParams | None = None,
            energy_model: str = "work", **kw: Any) -> FitResult:
    """Fit latency, then energy (``energy_model`` "work", or "bound" for the ablation); ``kw`` are
    op-model options passed to every prediction."""
    if energy_model not in ENERGY_MODELS:
        raise ValueError(f"energy_model '{energy_model}' unknown; allowed: {', '.join(ENERGY_MODELS)}")
    base = base or ModelParams.defaults_for(acc, dtype)
    measured_t = data.array("latency_s")
    measured_e = data.array("gpu_energy_j")
    idle_w = float(np.median(data.idle_power_w)) if data.idle_power_w else base.p_idle_w

    best: tuple[float, Any, ModelParams] | None = None
    for mode in OVERLAP_MODES:
        start = replace(base, launch_overlap=mode, p_idle_w=idle_w)

        def latency_residuals(x: np.ndarray, start: ModelParams = start) -> np.ndarray:
            mu_c, mu_m, t_l = np.exp(x)
            params = replace(start, mu_compute=min(mu_c, 1.5), mu_memory=min(mu_m, 1.5), t_launch_s=t_l)
            return predict_points(data, acc, params, **kw)[0] / measured_t - 1.0

        x0 = np.log([start.mu_compute, start.mu_memory, start.t_launch_s])
        result = least_squares(latency_residuals, x0, bounds=(np.log([0.05, 0.05, 1e-7]), np.log([1.5, 1.5, 1e-3])))
        loss = float(np.mean(np.abs(result.fun)))
        if best is None or loss < best[0]:
            mu_c, mu_m, t_l = np.exp(result.x)
            best = (loss, result, replace(start, mu_compute=float(mu_c), mu_memory=float(mu_m), t_launch_s=float(t_l)))
    assert best is not None
    _, latency_result, params = best
    stderr = _stderr(latency_result, LATENCY_FIELDS, np.exp(latency_result.x))

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
    design = work_points(data, acc, **kw) * WORK_UNITS / measured_e[:, None]
    target = 1.0 - idle_w * pred_t / measured_e
    col_scale = np.maximum(np.abs(design).max(axis=0), 1e-300)  # conditioning: columns of unit size
    coeffs = lsq_linear(design / col_scale, target, bounds=(0.0, np.inf)).x / col_scale
    s2 = float(np.sum((design @ coeffs - target) ** 2)) / max(1, len(target) - 3)
    try:
        cov = np.linalg.inv(design.T @ design) * s2
        stderr.update({n: float(np.sqrt(max(cov[i, i], 0.0))) for i, n in enumerate(WORK_ENERGY_FIELDS)})
    except np.linalg.LinAlgError:
        stderr.update({n: float("nan") for n in WORK_ENERGY_FIELDS})
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
    stderr.update(_stderr(result, POWER_FIELDS, np.exp(result.x)))
    return replace(params, **dict(zip(POWER_FIELDS, (float(v) for v in np.exp(result.x)), strict=True)))
