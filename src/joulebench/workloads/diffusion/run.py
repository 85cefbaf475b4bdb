"""The per-point function a sweep driver calls for a `point.VideoPoint`: point in, `Measurement` out,
nothing written. Its own module, above both modes, so that the modes import the point and not back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from joulebench.meters.window import Protocol
from joulebench.values import Measurement
from joulebench.workloads.diffusion.build import ModelCache
from joulebench.workloads.diffusion.point import VideoPoint


def run_video_point(point: VideoPoint, monitor: Any, models: ModelCache, idle: Mapping[str, float] | None = None,
                    protocols: Mapping[str, Protocol] | None = None, on_rep: Any = None) -> Measurement:
    """Measure one validated point on the device. The mode's module is imported here, when a point runs:
    validating a plan needs neither."""
    if point.mode == "pipeline":
        from joulebench.workloads.diffusion.pipeline_point import run_pipeline_point

        return run_pipeline_point(point, monitor, models, idle or {})
    from joulebench.workloads.diffusion.phases import run_phases_point

    return run_phases_point(point, monitor, models, idle or {}, {**point.protocols, **(protocols or {})}, on_rep)
