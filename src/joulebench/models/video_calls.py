"""How each video family's denoiser is called, with inputs of the pipeline's shapes.

One place for it because two callers need exactly the same call: the meta-device FLOP counter
(``analytic.flopcheck_video``, no weights) and the workload that times one denoising step outside the
pipeline (``workloads.diffusion.phases``). The shapes are the ones the pipelines build: latents
``(B, C, F, H, W)`` (CogVideoX puts frames before channels, LTX packs them into ``(B, F*H*W, C)``
tokens), text embeddings of the padded length, the masks and side inputs each forward takes.

``batch`` is the batch of one forward: 2 where the pipeline batches classifier-free guidance.
Torch is imported lazily (the predictor imports this package's tables without it).
"""

from __future__ import annotations

from typing import Any

from joulebench.models.video import LatentShape, VideoSpec


def denoiser_kwargs(spec: VideoSpec, shape: LatentShape, batch: int, device: Any, dtype: Any,
                    generator: Any = None) -> dict[str, Any]:
    """Keyword arguments of one denoiser forward (random values; latency does not depend on them)."""
    import torch

    def rand(*size: int) -> Any:
        if str(device) == "meta":
            return torch.empty(*size, device=device, dtype=dtype)
        return torch.randn(*size, generator=generator).to(device=device, dtype=dtype)

    fam = spec.family.name
    c, f, h, w = shape.as_tuple()
    text = rand(batch, spec.text_len, spec.text_dim)
    timestep = torch.full((batch,), 999, dtype=torch.long, device=device)
    mask = torch.ones(batch, spec.text_len, dtype=torch.long, device=device)
    if fam == "wan":
        return {"hidden_states": rand(batch, c, f, h, w), "timestep": timestep, "encoder_hidden_states": text}
    if fam == "cogvideox":
        return {"hidden_states": rand(batch, f, c, h, w), "timestep": timestep, "encoder_hidden_states": text}
    if fam == "ltx":
        return {"hidden_states": rand(batch, f * h * w, c), "encoder_hidden_states": text, "timestep": timestep,
                "encoder_attention_mask": mask, "num_frames": f, "height": h, "width": w}
    if fam == "mochi":
        return {"hidden_states": rand(batch, c, f, h, w), "encoder_hidden_states": text, "timestep": timestep,
                "encoder_attention_mask": mask.bool()}
    if fam == "hunyuanvideo":
        pooled = int(spec.denoiser.get("pooled_projection_dim", 768))
        return {"hidden_states": rand(batch, c, f, h, w), "timestep": timestep, "encoder_hidden_states": text,
                "encoder_attention_mask": mask, "pooled_projections": rand(batch, pooled),
                "guidance": torch.full((batch,), spec.guidance_scale * 1000.0, device=device, dtype=dtype)}
    if fam == "animatediff":  # the pipeline repeats the prompt states for every frame
        return {"sample": rand(batch, c, f, h, w), "timestep": timestep,
                "encoder_hidden_states": rand(batch * f, spec.text_len, spec.text_dim)}
    raise ValueError(f"no denoiser call for family {fam}")


def denoiser_output(spec: VideoSpec, out: Any) -> Any:
    """The noise prediction of a forward called with ``return_dict=False``."""
    return out[0] if isinstance(out, tuple) else out.sample
