"""LLM op model: hand-computed FLOPs/bytes/bounds, decode closed form vs step-by-step, contracts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from joulebench.analytic.llm import arch_from_config, sdpa_cost_path
from joulebench.analytic.params import ModelParams
from joulebench.analytic.precision import precision_for
from joulebench.analytic.predict import (
    ceilings,
    decode_step_ops,
    llm_features,
    predict_llm,
    predict_llm_grid,
    prefill_ops,
)
from joulebench.analytic.roofline import op_time
from joulebench.errors import UsageError
from joulebench.hardware import get_accelerator
from joulebench.models.configs import resolve


def arch(name: str):
    return arch_from_config(resolve(name).config, name)


def by_name(ops):
    return {op.name: op for op in ops}


LLAMA = arch("llama-3.1-8b")
BF16 = precision_for("bf16")
H100 = get_accelerator("h100-sxm")
NO_LAUNCH = ModelParams(mu_compute=1.0, mu_memory=1.0, t_launch_s=0.0)


def test_parameter_count_llama_8b():
    assert LLAMA.n_params() == pytest.approx(8.03e9, rel=2e-3)


def test_q_proj_decode_flops_and_bytes_by_hand():
    op = by_name(decode_step_ops(LLAMA, BF16, 100.0, 1.0))["q_proj"]
    per_layer_flops = 2 * 1 * 4096 * 4096
    per_layer_bytes = 4096 * 4096 * 2 + 1 * (4096 + 4096) * 2  # weights + input + output, bf16
    assert float(op.flops) == 32 * per_layer_flops
    assert float(op.bytes) == 32 * per_layer_bytes
    assert op.n_kernels == 32


def test_bounds_decode_memory_prefill_compute():
    ceil = ceilings(H100, BF16)
    dec = by_name(decode_step_ops(LLAMA, BF16, 100.0, 1.0))["q_proj"]
    pre = by_name(prefill_ops(LLAMA, BF16, 2048.0, 1.0))["q_proj"]
    # decode: intensity ~1 FLOP/B << ridge 989.5/3.35 = 295 -> memory-bound
    assert op_time(dec.flops, dec.bytes, dec.n_kernels, ceil, NO_LAUNCH).bound().item() == "memory"
    # prefill of 2048 tokens: F/D = 2*2048*4096^2 / (2*4096^2 + 2048*8192*2) = 1024 > 295 -> compute-bound
    assert float(pre.flops / pre.bytes) == pytest.approx(1024.0)
    assert op_time(pre.flops, pre.bytes, pre.n_kernels, ceil, NO_LAUNCH).bound().item() == "compute"


def test_lm_head_last_position_only_in_prefill():
    head = by_name(prefill_ops(LLAMA, BF16, 1000.0, 3.0))["lm_head"]
    assert float(head.flops) == 2 * 3 * 4096 * 128256


def test_dynamic_kv_cache_rewrites_whole_cache():
    kv = by_name(decode_step_ops(LLAMA, BF16, 1000.0, 1.0))["kv_cache_update"]
    # torch.cat for K and V: read 999 old + 1 new and write 1000, 8 kv heads x 128, bf16, 32 layers
    assert float(kv.bytes) == 32 * 2 * 2 * 1000 * 8 * 128 * 2
    static = by_name(decode_step_ops(LLAMA, BF16, 1000.0, 1.0, cache="static"))["kv_cache_update"]
    assert float(static.bytes) == 32 * 2 * 2 * 1 * 8 * 128 * 2


def test_precision_byte_widths():
    int4 = precision_for("int4")
    assert int4.weight_bytes == pytest.approx(0.5 + 2 / 64)  # NF4 blocks of 64, 16-bit scales
    assert int4.activation_bytes == 2 and int4.compute == "bf16"
    fp8kv = precision_for("bf16", kv_dtype="fp8")
    assert fp8kv.kv_bytes == 1 and fp8kv.weight_bytes == 2
    assert precision_for("fp32").compute == "fp32"
    assert precision_for("fp32", tf32=True).compute == "tf32"
    with pytest.raises(UsageError, match="dtype"):
        precision_for("fp12")


def test_moe_decode_reads_only_touched_experts():
    mix = arch("mixtral-8x7b")
    up = by_name(decode_step_ops(mix, BF16, 10.0, 1.0))["experts_gate_up"]
    # one token, top-2 of 8: exactly 2 experts touched, each 4096 x 2*14336 bf16, 32 layers
    weights = 32 * 2 * 4096 * 2 * 14336 * 2
    assert float(up.bytes) == pytest.approx(weights + 32 * 2 * (4096 + 2 * 14336) * 2)


@pytest.mark.parametrize(
    "model, s, g, b, overlap",
    [
        ("llama-3.1-8b", 37, 50, 1, "sum"),
        ("gemma-2-9b", 4080, 40, 2, "max"),
        ("qwen2.5-0.5b", 5, 9, 3, "max"),
        ("gemma-3-1b", 500, 30, 1, "sum"),
    ],
)
def test_decode_closed_form_equals_step_by_step(model, s, g, b, overlap):
    a = arch(model)
    params = ModelParams(
        t_launch_s=7e-6, launch_overlap=overlap, p_idle_w=100, p_compute_w=500, p_memory_w=300, p_launch_w=30
    )
    pred = predict_llm(a, H100, params, BF16, s, g, b)
    ceil = ceilings(H100, BF16)
    brute = 0.0
    for t in range(1, g):
        keys = s + t
        for op in decode_step_ops(a, BF16, float(keys), float(b)):
            kk = keys if op.window is None else min(keys, op.window)
            op_k = op if kk == keys else by_name_window(decode_step_ops(a, BF16, float(kk), float(b)), op)
            brute += float(op_time(op_k.flops, op_k.bytes, op_k.n_kernels, ceil, params).latency_s)
    assert pred.decode.latency_s == pytest.approx(brute, rel=1e-9)
    assert pred.decode.steps == g - 1


def by_name_window(ops, like):
    return next(o for o in ops if o.name == like.name and o.window == like.window)


def test_prefill_makes_token_one():
    p1 = predict_llm(LLAMA, H100, ModelParams(), BF16, 100, 1, 1)
    assert p1.decode.steps == 0 and p1.decode.latency_s == 0.0 and p1.decode.flops == 0.0
    p2 = predict_llm(LLAMA, H100, ModelParams(), BF16, 100, 2, 1)
    one = by_name(decode_step_ops(LLAMA, BF16, 101.0, 1.0))  # one step over a cache of S, plus itself
    assert p2.decode.flops == pytest.approx(sum(float(o.flops) for o in one.values()))


def test_context_beyond_max_positions_names_the_constraint():
    with pytest.raises(UsageError, match="max_position_embeddings"):
        predict_llm(arch("phi-3-mini-4k"), H100, ModelParams(), BF16, 4000, 200, 1)


def test_grid_matches_single_predictions():
    params = ModelParams.defaults_for(H100, "bf16")
    s = np.array([10, 500, 3000])
    g = np.array([1, 64, 300])
    b = np.array([1, 4, 16])
    grid = predict_llm_grid(LLAMA, H100, params, BF16, s, g, b)
    for i in range(3):
        one = predict_llm(LLAMA, H100, params, BF16, int(s[i]), int(g[i]), int(b[i]))
        assert grid["request_latency_s"][i] == pytest.approx(one.latency_s, rel=1e-12)
        assert grid["request_energy_j"][i] == pytest.approx(one.energy_j, rel=1e-12)


def test_features_reproduce_latency():
    params = ModelParams.defaults_for(H100, "bf16")
    s, g, b = np.array([300, 1200]), np.array([20, 256]), np.array([1, 8])
    feats = llm_features(LLAMA, H100, BF16, s, g, b, params=params)
    grid = predict_llm_grid(LLAMA, H100, params, BF16, s, g, b)
    for phase in ("prefill", "decode"):
        f = feats[phase]
        rebuilt = (
            f.compute_bound_s / params.mu_compute
            + f.memory_bound_s / params.mu_memory
            + f.n_kernels * params.t_launch_s
        )
        np.testing.assert_allclose(rebuilt, grid[f"{phase}_latency_s"], rtol=1e-12)


def test_launch_term_dominates_eager_decode_and_vanishes_with_graphs():
    h200 = get_accelerator("h200")
    params = ModelParams.defaults_for(h200, "bf16")
    eager = predict_llm(LLAMA, h200, params, BF16, 128, 65, 1)
    graphs = predict_llm(LLAMA, h200, params, BF16, 128, 65, 1, graphs=True)
    per_token_eager = eager.decode.latency_s / 64
    per_token_graphs = graphs.decode.latency_s / 64
    # 16 GB of bf16 weights at 0.8 x 4.8 TB/s ~ 4.2 ms; eager transformers measured ~21 ms (DESIGN.md)
    assert 3.5e-3 < per_token_graphs < 5e-3
    assert per_token_eager > 3 * per_token_graphs
    assert graphs.decode.launch_s == 0.0


def test_unknown_family_lists_supported():
    with pytest.raises(UsageError, match="llama"):
        arch_from_config(
            {
                "model_type": "bert",
                "hidden_size": 8,
                "num_attention_heads": 1,
                "num_hidden_layers": 1,
                "vocab_size": 10,
            },
            "bert",
        )


def test_work_energy_is_idle_plus_work_and_grid_matches_single():
    params = ModelParams(mu_compute=0.7, mu_memory=0.8, t_launch_s=15e-6, p_idle_w=120.0, energy_per_flop_pj=0.9,
                         energy_per_byte_pj=125.0, energy_per_kernel_uj=80.0)
    one = predict_llm(LLAMA, H100, params, BF16, 700, 40, 2)
    for phase in (one.prefill, one.decode):
        by_hand = (120.0 * phase.latency_s + phase.flops * 0.9e-12 + phase.bytes * 125e-12
                   + phase.n_kernels * 80e-6)
        assert phase.energy_j == pytest.approx(by_hand, rel=1e-12)
    grid = predict_llm_grid(LLAMA, H100, params, BF16, [700], [40], [2])
    assert grid["prefill_energy_j"][0] == pytest.approx(one.prefill.energy_j, rel=1e-12)
    assert grid["decode_energy_j"][0] == pytest.approx(one.decode.energy_j, rel=1e-12)


def test_fp32_sdpa_with_gqa_costs_the_math_path():
    """fp32 has no fused SDPA kernel that broadcasts grouped K/V: K/V are repeated and scores materialised."""
    fp32 = precision_for("float32")
    sdpa = by_name(decode_step_ops(LLAMA, fp32, 2048.0, 8.0, attn_impl="sdpa"))
    eager = by_name(decode_step_ops(LLAMA, fp32, 2048.0, 8.0, attn_impl="eager"))
    assert sdpa["attn_scores"].bytes == eager["attn_scores"].bytes
    bf16_sdpa = by_name(decode_step_ops(LLAMA, BF16, 2048.0, 8.0, attn_impl="sdpa"))
    bf16_eager = by_name(decode_step_ops(LLAMA, BF16, 2048.0, 8.0, attn_impl="eager"))
    assert bf16_sdpa["attn_scores"].bytes < bf16_eager["attn_scores"].bytes  # flash reads K/V once
    mha = replace(LLAMA, n_kv_heads=LLAMA.n_heads)  # without GQA the fused fp32 kernel is kept
    assert by_name(decode_step_ops(mha, fp32, 64.0, 1.0, attn_impl="sdpa"))["attn_scores"].n_kernels == \
        by_name(decode_step_ops(mha, BF16, 64.0, 1.0, attn_impl="sdpa"))["attn_scores"].n_kernels
    assert sdpa_cost_path("sdpa", mha, fp32) == "sdpa" and sdpa_cost_path("sdpa", LLAMA, fp32) == "eager"
