"""Byte widths and compute precision of one run.

Why separate widths: weight-only quantisation (int8/int4) shrinks the bytes that decode reads but
leaves activations and the KV cache in 16 bits and the matmuls in bf16/fp16 (bitsandbytes
de-quantises on the fly, LLM.int8 runs int8 tensor-core matmuls); an fp8 KV cache shrinks only
the cache. Group-wise quantisation stores one scale per ``group_size`` weights, which adds
``scale_bytes / group_size`` bytes per weight (NF4 with blocks of 64 and 16-bit scales: +1/32 B).
"""

from __future__ import annotations

from dataclasses import dataclass

from joulebench.errors import UsageError
from joulebench.hardware import dtypes
from joulebench.hardware.dtypes import ELEMENT_BYTES


def canonical_dtype(name: str, field: str = "dtype") -> str:
    """The canonical name of any accepted spelling (one vocabulary: `joulebench.hardware.dtypes`)."""
    return dtypes.canonical(name, field)


@dataclass(frozen=True)
class Precision:
    """Bytes per element for each tensor family and the peak-FLOP/s key of the matmuls."""

    dtype: str  # the headline dtype (``--dtype``)
    weight_bytes: float  # per weight of a quantisable linear, scales included
    dense_weight_bytes: float  # embeddings, LM head, norms: never quantised by the loaders we model
    activation_bytes: float
    kv_bytes: float
    compute: str  # key of Accelerator.peak_flops_per_s
    kernels_per_linear: int  # eager launches per nn.Linear (1; bitsandbytes adds de-quantisation kernels)


def precision_for(
    dtype: str,
    *,
    kv_dtype: str | None = None,
    activation_dtype: str | None = None,
    compute: str | None = None,
    group_size: int | None = None,
    scale_bytes: float | None = None,
    tf32: bool = False,
) -> Precision:
    """The precision of a ``--dtype`` run, with optional overrides (fp8 KV cache, TF32 matmuls, ...)."""
    d = dtypes.get(dtype)
    act = canonical_dtype(activation_dtype, "activation_dtype") if activation_dtype else d.activation
    if act not in ("fp32", "bf16", "fp16", "fp8"):
        raise UsageError.bad("activation_dtype", act, "not supported; allowed: fp32, bf16, fp16, fp8")
    kv = canonical_dtype(kv_dtype, "kv_dtype") if kv_dtype else act
    if kv not in ELEMENT_BYTES:
        raise UsageError.bad("kv_dtype", kv_dtype, f"not a cache format; allowed: {', '.join(ELEMENT_BYTES)}")
    group = group_size if group_size is not None else d.group_size
    if group is not None and group <= 0:
        raise UsageError.bad("group_size", group, "must be a positive integer")
    scales = d.scale_bytes if scale_bytes is None else scale_bytes
    weight_bytes = d.element_bytes + (scales / group if group else 0.0)
    comp = compute or ("tf32" if (d.name == "fp32" and tf32) else d.compute)
    return Precision(
        dtype=d.name,
        weight_bytes=weight_bytes,
        dense_weight_bytes=ELEMENT_BYTES[act] if d.quantized else d.element_bytes,
        activation_bytes=ELEMENT_BYTES[act],
        kv_bytes=ELEMENT_BYTES[kv],
        compute=comp,
        kernels_per_linear=d.kernels_per_linear,
    )
