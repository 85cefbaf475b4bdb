"""Text-to-video workload: latent shape rule, constraint errors, and one tiny DiT measured end to end on
the CPU into a temporary store."""

from __future__ import annotations

import pytest

from joulebench.errors import UsageError
from joulebench.meters.window import Protocol
from joulebench.models.video import latent_shape, load_spec, spec_from_config
from joulebench.store import Store
from joulebench.workloads.diffusion.point import DEFAULT_PROTOCOLS

from .conftest import WAN_13B_TRANSFORMER


def wan_spec():
    return spec_from_config("wan2.1-t2v-1.3b", {"transformer": WAN_13B_TRANSFORMER})


def test_wan_latent_shape_follows_the_pipeline_rule() -> None:
    shape = latent_shape(wan_spec(), 720, 1280, 81)
    assert shape.as_tuple() == (16, 21, 90, 160)
    assert shape.tokens == 21 * 45 * 80  # 75,600 tokens after 1x2x2 patches
    assert latent_shape(wan_spec(), 480, 832, 17).as_tuple() == (16, 5, 60, 104)
    assert latent_shape(wan_spec(), 480, 832, 1).frames == 1


@pytest.mark.parametrize(
    ("height", "width", "frames", "needle"),
    [
        (480, 830, 17, "multiples of 16"),
        (472, 832, 17, "multiples of 16"),
        (480, 832, 18, r"4k\+1"),
        (480, 832, 0, "positive"),
    ],
)
def test_wan_size_constraints_name_the_rule(height: int, width: int, frames: int, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        latent_shape(wan_spec(), height, width, frames)


def test_unknown_model_lists_the_choices() -> None:
    with pytest.raises(UsageError, match="tiny-wan"):
        load_spec("no-such-video-model")


def test_count_forward_flops_matches_hand_count() -> None:
    """Dense FLOPs of the tiny DiT: per token per layer 2*(4 d^2 self + 2 d^2 cross q/o + 2 d f) plus the
    cross k/v over the text and the patch embedding / head; attention = 4 * N * (N + L) * d per layer."""
    from joulebench.analytic.flopcheck_video import count_dit_flops

    spec = load_spec("tiny-wan")
    shape = latent_shape(spec, 64, 64, 9)  # 3 x 8 x 8 latents -> 3 * 4 * 4 = 48 tokens
    flops = count_dit_flops(spec, shape)
    d, f, n, text_len, layers = 64, 128, 48, spec.text_len, 2
    attention = layers * 4 * n * (n + text_len) * d
    assert flops.attention == pytest.approx(attention, rel=1e-9)
    per_layer_dense = 2 * n * (4 * d * d + 2 * d * d + 2 * d * f) + 2 * text_len * 2 * d * d
    assert flops.dense > layers * per_layer_dense
    assert flops.dense < layers * per_layer_dense * 1.5


def test_tiny_dit_measured_end_to_end_on_cpu(tmp_path) -> None:
    from joulebench.experiments.video_plan import VideoPlan, run_video_plan

    fast = Protocol(warmup_reps=1, min_window_s=0.15, min_reps=2)
    plan = VideoPlan.grid(
        models=["tiny-wan"],
        resolutions=[(64, 64)],
        frames=[5, 9],
        dtypes=["bfloat16"],
        device="cpu",
        cfg=[True],
        steps=20,
        vae=True,
        protocols={k: fast for k in DEFAULT_PROTOCOLS},
    )
    db = tmp_path / "video.db"
    points = run_video_plan(plan, db, "test", idle_s=0.2)
    assert len(points) == 2 and all("error" not in p for p in points)
    for p in points:
        step = p["dit_step"]
        assert step["latency_s"] > 0 and step["forwards"] == 2
        assert set(step["energy_j"]) == {"cpu", "ram"}  # no GPU on the test machine
        assert all(step["estimated"].values())  # CPU and RAM are labelled estimates
        req = p["request_extrapolated"]
        assert req["extrapolated"] is True and req["steps"] == 20
        expected = 20 * step["latency_s"] + p["vae_decode"]["latency_s"]
        assert req["latency_s"] == pytest.approx(expected)
    with Store(db) as store:
        stored = list(store.points(kind="video"))
        assert [s.status for s in stored] == ["ok", "ok"]
        rows = store.measurements(stored[0].id)
        phases = {r["phase"] for r in rows}
        assert phases == {"dit_step", "vae_decode"}
        aggregate = [r for r in rows if r["repetition"] == -1]
        assert all(r["estimated"] == 1 for r in aggregate)
        assert all(r["protocol"]["min_window_s"] == 0.15 for r in rows)
        assert store.runs()[0].baseline["idle_power_w"]
    # re-running the same plan resumes: nothing new is measured
    again = run_video_plan(plan, db, "test", idle_s=0.1)
    assert [p["point_id"] for p in again] == [p["point_id"] for p in points]
