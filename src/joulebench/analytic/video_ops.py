"""Primitives of the video op models: attention, norms, elementwise passes, convolutions.

Each adds one row to an `OpList` with its FLOPs, bytes and eager kernel launches. Matmul-like rows
(attention products, convolutions, linears from ``analytic.llm._linear``) are flagged ``counted``: they
are what ``FlopCounterMode`` counts, which the tests compare against the real code on the meta device.
A forward of batch ``b`` (guidance batched into one call) scales the activations, not the weights nor
the launches; callers pass token counts already multiplied by ``b``.
"""

from __future__ import annotations

from joulebench.analytic.llm import _linear
from joulebench.analytic.ops import OpList
from joulebench.analytic.precision import Precision

# eager launches per primitive (estimates, as in analytic.llm)
K_LAYERNORM = 3  # cast up, layer_norm, cast down
K_SDPA = 1

__all__ = ["K_LAYERNORM", "K_SDPA", "attn", "conv", "elt", "linear", "norm"]

linear = _linear


def attn(ops: OpList, name: str, q_tokens: float, k_tokens: float, heads: float, head_dim: int, prec: Precision,
         times: float = 1.0) -> None:
    """Fused SDPA: scores and values over all pairs (dense); reads Q, K, V and writes O.

    The softmax FLOPs (5 per pair) go to a separate, uncounted row so that the counted FLOPs stay
    exactly what FlopCounterMode reports (4 * pairs * head_dim). ``heads`` includes the batch.
    """
    a = prec.activation_bytes
    pairs = heads * q_tokens * k_tokens
    io = (2 * q_tokens + 2 * k_tokens) * heads * head_dim * a
    ops.add(name, "attention", 4.0 * pairs * head_dim, io, K_SDPA, counted=True, times=times)
    ops.add(name + "_softmax", "attention", 5.0 * pairs, 0.0, 0.0, times=times)


def norm(ops: OpList, name: str, elems: float, prec: Precision, times: float = 1.0, kernels: int = K_LAYERNORM) -> None:
    a = prec.activation_bytes
    ops.add(name, "norm", 5.0 * elems, elems * (2 * a + 8.0), kernels, times=times)


def elt(ops: OpList, name: str, elems: float, flops_per: float, passes: float, prec: Precision, kernels: float,
        times: float = 1.0) -> None:
    ops.add(name, "elementwise", flops_per * elems, passes * elems * prec.activation_bytes, kernels, times=times)


def conv(ops: OpList, name: str, c_in: int, c_out: int, kernel: int, out_positions: float, in_positions: float,
         prec: Precision, times: float = 1.0) -> None:
    """Convolution: 2*c_in*c_out*kernel FLOPs per output position; weights, input, output once."""
    a = prec.activation_bytes
    bytes_ = c_in * c_out * kernel * prec.dense_weight_bytes + (c_in * in_positions + c_out * out_positions) * a
    ops.add(name, "matmul", 2.0 * c_in * c_out * kernel * out_positions, bytes_, 1, counted=True, times=times)
