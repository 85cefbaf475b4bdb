"""Video calibration: fit the DiT's achieved efficiency and power on a few measured denoising steps,
then predict held-out resolutions and frame counts and say how far off that is.

Model (per denoising step, CFG passes included in the FLOPs)::

    t_step   = t0_s + F_step / (mu * F_peak)           latency: fixed per-step overhead + compute
    E_gpu    = (p_idle_w + p_active_w) * t_step        power: idle (measured baseline) + active
    E_c      = p_c_w * t_step                          cpu / ram (estimates where no RAPL)

Why this shape: a DiT step at video sizes is one long chain of large GEMMs and attention, compute
bound from the first token, so one efficiency ``mu`` and a small launch/overhead term ``t0_s``
carry it; cost is linear in steps, so a few short runs calibrate a 50-step request. Fits are
weighted least squares on *relative* residuals (a 30 ms step counts as much as a 5 s one), with
standard errors from the residual covariance. ``latency_model="split"`` fits separate efficiencies
for dense matmuls and attention (their mix changes with sequence length) when the FLOP source
gives the split.

FLOPs come from the analytic model (``joulebench.analytic.video``) so that a profile fitted here
prices configurations with the same FLOP convention ``predict video`` uses; when that model is not
importable, the FLOPs counted by torch at measurement time (stored with every point) are used, and
the profile says which (``flops_source``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from joulebench.errors import UsageError
from joulebench.store import Store

COMPONENTS = ("gpu", "cpu", "ram")
LATENCY_MODELS = ("single", "split")


# -- data ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VideoSample:
    """One stored video point reduced to what the fit needs."""

    point_id: int
    config: dict[str, Any]
    flops: float  # per denoising step, all CFG passes
    flops_attention: float | None
    latency_s: float
    energy_j: dict[str, float]
    ci95_j: dict[str, float]
    estimated: dict[str, bool]
    idle_power_w: dict[str, float]
    gpu_device_name: str | None

    @property
    def resolution(self) -> tuple[int, int]:
        return int(self.config["height"]), int(self.config["width"])

    @property
    def frames(self) -> int:
        return int(self.config["frames"])

    def label(self) -> str:
        return f"{self.config['height']}x{self.config['width']}x{self.config['frames']}"


FlopsFn = Callable[[Mapping[str, Any], Mapping[str, Any]], tuple[float, float | None, str]]


def _analytic_flops(config: Mapping[str, Any], summary: Mapping[str, Any]) -> tuple[float, float | None, str]:
    """Matmul FLOPs of one DiT step (all CFG passes) from the analytic model, else the torch-counted
    FLOPs stored with the point (built-in test models have no bundled config).

    Returns (flops, attention flops, source label)."""
    try:
        from joulebench.analytic.precision import precision_for
        from joulebench.analytic.video import VideoRequest, video_components
        from joulebench.models.configs import resolve

        ref = resolve(str(config["model"]), "video", allow_hub=False)
    except (ImportError, UsageError):
        return stored_flops(config, summary)
    req = VideoRequest(
        int(config["height"]), int(config["width"]), int(config["frames"]), 1, bool(config["cfg"])
    )
    _, comps = video_components(ref.config, req, precision_for(str(config["dtype"])))
    dit = next(c for c in comps if c.name == "dit")
    counted = [op for op in dit.ops if op.counted]
    flops = sum(float(op.flops) for op in counted) * dit.calls
    attention = sum(float(op.flops) for op in counted if op.category == "attention") * dit.calls
    return flops, attention, "analytic.video (matmul FLOPs)"


def stored_flops(config: Mapping[str, Any], summary: Mapping[str, Any]) -> tuple[float, float | None, str]:
    """The FLOPs torch counted at measurement time (stored with each point), whatever the analytic model."""
    step = summary["dit_step"]
    return float(step["flops_counted"]), step.get("flops_counted_attention"), "torch-flop-counter"


def load_samples(
    store_path: str | Path,
    gpu_name: str | None = None,
    model: str | None = None,
    dtype: str | None = None,
    flops_fn: FlopsFn = _analytic_flops,
) -> tuple[list[VideoSample], dict[str, Any]]:
    """All ok video points matching the filters, and the environment of the run they came from.

    ``gpu_name`` is a catalogue name (``h100-sxm``) or a substring of the device name; ``model``
    defaults to the model with the most points."""
    store = Store.open_read(store_path)
    try:
        runs = {r.id: r for r in store.runs()}
        points = list(store.points(kind="video", status="ok"))
    finally:
        store.close()
    if not points:
        raise UsageError(
            f"--db {store_path}: no measured video points (run `joulebench measure-video` first)"
        )
    if model is None:
        counts: dict[str, int] = {}
        for p in points:
            counts[p.config["model"]] = counts.get(p.config["model"], 0) + 1
        model = max(counts, key=lambda k: counts[k])
    samples: list[VideoSample] = []
    env: dict[str, Any] = {}
    sources: set[str] = set()
    for p in points:
        run = runs.get(p.run_id)
        gpus = (run.env if run is not None else {}).get("gpus") or []
        device_name = gpus[0]["name"] if gpus else None
        if p.config["model"] != model or (dtype is not None and p.config["dtype"] != dtype):
            continue
        if gpu_name is not None and not _gpu_matches(gpu_name, device_name):
            continue
        step = p.summary["dit_step"]
        flops, attn, source = flops_fn(p.config, p.summary)
        sources.add(source)
        idle = (run.get("baseline") or {}).get("idle_power_w") or p.summary.get("idle_power_w") or {}
        samples.append(
            VideoSample(
                p.id,
                p.config,
                flops,
                attn,
                float(step["latency_s"]),
                {c: float(v) for c, v in step["energy_j"].items()},
                {c: float(v) for c, v in step.get("ci95_j", {}).items()},
                {c: bool(v) for c, v in step.get("estimated", {}).items()},
                {c: float(v) for c, v in idle.items()},
                device_name,
            )
        )
        env = env or dict(run.get("env") or {})
    if not samples:
        raise UsageError(
            f"--db {store_path}: no ok video points for model={model}, dtype={dtype}, gpu={gpu_name}"
        )
    env["flops_source"] = "+".join(sorted(sources))
    env["model"] = model
    return samples, env


def _gpu_matches(gpu_name: str, device_name: str | None) -> bool:
    if device_name is None:
        return gpu_name.lower() in ("cpu", "none")
    try:
        from joulebench.hardware.catalogue import name_for_device

        if name_for_device(device_name) == gpu_name.lower():
            return True
    except Exception:  # noqa: BLE001 - an unknown card just falls back to substring matching
        pass
    return gpu_name.lower() in device_name.lower()


# -- splits ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Split:
    """Which points fit and which are held out. ``None`` = default: the smallest and largest
    resolution (by pixels) and the smallest, middle and largest frame count are used to fit; every
    point with another resolution or frame count is held out (interpolation in both directions)."""

    train_resolutions: tuple[tuple[int, int], ...] | None = None
    train_frames: tuple[int, ...] | None = None

    def resolve(self, samples: Sequence[VideoSample]) -> tuple[set[tuple[int, int]], set[int]]:
        resolutions = sorted({s.resolution for s in samples}, key=lambda r: (r[0] * r[1], r))
        frames = sorted({s.frames for s in samples})
        if self.train_resolutions is not None:
            train_res = set(self.train_resolutions)
        else:
            train_res = {resolutions[0], resolutions[-1]}
        if self.train_frames is not None:
            train_t = set(self.train_frames)
        else:
            train_t = {frames[0], frames[len(frames) // 2], frames[-1]}
        return train_res, train_t

    def partition(self, samples: Sequence[VideoSample]) -> tuple[list[VideoSample], list[VideoSample]]:
        train_res, train_t = self.resolve(samples)
        train = [s for s in samples if s.resolution in train_res and s.frames in train_t]
        held = [s for s in samples if not (s.resolution in train_res and s.frames in train_t)]
        return train, held


# -- fitting -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinearFit:
    """Weighted least squares with relative residuals: coefficients, standard errors, covariance."""

    coef: np.ndarray
    stderr: np.ndarray
    cov: np.ndarray
    dof: int


def fit_relative(design: np.ndarray, target: np.ndarray) -> LinearFit:
    """Minimise sum(((X b - y) / y)^2). Standard errors use the residual variance when dof > 0."""
    return fit_weighted(design, target, 1.0 / target)


def fit_weighted(design: np.ndarray, target: np.ndarray, weight: np.ndarray) -> LinearFit:
    """Minimise sum((w (X b - y))^2); with w = 1/measured this is a relative-error fit."""
    xw = design * weight[:, None]
    yw = target * weight
    coef, *_ = np.linalg.lstsq(xw, yw, rcond=None)
    dof = len(target) - design.shape[1]
    resid = yw - xw @ coef
    sigma2 = float(resid @ resid / dof) if dof > 0 else float("nan")
    try:
        cov = sigma2 * np.linalg.inv(xw.T @ xw)
    except np.linalg.LinAlgError:
        cov = np.full((design.shape[1], design.shape[1]), np.nan)
    return LinearFit(coef, np.sqrt(np.abs(np.diag(cov))), cov, dof)


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
        doc = _plain(self.to_dict())
        if p.suffix == ".json":
            p.write_text(json.dumps(doc, indent=2) + "\n")
        else:
            import yaml

            p.write_text(yaml.safe_dump(doc, sort_keys=False))
        return p


def _plain(value: Any) -> Any:
    """numpy scalars and NaN to YAML/JSON-safe values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
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
        key = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(dtype, dtype)
        return name, get_accelerator(name).peak_flops(key)
    except Exception:  # noqa: BLE001 - no catalogue row: fit rates, leave mu undefined
        return gpu_name, None


