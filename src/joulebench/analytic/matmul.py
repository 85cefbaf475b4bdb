"""Executed FLOPs of GEMMs and fused attention: tile padding, wave quantization, causal blocks.

Why: a GEMM kernel computes whole output tiles, and the GPU runs them in waves of one tile per SM.
Held against H100/H200 measurements of Llama-3.1-8B at a 1200-token prompt (not a multiple of 64),
the calibrated v1 profiles (fitted on 128..4096 tokens, all aligned) missed fp32 prefill by 11-23%
(issue 11): the aligned lengths never showed the padding. For ``M x K @ K x N``::

    tiles  = ceil(M / t_m) * ceil(N / t_n)                 (times the number of grouped GEMMs)
    waves  = ceil(tiles / sm_count)
    exec   = 2 * pad(M, t_m) * pad(N, t_n) * pad(K, t_k) / wave_efficiency
    wave_efficiency = tiles / (waves * sm_count)   when tiles >= sm_count, else 1

Below one full wave the libraries split K over CTAs (split-K / stream-K) to fill the machine, so a
small GEMM is not charged a whole wave; that is also why decode GEMVs stay memory-bound.

Tiles (`TILES`): the token dimension ``t_m`` adapts to M (the smallest of 16, 32, 64, 128 that holds
it: cuBLAS picks narrow tiles or swaps A and B for skinny GEMMs), ``t_n = 128``; ``t_k`` = 64 on
tensor cores (the Hopper/Ampere CUTLASS default K step for 16-bit types) and 32 for SIMT fp32.
They are the CUTLASS default threadblock shapes, not a per-shape cuBLAS heuristic: the calibrated
``mu_compute`` absorbs the average, the model keeps the *shape* of the loss.

Fused causal attention (FlashAttention-style SDPA, 16-bit types) runs query blocks of ``B_r`` against
key blocks of ``B_c`` and skips blocks above the diagonal (and, with a sliding window, those past
the window): executed pairs = blocks * B_r * B_c. The math fallback and eager attention compute
every pair (they mask after the matmul): their executed FLOPs are the dense ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ArrayLike = np.ndarray | float

#: FlashAttention-2 forward block (128 x 128 for head dims up to 128 on sm80/sm90)
ATTENTION_BLOCK = 128


@dataclass(frozen=True)
class Tile:
    """The largest output tile (``m`` x ``n``) and the K step of one GEMM kernel family."""

    m: int
    n: int
    k: int
    min_m: int = 16


#: per compute key of the catalogue (module docstring)
TILES: dict[str, Tile] = {
    "fp32": Tile(128, 128, 32),
    "tf32": Tile(128, 128, 32),
    "bf16": Tile(128, 128, 64),
    "fp16": Tile(128, 128, 64),
    "fp8": Tile(128, 128, 128),
    "int8": Tile(128, 128, 128),
}


@dataclass(frozen=True)
class Executed:
    """What the executed-FLOP model needs of the machine: the tile family and the SM count."""

    tile: Tile
    sm_count: int | None
    attention_block: int = ATTENTION_BLOCK

    @classmethod
    def for_compute(cls, compute: str, sm_count: int | None) -> Executed:
        return cls(TILES.get(compute, TILES["bf16"]), sm_count)


def _pad(x: ArrayLike, step: ArrayLike) -> np.ndarray:
    return np.ceil(np.asarray(x, dtype=float) / step) * step


def token_tile(m: ArrayLike, tile: Tile) -> np.ndarray:
    """The tile height for ``m`` rows: the smallest power of two >= m, within [min_m, tile.m]."""
    m = np.maximum(np.asarray(m, dtype=float), 1.0)
    return np.clip(np.exp2(np.ceil(np.log2(m))), tile.min_m, tile.m)


def gemm_exec_flops(m: ArrayLike, n: int, k: int, ex: Executed, groups: ArrayLike = 1.0) -> np.ndarray:
    """Executed FLOPs of ``groups`` GEMMs of ``m x k @ k x n`` launched together (grouped experts: one
    launch, tiles of all groups share the waves)."""
    m = np.asarray(m, dtype=float)
    tile = ex.tile
    tm = token_tile(m, tile)
    rows, cols = np.ceil(m / tm), np.ceil(n / tile.n)
    padded = 2.0 * rows * tm * cols * tile.n * _pad(k, tile.k) * groups
    if ex.sm_count is None:
        return np.where(m > 0, padded, 0.0)
    tiles = rows * cols * groups
    waves = np.ceil(tiles / ex.sm_count)
    eff = np.where(tiles >= ex.sm_count, tiles / np.maximum(waves * ex.sm_count, 1.0), 1.0)
    return np.where(m > 0, padded / eff, 0.0)


def causal_blocks(q: ArrayLike, window: int | None, block: int) -> np.ndarray:
    """Key blocks a causal kernel visits, summed over the ``ceil(q / block)`` query blocks (q == keys)."""
    nq = np.ceil(np.asarray(q, dtype=float) / block)
    if window is None:
        return nq * (nq + 1.0) / 2.0
    c = float(np.ceil(window / block) + 1.0)  # blocks a query block can reach within the window
    head = np.minimum(nq, c)
    return head * (head + 1.0) / 2.0 + np.maximum(nq - c, 0.0) * c


def causal_pairs(q: ArrayLike, window: int | None, block: int = ATTENTION_BLOCK) -> np.ndarray:
    """Query-key pairs a fused causal kernel executes per sequence and head (blocks x block^2)."""
    return causal_blocks(q, window, block) * float(block) * float(block)
