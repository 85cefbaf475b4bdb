"""Text-to-video diffusion: FLOPs, bytes and time of text encoder, DiT steps and VAE decoder.

Configs are bundled under ``configs/video/<name>.json`` (diffusers layout: ``transformer``,
``vae``, ``text_encoder`` and ``pipeline`` facts such as the padded text length). Families are a
registry (`DIT_FAMILIES`, `VAE_FAMILIES`).

What is exact and what is not (say it in the JSON, ``fidelity``):

* Wan2.1 (DiT, UMT5-XXL, Wan VAE decoder enumerated per latent frame as diffusers' causal decode
  loop runs it) and the CogVideoX DiT are checked against ``FlopCounterMode`` in the tests.
* Text encoders: T5/UMT5 encoders are exact matmul counts at the pipeline's padded length;
  HunyuanVideo's LLaVA-Llama encoder reuses the LLM op model.
* LTX-Video, Mochi-1 and HunyuanVideo DiTs follow the diffusers block structure (joint or
  cross attention, MLP, modulation) but are not yet checked against FlopCounterMode; their VAE
  decoders use a generic 3D-conv decoder enumeration from ``block_out_channels`` and layers per
  block (marked ``approximate``).

Latent rule (Wan, CogVideoX, Hunyuan): ``1 + (T - 1) / 4`` latent frames, ``H/8 x W/8``;
LTX: ``1 + (T - 1) / 8``, ``/32``; Mochi: ``1 + (T - 1) / 6``, ``/8``. Sizes that the pipeline
would reject or silently round raise `UsageError` naming the constraint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from joulebench.analytic.llm import _linear, arch_from_config, forward_ops
from joulebench.analytic.ops import Op, OpList
from joulebench.analytic.params import DEFAULTS_UNCERTAINTY, ModelParams
from joulebench.analytic.precision import Precision, precision_for
from joulebench.analytic.roofline import Ceilings, TimeSplit, Work, energy_j, op_time
from joulebench.errors import UsageError

# eager launches per primitive (estimates, as in analytic.llm)
K_LAYERNORM = 3  # cast up, layer_norm, cast down
K_SDPA = 1


@dataclass(frozen=True)
class Latent:
    frames: int
    height: int
    width: int
    channels: int
    tokens: int  # DiT sequence length after patching


@dataclass(frozen=True)
class Component:
    """One component of the pipeline: ops of a single call and how many calls a video needs."""

    name: str
    calls: int
    ops: list[Op]
    fidelity: str  # "exact-matmul" (checked against FlopCounterMode) or "approximate"
    extra: dict[str, Any]


# --------------------------------------------------------------------------- primitives


def _attn(
    ops: OpList,
    name: str,
    q_tokens: float,
    k_tokens: float,
    heads: int,
    head_dim: int,
    prec: Precision,
    times: float = 1.0,
) -> None:
    """Fused SDPA: scores and values over all pairs (dense); reads Q, K, V and writes O.

    The softmax FLOPs (5 per pair) go to a separate, uncounted row so that the counted FLOPs stay
    exactly what FlopCounterMode reports (4 * pairs * head_dim).
    """
    a = prec.activation_bytes
    pairs = heads * q_tokens * k_tokens
    io = (2 * q_tokens + 2 * k_tokens) * heads * head_dim * a
    ops.add(name, "attention", 4.0 * pairs * head_dim, io, K_SDPA, counted=True, times=times)
    ops.add(name + "_softmax", "attention", 5.0 * pairs, 0.0, 0.0, times=times)


def _norm(
    ops: OpList, name: str, elems: float, prec: Precision, times: float = 1.0, kernels: int = K_LAYERNORM
) -> None:
    a = prec.activation_bytes
    ops.add(name, "norm", 5.0 * elems, elems * (2 * a + 8.0), kernels, times=times)


def _elt(
    ops: OpList,
    name: str,
    elems: float,
    flops_per: float,
    passes: float,
    prec: Precision,
    kernels: float,
    times: float = 1.0,
) -> None:
    ops.add(
        name, "elementwise", flops_per * elems, passes * elems * prec.activation_bytes, kernels, times=times
    )


def _conv(
    ops: OpList,
    name: str,
    c_in: int,
    c_out: int,
    kernel: int,
    out_positions: float,
    in_positions: float,
    prec: Precision,
    times: float = 1.0,
) -> None:
    """Convolution: 2*c_in*c_out*kernel FLOPs per output position; weights, input, output once."""
    a = prec.activation_bytes
    bytes_ = (
        c_in * c_out * kernel * prec.dense_weight_bytes + (c_in * in_positions + c_out * out_positions) * a
    )
    ops.add(name, "matmul", 2.0 * c_in * c_out * kernel * out_positions, bytes_, 1, counted=True, times=times)


# --------------------------------------------------------------------------- text encoders


def t5_encoder_ops(cfg: dict[str, Any], tokens: int, prec: Precision) -> list[Op]:
    """T5/UMT5 encoder at the padded length: per layer q,k,v,o, attention, gated-GELU FFN."""
    d, ff, heads, dkv, n = cfg["d_model"], cfg["d_ff"], cfg["num_heads"], cfg["d_kv"], cfg["num_layers"]
    inner = heads * dkv
    ops = OpList()
    ops.add("embedding", "memory", 0.0, tokens * d * 2 * prec.activation_bytes, 1)
    _norm(ops, "rms_norm", tokens * d, prec, times=2 * n + 1, kernels=6)
    for proj in ("q", "k", "v"):
        _linear(ops, f"{proj}_proj", tokens, d, inner, prec, False, n)
    _attn(ops, "self_attn", tokens, tokens, heads, dkv, prec, n)
    _elt(ops, "position_bias", tokens * tokens * heads, 1.0, 3.0, prec, 2, n)
    _linear(ops, "o_proj", tokens, inner, d, prec, False, n)
    gated = cfg.get("is_gated_act", True)
    _linear(ops, "ffn_wi", tokens, d, ff, prec, False, n * (2 if gated else 1))
    _elt(ops, "ffn_act", tokens * ff, 9.0, 5.0, prec, 2, n)
    _linear(ops, "ffn_wo", tokens, ff, d, prec, False, n)
    _elt(ops, "residual_add", tokens * d, 1.0, 3.0, prec, 1, 2 * n)
    return ops.ops()


def llama_encoder_ops(cfg: dict[str, Any], tokens: int, prec: Precision) -> list[Op]:
    """A decoder LLM used as text encoder (HunyuanVideo): one prefill, no LM head, no sampling."""
    arch = arch_from_config(cfg, "text_encoder")
    ops = forward_ops(arch, prec, 1.0, float(tokens), float(tokens), head_tokens=0.0, sampling=False)
    return [op for op in ops if op.name != "lm_head"]


TEXT_ENCODERS: dict[str, Callable[[dict[str, Any], int, Precision], list[Op]]] = {
    "t5": t5_encoder_ops,
    "umt5": t5_encoder_ops,
    "llama": llama_encoder_ops,
}


# --------------------------------------------------------------------------- DiTs (one forward, batch 1)


def wan_dit_ops(cfg: dict[str, Any], lat: Latent, text_tokens: int, prec: Precision) -> list[Op]:
    """WanTransformer3DModel: patch conv, time/text embedders, N x (self-attn, cross-attn, FFN), head."""
    heads, hd = cfg["num_attention_heads"], cfg["attention_head_dim"]
    dim, ffn, n = heads * hd, cfg["ffn_dim"], cfg["num_layers"]
    pt, ph, pw = cfg["patch_size"]
    c_in, c_out = cfg["in_channels"], cfg["out_channels"]
    L, m = float(lat.tokens), float(text_tokens)
    ops = OpList()
    _conv(ops, "patch_embedding", c_in, dim, pt * ph * pw, L, L * pt * ph * pw, prec)
    _linear(ops, "time_embedding", 1.0, cfg["freq_dim"], dim, prec, True, 1)
    _linear(ops, "time_embedding", 1.0, dim, dim, prec, True, 1)
    _linear(ops, "time_projection", 1.0, dim, 6 * dim, prec, True, 1)
    _linear(ops, "text_embedding", m, cfg["text_dim"], dim, prec, True, 1)
    _linear(ops, "text_embedding", m, dim, dim, prec, True, 1)
    _elt(ops, "text_embedding_act", m * dim, 8.0, 2.0, prec, 1)
    # blocks
    _norm(ops, "norm_modulate", L * dim, prec, times=2 * n, kernels=K_LAYERNORM + 3)
    for proj in ("q", "k", "v", "o"):
        _linear(ops, f"self_attn_{proj}", L, dim, dim, prec, True, n)
    _norm(ops, "qk_norm", L * dim, prec, times=2 * n, kernels=6)
    _elt(ops, "rope", 2 * L * dim, 3.0, 6.0, prec, 8, n)
    _attn(ops, "self_attention", L, L, heads, hd, prec, n)
    _elt(ops, "gated_residual", L * dim, 2.0, 4.0, prec, 3, 2 * n)
    if cfg.get("cross_attn_norm", True):
        _norm(ops, "cross_attn_norm", L * dim, prec, times=n)
    _linear(ops, "cross_attn_q", L, dim, dim, prec, True, n)
    _linear(ops, "cross_attn_kv", m, dim, dim, prec, True, 2 * n)
    _norm(ops, "qk_norm", (L + m) * dim, prec, times=n, kernels=12)
    _attn(ops, "cross_attention", L, m, heads, hd, prec, n)
    _linear(ops, "cross_attn_o", L, dim, dim, prec, True, n)
    _elt(ops, "residual_add", L * dim, 1.0, 3.0, prec, 1, n)
    _linear(ops, "ffn_up", L, dim, ffn, prec, True, n)
    _elt(ops, "ffn_gelu", L * ffn, 8.0, 2.0, prec, 1, n)
    _linear(ops, "ffn_down", L, ffn, dim, prec, True, n)
    _norm(ops, "norm_out", L * dim, prec, kernels=K_LAYERNORM + 3)
    _linear(ops, "proj_out", L, dim, c_out * pt * ph * pw, prec, True, 1)
    return ops.ops()


def cogvideox_dit_ops(cfg: dict[str, Any], lat: Latent, text_tokens: int, prec: Precision) -> list[Op]:
    """CogVideoXTransformer3DModel: text and video tokens share every block (expert-style norms)."""
    heads, hd = cfg["num_attention_heads"], cfg["attention_head_dim"]
    dim, n, temb = heads * hd, cfg["num_layers"], cfg["time_embed_dim"]
    p, c_in, c_out = cfg["patch_size"], cfg["in_channels"], cfg["out_channels"]
    L, m = float(lat.tokens), float(text_tokens)
    S = L + m
    ops = OpList()
    _linear(ops, "time_embedding", 1.0, dim, temb, prec, True, 1)
    _linear(ops, "time_embedding", 1.0, temb, temb, prec, True, 1)
    _linear(ops, "text_proj", m, cfg["text_embed_dim"], dim, prec, True, 1)
    _conv(ops, "patch_embedding", c_in, dim, p * p, L, L * p * p, prec)
    _linear(ops, "adaln_modulation", 1.0, temb, 6 * dim, prec, True, 2 * n)
    _norm(ops, "norm_modulate", S * dim, prec, times=2 * n, kernels=K_LAYERNORM + 4)
    for proj in ("q", "k", "v", "o"):
        _linear(ops, f"attn_{proj}", S, dim, dim, prec, True, n)
    _norm(ops, "qk_norm", 2 * S * dim, prec, times=n)
    if cfg.get("use_rotary_positional_embeddings"):
        _elt(ops, "rope", 2 * L * dim, 3.0, 6.0, prec, 10, n)
    _attn(ops, "joint_attention", S, S, heads, hd, prec, n)
    _elt(ops, "gated_residual", S * dim, 2.0, 4.0, prec, 4, 2 * n)
    _linear(ops, "ffn_up", S, dim, 4 * dim, prec, True, n)
    _elt(ops, "ffn_gelu", S * 4 * dim, 8.0, 2.0, prec, 1, n)
    _linear(ops, "ffn_down", S, 4 * dim, dim, prec, True, n)
    _norm(ops, "norm_final", S * dim, prec)
    _linear(ops, "norm_out_modulation", 1.0, temb, 2 * dim, prec, True, 1)
    _linear(ops, "proj_out", L, dim, p * p * c_out, prec, True, 1)
    return ops.ops()


def ltx_dit_ops(cfg: dict[str, Any], lat: Latent, text_tokens: int, prec: Precision) -> list[Op]:
    """LTXVideoTransformer3DModel: proj_in, N x (self-attn, cross-attn, FFN) with adaLN-single."""
    heads, hd = cfg["num_attention_heads"], cfg["attention_head_dim"]
    dim, n = heads * hd, cfg["num_layers"]
    L, m = float(lat.tokens), float(text_tokens)
    ops = OpList()
    _linear(ops, "proj_in", L, cfg["in_channels"], dim, prec, True, 1)
    _linear(ops, "time_embedding", 1.0, 256, dim, prec, True, 1)
    _linear(ops, "time_embedding", 1.0, dim, dim, prec, True, 1)
    _linear(ops, "adaln_single", 1.0, dim, 6 * dim, prec, True, 1)
    _linear(ops, "caption_projection", m, cfg["caption_channels"], dim, prec, True, 1)
    _linear(ops, "caption_projection", m, dim, dim, prec, True, 1)
    _norm(ops, "norm_modulate", L * dim, prec, times=2 * n, kernels=6)
    for proj in ("q", "k", "v", "o"):
        _linear(ops, f"self_attn_{proj}", L, dim, dim, prec, True, n)
    _norm(ops, "qk_norm", 2 * L * dim, prec, times=n, kernels=6)
    _elt(ops, "rope", 2 * L * dim, 3.0, 6.0, prec, 8, n)
    _attn(ops, "self_attention", L, L, heads, hd, prec, n)
    _linear(ops, "cross_attn_q", L, dim, dim, prec, True, n)
    _linear(ops, "cross_attn_kv", m, cfg["cross_attention_dim"], dim, prec, True, 2 * n)
    _attn(ops, "cross_attention", L, m, heads, hd, prec, n)
    _linear(ops, "cross_attn_o", L, dim, dim, prec, True, n)
    _elt(ops, "gated_residual", L * dim, 2.0, 4.0, prec, 3, 3 * n)
    _linear(ops, "ffn_up", L, dim, 4 * dim, prec, True, n)
    _elt(ops, "ffn_gelu", L * 4 * dim, 8.0, 2.0, prec, 1, n)
    _linear(ops, "ffn_down", L, 4 * dim, dim, prec, True, n)
    _linear(ops, "proj_out", L, dim, cfg["out_channels"], prec, True, 1)
    return ops.ops()


def mochi_dit_ops(cfg: dict[str, Any], lat: Latent, text_tokens: int, prec: Precision) -> list[Op]:
    """MochiTransformer3DModel: asymmetric joint attention (video dim 3072, text dim 1536), SwiGLU."""
    heads, hd = cfg["num_attention_heads"], cfg["attention_head_dim"]
    dim, n, tdim = heads * hd, cfg["num_layers"], cfg["pooled_projection_dim"]
    p = cfg["patch_size"]
    c_in = cfg["in_channels"]
    L, m = float(lat.tokens), float(text_tokens)
    hid_v = int(2 * 4 * dim / 3)
    hid_t = int(2 * 4 * tdim / 3)
    ops = OpList()
    _conv(ops, "patch_embedding", c_in, dim, p * p, L, L * p * p, prec)
    _linear(ops, "caption_projection", m, cfg["text_embed_dim"], tdim, prec, True, 1)
    _linear(ops, "time_embedding", 1.0, cfg["time_embed_dim"], dim, prec, True, 2)
    _linear(ops, "modulation", 1.0, dim, 4 * dim, prec, True, n)
    _linear(ops, "modulation_text", 1.0, dim, 4 * tdim, prec, True, n - 1)
    _linear(ops, "modulation_text", 1.0, dim, tdim, prec, True, 1)
    _norm(ops, "norm_modulate", (L * dim + m * tdim), prec, times=4 * n, kernels=6)
    for proj in ("q", "k", "v"):
        _linear(ops, f"attn_{proj}", L, dim, dim, prec, False, n)
        _linear(ops, f"attn_text_{proj}", m, tdim, dim, prec, False, n)
    _norm(ops, "qk_norm", 2 * (L + m) * dim, prec, times=n, kernels=6)
    _elt(ops, "rope", 2 * L * dim, 3.0, 6.0, prec, 8, n)
    _attn(ops, "joint_attention", L + m, L + m, heads, hd, prec, n)
    _linear(ops, "attn_o", L, dim, dim, prec, True, n)
    _linear(ops, "attn_text_o", m, dim, tdim, prec, True, n - 1)
    _linear(ops, "ffn_up", L, dim, 2 * hid_v, prec, False, n)
    _elt(ops, "ffn_swiglu", L * hid_v, 5.0, 3.0, prec, 2, n)
    _linear(ops, "ffn_down", L, hid_v, dim, prec, False, n)
    _linear(ops, "ffn_text_up", m, tdim, 2 * hid_t, prec, False, n - 1)
    _linear(ops, "ffn_text_down", m, hid_t, tdim, prec, False, n - 1)
    _elt(ops, "gated_residual", L * dim + m * tdim, 2.0, 4.0, prec, 4, 2 * n)
    _linear(ops, "norm_out_modulation", 1.0, dim, 2 * dim, prec, True, 1)
    _linear(ops, "proj_out", L, dim, p * p * lat.channels, prec, True, 1)
    return ops.ops()


def hunyuan_dit_ops(cfg: dict[str, Any], lat: Latent, text_tokens: int, prec: Precision) -> list[Op]:
    """HunyuanVideoTransformer3DModel: token refiner, dual-stream then single-stream blocks."""
    heads, hd = cfg["num_attention_heads"], cfg["attention_head_dim"]
    dim, n2, n1 = heads * hd, cfg["num_layers"], cfg["num_single_layers"]
    mlp = int(dim * cfg["mlp_ratio"])
    p, pt = cfg["patch_size"], cfg["patch_size_t"]
    L, m = float(lat.tokens), float(text_tokens)
    S = L + m
    ops = OpList()
    _conv(ops, "patch_embedding", cfg["in_channels"], dim, p * p * pt, L, L * p * p * pt, prec)
    _linear(ops, "time_guidance_text_embedding", 1.0, 256, dim, prec, True, 3)
    _linear(ops, "time_guidance_text_embedding", 1.0, dim, dim, prec, True, 3)
    # token refiner on the text: in-proj + 2 small transformer blocks at width dim
    nr = cfg.get("num_refiner_layers", 2)
    _linear(ops, "refiner", m, cfg["text_embed_dim"], dim, prec, True, 1)
    _linear(ops, "refiner", m, dim, 3 * dim, prec, True, nr)
    _linear(ops, "refiner", m, dim, dim, prec, True, nr)
    _linear(ops, "refiner", m, dim, 2 * mlp, prec, True, nr)  # up and down, both dim x mlp
    _attn(ops, "refiner_attention", m, m, heads, hd, prec, nr)
    # dual-stream blocks
    _linear(ops, "dual_modulation", 1.0, dim, 6 * dim, prec, True, 2 * n2)
    _norm(ops, "norm_modulate", S * dim, prec, times=2 * n2, kernels=6)
    _linear(ops, "dual_qkv", S, dim, 3 * dim, prec, True, n2)
    _norm(ops, "qk_norm", 2 * S * dim, prec, times=n2, kernels=6)
    _elt(ops, "rope", 2 * L * dim, 3.0, 6.0, prec, 10, n2 + n1)
    _attn(ops, "dual_attention", S, S, heads, hd, prec, n2)
    _linear(ops, "dual_out", S, dim, dim, prec, True, n2)
    _linear(ops, "dual_ffn_up", S, dim, mlp, prec, True, n2)
    _elt(ops, "ffn_gelu", S * mlp, 8.0, 2.0, prec, 1, n2)
    _linear(ops, "dual_ffn_down", S, mlp, dim, prec, True, n2)
    _elt(ops, "gated_residual", S * dim, 2.0, 4.0, prec, 4, 2 * n2 + n1)
    # single-stream blocks
    _linear(ops, "single_modulation", 1.0, dim, 3 * dim, prec, True, n1)
    _norm(ops, "norm_modulate", S * dim, prec, times=n1, kernels=6)
    _linear(ops, "single_qkv_mlp", S, dim, 3 * dim + mlp, prec, True, n1)
    _norm(ops, "qk_norm", 2 * S * dim, prec, times=n1, kernels=6)
    _attn(ops, "single_attention", S, S, heads, hd, prec, n1)
    _elt(ops, "ffn_gelu", S * mlp, 8.0, 2.0, prec, 1, n1)
    _linear(ops, "single_out", S, dim + mlp, dim, prec, True, n1)
    _linear(ops, "norm_out_modulation", 1.0, dim, 2 * dim, prec, True, 1)
    _linear(ops, "proj_out", L, dim, p * p * pt * lat.channels, prec, True, 1)
    return ops.ops()


DIT_FAMILIES: dict[str, Callable[[dict[str, Any], Latent, int, Precision], list[Op]]] = {
    "wan": wan_dit_ops,
    "cogvideox": cogvideox_dit_ops,
    "ltx": ltx_dit_ops,
    "mochi": mochi_dit_ops,
    "hunyuanvideo": hunyuan_dit_ops,
}


# --------------------------------------------------------------------------- VAE decoders


def _wan_resnet(ops: OpList, c_in: int, c_out: int, pos: float, prec: Precision) -> None:
    """WanResidualBlock on ``pos`` output positions (causal 3x3x3 convs keep the frame count)."""
    if c_in != c_out:
        _conv(ops, "vae_conv_shortcut", c_in, c_out, 1, pos, pos, prec)
    _norm(ops, "vae_rms_norm", pos * c_in, prec, kernels=5)
    _elt(ops, "vae_silu", pos * c_in, 4.0, 2.0, prec, 1)
    _elt(ops, "vae_causal_cache", pos * c_in, 0.0, 4.0, prec, 3)  # cat with cached frames + pad
    _conv(ops, "vae_conv3d", c_in, c_out, 27, pos, pos, prec)
    _norm(ops, "vae_rms_norm", pos * c_out, prec, kernels=5)
    _elt(ops, "vae_silu", pos * c_out, 4.0, 2.0, prec, 1)
    _elt(ops, "vae_causal_cache", pos * c_out, 0.0, 4.0, prec, 3)
    _conv(ops, "vae_conv3d", c_out, c_out, 27, pos, pos, prec)
    _elt(ops, "vae_residual_add", pos * c_out, 1.0, 3.0, prec, 1)


def wan_vae_decoder_ops(cfg: dict[str, Any], lat: Latent, prec: Precision) -> list[Op]:
    """AutoencoderKLWan decode: post_quant_conv, then the decoder once per latent frame.

    diffusers decodes latent frame i with causal caches; the first chunk skips the temporal
    up-sampling convs (1 output frame), later chunks double frames twice (4 output frames).
    """
    base, z = cfg["base_dim"], cfg["z_dim"]
    mult, nres = cfg["dim_mult"], cfg["num_res_blocks"]
    t_up = list(reversed(cfg["temperal_downsample"]))
    dims = [base * u for u in [mult[-1], *mult[::-1]]]
    hw0 = float(lat.height * lat.width)
    ops = OpList()
    _conv(ops, "vae_post_quant_conv", z, z, 1, hw0 * lat.frames, hw0 * lat.frames, prec)
    for chunk in range(lat.frames):
        first = chunk == 0
        t, hw = 1.0, hw0
        _conv(ops, "vae_conv3d", z, dims[0], 27, t * hw, t * hw, prec)
        _wan_resnet(ops, dims[0], dims[0], t * hw, prec)
        # middle attention: one head over h*w tokens of each frame, 1x1 conv qkv and proj
        _norm(ops, "vae_rms_norm", t * hw * dims[0], prec, kernels=5)
        _conv(ops, "vae_attn_qkv", dims[0], 3 * dims[0], 1, t * hw, t * hw, prec)
        _attn(ops, "vae_mid_attention", hw, hw, 1, dims[0], prec, t)
        _conv(ops, "vae_attn_proj", dims[0], dims[0], 1, t * hw, t * hw, prec)
        _wan_resnet(ops, dims[0], dims[0], t * hw, prec)
        for i, (c_in, c_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            if i > 0:
                c_in = c_in // 2
            for j in range(nres + 1):
                _wan_resnet(ops, c_in if j == 0 else c_out, c_out, t * hw, prec)
            if i == len(mult) - 1:
                continue
            if t_up[i] and not first:  # time_conv: c -> 2c channels, then frames doubled
                _conv(ops, "vae_time_conv", c_out, 2 * c_out, 3, t * hw, t * hw, prec)
                t *= 2.0
            _elt(ops, "vae_upsample_nearest", 4.0 * t * hw * c_out, 0.0, 1.25, prec, 3)
            hw *= 4.0
            _conv(ops, "vae_upsample_conv2d", c_out, c_out // 2, 9, t * hw, t * hw, prec)
        _norm(ops, "vae_rms_norm", t * hw * dims[-1], prec, kernels=5)
        _elt(ops, "vae_silu", t * hw * dims[-1], 4.0, 2.0, prec, 1)
        _conv(ops, "vae_conv_out", dims[-1], 3, 27, t * hw, t * hw, prec)
    return ops.ops()


def generic_vae_decoder_ops(
    cfg: dict[str, Any], lat: Latent, prec: Precision, out_frames: int, spatial: int
) -> list[Op]:
    """Approximate 3D-conv decoder: conv_in, mid (2 resnets, optional attention), up blocks, conv_out.

    Channels from ``block_out_channels`` (reversed), resnets per block from ``layers_per_block``;
    frames grow from latent to output frames by doubling per up block and space doubles per up
    block until the spatial compression is undone. Used where the exact decoder walk is not
    written yet (marked ``approximate``).
    """
    chans = list(reversed(cfg.get("decoder_block_out_channels") or cfg["block_out_channels"]))
    lpb = cfg.get("decoder_layers_per_block", cfg.get("layers_per_block", 2))
    per_block = [int(x) for x in lpb[1:]] if isinstance(lpb, list) else [int(lpb) + 1] * len(chans)
    patch = max(int(cfg.get("patch_size", 1)), 1)
    n_up = int(round(np.log2(spatial / patch)))
    hw = float(lat.height * lat.width)
    t = float(lat.frames)
    ops = OpList()

    def resnet(c_in: int, c_out: int) -> None:
        _norm(ops, "vae_group_norm", t * hw * c_in, prec)
        _conv(ops, "vae_conv3d", c_in, c_out, 27, t * hw, t * hw, prec)
        _norm(ops, "vae_group_norm", t * hw * c_out, prec)
        _conv(ops, "vae_conv3d", c_out, c_out, 27, t * hw, t * hw, prec)
        if c_in != c_out:
            _conv(ops, "vae_conv_shortcut", c_in, c_out, 1, t * hw, t * hw, prec)

    _conv(ops, "vae_conv_in", cfg["latent_channels"], chans[0], 27, t * hw, t * hw, prec)
    resnet(chans[0], chans[0])
    if cfg.get("mid_attention"):
        _attn(ops, "vae_mid_attention", t * hw, t * hw, 1, chans[0], prec)
    resnet(chans[0], chans[0])
    c_prev = chans[0]
    for i, c in enumerate(chans):
        for j in range(per_block[min(i, len(per_block) - 1)]):
            resnet(c_prev if j == 0 else c, c)
        c_prev = c
        if i < min(n_up, len(chans) - 1) or (i == len(chans) - 1 and n_up >= len(chans)):
            t = min(float(out_frames), 2.0 * t)
            hw *= 4.0
            _conv(ops, "vae_upsample_conv", c, c, 27, t * hw, t * hw, prec)
    t = float(out_frames)
    _conv(ops, "vae_conv_out", c_prev, 3 * patch * patch, 27, t * hw, t * hw, prec)
    return ops.ops()


# --------------------------------------------------------------------------- pipeline


@dataclass(frozen=True)
class VideoRequest:
    height: int
    width: int
    frames: int
    steps: int
    cfg: bool


def latent_shape(model_cfg: dict[str, Any], req: VideoRequest) -> Latent:
    """Apply the pipeline's size rules; raise `UsageError` naming the violated constraint."""
    pipe, tcfg = model_cfg["pipeline"], model_cfg["transformer"]
    tc, sc, mult = pipe["temporal_compression"], pipe["spatial_compression"], pipe["size_multiple"]
    for field, value in (("height", req.height), ("width", req.width)):
        if value <= 0 or value % mult:
            raise UsageError(f"{field} {value} violates {pipe['class']}'s constraint: {field} % {mult} == 0")
    if req.frames < 1 or (req.frames - 1) % tc:
        raise UsageError(
            f"frames {req.frames} violates the constraint (frames - 1) % {tc} == 0 "
            f"(VAE temporal compression {tc}; e.g. {1 + tc * max((req.frames - 1) // tc, 0)})"
        )
    if req.steps < 1:
        raise UsageError(f"steps {req.steps} must be >= 1")
    f = 1 + (req.frames - 1) // tc
    h, w = req.height // sc, req.width // sc
    p = tcfg.get("patch_size", 1)
    ph = pw = p[1] if isinstance(p, list) else p
    pt = p[0] if isinstance(p, list) else (tcfg.get("patch_size_t") or 1)
    if h % ph or w % pw or f % pt:
        raise UsageError(f"latent {f}x{h}x{w} not divisible by the patch {pt}x{ph}x{pw}")
    tokens = (f // pt) * (h // ph) * (w // pw)
    return Latent(frames=f, height=h, width=w, channels=pipe["latent_channels"], tokens=tokens)


def video_components(
    model_cfg: dict[str, Any], req: VideoRequest, prec: Precision
) -> tuple[Latent, list[Component]]:
    family = model_cfg["family"]
    pipe = model_cfg["pipeline"]
    lat = latent_shape(model_cfg, req)
    text_len = pipe["text_max_length"]
    guidance_embedded = bool(pipe.get("guidance_embedded"))
    branches = 2 if (req.cfg and not guidance_embedded) else 1
    te_cfg = model_cfg["text_encoder"]
    te = TEXT_ENCODERS[te_cfg["model_type"]]
    comps = [
        Component(
            "text_encoder",
            branches,
            te(te_cfg, text_len, prec),
            "exact-matmul",
            {"tokens": text_len, "model_type": te_cfg["model_type"]},
        )
    ]
    if family == "hunyuanvideo":
        clip = OpList()
        _linear(clip, "clip_text_encoder", float(pipe["clip_max_length"]), 768, 768 * 4, prec, True, 12 * 3)
        comps.append(
            Component(
                "clip_text_encoder", branches, clip.ops(), "approximate", {"tokens": pipe["clip_max_length"]}
            )
        )
    dit = DIT_FAMILIES[family](model_cfg["transformer"], lat, text_len, prec)
    exact = family in ("wan", "cogvideox")
    comps.append(
        Component(
            "dit",
            req.steps * branches,
            dit,
            "exact-matmul" if exact else "approximate",
            {
                "passes_per_step": branches,
                "cfg_batched": bool(pipe.get("cfg_batched")),
                "guidance_embedded": guidance_embedded,
            },
        )
    )
    if family == "wan":
        vae = wan_vae_decoder_ops(model_cfg["vae"], lat, prec)
        fid = "exact-matmul"
    else:
        vae = generic_vae_decoder_ops(model_cfg["vae"], lat, prec, req.frames, pipe["spatial_compression"])
        fid = "approximate"
    comps.append(Component("vae_decoder", 1, vae, fid, {}))
    sched = OpList()
    _elt(
        sched, "scheduler_step", float(lat.frames * lat.height * lat.width * lat.channels), 6.0, 6.0, prec, 8
    )
    if branches == 2:
        _elt(
            sched, "cfg_combine", float(lat.frames * lat.height * lat.width * lat.channels), 3.0, 3.0, prec, 3
        )
    comps.append(Component("scheduler", req.steps, sched.ops(), "approximate", {}))
    return lat, comps


def _time_ops(
    ops: list[Op], ceil: Ceilings, params: ModelParams, graphs: bool
) -> tuple[list[dict], TimeSplit]:
    rows = []
    total: TimeSplit | None = None
    for op in ops:
        t = op_time(op.flops, op.bytes, op.n_kernels, ceil, params, graphs, op.category)
        total = t if total is None else total + t
        rows.append(
            {
                "name": op.name,
                "flops": float(op.flops),
                "bytes": float(op.bytes),
                "n_kernels": float(op.n_kernels),
                "bound": str(t.bound().reshape(-1)[0]),
                "latency_s": float(t.latency_s),
                "counted": op.counted,
            }
        )
    assert total is not None
    return rows, total


def predict_video(
    model_cfg: dict[str, Any],
    name: str,
    accelerator: Any,
    params: ModelParams,
    prec: Precision,
    req: VideoRequest,
    *,
    graphs: bool = False,
) -> dict[str, Any]:
    """Per-component FLOPs, bytes, latency and energy of one video (JSON-able)."""
    ceil = Ceilings(accelerator.peak_flops(prec.compute), accelerator.memory_bandwidth_bytes_per_s)
    lat, comps = video_components(model_cfg, req, prec)
    components: dict[str, Any] = {}
    tot_flops = tot_lat = tot_e = 0.0
    for comp in comps:
        rows, split = _time_ops(comp.ops, ceil, params, graphs)
        flops_call = sum(r["flops"] for r in rows)
        lat_s = float(split.latency_s) * comp.calls
        work = Work(flops_call, sum(r["bytes"] for r in rows), sum(r["n_kernels"] for r in rows))
        e_j = float(energy_j(split, params, work)) * comp.calls
        entry = {
            "calls": comp.calls,
            "flops": flops_call * comp.calls,
            "flops_counted": sum(r["flops"] for r in rows if r["counted"]) * comp.calls,
            "bytes": sum(r["bytes"] for r in rows) * comp.calls,
            "latency_s": lat_s,
            "energy_j": e_j,
            "bound": str(split.bound().reshape(-1)[0]),
            "fidelity": comp.fidelity,
            "time_split_s": {
                "compute": float(split.compute_s) * comp.calls,
                "memory": float(split.memory_s) * comp.calls,
                "launch": float(split.launch_s) * comp.calls,
            },
            "ops": rows,
            **comp.extra,
        }
        if comp.name == "dit":
            entry["flops_per_forward"] = flops_call
            entry["latency_per_forward_s"] = float(split.latency_s)
        components[comp.name] = entry
        tot_flops += entry["flops"]
        tot_lat += lat_s
        tot_e += e_j
    return {
        "kind": "video",
        "model": name,
        "gpu": accelerator.name,
        "dtype": prec.dtype,
        "height": req.height,
        "width": req.width,
        "frames": req.frames,
        "steps": req.steps,
        "cfg": req.cfg,
        "latent": {
            "frames": lat.frames,
            "height": lat.height,
            "width": lat.width,
            "channels": lat.channels,
            "tokens": lat.tokens,
        },
        "attention_flops_convention": "dense",
        "components": components,
        "total": {"flops": tot_flops, "latency_s": tot_lat, "energy_j": tot_e},
        "params": params.to_dict(),
    }


def video_prediction(
    model: str,
    height: int,
    width: int,
    frames: int,
    steps: int,
    *,
    cfg: bool = True,
    gpu: str,
    dtype: str = "bf16",
    calibration: str | None = None,
    hardware_file: str | None = None,
    graphs: bool = False,
    command: str | None = None,
) -> dict[str, Any]:
    """CLI/API entry: resolve names, validate, predict, and return the JSON document."""
    from joulebench import __version__
    from joulebench.analytic.service import resolve_params
    from joulebench.hardware.catalogue import get_accelerator
    from joulebench.models.configs import resolve

    prec = precision_for(dtype)
    acc = get_accelerator(gpu, hardware_file)
    acc.peak_flops(prec.compute)
    ref = resolve(model, "video")
    if "family" not in ref.config or ref.config["family"] not in DIT_FAMILIES:
        raise UsageError(
            f"model '{model}' is not a video pipeline config; families: {', '.join(DIT_FAMILIES)}"
        )
    params, source = resolve_params(acc, prec.dtype, calibration)
    doc = predict_video(
        ref.config,
        ref.name,
        acc,
        params,
        prec,
        VideoRequest(height, width, frames, steps, cfg),
        graphs=graphs,
    )
    doc = {"schema_version": 1, "joulebench_version": __version__, **doc, "params_source": source}
    if source == "catalogue-defaults":
        doc["params_uncertainty"] = DEFAULTS_UNCERTAINTY
    if command:
        doc["command"] = command
    return doc
