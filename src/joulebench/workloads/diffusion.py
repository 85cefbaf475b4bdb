"""Text-to-video diffusion workload: one denoising step, the VAE decode and the text encoder, each
measured in its own repeated window.

Why per phase and not one whole generation: a request is ``steps`` identical denoising steps plus
one text encoding and one VAE decode. A step lasts 0.02-5 s, so a short window repeated to
``min_window_s`` measures it to about 1% (`meters.window`), and the request total is then
extrapolated as ``steps x step + encode + decode`` (labelled ``extrapolated``) instead of burning
minutes of GPU time on 50 real steps. Latency and energy do not depend on weight values, so the
models are built with random weights from their configs (bundled under ``configs/video``); a local
diffusers pipeline folder (``model_index.json`` with ``transformer/`` ...) loads its real weights
when ``random_weights`` is off.

One step is what diffusers' ``WanPipeline`` does per timestep: the transformer on the conditional
branch and, with classifier-free guidance, a second sequential forward on the negative prompt, the
guidance combination and the scheduler's Euler update. Its inputs have the pipeline's shapes:
latents ``(1, C, 1 + (T-1)/4, H/8, W/8)`` and text embeddings of the padded length (512 x 4096).
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from joulebench.errors import UsageError
from joulebench.measurement import PointResult
from joulebench.meters.monitor import EnergyMonitor
from joulebench.meters.window import PhaseResult, Protocol, run_repeated
from joulebench.models.configs import resolve
from joulebench.store import MeasurementRow
from joulebench.workloads.device import sync, torch_dtype

PHASES = ("text_encode", "dit_step", "vae_decode")

#: a step of 0.02-5 s: a 1.2 s window (the short-window default) with at least 2 repetitions keeps
#: long steps to ~3 forwards in all while short ones repeat enough to span counter ticks
DEFAULT_PROTOCOLS: dict[str, Protocol] = {
    "text_encode": Protocol(warmup_reps=1, min_window_s=1.2, min_reps=2),
    "dit_step": Protocol(warmup_reps=1, min_window_s=1.2, min_reps=2),
    "vae_decode": Protocol(warmup_reps=1, min_window_s=1.2, min_reps=1),
}


# -- model families --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Family:
    """How one video model family maps pixels to latents and which diffusers classes build it."""

    name: str
    transformer_class: str
    vae_class: str | None
    text_encoder_class: str | None  # transformers class name
    temporal_factor: int  # VAE temporal compression: latent frames = 1 + (T - 1) / factor
    spatial_factor: int  # VAE spatial compression
    text_len: int  # the pipeline's padded prompt length

    def latent_frames(self, frames: int) -> int:
        return 1 + (frames - 1) // self.temporal_factor


FAMILIES: dict[str, Family] = {
    "wan": Family(
        "wan",
        "WanTransformer3DModel",
        "AutoencoderKLWan",
        "UMT5EncoderModel",
        temporal_factor=4,
        spatial_factor=8,
        text_len=512,
    ),
}

#: architectures defined here rather than bundled: a tiny DiT for CPU tests and demos
_BUILTIN: dict[str, dict[str, Any]] = {
    "tiny-wan": {
        "family": "wan",
        "transformer": {
            "_class_name": "WanTransformer3DModel",
            "patch_size": [1, 2, 2],
            "num_attention_heads": 2,
            "attention_head_dim": 32,
            "in_channels": 16,
            "out_channels": 16,
            "text_dim": 64,
            "freq_dim": 32,
            "ffn_dim": 128,
            "num_layers": 2,
            "cross_attn_norm": True,
            "qk_norm": "rms_norm_across_heads",
            "eps": 1e-6,
        },
        "vae": {
            "_class_name": "AutoencoderKLWan",
            "base_dim": 8,
            "z_dim": 16,
            "dim_mult": [1, 2, 4, 4],
            "num_res_blocks": 1,
            "attn_scales": [],
            "temperal_downsample": [False, True, True],
        },
        "text_encoder": {
            "architectures": ["UMT5EncoderModel"],
            "model_type": "umt5",
            "d_model": 64,
            "d_ff": 128,
            "d_kv": 16,
            "num_heads": 4,
            "num_layers": 2,
            "vocab_size": 1024,
            "feed_forward_proj": "gated-gelu",
            "relative_attention_num_buckets": 32,
        },
        "pipeline": {"text_max_length": 16, "cfg_batched": False},
    },
}


@dataclass(frozen=True)
class VideoSpec:
    """A video model's component configs, as diffusers / transformers take them."""

    name: str
    family: Family
    transformer: dict[str, Any]
    vae: dict[str, Any] | None = None
    text_encoder: dict[str, Any] | None = None
    text_len: int = 512
    cfg_batched: bool = False  # the pipeline runs cond and uncond as one batch of 2 (else two forwards)
    guidance_scale: float = 5.0
    source: str = "bundled"
    path: str | None = None  # local pipeline folder with weights, when there is one

    @property
    def patch(self) -> tuple[int, int, int]:
        p = self.transformer.get("patch_size", (1, 2, 2))
        return int(p[0]), int(p[1]), int(p[2])

    @property
    def latent_channels(self) -> int:
        return int(self.transformer.get("in_channels", 16))

    @property
    def text_dim(self) -> int:
        return int(self.transformer.get("text_dim", 4096))


