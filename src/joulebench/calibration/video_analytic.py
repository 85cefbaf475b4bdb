"""The video calibration fitted *through* the analytic predictor: `ModelParams` that make
``predict video --calibration`` reproduce the measured steps (roofline per op, launch term, power)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from joulebench.calibration.fits import LinearFit, relative_lstsq, weighted_lstsq
from joulebench.calibration.video_dataset import VideoSample
from joulebench.errors import UsageError

if TYPE_CHECKING:
    from joulebench.calibration.video_fit import VideoCalibration

def _analytic_step(
    config: Mapping[str, Any], accelerator: Any, params: Any
) -> tuple[float, dict[str, float]]:
    """Predicted latency of one denoising step (DiT passes + scheduler) and its time split."""
    from joulebench.analytic.precision import precision_for
    from joulebench.analytic.video import VideoRequest, predict_video
    from joulebench.models.configs import resolve

    ref = resolve(str(config["model"]), "video", allow_hub=False)
    req = VideoRequest(
        int(config["height"]), int(config["width"]), int(config["frames"]), 1, bool(config["cfg"])
    )
    doc = predict_video(ref.config, ref.name, accelerator, params, precision_for(str(config["dtype"])), req)
    parts = [doc["components"][c] for c in ("dit", "scheduler") if c in doc["components"]]
    split = {k: sum(p["time_split_s"][k] for p in parts) for k in ("compute", "memory", "launch")}
    return sum(p["latency_s"] for p in parts), split


def _step_ops(config: Mapping[str, Any]) -> tuple[list[tuple[Any, int]], Any]:
    """Ops of one denoising step as ``analytic.video`` prices it (DiT passes + scheduler), each with its
    number of calls, and the accelerator-independent precision."""
    from joulebench.analytic.precision import precision_for
    from joulebench.analytic.video import VideoRequest, video_components
    from joulebench.models.configs import resolve

    ref = resolve(str(config["model"]), "video", allow_hub=False)
    req = VideoRequest(
        int(config["height"]), int(config["width"]), int(config["frames"]), 1, bool(config["cfg"])
    )
    prec = precision_for(str(config["dtype"]))
    _, comps = video_components(ref.config, req, prec)
    ops = [(op, c.calls) for c in comps if c.name in ("dit", "scheduler") for op in c.ops]
    return ops, prec


def _step_features(ops: Sequence[tuple[Any, int]], ceil: Any, params: Any) -> np.ndarray:
    """Regressors of one step with the bounds classified under ``params`` (launch overlap "sum"):
    (kernels, dense compute-bound s at mu = 1, attention compute-bound s at mu = 1, memory-bound s),
    so that ``t = kernels*t_launch_s + dense/mu_compute + attention/mu_attention + memory``."""
    from joulebench.analytic.roofline import op_time

    out = np.zeros(4)
    for op, calls in ops:
        t = op_time(op.flops, op.bytes, op.n_kernels, ceil, params, False, op.category)
        c = float(t.compute_s) * params.mu_for(op.category) * calls
        out[0] += float(op.n_kernels) * calls
        out[2 if op.category == "attention" else 1] += c
        out[3] += float(t.memory_s) * calls
    return out


def _solve_latency(feats: np.ndarray, t_meas: np.ndarray, split: bool, launch: bool) -> LinearFit:
    """Relative least squares of t - memory on [kernels?, dense, attention] (or dense + attention)."""
    cols = [feats[:, 1], feats[:, 2]] if split else [feats[:, 1] + feats[:, 2]]
    if launch:
        cols = [feats[:, 0], *cols]
    return weighted_lstsq(np.column_stack(cols), t_meas - feats[:, 3], 1.0 / t_meas)


def fit_analytic_params(train: Sequence[VideoSample], cal: VideoCalibration) -> dict[str, Any] | None:
    """Fit `ModelParams` *through* ``analytic.video`` (roofline per op, launch term, catalogue memory
    ceilings), so that ``predict video --calibration`` with the profile reproduces the measured steps.

    Latency: with the bounds of every op fixed, a step's analytic time is linear in
    ``(t_launch_s, 1/mu_compute, 1/mu_attention)``::

        t = K * t_launch_s + C_dense / mu_compute + C_attention / mu_attention + M

    (K kernels per step, C compute-bound seconds at mu = 1, M memory-bound seconds at the prior
    ``mu_memory``), so the fit is the split fit's relative least squares on these regressors, repeated
    until the classification of bounds is stable. ``mu_attention`` is fitted when the calibration's
    latency model is "split" (else left None = mu_compute). The split fit's fixed per-step overhead
    ``t0_s`` is what ``K * t_launch_s`` represents: K is the same for every size of one model, so the
    fitted ``t_launch_s`` is that overhead spread over the step's eager kernels (it then also prices
    the launches of the text encoder and VAE, which were not measured). ``mu_memory`` stays the
    prior: the memory-bound (elementwise, norm) time grows with tokens like the dense GEMMs, so the
    two are not separable on these points. A negative launch term is refitted at ``t_launch_s = 0``.

    Energy: ``p_compute_w`` by relative least squares, ``p_memory_w`` / ``p_launch_w`` stay priors.
    None when the model has no bundled config or the GPU no catalogue row (e.g. the CPU demo)."""
    try:
        from dataclasses import replace

        from joulebench.analytic.params import ModelParams
        from joulebench.analytic.roofline import Ceilings
        from joulebench.hardware.catalogue import get_accelerator

        if cal.gpu_catalogue_name is None or cal.peak_flops_per_s is None:
            return None
        acc = get_accelerator(cal.gpu_catalogue_name)
        base = replace(
            ModelParams.defaults_for(acc), p_idle_w=cal.p_idle_w or acc.idle_power_w, launch_overlap="sum"
        )
        step_ops = [_step_ops(s.config) for s in train]
    except (ImportError, UsageError):
        return None
    ceil = Ceilings(acc.peak_flops(step_ops[0][1].compute), acc.memory_bandwidth_bytes_per_s)
    t_meas = np.array([s.latency_s for s in train])
    split = cal.latency_model == "split"
    mu_a0 = (cal.rate_attention_flops_per_s or cal.rate_flops_per_s) / cal.peak_flops_per_s
    params = replace(
        base,
        mu_compute=min(max(cal.mu or base.mu_compute, 1e-3), 1.0),
        mu_attention=min(max(mu_a0, 1e-3), 1.0) if split else None,
    )
    launch = True
    fit: LinearFit | None = None
    for _ in range(50):
        feats = np.array([_step_features(ops, ceil, params) for ops, _ in step_ops])
        fit = _solve_latency(feats, t_meas, split, launch)
        if launch and fit.coef[0] < 0:  # a negative overhead is unphysical: no launch term
            launch = False
            fit = _solve_latency(feats, t_meas, split, launch)
        inv = list(fit.coef[1:] if launch else fit.coef)
        if min(inv) <= 0 or max(inv) < 1.0:  # efficiency out of (0, 1]: the split is not identifiable
            if split:
                split = False
                params = replace(params, mu_attention=None)
                continue
            inv = [max(v, 1.0) for v in inv]
        new = replace(
            params,
            t_launch_s=float(fit.coef[0]) if launch else 0.0,
            mu_compute=min(1.0 / inv[0], 1.0),
            mu_attention=min(1.0 / inv[1], 1.0) if split else None,
        )
        done = new == params
        params = new
        if done:
            break
    assert fit is not None
    steps = [_analytic_step(s.config, acc, params) for s in train]
    out: dict[str, Any] = {
        "method": "relative least squares on t = K*t_launch_s + C_dense/mu_compute + C_attention/mu_attention"
        " + M through analytic.video (bounds re-classified until stable)"
    }
    power_fitted: list[str] = []
    if all("gpu" in s.energy_j for s in train):
        params, power_fitted, out["power_model"] = _fit_analytic_power(train, steps, params)
    out["params"] = {
        k: getattr(params, k)
        for k in (
            "mu_compute",
            "mu_attention",
            "mu_memory",
            "t_launch_s",
            "launch_overlap",
            "p_idle_w",
            "p_compute_w",
            "p_memory_w",
            "p_launch_w",
        )
    }
    inv_err = list(fit.stderr[1:] if launch else fit.stderr)
    inv_val = list(fit.coef[1:] if launch else fit.coef)
    out["stderr"] = {
        "mu_compute": float(inv_err[0] / inv_val[0] ** 2),
        "mu_attention": float(inv_err[1] / inv_val[1] ** 2) if split else None,
        "t_launch_s": float(fit.stderr[0]) if launch else None,
    }
    kernels = float(feats[0, 0])
    out["kernels_per_step"] = kernels
    out["fixed_overhead_s_per_step"] = kernels * params.t_launch_s
    out["fitted"] = [
        "mu_compute",
        *(["mu_attention"] if split else []),
        *(["t_launch_s"] if launch else []),
        *power_fitted,
    ]
    out["in_sample"] = analytic_errors(out, cal.gpu_catalogue_name, train)["summary"]
    return out


def _fit_analytic_power(
    train: Sequence[VideoSample], steps: Sequence[tuple[float, dict[str, float]]], params: Any
) -> tuple[Any, list[str], str]:
    """GPU active power through the analytic time split, ``E = p_idle t + p_compute t_c + p_memory t_m
    + p_launch t_l``, two ways with one fitted power each; the smaller relative residual wins:

    * ``priors``: ``p_compute_w`` fitted, ``p_memory_w`` / ``p_launch_w`` keep the catalogue priors;
    * ``one busy power``: one ``p`` for all three bounds, which is the split fit's
      ``(p_idle_w + p_active_w) * t`` (a DiT step interleaves microsecond elementwise kernels between
      GEMMs, below what the power sensor resolves).

    The two are not fitted together: on DiT steps the memory-bound share is small and grows with
    tokens like the GEMMs', so a free ``p_memory_w`` is not identifiable."""
    from dataclasses import replace

    e = np.array([s.energy_j["gpu"] for s in train])
    t = np.array([lat for lat, _ in steps])
    tc = np.array([sp["compute"] for _, sp in steps])
    tm = np.array([sp["memory"] for _, sp in steps])
    tl = np.array([sp["launch"] for _, sp in steps])
    candidates = []
    rest = params.p_idle_w * t + params.p_memory_w * tm + params.p_launch_w * tl
    if np.all(e - rest > 0):
        p = max(float(relative_lstsq(tc[:, None], e - rest).coef[0]), 0.0)
        candidates.append(
            (replace(params, p_compute_w=p), ["p_compute_w"], "p_compute_w fitted; p_memory_w, p_launch_w priors")
        )
    if np.all(e - params.p_idle_w * t > 0):
        p = max(float(relative_lstsq(t[:, None], e - params.p_idle_w * t).coef[0]), 0.0)
        candidates.append(
            (
                replace(params, p_compute_w=p, p_memory_w=p, p_launch_w=p),
                ["p_compute_w", "p_memory_w", "p_launch_w"],
                "one busy power for every bound (p_compute_w = p_memory_w = p_launch_w)",
            )
        )
    if not candidates:
        return params, [], "priors (measured energy below idle)"

    def sse(c: Any) -> float:
        q = c[0]
        pred = q.p_idle_w * t + q.p_compute_w * tc + q.p_memory_w * tm + q.p_launch_w * tl
        return float(np.sum((pred / e - 1.0) ** 2))

    return min(candidates, key=sse)


