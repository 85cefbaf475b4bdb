"""VAE decoders: one ``vae.decode`` of the latents, walked the way diffusers' code runs it.

Each walk follows its class's default path (no tiling, diffusers' own frame batching) and is checked
against ``FlopCounterMode`` on the meta device within 1% (tests):

* Wan: once per latent frame with causal caches; the first chunk skips the temporal up-sampling.
* CogVideoX: chunks of two latent frames (the first takes the odd one); spatially conditioned group
  norms (two 1x1 convs from the latents each); up-sampling doubles time only in the first two blocks,
  keeping a lone first frame.
* LTX-Video: one shot; depth-to-space up-samplers (a 3x3x3 conv to 8x channels, then frames
  ``2t - 1``); 0.9.5+ decoders add timestep embedders and residual up-samplers.
* Mochi-1: one shot; up blocks are a linear to ``c * t_exp * s_exp^2`` and an unpatchify.
* HunyuanVideo: temporal tiles of 5 latent frames every 3 (framewise decoding is on by default), each
  with a single-head attention over all its positions in the middle block.
* AutoencoderKL (AnimateDiff): the image VAE over every frame.

Norms and activations are priced (uncounted rows) with the same kernel estimates as the DiTs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from joulebench.analytic.ops import Op, OpList, registered_as
from joulebench.analytic.precision import Precision
from joulebench.analytic.video_ops import attn, conv, elt, linear, norm
from joulebench.models.video import LatentShape

#: VAE decoder op builders by video family (``models.video``), filled by ``registered_as`` below
VAE_DECODERS: dict[str, Callable[[dict[str, Any], LatentShape, Precision], list[Op]]] = {}


def _act(ops: OpList, elems: float, prec: Precision) -> None:
    elt(ops, "vae_silu", elems, 4.0, 2.0, prec, 1)


# -- Wan -----------------------------------------------------------------------------------------------
def _wan_resnet(ops: OpList, c_in: int, c_out: int, pos: float, prec: Precision) -> None:
    """WanResidualBlock on ``pos`` output positions (causal 3x3x3 convs keep the frame count)."""
    if c_in != c_out:
        conv(ops, "vae_conv_shortcut", c_in, c_out, 1, pos, pos, prec)
    norm(ops, "vae_rms_norm", pos * c_in, prec, kernels=5)
    elt(ops, "vae_silu", pos * c_in, 4.0, 2.0, prec, 1)
    elt(ops, "vae_causal_cache", pos * c_in, 0.0, 4.0, prec, 3)  # cat with cached frames + pad
    conv(ops, "vae_conv3d", c_in, c_out, 27, pos, pos, prec)
    norm(ops, "vae_rms_norm", pos * c_out, prec, kernels=5)
    elt(ops, "vae_silu", pos * c_out, 4.0, 2.0, prec, 1)
    elt(ops, "vae_causal_cache", pos * c_out, 0.0, 4.0, prec, 3)
    conv(ops, "vae_conv3d", c_out, c_out, 27, pos, pos, prec)
    elt(ops, "vae_residual_add", pos * c_out, 1.0, 3.0, prec, 1)


@registered_as(VAE_DECODERS, "wan")
def wan_vae_decoder_ops(cfg: dict[str, Any], lat: LatentShape, prec: Precision) -> list[Op]:
    """AutoencoderKLWan decode: post_quant_conv, then the decoder once per latent frame."""
    base, z = cfg["base_dim"], cfg["z_dim"]
    mult, nres = cfg["dim_mult"], cfg["num_res_blocks"]
    t_up = list(reversed(cfg["temperal_downsample"]))
    dims = [base * u for u in [mult[-1], *mult[::-1]]]
    hw0 = float(lat.height * lat.width)
    ops = OpList()
    conv(ops, "vae_post_quant_conv", z, z, 1, hw0 * lat.frames, hw0 * lat.frames, prec)
    for chunk in range(lat.frames):
        first = chunk == 0
        t, hw = 1.0, hw0
        conv(ops, "vae_conv3d", z, dims[0], 27, t * hw, t * hw, prec)
        _wan_resnet(ops, dims[0], dims[0], t * hw, prec)
        # middle attention: one head over h*w tokens of each frame, 1x1 conv qkv and proj
        norm(ops, "vae_rms_norm", t * hw * dims[0], prec, kernels=5)
        conv(ops, "vae_attn_qkv", dims[0], 3 * dims[0], 1, t * hw, t * hw, prec)
        attn(ops, "vae_mid_attention", hw, hw, 1, dims[0], prec, t)
        conv(ops, "vae_attn_proj", dims[0], dims[0], 1, t * hw, t * hw, prec)
        _wan_resnet(ops, dims[0], dims[0], t * hw, prec)
        for i, (c_in, c_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            if i > 0:
                c_in = c_in // 2
            for j in range(nres + 1):
                _wan_resnet(ops, c_in if j == 0 else c_out, c_out, t * hw, prec)
            if i == len(mult) - 1:
                continue
            if t_up[i] and not first:  # time_conv: c -> 2c channels, then frames doubled
                conv(ops, "vae_time_conv", c_out, 2 * c_out, 3, t * hw, t * hw, prec)
                t *= 2.0
            elt(ops, "vae_upsample_nearest", 4.0 * t * hw * c_out, 0.0, 1.25, prec, 3)
            hw *= 4.0
            conv(ops, "vae_upsample_conv2d", c_out, c_out // 2, 9, t * hw, t * hw, prec)
        norm(ops, "vae_rms_norm", t * hw * dims[-1], prec, kernels=5)
        elt(ops, "vae_silu", t * hw * dims[-1], 4.0, 2.0, prec, 1)
        conv(ops, "vae_conv_out", dims[-1], 3, 27, t * hw, t * hw, prec)
    return ops.ops()


# -- a plain 3D resnet (CogVideoX's, Mochi's, Hunyuan's, LTX's differ in norms and shortcuts) -----------
def _resnet(ops: OpList, c_in: int, c_out: int, pos: float, prec: Precision, k: int = 27,
            norm_convs: int = 0, shortcut: int | None = 1) -> None:
    """norm, act, conv, norm, act, conv (+ shortcut when channels change); ``norm_convs`` > 0: each
    norm is CogVideoX's spatial norm (two 1x1 convs from ``norm_convs`` latent channels)."""
    for c in (c_in, c_out):
        if norm_convs:
            conv(ops, "vae_spatial_norm", norm_convs, c, 1, pos, pos, prec, times=2)
        norm(ops, "vae_norm", pos * c, prec)
        _act(ops, pos * c, prec)
        conv(ops, "vae_conv3d", c, c_out, k, pos, pos, prec)
    if c_in != c_out and shortcut is not None:
        conv(ops, "vae_conv_shortcut", c_in, c_out, shortcut, pos, pos, prec)
    elt(ops, "vae_residual_add", pos * c_out, 1.0, 3.0, prec, 1)


