"""Windows inside one real pipeline call: text encoding, every denoising step with its guidance, the
VAE decode and the whole call, stamped by forward hooks and the pipeline's step callback.

Why inside the real call: the study's 410 s for Wan2.1-1.3B at 720x1280x81x50 stood against ~254 s
of separately measured components; whatever the pipeline does around them (scheduler, host work
between steps, offload transfers, post-processing of the frames) only shows in the pipeline's own
call. The hooks synchronise the device before stamping (on CUDA), so that each boundary marks where
the GPU finished, not where the host queued; that costs one host-device round trip per boundary
(a few per step), small against steps of 0.05-40 s.

The call is partitioned into consecutive windows (``encode`` = call start to the first denoiser
forward, ``step i``, ``decode`` = last step end to call end); the text encoder and VAE spans are
measured inside them, and what remains is named (``prepare``, ``postprocess``), so that the parts
add up to the call exactly. Energies come from the meters over each window
(`EnergyMonitor.energy_between`, interpolated between counter updates): windows shorter than two
counter ticks (~0.2 s on NVML) are flagged ``resolution_limited``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from joulebench.values import Span
from joulebench.workloads.device import sync

#: windows shorter than this read the counter across fewer than two updates (NVML ticks ~100 ms)
RESOLUTION_S = 0.2
TEXT_ENCODERS = ("text_encoder", "text_encoder_2")


@dataclass
class PipelineClock:
    """Installs hooks on a pipeline's components and collects the spans of one call."""

    pipe: Any
    device: str
    spans: list[Span] = field(default_factory=list)
    step_ends: list[float] = field(default_factory=list)
    _open: dict[str, float] = field(default_factory=dict)
    _handles: list[Any] = field(default_factory=list)
    _restore: list[Callable[[], None]] = field(default_factory=list)

    def now(self) -> float:
        sync(self.device)
        return time.perf_counter()

    def install(self) -> None:
        for name in (*TEXT_ENCODERS, "transformer", "unet"):
            module = getattr(self.pipe, name, None)
            if module is None or not hasattr(module, "register_forward_pre_hook"):
                continue
            label = "denoiser" if name in ("transformer", "unet") else name
            self._handles.append(module.register_forward_pre_hook(self._begin(label)))
            self._handles.append(module.register_forward_hook(self._end(label)))
        vae = getattr(self.pipe, "vae", None)
        if vae is not None:
            original = vae.decode

            def decode(*args: Any, **kwargs: Any) -> Any:
                begin = self.now()
                out = original(*args, **kwargs)
                self.spans.append(Span(begin, self.now(), "vae_decode"))
                return out

            vae.decode = decode
            self._restore.append(lambda: delattr(vae, "decode"))

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        for undo in self._restore:
            undo()
        self._handles.clear()
        self._restore.clear()

    def _begin(self, label: str) -> Callable[..., None]:
        def hook(module: Any, args: Any) -> None:
            self._open[label] = self.now()

        return hook

    def _end(self, label: str) -> Callable[..., None]:
        def hook(module: Any, args: Any, output: Any) -> None:
            self.spans.append(Span(self._open.pop(label), self.now(), label))

        return hook

    def step_callback(self, pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        """``callback_on_step_end``: the step's scheduler update is done when this runs."""
        self.step_ends.append(self.now())
        return {}


@dataclass(frozen=True)
class CallTimeline:
    """The windows of one call, in order, and the component spans inside them."""

    call: Span
    windows: list[Span]  # encode, step 0..K-1, decode: consecutive, they cover the call
    spans: list[Span]
    steps: list[Span]

    def total(self, name: str) -> float:
        return sum(s.duration_s for s in self.spans if s.name == name)

    def inside(self, name: str, window: Span) -> list[Span]:
        return [s for s in self.spans if s.name == name and window.begin_s <= s.begin_s < window.end_s]


def timeline(clock: PipelineClock, begin_s: float, end_s: float) -> CallTimeline:
    """Cut one call into consecutive windows from the clock's spans and step ends."""
    forwards = [s for s in clock.spans if s.name == "denoiser"]
    first = forwards[0].begin_s if forwards else begin_s
    edges = [first, *clock.step_ends]
    steps = [Span(a, b, f"step_{i}") for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True))]
    last = edges[-1] if clock.step_ends else first
    windows = [Span(begin_s, first, "encode"), *steps, Span(last, end_s, "decode")]
    return CallTimeline(Span(begin_s, end_s, "call"), windows, list(clock.spans), steps)


def run_pipeline_call(pipe: Any, device: str, kwargs: dict[str, Any], autocast_dtype: Any = None
                      ) -> tuple[CallTimeline, Any]:
    """One pipeline call with the clock installed; returns its timeline and the pipeline's output.
    ``autocast_dtype`` runs it under ``torch.autocast`` (as the family's published example does)."""
    import torch

    clock = PipelineClock(pipe, device)
    clock.install()
    context = torch.autocast(device, autocast_dtype) if autocast_dtype is not None else nullcontext()
    try:
        begin = clock.now()
        with context:
            out = pipe(**kwargs, callback_on_step_end=clock.step_callback)
        end = clock.now()
    finally:
        clock.remove()
    return timeline(clock, begin, end), out


def call_kwargs(spec: Any, height: int, width: int, frames: int, steps: int, cfg: bool, prompt: str,
                seed: int, device: str) -> dict[str, Any]:
    """Arguments of the pipeline's ``__call__`` for one request (guidance off: scale 1)."""
    import torch

    fam = spec.family.name
    scale = spec.guidance_scale if cfg else 1.0
    out: dict[str, Any] = {
        "prompt": prompt, "height": height, "width": width, "num_frames": frames, "num_inference_steps": steps,
        "guidance_scale": scale, "output_type": "np",
        "generator": torch.Generator(device="cpu").manual_seed(seed),
    }
    if fam != "animatediff":
        out["max_sequence_length"] = spec.text_len
    if fam == "hunyuanvideo":  # guidance is an input of the distilled model; no negative branch
        out["guidance_scale"] = spec.guidance_scale
    if fam == "ltx" and "decode_timestep" in spec.pipeline:
        out["decode_timestep"] = spec.pipeline["decode_timestep"]
    return out
