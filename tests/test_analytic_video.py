"""Video model: latent rules, constraints, CFG and the published Wan2.1 facts."""

from __future__ import annotations

import pytest

from joulebench.analytic.precision import precision_for
from joulebench.analytic.video import VideoRequest, latent_shape, video_components, video_prediction
from joulebench.errors import UsageError
from joulebench.models.configs import bundled_names, resolve

BF16 = precision_for("bf16")
WAN = resolve("wan2.1-t2v-1.3b", "video").config


def test_bundled_video_models():
    assert {
        "wan2.1-t2v-1.3b",
        "wan2.1-t2v-14b",
        "cogvideox-2b",
        "cogvideox-5b",
        "ltx-video",
        "mochi-1",
        "hunyuanvideo",
    } <= set(bundled_names("video"))


def test_wan_latent_rule():
    lat = latent_shape(WAN, VideoRequest(720, 1280, 81, 50, True))
    assert (lat.frames, lat.height, lat.width) == (21, 90, 160)  # 1 + 80/4, /8, /8
    assert lat.tokens == 21 * 45 * 80  # 1x2x2 patches


def test_wan_forward_flops_match_design_note():
    # DESIGN.md: one forward of the released 1.3B transformer at 720x1280, 81 frames ~ 1.25e15 FLOP
    doc = video_prediction("wan2.1-t2v-1.3b", 720, 1280, 81, 50, gpu="h100-sxm")
    assert doc["components"]["dit"]["flops_per_forward"] == pytest.approx(1.25e15, rel=0.02)
    assert doc["components"]["dit"]["calls"] == 100  # 50 steps x 2 CFG branches
    assert doc["components"]["text_encoder"]["calls"] == 2


def test_cfg_off_halves_dit_calls():
    on = video_prediction("wan2.1-t2v-1.3b", 480, 832, 33, 10, gpu="h100-sxm")
    off = video_prediction("wan2.1-t2v-1.3b", 480, 832, 33, 10, cfg=False, gpu="h100-sxm")
    assert off["components"]["dit"]["flops"] == pytest.approx(on["components"]["dit"]["flops"] / 2)
    assert off["components"]["text_encoder"]["calls"] == 1


@pytest.mark.parametrize(
    "h, w, t, match",
    [(721, 1280, 81, "height % 16"), (720, 1288, 81, "width % 16"), (720, 1280, 80, r"\(frames - 1\) % 4")],
)
def test_wan_constraints(h, w, t, match):
    with pytest.raises(UsageError, match=match):
        latent_shape(WAN, VideoRequest(h, w, t, 50, True))


def test_ltx_constraint_is_32():
    with pytest.raises(UsageError, match="% 32"):
        video_prediction("ltx-video", 480, 720, 49, 40, gpu="h100-sxm")


@pytest.mark.parametrize(
    "model, h, w, t",
    [
        ("cogvideox-2b", 480, 720, 49),
        ("cogvideox-5b", 480, 720, 49),
        ("ltx-video", 512, 704, 121),
        ("mochi-1", 480, 848, 85),
        ("hunyuanvideo", 720, 1280, 129),
        ("wan2.1-t2v-14b", 720, 1280, 81),
    ],
)
def test_all_models_predict(model, h, w, t):
    cfg = resolve(model, "video").config
    lat, comps = video_components(cfg, VideoRequest(h, w, t, 4, True), BF16)
    assert lat.tokens > 0
    names = {c.name for c in comps}
    assert {"text_encoder", "dit", "vae_decoder"} <= names
    assert all(sum(float(o.flops) for o in c.ops) > 0 for c in comps)
