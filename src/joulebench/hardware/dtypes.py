"""The one dtype vocabulary: every spelling a user may type, what torch loads, what the predictor costs.

Why one table: a dtype is named by users (``bf16`` or ``bfloat16``), by torch (``torch.bfloat16``), by
the hardware catalogue (the peak-FLOP/s key ``bf16``), by the predictor (bytes per weight, activation
and KV widths, kernels per linear) and by the quantization loaders (bitsandbytes, torchao). Writing it
once here means every command accepts the same spellings and maps them the same way.

Canonical names are the short ones (``fp32``, ``bf16``, ``fp16``); the torch spellings are aliases,
so stores and profiles written with ``float32`` / ``bfloat16`` read back as the same dtype.

Quantized weights (bytes per weight include the scales the library stores):

* ``bnb-int8`` - bitsandbytes LLM.int8: int8 weights with one fp32 scale per output row (negligible
  bytes), fp16 activations, int8 tensor-core matmuls plus outlier decomposition (extra kernels).
* ``bnb-nf4`` - bitsandbytes NF4: 4-bit codes in blocks of 64 with one **fp32** absmax per block
  (``0.5 + 4/64 = 0.5625`` B/weight; double quantization, off by default in transformers, would shrink
  the absmax to 8 bits), de-quantized to bf16 before a bf16 matmul.
* ``torchao-int8`` - int8 weight-only, one bf16 scale per output channel, bf16 matmul after de-quant.
* ``torchao-int4`` - int4 weight-only, groups of 128 with a bf16 scale and a bf16 zero point each
  (``0.5 + 4/128`` B/weight), bf16 compute.
* ``torchao-fp8`` - float8 e4m3 weights and dynamically quantized activations, fp8 tensor cores
  (compute capability 8.9+).
* ``int8`` / ``int4`` / ``fp8`` - generic formats for the predictor only (int4: blocks of 64 with
  16-bit scales; int8: as LLM.int8; fp8: fp8 weights, bf16 activations, fp8 matmuls).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from joulebench.errors import UsageError

#: bytes of one element of a plain (unscaled) format: activations, KV caches, dense weights
ELEMENT_BYTES: dict[str, float] = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}


@dataclass(frozen=True)
class Dtype:
    """One way of storing and computing a model's weights."""

    name: str
    aliases: tuple[str, ...]
    #: the torch dtype the model is loaded in (for quantized formats: the dtype of the un-quantized parts)
    torch_name: str | None
    #: bytes of one stored weight element, before scales
    element_bytes: float
    #: weights per scale (None: no per-group scales, or negligible per-row ones)
    group_size: int | None
    #: bytes of the scale (and zero point) stored per group
    scale_bytes: float
    #: the dtype activations and the KV cache are kept in
    activation: str
    #: the catalogue's peak-FLOP/s key of the matmuls
    compute: str
    #: eager launches per nn.Linear (de-quantization kernels included)
    kernels_per_linear: int
    #: who loads it: "torch", "bitsandbytes", "torchao", or None (a format the predictor prices only)
    loader: str | None
    #: CUDA compute capability it needs (fp8 tensor cores: 8.9), None when any device will do
    min_capability: tuple[int, int] | None = None
    #: runs on CUDA only (bitsandbytes and torchao kernels)
    cuda_only: bool = False

    @property
    def weight_bytes(self) -> float:
        """Bytes per weight of a quantizable linear, scales included."""
        return self.element_bytes + (self.scale_bytes / self.group_size if self.group_size else 0.0)

    @property
    def quantized(self) -> bool:
        return self.loader not in ("torch", None) or self.name in ("int8", "int4", "fp8")

    @property
    def spelling(self) -> str:
        """How allowed-lists show it: every accepted spelling, torch's first where torch has one."""
        first = (self.torch_name,) if self.torch_name in self.aliases else ()
        return "|".join((*first, self.name, *(a for a in self.aliases if a not in first)))

    def __str__(self) -> str:
        return self.name


