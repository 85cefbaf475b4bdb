"""Text-to-video diffusion: FLOPs, bytes, time and energy of text encoders, denoising steps and VAE.

A video is priced as the pipeline runs it: the text encoders once per prompt (and once more for the
negative prompt with guidance), ``steps`` denoiser forwards (twice per step where guidance runs as two
forwards, once with batch 2 where the pipeline batches it, once where guidance is an input of the
model), the scheduler update and one VAE decode. The family table (`models.video`) decides the latent
rule, the text lengths and the guidance mode; the op models are in ``video_text``, ``video_dit`` and
``video_vae``. Every matmul-like row is exact against ``FlopCounterMode`` on the real code (tests);
norms and elementwise work are estimates (uncounted rows). AnimateDiff's UNet has no op model yet:
predicting it is refused, measuring it is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from joulebench.analytic.ops import Op, OpList
from joulebench.analytic.params import DEFAULTS_UNCERTAINTY, ModelParams
from joulebench.analytic.precision import Precision, canonical_dtype, precision_for
from joulebench.analytic.roofline import Ceilings, TimeSplit, Work, energy_j, op_time
from joulebench.analytic.video_dit import DIT_FAMILIES
from joulebench.analytic.video_ops import elt
from joulebench.analytic.video_text import TEXT_ENCODERS
from joulebench.analytic.video_vae import VAE_DECODERS
from joulebench.errors import UsageError
from joulebench.models.video import LatentShape, VideoSpec, spec_from_config
from joulebench.models.video import latent_shape as spec_latent_shape


@dataclass(frozen=True)
class VideoRequest:
    height: int
    width: int
    frames: int
    steps: int
    cfg: bool
    #: unmasked prompt tokens (Mochi attends to those only); None: the padded length, an upper bound
    prompt_tokens: int | None = None
    #: the VAE's dtype when it differs from the run's (Wan's example decodes in fp32); fp32 convolutions
    #: run on TF32 tensor cores (torch's cuDNN default), so they are priced at the TF32 peak
    vae_dtype: str | None = None


@dataclass(frozen=True)
class Component:
    """One component of the pipeline: ops of a single call and how many calls a video needs."""

    name: str
    calls: int
    ops: list[Op]
    fidelity: str  # "exact-matmul" (checked against FlopCounterMode) or "approximate"
    extra: dict[str, Any]
    precision: Precision | None = None  # None: the run's precision


def _spec(model_cfg: dict[str, Any]) -> VideoSpec:
    return spec_from_config(str(model_cfg.get("name", "model")), model_cfg)


def latent_shape(model_cfg: dict[str, Any], req: VideoRequest) -> LatentShape:
    """The pipeline's latent shape (`models.video.latent_shape`); `UsageError` naming the field."""
    if req.steps < 1:
        raise UsageError.bad("steps", req.steps, "must be >= 1")
    return spec_latent_shape(_spec(model_cfg), req.height, req.width, req.frames)


def video_components(model_cfg: dict[str, Any], req: VideoRequest, prec: Precision) -> tuple[LatentShape, list[Component]]:
    spec = _spec(model_cfg)
    fam = spec.family
    if not fam.analytic:
        raise UsageError.bad("model", model_cfg.get("name", fam.name), f"no op model for the {fam.name} family "
                             f"({fam.denoiser_class}) yet; measure it instead (measure video)")
    lat = latent_shape(model_cfg, req)
    guided = req.cfg and fam.cfg != "embedded"
    branches = 2 if guided else 1
    forwards, batch = (req.steps, 2) if guided and fam.cfg == "batched" else (req.steps * branches, 1)
    te_cfg = model_cfg["text_encoder"]
    text_tokens = spec.text_len + spec.template_tokens
    comps = [Component("text_encoder", branches, TEXT_ENCODERS[te_cfg["model_type"]](te_cfg, text_tokens, prec),
                       "exact-matmul", {"tokens": text_tokens, "template_tokens": spec.template_tokens,
                                        "model_type": te_cfg["model_type"]})]
    if spec.text_encoder_2 is not None:
        te2 = dict(spec.text_encoder_2)
        comps.append(Component("text_encoder_2", branches, TEXT_ENCODERS[te2["model_type"]](te2, spec.text_len_2, prec),
                               "exact-matmul", {"tokens": spec.text_len_2, "model_type": te2["model_type"]}))
    attn_text = req.prompt_tokens if fam.text_attention == "valid" else None
    dit = DIT_FAMILIES[fam.name](model_cfg["transformer"], lat, spec.text_len, prec, batch, attn_text)
    comps.append(Component("dit", forwards, dit, "exact-matmul", {
        "passes_per_step": branches, "batch_per_forward": batch, "cfg_mode": fam.cfg,
        "cfg_batched": fam.cfg == "batched", "guidance_embedded": fam.cfg == "embedded",
        "attention_text_tokens": attn_text if attn_text is not None else spec.text_len}))
    vae_prec = prec
    if req.vae_dtype is not None:
        vae_dtype = canonical_dtype(req.vae_dtype, "vae_dtype")
        vae_prec = precision_for(vae_dtype, tf32=vae_dtype == "fp32")
    comps.append(Component("vae_decoder", 1, VAE_DECODERS[fam.name](model_cfg["vae"], lat, vae_prec), "exact-matmul",
                           {"dtype": vae_prec.dtype, "compute": vae_prec.compute}, vae_prec))
    sched = OpList()
    latent_elems = float(lat.frames * lat.height * lat.width * lat.channels)
    elt(sched, "scheduler_step", latent_elems, 6.0, 6.0, prec, 8)
    if branches == 2:
        elt(sched, "cfg_combine", latent_elems, 3.0, 3.0, prec, 3)
    comps.append(Component("scheduler", req.steps, sched.ops(), "approximate", {}))
    return lat, comps


