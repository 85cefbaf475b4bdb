"""Video calibration entry points: fit on some stored denoising steps, predict the held-out rest,
write the profile (``<gpu>-diffusers-eager-<dtype>-video.yaml``), the validation JSON, table and figure.

The jobs live in ``video_dataset`` (samples, FLOPs, split), ``video_fit`` (the step model),
``video_analytic`` (the same fit through ``analytic.video``) and ``video_report`` (errors, table,
figure).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from joulebench.calibration.video_analytic import analytic_errors, fit_analytic_params
from joulebench.calibration.video_dataset import FlopsFn, Split, VideoSample, _analytic_flops, load_samples
from joulebench.calibration.video_fit import VideoCalibration, finite, fit_step_model
from joulebench.calibration.video_report import VideoValidation, summarize_errors
from joulebench.profiles import write_profile


def fit_video(
    store_path: str | Path,
    gpu_name: str | None = None,
    train_filter: Callable[[VideoSample], bool] | Split | None = None,
    model: str | None = None,
    dtype: str | None = "bfloat16",
    latency_model: str = "split",
    fit_t0: bool = True,
    flops_fn: FlopsFn = _analytic_flops,
    mode: str = "phases",
) -> VideoCalibration:
    """Fit on the stored points that ``train_filter`` selects (a predicate or a `Split`; default Split)."""
    samples, env = load_samples(store_path, gpu_name, model, dtype, flops_fn, mode)
    train = _select_train(samples, train_filter)
    return fit_samples(train, env, gpu_name, latency_model, fit_t0)


def fit_samples(train: Sequence[VideoSample], env: Mapping[str, Any] | None = None, gpu_name: str | None = None,
                latency_model: str = "split", fit_t0: bool = True, p_idle_w: float | None = None) -> VideoCalibration:
    """The step model fitted on ``train`` (`video_fit.fit_step_model`), with its in-sample errors and the
    analytic model's parameters fitted on the same points."""
    cal = fit_step_model(train, env, gpu_name, latency_model, fit_t0, p_idle_w)
    cal.in_sample = summarize_errors(cal, train)["summary"]
    cal.analytic = fit_analytic_params(train, cal)
    return cal


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
        calibration.env.get("mode", "phases"),
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
    flops_fn: FlopsFn = _analytic_flops,
    mode: str = "phases",
) -> dict[str, Any]:
    """Fit, validate on the held-out rest, and write ``<gpu>-diffusers-eager-<dtype>-video.yaml``,
    the validation JSON, the table and the figure into ``out_dir``."""
    cal = fit_video(store_path, gpu_name, split or Split(), model, dtype, latency_model, flops_fn=flops_fn, mode=mode)
    val = validate_video(cal, store_path, flops_fn=flops_fn)
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
    write_profile(finite(doc), profile)
    (out / f"{stem}-validation.json").write_text(json.dumps(finite(val.to_dict()), indent=2) + "\n")
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
        "calibration": finite(doc),
        "validation": finite(val.to_dict()),
        "text": header + "\n\n" + text,
    }
