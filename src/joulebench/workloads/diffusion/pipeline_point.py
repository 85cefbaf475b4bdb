"""Pipeline mode: the model's real pipeline call, measured window by window, and the full run predicted
from a few of its steps.

A warm-up call of two steps at the same sizes runs first, unmeasured, once per sizes in a process
(two steps: Mochi's sigma schedule divides by the step count minus one) (kernel selection, allocator
growth and the GPU's clock ramp out of idle belong to no request). Then one measured call of
``sample_steps`` (or all ``steps``) steps, cut into consecutive windows (`pipeline.timeline`).

Prediction of the full run from K measured steps (the steps of a run cost the same: the timestep
value changes no shape)::

    latency(N) = fixed + N * mean(step)        fixed = call - sum of the K steps (text, VAE, host work)
    95% interval: t_{K-1} * N * sd(step) / sqrt(K)      (the same for each component's energy)

Under model offload the first step also moves the denoiser onto the GPU, once per call
(`build.one_time_steps`): it joins the fixed part, and the mean and spread come from the K-1 steps after it.

The interval is the statistical spread of the K steps only: drift over a long run (clocks, heat)
is not in it, which is what the validation against full runs at the same sizes measures.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from joulebench.analytic.flopcheck_video import count_dit_flops
from joulebench.calibration.fits import t_quantile
from joulebench.hardware.dtypes import torch_dtype
from joulebench.store import MeasurementRow
from joulebench.values import Measurement, Span
from joulebench.workloads.diffusion.build import ModelCache, build_pipeline, one_time_steps, placement
from joulebench.workloads.diffusion.pipeline import (
    RESOLUTION_S,
    TEXT_ENCODERS,
    CallTimeline,
    call_kwargs,
    run_pipeline_call,
)
from joulebench.workloads.diffusion.point import VideoPoint, floors, gpu_peak_flops_per_s

WARMUP_STEPS = 2


def _window_doc(monitor: Any, span: Span) -> dict[str, Any]:
    readings = monitor.energy_between(span.begin_s, span.end_s)
    return {
        "latency_s": span.duration_s,
        "energy_j": {c: r.energy_j for c, r in readings.items()},
        "sources": {c: r.source for c, r in readings.items()},
        "estimated": {c: r.estimated for c, r in readings.items()},
        "resolution_limited": span.duration_s < RESOLUTION_S,
    }


def _sum_docs(docs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"latency_s": sum(d["latency_s"] for d in docs), "energy_j": {}, "spans": len(docs)}
    for d in docs:
        for c, e in d["energy_j"].items():
            out["energy_j"][c] = out["energy_j"].get(c, 0.0) + e
    out["resolution_limited"] = any(d["resolution_limited"] for d in docs) if docs else False
    return out


def _minus(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {"latency_s": a["latency_s"] - b["latency_s"],
            "energy_j": {c: e - b["energy_j"].get(c, 0.0) for c, e in a["energy_j"].items()}}


def split_call(monitor: Any, tl: CallTimeline) -> dict[str, Any]:
    """The call's parts that add up to it: text encoders, preparation, steps (denoiser forwards and the
    rest of each step: guidance, scheduler, host), VAE decode, post-processing."""
    docs = {w.name: _window_doc(monitor, w) for w in tl.windows}
    spans = {name: _sum_docs([_window_doc(monitor, s) for s in tl.spans if s.name == name])
             for name in ("text_encoder", "text_encoder_2", "denoiser", "vae_decode")}
    text = _sum_docs([spans[n] for n in TEXT_ENCODERS if spans[n]["spans"]])
    steps = _sum_docs([docs[s.name] for s in tl.steps])
    parts = {
        "text_encode": text,
        "prepare": _minus(docs["encode"], text),
        "denoiser_forwards": spans["denoiser"],
        "step_rest": _minus(steps, spans["denoiser"]),
        "vae_decode": spans["vae_decode"],
        "postprocess": _minus(docs["decode"], spans["vae_decode"]),
    }
    return {"call": _window_doc(monitor, tl.call), "windows": docs, "parts": parts, "steps": steps}


def step_statistics(step_docs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    lat = np.array([d["latency_s"] for d in step_docs])
    out: dict[str, Any] = {"n": len(lat), "latency_s": lat.tolist(), "mean_latency_s": float(lat.mean()),
                           "std_latency_s": float(lat.std(ddof=1)) if len(lat) > 1 else float("nan"),
                           "energy_j": {}, "mean_energy_j": {}, "std_energy_j": {}}
    for c in step_docs[0]["energy_j"]:
        e = np.array([d["energy_j"][c] for d in step_docs])
        out["energy_j"][c] = e.tolist()
        out["mean_energy_j"][c] = float(e.mean())
        out["std_energy_j"][c] = float(e.std(ddof=1)) if len(e) > 1 else float("nan")
    return out


def predict_full(call: dict[str, Any], step_docs: Sequence[dict[str, Any]], n_steps: int,
                 once: int = 0) -> dict[str, Any]:
    """The ``n_steps`` run from a call of K measured steps: fixed part + n_steps x mean step, 95% interval.

    The first ``once`` steps hold a one-time cost (`build.one_time_steps`): they stay in the fixed part,
    and the mean step and its spread come from the steps after them."""
    repeating = list(step_docs[once:])
    stats = step_statistics(repeating)
    k = stats["n"]
    q = t_quantile(k - 1) * n_steps / math.sqrt(k)
    fixed_s = call["latency_s"] - sum(d["latency_s"] for d in repeating)
    out: dict[str, Any] = {
        "predicted": True, "steps": n_steps, "from_steps": k, "one_time_steps": once,
        "method": "fixed (call - measured repeating steps) + steps x mean step; 95% = t(K-1) x steps x sd/sqrt(K)",
        "latency_s": fixed_s + n_steps * stats["mean_latency_s"],
        "latency_ci95_s": q * stats["std_latency_s"],
        "fixed_latency_s": fixed_s, "energy_j": {}, "ci95_j": {},
    }
    for c, e in call["energy_j"].items():
        fixed = e - sum(d["energy_j"].get(c, 0.0) for d in repeating)
        out["energy_j"][c] = fixed + n_steps * stats["mean_energy_j"][c]
        out["ci95_j"][c] = q * stats["std_energy_j"][c]
    out["energy_total_j"] = sum(out["energy_j"].values())
    return out


def stored_step_docs(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The measured step windows of a stored pipeline point (its ``steps`` lists), in call order, in the
    form `predict_full` takes: a stored point's prediction can be derived again from what was measured."""
    steps = summary["steps"]
    return [{"latency_s": lat, "energy_j": {c: values[i] for c, values in steps["energy_j"].items()}}
            for i, lat in enumerate(steps["latency_s"])]


