"""Video plans: validated typed points, and the run loop that measures them into a store.

A `VideoPlan` is a frozen tuple of `VideoPoint` values, every one validated on construction (model,
dtypes, sizes against the family's latent rule, steps, offload, the device), so that bad input fails
before a meter is opened or the database is touched. `VideoPlan.grid` builds the usual grid (models x
resolutions x frame counts x dtypes x guidance); the studies (``experiments.studies.video``) build
plans of their own points.

`run_video_points` runs the points through the one sweep driver (meters, cold and warm idle, resume,
one transaction per point), one `run_video_point` per point (point in, `Measurement` out).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joulebench.errors import UsageError
from joulebench.experiments.sweep import run_sweep
from joulebench.experiments.sweep_values import MeterSpec, SweepContext, SweepObserver
from joulebench.meters.window import Protocol
from joulebench.workloads.device import cuda_available
from joulebench.workloads.diffusion.point import DEFAULT_PROMPT, DEFAULT_PROTOCOLS, VideoPoint

EventFn = Callable[[str, int, Mapping[str, Any], Any], None]
RepFn = Callable[[str, int, float, "float | None"], None]


@dataclass(frozen=True)
class VideoPlan:
    """Validated points, in the order they run."""

    points_: tuple[VideoPoint, ...]
    name: str = "video"
    shapes: tuple[Any, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.points_:
            raise UsageError("the plan has no points")
        points = tuple(p.normalized() for p in self.points_)
        shapes = tuple(p.validate() for p in points)
        if any(p.device == "cuda" for p in points) and not cuda_available():
            raise UsageError.bad("device", "cuda", "no CUDA GPU is available on this machine; use --device cpu")
        object.__setattr__(self, "points_", points)
        object.__setattr__(self, "shapes", shapes)

    @classmethod
    def grid(cls, models: Sequence[str], resolutions: Sequence[tuple[int, int]], frames: Sequence[int],
             dtypes: Sequence[str], device: str, cfg: Sequence[bool] = (True,), steps: int = 50, *,
             vae: bool = False, vae_dtype: str | None = None, text_encoder: bool = False, random_weights: bool = True,
             seed: int = 0, protocols: Mapping[str, Protocol] | None = None, mode: str = "phases",
             sample_steps: int | None = None, offload: str = "none", prompt: str = DEFAULT_PROMPT,
             name: str = "video") -> VideoPlan:
        protocols = dict(protocols or DEFAULT_PROTOCOLS)
        points = [
            VideoPoint(model=m, height=h, width=w, frames=t, dtype=d, cfg=g, steps=steps, device=device,
                       random_weights=random_weights, seed=seed, mode=mode, vae=vae, vae_dtype=vae_dtype,
                       text_encoder=text_encoder, protocols=protocols, sample_steps=sample_steps, offload=offload,
                       prompt=prompt)
            for m, (h, w), t, d, g in itertools.product(models, resolutions, frames, dtypes, cfg)
        ]
        return cls(tuple(points), name)

    @property
    def typed_points(self) -> tuple[VideoPoint, ...]:
        return self.points_

    def points(self) -> list[dict[str, Any]]:
        """The stored configurations, in plan order."""
        return [p.to_config() for p in self.points_]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "video", "plan": self.name, "points": self.points()}

    def __add__(self, other: VideoPlan) -> VideoPlan:
        return VideoPlan(self.points_ + other.points_, f"{self.name}+{other.name}")


def run_video_plan(plan: VideoPlan, db: str | Path, command: str, idle_s: float = 2.0,
                   observer: SweepObserver | None = None) -> list[dict[str, Any]]:
    """Run every point of the plan (resuming), return the JSON points in plan order."""
    prewarm_s = 3.0 if any(p.device == "cuda" for p in plan.typed_points) else 0.0
    return run_video_points(plan.typed_points, db, command, plan.to_dict(), idle_s, prewarm_s, observer)


def run_video_points(points: Sequence[VideoPoint], db: str | Path, command: str, plan_doc: Mapping[str, Any],
                     idle_s: float = 2.0, prewarm_s: float = 0.0,
                     observer: SweepObserver | None = None) -> list[dict[str, Any]]:
    """Validated points through the one sweep driver (kind ``video``); ``prewarm_s`` runs unmeasured
    steps of the first point before it, so that it does not pay the GPU's ramp out of idle."""
    from joulebench.workloads.diffusion.build import ModelCache
    from joulebench.workloads.diffusion.phases import prewarm
    from joulebench.workloads.diffusion.run import run_video_point

    cuda = any(p.device == "cuda" for p in points)

    def execute(point: VideoPoint, context: SweepContext) -> Any:
        models = context.cache.setdefault("video_models", ModelCache())
        last = context.cache.get("video_last_model")
        if last is not None and last != point.model:  # one model's weights on the device at a time
            models.clear()
        context.cache["video_last_model"] = point.model
        if prewarm_s > 0 and not context.cache.get("video_prewarmed"):
            prewarm(point, models, prewarm_s)
            context.cache["video_prewarmed"] = True
        return run_video_point(point, context.monitor, models, context.idle_w(), on_rep=context.on_rep)

    cache: dict[str, Any] = {}
    try:
        result = run_sweep("video", list(points), execute, db, command, plan_doc, MeterSpec("cuda" if cuda else "cpu"),
                           observer=observer, idle_s=idle_s, cache=cache)
    finally:
        if "video_models" in cache:
            cache["video_models"].clear()
    out: list[dict[str, Any]] = []
    for outcome in result.outcomes:  # in plan order, measured now or earlier
        config = outcome.point.to_dict()
        if outcome.status == "failed" or outcome.status == "claimed":
            out.append({"config": config, "error": outcome.error, "point_id": outcome.point_id})
        else:
            out.append(json_point(config, outcome.summary, outcome.point_id))
    return out


_PHASE_KEYS = ("latency_s", "latency_std_s", "reps", "energy_j", "ci95_j", "sources", "estimated")
_PIPELINE_KEYS = ("call", "parts", "steps", "forwards_per_step", "offload", "placement", "request", "request_predicted")


def json_point(config: Mapping[str, Any], summary: Mapping[str, Any], point_id: int | None = None) -> dict[str, Any]:
    """The stable JSON shape of one measured point (the ``--json`` contract)."""
    doc: dict[str, Any] = {"config": {k: v for k, v in config.items() if k != "protocols"}}
    if point_id is not None:
        doc["point_id"] = point_id
    for phase in ("dit_step", "vae_decode", "text_encode"):
        if phase in summary:
            src = summary[phase]
            doc[phase] = {k: src[k] for k in _PHASE_KEYS if k in src}
            doc[phase]["protocol"] = src.get("protocol")
    step = summary.get("dit_step", {})
    doc["dit_step"].update({k: step[k] for k in ("forwards", "flops_counted", "floors") if k in step})
    doc.update({k: summary[k] for k in _PIPELINE_KEYS if k in summary})
    if "request_extrapolated" in summary:
        doc["request_extrapolated"] = summary["request_extrapolated"]
    doc["latent"] = summary.get("latent")
    return doc
