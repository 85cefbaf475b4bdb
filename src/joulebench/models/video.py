"""Text-to-video families: the one table of how each pipeline maps pixels to latents and which classes
build it, used by the predictor (``analytic.video``) and the workloads (``workloads.diffusion``) alike.

Why one table: the latent rule (``1 + (T - 1) / 4`` latent frames for Wan, ``/ 6`` for Mochi, ...), the
patching, the padded text length and whether classifier-free guidance runs as one batch of two or as
two forwards decide both what the predictor prices and what the workload feeds the real model; written
twice, the two drifted (round 1 had a Wan-only table in the workload and another rule in the predictor).

A `VideoFamily` holds what is fixed for a pipeline class; a `VideoSpec` is one model: its component
configs (diffusers / transformers layout, bundled under ``configs/video`` or read from a local pipeline
folder) and the pipeline facts its config file overrides (compression, text length, defaults).
Pure Python: nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joulebench.errors import UsageError

#: how a family runs classifier-free guidance: one batch of two (cond + uncond), two sequential
#: batch-1 forwards, or not at all (the guidance scale is an input of the distilled model)
CFG_MODES = ("batched", "sequential", "embedded")


@dataclass(frozen=True)
class VideoFamily:
    """What one pipeline class fixes: classes, latent rule, text handling, guidance."""

    name: str
    pipeline_class: str
    denoiser_class: str  # diffusers transformer (DiT) or UNet class
    vae_class: str
    text_encoder_class: str  # transformers class of the (first) text encoder
    scheduler_class: str
    temporal_factor: int  # latent frames = 1 + (frames - 1) / factor (1: one latent per frame)
    spatial_factor: int  # VAE spatial compression
    latent_channels: int
    text_len: int  # the pipeline's padded prompt length
    cfg: str  # one of CFG_MODES
    latent_layout: str = "bcthw"  # denoiser input: bcthw, btchw (CogVideoX) or packed tokens (LTX)
    text_encoder_2_class: str | None = None  # HunyuanVideo: CLIP for the pooled projection
    text_len_2: int = 77
    template_tokens: int = 0  # prompt template tokens encoded then cropped (HunyuanVideo: 95)
    #: "padded": attention over all padded text tokens; "valid": over the unmasked ones (Mochi)
    text_attention: str = "padded"
    denoiser_kind: str = "dit"  # "dit" or "unet"
    #: the predictor has an op model of this family (AnimateDiff's UNet has none yet)
    analytic: bool = True
    max_latent_frames: int | None = None  # AnimateDiff's motion modules: 32 positions
    #: the pipeline casts the latents to the VAE's dtype before decoding (else the VAE must run in the
    #: pipeline's dtype: CogVideoX, AnimateDiff)
    vae_casts_latents: bool = False
    #: the published example runs the call under ``torch.autocast`` (Mochi keeps its latents in fp32)
    autocast: bool = False
    frames_note: str = ""

    def latent_frames(self, frames: int) -> int:
        return 1 + (frames - 1) // self.temporal_factor if self.temporal_factor > 1 else frames


FAMILIES: dict[str, VideoFamily] = {
    f.name: f
    for f in (
        VideoFamily("wan", "WanPipeline", "WanTransformer3DModel", "AutoencoderKLWan", "UMT5EncoderModel",
                    "UniPCMultistepScheduler", 4, 8, 16, 512, "sequential", vae_casts_latents=True),
        VideoFamily("cogvideox", "CogVideoXPipeline", "CogVideoXTransformer3DModel", "AutoencoderKLCogVideoX",
                    "T5EncoderModel", "CogVideoXDDIMScheduler", 4, 8, 16, 226, "batched", latent_layout="btchw"),
        VideoFamily("ltx", "LTXPipeline", "LTXVideoTransformer3DModel", "AutoencoderKLLTXVideo", "T5EncoderModel",
                    "FlowMatchEulerDiscreteScheduler", 8, 32, 128, 128, "batched", latent_layout="packed",
                    vae_casts_latents=True),
        VideoFamily("mochi", "MochiPipeline", "MochiTransformer3DModel", "AutoencoderKLMochi", "T5EncoderModel",
                    "FlowMatchEulerDiscreteScheduler", 6, 8, 12, 256, "batched", text_attention="valid",
                    autocast=True),
        VideoFamily("hunyuanvideo", "HunyuanVideoPipeline", "HunyuanVideoTransformer3DModel",
                    "AutoencoderKLHunyuanVideo", "LlamaModel", "FlowMatchEulerDiscreteScheduler", 4, 8, 16, 256,
                    "embedded", text_encoder_2_class="CLIPTextModel", template_tokens=95, vae_casts_latents=True),
        VideoFamily("animatediff", "AnimateDiffPipeline", "UNet2DConditionModel", "AutoencoderKL", "CLIPTextModel",
                    "EulerDiscreteScheduler", 1, 8, 4, 77, "batched", denoiser_kind="unet", analytic=False,
                    max_latent_frames=32, frames_note="one latent per frame (motion modules hold 32)"),
    )
}


@dataclass(frozen=True)
class LatentShape:
    """Latent tensor of one video and the denoiser's sequence length after patching."""

    frames: int
    height: int
    width: int
    channels: int
    tokens: int

    def as_tuple(self) -> tuple[int, int, int, int]:
        """(channels, frames, height, width): the pipeline's latent layout without the batch."""
        return self.channels, self.frames, self.height, self.width