def _clean(cfg: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if cfg is None else {k: v for k, v in cfg.items() if not k.startswith("_")}


def _family_of(name: str, cfg: Mapping[str, Any]) -> Family:
    hint = str(cfg.get("family") or cfg.get("_family") or "").lower()
    cls = str((cfg.get("transformer") or cfg).get("_class_name", "")).lower()
    for fam in FAMILIES.values():
        if hint == fam.name or cls == fam.transformer_class.lower() or name.lower().startswith(fam.name):
            return fam
    raise UsageError(f"model '{name}': unsupported video family; supported: {', '.join(FAMILIES)}")


def spec_from_config(
    name: str, cfg: Mapping[str, Any], source: str = "bundled", path: str | None = None
) -> VideoSpec:
    """Accept either a bundle ``{"transformer": {...}, "vae": {...}, "text_encoder": {...}}`` or a bare
    transformer config (``num_layers`` at top level)."""
    family = _family_of(name, cfg)
    if "transformer" in cfg:
        transformer = _clean(cfg["transformer"])
        vae = _clean(cfg.get("vae") or cfg.get("vae_decoder") or cfg.get("vae_config"))
        text = _clean(cfg.get("text_encoder"))
    else:
        transformer, vae, text = _clean(cfg), None, None
    assert transformer is not None
    pipeline = cfg.get("pipeline") or {}
    if pipeline.get("temporal_compression") or pipeline.get("spatial_compression"):
        family = replace(
            family,
            temporal_factor=int(pipeline.get("temporal_compression", family.temporal_factor)),
            spatial_factor=int(pipeline.get("spatial_compression", family.spatial_factor)),
        )
    text_len = int(
        pipeline.get("text_max_length")
        or pipeline.get("max_sequence_length")
        or cfg.get("max_sequence_length")
        or family.text_len
    )
    return VideoSpec(
        name,
        family,
        transformer,
        vae,
        text,
        text_len,
        bool(pipeline.get("cfg_batched", False)),
        float(pipeline.get("default_guidance_scale", 5.0)),
        source,
        path,
    )


def _local_pipeline(reference: str) -> VideoSpec | None:
    """A diffusers pipeline folder: ``model_index.json`` beside ``transformer/config.json`` ..."""
    root = Path(reference).expanduser()
    if not (root / "model_index.json").is_file() or not (root / "transformer" / "config.json").is_file():
        return None

    def read(sub: str) -> dict[str, Any] | None:
        p = root / sub / "config.json"
        return json.loads(p.read_text()) if p.is_file() else None

    bundle = {"transformer": read("transformer"), "vae": read("vae"), "text_encoder": read("text_encoder")}
    return spec_from_config(root.name, bundle, source="local", path=str(root))


def load_spec(reference: str) -> VideoSpec:
    """Resolve a video model: built-in tiny names, a local pipeline folder, or a bundled/hub config."""
    if reference.lower() in _BUILTIN:
        return spec_from_config(reference.lower(), _BUILTIN[reference.lower()], source="builtin")
    local = _local_pipeline(reference)
    if local is not None:
        return local
    try:
        ref = resolve(reference, subdir="video")
    except UsageError as exc:
        raise UsageError(f"{exc}, {', '.join(_BUILTIN)}") from None
    return spec_from_config(ref.name, ref.config, source=ref.kind, path=ref.path)


# -- shapes and validation -----------------------------------------------------------------------------
@dataclass(frozen=True)
class LatentShape:
    """Latent tensor of one video: channels x frames x height x width, and its token count."""

    channels: int
    frames: int
    height: int
    width: int
    tokens: int  # transformer sequence length after patching

    def as_tuple(self) -> tuple[int, int, int, int]:
        return self.channels, self.frames, self.height, self.width


def latent_shape(spec: VideoSpec, height: int, width: int, frames: int) -> LatentShape:
    """The pipeline's latent shape; `UsageError` naming the constraint when sizes do not divide.

    Wan: frames must be 4k+1 (the causal VAE keeps the first frame and compresses the rest 4x), height
    and width multiples of 16 (8x VAE times the 2x2 patch)."""
    fam = spec.family
    pt, ph, pw = spec.patch
    pixel_mult = fam.spatial_factor * max(ph, pw)
    if height <= 0 or width <= 0 or frames <= 0:
        raise UsageError(f"height, width and frames must be positive (got {height}x{width}, {frames} frames)")
    if height % pixel_mult or width % pixel_mult:
        raise UsageError(
            f"--height/--width {height}x{width}: {spec.name} needs multiples of {pixel_mult} "
            f"(VAE /{fam.spatial_factor} x patch {ph}x{pw})"
        )
    if (frames - 1) % fam.temporal_factor:
        raise UsageError(
            f"--frames {frames}: {spec.name} needs frames = {fam.temporal_factor}k+1 (e.g. 17, 33, 49, 81)"
        )
    t_lat = fam.latent_frames(frames)
    if t_lat % pt:
        raise UsageError(f"--frames {frames}: {t_lat} latent frames not divisible by temporal patch {pt}")
    h_lat, w_lat = height // fam.spatial_factor, width // fam.spatial_factor
    tokens = (t_lat // pt) * (h_lat // ph) * (w_lat // pw)
    return LatentShape(spec.latent_channels, t_lat, h_lat, w_lat, tokens)


# -- building models ---------------------------------------------------------------------------------
@contextmanager
def _default_dtype(dtype: Any) -> Iterator[None]:
    """Build parameters directly in ``dtype`` (a 1.3B model in fp32 first would double peak memory)."""
    import torch

    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _filtered(cls: Any, cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Keep only constructor arguments: bundled configs may carry keys a diffusers version lacks."""
    params = inspect.signature(cls.__init__).parameters
    out = {k: v for k, v in cfg.items() if k in params}
    if "patch_size" in out and isinstance(out["patch_size"], list):
        out["patch_size"] = tuple(out["patch_size"])
    return out


def _keep_fp32(model: Any) -> None:
    """Put back in fp32 the modules diffusers keeps in fp32 when loading with ``torch_dtype`` (norms,
    time embedder, RoPE), so that random-weight runs execute the same kernels as real ones."""
    names = getattr(model, "_keep_in_fp32_modules", None) or []
    for pname, param in model.named_parameters():
        if any(k in pname.split(".") for k in names):
            param.data = param.data.float()


def build_transformer(spec: VideoSpec, dtype: str, device: str, random_weights: bool = True) -> Any:
    import diffusers
    import torch

    cls = getattr(diffusers, spec.family.transformer_class)
    if not random_weights:
        if spec.path is None or spec.source != "local":
            raise UsageError(f"model '{spec.name}': real weights need a local diffusers pipeline folder")
        return (
            cls.from_pretrained(spec.path, subfolder="transformer", torch_dtype=torch_dtype(dtype))
            .to(device)
            .eval()
        )
    with torch.device(device), _default_dtype(torch_dtype(dtype)):
        model = cls(**_filtered(cls, spec.transformer))
    _keep_fp32(model)
    return model.eval()


def build_vae(spec: VideoSpec, dtype: str, device: str, random_weights: bool = True) -> Any:
    import diffusers
    import torch

    if spec.vae is None or spec.family.vae_class is None:
        raise UsageError(f"model '{spec.name}': no VAE config bundled; use --no-vae")
    cls = getattr(diffusers, spec.family.vae_class)
    if not random_weights and spec.source == "local" and spec.path:
        return (
            cls.from_pretrained(spec.path, subfolder="vae", torch_dtype=torch_dtype(dtype)).to(device).eval()
        )
    with torch.device(device), _default_dtype(torch_dtype(dtype)):
        model = cls(**_filtered(cls, spec.vae))
    return model.eval()


def build_text_encoder(spec: VideoSpec, dtype: str, device: str, random_weights: bool = True) -> Any:
    import torch
    import transformers

    if spec.text_encoder is None or spec.family.text_encoder_class is None:
        raise UsageError(f"model '{spec.name}': no text-encoder config bundled; use --no-text-encoder")
    cls = getattr(transformers, spec.family.text_encoder_class)
    if not random_weights and spec.source == "local" and spec.path:
        return (
            cls.from_pretrained(spec.path, subfolder="text_encoder", dtype=torch_dtype(dtype))
            .to(device)
            .eval()
        )
    cfg_cls = getattr(transformers, spec.family.text_encoder_class.replace("EncoderModel", "Config"))
    config = cfg_cls(
        **{k: v for k, v in spec.text_encoder.items() if k not in ("architectures", "model_type")}
    )
    with torch.device(device), _default_dtype(torch_dtype(dtype)):
        model = cls(config)
    return model.eval()


class ModelCache:
    """Keeps built models across the points of one sweep (building a 1.3B DiT costs seconds)."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, ...], Any] = {}
        self.build_s: dict[tuple[str, ...], float] = {}

    def get(self, what: str, spec: VideoSpec, dtype: str, device: str, random_weights: bool) -> Any:
        key = (what, spec.name, dtype, device, str(random_weights))
        if key not in self._models:
            builder = {
                "transformer": build_transformer,
                "vae": build_vae,
                "text_encoder": build_text_encoder,
            }[what]
            t0 = time.perf_counter()
            self._models[key] = builder(spec, dtype, device, random_weights)
            sync(device)
            self.build_s[key] = time.perf_counter() - t0
        return self._models[key]

    def clear(self) -> None:
        self._models.clear()


# -- FLOPs, counted (a cross-check for the analytic model, and its fallback) ------------------------
_ATTENTION_OPS = ("bmm", "scaled_dot_product", "flash_attention", "efficient_attention", "cudnn_attention")


@dataclass(frozen=True)
class CountedFlops:
    """Matmul FLOPs of one transformer forward, counted by torch on the meta device (no weights)."""

    total: float
    attention: float  # score and value products (bmm / SDPA)
    dense: float  # projections, MLP, patch embedding (mm / addmm / convolution)


def count_forward_flops(spec: VideoSpec, shape: LatentShape, batch: int = 1) -> CountedFlops:
    """``FlopCounterMode`` on a meta-device model: exact for matmuls, costs no device time."""
    import diffusers
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    cls = getattr(diffusers, spec.family.transformer_class)
    with torch.device("meta"):
        model = cls(**_filtered(cls, spec.transformer))
        x = torch.empty(batch, *shape.as_tuple())
        enc = torch.empty(batch, spec.text_len, spec.text_dim)
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(x, torch.zeros(batch, dtype=torch.long), enc, return_dict=False)
    by_op = {str(k): float(v) for k, v in counter.get_flop_counts().get("Global", {}).items()}
    attention = sum(v for k, v in by_op.items() if any(a in k for a in _ATTENTION_OPS))
    total = float(counter.get_total_flops())
    return CountedFlops(total, attention, total - attention)


# -- phases ---------------------------------------------------------------------------------------------
@dataclass
class VideoPhases:
    """Pre-built inputs and the three phase callables of one point (each blocks until done)."""

    spec: VideoSpec
    shape: LatentShape
    dtype: str
    device: str
    cfg: bool
    transformer: Any = None
    vae: Any = None
    text_encoder: Any = None
    _tensors: dict[str, Any] = field(default_factory=dict)

    def prepare_inputs(self, seed: int = 0) -> None:
        import torch

        gen = torch.Generator(device="cpu").manual_seed(seed)
        dt = torch_dtype(self.dtype)
        lat = torch.randn(1, *self.shape.as_tuple(), generator=gen).to(self.device, dt)
        self._tensors["latents"] = lat
        self._tensors["out"] = torch.empty_like(lat)
        for branch in ("cond", "uncond"):
            emb = torch.randn(1, self.spec.text_len, self.spec.text_dim, generator=gen)
            self._tensors[branch] = emb.to(self.device, dt)
        self._tensors["timestep"] = torch.full((1,), 999, dtype=torch.long, device=self.device)
        if self.cfg and self.spec.cfg_batched:
            self._tensors["latents2"] = torch.cat([lat, lat])
            self._tensors["both"] = torch.cat([self._tensors["cond"], self._tensors["uncond"]])
            self._tensors["timestep2"] = self._tensors["timestep"].expand(2)
        self._tensors["ids"] = torch.randint(0, 1000, (1, self.spec.text_len), generator=gen).to(self.device)

    def dit_step(self) -> None:
        """One denoising step as the pipeline runs it (cond, uncond, guidance, Euler update)."""
        import torch

        t, scale = self._tensors, self.spec.guidance_scale
        with torch.inference_mode():
            if self.cfg and self.spec.cfg_batched:
                both = self.transformer(t["latents2"], t["timestep2"], t["both"], return_dict=False)[0]
                cond, uncond = both.chunk(2)
                noise = uncond + scale * (cond - uncond)
            else:
                noise = self.transformer(t["latents"], t["timestep"], t["cond"], return_dict=False)[0]
                if self.cfg:
                    uncond = self.transformer(t["latents"], t["timestep"], t["uncond"], return_dict=False)[0]
                    noise = uncond + scale * (noise - uncond)
            torch.add(t["latents"], noise, alpha=-0.02, out=t["out"])  # x_{t-1} = x_t + dt * v, dt < 0
        sync(self.device)

    def vae_decode(self) -> None:
        import torch

        vae_dtype = next(self.vae.parameters()).dtype
        with torch.inference_mode():
            self.vae.decode(self._tensors["latents"].to(vae_dtype), return_dict=False)
        sync(self.device)

    def text_encode(self) -> None:
        """The prompt, and with CFG the negative prompt, as two batch-1 calls (as the pipeline does)."""
        import torch

        ids = self._tensors["ids"]
        mask = torch.ones_like(ids)
        with torch.inference_mode():
            for _ in range(2 if self.cfg else 1):
                self.text_encoder(input_ids=ids, attention_mask=mask)
        sync(self.device)


def prewarm(config: Mapping[str, Any], models: ModelCache, seconds: float) -> int:
    """Run denoising steps of ``config`` for ``seconds`` before any measurement, unmeasured.

    Why: a GPU coming out of idle ramps clocks and power over the first seconds; on an H200 the first
    (and smallest) point of a sweep read ~25% below the trend without it. Returns the steps run."""
    spec = load_spec(config["model"])
    shape = validate_config(config)
    phases = VideoPhases(spec, shape, config["dtype"], config["device"], bool(config["cfg"]))
    phases.transformer = models.get(
        "transformer", spec, config["dtype"], config["device"], config.get("random_weights", True)
    )
    phases.prepare_inputs(int(config.get("seed", 0)))
    n, t_end = 0, time.perf_counter() + seconds
    while n == 0 or time.perf_counter() < t_end:
        phases.dit_step()
        n += 1
    return n


# -- one point --------------------------------------------------------------------------------------------
def validate_config(config: Mapping[str, Any]) -> LatentShape:
    """Check a point before any device work: model known, dtypes known, sizes legal, steps >= 1."""
    spec = load_spec(config["model"])
    for key in ("dtype", "vae_dtype", "text_encoder_dtype"):
        if key in config:
            torch_dtype(config[key])
    if int(config.get("steps", 1)) < 1:
        raise UsageError(f"--steps {config.get('steps')}: must be >= 1")
    if config.get("vae") and spec.vae is None:
        raise UsageError(f"--vae: model '{spec.name}' has no bundled VAE config; use --no-vae")
    if config.get("text_encoder") and spec.text_encoder is None:
        raise UsageError(f"--text-encoder: model '{spec.name}' has no bundled text-encoder config")
    return latent_shape(spec, int(config["height"]), int(config["width"]), int(config["frames"]))


def _phase_rows(phase: str, result: PhaseResult) -> list[MeasurementRow]:
    rows: list[MeasurementRow] = []
    proto = result.protocol.to_dict()
    for i, (b, e) in enumerate(result.spans):
        rows.append(MeasurementRow(phase, i, "time", float(e - b), None, None, "perf_counter", False, proto))
    for component, reading in result.readings.items():
        rows.append(
            MeasurementRow(
                phase,
                -1,
                component,
                result.latency_s,
                reading.energy_j,
                result.estimates[component].ci95_j,
                reading.source,
                reading.estimated,
                proto,
            )
        )
    return rows


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
        "estimated": {
            c: any(r.readings[c].estimated for r in results.values() if c in r.readings) for c in energy
        },
    }


def run_video_point(
    config: Mapping[str, Any],
    monitor: EnergyMonitor,
    models: ModelCache,
    idle_power_w: Mapping[str, float] | None = None,
    protocols: Mapping[str, Protocol] | None = None,
    on_rep: Callable[[str, int, float], None] | None = None,
) -> PointResult:
    """Measure one configuration (validated with `validate_config`): dit_step, then the optional VAE
    decode and text encoder, each in its own window; summary carries the extrapolated request."""
    protocols = {**DEFAULT_PROTOCOLS, **(protocols or {})}
    spec = load_spec(config["model"])
    shape = validate_config(config)
    device, random_weights = config["device"], config.get("random_weights", True)
    phases = VideoPhases(spec, shape, config["dtype"], device, bool(config["cfg"]))
    phases.transformer = models.get("transformer", spec, config["dtype"], device, random_weights)
    phases.prepare_inputs(int(config.get("seed", 0)))

    def progress(phase: str) -> Callable[[int, float], None] | None:
        return None if on_rep is None else (lambda i, dt: on_rep(phase, i, dt))

    results: dict[str, PhaseResult] = {}
    results["dit_step"] = run_repeated(
        monitor, phases.dit_step, protocols["dit_step"], on_rep=progress("dit_step")
    )
    if config.get("vae"):
        phases.vae = models.get("vae", spec, config.get("vae_dtype", "float32"), device, random_weights)
        results["vae_decode"] = run_repeated(
            monitor, phases.vae_decode, protocols["vae_decode"], on_rep=progress("vae_decode")
        )
    if config.get("text_encoder"):
        phases.text_encoder = models.get(
            "text_encoder", spec, config.get("text_encoder_dtype", config["dtype"]), device, random_weights
        )
        results["text_encode"] = run_repeated(
            monitor, phases.text_encode, protocols["text_encode"], on_rep=progress("text_encode")
        )

    counted = count_forward_flops(spec, shape)
    passes = 2 if config["cfg"] else 1
    idle = dict(idle_power_w or {})
    summary: dict[str, Any] = {"config": dict(config)}
    for name, result in results.items():
        doc = result.to_dict()
        if idle:
            doc["above_idle_energy_j"] = {
                c: e - idle.get(c, 0.0) * result.latency_s for c, e in doc["energy_j"].items()
            }
        summary[name] = doc
    summary["dit_step"].update(
        {
            "forwards": 1 if spec.cfg_batched else passes,
            "batch_per_forward": passes if spec.cfg_batched else 1,
            "flops_counted": counted.total * passes,
            "flops_counted_attention": counted.attention * passes,
            "flops_counted_dense": counted.dense * passes,
            "flops_convention": "torch FlopCounterMode on meta (matmuls, convs, attention; 2 FLOP per MAC)",
            "achieved_flops_per_s": counted.total * passes / results["dit_step"].latency_s,
        }
    )
    summary["latent"] = {
        "shape": list(shape.as_tuple()),
        "tokens": shape.tokens,
        "text_len": spec.text_len,
        "text_dim": spec.text_dim,
    }
    summary["request_extrapolated"] = extrapolate_request(int(config.get("steps", 50)), results)
    summary["idle_power_w"] = idle
    summary["model_source"] = spec.source
    summary["build_s"] = {k[0]: v for k, v in models.build_s.items() if k[1] == spec.name}
    rows = [row for name, result in results.items() for row in _phase_rows(name, result)]
    return PointResult(summary, rows)