def analytic_errors(analytic: Mapping[str, Any], gpu: str, samples: Sequence[VideoSample]) -> dict[str, Any]:
    """Errors of the analytic predictor with the fitted params on ``samples``."""
    from joulebench.analytic.params import ModelParams
    from joulebench.analytic.roofline import TimeSplit, energy_j
    from joulebench.hardware.catalogue import get_accelerator

    acc = get_accelerator(gpu)
    params = ModelParams.from_dict(dict(analytic["params"]))
    rows: list[dict[str, Any]] = []
    for s in samples:
        t, sp = _analytic_step(s.config, acc, params)
        e = float(
            energy_j(
                TimeSplit(np.array(sp["compute"]), np.array(sp["memory"]), np.array(sp["launch"])), params
            )
        )
        row = {
            "label": s.label(),
            "latency_s": s.latency_s,
            "latency_pred_s": t,
            "latency_ape_pct": _ape(t, s.latency_s),
        }
        if "gpu" in s.energy_j:
            row.update(
                {
                    "energy_gpu_j": s.energy_j["gpu"],
                    "energy_gpu_pred_j": e,
                    "energy_gpu_ape_pct": _ape(e, s.energy_j["gpu"]),
                }
            )
        rows.append(row)
    summary: dict[str, Any] = {"n": len(rows)}
    for key in ("latency", "energy_gpu"):
        vals = np.array([r[f"{key}_ape_pct"] for r in rows if f"{key}_ape_pct" in r])
        if len(vals):
            summary[key] = {"mape_pct": float(vals.mean()), "max_ape_pct": float(vals.max())}
    return {"rows": rows, "summary": summary}


# -- errors and validation -----------------------------------------------------------------------------------
def _ape(pred: float, meas: float) -> float:
    return abs(pred - meas) / meas * 100.0 if meas else float("nan")
