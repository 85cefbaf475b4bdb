"""Video calibration data: the stored denoising steps a fit uses, their FLOPs, and the train/held-out split.

A stored video point is reduced to a `VideoSample` (its step latency and energy per component, the
step's FLOPs and the idle baseline of its run). FLOPs come from the analytic model
(``analytic.video``), so that a profile fitted here prices configurations with the FLOP convention
``predict video`` uses; the FLOPs torch counted at measurement time are the fallback (built-in test
models, or a caller's choice: ``stored_flops``).

Points measured differently are never mixed silently: phases-mode steps (repeated windows) and steps
inside the real pipeline call (``mode="pipeline"``) are separate data sets, and pipeline points with
different offload modes are refused together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joulebench.errors import UsageError
from joulebench.hardware import dtypes
from joulebench.store import Store

COMPONENTS = ("gpu", "cpu", "ram")
LATENCY_MODELS = ("single", "split")

# -- data ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VideoSample:
    """One stored video point reduced to what the fit needs."""

    point_id: int
    config: dict[str, Any]
    flops: float  # per denoising step, all CFG passes
    flops_attention: float | None
    latency_s: float
    energy_j: dict[str, float]
    ci95_j: dict[str, float]
    estimated: dict[str, bool]
    idle_power_w: dict[str, float]
    gpu_device_name: str | None

    @property
    def resolution(self) -> tuple[int, int]:
        return int(self.config["height"]), int(self.config["width"])

    @property
    def frames(self) -> int:
        return int(self.config["frames"])

    def label(self) -> str:
        return f"{self.config['height']}x{self.config['width']}x{self.config['frames']}"


FlopsFn = Callable[[Mapping[str, Any], Mapping[str, Any]], tuple[float, float | None, str]]


def _analytic_flops(config: Mapping[str, Any], summary: Mapping[str, Any]) -> tuple[float, float | None, str]:
    """Matmul FLOPs of one DiT step (all CFG passes) from the analytic model, else the torch-counted
    FLOPs stored with the point (built-in test models have no bundled config).

    Returns (flops, attention flops, source label)."""
    try:
        from joulebench.analytic.precision import precision_for
        from joulebench.analytic.video import VideoRequest, video_components
        from joulebench.models.configs import resolve

        ref = resolve(str(config["model"]), "video", allow_hub=False)
    except (ImportError, UsageError):
        return stored_flops(config, summary)
    req = VideoRequest(
        int(config["height"]), int(config["width"]), int(config["frames"]), 1, bool(config["cfg"])
    )
    _, comps = video_components(ref.config, req, precision_for(str(config["dtype"])))
    dit = next(c for c in comps if c.name == "dit")
    counted = [op for op in dit.ops if op.counted]
    flops = sum(float(op.flops) for op in counted) * dit.calls
    attention = sum(float(op.flops) for op in counted if op.category == "attention") * dit.calls
    return flops, attention, "analytic.video (matmul FLOPs)"


def stored_flops(config: Mapping[str, Any], summary: Mapping[str, Any]) -> tuple[float, float | None, str]:
    """The FLOPs torch counted at measurement time (stored with each point), whatever the analytic model."""
    step = summary["dit_step"]
    return float(step["flops_counted"]), step.get("flops_counted_attention"), "torch-flop-counter"


def load_samples(
    store_path: str | Path,
    gpu_name: str | None = None,
    model: str | None = None,
    dtype: str | None = None,
    flops_fn: FlopsFn = _analytic_flops,
    mode: str = "phases",
) -> tuple[list[VideoSample], dict[str, Any]]:
    """All ok video points matching the filters, and the environment of the run they came from.

    ``gpu_name`` is a catalogue name (``h100-sxm``) or a substring of the device name; ``model``
    defaults to the model with the most points; ``mode`` keeps points measured one way (``phases``:
    repeated step windows; ``pipeline``: steps inside the real call)."""
    store = Store.open_read(store_path)
    try:
        runs = {r.id: r for r in store.runs()}
        points = list(store.points(kind="video", status="ok"))
    finally:
        store.close()
    points = [p for p in points if p.config.get("mode", "phases") == mode]
    if not points:
        raise UsageError.bad("db", str(store_path), f"no measured video points in {mode} mode (run "
                             "`joulebench measure video` first)")
    if model is None:
        counts: dict[str, int] = {}
        for p in points:
            counts[p.config["model"]] = counts.get(p.config["model"], 0) + 1
        model = max(counts, key=lambda k: counts[k])
    samples: list[VideoSample] = []
    env: dict[str, Any] = {}
    sources: set[str] = set()
    for p in points:
        run = runs.get(p.run_id)
        gpus = (run.env if run is not None else {}).get("gpus") or []
        device_name = gpus[0]["name"] if gpus else None
        wrong_dtype = dtype is not None and dtypes.canonical(p.config["dtype"]) != dtypes.canonical(dtype)
        if p.config["model"] != model or wrong_dtype:
            continue
        if gpu_name is not None and not _gpu_matches(gpu_name, device_name):
            continue
        step = p.summary["dit_step"]
        flops, attn, source = flops_fn(p.config, p.summary)
        sources.add(source)
        idle = (run.idle_power_w if run is not None else {}) or p.summary.get("idle_power_w") or {}
        samples.append(
            VideoSample(
                p.id,
                p.config,
                flops,
                attn,
                float(step["latency_s"]),
                {c: float(v) for c, v in step["energy_j"].items()},
                {c: float(v) for c, v in step.get("ci95_j", {}).items()},
                {c: bool(v) for c, v in step.get("estimated", {}).items()},
                {c: float(v) for c, v in idle.items()},
                device_name,
            )
        )
        env = env or dict(run.env if run is not None else {})
    if not samples:
        raise UsageError.bad("db", str(store_path), f"no ok video points for model={model}, dtype={dtype}, gpu={gpu_name}")
    offloads = sorted({str(s.config.get("offload", "none")) for s in samples})
    if len(offloads) > 1:
        raise UsageError.bad("db", str(store_path), f"points of {model} were measured with different offload modes "
                             f"({', '.join(offloads)}); they are different engines, fit them apart")
    env["flops_source"] = "+".join(sorted(sources))
    env["model"] = model
    env["mode"] = mode
    return samples, env


def _gpu_matches(gpu_name: str, device_name: str | None) -> bool:
    if device_name is None:
        return gpu_name.lower() in ("cpu", "none")
    try:
        from joulebench.hardware.catalogue import name_for_device

        if name_for_device(device_name) == gpu_name.lower():
            return True
    except Exception:  # noqa: BLE001 - an unknown card just falls back to substring matching
        pass
    return gpu_name.lower() in device_name.lower()


# -- splits ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Split:
    """Which points fit and which are held out. ``None`` = default: the smallest and largest
    resolution (by pixels) and the smallest, middle and largest frame count are used to fit; every
    point with another resolution or frame count is held out (interpolation in both directions)."""

    train_resolutions: tuple[tuple[int, int], ...] | None = None
    train_frames: tuple[int, ...] | None = None

    def resolve(self, samples: Sequence[VideoSample]) -> tuple[set[tuple[int, int]], set[int]]:
        resolutions = sorted({s.resolution for s in samples}, key=lambda r: (r[0] * r[1], r))
        frames = sorted({s.frames for s in samples})
        if self.train_resolutions is not None:
            train_res = set(self.train_resolutions)
        else:
            train_res = {resolutions[0], resolutions[-1]}
        if self.train_frames is not None:
            train_t = set(self.train_frames)
        else:
            train_t = {frames[0], frames[len(frames) // 2], frames[-1]}
        return train_res, train_t

    def partition(self, samples: Sequence[VideoSample]) -> tuple[list[VideoSample], list[VideoSample]]:
        train_res, train_t = self.resolve(samples)
        train = [s for s in samples if s.resolution in train_res and s.frames in train_t]
        held = [s for s in samples if not (s.resolution in train_res and s.frames in train_t)]
        return train, held


def short_config(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: config[k] for k in ("model", "height", "width", "frames", "dtype", "cfg") if k in config}