def fit_samples(
    train: Sequence[VideoSample],
    env: Mapping[str, Any] | None = None,
    gpu_name: str | None = None,
    latency_model: str = "split",
    fit_t0: bool = True,
    p_idle_w: float | None = None,
) -> VideoCalibration:
    """Fit latency and power on ``train``. ``p_idle_w`` defaults to the stored idle baseline; with no
    baseline the GPU busy power is fitted whole (reported as active, idle 0, source 'none')."""
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
    fit = fit_relative(np.column_stack(cols), t)
    coef, err = list(fit.coef), list(fit.stderr)
    if fit_t0 and coef[0] < 0:  # a negative overhead is unphysical: refit through the origin
        return fit_samples(train, env, gpu_name, latency_model, fit_t0=False, p_idle_w=p_idle_w)
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
            "config": _short_config(s.config),
            "flops": s.flops,
            "latency_s": s.latency_s,
            "energy_j": s.energy_j,
        }
        for s in train
    ]
    cal.in_sample = summarize_errors(cal, train)["summary"]
    cal.analytic = fit_analytic_params(train, cal)
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
        fit = fit_relative(ones, e)
        busy, busy_err = float(fit.coef[0]), float(fit.stderr[0])
        cal.p_idle_w = p_idle_w or 0.0
        cal.p_active_w, cal.p_active_std_w = busy - cal.p_idle_w, busy_err
        cal.estimated["gpu"] = any(s.estimated.get("gpu", False) for s in train)
    for comp in COMPONENTS[1:]:
        if all(comp in s.energy_j for s in train):
            e = np.array([s.energy_j[comp] for s in train])
            if np.all(e > 0):
                fit = fit_relative(ones, e)
                cal.p_component_w[comp] = float(fit.coef[0])
                cal.p_component_std_w[comp] = float(fit.stderr[0])
                cal.estimated[comp] = any(s.estimated.get(comp, False) for s in train)