def _rows(split: dict[str, Any], proto: dict[str, Any]) -> list[MeasurementRow]:
    rows = []
    named = [("call", -1, split["call"])] + [(n, -1, d) for n, d in split["parts"].items()]
    named += [("step", i, split["windows"][f"step_{i}"]) for i in range(split["steps"]["spans"])]
    for phase, rep, doc in named:
        rows.append(MeasurementRow(phase, rep, "time", doc["latency_s"], None, None, "perf_counter", False, proto))
        for c, e in doc["energy_j"].items():
            source = split["call"]["sources"].get(c)
            estimated = split["call"]["estimated"].get(c)
            rows.append(MeasurementRow(phase, rep, c, doc["latency_s"], e, None, source, estimated, proto))
    return rows


def _power_trace(monitor: Any, t0: float, t1: float) -> list[dict[str, float]]:
    """The GPU power samples over the call (the monitor's 20 ms trace), times from the call's start."""
    slices = monitor.trace_slices(t0, t1) if getattr(monitor, "has_trace", False) else {}
    return [{"device": device, "t_s": t - t0, "power_w": p}
            for device, trace in slices.items() for t, p in zip(trace.t_s, trace.power_w, strict=True)]


def _settle(monitor: Any, end_s: float, timeout_s: float = 1.0) -> None:
    """Wait until every meter has a sample after the call: a window ending after a trace's last sample
    would be clamped there, and the windows computed later (with more samples) would not add up."""
    monitor.wait_for_update(end_s, timeout_s=0.5)
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        monitor.refresh()
        if all(len(t) and t.arrays()[0][-1] > end_s for t in monitor.traces):
            return
        time.sleep(0.01)


