"""Build a video model's components and its full diffusers pipeline, with random weights from the
bundled configs or with the real weights of a local pipeline folder.

Why random weights: latency and energy do not depend on weight values, and the hubs are not reachable
from every machine; the components are built from their configs directly on the device in the run's
dtype (a 14B transformer first built in fp32 would need twice its memory). The modules diffusers keeps
in fp32 when loading with ``torch_dtype`` (norms, time embedders) are put back in fp32 so that
random-weight runs execute the same kernels as real ones. Prompts go through a byte-level tokenizer
(``workloads.tokenizer``) padded to the pipeline's length: the text encoder's cost depends on the
padded length, not on the vocabulary.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from joulebench.errors import UsageError
from joulebench.hardware.dtypes import torch_dtype
from joulebench.models.video import VideoSpec
from joulebench.workloads.device import sync

#: where the pipeline keeps each component while it runs (diffusers' offload hooks need accelerate)
OFFLOAD_MODES = ("none", "model", "sequential")


def one_time_steps(offload: str) -> int:
    """Leading denoising steps of a call that hold a one-time cost and so are not repeated N times.

    Under ``model`` offload accelerate's hook moves the whole denoiser onto the GPU at its first forward
    and keeps it there until the next component's hook sends it back (after the loop), so the call's
    first step carries the move (measured on the H200: 14.1 s against 4.9 s for the next steps of
    Wan2.1-1.3B at 720x1280x81). ``sequential`` offload moves the weights at every forward (every step
    alike), ``none`` never."""
    return 1 if offload == "model" else 0


@contextmanager
def _default_dtype(dtype: Any) -> Iterator[None]:
    import torch

    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _filtered(cls: Any, cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Constructor arguments only: bundled configs may carry keys a diffusers version lacks."""
    params = inspect.signature(cls.__init__).parameters
    out = {k: v for k, v in cfg.items() if k in params}
    if isinstance(out.get("patch_size"), list):
        out["patch_size"] = tuple(out["patch_size"])
    return out


def _keep_fp32(model: Any) -> None:
    names = getattr(model, "_keep_in_fp32_modules", None) or []
    for pname, param in model.named_parameters():
        if any(k in pname.split(".") for k in names):
            param.data = param.data.float()


def _diffusers_module(class_name: str, cfg: Mapping[str, Any], dtype: str, device: str) -> Any:
    import diffusers
    import torch

    cls = getattr(diffusers, class_name)
    with torch.device(device), _default_dtype(torch_dtype(dtype)):
        model = cls(**_filtered(cls, cfg))
    _keep_fp32(model)
    return model.eval()


def _transformers_module(class_name: str, cfg: Mapping[str, Any], dtype: str, device: str) -> Any:
    import torch
    import transformers

    clean = {k: v for k, v in cfg.items() if not k.startswith("_") and k not in ("architectures",)}
    config = transformers.AutoConfig.for_model(clean.pop("model_type"), **clean)
    with torch.device(device), _default_dtype(torch_dtype(dtype)):
        model = getattr(transformers, class_name)(config)
    return model.eval()


def _local(spec: VideoSpec, subfolder: str, library: str, class_name: str, dtype: str, device: str) -> Any:
    import diffusers
    import transformers

    cls = getattr(diffusers if library == "diffusers" else transformers, class_name)
    key = "torch_dtype" if library == "diffusers" else "dtype"
    return cls.from_pretrained(spec.path, subfolder=subfolder, **{key: torch_dtype(dtype)}).to(device).eval()


def build_denoiser(spec: VideoSpec, dtype: str, device: str, random_weights: bool = True) -> Any:
    """The transformer (or, for AnimateDiff, the UNet with its motion modules) the pipeline steps."""
    fam = spec.family
    if fam.denoiser_kind == "unet":
        import diffusers

        unet = build_component(spec, "unet", dtype, device, random_weights)
        adapter = build_component(spec, "motion_adapter", dtype, device, random_weights)
        return diffusers.UNetMotionModel.from_unet2d(unet, adapter).to(device).eval()
    return build_component(spec, "transformer", dtype, device, random_weights)


