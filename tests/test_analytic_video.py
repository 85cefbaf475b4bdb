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


def _dit(model, req):
    _, comps = video_components(resolve(model, "video").config, req, BF16)
    return {c.name: c for c in comps}


def test_batched_guidance_is_one_forward_of_batch_two():
    """CogVideoX, LTX and Mochi run guidance as one batch of two: the same FLOPs as two batch-1 forwards
    (activations double) but one forward's launches and one read of the weights."""
    from joulebench.analytic.ops import total

    on = _dit("cogvideox-2b", VideoRequest(480, 720, 49, 10, True))
    off = _dit("cogvideox-2b", VideoRequest(480, 720, 49, 10, False))
    assert on["dit"].calls == off["dit"].calls == 10 and on["dit"].extra["batch_per_forward"] == 2
    assert float(total(on["dit"].ops, "flops")) == pytest.approx(2 * float(total(off["dit"].ops, "flops")), rel=1e-9)
    assert float(total(on["dit"].ops, "n_kernels")) == float(total(off["dit"].ops, "n_kernels"))
    assert float(total(on["dit"].ops, "bytes")) < 2 * float(total(off["dit"].ops, "bytes"))
    assert on["text_encoder"].calls == 2  # prompt and negative prompt, two batch-1 encoder calls


def test_hunyuan_template_tokens_clip_and_embedded_guidance():
    comps = _dit("hunyuanvideo", VideoRequest(720, 1280, 129, 50, True))
    assert comps["text_encoder"].extra["tokens"] == 256 + 95  # template encoded, then cropped
    assert comps["text_encoder_2"].extra["tokens"] == 77
    assert comps["dit"].calls == 50 and comps["text_encoder"].calls == 1  # guidance is an input, no negative


def test_mochi_attends_to_the_unmasked_prompt_tokens():
    from joulebench.analytic.ops import counted_flops

    padded = _dit("mochi-1", VideoRequest(480, 848, 79, 1, True))["dit"]
    short = _dit("mochi-1", VideoRequest(480, 848, 79, 1, True, prompt_tokens=20))["dit"]
    assert float(counted_flops(short.ops)) < float(counted_flops(padded.ops))
    assert short.extra["attention_text_tokens"] == 20


def test_animatediff_has_no_op_model_and_says_so():
    with pytest.raises(UsageError) as err:
        video_prediction("animatediff-lightning", 512, 512, 16, 4, gpu="h100-sxm")
    assert err.value.field == "model"


def test_vae_in_fp32_is_priced_at_tf32_with_the_same_flops():
    bf16 = video_prediction("wan2.1-t2v-1.3b", 720, 1280, 81, 50, gpu="h200", vae_dtype="bf16")["components"][
        "vae_decoder"]
    fp32 = video_prediction("wan2.1-t2v-1.3b", 720, 1280, 81, 50, gpu="h200", vae_dtype="float32")["components"][
        "vae_decoder"]
    assert fp32["compute"] == "tf32" and bf16["compute"] == "bf16"
    assert fp32["flops_counted"] == pytest.approx(bf16["flops_counted"], rel=1e-12)
    assert fp32["latency_s"] > bf16["latency_s"]
    assert fp32["latency_s"] >= fp32["floor_s"]["compute"] and fp32["latency_s"] >= fp32["floor_s"]["memory"]


def test_vae_dtype_defaults_to_what_the_pipeline_decodes_in():
    """Wan's pipeline decodes in fp32 (the latents are cast to the VAE's dtype), CogVideoX's in the run's
    dtype: an unset ``vae_dtype`` prices what `measure video` runs (the H200 sweeps priced Wan's VAE at
    the bf16 peak before this, 1.5x under its fp32 time)."""
    from joulebench.models.video import load_spec
    from joulebench.workloads.diffusion.point import VideoPoint

    wan = video_prediction("wan2.1-t2v-1.3b", 480, 832, 81, 50, gpu="h200")["components"]["vae_decoder"]
    fp32 = video_prediction("wan2.1-t2v-1.3b", 480, 832, 81, 50, gpu="h200", vae_dtype="fp32")["components"][
        "vae_decoder"]
    assert wan["compute"] == "tf32" and wan["latency_s"] == pytest.approx(fp32["latency_s"])
    cog = video_prediction("cogvideox-2b", 480, 720, 49, 50, gpu="h200")["components"]["vae_decoder"]
    assert cog["compute"] == "bf16"
    point = VideoPoint(model="wan2.1-t2v-1.3b", height=480, width=832, frames=81, steps=50, mode="pipeline",
                       device="cpu")
    assert point.resolved_vae_dtype(load_spec("wan2.1-t2v-1.3b")) == "float32"
    assert load_spec("cogvideox-2b").pipeline_vae_dtype("bf16") == "bf16"
