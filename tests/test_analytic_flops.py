"""Analytic FLOPs against torch's FlopCounterMode on meta-device models (no weights, no GPU).

FlopCounterMode counts matmul-like ops only (mm/addmm/bmm, SDPA, convolutions), so the comparison
uses the analytic ops flagged ``counted`` - like with like. Configs keep their real widths and are
shrunk to 2 layers (FLOPs are additive over identical layers, so the comparison stays exact);
Gemma configs keep a sliding and a global layer. Tolerance: 1%. The video models' checks are in
test_video_flops.py.
"""

from __future__ import annotations

import pytest

from joulebench.analytic import flopcheck
from joulebench.analytic.llm import arch_from_config
from joulebench.analytic.ops import counted_flops
from joulebench.analytic.precision import precision_for
from joulebench.analytic.predict import decode_step_ops, prefill_ops
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