def build_component(spec: VideoSpec, what: str, dtype: str, device: str, random_weights: bool = True) -> Any:
    """One component by its pipeline name: transformer, unet, motion_adapter, vae, text_encoder(_2)."""
    fam = spec.family
    table: dict[str, tuple[str, str, Mapping[str, Any] | None]] = {
        "transformer": ("diffusers", fam.denoiser_class, spec.denoiser),
        "unet": ("diffusers", fam.denoiser_class, spec.denoiser),
        "motion_adapter": ("diffusers", "MotionAdapter", spec.motion_adapter),
        "vae": ("diffusers", fam.vae_class, spec.vae),
        "text_encoder": ("transformers", fam.text_encoder_class, spec.text_encoder),
        "text_encoder_2": ("transformers", fam.text_encoder_2_class or "", spec.text_encoder_2),
    }
    library, class_name, cfg = table[what]
    if not random_weights:
        if spec.source != "local" or spec.path is None:
            raise UsageError.bad("model", spec.name, "real weights need a local diffusers pipeline folder")
        return _local(spec, what, library, class_name, dtype, device)
    if cfg is None:
        raise UsageError.bad("model", spec.name, f"no {what} config bundled")
    if library == "diffusers":
        return _diffusers_module(class_name, cfg, dtype, device)
    return _transformers_module(class_name, cfg, dtype, device)


def build_scheduler(spec: VideoSpec) -> Any:
    import diffusers

    cfg = dict(spec.scheduler or {"_class_name": spec.family.scheduler_class})
    cls = getattr(diffusers, str(cfg.pop("_class_name", spec.family.scheduler_class)))
    return cls.from_config({k: v for k, v in cfg.items() if not k.startswith("_")})


def prompt_tokenizer(max_length: int) -> Any:
    """A byte-level tokenizer padded to the pipeline's length (no vocabulary download needed)."""
    from joulebench.workloads.tokenizer import byte_tokenizer

    tok = byte_tokenizer()
    tok.model_max_length = max_length
    return tok


def build_pipeline(spec: VideoSpec, dtype: str, vae_dtype: str, device: str, random_weights: bool = True,
                   offload: str = "none", models: ModelCache | None = None) -> Any:
    """The model's diffusers pipeline class around its components, placed as ``offload`` asks.

    ``offload="model"`` / ``"sequential"`` are diffusers' ``enable_model_cpu_offload`` and
    ``enable_sequential_cpu_offload``: components wait in host memory and move to the GPU when used,
    which costs transfer time inside every call; the mode is part of the point, never mixed."""
    import diffusers

    if offload not in OFFLOAD_MODES:
        raise UsageError.bad("offload", offload, f"unknown; allowed: {', '.join(OFFLOAD_MODES)}")
    if not random_weights:
        pipe = diffusers.DiffusionPipeline.from_pretrained(spec.path, torch_dtype=torch_dtype(dtype))
        if spec.vae is not None:
            pipe.vae.to(torch_dtype(vae_dtype))
    else:
        models = models or ModelCache()
        # offloaded components are built on the device too, and diffusers' enable_*_offload moves them
        # to the host: random initialisation on the CPU took longer than the 190 s the H200 run of
        # 2026-12-03 had left for Wan2.1-1.3B's offload point (UMT5-XXL alone is 5.7B weights)
        where, tag = device, ("" if offload == "none" else offload)
        parts: dict[str, Any] = {"scheduler": build_scheduler(spec), "tokenizer": prompt_tokenizer(_text_length(spec))}
        fam = spec.family
        if fam.denoiser_kind == "unet":
            parts["unet"] = models.get("unet", spec, dtype, where, True, tag)
            parts["motion_adapter"] = models.get("motion_adapter", spec, dtype, where, True, tag)
        else:
            parts["transformer"] = models.get("transformer", spec, dtype, where, True, tag)
        parts["vae"] = models.get("vae", spec, vae_dtype, where, True, tag)
        parts["text_encoder"] = models.get("text_encoder", spec, dtype, where, True, tag)
        if fam.text_encoder_2_class:
            parts["text_encoder_2"] = models.get("text_encoder_2", spec, dtype, where, True, tag)
            parts["tokenizer_2"] = prompt_tokenizer(spec.text_len_2)
        cls = getattr(diffusers, spec.pipeline_class)
        accepted = inspect.signature(cls.__init__).parameters
        pipe = cls(**{k: v for k, v in parts.items() if k in accepted})
    if offload == "model":
        pipe.enable_model_cpu_offload()
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload()
    else:
        # random-weight components are built on the device already (a no-op for them), but
        # AnimateDiffPipeline's __init__ merges the UNet and the motion adapter into a new
        # UNetMotionModel built on the CPU (diffusers' UNetMotionModel.from_unet2d): the H200 run of
        # 2026-12-03 failed with "mat1 is on cuda:0, different from other tensors on cpu"
        pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _text_length(spec: VideoSpec) -> int:
    return spec.text_len + spec.template_tokens