def _short_config(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: config[k] for k in ("model", "height", "width", "frames", "dtype", "cfg") if k in config}


# -- the same fit through the analytic predictor ------------------------------------------------------
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
    return fit_weighted(np.column_stack(cols), t_meas - feats[:, 3], 1.0 / t_meas)


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
        mu_compute=min(max(cal.mu or base.mu_compute, 1e-3), 1.5),
        mu_attention=min(max(mu_a0, 1e-3), 1.5) if split else None,
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
        if min(inv) <= 0 or max(inv) < 1 / 1.5:  # efficiency out of (0, 1.5]: the split is not identifiable
            if split:
                split = False
                params = replace(params, mu_attention=None)
                continue
            inv = [max(v, 1 / 1.5) for v in inv]
        new = replace(
            params,
            t_launch_s=float(fit.coef[0]) if launch else 0.0,
            mu_compute=min(1.0 / inv[0], 1.5),
            mu_attention=min(1.0 / inv[1], 1.5) if split else None,
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
        p = max(float(fit_relative(tc[:, None], e - rest).coef[0]), 0.0)
        candidates.append(
            (replace(params, p_compute_w=p), ["p_compute_w"], "p_compute_w fitted; p_memory_w, p_launch_w priors")
        )
    if np.all(e - params.p_idle_w * t > 0):
        p = max(float(fit_relative(t[:, None], e - params.p_idle_w * t).coef[0]), 0.0)
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


def summarize_errors(cal: VideoCalibration, samples: Sequence[VideoSample]) -> dict[str, Any]:
    """Per-point predictions and absolute percentage errors, with mean and max per quantity."""
    rows: list[dict[str, Any]] = []
    for s in samples:
        t_pred, e_pred = cal.predict(s)
        row: dict[str, Any] = {
            "point_id": s.point_id,
            "label": s.label(),
            "config": _short_config(s.config),
            "flops": s.flops,
            "latency_s": s.latency_s,
            "latency_pred_s": t_pred,
            "latency_ape_pct": _ape(t_pred, s.latency_s),
            "energy_j": s.energy_j,
            "energy_pred_j": e_pred,
        }
        for comp, e in s.energy_j.items():
            if comp in e_pred:
                row[f"energy_{comp}_ape_pct"] = _ape(e_pred[comp], e)
        common = [c for c in s.energy_j if c in e_pred]
        if common:
            row["energy_total_j"] = sum(s.energy_j[c] for c in common)
            row["energy_total_pred_j"] = sum(e_pred[c] for c in common)
            row["energy_total_ape_pct"] = _ape(row["energy_total_pred_j"], row["energy_total_j"])
        rows.append(row)
    summary: dict[str, Any] = {"n": len(rows)}
    keys = sorted({k for r in rows for k in r if k.endswith("_ape_pct")})
    for key in keys:
        vals = np.array([r[key] for r in rows if key in r and math.isfinite(r[key])])
        if len(vals):
            name = key.removesuffix("_ape_pct")
            summary[name] = {"mape_pct": float(vals.mean()), "max_ape_pct": float(vals.max())}
    return {"rows": rows, "summary": summary}


@dataclass
class VideoValidation:
    """Held-out errors of a calibration, with the training points for the figure."""

    calibration: VideoCalibration
    held_out: dict[str, Any]
    train: dict[str, Any]
    analytic_held_out: dict[str, Any] | None = None  # the same points through analytic.video + params

    def to_dict(self) -> dict[str, Any]:
        return {"held_out": self.held_out, "train": self.train, "analytic_held_out": self.analytic_held_out}

    def table(self) -> str:
        """A plain-text table like the study's Table 3: per held-out point and the summary."""
        lines = [
            f"{'point':>16} {'t meas s':>9} {'t pred s':>9} {'err %':>6} {'E_gpu meas J':>12} "
            f"{'E_gpu pred J':>12} {'err %':>6}"
        ]
        for r in self.held_out["rows"]:
            eg, ep = r["energy_j"].get("gpu"), r["energy_pred_j"].get("gpu")
            lines.append(
                f"{r['label']:>16} {r['latency_s']:9.4f} {r['latency_pred_s']:9.4f} "
                f"{r['latency_ape_pct']:6.2f} {_fmt(eg, 12)} {_fmt(ep, 12)} "
                f"{_fmt(r.get('energy_gpu_ape_pct'), 6, '.2f')}"
            )
        lines.append("")
        for title, block in (("held out", self.held_out["summary"]), ("in sample", self.train["summary"])):
            parts = [
                f"{k}: MAPE {v['mape_pct']:.2f}% max {v['max_ape_pct']:.2f}%"
                for k, v in block.items()
                if isinstance(v, dict)
            ]
            lines.append(f"{title} (n={block['n']}): " + "; ".join(parts))
        if self.analytic_held_out is not None:
            block = self.analytic_held_out["summary"]
            parts = [
                f"{k}: MAPE {v['mape_pct']:.2f}% max {v['max_ape_pct']:.2f}%"
                for k, v in block.items()
                if isinstance(v, dict)
            ]
            lines.append(
                f"held out through analytic.video + profile params (n={block['n']}): " + "; ".join(parts)
            )
        return "\n".join(lines)

    def figure(self, path: str | Path) -> Path:
        """Predicted vs measured (latency and GPU energy, or total energy where no GPU), log axes."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        energy_key = "gpu" if any("gpu" in r["energy_j"] for r in self.train["rows"]) else None
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
        for ax, quantity in zip(axes, ("latency", "energy"), strict=True):
            for rows, label, marker in (
                (self.train["rows"], "fit", "o"),
                (self.held_out["rows"], "held out", "^"),
            ):
                pairs = [_xy(r, quantity, energy_key) for r in rows]
                xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
                ax.scatter(xs, ys, marker=marker, label=label)
            vals = [
                v for r in (*self.train["rows"], *self.held_out["rows"]) for v in _xy(r, quantity, energy_key)
            ]
            vals = [v for v in vals if math.isfinite(v) and v > 0]
            grid = np.geomspace(min(vals) / 1.3, max(vals) * 1.3, 50)
            ax.plot(grid, grid, "k-", lw=0.8)
            ax.fill_between(grid, grid * 0.97, grid * 1.03, color="grey", alpha=0.2, label="+-3%")
            ax.set_xscale("log")
            ax.set_yscale("log")
            unit = "s" if quantity == "latency" else "J"
            what = "latency" if quantity == "latency" else f"energy ({energy_key or 'total'})"
            ax.set_xlabel(f"measured {what} per step [{unit}]")
            ax.set_ylabel(f"predicted [{unit}]")
            ax.legend()
        cal = self.calibration
        mu = f"mu={cal.mu:.3f}" if cal.mu is not None else f"rate={cal.rate_flops_per_s:.3g} FLOP/s"
        if cal.rate_attention_flops_per_s and cal.peak_flops_per_s:
            mu_attention = cal.rate_attention_flops_per_s / cal.peak_flops_per_s
            mu = f"mu_dense={cal.mu:.3f}, mu_attention={mu_attention:.3f}"
        fig.suptitle(
            f"{cal.model} {cal.dtype} on {cal.gpu_device_name or 'cpu'}: {mu}, t0={cal.t0_s * 1e3:.1f} ms"
        )
        fig.tight_layout()
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, dpi=120)
        plt.close(fig)
        return p


def _xy(row: Mapping[str, Any], quantity: str, energy_key: str | None) -> tuple[float, float]:
    if quantity == "latency":
        return row["latency_s"], row["latency_pred_s"]
    if energy_key:
        return row["energy_j"].get(energy_key, float("nan")), row["energy_pred_j"].get(
            energy_key, float("nan")
        )
    return row.get("energy_total_j", float("nan")), row.get("energy_total_pred_j", float("nan"))


def _fmt(value: float | None, width: int, spec: str = ".2f") -> str:
    return f"{'-':>{width}}" if value is None else f"{value:{width}{spec}}"


# -- entry points ------------------------------------------------------------------------------------------
def fit_video(
    store_path: str | Path,
    gpu_name: str | None = None,
    train_filter: Callable[[VideoSample], bool] | Split | None = None,
    model: str | None = None,
    dtype: str | None = "bfloat16",
    latency_model: str = "split",
    fit_t0: bool = True,
    flops_fn: FlopsFn = _analytic_flops,
) -> VideoCalibration:
    """Fit on the stored points that ``train_filter`` selects (a predicate or a `Split`; default Split)."""
    samples, env = load_samples(store_path, gpu_name, model, dtype, flops_fn)
    train = _select_train(samples, train_filter)
    return fit_samples(train, env, gpu_name, latency_model, fit_t0)


def _select_train(
    samples: Sequence[VideoSample], train_filter: Callable[[VideoSample], bool] | Split | None
) -> list[VideoSample]:
    if train_filter is None or isinstance(train_filter, Split):
        return (train_filter or Split()).partition(samples)[0]
    return [s for s in samples if train_filter(s)]


def validate_video(
    calibration: VideoCalibration,
    store_path: str | Path,
    held_out_filter: Callable[[VideoSample], bool] | None = None,
    flops_fn: FlopsFn = _analytic_flops,
) -> VideoValidation:
    """Predict every stored point of the calibration's model/dtype/GPU that was not used to fit (or that
    ``held_out_filter`` selects) and report the errors."""
    samples, _ = load_samples(
        store_path,
        calibration.gpu_catalogue_name if calibration.gpu_device_name else None,
        calibration.model,
        calibration.dtype,
        flops_fn,
    )
    used = {p["point_id"] for p in calibration.points_used}
    held = [s for s in samples if (held_out_filter(s) if held_out_filter else s.point_id not in used)]
    train = [s for s in samples if s.point_id in used]
    analytic = None
    if calibration.analytic is not None and calibration.gpu_catalogue_name is not None and held:
        analytic = analytic_errors(calibration.analytic, calibration.gpu_catalogue_name, held)
    return VideoValidation(
        calibration, summarize_errors(calibration, held), summarize_errors(calibration, train), analytic
    )


def calibrate_and_validate(
    store_path: str | Path,
    out_dir: str | Path,
    gpu_name: str | None = None,
    model: str | None = None,
    dtype: str | None = "bfloat16",
    split: Split | None = None,
    latency_model: str = "split",
) -> dict[str, Any]:
    """Fit, validate on the held-out rest, and write ``<gpu>-diffusers-eager-<dtype>-video.yaml``,
    the validation JSON, the table and the figure into ``out_dir``."""
    cal = fit_video(store_path, gpu_name, split or Split(), model, dtype, latency_model)
    val = validate_video(cal, store_path)
    out = Path(out_dir)
    stem = f"{cal.gpu_catalogue_name or 'cpu'}-diffusers-eager-{cal.dtype}-video"
    doc = cal.to_dict()
    doc["validation"] = {
        "analytic_held_out": val.analytic_held_out["summary"] if val.analytic_held_out else None,
        "held_out": val.held_out["summary"],
        "held_out_points": [r["label"] for r in val.held_out["rows"]],
    }
    profile = out / f"{stem}.yaml"
    out.mkdir(parents=True, exist_ok=True)
    import yaml

    profile.write_text(yaml.safe_dump(_plain(doc), sort_keys=False))
    (out / f"{stem}-validation.json").write_text(json.dumps(_plain(val.to_dict()), indent=2) + "\n")
    text = val.table()
    (out / f"{stem}-validation.txt").write_text(text + "\n")
    figure = val.figure(out / f"{stem}-pred-vs-meas.png")
    mu = f"{cal.mu:.4f} +- {cal.mu_std:.4f}" if cal.mu is not None else "n/a (no catalogue peak)"
    header = (
        f"profile {profile}\nfigure  {figure}\nmu {mu}; rate {cal.rate_flops_per_s:.4g} FLOP/s; "
        f"t0 {cal.t0_s * 1e3:.2f} +- {cal.t0_std_s * 1e3:.2f} ms; p_idle {cal.p_idle_w:.1f} W "
        f"({cal.p_idle_source}); p_active {cal.p_active_w:.1f} +- {cal.p_active_std_w:.1f} W; "
        f"fit on {len(cal.points_used)} points, held out {val.held_out['summary']['n']}"
    )
    return {
        "profile": str(profile),
        "figure": str(figure),
        "calibration": _plain(doc),
        "validation": _plain(val.to_dict()),
        "text": header + "\n\n" + text,
    }
