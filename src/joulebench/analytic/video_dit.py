"""Diffusion transformers: the ops of one forward of batch ``b``, family by family.

Each builder follows the diffusers block structure of its class and is checked against
``FlopCounterMode`` on the meta device (tests, ``benchmarks/video_flop_agreement.py``): Wan,
CogVideoX, LTX-Video (0.9.0 and 0.9.7), Mochi-1 (with its text attention pool) and HunyuanVideo
(with its token refiner's and pooled-text embedders). ``b = 2`` is one forward over the conditional
and unconditional branch together, as CogVideoX, LTX and Mochi run guidance: activations double,
weights are read once and the launches are those of one forward.

``attn_text_tokens``: Mochi's joint attention gathers only the unmasked prompt tokens (projections
still run on the padded length); None prices the padded length, an upper bound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from joulebench.analytic.ops import Op, OpList
from joulebench.analytic.precision import Precision
from joulebench.analytic.video_ops import K_LAYERNORM, attn, conv, elt, linear, norm
from joulebench.models.video import LatentShape

DitBuilder = Callable[..., list[Op]]


def wan_dit_ops(cfg: dict[str, Any], lat: LatentShape, text_tokens: int, prec: Precision, b: int = 1,
                attn_text_tokens: int | None = None) -> list[Op]:
    """WanTransformer3DModel: patch conv, time/text embedders, N x (self-attn, cross-attn, FFN), head."""
    heads, hd = cfg["num_attention_heads"], cfg["attention_head_dim"]
    dim, ffn, n = heads * hd, cfg["ffn_dim"], cfg["num_layers"]
    pt, ph, pw = cfg["patch_size"]
    c_in, c_out = cfg["in_channels"], cfg["out_channels"]
    Lq, mq = float(lat.tokens), float(text_tokens)
    L, m, one, h = Lq * b, mq * b, 1.0 * b, heads * b
    ops = OpList()
    conv(ops, "patch_embedding", c_in, dim, pt * ph * pw, L, L * pt * ph * pw, prec)
    linear(ops, "time_embedding", one, cfg["freq_dim"], dim, prec, True, 1)
    linear(ops, "time_embedding", one, dim, dim, prec, True, 1)
    linear(ops, "time_projection", one, dim, 6 * dim, prec, True, 1)
    linear(ops, "text_embedding", m, cfg["text_dim"], dim, prec, True, 1)
    linear(ops, "text_embedding", m, dim, dim, prec, True, 1)
    elt(ops, "text_embedding_act", m * dim, 8.0, 2.0, prec, 1)
    norm(ops, "norm_modulate", L * dim, prec, times=2 * n, kernels=K_LAYERNORM + 3)
    for proj in ("q", "k", "v", "o"):
        linear(ops, f"self_attn_{proj}", L, dim, dim, prec, True, n)
    norm(ops, "qk_norm", L * dim, prec, times=2 * n, kernels=6)
    elt(ops, "rope", 2 * L * dim, 3.0, 6.0, prec, 8, n)
    attn(ops, "self_attention", Lq, Lq, h, hd, prec, n)
    elt(ops, "gated_residual", L * dim, 2.0, 4.0, prec, 3, 2 * n)
    if cfg.get("cross_attn_norm", True):
        norm(ops, "cross_attn_norm", L * dim, prec, times=n)
    linear(ops, "cross_attn_q", L, dim, dim, prec, True, n)
    linear(ops, "cross_attn_kv", m, dim, dim, prec, True, 2 * n)
    norm(ops, "qk_norm", (L + m) * dim, prec, times=n, kernels=12)
    attn(ops, "cross_attention", Lq, mq, h, hd, prec, n)
    linear(ops, "cross_attn_o", L, dim, dim, prec, True, n)
    elt(ops, "residual_add", L * dim, 1.0, 3.0, prec, 1, n)
    linear(ops, "ffn_up", L, dim, ffn, prec, True, n)
    elt(ops, "ffn_gelu", L * ffn, 8.0, 2.0, prec, 1, n)
    linear(ops, "ffn_down", L, ffn, dim, prec, True, n)
    norm(ops, "norm_out", L * dim, prec, kernels=K_LAYERNORM + 3)
    linear(ops, "proj_out", L, dim, c_out * pt * ph * pw, prec, True, 1)
    return ops.ops()


def cogvideox_dit_ops(cfg: dict[str, Any], lat: LatentShape, text_tokens: int, prec: Precision, b: int = 1,
                      attn_text_tokens: int | None = None) -> list[Op]:
    """CogVideoXTransformer3DModel: text and video tokens share every block (expert-style norms)."""
    heads, hd = cfg["num_attention_heads"], cfg["attention_head_dim"]
    dim, n, temb = heads * hd, cfg["num_layers"], cfg["time_embed_dim"]
    p, c_in, c_out = cfg["patch_size"], cfg["in_channels"], cfg["out_channels"]
    Sq = float(lat.tokens) + float(text_tokens)
    L, m, one, S = float(lat.tokens) * b, float(text_tokens) * b, 1.0 * b, Sq * b
    ops = OpList()
    linear(ops, "time_embedding", one, dim, temb, prec, True, 1)
    linear(ops, "time_embedding", one, temb, temb, prec, True, 1)
    linear(ops, "text_proj", m, cfg["text_embed_dim"], dim, prec, True, 1)
    conv(ops, "patch_embedding", c_in, dim, p * p, L, L * p * p, prec)
    linear(ops, "adaln_modulation", one, temb, 6 * dim, prec, True, 2 * n)
    norm(ops, "norm_modulate", S * dim, prec, times=2 * n, kernels=K_LAYERNORM + 4)
    for proj in ("q", "k", "v", "o"):
        linear(ops, f"attn_{proj}", S, dim, dim, prec, True, n)
    norm(ops, "qk_norm", 2 * S * dim, prec, times=n)
    if cfg.get("use_rotary_positional_embeddings"):
        elt(ops, "rope", 2 * L * dim, 3.0, 6.0, prec, 10, n)
    attn(ops, "joint_attention", Sq, Sq, heads * b, hd, prec, n)
    elt(ops, "gated_residual", S * dim, 2.0, 4.0, prec, 4, 2 * n)
    linear(ops, "ffn_up", S, dim, 4 * dim, prec, True, n)
    elt(ops, "ffn_gelu", S * 4 * dim, 8.0, 2.0, prec, 1, n)
    linear(ops, "ffn_down", S, 4 * dim, dim, prec, True, n)
    norm(ops, "norm_final", S * dim, prec)
    linear(ops, "norm_out_modulation", one, temb, 2 * dim, prec, True, 1)
    linear(ops, "proj_out", L, dim, p * p * c_out, prec, True, 1)
    return ops.ops()


def ltx_dit_ops(cfg: dict[str, Any], lat: LatentShape, text_tokens: int, prec: Precision, b: int = 1,
                attn_text_tokens: int | None = None) -> list[Op]:
    """LTXVideoTransformer3DModel: proj_in, N x (self-attn, cross-attn, FFN) with adaLN-single."""
    heads, hd = cfg["num_attention_heads"], cfg["attention_head_dim"]
    dim, n = heads * hd, cfg["num_layers"]
    Lq, mq = float(lat.tokens), float(text_tokens)
    L, m, one, h = Lq * b, mq * b, 1.0 * b, heads * b
    ops = OpList()
    linear(ops, "proj_in", L, cfg["in_channels"], dim, prec, True, 1)
    linear(ops, "time_embedding", one, 256, dim, prec, True, 1)
    linear(ops, "time_embedding", one, dim, dim, prec, True, 1)
    linear(ops, "adaln_single", one, dim, 6 * dim, prec, True, 1)
    linear(ops, "caption_projection", m, cfg["caption_channels"], dim, prec, True, 1)
    linear(ops, "caption_projection", m, dim, dim, prec, True, 1)
    norm(ops, "norm_modulate", L * dim, prec, times=2 * n, kernels=6)
    for proj in ("q", "k", "v", "o"):
        linear(ops, f"self_attn_{proj}", L, dim, dim, prec, True, n)
    norm(ops, "qk_norm", 2 * L * dim, prec, times=n, kernels=6)
    elt(ops, "rope", 2 * L * dim, 3.0, 6.0, prec, 8, n)
    attn(ops, "self_attention", Lq, Lq, h, hd, prec, n)
    linear(ops, "cross_attn_q", L, dim, dim, prec, True, n)
    linear(ops, "cross_attn_kv", m, cfg["cross_attention_dim"], dim, prec, True, 2 * n)
    attn(ops, "cross_attention", Lq, mq, h, hd, prec, n)
    linear(ops, "cross_attn_o", L, dim, dim, prec, True, n)
    elt(ops, "gated_residual", L * dim, 2.0, 4.0, prec, 3, 3 * n)
    linear(ops, "ffn_up", L, dim, 4 * dim, prec, True, n)
    elt(ops, "ffn_gelu", L * 4 * dim, 8.0, 2.0, prec, 1, n)
    linear(ops, "ffn_down", L, 4 * dim, dim, prec, True, n)
    linear(ops, "proj_out", L, dim, cfg["out_channels"], prec, True, 1)
    return ops.ops()


def mochi_dit_ops(cfg: dict[str, Any], lat: LatentShape, text_tokens: int, prec: Precision, b: int = 1,
                  attn_text_tokens: int | None = None) -> list[Op]:
    """MochiTransformer3DModel: asymmetric joint attention (video dim 3072, text dim 1536), SwiGLU, and
    the text attention pool (8 heads over the T5 states) that conditions the time embedding."""
    heads, hd = cfg["num_attention_heads"], cfg["attention_head_dim"]
    dim, n, tdim, te = heads * hd, cfg["num_layers"], cfg["pooled_projection_dim"], cfg["text_embed_dim"]
    p = cfg["patch_size"]
    Lq, mq = float(lat.tokens), float(text_tokens)
    mv = float(attn_text_tokens if attn_text_tokens is not None else text_tokens)
    L, m, one = Lq * b, mq * b, 1.0 * b
    hid_v = int(2 * 4 * dim / 3)
    hid_t = int(2 * 4 * tdim / 3)
    ops = OpList()
    conv(ops, "patch_embedding", cfg["in_channels"], dim, p * p, L, L * p * p, prec)
    linear(ops, "caption_projection", m, te, tdim, prec, True, 1)
    linear(ops, "time_embedding", one, cfg["time_embed_dim"], dim, prec, True, 1)
    linear(ops, "time_embedding", one, dim, dim, prec, True, 1)
    # MochiAttentionPool: the mean prompt token queries all tokens (itself included)
    linear(ops, "text_pool_kv", (mq + 1) * b, te, 2 * te, prec, True, 1)
    linear(ops, "text_pool_q", one, te, te, prec, True, 1)
    attn(ops, "text_pool_attention", 1.0, mq + 1, 8 * b, te // 8, prec)
    linear(ops, "text_pool_out", one, te, dim, prec, True, 1)
    linear(ops, "modulation", one, dim, 4 * dim, prec, True, n)
    linear(ops, "modulation_text", one, dim, 4 * tdim, prec, True, n - 1)
    linear(ops, "modulation_text", one, dim, tdim, prec, True, 1)
    norm(ops, "norm_modulate", (L * dim + m * tdim), prec, times=4 * n, kernels=6)
    for proj in ("q", "k", "v"):
        linear(ops, f"attn_{proj}", L, dim, dim, prec, False, n)
        linear(ops, f"attn_text_{proj}", m, tdim, dim, prec, False, n)
    norm(ops, "qk_norm", 2 * (L + m) * dim, prec, times=n, kernels=6)
    elt(ops, "rope", 2 * L * dim, 3.0, 6.0, prec, 8, n)
    attn(ops, "joint_attention", Lq + mv, Lq + mv, heads * b, hd, prec, n)
    linear(ops, "attn_o", L, dim, dim, prec, True, n)
    linear(ops, "attn_text_o", m, dim, tdim, prec, True, n - 1)
    linear(ops, "ffn_up", L, dim, 2 * hid_v, prec, False, n)
    elt(ops, "ffn_swiglu", L * hid_v, 5.0, 3.0, prec, 2, n)
    linear(ops, "ffn_down", L, hid_v, dim, prec, False, n)
    linear(ops, "ffn_text_up", m, tdim, 2 * hid_t, prec, False, n - 1)
    linear(ops, "ffn_text_down", m, hid_t, tdim, prec, False, n - 1)
    elt(ops, "gated_residual", L * dim + m * tdim, 2.0, 4.0, prec, 4, 2 * n)
    linear(ops, "norm_out_modulation", one, dim, 2 * dim, prec, True, 1)
    linear(ops, "proj_out", L, dim, p * p * lat.channels, prec, True, 1)
    return ops.ops()


def _embedder(ops: OpList, name: str, rows: float, n_in: int, dim: int, prec: Precision) -> None:
    """TimestepEmbedding / PixArtAlphaTextProjection: two linears, ``n_in -> dim -> dim``."""
    linear(ops, name, rows, n_in, dim, prec, True, 1)
    linear(ops, name, rows, dim, dim, prec, True, 1)


def hunyuan_dit_ops(cfg: dict[str, Any], lat: LatentShape, text_tokens: int, prec: Precision, b: int = 1,
                    attn_text_tokens: int | None = None) -> list[Op]:
    """HunyuanVideoTransformer3DModel: token refiner, dual-stream then single-stream blocks."""
    heads, hd = cfg["num_attention_heads"], cfg["attention_head_dim"]
    dim, n2, n1 = heads * hd, cfg["num_layers"], cfg["num_single_layers"]
    mlp = int(dim * cfg.get("mlp_ratio", 4.0))
    p, pt = cfg["patch_size"], cfg["patch_size_t"]
    Sq, mq = float(lat.tokens) + float(text_tokens), float(text_tokens)
    L, m, one, S, h = float(lat.tokens) * b, mq * b, 1.0 * b, Sq * b, heads * b
    ops = OpList()
    conv(ops, "patch_embedding", cfg["in_channels"], dim, p * p * pt, L, L * p * p * pt, prec)
    _embedder(ops, "time_embedding", one, 256, dim, prec)
    if cfg.get("guidance_embeds", True):
        _embedder(ops, "guidance_embedding", one, 256, dim, prec)
    _embedder(ops, "pooled_text_embedding", one, cfg.get("pooled_projection_dim", 768), dim, prec)
    # token refiner on the text: its own time and mean-text embedders, in-proj, small transformer blocks
    nr = cfg.get("num_refiner_layers", 2)
    _embedder(ops, "refiner_embedding", one, 256, dim, prec)
    _embedder(ops, "refiner_embedding", one, cfg["text_embed_dim"], dim, prec)
    linear(ops, "refiner", m, cfg["text_embed_dim"], dim, prec, True, 1)
    linear(ops, "refiner", m, dim, 3 * dim, prec, True, nr)
    linear(ops, "refiner", m, dim, dim, prec, True, nr)
    linear(ops, "refiner", m, dim, 2 * mlp, prec, True, nr)  # up and down, both dim x mlp
    linear(ops, "refiner_modulation", one, dim, 2 * dim, prec, True, nr)
    attn(ops, "refiner_attention", mq, mq, h, hd, prec, nr)
    # dual-stream blocks
    linear(ops, "dual_modulation", one, dim, 6 * dim, prec, True, 2 * n2)
    norm(ops, "norm_modulate", S * dim, prec, times=2 * n2, kernels=6)
    linear(ops, "dual_qkv", S, dim, 3 * dim, prec, True, n2)
    norm(ops, "qk_norm", 2 * S * dim, prec, times=n2, kernels=6)
    elt(ops, "rope", 2 * L * dim, 3.0, 6.0, prec, 10, n2 + n1)
    attn(ops, "dual_attention", Sq, Sq, h, hd, prec, n2)
    linear(ops, "dual_out", S, dim, dim, prec, True, n2)
    linear(ops, "dual_ffn_up", S, dim, mlp, prec, True, n2)
    elt(ops, "ffn_gelu", S * mlp, 8.0, 2.0, prec, 1, n2)
    linear(ops, "dual_ffn_down", S, mlp, dim, prec, True, n2)
    elt(ops, "gated_residual", S * dim, 2.0, 4.0, prec, 4, 2 * n2 + n1)
    # single-stream blocks
    linear(ops, "single_modulation", one, dim, 3 * dim, prec, True, n1)
    norm(ops, "norm_modulate", S * dim, prec, times=n1, kernels=6)
    linear(ops, "single_qkv_mlp", S, dim, 3 * dim + mlp, prec, True, n1)
    norm(ops, "qk_norm", 2 * S * dim, prec, times=n1, kernels=6)
    attn(ops, "single_attention", Sq, Sq, h, hd, prec, n1)
    elt(ops, "ffn_gelu", S * mlp, 8.0, 2.0, prec, 1, n1)
    linear(ops, "single_out", S, dim + mlp, dim, prec, True, n1)
    linear(ops, "norm_out_modulation", one, dim, 2 * dim, prec, True, 1)
    linear(ops, "proj_out", L, dim, p * p * pt * lat.channels, prec, True, 1)
    return ops.ops()


DIT_FAMILIES: dict[str, DitBuilder] = {
    "wan": wan_dit_ops,
    "cogvideox": cogvideox_dit_ops,
    "ltx": ltx_dit_ops,
    "mochi": mochi_dit_ops,
    "hunyuanvideo": hunyuan_dit_ops,
}
