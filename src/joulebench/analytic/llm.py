"""Operation model of decoder-only LLMs, read from a Hugging Face ``config.json``.

Families are a registry (`FAMILIES`, keyed by ``model_type``): adding one is one parser function.
The op list mirrors what eager ``transformers`` 5.x executes for one forward, per layer:

    input norm, q/k/v projections (fused for Phi-3), q/k norms (Gemma 3), RoPE, KV-cache update,
    attention scores, softmax, attention values, output projection, residual add,
    post-attention norm (and the extra Gemma 2/3 norms), gate/up projections, activation,
    gate*up product, down projection (or router + experts + shared expert for MoE), residual add;

and per forward: embedding lookup, mask and RoPE tables, final norm, LM head (last position only
in prefill, as ``generate`` asks for ``logits_to_keep=1``), logit soft-capping (Gemma 2) and the
sampling / bookkeeping of one ``generate`` step.

Conventions (stated in the JSON as ``attention_flops_convention``):

* Attention FLOPs are **dense**: scores and values over all ``q x k`` pairs, which is what SDPA with
  an explicit mask and eager attention compute, and what ``FlopCounterMode`` counts. A causal
  kernel that skips the masked half would do about half of that in prefill.
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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from joulebench.analytic.ops import Op, OpList
from joulebench.analytic.precision import Precision
from joulebench.errors import UsageError

ArrayLike = np.ndarray | float

ACTIVATION_FLOPS = {"silu": 4.0, "gelu_tanh": 8.0, "gelu": 8.0, "relu": 1.0}
ATTN_IMPLS = ("sdpa", "eager")
CACHE_KINDS = ("dynamic", "static")

# Kernel-count estimates (eager launches), documented in the module docstring.
K_RMSNORM = 6
K_ROPE_PER_TENSOR = 5
K_ROPE_TABLES = 9
K_MASK = 8
K_SDPA = 1
K_TRANSPOSE_COPY = 1
K_KV_UPDATE = 2
K_ROUTER = 6
K_EXPERTS_GROUPED = 15
K_SAMPLING = 16


@dataclass(frozen=True)
class MoE:
    """Mixture-of-experts block: ``n_experts`` experts, ``top_k`` per token, optional shared expert."""

    n_experts: int
    top_k: int
    expert_intermediate: int
    shared_intermediate: int = 0
    shared_gate: bool = False
    norm_topk: bool = True


@dataclass(frozen=True)
class LLMArch:
    """The architecture facts the op model needs, normalised across families."""

    name: str
    family: str
    n_layers: int
    hidden: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    max_positions: int
    tie_embeddings: bool = False
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    fused_qkv: bool = False
    fused_gate_up: bool = False
    activation: str = "silu"
    norm_style: str = "rms"  # "rms" or "gemma" ((1 + w) scaling, two extra kernels)
    norms_per_layer: int = 2
    qk_norm: bool = False
    embed_scale: bool = False
    attn_softcap: float | None = None
    final_softcap: float | None = None
    layer_windows: tuple[int | None, ...] = ()
    moe: MoE | None = None
    moe_layers: tuple[bool, ...] = ()
    attn_impl: str = "sdpa"  # what transformers uses by default for this family

    def n_params(self) -> int:
        """Parameter count (embeddings + blocks + head), for sanity checks and the explain text."""
        h, hd = self.hidden, self.head_dim
        attn = h * hd * (self.n_heads + 2 * self.n_kv_heads) + self.n_heads * hd * h
        if self.qk_norm:
            attn += 2 * hd
        dense_mlp = 3 * h * self.intermediate
        total = 0
        for i in range(self.n_layers):
            total += attn + self.norms_per_layer * h
            if self.moe is not None and self.moe_layers[i]:
                m = self.moe
                total += h * m.n_experts + 3 * h * m.expert_intermediate * m.n_experts
                total += 3 * h * m.shared_intermediate + (h if m.shared_gate else 0)
            else:
                total += dense_mlp
        total += self.vocab * h + h + (0 if self.tie_embeddings else self.vocab * h)
        return total


# --------------------------------------------------------------------------- family parsers


def _get(cfg: dict[str, Any], key: str, default: Any = None) -> Any:
    value = cfg.get(key, default)
    return default if value is None else value


def _windows(
    cfg: dict[str, Any], n_layers: int, pattern: Callable[[int], bool] | None
) -> tuple[int | None, ...]:
    """Per-layer sliding window: from ``layer_types`` when present, else the family's pattern."""
    window = cfg.get("sliding_window")
    types = cfg.get("layer_types")
    if types:
        return tuple(window if t == "sliding_attention" else None for t in types[:n_layers])
    if not window or pattern is None:
        return (None,) * n_layers
    return tuple(window if pattern(i) else None for i in range(n_layers))


