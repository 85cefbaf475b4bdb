"""Model families: one parser per Hugging Face ``model_type``, from ``config.json`` to an `LLMArch`.

Families are a registry (`FAMILIES`): adding one is one parser function and one entry. A config of
an unknown ``model_type`` whose ``architectures`` name a causal LM is read by the generic path
(`generic_arch`: Llama-like layers from the standard config fields, MoE when expert fields are
present) and labelled ``approximate``; anything else is refused with the list of families.

What each parser encodes is what eager ``transformers`` 5.x runs for that family: e.g. OLMo 2 puts
its norms after attention and MLP and normalises q and k over the whole projection; DeepSeek-V2/V3
use multi-head latent attention (`MLA`, costed in ``analytic.attention``) and keep their first
``first_k_dense_replace`` layers dense.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from joulebench.analytic.arch import MLA, LLMArch, MoE
from joulebench.errors import UsageError


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
        moe_layers=_sparse_layers(cfg, n, moe.n_experts),
        layer_windows=_windows(cfg, n, pattern),
    )


def _sparse_layers(cfg: dict[str, Any], n: int, n_experts: int) -> tuple[bool, ...]:
    """Qwen-style MoE layer pattern: every ``decoder_sparse_step``-th layer, minus ``mlp_only_layers``."""
    step = int(_get(cfg, "decoder_sparse_step", 1))
    dense_only = set(_get(cfg, "mlp_only_layers", []))
    return tuple((i not in dense_only) and n_experts > 0 and ((i + 1) % step == 0) for i in range(n))


def _qwen3_moe(cfg: dict[str, Any], name: str) -> LLMArch:
    n = int(cfg["num_hidden_layers"])
    moe = MoE(int(cfg["num_experts"]), int(cfg["num_experts_per_tok"]), int(cfg["moe_intermediate_size"]),
              norm_topk=bool(_get(cfg, "norm_topk_prob", True)))
    pattern = (lambda i: True) if cfg.get("use_sliding_window") else None
    return _base(cfg, name, "qwen3_moe", qk_norm=True, moe=moe, moe_layers=_sparse_layers(cfg, n, moe.n_experts),
                 layer_windows=_windows(cfg, n, pattern))


def _olmo2(cfg: dict[str, Any], name: str) -> LLMArch:
    """Norms after attention and after the MLP (same count and cost as pre-norms); q/k norms over the
    whole q and k projections."""
    return _base(cfg, name, "olmo2", qk_norm=True, qk_norm_full=True)


def _deepseek(cfg: dict[str, Any], name: str, family: str) -> LLMArch:
    n = int(cfg["num_hidden_layers"])
    mla = MLA(None if cfg.get("q_lora_rank") is None else int(cfg["q_lora_rank"]), int(cfg["kv_lora_rank"]),
              int(cfg["qk_nope_head_dim"]), int(cfg["qk_rope_head_dim"]), int(cfg["v_head_dim"]))
    first_dense = int(_get(cfg, "first_k_dense_replace", 0))
    freq = int(_get(cfg, "moe_layer_freq", 1))
    experts = int(_get(cfg, "n_routed_experts", 0))
    layers = tuple(experts > 0 and i >= first_dense and i % freq == 0 for i in range(n))
    inter = int(cfg["moe_intermediate_size"])
    moe = MoE(experts, int(cfg["num_experts_per_tok"]), inter,
              shared_intermediate=inter * int(_get(cfg, "n_shared_experts", 0)),
              norm_topk=bool(_get(cfg, "norm_topk_prob", False)))
    return _base(cfg, name, family, mla=mla, head_dim=mla.qk_head, moe=moe, moe_layers=layers,
                 qkv_bias=bool(_get(cfg, "attention_bias", False)), o_bias=bool(_get(cfg, "attention_bias", False)))


def _deepseek_v2(cfg: dict[str, Any], name: str) -> LLMArch:
    return _deepseek(cfg, name, "deepseek_v2")


def _deepseek_v3(cfg: dict[str, Any], name: str) -> LLMArch:
    return _deepseek(cfg, name, "deepseek_v3")


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
    "qwen3_moe": _qwen3_moe,
    "olmo2": _olmo2,
    "deepseek_v2": _deepseek_v2,
    "deepseek_v3": _deepseek_v3,
}

#: model types that are known not to be decoder-only LLMs (never read by the generic path)
NOT_DECODERS = ("bert", "roberta", "t5", "umt5", "bart", "clip", "vit", "whisper", "wav2vec2")
_EXPERT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")


def _is_causal_lm(cfg: dict[str, Any]) -> bool:
    archs = cfg.get("architectures") or []
    return any(str(a).endswith(("ForCausalLM", "LMHeadModel")) for a in archs)


def generic_arch(cfg: dict[str, Any], name: str, model_type: str) -> LLMArch:
    """Llama-like layers from the standard fields (``hidden_size``, heads, ``intermediate_size``, ...);
    experts from ``num_local_experts``/``num_experts``/``n_routed_experts`` with ``moe_intermediate_size``
    when present. Labelled approximate: family quirks (extra norms, fused projections, MLA) are unknown."""
    n = int(cfg["num_hidden_layers"]) if "num_hidden_layers" in cfg else 0
    key = next((k for k in _EXPERT_KEYS if cfg.get(k)), None)
    over: dict[str, Any] = {"approximate": True, "layer_windows": _windows(cfg, n, (lambda i: True))}
    if key is not None and n:
        inter = int(_get(cfg, "moe_intermediate_size", _get(cfg, "intermediate_size", 0)))
        over["moe"] = MoE(int(cfg[key]), int(_get(cfg, "num_experts_per_tok", 2)), inter)
        over["moe_layers"] = (True,) * n
    return _base(cfg, name, f"generic:{model_type}", **over)


def arch_from_config(cfg: dict[str, Any], name: str = "model") -> LLMArch:
    """Normalise a HF config dict; unknown ``model_type`` lists the supported families."""
    model_type = str(cfg.get("model_type", "")).lower()
    parser = FAMILIES.get(model_type)
    if parser is None and model_type not in NOT_DECODERS and _is_causal_lm(cfg):
        return generic_arch(cfg, name, model_type)
    if parser is None:
        raise UsageError(
            f"model '{name}' has model_type '{model_type}', not supported by the LLM op model; "
            f"supported: {', '.join(sorted(FAMILIES))}, or any config whose architectures name a *ForCausalLM "
            "(read approximately)"
        )
    return parser(cfg, name)