def _time_ops(ops: list[Op], ceil: Ceilings, params: ModelParams, graphs: bool) -> tuple[list[dict], TimeSplit]:
    rows = []
    total: TimeSplit | None = None
    for op in ops:
        t = op_time(op.flops, op.bytes, op.n_kernels, ceil, params, graphs, op.category)
        total = t if total is None else total + t
        rows.append({
            "name": op.name,
            "flops": float(op.flops),
            "bytes": float(op.bytes),
            "n_kernels": float(op.n_kernels),
            "bound": str(t.bound().reshape(-1)[0]),
            "latency_s": float(t.latency_s),
            "counted": op.counted,
        })
    assert total is not None
    return rows, total


def predict_video(model_cfg: dict[str, Any], name: str, accelerator: Any, params: ModelParams, prec: Precision,
                  req: VideoRequest, *, graphs: bool = False) -> dict[str, Any]:
    """Per-component FLOPs, bytes, latency and energy of one video (JSON-able)."""
    lat, comps = video_components({"name": name, **model_cfg}, req, prec)
    components: dict[str, Any] = {}
    tot_flops = tot_lat = tot_e = 0.0
    for comp in comps:
        p = comp.precision or prec
        ceil = Ceilings(accelerator.peak_flops(p.compute), accelerator.memory_bandwidth_bytes_per_s)
        rows, split = _time_ops(comp.ops, ceil, params, graphs)
        flops_call = sum(r["flops"] for r in rows)
        lat_s = float(split.latency_s) * comp.calls
        work = Work(flops_call, sum(r["bytes"] for r in rows), sum(r["n_kernels"] for r in rows))
        e_j = float(energy_j(split, params, work)) * comp.calls
        entry = {
            "calls": comp.calls,
            "flops": flops_call * comp.calls,
            "flops_counted": sum(r["flops"] for r in rows if r["counted"]) * comp.calls,
            "bytes": sum(r["bytes"] for r in rows) * comp.calls,
            "latency_s": lat_s,
            "energy_j": e_j,
            "bound": str(split.bound().reshape(-1)[0]),
            "fidelity": comp.fidelity,
            "time_split_s": {
                "compute": float(split.compute_s) * comp.calls,
                "memory": float(split.memory_s) * comp.calls,
                "launch": float(split.launch_s) * comp.calls,
            },
            "floor_s": {  # physics: no component can beat its FLOPs at peak nor its bytes at bandwidth
                "compute": flops_call * comp.calls / ceil.peak_flops_per_s,
                "memory": work.bytes * comp.calls / ceil.bandwidth_bytes_per_s,
            },
            "ops": rows,
            **comp.extra,
        }
        if comp.name == "dit":
            entry["flops_per_forward"] = flops_call
            entry["latency_per_forward_s"] = float(split.latency_s)
        components[comp.name] = entry
        tot_flops += entry["flops"]
        tot_lat += lat_s
        tot_e += e_j
    return {
        "kind": "video",
        "model": name,
        "gpu": accelerator.name,
        "dtype": prec.dtype,
        "height": req.height,
        "width": req.width,
        "frames": req.frames,
        "steps": req.steps,
        "cfg": req.cfg,
        "latent": {"frames": lat.frames, "height": lat.height, "width": lat.width, "channels": lat.channels,
                   "tokens": lat.tokens},
        "attention_flops_convention": "dense",
        "components": components,
        "total": {"flops": tot_flops, "latency_s": tot_lat, "energy_j": tot_e},
        "params": params.to_dict(),
    }


def video_prediction(model: str, height: int, width: int, frames: int, steps: int, *, cfg: bool = True, gpu: str,
                     dtype: str = "bf16", calibration: str | None = None, hardware_file: str | None = None,
                     graphs: bool = False, command: str | None = None, prompt_tokens: int | None = None,
                     vae_dtype: str | None = None) -> dict[str, Any]:
    """CLI/API entry: resolve names, validate, predict, and return the JSON document."""
    from joulebench import __version__
    from joulebench.analytic.service import resolve_params
    from joulebench.hardware.catalogue import get_accelerator
    from joulebench.models.configs import resolve

    prec = precision_for(dtype)
    acc = get_accelerator(gpu, hardware_file)
    acc.peak_flops(prec.compute)
    ref = resolve(model, "video")
    if "family" not in ref.config or ref.config["family"] not in DIT_FAMILIES:
        families = ", ".join(DIT_FAMILIES)
        raise UsageError.bad("model", model, f"not a video pipeline config with an op model; families: {families}")
    params, source = resolve_params(acc, prec.dtype, calibration)
    if vae_dtype is None:  # what the model's pipeline decodes in (Wan: fp32), as `measure video` runs it
        from joulebench.models.video import load_spec

        vae_dtype = load_spec(model).pipeline_vae_dtype(dtype)
    req = VideoRequest(height, width, frames, steps, cfg, prompt_tokens, vae_dtype)
    doc = predict_video(ref.config, ref.name, acc, params, prec, req, graphs=graphs)
    doc = {"schema_version": 1, "joulebench_version": __version__, **doc, "params_source": source}
    if source == "catalogue-defaults":
        doc["params_uncertainty"] = DEFAULTS_UNCERTAINTY
    if command:
        doc["command"] = command
    return doc
