"""Attention costs: standard (MHA/GQA, SDPA or eager) and multi-head latent attention (DeepSeek MLA).

Which kernel runs decides the cost: SDPA's fused kernels (FlashAttention, memory-efficient) stream
K/V once and, in prefill, skip causal blocks above the diagonal (transformers calls SDPA with
``is_causal=True`` when no padding mask is needed); the math fallback and eager attention
materialise the scores and compute every pair (`sdpa_cost_path`, `matmul.causal_pairs`).

MLA as transformers 5.2x runs it (``modeling_deepseek_v2/v3``): the cache holds the compressed
latent (``kv_lora_rank`` + the RoPE key, one "head"); every forward re-expands *all* cached tokens
through ``kv_b_proj`` to per-head keys and values, then runs ordinary attention with q/k head dim
``qk_nope + qk_rope`` and v head dim ``v_head``. The absorbed form (``mla_absorbed=True``, what
serving engines run) folds ``kv_b_proj`` into the query and output: attention runs in the latent
space over the cached latent, read once, like multi-query attention of head dim
``kv_lora_rank + qk_rope``.
"""

from __future__ import annotations

import numpy as np

from joulebench.analytic.arch import LLMArch
from joulebench.analytic.layers import _linear, _norm
from joulebench.analytic.matmul import Executed, causal_pairs
from joulebench.analytic.ops import OpList
from joulebench.analytic.precision import Precision

ArrayLike = np.ndarray | float

K_SDPA = 1
K_TRANSPOSE_COPY = 1
K_KV_UPDATE = 2
K_ROPE_PER_TENSOR = 5


def _executed_pairs(b: ArrayLike, nh: int, q: ArrayLike, k: ArrayLike, pairs: ArrayLike, window: int | None,
                    ex: Executed | None) -> ArrayLike | None:
    """Pairs a fused kernel executes: causal blocks in prefill (q > 1, q == keys), every pair in decode."""
    if ex is None:
        return None
    del k  # prefill attends q == keys; decode (q == 1) executes every pair
    q = np.asarray(q, dtype=float)
    causal = np.asarray(b, dtype=float) * nh * causal_pairs(q, window, ex.attention_block)
    return np.where(q > 1.0, causal, pairs)


def kv_update(ops: OpList, name: str, tokens: ArrayLike, cached: ArrayLike, width: int, prec: Precision,
              cache: str, times: float, window: int | None) -> None:
    """Write ``tokens`` new entries of ``width`` elements (K and V together) into the cache: DynamicCache
    re-concatenates the whole cache of ``cached`` entries (read and write), a static cache writes the new."""
    elems = cached if cache == "dynamic" else tokens
    ops.add(name, "memory", 0.0, 2.0 * elems * width * prec.kv_bytes, K_KV_UPDATE, times=times, window=window)


def _attention(
    ops: OpList,
    arch: LLMArch,
    prec: Precision,
    b: ArrayLike,
    q: ArrayLike,
    k: ArrayLike,
    window: int | None,
    attn_impl: str,
    cache: str,
    times: float,
    suffix: str,
    ex: Executed | None = None,
) -> None:
    """KV update, scores, softmax, values for ``times`` layers sharing one window setting.

    With ``ex`` and the fused path, prefill's executed pairs are the causal (and windowed) blocks."""
    a, kv = prec.activation_bytes, prec.kv_bytes
    nh, nkv, hd = arch.n_heads, arch.n_kv_heads, arch.head_dim
    tokens = b * q
    pairs = b * nh * q * k  # query-key pairs over all heads
    kv_elems = b * nkv * k * hd  # keys (or values) attended, as stored
    if cache == "dynamic":  # torch.cat of the whole cache with the new token(s), for K and for V
        kv_update_bytes = 2.0 * 2.0 * kv_elems * kv
    else:  # static cache: index_copy of the new tokens only
        kv_update_bytes = 2.0 * 2.0 * tokens * nkv * hd * kv
    ops.add(
        "kv_cache_update" + suffix, "memory", 0.0, kv_update_bytes, K_KV_UPDATE, times=times, window=window
    )
    q_bytes = tokens * nh * hd * a
    o_bytes = tokens * nh * hd * a
    mask_bytes = b * q * k  # boolean mask, one byte per pair and sequence
    if attn_impl in ("sdpa", SDPA_REPEAT_KV):
        done = _executed_pairs(b, nh, q, k, pairs, window, ex)
        # SDPA_REPEAT_KV: K and V read as stored and written out for every query head before the fused kernel
        rep = nh // nkv if attn_impl == SDPA_REPEAT_KV else 1
        rep_bytes = 0.0 if rep == 1 else 2.0 * (kv_elems * kv + kv_elems * rep * kv)
        ops.add(
            "attn_scores" + suffix,
            "attention",
            2.0 * pairs * hd,
            q_bytes + kv_elems * rep * kv + mask_bytes + rep_bytes,
            K_SDPA + (0 if rep == 1 else 2),
            counted=True,
            times=times,
            window=window,
            exec_flops=None if done is None else 2.0 * done * hd,
        )
        ops.add("attn_softmax" + suffix, "attention", 5.0 * pairs, 0.0, 0.0, times=times, window=window,
                exec_flops=None if done is None else 5.0 * done)
        ops.add(
            "attn_values" + suffix,
            "attention",
            2.0 * pairs * hd,
            kv_elems * rep * kv + o_bytes + 2.0 * o_bytes,
            K_TRANSPOSE_COPY,
            counted=True,
            times=times,
            window=window,
            exec_flops=None if done is None else 2.0 * done * hd,
        )
        return
    # eager: repeat_kv copies, materialised scores (written and read by every elementwise kernel)
    rep = nh // nkv
    rep_bytes = 0.0 if rep == 1 else 2.0 * (kv_elems * kv + kv_elems * rep * kv)
    rep_kernels = 0 if rep == 1 else 2
    k_read = kv_elems * rep * kv
    ops.add(
        "attn_scores" + suffix,
        "attention",
        2.0 * pairs * hd,
        q_bytes + k_read + pairs * a + rep_bytes,
        1 + rep_kernels,
        counted=True,
        times=times,
        window=window,
    )
    soft_kernels = 1 + 1 + 1 + (1 if a < 4 else 0) + (3 if arch.attn_softcap else 0)  # scale, mask, softmax
    soft_passes = 2 + 3 + (4 + 4 / a) + (2 if a < 4 else 0) + (6 if arch.attn_softcap else 0)
    ops.add(
        "attn_softmax" + suffix,
        "attention",
        (5.0 + (3.0 if arch.attn_softcap else 0.0)) * pairs,
        soft_passes * pairs * a + mask_bytes,
        soft_kernels,
        times=times,
        window=window,
    )
    ops.add(
        "attn_values" + suffix,
        "attention",
        2.0 * pairs * hd,
        pairs * a + k_read + o_bytes + 2.0 * o_bytes,
        1 + K_TRANSPOSE_COPY,
        counted=True,
        times=times,
        window=window,
    )