def _plain(name: str, torch_name: str, aliases: tuple[str, ...]) -> Dtype:
    return Dtype(name, (torch_name, *aliases), torch_name, ELEMENT_BYTES[name], None, 0.0, name, name, 1, "torch")


DTYPES: dict[str, Dtype] = {
    d.name: d
    for d in (
        _plain("fp32", "float32", ("float",)),
        _plain("bf16", "bfloat16", ()),
        _plain("fp16", "float16", ("half",)),
        Dtype("bnb-int8", ("llm.int8",), "float16", 1.0, None, 0.0, "fp16", "int8", 6, "bitsandbytes",
              cuda_only=True),
        Dtype("bnb-nf4", ("nf4",), "bfloat16", 0.5, 64, 4.0, "bf16", "bf16", 2, "bitsandbytes", cuda_only=True),
        Dtype("torchao-int8", ("int8wo",), "bfloat16", 1.0, None, 0.0, "bf16", "bf16", 2, "torchao", cuda_only=True),
        Dtype("torchao-int4", ("int4wo",), "bfloat16", 0.5, 128, 4.0, "bf16", "bf16", 2, "torchao", cuda_only=True),
        Dtype("torchao-fp8", (), "bfloat16", 1.0, None, 0.0, "bf16", "fp8", 3, "torchao", (8, 9), True),
        Dtype("fp8", ("float8", "float8_e4m3fn"), None, 1.0, None, 0.0, "bf16", "fp8", 1, None),
        Dtype("int8", (), None, 1.0, None, 0.0, "fp16", "int8", 6, None),
        Dtype("int4", ("fp4",), None, 0.5, 64, 2.0, "bf16", "bf16", 2, None),
    )
}

_BY_SPELLING: dict[str, Dtype] = {s.lower(): d for d in DTYPES.values() for s in (d.name, *d.aliases)}

#: dtypes a torch model can be loaded in directly (measure, serve, video)
TORCH_DTYPES: tuple[str, ...] = ("fp32", "bf16", "fp16")
#: dtypes a measurement can load (plain torch dtypes and the quantization loaders)
LOADABLE_DTYPES: tuple[str, ...] = tuple(n for n, d in DTYPES.items() if d.loader is not None)


def allowed(names: Iterable[str] | None = None) -> str:
    """``fp32|float32|float, bf16|bfloat16, ...``: the allowed list an error message shows."""
    chosen = list(DTYPES) if names is None else list(names)
    return ", ".join(DTYPES[n].spelling for n in chosen)


def get(text: Any, field: str = "dtype", among: Iterable[str] | None = None) -> Dtype:
    """The dtype a spelling names; `UsageError` naming the field and the allowed spellings."""
    choices = tuple(DTYPES) if among is None else tuple(among)
    dtype = _BY_SPELLING.get(str(text).strip().lower()) if isinstance(text, str) else None
    if dtype is None:
        raise UsageError.bad(field, text, f"unknown dtype; allowed: {allowed(choices)}")
    if dtype.name not in choices:
        raise UsageError.bad(field, text, f"not available here; allowed: {allowed(choices)}")
    return dtype


def canonical(text: Any, field: str = "dtype", among: Iterable[str] | None = None) -> str:
    """The canonical name of a spelling (``bfloat16`` -> ``bf16``)."""
    return get(text, field, among).name


def parse_list(text: str, field: str = "dtype", among: Iterable[str] | None = None) -> list[str]:
    """``"bf16,float32"`` -> ``["bf16", "fp32"]`` (canonical, order kept, duplicates dropped)."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if not parts:
        raise UsageError.bad(field, text, f"empty; allowed: {allowed(among)}")
    out: list[str] = []
    for part in parts:
        name = canonical(part, field, among)
        if name not in out:
            out.append(name)
    return out


def torch_dtype(name: str) -> Any:
    """The torch dtype a model of this dtype is loaded in (imports torch)."""
    import torch

    dtype = get(name)
    if dtype.torch_name is None:
        raise UsageError.bad("dtype", name, f"a format the predictor prices only; load one of: {allowed(LOADABLE_DTYPES)}")
    return getattr(torch, dtype.torch_name)
