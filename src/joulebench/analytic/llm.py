"""Operation model of decoder-only LLMs, read from a Hugging Face ``config.json``.

Families are a registry (``analytic.families.FAMILIES``, keyed by ``model_type``): adding one is one
parser function. Op builders live in ``analytic.layers`` (norms, linears, MLP, MoE) and
``analytic.attention`` (attention, MLA); this module assembles one forward. The op list mirrors
what eager ``transformers`` 5.x executes for one forward, per layer:

    input norm, q/k/v projections (fused for Phi-3), q/k norms (Gemma 3), RoPE, KV-cache update,
    attention scores, softmax, attention values, output projection, residual add,
    post-attention norm (and the extra Gemma 2/3 norms), gate/up projections, activation,
    gate*up product, down projection (or router + experts + shared expert for MoE), residual add;

and per forward: embedding lookup, mask and RoPE tables, final norm, LM head (last position only
in prefill, as ``generate`` asks for ``logits_to_keep=1``), logit soft-capping (Gemma 2) and the
sampling / bookkeeping of one ``generate`` step.

Conventions (stated in the JSON as ``attention_flops_convention``):

* Attention FLOPs (``flops``) are **dense**: scores and values over all ``q x k`` pairs, which is what
  ``FlopCounterMode`` counts and what eager attention and SDPA's math path compute. The causal
  kernels SDPA dispatches to in 16-bit skip the blocks above the diagonal: that is ``exec_flops``
  (``analytic.matmul``), which prices time in cost model v2 (pass ``executed=``).
* A matmul of ``m x n x p`` is ``2mnp`` FLOPs; bias adds are folded into the GEMM and not counted.
* Bytes are the HBM traffic of the eager kernels: weights once per forward, activations read and
  written by each kernel (an RMSNorm in eager PyTorch is 6-8 kernels, so its bytes are a multiple
  of the hidden state), the KV cache as stored (``DynamicCache`` re-concatenates the whole cache
  every step: read and write of all ``k`` keys and values).
* ``n_kernels`` are estimates of eager launches read off the transformers 5.x code (e.g. RMSNorm:
  pow, mean, add, rsqrt, mul, weight mul, plus two casts below fp32; RoPE: 5 per tensor;
  SDPA: 1 plus the transpose copy). They feed the launch term, whose constant is calibrated.
"""

from __future__ import annotations

import numpy as np

from joulebench.analytic.arch import MLA, LLMArch, MoE
from joulebench.analytic.attention import _attention, mla_attention, rope, sdpa_cost_path
from joulebench.analytic.families import FAMILIES, arch_from_config, generic_arch
from joulebench.analytic.layers import K_RMSNORM, _eltwise, _linear, _mlp, _moe, _norm
from joulebench.analytic.matmul import Executed
from joulebench.analytic.ops import Op, OpList
from joulebench.analytic.precision import Precision
from joulebench.errors import UsageError

ArrayLike = np.ndarray | float

ATTN_IMPLS = ("sdpa", "eager")
CACHE_KINDS = ("dynamic", "static")

# Kernel-count estimates (eager launches) of the per-forward ops, documented in the docstring.
K_ROPE_TABLES = 9
K_MASK = 8
K_SAMPLING = 16

__all__ = [
    "ATTN_IMPLS", "CACHE_KINDS", "FAMILIES", "MLA", "LLMArch", "MoE", "_linear", "arch_from_config", "forward_ops",
    "generic_arch", "sdpa_cost_path",
]