def run_pipeline_point(point: VideoPoint, monitor: Any, models: ModelCache, idle: Mapping[str, float]) -> Measurement:
    """Warm up, run one measured pipeline call, cut it into windows, predict the full run when sampled."""

    spec = point.spec()
    shape = point.validate()
    vae_dtype = point.resolved_vae_dtype(spec)
    pipe = build_pipeline(spec, point.dtype, vae_dtype, point.device, point.random_weights, point.offload, models)
    autocast = torch_dtype(point.dtype) if spec.family.autocast else None
    args = (spec, point.height, point.width, point.frames)
    shape_key = (spec.name, point.height, point.width, point.frames, point.dtype, vae_dtype, point.cfg, point.offload)
    warmup = 0 if shape_key in models.warmed else WARMUP_STEPS
    if warmup:
        run_pipeline_call(pipe, point.device, call_kwargs(*args, warmup, point.cfg, point.prompt, point.seed, point.device),
                          autocast)
        models.warmed.add(shape_key)
    kwargs = call_kwargs(*args, point.measured_steps, point.cfg, point.prompt, point.seed, point.device)
    tl, _ = run_pipeline_call(pipe, point.device, kwargs, autocast)
    _settle(monitor, tl.call.end_s)
    split = split_call(monitor, tl)
    step_docs = [split["windows"][s.name] for s in tl.steps]
    once = one_time_steps(point.offload)
    stats = step_statistics(step_docs[once:])  # the repeating steps: the mean step of the run
    forwards = [s for s in tl.spans if s.name == "denoiser"]
    per_step = len(forwards) / max(len(tl.steps), 1)
    counted = count_dit_flops(spec, shape, 2 if point.cfg and spec.cfg_mode == "batched" else 1)
    step_flops = counted.total * per_step
    gpu_step = stats["mean_energy_j"].get("gpu")
    summary: dict[str, Any] = {
        "config": point.to_config(),
        "mode": "pipeline",
        "pipeline_class": type(pipe).__name__,
        "offload": point.offload,
        "placement": placement(pipe),
        "warmup_steps": warmup,
        "measured_steps": len(tl.steps),
        "call": split["call"],
        "parts": split["parts"],
        "steps": step_statistics(step_docs),  # every measured step, the one-time ones included
        "one_time_steps": once,
        "forwards_per_step": per_step,
        "dit_step": {  # the mean step in the shape phases mode stores (calibration reads either)
            "latency_s": stats["mean_latency_s"], "latency_std_s": stats["std_latency_s"], "reps": stats["n"],
            "energy_j": stats["mean_energy_j"], "sources": split["call"]["sources"],
            "estimated": split["call"]["estimated"], "forwards": int(round(per_step)),
            "flops_counted": step_flops, "flops_counted_attention": counted.attention * per_step,
            "floors": floors(step_flops, stats["mean_latency_s"], gpu_step, idle.get("gpu"),
                             gpu_peak_flops_per_s(monitor, point.dtype)),
        },
        "latent": {"shape": list(shape.as_tuple()), "tokens": shape.tokens, "text_len": spec.text_len},
        "idle_power_w": dict(idle),
        "model_source": spec.source,
        "build_s": {k[0]: v for k, v in models.build_s.items() if k[1] == spec.name},
    }
    if point.full:
        summary["request"] = {"measured": True, "steps": point.steps, **split["call"]}
    else:
        summary["request_predicted"] = predict_full(split["call"], step_docs, point.steps, once)
    proto = {"mode": "pipeline", "sample_steps": point.sample_steps, "offload": point.offload}
    records = {"spans": [{"name": s.name, "begin_s": s.begin_s - tl.call.begin_s, "end_s": s.end_s - tl.call.begin_s}
                         for s in [*tl.windows, *tl.spans]],
               "power_trace": _power_trace(monitor, tl.call.begin_s, tl.call.end_s)}
    return Measurement(summary, _rows(split, proto), records)
