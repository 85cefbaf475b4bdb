"""Video calibration fit: the DiT's achieved efficiency, fixed per-step overhead and power, from steps.

Model (per denoising step, guidance passes included in the FLOPs)::

    t_step   = t0_s + F_step / (mu * F_peak)           latency: fixed per-step overhead + compute
    E_gpu    = (p_idle_w + p_active_w) * t_step        power: idle (measured baseline) + active
    E_c      = p_c_w * t_step                          cpu / ram (estimates where no RAPL)

Why this shape: a DiT step at video sizes is one long chain of large GEMMs and attention, compute
bound from the first token, so one efficiency ``mu`` and a small launch/overhead term ``t0_s``
carry it; cost is linear in steps, so a few short runs calibrate a 50-step request. Fits are
relative least squares (`calibration.fits`: a 30 ms step counts as much as a 5 s one), with
standard errors from the residual covariance. ``latency_model="split"`` fits separate efficiencies
for dense matmuls and attention (their mix changes with sequence length) when the FLOP source
gives the split. The same points are also fitted through the analytic predictor
(``calibration.video_analytic``), which is what ``predict video --calibration`` reads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from joulebench.calibration.fits import relative_lstsq
from joulebench.calibration.video_dataset import COMPONENTS, LATENCY_MODELS, VideoSample, short_config
from joulebench.errors import UsageError
from joulebench.hardware import dtypes
from joulebench.profiles import write_profile


@dataclass
class VideoCalibration:
    """Fitted DiT step model for one (GPU, model, dtype); predicts latency and energy per step."""

    gpu_device_name: str | None
    gpu_catalogue_name: str | None
    model: str
    dtype: str
    peak_flops_per_s: float | None
    latency_model: str
    flops_source: str
    # latency
    t0_s: float
    t0_std_s: float
    rate_flops_per_s: float  # achieved FLOP/s of the compute part (single model)
    rate_std_flops_per_s: float
    rate_attention_flops_per_s: float | None = None  # split model: attention rate (rate_* = dense)
    rate_attention_std_flops_per_s: float | None = None
    # power
    p_idle_w: float = 0.0
    p_idle_source: str = "baseline"
    p_active_w: float = 0.0
    p_active_std_w: float = 0.0
    p_component_w: dict[str, float] = field(default_factory=dict)  # busy power per non-GPU component
    p_component_std_w: dict[str, float] = field(default_factory=dict)
    estimated: dict[str, bool] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)
    points_used: list[dict[str, Any]] = field(default_factory=list)
    in_sample: dict[str, Any] = field(default_factory=dict)
    analytic: dict[str, Any] | None = None  # ModelParams fitted through analytic.video (predict's model)

    @property
    def mu(self) -> float | None:
        """Achieved fraction of the datasheet peak (dense matmuls in the split model)."""
        return None if not self.peak_flops_per_s else self.rate_flops_per_s / self.peak_flops_per_s

    @property
    def mu_std(self) -> float | None:
        return None if not self.peak_flops_per_s else self.rate_std_flops_per_s / self.peak_flops_per_s

    def predict_latency_s(self, flops: float, flops_attention: float | None = None) -> float:
        if self.latency_model == "split" and self.rate_attention_flops_per_s:
            attn = flops_attention or 0.0
            return self.t0_s + (flops - attn) / self.rate_flops_per_s + attn / self.rate_attention_flops_per_s
        return self.t0_s + flops / self.rate_flops_per_s

    def predict_energy_j(self, latency_s: float) -> dict[str, float]:
        out = (
            {"gpu": (self.p_idle_w + self.p_active_w) * latency_s} if self.p_idle_w or self.p_active_w else {}
        )
        out.update({c: p * latency_s for c, p in self.p_component_w.items()})
        return out

    def predict(self, sample: VideoSample) -> tuple[float, dict[str, float]]:
        t = self.predict_latency_s(sample.flops, sample.flops_attention)
        return t, self.predict_energy_j(t)

    def to_dict(self) -> dict[str, Any]:
        """The profile: ``params`` (ModelParams fields that ``predict --calibration`` reads) plus the
        full video fit, the environment and the points used."""
        # without the analytic fit, only the efficiencies and power transfer: the fixed overhead t0_s
        # has no ModelParams field (t_launch_s needs the analytic kernel count to carry it)
        params: dict[str, float] = {"p_idle_w": self.p_idle_w, "p_compute_w": self.p_active_w}
        if self.mu is not None:
            params["mu_compute"] = self.mu
            if self.rate_attention_flops_per_s and self.peak_flops_per_s:
                params["mu_attention"] = self.rate_attention_flops_per_s / self.peak_flops_per_s
        if self.analytic is not None:  # what `predict video --calibration` must use to reproduce the points
            params = dict(self.analytic["params"])
        gpus = self.env.get("gpus") or [{}]
        return {
            "kind": "video",
            "gpu": {
                "catalogue_name": self.gpu_catalogue_name,
                "device_name": self.gpu_device_name,
                "driver": gpus[0].get("driver"),
                "power_limit_w": gpus[0].get("power_limit_w"),
            },
            "engine": "diffusers-eager",
            "model": self.model,
            "dtype": self.dtype,
            "libraries": self.env.get("libraries", {}),
            "flops_source": self.flops_source,
            "params": params,
            "video": {
                "latency_model": self.latency_model,
                "formula": "t_step = t0_s + F_step / rate; E_gpu = (p_idle_w + p_active_w) * t_step",
                "t0_s": self.t0_s,
                "t0_std_s": self.t0_std_s,
                "rate_flops_per_s": self.rate_flops_per_s,
                "rate_std_flops_per_s": self.rate_std_flops_per_s,
                "rate_attention_flops_per_s": self.rate_attention_flops_per_s,
                "rate_attention_std_flops_per_s": self.rate_attention_std_flops_per_s,
                "peak_flops_per_s": self.peak_flops_per_s,
                "mu": self.mu,
                "mu_std": self.mu_std,
                "p_idle_w": self.p_idle_w,
                "p_idle_source": self.p_idle_source,
                "p_active_w": self.p_active_w,
                "p_active_std_w": self.p_active_std_w,
                "p_component_w": self.p_component_w,
                "p_component_std_w": self.p_component_std_w,
                "estimated": self.estimated,
            },
            "in_sample": self.in_sample,
            "analytic": self.analytic,
            "points_used": self.points_used,
        }

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        doc = finite(self.to_dict())
        if p.suffix == ".json":
            p.write_text(json.dumps(doc, indent=2) + "\n")
            return p
        return write_profile(doc, p)


def finite(value: Any) -> Any:
    """numpy scalars and NaN (an error nothing estimated) to YAML/JSON-safe values (NaN -> None)."""
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _peak_for(device_name: str | None, dtype: str, gpu_name: str | None) -> tuple[str | None, float | None]:
    try:
        from joulebench.hardware.catalogue import get_accelerator, name_for_device

        name = gpu_name or (name_for_device(device_name) if device_name else None)
        if name is None:
            return None, None
        return name, get_accelerator(name).peak_flops(dtypes.get(dtype).compute)
    except Exception:  # noqa: BLE001 - no catalogue row: fit rates, leave mu undefined
        return gpu_name, None


def fit_step_model(
    train: Sequence[VideoSample],
    env: Mapping[str, Any] | None = None,
    gpu_name: str | None = None,
    latency_model: str = "split",
    fit_t0: bool = True,
    p_idle_w: float | None = None,
) -> VideoCalibration:
    """Fit latency and power on ``train``. ``p_idle_w`` defaults to the stored idle baseline; with no
    baseline the GPU busy power is fitted whole (reported as active, idle 0, source 'none'). The
    in-sample errors and the analytic parameters are added by `calibration.video.fit_samples`."""
    if latency_model not in LATENCY_MODELS:
        raise UsageError(f"latency_model '{latency_model}' unknown; allowed: {', '.join(LATENCY_MODELS)}")
    split = latency_model == "split" and all(s.flops_attention is not None for s in train)
    n_params = (1 if fit_t0 else 0) + (2 if split else 1)
    if len(train) < max(n_params, 2):
        raise UsageError(f"calibration needs at least {max(n_params, 2)} training points, got {len(train)}")
    env = dict(env or {})
    t = np.array([s.latency_s for s in train])
    f = np.array([s.flops for s in train])
    cols = []
    if split:
        fa = np.array([s.flops_attention or 0.0 for s in train])
        cols = [f - fa, fa]
    else:
        cols = [f]
    if fit_t0:
        cols = [np.ones_like(t), *cols]
    fit = relative_lstsq(np.column_stack(cols), t)
    coef, err = list(fit.coef), list(fit.stderr)
    if fit_t0 and coef[0] < 0:  # a negative overhead is unphysical: refit through the origin
        return fit_step_model(train, env, gpu_name, latency_model, fit_t0=False, p_idle_w=p_idle_w)
    t0, t0_err = (coef.pop(0), err.pop(0)) if fit_t0 else (0.0, 0.0)
    rates = [1.0 / c for c in coef]
    rate_errs = [e / c**2 for c, e in zip(coef, err, strict=True)]

    device_name = train[0].gpu_device_name
    dtype = str(train[0].config["dtype"])
    catalogue_name, peak = _peak_for(device_name, dtype, gpu_name)
    cal = VideoCalibration(
        gpu_device_name=device_name,
        gpu_catalogue_name=catalogue_name,
        model=str(train[0].config["model"]),
        dtype=dtype,
        peak_flops_per_s=peak,
        latency_model="split" if split else "single",
        flops_source=str(env.get("flops_source", "unknown")),
        t0_s=float(t0),
        t0_std_s=float(t0_err),
        rate_flops_per_s=rates[0],
        rate_std_flops_per_s=rate_errs[0],
        rate_attention_flops_per_s=rates[1] if split else None,
        rate_attention_std_flops_per_s=rate_errs[1] if split else None,
        env=env,
    )
    _fit_power(cal, train, p_idle_w)
    cal.points_used = [
        {
            "point_id": s.point_id,
            "label": s.label(),
            "config": short_config(s.config),
            "flops": s.flops,
            "latency_s": s.latency_s,
            "energy_j": s.energy_j,
        }
        for s in train
    ]
    return cal


def _fit_power(cal: VideoCalibration, train: Sequence[VideoSample], p_idle_w: float | None) -> None:
    t = np.array([s.latency_s for s in train])
    ones = t[:, None]
    if all("gpu" in s.energy_j for s in train):
        e = np.array([s.energy_j["gpu"] for s in train])
        if p_idle_w is None:
            idles = [s.idle_power_w["gpu"] for s in train if "gpu" in s.idle_power_w]
            p_idle_w = float(np.mean(idles)) if idles else None
            cal.p_idle_source = "measured idle baseline (mean over runs)" if idles else "none"
        else:
            cal.p_idle_source = "given"
        fit = relative_lstsq(ones, e)
        busy, busy_err = float(fit.coef[0]), float(fit.stderr[0])
        cal.p_idle_w = p_idle_w or 0.0
        cal.p_active_w, cal.p_active_std_w = busy - cal.p_idle_w, busy_err
        cal.estimated["gpu"] = any(s.estimated.get("gpu", False) for s in train)
    for comp in COMPONENTS[1:]:
        if all(comp in s.energy_j for s in train):
            e = np.array([s.energy_j[comp] for s in train])
            if np.all(e > 0):
                fit = relative_lstsq(ones, e)
                cal.p_component_w[comp] = float(fit.coef[0])
                cal.p_component_std_w[comp] = float(fit.stderr[0])
                cal.estimated[comp] = any(s.estimated.get(comp, False) for s in train)
