"""Study presets: the three Wan2.1-1.3B sweeps and the cross-model table build validated plans on the
sizes the pipelines accept (no device work: plans validate on construction)."""

from __future__ import annotations

import pytest

from joulebench.errors import UsageError
from joulebench.experiments.studies.video import (
    TABLE4,
    TABLE4_MODELS,
    model_defaults,
    video_models_plan,
    video_scaling_plans,
)


def test_scaling_sweeps_follow_the_study_on_valid_sizes() -> None:
    plans = video_scaling_plans(device="cpu", sample_steps=2, full_steps=5)
    assert set(plans) == {"resolution", "frames", "steps"}
    res = plans["resolution"].typed_points
    assert (res[0].height, res[0].width) == (256, 256) and (res[-1].height, res[-1].width) == (1984, 3520)
    assert all(p.frames == 81 and p.steps == 50 and p.sample_steps == 2 for p in res)
    frames = [p.frames for p in plans["frames"].typed_points]
    assert frames[0] == 5 and frames[-1] == 97 and all((t - 1) % 4 == 0 for t in frames)
    steps = {p.steps: p.sample_steps for p in plans["steps"].typed_points}
    assert steps[1] is None and steps[5] is None and steps[10] == 2 and steps[200] == 2
    assert all(p.model == "wan2.1-t2v-1.3b" and p.mode == "pipeline" for plan in plans.values()
               for p in plan.typed_points)


def test_cross_model_table_at_each_models_defaults() -> None:
    plan = video_models_plan(device="cpu", sample_steps=2)
    points = {p.model: p for p in plan.typed_points}
    assert list(points) == list(TABLE4_MODELS) and set(TABLE4) == set(TABLE4_MODELS)
    assert (points["mochi-1"].frames, points["mochi-1"].steps) == (79, 64)  # the study's 84 frames, as computed
    assert (points["ltx-video-0.9.7-dev"].height, points["ltx-video-0.9.7-dev"].frames) == (512, 121)
    assert points["animatediff-lightning"].cfg is False and points["wan2.1-t2v-14b"].cfg is True
    assert model_defaults("hunyuanvideo") == {"height": 720, "width": 1280, "frames": 129, "steps": 50, "cfg": True}


def test_unknown_sweep_is_refused() -> None:
    with pytest.raises(UsageError) as err:
        video_scaling_plans(device="cpu", sweeps=("duration",))
    assert err.value.field == "sweep"