@dataclass(frozen=True)
class VideoSpec:
    """One video model: its family, component configs and the pipeline facts of its config file."""

    name: str
    family: VideoFamily
    denoiser: Mapping[str, Any]
    vae: Mapping[str, Any] | None = None
    text_encoder: Mapping[str, Any] | None = None
    text_encoder_2: Mapping[str, Any] | None = None
    scheduler: Mapping[str, Any] | None = None
    motion_adapter: Mapping[str, Any] | None = None
    pipeline: Mapping[str, Any] = field(default_factory=dict)
    source: str = "bundled"  # bundled | local | hub
    path: str | None = None  # local pipeline folder (real weights), when there is one

    # -- pipeline facts (config file first, family default second) -----------------------------------
    @property
    def pipeline_class(self) -> str:
        return str(self.pipeline.get("class") or self.family.pipeline_class)

    @property
    def temporal_factor(self) -> int:
        return int(self.pipeline.get("temporal_compression") or self.family.temporal_factor)

    @property
    def spatial_factor(self) -> int:
        return int(self.pipeline.get("spatial_compression") or self.family.spatial_factor)

    @property
    def latent_channels(self) -> int:
        value = self.pipeline.get("latent_channels") or self.denoiser.get("in_channels")
        return int(value or self.family.latent_channels)

    @property
    def text_len(self) -> int:
        return int(self.pipeline.get("text_max_length") or self.family.text_len)

    @property
    def text_len_2(self) -> int:
        return int(self.pipeline.get("clip_max_length") or self.family.text_len_2)

    @property
    def template_tokens(self) -> int:
        return int(self.pipeline.get("text_template_tokens", self.family.template_tokens))

    @property
    def text_dim(self) -> int:
        d = self.denoiser
        return int(d.get("text_dim") or d.get("text_embed_dim") or d.get("caption_channels")
                   or d.get("cross_attention_dim") or 4096)

    @property
    def cfg_mode(self) -> str:
        return self.family.cfg

    @property
    def cfg_batched(self) -> bool:
        return self.family.cfg == "batched"

    @property
    def guidance_scale(self) -> float:
        return float(self.pipeline.get("default_guidance_scale", 5.0))

    @property
    def patch(self) -> tuple[int, int, int]:
        """(temporal, height, width) patch of the denoiser (1x1x1 for a UNet)."""
        p = self.denoiser.get("patch_size", 1) if self.family.denoiser_kind == "dit" else 1
        if isinstance(p, (list, tuple)):
            return int(p[0]), int(p[1]), int(p[2])
        return int(self.denoiser.get("patch_size_t") or 1), int(p), int(p)

    @property
    def size_multiple(self) -> int:
        _, ph, pw = self.patch
        return int(self.pipeline.get("size_multiple") or self.spatial_factor * max(ph, pw))

    def default(self, key: str, fallback: Any = None) -> Any:
        """The model's published default (``height``, ``width``, ``frames``, ``steps``)."""
        return self.pipeline.get(f"default_{key}", fallback)

    def pipeline_vae_dtype(self, dtype: str) -> str:
        """The VAE dtype the model's pipeline decodes in when the run's dtype is ``dtype`` (any spelling
        is returned as given): its published ``default_vae_dtype`` where the pipeline casts the latents
        to the VAE's dtype (Wan: fp32), else the run's. `measure video` runs it; `predict video` prices it."""
        default = self.pipeline.get("default_vae_dtype")
        return str(default) if default and self.family.vae_casts_latents else dtype

    def latent_frames(self, frames: int) -> int:
        return 1 + (frames - 1) // self.temporal_factor if self.temporal_factor > 1 else frames


