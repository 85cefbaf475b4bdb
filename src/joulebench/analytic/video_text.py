"""Text encoders of the video pipelines, one call at the padded length the pipeline encodes.

T5 / UMT5 (Wan, CogVideoX, LTX, Mochi), the LLaVA-LLaMA decoder HunyuanVideo uses as encoder (the LLM
op model, no head; it encodes the 95 tokens of its prompt template besides the prompt, then crops them)
and CLIP's text transformer (HunyuanVideo's pooled projection, AnimateDiff's prompt). All are exact
matmul counts against ``FlopCounterMode`` (tests).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from joulebench.analytic.llm import arch_from_config, forward_ops
from joulebench.analytic.ops import Op, OpList, registered_as
from joulebench.analytic.precision import Precision
from joulebench.analytic.video_ops import attn, elt, linear, norm

#: op builders by the text encoder's ``model_type`` (config.json), filled by ``registered_as`` below
TEXT_ENCODERS: dict[str, Callable[[dict[str, Any], int, Precision], list[Op]]] = {}


@registered_as(TEXT_ENCODERS, "t5", "umt5")
def t5_encoder_ops(cfg: dict[str, Any], tokens: int, prec: Precision) -> list[Op]:
    """T5/UMT5 encoder at the padded length: per layer q,k,v,o, attention, gated-GELU FFN."""
    d, ff, heads, dkv, n = cfg["d_model"], cfg["d_ff"], cfg["num_heads"], cfg["d_kv"], cfg["num_layers"]
    inner = heads * dkv
    ops = OpList()
    ops.add("embedding", "memory", 0.0, tokens * d * 2 * prec.activation_bytes, 1)
    norm(ops, "rms_norm", tokens * d, prec, times=2 * n + 1, kernels=6)
    for proj in ("q", "k", "v"):
        linear(ops, f"{proj}_proj", tokens, d, inner, prec, False, n)
    attn(ops, "self_attn", tokens, tokens, heads, dkv, prec, n)
    elt(ops, "position_bias", tokens * tokens * heads, 1.0, 3.0, prec, 2, n)
    linear(ops, "o_proj", tokens, inner, d, prec, False, n)
    gated = cfg.get("is_gated_act", True)
    linear(ops, "ffn_wi", tokens, d, ff, prec, False, n * (2 if gated else 1))
    elt(ops, "ffn_act", tokens * ff, 9.0, 5.0, prec, 2, n)
    linear(ops, "ffn_wo", tokens, ff, d, prec, False, n)
    elt(ops, "residual_add", tokens * d, 1.0, 3.0, prec, 1, 2 * n)
    return ops.ops()


@registered_as(TEXT_ENCODERS, "llama")
def llama_encoder_ops(cfg: dict[str, Any], tokens: int, prec: Precision) -> list[Op]:
    """A decoder LLM used as text encoder (HunyuanVideo): one prefill, no LM head, no sampling."""
    arch = arch_from_config(cfg, "text_encoder")
    ops = forward_ops(arch, prec, 1.0, float(tokens), float(tokens), head_tokens=0.0, sampling=False)
    return [op for op in ops if op.name != "lm_head"]


@registered_as(TEXT_ENCODERS, "clip_text_model")
def clip_text_ops(cfg: dict[str, Any], tokens: int, prec: Precision) -> list[Op]:
    """CLIPTextModel: N x (LayerNorm, q/k/v/o with bias, causal SDPA counted dense, quick-GELU MLP)."""
    d, ff, heads, n = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    t = float(tokens)
    ops = OpList()
    ops.add("embedding", "memory", 0.0, t * d * 3 * prec.activation_bytes, 2)
    norm(ops, "layer_norm", t * d, prec, times=2 * n + 1)
    for proj in ("q", "k", "v", "o"):
        linear(ops, f"{proj}_proj", t, d, d, prec, True, n)
    attn(ops, "self_attn", t, t, heads, d // heads, prec, n)
    linear(ops, "fc1", t, d, ff, prec, True, n)
    elt(ops, "quick_gelu", t * ff, 4.0, 2.0, prec, 2, n)
    linear(ops, "fc2", t, ff, d, prec, True, n)
    elt(ops, "residual_add", t * d, 1.0, 3.0, prec, 1, 2 * n)
    return ops.ops()