def _base(cfg: dict[str, Any], name: str, family: str, **over: Any) -> LLMArch:
    try:
        h = int(cfg["hidden_size"])
        n_heads = int(cfg["num_attention_heads"])
        n_layers = int(cfg["num_hidden_layers"])
        vocab = int(cfg["vocab_size"])
    except KeyError as exc:
        raise UsageError(
            f"model config '{name}' lacks {exc.args[0]}; not a decoder-only LLM config"
        ) from None
    fields: dict[str, Any] = dict(
        name=name,
        family=family,
        n_layers=n_layers,
        hidden=h,
        n_heads=n_heads,
        n_kv_heads=int(_get(cfg, "num_key_value_heads", n_heads)),
        head_dim=int(_get(cfg, "head_dim", h // n_heads)),
        intermediate=int(_get(cfg, "intermediate_size", 4 * h)),
        vocab=vocab,
        max_positions=int(_get(cfg, "max_position_embeddings", 2**31)),
        tie_embeddings=bool(_get(cfg, "tie_word_embeddings", False)),
        qkv_bias=bool(_get(cfg, "attention_bias", False)),
        o_bias=bool(_get(cfg, "attention_bias", False)),
        mlp_bias=bool(_get(cfg, "mlp_bias", False)),
        activation=_act(_get(cfg, "hidden_activation", _get(cfg, "hidden_act", "silu"))),
        layer_windows=(None,) * n_layers,
        moe_layers=(False,) * n_layers,
    )
    fields.update(over)
    return LLMArch(**fields)


def _act(name: str) -> str:
    return {"gelu_pytorch_tanh": "gelu_tanh", "gelu_new": "gelu_tanh", "swish": "silu"}.get(name, name)


def _llama(cfg: dict[str, Any], name: str) -> LLMArch:
    return _base(cfg, name, "llama")


def _mistral(cfg: dict[str, Any], name: str) -> LLMArch:
    n = int(cfg["num_hidden_layers"])
    return _base(cfg, name, "mistral", layer_windows=_windows(cfg, n, lambda i: True))


def _qwen2(cfg: dict[str, Any], name: str) -> LLMArch:
    n = int(cfg["num_hidden_layers"])
    lw = int(_get(cfg, "max_window_layers", n))
    pattern = (lambda i: i >= lw) if cfg.get("use_sliding_window") else None
    return _base(cfg, name, "qwen2", qkv_bias=True, o_bias=False, layer_windows=_windows(cfg, n, pattern))


def _qwen3(cfg: dict[str, Any], name: str) -> LLMArch:
    n = int(cfg["num_hidden_layers"])
    pattern = (lambda i: True) if cfg.get("use_sliding_window") else None
    return _base(cfg, name, "qwen3", qk_norm=True, layer_windows=_windows(cfg, n, pattern))


def _gemma(cfg: dict[str, Any], name: str) -> LLMArch:
    return _base(
        cfg,
        name,
        "gemma",
        norm_style="gemma",
        embed_scale=True,
        tie_embeddings=bool(_get(cfg, "tie_word_embeddings", True)),
        activation=_act(_get(cfg, "hidden_activation", "gelu_pytorch_tanh")),
    )


def _gemma2(cfg: dict[str, Any], name: str) -> LLMArch:
    n = int(cfg["num_hidden_layers"])
    return _base(
        cfg,
        name,
        "gemma2",
        norm_style="gemma",
        norms_per_layer=4,
        embed_scale=True,
        tie_embeddings=bool(_get(cfg, "tie_word_embeddings", True)),
        activation=_act(_get(cfg, "hidden_activation", "gelu_pytorch_tanh")),
        attn_softcap=cfg.get("attn_logit_softcapping"),
        final_softcap=cfg.get("final_logit_softcapping"),
        layer_windows=_windows(cfg, n, lambda i: (i + 1) % 2 == 1),
        attn_impl="eager",
    )


def _gemma3(cfg: dict[str, Any], name: str) -> LLMArch:
    if "text_config" in cfg:  # multimodal Gemma 3: the language model is what generates tokens
        cfg = {**cfg["text_config"], "tie_word_embeddings": cfg.get("tie_word_embeddings", True)}
    n = int(cfg["num_hidden_layers"])
    every = int(_get(cfg, "sliding_window_pattern", 6))
    return _base(
        cfg,
        name,
        "gemma3",
        norm_style="gemma",
        norms_per_layer=4,
        qk_norm=True,
        embed_scale=True,
        tie_embeddings=bool(_get(cfg, "tie_word_embeddings", True)),
        activation=_act(_get(cfg, "hidden_activation", "gelu_pytorch_tanh")),
        attn_softcap=cfg.get("attn_logit_softcapping"),
        final_softcap=cfg.get("final_logit_softcapping"),
        layer_windows=_windows(cfg, n, lambda i: (i + 1) % every != 0),
    )


def _phi3(cfg: dict[str, Any], name: str) -> LLMArch:
    n = int(cfg["num_hidden_layers"])
    return _base(
        cfg, name, "phi3", fused_qkv=True, fused_gate_up=True, layer_windows=_windows(cfg, n, lambda i: True)
    )


def _mixtral(cfg: dict[str, Any], name: str) -> LLMArch:
    n = int(cfg["num_hidden_layers"])
    moe = MoE(int(cfg["num_local_experts"]), int(cfg["num_experts_per_tok"]), int(cfg["intermediate_size"]))
    return _base(
        cfg, name, "mixtral", moe=moe, moe_layers=(True,) * n, layer_windows=_windows(cfg, n, lambda i: True)
    )


def _qwen2_moe(cfg: dict[str, Any], name: str) -> LLMArch:
    n = int(cfg["num_hidden_layers"])
    step = int(_get(cfg, "decoder_sparse_step", 1))
    dense_only = set(_get(cfg, "mlp_only_layers", []))
    layers = tuple(
        (i not in dense_only) and (int(cfg["num_experts"]) > 0) and ((i + 1) % step == 0) for i in range(n)
    )
    moe = MoE(
        int(cfg["num_experts"]),
        int(cfg["num_experts_per_tok"]),
        int(cfg["moe_intermediate_size"]),
        shared_intermediate=int(_get(cfg, "shared_expert_intermediate_size", 0)),
        shared_gate=bool(_get(cfg, "shared_expert_intermediate_size", 0)),
        norm_topk=bool(_get(cfg, "norm_topk_prob", False)),
    )
    lw = int(_get(cfg, "max_window_layers", n))
    pattern = (lambda i: i >= lw) if cfg.get("use_sliding_window") else None
    return _base(
        cfg,
        name,
        "qwen2_moe",
        qkv_bias=True,
        moe=moe,
        moe_layers=layers,
        layer_windows=_windows(cfg, n, pattern),
    )


FAMILIES: dict[str, Callable[[dict[str, Any], str], LLMArch]] = {
    "llama": _llama,
    "mistral": _mistral,
    "qwen2": _qwen2,
    "qwen3": _qwen3,
    "gemma": _gemma,
    "gemma2": _gemma2,
    "gemma3": _gemma3,
    "gemma3_text": _gemma3,
    "phi3": _phi3,
    "mixtral": _mixtral,
    "qwen2_moe": _qwen2_moe,
}


def arch_from_config(cfg: dict[str, Any], name: str = "model") -> LLMArch:
    """Normalise a HF config dict; unknown ``model_type`` lists the supported families."""
    model_type = str(cfg.get("model_type", "")).lower()
    parser = FAMILIES.get(model_type)
    if parser is None:
        raise UsageError(
            f"model '{name}' has model_type '{model_type}', not supported by the LLM op model; "
            f"supported: {', '.join(sorted(FAMILIES))}"
        )
    return parser(cfg, name)


# --------------------------------------------------------------------------- op builders


def _norm(
    ops: OpList, name: str, arch: LLMArch, n_elems: ArrayLike, width: int, prec: Precision, times: float
) -> None:
    """Eager RMSNorm: upcast to fp32, pow, mean, add eps, rsqrt, mul, downcast, weight mul."""
    a = prec.activation_bytes
    low = 1.0 if a < 4 else 0.0
    bytes_ = n_elems * (20.0 + 2.0 * a) + low * n_elems * 2.0 * (a + 4.0) + width * prec.dense_weight_bytes
    kernels = K_RMSNORM + 2 * low + (2 if arch.norm_style == "gemma" else 0)
    ops.add(name, "norm", 4.0 * n_elems, bytes_, kernels, times=times)


def _linear(
    ops: OpList,
    name: str,
    tokens: ArrayLike,
    n_in: int,
    n_out: int,
    prec: Precision,
    bias: bool,
    times: float,
    weight_bytes: float | None = None,
    n_matrices: ArrayLike = 1.0,
) -> None:
    """``tokens x n_in @ n_in x n_out``: 2*m*n*p FLOPs, weights once, input read, output written."""
    a = prec.activation_bytes
    wb = prec.weight_bytes if weight_bytes is None else weight_bytes
    weights = n_matrices * n_in * n_out * wb + (n_out * a if bias else 0.0)
    bytes_ = weights + tokens * (n_in + n_out) * a
    ops.add(
        name,
        "matmul",
        2.0 * tokens * n_in * n_out,
        bytes_,
        prec.kernels_per_linear,
        counted=True,
        times=times,
    )


def _eltwise(
    ops: OpList,
    name: str,
    n_elems: ArrayLike,
    flops_per: float,
    passes: float,
    prec: Precision,
    kernels: float,
    times: float,
    category: str = "elementwise",
    window: int | None = None,
) -> None:
    """Elementwise kernels: ``passes`` = tensors read + written per element, at activation width."""
    ops.add(
        name,
        category,
        flops_per * n_elems,
        passes * n_elems * prec.activation_bytes,
        kernels,
        times=times,
        window=window,
    )


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
) -> None:
    """KV update, scores, softmax, values for ``times`` layers sharing one window setting."""
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
    if attn_impl == "sdpa":
        ops.add(
            "attn_scores" + suffix,
            "attention",
            2.0 * pairs * hd,
            q_bytes + kv_elems * kv + mask_bytes,
            K_SDPA,
            counted=True,
            times=times,
            window=window,
        )
        ops.add("attn_softmax" + suffix, "attention", 5.0 * pairs, 0.0, 0.0, times=times, window=window)
        ops.add(
            "attn_values" + suffix,
            "attention",
            2.0 * pairs * hd,
            kv_elems * kv + o_bytes + 2.0 * o_bytes,
            K_TRANSPOSE_COPY,
            counted=True,
            times=times,
            window=window,
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


def _mlp(ops: OpList, arch: LLMArch, prec: Precision, tokens: ArrayLike, times: float) -> None:
    h, inter = arch.hidden, arch.intermediate
    if arch.fused_gate_up:
        _linear(ops, "gate_up_proj", tokens, h, 2 * inter, prec, arch.mlp_bias, times)
    else:
        _linear(ops, "gate_proj", tokens, h, inter, prec, arch.mlp_bias, times)
        _linear(ops, "up_proj", tokens, h, inter, prec, arch.mlp_bias, times)
    _eltwise(ops, "mlp_act", tokens * inter, ACTIVATION_FLOPS.get(arch.activation, 8.0), 2.0, prec, 1, times)
    _eltwise(ops, "mlp_act_mul", tokens * inter, 1.0, 3.0, prec, 1, times)
    _linear(ops, "down_proj", tokens, inter, h, prec, arch.mlp_bias, times)


def _moe(ops: OpList, arch: LLMArch, prec: Precision, tokens: ArrayLike, times: float) -> None:
    """Router + routed experts (transformers' grouped_mm path) + optional shared expert.

    Weight bytes count the experts actually touched: with ``n`` routed tokens and uniform routing,
    the expected number of distinct experts is ``E * (1 - (1 - top_k/E)^n)``.
    """
    assert arch.moe is not None
    m, h = arch.moe, arch.hidden
    a = prec.activation_bytes
    _linear(
        ops, "moe_router", tokens, h, m.n_experts, prec, False, times, weight_bytes=prec.dense_weight_bytes
    )
    _eltwise(ops, "moe_topk", tokens * m.n_experts, 6.0, 3.0, prec, K_ROUTER - 1, times)
    touched = m.n_experts * (1.0 - (1.0 - m.top_k / m.n_experts) ** np.asarray(tokens, dtype=float))
    routed = tokens * m.top_k
    inter = m.expert_intermediate
    gate_up_bytes = touched * h * 2 * inter * prec.weight_bytes + routed * (h + 2 * inter) * a
    ops.add(
        "experts_gate_up",
        "matmul",
        2.0 * routed * h * 2 * inter,
        gate_up_bytes,
        prec.kernels_per_linear,
        counted=True,
        times=times,
    )
    _eltwise(
        ops,
        "experts_act_mul",
        routed * inter,
        ACTIVATION_FLOPS.get(arch.activation, 8.0) + 1.0,
        5.0,
        prec,
        2,
        times,
    )
    down_bytes = touched * inter * h * prec.weight_bytes + routed * (inter + h) * a
    ops.add(
        "experts_down",
        "matmul",
        2.0 * routed * inter * h,
        down_bytes,
        prec.kernels_per_linear,
        counted=True,
        times=times,
    )
    # token permutation, routing-weight scaling and the scatter/sum back
    ops.add(
        "experts_dispatch",
        "memory",
        2.0 * routed * h,
        6.0 * routed * h * a,
        K_EXPERTS_GROUPED - 2 - 2 * prec.kernels_per_linear,
        times=times,
    )
    if m.shared_intermediate:
        si = m.shared_intermediate
        _linear(ops, "shared_gate_proj", tokens, h, si, prec, False, times)
        _linear(ops, "shared_up_proj", tokens, h, si, prec, False, times)
        _eltwise(
            ops,
            "shared_act_mul",
            tokens * si,
            ACTIVATION_FLOPS.get(arch.activation, 8.0) + 1.0,
            5.0,
            prec,
            2,
            times,
        )
        _linear(ops, "shared_down_proj", tokens, si, h, prec, False, times)
        if m.shared_gate:
            _linear(
                ops,
                "shared_expert_gate",
                tokens,
                h,
                1,
                prec,
                False,
                times,
                weight_bytes=prec.dense_weight_bytes,
            )
            _eltwise(ops, "shared_gate_mix", tokens * h, 3.0, 4.0, prec, 3, times)


def sdpa_cost_path(impl: str, arch: LLMArch, prec: Precision, math_fallback: bool = True) -> str:
    """Which attention costs torch SDPA really incurs when transformers calls it ("sdpa" or "eager").

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
    return impl


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
) -> list[Op]:
    """All ops of one forward over ``q`` new tokens per sequence attending to ``keys`` keys.

    ``head_tokens`` is the number of positions whose logits are computed (``batch`` in generate).
    Every quantity is affine in ``keys`` for fixed batch and q (the decode closed form relies on it).
    """
    impl = attn_impl or arch.attn_impl
    if impl not in ATTN_IMPLS:
        raise UsageError(f"attention implementation '{impl}' unknown; allowed: {', '.join(ATTN_IMPLS)}")
    impl = sdpa_cost_path(impl, arch, prec, sdpa_math_fallback)
    if cache not in CACHE_KINDS:
        raise UsageError(f"cache '{cache}' unknown; allowed: {', '.join(CACHE_KINDS)}")
    b = np.asarray(batch, dtype=float)
    q = np.asarray(q, dtype=float)
    k = np.asarray(keys, dtype=float)
    a = prec.activation_bytes
    h, nh, nkv, hd = arch.hidden, arch.n_heads, arch.n_kv_heads, arch.head_dim
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
        _norm(ops, "input_norm", arch, tokens * h, h, prec, n)
        if arch.fused_qkv:
            _linear(ops, "qkv_proj", tokens, h, (nh + 2 * nkv) * hd, prec, arch.qkv_bias, n)
        else:
            _linear(ops, "q_proj", tokens, h, nh * hd, prec, arch.qkv_bias, n)
            _linear(ops, "k_proj", tokens, h, nkv * hd, prec, arch.qkv_bias, n)
            _linear(ops, "v_proj", tokens, h, nkv * hd, prec, arch.qkv_bias, n)
        if arch.qk_norm:
            _norm(ops, "qk_norm", arch, tokens * (nh + nkv) * hd, 2 * hd, prec, n)
            ops.add("qk_norm", "norm", 0.0, 0.0, K_RMSNORM + 2 + (2.0 if a < 4 else 0.0), times=n)  # 2nd norm
        rope_elems = tokens * (nh + nkv) * hd
        ops.add(
            "rope",
            "elementwise",
            3.0 * rope_elems,
            9.0 * rope_elems * a + 4.0 * tokens * hd * a,
            2 * K_ROPE_PER_TENSOR,
            times=n,
        )
        _attention(ops, arch, prec, b, q, k, window, impl, cache, n, suffix)
        _linear(ops, "o_proj", tokens, nh * hd, h, prec, arch.o_bias, n)
        if arch.norms_per_layer == 4:
            _norm(ops, "post_attn_norm", arch, tokens * h, h, prec, n)
        _eltwise(ops, "residual_add", tokens * h, 1.0, 3.0, prec, 1, 2 * n)
        _norm(ops, "pre_mlp_norm", arch, tokens * h, h, prec, n)
        if is_moe:
            _moe(ops, arch, prec, tokens, n)
        else:
            _mlp(ops, arch, prec, tokens, n)
        if arch.norms_per_layer == 4:
            _norm(ops, "post_mlp_norm", arch, tokens * h, h, prec, n)

    # ---- head
    _norm(ops, "final_norm", arch, tokens * h, h, prec, 1)
    ht = np.asarray(head_tokens, dtype=float)
    _linear(ops, "lm_head", ht, h, arch.vocab, prec, False, 1, weight_bytes=prec.dense_weight_bytes)
    if arch.final_softcap:
        _eltwise(ops, "logit_softcap", ht * arch.vocab, 3.0, 6.0, prec, 3, 1)
    if sampling:
        # generate(): fp32 copy of the last logits, argmax, finished-sequence bookkeeping, stopping
        # criteria, attention-mask and cache-position updates
        ops.add("sampling", "host", 2.0 * ht * arch.vocab, ht * arch.vocab * (a + 8.0), K_SAMPLING)
    return ops.ops()