def forward_ops(
    arch: LLMArch,
    prec: Precision,
    batch: ArrayLike,
    q: ArrayLike,
    keys: ArrayLike,
    *,
    head_tokens: ArrayLike,
    attn_impl: str | None = None,
    cache: str = "dynamic",
    sampling: bool = True,
    sdpa_math_fallback: bool = True,
    sdpa_masked: bool = False,
    executed: Executed | None = None,
    mla_absorbed: bool = False,
) -> list[Op]:
    """All ops of one forward over ``q`` new tokens per sequence attending to ``keys`` keys.

    ``head_tokens`` is the number of positions whose logits are computed (``batch`` in generate).
    Every quantity is affine in ``keys`` for fixed batch and q (the decode closed form relies on it).
    ``executed`` adds executed FLOPs (tiles, waves, causal blocks); ``mla_absorbed`` costs DeepSeek's
    attention in the absorbed form instead of transformers' re-expansion; ``sdpa_masked``: SDPA gets an
    explicit mask, so grouped K/V heads are repeated first (`sdpa_cost_path`).
    """
    ex = executed
    impl = attn_impl or arch.attn_impl
    if impl not in ATTN_IMPLS:
        raise UsageError(f"attention implementation '{impl}' unknown; allowed: {', '.join(ATTN_IMPLS)}")
    impl = sdpa_cost_path(impl, arch, prec, sdpa_math_fallback, sdpa_masked)
    if cache not in CACHE_KINDS:
        raise UsageError(f"cache '{cache}' unknown; allowed: {', '.join(CACHE_KINDS)}")
    b = np.asarray(batch, dtype=float)
    q = np.asarray(q, dtype=float)
    k = np.asarray(keys, dtype=float)
    a = prec.activation_bytes
    h, hd = arch.hidden, arch.head_dim
    tokens = b * q
    ops = OpList()

    # ---- per forward
    ops.add("embedding", "memory", 0.0, tokens * h * (prec.dense_weight_bytes + a) + tokens * 8.0, 1.0)
    if arch.embed_scale:
        _eltwise(ops, "embedding_scale", tokens * h, 1.0, 2.0, prec, 1, 1.0)
    n_masks = (
        2.0
        if any(w is not None for w in arch.layer_windows) and any(w is None for w in arch.layer_windows)
        else 1.0
    )
    ops.add(
        "mask_and_rope_tables",
        "host",
        3.0 * tokens * hd,
        b * q * k * n_masks + 8.0 * tokens * hd * 4.0,
        K_MASK * n_masks + K_ROPE_TABLES,
    )

    # ---- decoder layers, grouped by (window, moe) so that identical layers collapse
    groups: dict[tuple[int | None, bool], int] = {}
    for i in range(arch.n_layers):
        key = (arch.layer_windows[i], bool(arch.moe_layers[i]) if arch.moe_layers else False)
        groups[key] = groups.get(key, 0) + 1
    mixed = len({w for w, _ in groups}) > 1
    for (window, is_moe), n in groups.items():
        suffix = "" if not mixed or window is None else "[sliding]"
        _norm(ops, "input_norm", arch, tokens * h, h, prec, n)  # OLMo 2: post-attention norm, same cost
        if arch.mla is not None:
            mla_attention(ops, arch, prec, b, q, k, impl, cache, n, mla_absorbed, ex)
        else:
            _standard_attention(ops, arch, prec, b, q, k, window, impl, cache, n, suffix, ex)
        if arch.norms_per_layer == 4:
            _norm(ops, "post_attn_norm", arch, tokens * h, h, prec, n)
        _eltwise(ops, "residual_add", tokens * h, 1.0, 3.0, prec, 1, 2 * n)
        _norm(ops, "pre_mlp_norm", arch, tokens * h, h, prec, n)
        if is_moe:
            _moe(ops, arch, prec, tokens, n, ex)
        else:
            _mlp(ops, arch, prec, tokens, n, ex)
        if arch.norms_per_layer == 4:
            _norm(ops, "post_mlp_norm", arch, tokens * h, h, prec, n)

    # ---- head
    _norm(ops, "final_norm", arch, tokens * h, h, prec, 1)
    ht = np.asarray(head_tokens, dtype=float)
    _linear(ops, "lm_head", ht, h, arch.vocab, prec, False, 1, weight_bytes=prec.dense_weight_bytes, ex=ex)
    if arch.final_softcap:
        _eltwise(ops, "logit_softcap", ht * arch.vocab, 3.0, 6.0, prec, 3, 1)
    if sampling:
        # generate(): fp32 copy of the last logits, argmax, finished-sequence bookkeeping, stopping
        # criteria, attention-mask and cache-position updates
        ops.add("sampling", "host", 2.0 * ht * arch.vocab, ht * arch.vocab * (a + 8.0), K_SAMPLING)
    return ops.ops()


def _standard_attention(ops: OpList, arch: LLMArch, prec: Precision, b: ArrayLike, q: ArrayLike, k: ArrayLike,
                        window: int | None, impl: str, cache: str, n: float, suffix: str,
                        ex: Executed | None) -> None:
    """q/k/v projections (fused for Phi-3), q/k norms, RoPE, attention, output projection."""
    h, nh, nkv, hd = arch.hidden, arch.n_heads, arch.n_kv_heads, arch.head_dim
    tokens = b * q
    a = prec.activation_bytes
    if arch.fused_qkv:
        _linear(ops, "qkv_proj", tokens, h, (nh + 2 * nkv) * hd, prec, arch.qkv_bias, n, ex=ex)
    else:
        _linear(ops, "q_proj", tokens, h, nh * hd, prec, arch.qkv_bias, n, ex=ex)
        _linear(ops, "k_proj", tokens, h, nkv * hd, prec, arch.qkv_bias, n, ex=ex)
        _linear(ops, "v_proj", tokens, h, nkv * hd, prec, arch.qkv_bias, n, ex=ex)
    if arch.qk_norm:
        width = (nh + nkv) * hd if arch.qk_norm_full else 2 * hd
        _norm(ops, "qk_norm", arch, tokens * (nh + nkv) * hd, width, prec, n)
        ops.add("qk_norm", "norm", 0.0, 0.0, K_RMSNORM + 2 + (2.0 if a < 4 else 0.0), times=n)  # 2nd norm
    rope(ops, tokens, nh * hd, nkv * hd, hd, prec, n)
    _attention(ops, arch, prec, b, q, k, window, impl, cache, n, suffix, ex)
    _linear(ops, "o_proj", tokens, nh * hd, h, prec, arch.o_bias, n, ex=ex)