#: the fused SDPA kernel fed with K/V repeated to every query head (transformers' ``repeat_kv``)
SDPA_REPEAT_KV = "sdpa_repeat_kv"


def sdpa_cost_path(impl: str, arch: LLMArch, prec: Precision, math_fallback: bool = True,
                   masked: bool = False) -> str:
    """Which attention costs torch SDPA really incurs when transformers calls it ("sdpa", "eager" or
    `SDPA_REPEAT_KV`).

    ``masked``: the call passes an explicit attention mask (the static engine's compiled decode always
    does). SDPA's own GQA broadcast (``enable_gqa``) takes no mask on CUDA, so transformers (5.17 and
    5.24, ``integrations/sdpa_attention.py``; 5.24's single-query ``pack_gqa`` is skipped under
    torch.compile) first copies K and V out to every query head with ``repeat_kv``: over the whole
    static cache at every decode step, ``1 + 2 * n_heads / n_kv_heads`` times the cache bytes the
    fused path reads. On the H200 static sweep (2026-12-03) batch-8 decode took ~2x batch 1 a token
    although weights and cache bytes grow by 23%; with the copies counted the bytes grow ~2.6x.

    transformers passes ``enable_gqa=True`` to SDPA when there is no padding mask. FlashAttention is
    the only fused SDPA backend that broadcasts grouped K/V heads, and it takes fp16/bf16 only; with
    fp32 inputs the dispatcher falls back to the math backend, which repeats K/V and materialises the
    scores and softmax in separate kernels: the "eager" costs (pytorch PR 181528 documents the
    fallback; transformers PR 45776 the gating). Refitted on our H100 and H200 fp32 sweeps, the eager
    costs cut held-out prefill latency MAPE from 6.2% to 4.6% / 4.9% and decode energy MAPE from
    18.7% / 18.2% to 14.4% / 13.9% (benchmarks/calibration_ablation.py). Models without GQA keep "sdpa".
    ``math_fallback=False`` keeps the fused costs (what the model did before; kept for the ablation in
    benchmarks/calibration_ablation.py).
    """
    if math_fallback and impl == "sdpa" and prec.activation_bytes >= 4 and arch.n_kv_heads != arch.n_heads:
        return "eager"
    if masked and impl == "sdpa" and arch.n_kv_heads != arch.n_heads and arch.mla is None:
        return SDPA_REPEAT_KV
    return impl


def rope(ops: OpList, tokens: ArrayLike, q_elems_per_token: float, k_elems_per_token: float, rot_dim: int,
         prec: Precision, times: float) -> None:
    """RoPE on queries and keys: 5 eager kernels per tensor, the cos/sin tables read per token."""
    a = prec.activation_bytes
    elems = tokens * (q_elems_per_token + k_elems_per_token)
    ops.add("rope", "elementwise", 3.0 * elems, 9.0 * elems * a + 4.0 * tokens * rot_dim * a,
            2 * K_ROPE_PER_TENSOR, times=times)


