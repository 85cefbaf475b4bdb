"""Cost model v2: tile and wave quantization, causal attention, continuous energy, engines, MLA, generic path."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from joulebench.analytic.engines import get_engine
from joulebench.analytic.families import arch_from_config
from joulebench.analytic.matmul import TILES, Executed, causal_pairs, gemm_exec_flops
from joulebench.analytic.ops import counted_flops
from joulebench.analytic.params import LATEST_COST_MODEL, ModelParams
from joulebench.analytic.precision import precision_for
from joulebench.analytic.predict import decode_step_ops, predict_llm, predict_llm_grid, prefill_ops
from joulebench.errors import UsageError
from joulebench.hardware import get_accelerator
from joulebench.models.configs import resolve

H100 = get_accelerator("h100-sxm")
H200 = get_accelerator("h200")
BF16, FP32 = precision_for("bf16"), precision_for("fp32")


def arch(name: str):
    return arch_from_config(resolve(name).config, name)


def v2(acc, dtype: str = "bf16") -> ModelParams:
    return ModelParams.defaults_for(acc, dtype, cost_model=LATEST_COST_MODEL)


def by_name(ops):
    return {op.name: op for op in ops}


def test_gemm_tiles_and_waves_by_hand():
    ex = Executed(TILES["bf16"], 132)
    # M = 1200 -> 10 row tiles of 128 (1280 rows); N = 4096 -> 32 column tiles; 320 tiles in 3 waves of 132
    got = float(gemm_exec_flops(1200, 4096, 4096, ex))
    assert got == pytest.approx(2 * 1280 * 4096 * 4096 / (320 / 396))
    # 1024 rows: 256 tiles in 2 waves of 132 -> 97% of the slots used
    assert float(gemm_exec_flops(1024, 4096, 4096, ex)) == pytest.approx(2 * 1024 * 4096 * 4096 / (256 / 264))
    # a skinny decode GEMM: 16-row tile, fewer tiles than SMs -> split-K fills the machine, no wave loss
    assert float(gemm_exec_flops(1, 4096, 4096, ex)) == pytest.approx(2 * 16 * 4096 * 4096)
    # unknown SM count (CPU): padding only
    assert float(gemm_exec_flops(1200, 4096, 4096, Executed(TILES["bf16"], None))) == 2 * 1280 * 4096 * 4096


def test_causal_blocks_by_hand():
    assert float(causal_pairs(1024, None, 128)) == 8 * 9 / 2 * 128 * 128
    # a 256-token window reaches 3 key blocks: 1 + 2 + 3 + 3*5 blocks over 8 query blocks
    assert float(causal_pairs(1024, 256, 128)) == (1 + 2 + 3 + 3 * 5) * 128 * 128


def test_flash_prefill_executes_the_causal_half_and_math_path_everything():
    llama = arch("llama-3.1-8b")
    ex = Executed.for_compute("bf16", 132)
    s = 8192.0
    scores = by_name(prefill_ops(llama, BF16, s, 1.0, executed=ex))["attn_scores"]
    assert float(scores.exec_flops) / float(scores.flops) == pytest.approx(0.5, rel=0.02)  # 64 x 65 / 2 of 64^2
    math_path = by_name(prefill_ops(llama, FP32, s, 1.0, executed=Executed.for_compute("fp32", 132)))["attn_scores"]
    assert float(math_path.time_flops) == float(math_path.flops)  # fp32 + GQA: the math fallback masks after
    dec = by_name(decode_step_ops(llama, BF16, 300.0, 1.0, executed=ex))["attn_scores"]
    assert float(dec.exec_flops) == float(dec.flops)  # one query attends every key


def test_unaligned_prompt_costs_more_per_token_in_v2_only():
    llama = arch("llama-3.1-8b")
    for cost_model, more in (("v1", False), ("v2", True)):
        params = ModelParams.defaults_for(H100, "fp32", cost_model=cost_model)
        out = predict_llm_grid(llama, H100, params, FP32, [1024, 1200], 1, 1)
        per_token = out["prefill_latency_s"] / np.array([1024, 1200])
        assert bool(per_token[1] > per_token[0] * 1.05) is more, cost_model


def test_counted_flops_do_not_depend_on_the_cost_model():
    llama = arch("llama-3.1-8b")
    a = predict_llm(llama, H200, ModelParams.defaults_for(H200), BF16, 1200, 64, 2)
    b = predict_llm(llama, H200, v2(H200), BF16, 1200, 64, 2)
    assert a.prefill.flops == b.prefill.flops and a.decode.flops == b.decode.flops
    assert b.prefill.executed_flops != b.prefill.flops


def test_continuous_energy_has_no_jump_at_the_bound_switch():
    """Prompts of 257..384 tokens keep every GEMM's tiles and waves (3 row tiles of 128) while the linears
    cross the ridge (~258 tokens in bf16 on an H100): v1's bound energy jumps there (+15% for one token,
    the +29% of issue 11 at other shapes), the continuous model moves no more than the latency does."""
    llama = arch("llama-3.1-8b")
    s = np.arange(257, 385, dtype=float)
    step = {}
    for cost_model in ("v1", "v2"):
        params = ModelParams.defaults_for(H100, "bf16", cost_model=cost_model)
        out = predict_llm_grid(llama, H100, params, BF16, s, 1, 1)
        e, t = out["prefill_energy_j"], out["prefill_latency_s"]
        step[cost_model] = (float(np.max(np.abs(np.diff(e) / e[:-1]))), float(np.max(np.abs(np.diff(t) / t[:-1]))))
    assert step["v1"][0] > 0.1 and step["v1"][1] < 0.005  # latency continuous, energy jumps
    assert step["v2"][0] < 0.005 and step["v2"][1] < 0.005


def test_continuous_energy_matches_bound_deep_in_each_regime():
    from joulebench.analytic.roofline import Ceilings, energy_j, op_time

    ceil = Ceilings(1e12, 1e9)
    bound = ModelParams(mu_compute=1.0, mu_memory=1.0, t_launch_s=0.0, p_idle_w=100, p_compute_w=500, p_memory_w=300)
    cont = replace(bound, cost_model="v2")
    for flops, bytes_ in ((1e12, 1.0), (1.0, 1e9)):  # compute-bound, memory-bound
        t = op_time(flops, bytes_, 0, ceil, bound)
        assert float(energy_j(t, cont)) == pytest.approx(float(energy_j(t, bound)), rel=1e-6)


def test_static_engine_decode_attends_the_whole_cache_without_launches():
    llama = arch("llama-3.1-8b")
    params = v2(H200)
    eager = predict_llm(llama, H200, params, BF16, 128, 65, 1)
    static = predict_llm(llama, H200, params, BF16, 128, 65, 1, engine="static")
    longer = predict_llm(llama, H200, params, BF16, 128, 65, 1, engine="static", static_cache_len=8192)
    assert static.engine == "static"
    assert static.decode.latency_s < eager.decode.latency_s / 3  # no launch term for the replayed graph
    launch_ops = {o.name for o in static.decode.ops if o.launch_s > 0}
    assert launch_ops == {"sampling"}  # the generate loop's own kernels stay eager
    assert longer.decode.latency_s > static.decode.latency_s  # attention over 8192 keys every step
    scores = next(o for o in longer.decode.ops if o.name == "attn_scores")
    assert scores.flops == pytest.approx(64 * 32 * 2 * 32 * 8192 * 128)  # 64 steps x 32 layers x 2*heads*keys*hd
    assert static.prefill.launch_s > 0  # generate runs the prefill eagerly


def test_static_decode_repeats_grouped_kv_before_masked_sdpa():
    """The static engine's compiled decode passes SDPA a mask, so transformers copies K/V out to every
    query head first: per layer, read the cache once, write it ``rep`` times, and SDPA reads the copies
    (scores and values) instead of the grouped cache. Heads without grouping (or MLA) are unchanged."""
    llama = arch("llama-3.1-8b")
    keys, b = 4096.0, 8.0
    plain = by_name(decode_step_ops(llama, BF16, keys, b))
    masked = by_name(decode_step_ops(llama, BF16, keys, b, sdpa_masked=True))
    rep = llama.n_heads // llama.n_kv_heads
    kv = b * llama.n_kv_heads * keys * llama.head_dim * BF16.kv_bytes  # K (or V) bytes as stored, one layer
    extra_per_layer = 2.0 * (kv + rep * kv) + 2.0 * (rep - 1) * kv
    def attn_bytes(ops):
        return ops["attn_scores"].bytes + ops["attn_values"].bytes

    got = attn_bytes(masked) - attn_bytes(plain)
    assert rep == 4
    assert got == pytest.approx(llama.n_layers * extra_per_layer)
    assert masked["attn_scores"].flops == plain["attn_scores"].flops  # the copies add bytes, not FLOPs
    static = predict_llm(llama, H200, v2(H200), BF16, 1200, 64, 8, engine="static")
    eager = predict_llm(llama, H200, v2(H200), BF16, 1200, 64, 8, engine="eager")
    assert get_engine("static").decode_masked_sdpa and not get_engine("eager").decode_masked_sdpa
    s_scores = by_name(static.decode.ops)["attn_scores"]
    e_scores = by_name(eager.decode.ops)["attn_scores"]
    assert s_scores.bytes > e_scores.bytes * rep  # full static length and the copies
    mha = arch("qwen2.5-0.5b")
    mha = replace(mha, n_kv_heads=mha.n_heads)
    same = [by_name(decode_step_ops(mha, BF16, keys, b, sdpa_masked=m))["attn_scores"].bytes for m in (False, True)]
    assert same[0] == same[1]


def test_engines_registry_and_aliases():
    assert get_engine("transformers-eager").name == "eager"
    assert get_engine(None).name == "eager"
    assert get_engine("static").decode_full_cache
    with pytest.raises(UsageError, match="engine"):
        get_engine("vllm")


def test_mla_as_transformers_runs_it_and_absorbed():
    ds = arch("deepseek-v2-lite")
    keys = 8192.0
    hf = by_name(decode_step_ops(ds, BF16, keys, 1.0))
    ab = by_name(decode_step_ops(ds, BF16, keys, 1.0, mla_absorbed=True))
    assert "kv_b_proj" in hf and "kv_b_proj" not in ab  # transformers re-expands every cached latent
    # the cache holds the latent: 512 + 64 elements per token and layer, in both forms
    assert float(hf["kv_cache_update"].bytes) == pytest.approx(27 * 2 * keys * 576 * 2)
    assert float(counted_flops(ab.values())) < float(counted_flops(hf.values())) / 2
    assert sum(float(o.bytes) for o in ab.values()) < sum(float(o.bytes) for o in hf.values())


def test_generic_path_reads_an_unknown_decoder_approximately():
    cfg = dict(resolve("llama-3.1-8b").config, model_type="my_llama", architectures=["MyLlamaForCausalLM"])
    generic = arch_from_config(cfg, "mine")
    assert generic.approximate and generic.family == "generic:my_llama"
    llama = arch("llama-3.1-8b")
    assert float(counted_flops(prefill_ops(generic, BF16, 100.0, 1.0))) == pytest.approx(
        float(counted_flops(prefill_ops(llama, BF16, 100.0, 1.0))))
    with pytest.raises(UsageError, match="supported"):  # not a causal LM: refused
        arch_from_config(dict(cfg, architectures=["MyLlamaModel"]), "mine")


@pytest.mark.parametrize(("model", "billions"), [("qwen3-30b-a3b", 30.5), ("olmo-2-1124-7b", 7.3),
                                                 ("deepseek-v2-lite", 15.7), ("deepseek-v3", 671.0)])
def test_new_family_parameter_counts(model, billions):
    assert arch(model).n_params() == pytest.approx(billions * 1e9, rel=0.01)


def test_bytes_per_weight_of_the_quantization_libraries():
    assert precision_for("bnb-nf4").weight_bytes == pytest.approx(0.5625)  # fp32 absmax per 64
    assert precision_for("torchao-int4").weight_bytes == pytest.approx(0.5 + 4 / 128)
    assert precision_for("bnb-int8").weight_bytes == pytest.approx(1.0)
    llama = arch("llama-3.1-8b")
    nf4 = predict_llm(llama, H200, v2(H200), precision_for("bnb-nf4"), 128, 65, 1, graphs=True)
    bf16 = predict_llm(llama, H200, v2(H200), BF16, 128, 65, 1, graphs=True)
    assert nf4.decode.bytes < 0.4 * bf16.decode.bytes
