"""Analytic FLOPs against torch's FlopCounterMode on meta-device models (no weights, no GPU).

FlopCounterMode counts matmul-like ops only (mm/addmm/bmm, SDPA, convolutions), so the comparison
uses the analytic ops flagged ``counted`` - like with like. Configs keep their real widths and are
shrunk to 2 layers (FLOPs are additive over identical layers, so the comparison stays exact);
Gemma configs keep a sliding and a global layer. Tolerance: 1%.
"""

from __future__ import annotations

import pytest

from joulebench.analytic import flopcheck
from joulebench.analytic.llm import arch_from_config
from joulebench.analytic.ops import counted_flops
from joulebench.analytic.precision import precision_for
from joulebench.analytic.predict import decode_step_ops, prefill_ops
from joulebench.analytic.video import (
    Latent,
    cogvideox_dit_ops,
    t5_encoder_ops,
    wan_dit_ops,
    wan_vae_decoder_ops,
)
from joulebench.models.configs import resolve

pytest.importorskip("transformers")
BF16 = precision_for("bf16")
TOL = 0.01


@pytest.mark.parametrize(
    "model",
    [
        "llama-3.1-8b",
        "qwen2.5-0.5b",
        "mistral-7b-v0.3",
        "mixtral-8x7b",
        "gemma-2-9b",
        "gemma-3-1b",
        "phi-3-mini-4k",
        "qwen1.5-moe-a2.7b",
        "qwen3-30b-a3b",
        "olmo-2-1124-7b",
        "deepseek-v2-lite",
        "deepseek-v3",
    ],
)
def test_llm_prefill_and_decode_step(model):
    cfg = flopcheck.shrink_llm_config(resolve(model).config, 2)
    s, b = 12, 2
    ref = flopcheck.count_llm_flops(cfg, s, b)
    arch = arch_from_config(cfg, model)
    pre = float(counted_flops(prefill_ops(arch, BF16, float(s), float(b))))
    dec = float(counted_flops(decode_step_ops(arch, BF16, float(s + 1), float(b))))
    assert pre == pytest.approx(ref["prefill"], rel=TOL)
    assert dec == pytest.approx(ref["decode_step"], rel=TOL)


def test_flop_check_can_fail():
    """Guard: a wrong config (3 layers modelled, 2 counted) must be far outside the tolerance."""
    cfg = flopcheck.shrink_llm_config(resolve("qwen2.5-0.5b").config, 2)
    ref = flopcheck.count_llm_flops(cfg, 8, 1)
    wrong = arch_from_config(flopcheck.shrink_llm_config(cfg, 3), "wrong")
    assert float(counted_flops(prefill_ops(wrong, BF16, 8.0, 1.0))) > ref["prefill"] * (1 + 10 * TOL)


pytest.importorskip("diffusers")


@pytest.mark.parametrize(
    "model, builder",
    [
        ("wan2.1-t2v-1.3b", wan_dit_ops),
        ("wan2.1-t2v-14b", wan_dit_ops),
        ("cogvideox-2b", cogvideox_dit_ops),
        ("cogvideox-5b", cogvideox_dit_ops),
    ],
)
def test_dit_forward(model, builder):
    cfg = resolve(model, "video").config
    t = dict(cfg["transformer"], num_layers=2)
    frames, height, width = 3, 8, 12
    text = t.get("max_text_seq_length", 24)  # CogVideoX's positional table fixes the text length
    ref = flopcheck.count_dit_flops(t, frames, height, width, text, 4096)
    lat = Latent(frames, height, width, 16, frames * (height // 2) * (width // 2))
    assert float(counted_flops(builder(t, lat, text, BF16))) == pytest.approx(ref, rel=TOL)


def test_wan_vae_decoder_layer_by_layer():
    vae = resolve("wan2.1-t2v-1.3b", "video").config["vae"]
    ref = flopcheck.count_wan_vae_decode_flops(vae, 3, 4, 6)
    ours = float(counted_flops(wan_vae_decoder_ops(vae, Latent(3, 4, 6, 16, 0), BF16)))
    assert ours == pytest.approx(ref, rel=TOL)


@pytest.mark.parametrize("model", ["wan2.1-t2v-1.3b", "cogvideox-2b"])
def test_text_encoder(model):
    te = resolve(model, "video").config["text_encoder"]
    ref = flopcheck.count_t5_encoder_flops(te, 32, n_layers=2)
    ours = float(counted_flops(t5_encoder_ops(dict(te, num_layers=2), 32, BF16)))
    assert ours == pytest.approx(ref, rel=TOL)
