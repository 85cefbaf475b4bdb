"""Reference FLOP counts of the video models' real diffusers / transformers code on the meta device.

The one meta-device counter for video: the tests and ``benchmarks/video_flop_agreement.py`` compare
the analytic ops flagged ``counted`` with it, and the workloads store its count with every measured
step (``flops_counted``). It builds the model on the meta device (no weights, no device time) and
runs one call with the inputs the pipeline gives it (`models.video_calls`), under
``torch.utils.flop_counter.FlopCounterMode`` (shared with the LLM checks: ``analytic.flopcheck``).

Two things the real code does that the meta device cannot, handled here: Mochi computes its RoPE under
``torch.autocast(device.type)``, which rejects "meta" (run as a no-op there: the einsum is counted
all the same), and Mochi's joint attention gathers the unmasked prompt tokens with ``nonzero``, which
needs ``meta_nonzero_assume_all_nonzero`` (true: the harness masks are all ones).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from joulebench.analytic.flopcheck import _flop_counter
from joulebench.models.video import LatentShape, VideoSpec

#: FlopCounterMode op names of attention's score and value products (the rest is dense)
ATTENTION_OPS = ("bmm", "scaled_dot_product", "flash_attention", "efficient_attention", "cudnn_attention")


@dataclass(frozen=True)
class CountedFlops:
    """Matmul-like FLOPs of one call as torch counts them (2 per multiply-add)."""

    total: float
    attention: float  # score and value products (bmm / SDPA)
    dense: float  # projections, MLPs, convolutions


@contextmanager
def _meta_safe() -> Iterator[None]:
    import torch
    import torch.fx.experimental._config as fx_config

    real = torch.autocast

    class _NoAutocast:
        def __enter__(self) -> None:
            return None

        def __exit__(self, *exc: object) -> bool:
            return False

    def autocast(device_type: str, *args: Any, **kwargs: Any) -> Any:
        return _NoAutocast() if device_type == "meta" else real(device_type, *args, **kwargs)

    old = fx_config.meta_nonzero_assume_all_nonzero
    torch.autocast = autocast  # type: ignore[assignment]
    fx_config.meta_nonzero_assume_all_nonzero = True
    try:
        yield
    finally:
        torch.autocast = real  # type: ignore[assignment]
        fx_config.meta_nonzero_assume_all_nonzero = old


def count_call(fn: Callable[[], Any]) -> CountedFlops:
    """Counted FLOPs of ``fn()`` (models and inputs already on the meta device)."""
    import torch

    with torch.no_grad(), _meta_safe():
        counter = _flop_counter()
        with counter:
            fn()
    by_op = {str(k): float(v) for k, v in counter.get_flop_counts().get("Global", {}).items()}
    total = float(counter.get_total_flops())
    attention = sum(v for k, v in by_op.items() if any(a in k for a in ATTENTION_OPS))
    return CountedFlops(total, attention, total - attention)


def _diffusers_model(class_name: str, cfg: Mapping[str, Any]) -> Any:
    import diffusers
    import torch

    clean = {k: v for k, v in cfg.items() if not k.startswith("_")}
    with torch.device("meta"):
        return getattr(diffusers, class_name).from_config(clean).eval()


def shrink_denoiser(spec: VideoSpec, n_layers: int) -> VideoSpec:
    """The spec with ``n_layers`` blocks of each kind (exact: FLOPs add over identical blocks)."""
    cfg = dict(spec.denoiser)
    for key in ("num_layers", "num_single_layers"):
        if key in cfg:
            cfg[key] = n_layers
    return replace(spec, denoiser=cfg)


def count_dit_flops(spec: VideoSpec, shape: LatentShape, batch: int = 1) -> CountedFlops:
    """One denoiser forward of ``batch`` (2 where the pipeline batches guidance) on meta."""
    import torch

    from joulebench.models.video_calls import denoiser_kwargs

    fam = spec.family
    if fam.denoiser_kind == "unet":
        import diffusers

        with torch.device("meta"):
            unet = _diffusers_model(fam.denoiser_class, spec.denoiser)
            adapter = _diffusers_model("MotionAdapter", spec.motion_adapter or {})
            model = diffusers.UNetMotionModel.from_unet2d(unet, adapter, load_weights=False).eval()
    else:
        model = _diffusers_model(fam.denoiser_class, spec.denoiser)
    kwargs = denoiser_kwargs(spec, shape, batch, "meta", torch.float32)
    return count_call(lambda: model(**kwargs, return_dict=False))


def count_vae_decode_flops(spec: VideoSpec, shape: LatentShape) -> float:
    """One ``vae.decode`` of the latents with the VAE's default settings (no tiling) on meta."""
    import torch

    vae = _diffusers_model(spec.family.vae_class, spec.vae or {})
    c, f, h, w = shape.as_tuple()
    if spec.family.denoiser_kind == "unet":  # image VAE: the pipeline decodes the frames as a batch
        z = torch.zeros(f, c, h, w, device="meta")
    else:
        z = torch.zeros(1, c, f, h, w, device="meta")
    kwargs: dict[str, Any] = {}
    if (spec.vae or {}).get("timestep_conditioning"):
        kwargs["temb"] = torch.zeros(1, device="meta")
    return count_call(lambda: vae.decode(z, **kwargs)).total


def count_text_encoder_flops(te_cfg: Mapping[str, Any], class_name: str, tokens: int,
                             n_layers: int | None = None) -> float:
    """One text-encoder call at ``tokens`` positions (T5, UMT5, LLaMA, CLIP) on meta."""
    import torch
    import transformers

    clean = {k: v for k, v in te_cfg.items() if not k.startswith("_") and k != "architectures"}
    if n_layers is not None:
        key = "num_layers" if "num_layers" in clean else "num_hidden_layers"
        clean[key] = n_layers
    config = transformers.AutoConfig.for_model(clean.pop("model_type"), **clean)
    with torch.device("meta"):
        model = getattr(transformers, class_name)(config).eval()
    ids = torch.zeros(1, tokens, dtype=torch.long, device="meta")
    # a ready 4D boolean mask: transformers then skips mask creation, which calls .item() (not on meta)
    mask = torch.ones(1, 1, tokens, tokens, dtype=torch.bool, device="meta")
    if class_name == "CLIPTextModel":
        return count_call(lambda: model(input_ids=ids)).total
    return count_call(lambda: model(input_ids=ids, attention_mask=mask)).total