def latent_shape(spec: VideoSpec, height: int, width: int, frames: int) -> LatentShape:
    """The pipeline's latent shape; `UsageError` naming the field when a size would be rejected or
    silently rounded by the pipeline (sizes must divide, frames must follow the temporal rule)."""
    mult, tc = spec.size_multiple, spec.temporal_factor
    for name, value in (("height", height), ("width", width), ("frames", frames)):
        if not isinstance(value, int) or value <= 0:
            raise UsageError.bad(name, value, "must be positive")
    for name, value in (("height", height), ("width", width)):
        if value % mult:
            lower = max(mult, value - value % mult)
            raise UsageError.bad(
                name, value, f"{spec.name} needs multiples of {mult} ({name} % {mult} == 0: VAE /{spec.spatial_factor} x "
                f"patch {spec.patch[1]}x{spec.patch[2]}; e.g. {lower} or {lower + mult})")
    if tc > 1 and (frames - 1) % tc:
        below = 1 + tc * ((frames - 1) // tc)
        raise UsageError.bad(
            "frames", frames, f"{spec.name} needs {tc}k+1 frames ((frames - 1) % {tc} == 0, VAE temporal compression "
            f"{tc}; e.g. {below} or {below + tc}, which the pipeline would otherwise round to)")
    f = spec.latent_frames(frames)
    limit = spec.family.max_latent_frames
    if limit is not None and f > limit:
        raise UsageError.bad("frames", frames, f"{spec.name} handles at most {limit} frames ({spec.family.frames_note})")
    pt, ph, pw = spec.patch
    h, w = height // spec.spatial_factor, width // spec.spatial_factor
    if f % pt or h % ph or w % pw:
        raise UsageError.bad("frames", frames, f"latent {f}x{h}x{w} is not divisible by the patch {pt}x{ph}x{pw}")
    return LatentShape(f, h, w, spec.latent_channels, (f // pt) * (h // ph) * (w // pw))


# -- building specs ------------------------------------------------------------------------------------
def _clean(cfg: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if cfg is None else {k: v for k, v in cfg.items() if not k.startswith("_") or k == "_class_name"}


def family_of(name: str, cfg: Mapping[str, Any]) -> VideoFamily:
    """The family a config names (``family``), or the one whose pipeline / denoiser class it uses."""
    hint = str(cfg.get("family") or "").lower()
    denoiser = cfg.get("transformer") or cfg.get("unet") or cfg
    classes = {str(cfg.get("_class_name", "")).lower(), str(denoiser.get("_class_name", "")).lower()}
    for fam in FAMILIES.values():
        if hint == fam.name or fam.pipeline_class.lower() in classes or fam.denoiser_class.lower() in classes:
            return fam
    raise UsageError.bad("model", name, f"not a video pipeline this tool knows; families: {', '.join(FAMILIES)}")


def spec_from_config(name: str, cfg: Mapping[str, Any], source: str = "bundled", path: str | None = None) -> VideoSpec:
    """A bundle ``{"transformer": ..., "vae": ..., "text_encoder": ..., "pipeline": ...}`` (or a bare
    denoiser config with ``num_layers`` at top level) as a `VideoSpec`."""
    family = family_of(name, cfg)
    denoiser = cfg.get("transformer") or cfg.get("unet")
    if denoiser is None:
        denoiser, cfg = cfg, {}
    return VideoSpec(
        name=name,
        family=family,
        denoiser=_clean(denoiser) or {},
        vae=_clean(cfg.get("vae")),
        text_encoder=_clean(cfg.get("text_encoder")),
        text_encoder_2=_clean(cfg.get("text_encoder_2")),
        scheduler=_clean(cfg.get("scheduler")),
        motion_adapter=_clean(cfg.get("motion_adapter")),
        pipeline=dict(cfg.get("pipeline") or {}),
        source=source,
        path=path,
    )


def _local_pipeline(reference: str) -> VideoSpec | None:
    """A diffusers pipeline folder: ``model_index.json`` beside ``transformer/config.json`` ..."""
    root = Path(reference).expanduser()
    index = root / "model_index.json"
    if not index.is_file():
        return None
    from joulebench.files import read_mapping

    def read(sub: str, filename: str = "config.json") -> dict[str, Any] | None:
        p = root / sub / filename
        return read_mapping(p, "model") if p.is_file() else None

    bundle = {
        "_class_name": read_mapping(index, "model").get("_class_name"),
        "transformer": read("transformer") or read("unet"),
        "vae": read("vae"),
        "text_encoder": read("text_encoder"),
        "text_encoder_2": read("text_encoder_2"),
        "motion_adapter": read("motion_adapter"),
        "scheduler": read("scheduler", "scheduler_config.json"),
    }
    if bundle["transformer"] is None:
        raise UsageError.bad("model", reference, "pipeline folder without transformer/ or unet/ config.json")
    return spec_from_config(root.name, bundle, source="local", path=str(root))


def load_spec(reference: str) -> VideoSpec:
    """Resolve a video model: a local pipeline folder, a bundled name (``configs/video``, tiny test
    models included) or a hub id a bundled config names."""
    local = _local_pipeline(reference)
    if local is not None:
        return local
    from joulebench.models.configs import resolve

    ref = resolve(reference, subdir="video", allow_hub=False)
    return spec_from_config(ref.name, ref.config, source=ref.kind, path=ref.path if ref.kind == "local" else None)