def check_offload(offload: str, device: str) -> None:
    """Offload modes are validated before any work: they need CUDA and the accelerate package."""
    if offload not in OFFLOAD_MODES:
        raise UsageError.bad("offload", offload, f"unknown; allowed: {', '.join(OFFLOAD_MODES)}")
    if offload == "none":
        return
    if device != "cuda":
        raise UsageError.bad("offload", offload, "CPU offload moves components to a GPU; it needs --device cuda")
    try:
        import accelerate  # noqa: F401
    except ImportError:
        raise UsageError.bad("offload", offload, "needs the accelerate package (pip install accelerate)") from None


def placement(pipe: Any) -> dict[str, str]:
    """Where each component's weights are right now, and whether an offload hook manages it."""
    out: dict[str, str] = {}
    for name, module in pipe.components.items():
        params = getattr(module, "parameters", None)
        if params is None:
            continue
        first = next(iter(module.parameters()), None)
        hooked = hasattr(module, "_hf_hook")
        out[name] = f"{first.device if first is not None else '-'}{' (offload hook)' if hooked else ''}"
    return out


class ModelCache:
    """Keeps built components across the points of one sweep (building a 14B DiT costs seconds), for
    one model at a time: asking for another model's component drops every other model's first. Why:
    a cross-model sweep kept them all, and Mochi-1, the fifth model of the H200 run (2026-12-03), ran
    out of GPU memory with 125 GiB held, most of it by the four models before it."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, ...], Any] = {}
        self.build_s: dict[tuple[str, ...], float] = {}
        #: pipeline calls already warmed up in this process (model, sizes, dtype, guidance, offload)
        self.warmed: set[tuple[Any, ...]] = set()

    def get(self, what: str, spec: VideoSpec, dtype: str, device: str, random_weights: bool, tag: str = "") -> Any:
        """``tag`` keeps apart instances that get mutated (offload hooks attach to the module). A DiT
        family's "denoiser" is its "transformer": phases and pipeline points share one instance."""
        if what == "denoiser" and spec.family.denoiser_kind == "dit":
            what = "transformer"
        key = (what, spec.name, dtype, device, str(random_weights), tag)
        if key not in self._models:
            self._drop_other_models(spec.name)
            t0 = time.perf_counter()
            if what == "denoiser":
                self._models[key] = build_denoiser(spec, dtype, device, random_weights)
            else:
                self._models[key] = build_component(spec, what, dtype, device, random_weights)
            sync(device)
            self.build_s[key] = time.perf_counter() - t0
        return self._models[key]

    def models(self) -> set[str]:
        """The names of the models whose components are kept."""
        return {key[1] for key in self._models}

    def _drop_other_models(self, name: str) -> None:
        others = [key for key in self._models if key[1] != name]
        if not others:
            return
        for key in others:
            del self._models[key]
        self.warmed = {w for w in self.warmed if w and w[0] == name}
        release_device_memory()

    def clear(self) -> None:
        self._models.clear()
        self.warmed.clear()
        release_device_memory()


def release_device_memory() -> None:
    """Return the CUDA caching allocator's free blocks once modules are dropped (a no-op without CUDA)."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