def mla_attention(ops: OpList, arch: LLMArch, prec: Precision, b: ArrayLike, q: ArrayLike, k: ArrayLike,
                  attn_impl: str, cache: str, times: float, absorbed: bool = False,
                  ex: Executed | None = None) -> None:
    """One MLA block (projections to ``o_proj``) for ``times`` layers; module docstring for the two forms."""
    assert arch.mla is not None
    m, h, nh = arch.mla, arch.hidden, arch.n_heads
    a, kvb, wb = prec.activation_bytes, prec.kv_bytes, prec.weight_bytes
    tokens = b * q
    cached = b * k  # latent entries attended per layer (all sequences)
    if m.q_lora_rank is None:
        _linear(ops, "q_proj", tokens, h, nh * m.qk_head, prec, False, times, ex=ex)
    else:
        _linear(ops, "q_a_proj", tokens, h, m.q_lora_rank, prec, arch.qkv_bias, times, ex=ex)
        _norm(ops, "q_a_layernorm", arch, tokens * m.q_lora_rank, m.q_lora_rank, prec, times)
        _linear(ops, "q_b_proj", tokens, m.q_lora_rank, nh * m.qk_head, prec, False, times, ex=ex)
    _linear(ops, "kv_a_proj_with_mqa", tokens, h, m.latent, prec, arch.qkv_bias, times, ex=ex)
    _norm(ops, "kv_a_layernorm", arch, tokens * m.kv_lora_rank, m.kv_lora_rank, prec, times)
    rope(ops, tokens, nh * m.qk_rope, m.qk_rope, m.qk_rope, prec, times)
    kv_update(ops, "kv_cache_update", tokens, cached, m.latent, prec, cache, times, None)
    pairs = b * nh * q * k
    done = _executed_pairs(b, nh, q, k, pairs, None, ex) if attn_impl == "sdpa" else None
    mask_bytes = b * q * k
    if absorbed:
        ops.add("mla_q_absorb", "matmul", 2.0 * tokens * nh * m.qk_nope * m.kv_lora_rank,
                nh * m.qk_nope * m.kv_lora_rank * wb + tokens * nh * (m.qk_nope + m.kv_lora_rank) * a,
                1, counted=True, times=times)
        scale = 1.0 if done is None else done / np.maximum(pairs, 1e-300)
        ops.add("attn_scores", "attention", 2.0 * pairs * m.latent,
                tokens * nh * m.latent * a + cached * m.latent * kvb + mask_bytes, K_SDPA, counted=True,
                times=times, exec_flops=None if done is None else 2.0 * pairs * m.latent * scale)
        ops.add("attn_softmax", "attention", 5.0 * pairs, 0.0, 0.0, times=times)
        ops.add("attn_values", "attention", 2.0 * pairs * m.kv_lora_rank, 3.0 * tokens * nh * m.kv_lora_rank * a,
                K_TRANSPOSE_COPY, counted=True, times=times,
                exec_flops=None if done is None else 2.0 * pairs * m.kv_lora_rank * scale)
        ops.add("mla_out_absorb", "matmul", 2.0 * tokens * nh * m.kv_lora_rank * m.v_head,
                nh * m.kv_lora_rank * m.v_head * wb + tokens * nh * (m.kv_lora_rank + m.v_head) * a,
                1, counted=True, times=times)
    else:
        ops.add("mla_query_cat", "memory", 0.0, 2.0 * tokens * nh * m.qk_head * a, 1, times=times)
        # every forward re-expands all cached latents (keys depend on k: no tile model, keeps decode affine)
        _linear(ops, "kv_b_proj", cached, m.kv_lora_rank, nh * (m.qk_nope + m.v_head), prec, False, times)
        ops.add("mla_key_assembly", "memory", 0.0, 2.0 * cached * nh * m.qk_head * a, 3, times=times)
        k_bytes, v_bytes = cached * nh * m.qk_head * a, cached * nh * m.v_head * a
        o_bytes = tokens * nh * m.v_head * a
        eager = attn_impl != "sdpa"
        ops.add("attn_scores", "attention", 2.0 * pairs * m.qk_head,
                tokens * nh * m.qk_head * a + k_bytes + mask_bytes + (pairs * a if eager else 0.0),
                K_SDPA + (1 if eager else 0), counted=True, times=times,
                exec_flops=None if done is None else 2.0 * done * m.qk_head)
        ops.add("attn_softmax", "attention", 5.0 * pairs, (8.0 * pairs * a + mask_bytes) if eager else 0.0,
                4.0 if eager else 0.0, times=times, exec_flops=None if done is None else 5.0 * done)
        ops.add("attn_values", "attention", 2.0 * pairs * m.v_head,
                v_bytes + 3.0 * o_bytes + (pairs * a if eager else 0.0), K_TRANSPOSE_COPY, counted=True,
                times=times, exec_flops=None if done is None else 2.0 * done * m.v_head)
    _linear(ops, "o_proj", tokens, nh * m.v_head, h, prec, arch.o_bias, times, ex=ex)