def _cogvideox_chunks(frames: int) -> list[int]:
    """Latent frames per decoder call: two at a time, the first chunk takes the odd one."""
    if frames < 2:
        return [frames]
    return [2 + frames % 2] + [2] * (frames // 2 - 1)


def _time_up_odd(t: float) -> float:
    """Frames after a ×2 temporal up-sampling that keeps a lone first frame (odd counts)."""
    if t > 1 and t % 2 == 1:
        return 1 + 2 * (t - 1)
    return 2 * t if t > 1 else 1.0


@registered_as(VAE_DECODERS, "cogvideox")
def cogvideox_vae_decoder_ops(cfg: dict[str, Any], lat: LatentShape, prec: Precision) -> list[Op]:
    chans = list(reversed(cfg.get("block_out_channels", (128, 256, 256, 512))))
    lpb = int(cfg.get("layers_per_block", 3))
    zc = int(cfg.get("latent_channels", 16))
    time_levels = int(math.log2(cfg.get("temporal_compression_ratio", 4)))
    ops = OpList()
    for t0 in _cogvideox_chunks(lat.frames):
        t, hw = float(t0), float(lat.height * lat.width)
        conv(ops, "vae_conv_in", zc, chans[0], 27, t * hw, t * hw, prec)
        for _ in range(2):
            _resnet(ops, chans[0], chans[0], t * hw, prec, norm_convs=zc)
        prev = chans[0]
        for i, c in enumerate(chans):
            for j in range(lpb + 1):
                _resnet(ops, prev if j == 0 else c, c, t * hw, prec, norm_convs=zc)
            prev = c
            if i < len(chans) - 1:
                if i < time_levels:
                    t = _time_up_odd(t)
                hw *= 4.0
                conv(ops, "vae_upsample_conv2d", c, c, 9, t * hw, t * hw, prec)
        conv(ops, "vae_spatial_norm", zc, prev, 1, t * hw, t * hw, prec, times=2)
        conv(ops, "vae_conv_out", prev, int(cfg.get("out_channels", 3)), 27, t * hw, t * hw, prec)
    return ops.ops()


def _ltx_time_embedder(ops: OpList, width: int, prec: Precision) -> None:
    linear(ops, "vae_time_embedding", 1.0, 256, width, prec, True, 1)
    linear(ops, "vae_time_embedding", 1.0, width, width, prec, True, 1)


@registered_as(VAE_DECODERS, "ltx")
def ltx_vae_decoder_ops(cfg: dict[str, Any], lat: LatentShape, prec: Precision) -> list[Op]:
    chans = list(reversed(cfg.get("decoder_block_out_channels", (128, 256, 512, 512))))
    n = len(chans)
    scaling = list(reversed(cfg.get("decoder_spatio_temporal_scaling", (True, True, True, False))))
    layers = list(reversed(cfg.get("decoder_layers_per_block", (4, 3, 3, 3, 4))))
    factor = list(reversed(cfg.get("upsample_factor", (1,) * n)))
    tc = bool(cfg.get("timestep_conditioning", False))
    p = int(cfg.get("patch_size", 4))
    t, hw = float(lat.frames), float(lat.height * lat.width)
    ops = OpList()
    out = chans[0]
    conv(ops, "vae_conv_in", int(cfg.get("latent_channels", 128)), out, 27, t * hw, t * hw, prec)
    if tc:
        _ltx_time_embedder(ops, out * 4, prec)
    for _ in range(layers[0]):
        _resnet(ops, out, out, t * hw, prec)
    for i in range(n):
        c_in, c_out = out // factor[i], chans[i] // factor[i]
        if c_in != c_out:
            _resnet(ops, c_in, c_out, t * hw, prec)
        if tc:
            _ltx_time_embedder(ops, c_in * 4, prec)
        if scaling[i]:
            width = c_out * factor[i]
            conv(ops, "vae_upsample_conv3d", width, width * 8 // factor[i], 27, t * hw, t * hw, prec)
            t, hw = 2 * t - 1, hw * 4.0
        for _ in range(layers[i + 1]):
            _resnet(ops, c_out, c_out, t * hw, prec)
        out = c_out
    if tc:
        _ltx_time_embedder(ops, out * 2, prec)
    norm(ops, "vae_norm", t * hw * out, prec)
    conv(ops, "vae_conv_out", out, int(cfg.get("out_channels", 3)) * p * p, 27, t * hw, t * hw, prec)
    return ops.ops()


@registered_as(VAE_DECODERS, "mochi")
def mochi_vae_decoder_ops(cfg: dict[str, Any], lat: LatentShape, prec: Precision) -> list[Op]:
    chans = list(cfg.get("decoder_block_out_channels", (128, 256, 512, 768)))
    layers = list(cfg.get("layers_per_block", (3, 3, 4, 6, 3)))
    t_exp = list(cfg.get("temporal_expansions", (1, 2, 3)))
    s_exp = list(cfg.get("spatial_expansions", (2, 2, 2)))
    t, hw = float(lat.frames), float(lat.height * lat.width)
    ops = OpList()
    conv(ops, "vae_conv_in", int(cfg.get("latent_channels", 12)), chans[-1], 1, t * hw, t * hw, prec)
    for _ in range(layers[-1]):
        _resnet(ops, chans[-1], chans[-1], t * hw, prec)
    for i in range(len(chans) - 1):
        c_in, c_out, st, ss = chans[-i - 1], chans[-i - 2], t_exp[-i - 1], s_exp[-i - 1]
        for _ in range(layers[-i - 2]):
            _resnet(ops, c_in, c_in, t * hw, prec)
        linear(ops, "vae_unpatchify_proj", t * hw, c_in, c_out * st * ss * ss, prec, True, 1)
        t, hw = t * st, hw * ss * ss
    for _ in range(layers[0]):
        _resnet(ops, chans[0], chans[0], t * hw, prec)
    linear(ops, "vae_proj_out", t * hw, chans[0], int(cfg.get("out_channels", 3)), prec, True, 1)
    return ops.ops()


def _hunyuan_tiles(frames: int, min_frames: int = 4, stride: int = 3) -> list[int]:
    """Latent frames of each temporal tile (framewise decoding: tiles of 5 every 3 latent frames)."""
    if frames <= min_frames:
        return [frames]
    return [min(min_frames + 1, frames - i) for i in range(0, frames, stride)]


@registered_as(VAE_DECODERS, "hunyuanvideo")
def hunyuan_vae_decoder_ops(cfg: dict[str, Any], lat: LatentShape, prec: Precision) -> list[Op]:
    chans = list(cfg.get("block_out_channels", (128, 256, 512, 512)))
    lpb = int(cfg.get("layers_per_block", 2))
    zc = int(cfg.get("latent_channels", 16))
    n_space = int(math.log2(cfg.get("spatial_compression_ratio", 8)))
    n_time = int(math.log2(cfg.get("temporal_compression_ratio", 4)))
    mid_attention = bool(cfg.get("mid_block_add_attention", True))
    rev = list(reversed(chans))
    ops = OpList()
    for t0 in _hunyuan_tiles(lat.frames):
        t, hw = float(t0), float(lat.height * lat.width)
        conv(ops, "vae_post_quant_conv", zc, zc, 1, t * hw, t * hw, prec)
        conv(ops, "vae_conv_in", zc, rev[0], 27, t * hw, t * hw, prec)
        _resnet(ops, rev[0], rev[0], t * hw, prec)
        if mid_attention:  # one head over every position of the tile, causal mask (counted dense)
            s = t * hw
            norm(ops, "vae_norm", s * rev[0], prec)
            linear(ops, "vae_attn_qkvo", s, rev[0], rev[0], prec, True, 4)
            attn(ops, "vae_mid_attention", s, s, 1, rev[0], prec)
        _resnet(ops, rev[0], rev[0], t * hw, prec)
        prev = rev[0]
        for i, c in enumerate(rev):
            for j in range(lpb + 1):
                _resnet(ops, prev if j == 0 else c, c, t * hw, prec)
            prev = c
            space = i < n_space
            time = len(rev) - 1 - n_time <= i < len(rev) - 1
            if space or time:
                if time:
                    t = 1 + 2 * (t - 1)
                if space:
                    hw *= 4.0
                conv(ops, "vae_upsample_conv3d", c, c, 27, t * hw, t * hw, prec)
        norm(ops, "vae_norm", t * hw * prev, prec)
        conv(ops, "vae_conv_out", prev, int(cfg.get("out_channels", 3)), 27, t * hw, t * hw, prec)
    return ops.ops()


@registered_as(VAE_DECODERS, "animatediff")
def kl_vae_decoder_ops(cfg: dict[str, Any], lat: LatentShape, prec: Precision) -> list[Op]:
    """AutoencoderKL (Stable Diffusion's image VAE) over every frame, as AnimateDiff decodes."""
    chans = list(reversed(cfg.get("block_out_channels", (128, 256, 512, 512))))
    lpb = int(cfg.get("layers_per_block", 2))
    zc = int(cfg.get("latent_channels", 4))
    hw = float(lat.height * lat.width) * lat.frames  # frames are the batch
    ops = OpList()
    if cfg.get("use_post_quant_conv", True):
        conv(ops, "vae_post_quant_conv", zc, zc, 1, hw, hw, prec)
    conv(ops, "vae_conv_in", zc, chans[0], 9, hw, hw, prec)
    _resnet(ops, chans[0], chans[0], hw, prec, k=9)
    if cfg.get("mid_block_add_attention", True):
        per_frame = hw / lat.frames
        linear(ops, "vae_attn_qkvo", hw, chans[0], chans[0], prec, True, 4)
        attn(ops, "vae_mid_attention", per_frame, per_frame, lat.frames, chans[0], prec)
    _resnet(ops, chans[0], chans[0], hw, prec, k=9)
    prev = chans[0]
    for i, c in enumerate(chans):
        for j in range(lpb + 1):
            _resnet(ops, prev if j == 0 else c, c, hw, prec, k=9)
        prev = c
        if i < len(chans) - 1:
            hw *= 4.0
            conv(ops, "vae_upsample_conv2d", c, c, 9, hw, hw, prec)
    norm(ops, "vae_norm", hw * prev, prec)
    conv(ops, "vae_conv_out", prev, int(cfg.get("out_channels", 3)), 9, hw, hw, prec)
    return ops.ops()
