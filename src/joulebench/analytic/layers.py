"""Op builders for the non-attention parts of a decoder layer: norms, linears, elementwise kernels,
dense MLPs and mixture-of-experts blocks (the conventions are in ``analytic.llm``'s docstring)."""

from __future__ import annotations

import numpy as np

from joulebench.analytic.arch import LLMArch
from joulebench.analytic.matmul import Executed, gemm_exec_flops
from joulebench.analytic.ops import OpList
from joulebench.analytic.precision import Precision

ArrayLike = np.ndarray | float

ACTIVATION_FLOPS = {"silu": 4.0, "gelu_tanh": 8.0, "gelu": 8.0, "relu": 1.0}

# Kernel-count estimates (eager launches), documented in analytic.llm's docstring.
K_RMSNORM = 6
K_ROUTER = 6
K_EXPERTS_GROUPED = 15


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
    ex: Executed | None = None,
) -> None:
    """``tokens x n_in @ n_in x n_out``: 2*m*n*p FLOPs, weights once, input read, output written;
    with ``ex``, also the executed FLOPs of the padded tiles in waves (`matmul.gemm_exec_flops`)."""
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
        exec_flops=None if ex is None else gemm_exec_flops(tokens, n_out, n_in, ex),
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


def _mlp(ops: OpList, arch: LLMArch, prec: Precision, tokens: ArrayLike, times: float,
         ex: Executed | None = None) -> None:
    h, inter = arch.hidden, arch.intermediate
    if arch.fused_gate_up:
        _linear(ops, "gate_up_proj", tokens, h, 2 * inter, prec, arch.mlp_bias, times, ex=ex)
    else:
        _linear(ops, "gate_proj", tokens, h, inter, prec, arch.mlp_bias, times, ex=ex)
        _linear(ops, "up_proj", tokens, h, inter, prec, arch.mlp_bias, times, ex=ex)
    _eltwise(ops, "mlp_act", tokens * inter, ACTIVATION_FLOPS.get(arch.activation, 8.0), 2.0, prec, 1, times)
    _eltwise(ops, "mlp_act_mul", tokens * inter, 1.0, 3.0, prec, 1, times)
    _linear(ops, "down_proj", tokens, inter, h, prec, arch.mlp_bias, times, ex=ex)


def _moe(ops: OpList, arch: LLMArch, prec: Precision, tokens: ArrayLike, times: float,
         ex: Executed | None = None) -> None:
    """Router + routed experts (transformers' grouped_mm path) + optional shared expert.

    Weight bytes count the experts actually touched: with ``n`` routed tokens and uniform routing,
    the expected number of distinct experts is ``E * (1 - (1 - top_k/E)^n)``.
    """
    assert arch.moe is not None
    m, h = arch.moe, arch.hidden
    a = prec.activation_bytes
    _linear(ops, "moe_router", tokens, h, m.n_experts, prec, False, times, weight_bytes=prec.dense_weight_bytes, ex=ex)
    _eltwise(ops, "moe_topk", tokens * m.n_experts, 6.0, 3.0, prec, K_ROUTER - 1, times)
    touched = m.n_experts * (1.0 - (1.0 - m.top_k / m.n_experts) ** np.asarray(tokens, dtype=float))
    routed = tokens * m.top_k
    inter = m.expert_intermediate
    per_expert = routed / np.maximum(touched, 1e-12)  # rows of each touched expert's GEMM

    def grouped_linear(name: str, n_in: int, n_out: int) -> None:
        """One grouped GEMM over the touched experts: each one's weights once, the routed rows in and out."""
        bytes_ = touched * n_in * n_out * prec.weight_bytes + routed * (n_in + n_out) * a
        executed = None if ex is None else gemm_exec_flops(per_expert, n_out, n_in, ex, groups=touched)
        ops.add(name, "matmul", 2.0 * routed * n_in * n_out, bytes_, prec.kernels_per_linear, counted=True,
                times=times, exec_flops=executed)

    grouped_linear("experts_gate_up", h, 2 * inter)
    _eltwise(ops, "experts_act_mul", routed * inter, ACTIVATION_FLOPS.get(arch.activation, 8.0) + 1.0, 5.0, prec, 2,
             times)
    grouped_linear("experts_down", inter, h)
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
        _linear(ops, "shared_gate_proj", tokens, h, si, prec, False, times, ex=ex)
        _linear(ops, "shared_up_proj", tokens, h, si, prec, False, times, ex=ex)
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
        _linear(ops, "shared_down_proj", tokens, si, h, prec, False, times, ex=ex)
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
