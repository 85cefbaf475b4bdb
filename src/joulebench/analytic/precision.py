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

DTYPE_BYTES: dict[str, float] = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
DTYPE_ALIASES: dict[str, str] = {
    "float32": "fp32",
    "float": "fp32",
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "float8": "fp8",
    "float8_e4m3fn": "fp8",
    "nf4": "int4",
    "fp4": "int4",
}
DTYPES: tuple[str, ...] = tuple(DTYPE_BYTES)

# dtype -> (activation/KV dtype, compute precision key, default group size for scales)
_RULES: dict[str, tuple[str, str, int | None]] = {
    "fp32": ("fp32", "fp32", None),
    "bf16": ("bf16", "bf16", None),
    "fp16": ("fp16", "fp16", None),
    "fp8": ("bf16", "fp8", None),
    "int8": ("fp16", "int8", None),  # LLM.int8: per-row scales (negligible bytes), int8 tensor-core matmul
    "int4": ("bf16", "bf16", 64),  # NF4: blocks of 64, de-quantised to bf16 before the matmul
}


def canonical_dtype(name: str, field: str = "dtype") -> str:
    key = name.strip().lower()
    key = DTYPE_ALIASES.get(key, key)
    if key not in DTYPE_BYTES:
        raise UsageError(f"{field} '{name}' unknown; allowed: {', '.join(DTYPES)}")
    return key


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
    scale_bytes: float = 2.0,
    tf32: bool = False,
) -> Precision:
    """The precision of a ``--dtype`` run, with optional overrides (fp8 KV cache, TF32 matmuls, ...)."""
    wd = canonical_dtype(dtype)
    act_default, compute_default, group_default = _RULES[wd]
    act = canonical_dtype(activation_dtype, "activation dtype") if activation_dtype else act_default
    if DTYPE_BYTES[act] < 2 and act != "fp8":
        raise UsageError(f"activation dtype '{act}' not supported; allowed: fp32, bf16, fp16, fp8")
    kv = canonical_dtype(kv_dtype, "kv dtype") if kv_dtype else act
    group = group_size if group_size is not None else group_default
    if group is not None and group <= 0:
        raise UsageError(f"group size {group} must be a positive integer")
    weight_bytes = DTYPE_BYTES[wd] + (scale_bytes / group if group else 0.0)
    comp = compute or ("tf32" if (wd == "fp32" and tf32) else compute_default)
    kernels = {"int8": 6, "int4": 2}.get(wd, 1)
    return Precision(
        dtype=wd,
        weight_bytes=weight_bytes,
        dense_weight_bytes=DTYPE_BYTES[act] if wd in ("int8", "int4", "fp8") else DTYPE_BYTES[wd],
        activation_bytes=DTYPE_BYTES[act],
        kv_bytes=DTYPE_BYTES[kv],
        compute=comp,
        kernels_per_linear=kernels,
    )
