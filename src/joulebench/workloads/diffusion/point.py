"""One video measurement point: a typed, validated value (`run.run_video_point` runs it).

Two modes, both on the real models:

* ``phases`` (round 1's measurement, the calibration's input): one denoising step, and optionally one
  VAE decode and one text encoding, each repeated in its own window (`meters.window`), the request
  extrapolated as ``steps x step + encode + decode``;
* ``pipeline``: the model's real diffusers pipeline call, with windows inside it (`pipeline`), either
  all ``steps`` (``sample_steps=None``, a full run) or ``sample_steps`` of them, from which the full run
  is predicted with its uncertainty (`pipeline_point`).

`VideoPoint.validate` checks everything a point can get wrong (model, dtypes, sizes against the
family's latent rule, steps, offload, VAE dtype) before any device work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from joulebench.errors import UsageError
from joulebench.hardware import dtypes
from joulebench.meters.window import Protocol
from joulebench.models.video import LatentShape, VideoSpec, latent_shape, load_spec
from joulebench.workloads.diffusion.build import OFFLOAD_MODES, check_offload, one_time_steps

MODES = ("phases", "pipeline")
DEVICES = ("cuda", "cpu")
DEFAULT_PROMPT = "A cat walks on the grass, realistic style."

#: a step of 0.02-5 s: a 1.2 s window (the short-window default) with at least 2 repetitions keeps
#: long steps to ~3 forwards in all while short ones repeat enough to span counter ticks
DEFAULT_PROTOCOLS: dict[str, Protocol] = {
    "text_encode": Protocol(warmup_reps=1, min_window_s=1.2, min_reps=2),
    "dit_step": Protocol(warmup_reps=1, min_window_s=1.2, min_reps=2),
    "vae_decode": Protocol(warmup_reps=1, min_window_s=1.2, min_reps=1),
}


def torch_spelling(name: str, field_name: str = "dtype") -> str:
    """The torch name a stored point carries (``bfloat16``), from any spelling of a loadable dtype."""
    return str(dtypes.get(name, field_name, dtypes.TORCH_DTYPES).torch_name)


@dataclass(frozen=True)
class VideoPoint:
    """One configuration to measure; `validate` before any device work."""

    model: str
    height: int
    width: int
    frames: int
    dtype: str = "bfloat16"
    cfg: bool = True
    steps: int = 50
    device: str = "cuda"
    random_weights: bool = True
    seed: int = 0
    mode: str = "phases"
    # phases mode
    vae: bool = False
    vae_dtype: str | None = None  # None: float32 in phases mode, the model's default in pipeline mode
    text_encoder: bool = False
    protocols: Mapping[str, Protocol] = field(default_factory=lambda: dict(DEFAULT_PROTOCOLS))
    # pipeline mode
    sample_steps: int | None = None  # None: every step (a full run)
    offload: str = "none"
    prompt: str = DEFAULT_PROMPT

    #: a point of the sweep driver: the store keeps `to_config` and resumes by it
    kind: ClassVar[str] = "video"

    def to_dict(self) -> dict[str, Any]:
        return self.to_config()

    def label(self) -> str:
        return f"{self.model} {self.height}x{self.width}x{self.frames} {self.mode}"

    @property
    def full(self) -> bool:
        return self.mode == "pipeline" and self.sample_steps is None

    @property
    def measured_steps(self) -> int:
        return self.steps if self.sample_steps is None else self.sample_steps

    def spec(self) -> VideoSpec:
        return load_spec(self.model)

    def resolved_vae_dtype(self, spec: VideoSpec) -> str:
        if self.vae_dtype is not None:
            return self.vae_dtype
        if self.mode == "phases":
            return "float32"
        resolved = spec.pipeline_vae_dtype(self.dtype)
        return self.dtype if resolved == self.dtype else torch_spelling(resolved)

    def validate(self) -> LatentShape:
        """Every check that needs no device work; `UsageError` naming the field and value."""
        if self.mode not in MODES:
            raise UsageError.bad("mode", self.mode, f"unknown; allowed: {', '.join(MODES)}")
        if self.device not in DEVICES:
            raise UsageError.bad("device", self.device, f"unknown; allowed: {', '.join(DEVICES)}")
        for name in ("dtype", "vae_dtype"):
            value = getattr(self, name)
            if value is not None and torch_spelling(value, name) != value:
                raise UsageError.bad(name, value, "give the torch spelling (VideoPoint.normalized does this)")
        if self.steps < 1:
            raise UsageError.bad("steps", self.steps, "must be >= 1")
        spec = self.spec()
        shape = latent_shape(spec, self.height, self.width, self.frames)
        if not self.random_weights and spec.source != "local":
            raise UsageError.bad("model", self.model, "real weights need a local diffusers pipeline folder")
        if self.mode == "phases":
            if self.vae and spec.vae is None:
                raise UsageError.bad("vae", True, f"model '{spec.name}' has no bundled VAE config; use --no-vae")
            if self.text_encoder and spec.text_encoder is None:
                raise UsageError.bad("text_encoder", True, f"model '{spec.name}' has no bundled text-encoder config")
            return shape
        if self.offload not in OFFLOAD_MODES:
            raise UsageError.bad("offload", self.offload, f"unknown; allowed: {', '.join(OFFLOAD_MODES)}")
        least = 2 + one_time_steps(self.offload)
        if self.sample_steps is not None and not least <= self.sample_steps <= self.steps:
            why = "a spread needs two steps" + (" after the first, which moves the model in" if least > 2 else "")
            raise UsageError.bad("sample_steps", self.sample_steps, f"must be between {least} ({why}) and --steps "
                                 f"{self.steps}")
        check_offload(self.offload, self.device)
        vae_dtype = self.resolved_vae_dtype(spec)
        if vae_dtype != self.dtype and not spec.family.vae_casts_latents:
            raise UsageError.bad("vae_dtype", vae_dtype, f"{spec.pipeline_class} decodes in the transformer's dtype "
                                 f"({self.dtype}): it does not cast the latents")
        missing = [n for n, c in (("vae", spec.vae), ("text_encoder", spec.text_encoder)) if c is None]
        if missing and self.random_weights:
            raise UsageError.bad("model", self.model, f"the full pipeline needs bundled {' and '.join(missing)} configs")
        return shape

    def normalized(self) -> VideoPoint:
        """Dtypes in their stored (torch) spelling, the bundled model name in its canonical case."""
        vae = None if self.vae_dtype is None else torch_spelling(self.vae_dtype, "vae_dtype")
        return replace(self, dtype=torch_spelling(self.dtype), vae_dtype=vae)

    def to_config(self) -> dict[str, Any]:
        """The stored configuration (its hash is the point's identity: resume skips stored points).
        Phases points keep round 1's keys exactly, so that earlier stores resume."""
        config: dict[str, Any] = {
            "model": self.model, "height": self.height, "width": self.width, "frames": self.frames,
            "dtype": self.dtype, "cfg": self.cfg, "steps": self.steps,
        }
        if self.mode == "phases":
            config.update({"vae": self.vae, "text_encoder": self.text_encoder, "device": self.device,
                           "random_weights": self.random_weights, "seed": self.seed,
                           "protocols": {k: p.to_dict() for k, p in self.protocols.items()}})
            if self.vae:
                config["vae_dtype"] = self.vae_dtype or "float32"
            return config
        spec = self.spec()
        config.update({"device": self.device, "random_weights": self.random_weights, "seed": self.seed,
                       "mode": "pipeline", "sample_steps": self.sample_steps, "offload": self.offload,
                       "vae_dtype": self.resolved_vae_dtype(spec), "prompt": self.prompt})
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> VideoPoint:
        """The point a stored configuration describes (the inverse of `to_config`)."""
        known = {k: v for k, v in config.items() if k in cls.__dataclass_fields__}
        if "protocols" in known:
            known["protocols"] = {k: Protocol(**v) if isinstance(v, Mapping) else v for k, v in known["protocols"].items()}
        return cls(**known)


def gpu_peak_flops_per_s(monitor: Any, dtype: str) -> float | None:
    """The catalogue's peak FLOP/s of the metered GPU at ``dtype`` (None off GPU or for unknown cards)."""
    states = getattr(monitor, "gpu_states", None) or []
    if not states:
        return None
    try:
        from joulebench.hardware.catalogue import get_accelerator, name_for_device

        name = name_for_device(states[0].name)
        return float(get_accelerator(name).peak_flops(dtypes.get(dtype).compute)) if name else None
    except Exception:  # noqa: BLE001 - a card missing from the catalogue has no floor to compare with
        return None


def floors(flops: float, latency_s: float, energy_gpu_j: float | None, idle_gpu_w: float | None,
           peak_flops_per_s: float | None) -> dict[str, Any]:
    """Physics floors of a measured figure: no run beats its FLOPs at peak, nor draws less than idle
    power for its duration; a figure below its floor is flagged (a meter or window error)."""
    out: dict[str, Any] = {}
    if peak_flops_per_s:
        floor = flops / peak_flops_per_s
        out.update({"latency_floor_s": floor, "below_latency_floor": latency_s < floor,
                    "achieved_fraction_of_peak": floor / latency_s if latency_s > 0 else None})
    if energy_gpu_j is not None and idle_gpu_w:
        floor = idle_gpu_w * latency_s
        out.update({"energy_floor_j": floor, "below_energy_floor": energy_gpu_j < floor})
    return out
