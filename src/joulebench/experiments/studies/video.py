"""Case study III presets: the three Wan2.1-T2V-1.3B scaling sweeps and the cross-model table.

The study (an internship report on the latency and energy of generative AI, Hugging Face, 2025; one
H100 SXM) swept Wan2.1-T2V-1.3B over resolution (256x256 .. 3520x1980 at 81 frames, 50 steps), frame
count (4 .. 100 at 720x1280) and steps (1 .. 200 at 720x1280x81), and measured seven models at their
defaults (Table 4). The presets keep its ranges on sizes the pipelines accept: frames are ``4k+1``
(the study's 4 .. 100 becomes 5 .. 97), sides multiples of 16 (1980 becomes 1984), Mochi's 84 frames are
79 (the 14 latent frames MochiPipeline computes for 84).

Every point is a real pipeline call (``pipeline`` mode) of ``sample_steps`` steps from which the full
run is predicted; step counts up to ``full_steps`` run in full, so that the steps sweep checks the
prediction where a full run is cheap. The study's figures are kept here as references for reports,
never as expected values.
"""

from __future__ import annotations

from collections.abc import Sequence

from joulebench.errors import UsageError
from joulebench.experiments.video_plan import VideoPlan
from joulebench.models.video import load_spec
from joulebench.workloads.diffusion.point import VideoPoint

SCALING_MODEL = "wan2.1-t2v-1.3b"
RESOLUTIONS: tuple[tuple[int, int], ...] = ((256, 256), (320, 576), (480, 832), (720, 1280), (1088, 1920),
                                            (1440, 2560), (1984, 3520))
FRAMES: tuple[int, ...] = (5, 9, 17, 33, 49, 65, 81, 97)
STEP_COUNTS: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100, 200)
SWEEPS = ("resolution", "frames", "steps")

#: the study's Table 4 models, in its order, by our bundled names (HunyuanVideo is not in the table)
TABLE4_MODELS: tuple[str, ...] = ("wan2.1-t2v-14b", "wan2.1-t2v-1.3b", "mochi-1", "cogvideox-5b", "cogvideox-2b",
                                  "ltx-video-0.9.7-dev", "animatediff-lightning")
#: Table 4 as published (H100 SXM): latency and energy per video at the model's defaults
TABLE4: dict[str, dict[str, float]] = {
    "wan2.1-t2v-14b": {"latency_s": 1875, "gpu_Wh": 359.7, "cpu_Wh": 35.6, "ram_Wh": 19.8},
    "wan2.1-t2v-1.3b": {"latency_s": 410, "gpu_Wh": 78.8, "cpu_Wh": 7.4, "ram_Wh": 4.3},
    "mochi-1": {"latency_s": 263, "gpu_Wh": 44.7, "cpu_Wh": 4.6, "ram_Wh": 2.8},
    "cogvideox-5b": {"latency_s": 124, "gpu_Wh": 21.6, "cpu_Wh": 2.4, "ram_Wh": 1.3},
    "cogvideox-2b": {"latency_s": 50.6, "gpu_Wh": 8.3, "cpu_Wh": 0.84, "ram_Wh": 0.53},
    "ltx-video-0.9.7-dev": {"latency_s": 9.7, "gpu_Wh": 3.16, "cpu_Wh": 0.32, "ram_Wh": 0.19},
    "animatediff-lightning": {"latency_s": 0.68, "gpu_Wh": 0.115, "cpu_Wh": 0.016, "ram_Wh": 0.008},
}


def _point(model: str, height: int, width: int, frames: int, steps: int, *, device: str, dtype: str,
           sample_steps: int, full_steps: int, cfg: bool = True, offload: str = "none") -> VideoPoint:
    full = steps <= max(full_steps, sample_steps)
    return VideoPoint(model=model, height=height, width=width, frames=frames, steps=steps, dtype=dtype, cfg=cfg,
                      device=device, mode="pipeline", sample_steps=None if full else sample_steps, offload=offload)


def video_scaling_plans(*, device: str = "cuda", dtype: str = "bf16", sample_steps: int = 2, full_steps: int = 0,
                        sweeps: Sequence[str] = SWEEPS, resolutions: Sequence[tuple[int, int]] = RESOLUTIONS,
                        frames: Sequence[int] = FRAMES, step_counts: Sequence[int] = STEP_COUNTS,
                        model: str = SCALING_MODEL) -> dict[str, VideoPlan]:
    """``study video-scaling``: one plan per sweep (resolution, frames, steps), validated."""
    for sweep in sweeps:
        if sweep not in SWEEPS:
            raise UsageError.bad("sweep", sweep, f"unknown; allowed: {', '.join(SWEEPS)}")
    common = {"device": device, "dtype": dtype, "sample_steps": sample_steps, "full_steps": full_steps}
    build = {
        "resolution": lambda: [_point(model, h, w, 81, 50, **common) for h, w in resolutions],
        "frames": lambda: [_point(model, 720, 1280, t, 50, **common) for t in frames],
        "steps": lambda: [_point(model, 720, 1280, 81, s, **common) for s in step_counts],
    }
    return {sweep: VideoPlan(tuple(build[sweep]()), f"video-scaling-{sweep}") for sweep in sweeps}


def model_defaults(model: str) -> dict[str, object]:
    """A model's published defaults: sizes, steps and whether it runs classifier-free guidance."""
    spec = load_spec(model)
    values = {k: spec.default(k) for k in ("height", "width", "frames", "steps")}
    if any(v is None for v in values.values()):
        raise UsageError.bad("model", model, "has no bundled defaults (default_height/width/frames/steps)")
    return {**values, "cfg": spec.guidance_scale > 1.0}


def video_models_plan(models: Sequence[str] = TABLE4_MODELS, *, device: str = "cuda", dtype: str = "bf16",
                      sample_steps: int = 2, full_steps: int = 0, offload: str = "none") -> VideoPlan:
    """``study video-models``: each model at its defaults, a few steps measured, the full run predicted."""
    points = []
    for model in models:
        d = model_defaults(model)
        points.append(_point(model, int(d["height"]), int(d["width"]), int(d["frames"]), int(d["steps"]),
                             device=device, dtype=dtype, sample_steps=min(sample_steps, int(d["steps"])),
                             full_steps=full_steps, cfg=bool(d["cfg"]), offload=offload))
    return VideoPlan(tuple(points), "video-models")
