"""Phases mode: one denoising step, the VAE decode and the text encoder, each in its own repeated window.

Why per phase: a request is ``steps`` identical denoising steps plus one text encoding and one VAE
decode. A step lasts 0.02-40 s, so a window repeated to ``min_window_s`` measures it to about 1%
(`meters.window`) and the request is extrapolated as ``steps x step + encode + decode`` (labelled
``extrapolated``); the calibration fits these steps. What the pipeline adds around them (host work,
post-processing, offload) is not in this mode: the ``pipeline`` mode measures it.

One step is what the family's pipeline does per timestep: the denoiser on the conditional branch and,
with guidance, on the unconditional one (one batch of two, or a second sequential forward, as the
family table says), the guidance combination and the scheduler's Euler update, with inputs of the
pipeline's shapes (`models.video_calls`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from joulebench.analytic.flopcheck_video import count_dit_flops
from joulebench.hardware.dtypes import torch_dtype
from joulebench.meters.window import PhaseResult, Protocol, run_repeated
from joulebench.models.video import LatentShape, VideoSpec
from joulebench.models.video_calls import denoiser_kwargs, denoiser_output
from joulebench.values import Measurement
from joulebench.workloads.common import phase_rows
from joulebench.workloads.device import sync
from joulebench.workloads.diffusion.build import ModelCache
from joulebench.workloads.diffusion.point import VideoPoint, floors, gpu_peak_flops_per_s

PHASES = ("text_encode", "dit_step", "vae_decode")


@dataclass
class VideoPhases:
    """Pre-built inputs and the three phase callables of one point (each blocks until done)."""

    spec: VideoSpec
    shape: LatentShape
    dtype: str
    device: str
    cfg: bool
    denoiser: Any = None
    vae: Any = None
    text_encoder: Any = None
    _t: dict[str, Any] = field(default_factory=dict)

    @property
    def guided(self) -> bool:
        return self.cfg and self.spec.cfg_mode != "embedded"

    @property
    def batch(self) -> int:
        return 2 if self.guided and self.spec.cfg_mode == "batched" else 1

    @property
    def forwards(self) -> int:
        return 2 if self.guided and self.spec.cfg_mode == "sequential" else 1

    def prepare_inputs(self, seed: int = 0) -> None:
        import torch

        gen = torch.Generator(device="cpu").manual_seed(seed)
        dt = torch_dtype(self.dtype)
        self._t["cond"] = denoiser_kwargs(self.spec, self.shape, self.batch, self.device, dt, gen)
        if self.forwards == 2:
            uncond = dict(self._t["cond"])
            uncond["encoder_hidden_states"] = torch.randn_like(uncond["encoder_hidden_states"])
            self._t["uncond"] = uncond
        x = next(iter(self._t["cond"].values()))
        self._t["latents"] = x[:1]
        self._t["out"] = torch.empty_like(x[:1])
        self._t["ids"] = torch.randint(0, 200, (1, self.spec.text_len + self.spec.template_tokens),
                                       generator=gen).to(self.device)
        self._t["ids_2"] = torch.randint(0, 200, (1, self.spec.text_len_2), generator=gen).to(self.device)

    def dit_step(self) -> None:
        """One denoising step as the pipeline runs it (cond, uncond, guidance, Euler update)."""
        import torch

        t, scale = self._t, self.spec.guidance_scale
        with torch.inference_mode():
            noise = denoiser_output(self.spec, self.denoiser(**t["cond"], return_dict=False))
            if self.batch == 2:
                cond, uncond = noise.chunk(2)
                noise = uncond + scale * (cond - uncond)
            elif self.forwards == 2:
                uncond = denoiser_output(self.spec, self.denoiser(**t["uncond"], return_dict=False))
                noise = uncond + scale * (noise - uncond)
            torch.add(t["latents"], noise, alpha=-0.02, out=t["out"])  # x_{t-1} = x_t + dt * v, dt < 0
        sync(self.device)

    def vae_decode(self) -> None:
        import torch

        vae_dtype = next(self.vae.parameters()).dtype
        c, f, h, w = self.shape.as_tuple()
        z = torch.randn(1, c, f, h, w, device=self.device, dtype=vae_dtype)
        if self.spec.family.denoiser_kind == "unet":  # the image VAE decodes the frames as a batch
            z = z[0].transpose(0, 1).contiguous()
        kwargs: dict[str, Any] = {}
        if (self.spec.vae or {}).get("timestep_conditioning"):
            kwargs["temb"] = torch.zeros(1, device=self.device, dtype=vae_dtype)
        with torch.inference_mode():
            self.vae.decode(z, return_dict=False, **kwargs)
        sync(self.device)

    def text_encode(self) -> None:
        """The prompt, and with guidance the negative prompt, as batch-1 calls (as the pipelines do)."""
        import torch

        ids = self._t["ids"]
        mask = torch.ones_like(ids)
        with torch.inference_mode():
            for _ in range(2 if self.guided else 1):
                self.text_encoder(input_ids=ids, attention_mask=mask)
        sync(self.device)


def _phases(point: VideoPoint, spec: VideoSpec, shape: LatentShape, models: ModelCache) -> VideoPhases:
    phases = VideoPhases(spec, shape, point.dtype, point.device, point.cfg)
    phases.denoiser = models.get("denoiser", spec, point.dtype, point.device, point.random_weights)
    phases.prepare_inputs(point.seed)
    return phases


def prewarm(point: VideoPoint, models: ModelCache, seconds: float) -> int:
    """Run denoising steps of ``point`` for ``seconds`` before any measurement, unmeasured.

    Why: a GPU coming out of idle ramps clocks and power over the first seconds; on an H200 the first
    (and smallest) point of a sweep read ~25% below the trend without it. Returns the steps run."""
    spec = point.spec()
    phases = _phases(point, spec, point.validate(), models)
    n, t_end = 0, time.perf_counter() + seconds
    while n == 0 or time.perf_counter() < t_end:
        phases.dit_step()
        n += 1
    return n


def extrapolate_request(steps: int, results: Mapping[str, PhaseResult]) -> dict[str, Any]:
    """steps x step + text encode + VAE decode, from the phases that were measured."""
    step = results["dit_step"]
    latency = steps * step.latency_s
    energy = {c: steps * r.energy_j for c, r in step.readings.items()}
    ci = {c: steps * e.ci95_j for c, e in step.estimates.items()}
    included = [f"{steps} x dit_step"]
    for name in ("text_encode", "vae_decode"):
        if name in results:
            res = results[name]
            latency += res.latency_s
            for c, r in res.readings.items():
                energy[c] = energy.get(c, 0.0) + r.energy_j
                ci[c] = (ci.get(c, 0.0) ** 2 + res.estimates[c].ci95_j ** 2) ** 0.5
            included.append(name)
    return {
        "extrapolated": True,
        "steps": steps,
        "includes": included,
        "latency_s": latency,
        "energy_j": energy,
        "ci95_j": ci,
        "energy_total_j": sum(energy.values()),
        "estimated": {c: any(r.readings[c].estimated for r in results.values() if c in r.readings) for c in energy},
    }


def run_phases_point(point: VideoPoint, monitor: Any, models: ModelCache, idle: Mapping[str, float],
                     protocols: Mapping[str, Protocol],
                     on_rep: Callable[[str, int, float], None] | None = None) -> Measurement:
    """Measure dit_step, then the optional VAE decode and text encoder, each in its own window."""
    spec = point.spec()
    shape = point.validate()
    phases = _phases(point, spec, shape, models)

    def progress(phase: str) -> Callable[[int, float], None] | None:
        return None if on_rep is None else (lambda i, dt: on_rep(phase, i, dt))

    results: dict[str, PhaseResult] = {}
    results["dit_step"] = run_repeated(monitor, phases.dit_step, protocols["dit_step"], on_rep=progress("dit_step"))
    if point.vae:
        phases.vae = models.get("vae", spec, point.vae_dtype or "float32", point.device, point.random_weights)
        results["vae_decode"] = run_repeated(monitor, phases.vae_decode, protocols["vae_decode"],
                                             on_rep=progress("vae_decode"))
    if point.text_encoder:
        phases.text_encoder = models.get("text_encoder", spec, point.dtype, point.device, point.random_weights)
        results["text_encode"] = run_repeated(monitor, phases.text_encode, protocols["text_encode"],
                                              on_rep=progress("text_encode"))
    counted = count_dit_flops(spec, shape, phases.batch)
    summary: dict[str, Any] = {"config": point.to_config()}
    for name, result in results.items():
        doc = result.to_dict()
        if idle:
            doc["above_idle_energy_j"] = {c: e - idle.get(c, 0.0) * result.latency_s for c, e in doc["energy_j"].items()}
        summary[name] = doc
    step = results["dit_step"]
    flops = counted.total * phases.forwards
    summary["dit_step"].update({
        "forwards": phases.forwards,
        "batch_per_forward": phases.batch,
        "flops_counted": flops,
        "flops_counted_attention": counted.attention * phases.forwards,
        "flops_counted_dense": counted.dense * phases.forwards,
        "flops_convention": "torch FlopCounterMode on meta (matmuls, convs, attention; 2 FLOP per MAC)",
        "achieved_flops_per_s": flops / step.latency_s,
        "floors": floors(flops, step.latency_s, step.readings["gpu"].energy_j if "gpu" in step.readings else None,
                         idle.get("gpu"), gpu_peak_flops_per_s(monitor, point.dtype)),
    })
    summary["latent"] = {"shape": list(shape.as_tuple()), "tokens": shape.tokens, "text_len": spec.text_len,
                         "text_dim": spec.text_dim}
    summary["request_extrapolated"] = extrapolate_request(point.steps, results)
    summary["idle_power_w"] = dict(idle)
    summary["model_source"] = spec.source
    summary["build_s"] = {k[0]: v for k, v in models.build_s.items() if k[1] == spec.name}
    rows = [row for name, result in results.items() for row in phase_rows(name, result)]
    return Measurement(summary, rows)
