"""The unit of the analytic model: one operation with its FLOPs, bytes and eager kernel launches.

Values are numpy arrays (or floats) so that a whole grid of configurations is evaluated at once.
``counted`` marks FLOPs that ``torch.utils.flop_counter.FlopCounterMode`` also counts (matmuls,
SDPA, convolutions); elementwise FLOPs (norms, activations, softmax) are ours alone. That split is
what lets the tests compare like with like.

Two FLOP conventions, kept apart on purpose: ``flops`` are *dense-counted* (every query-key pair,
every real row of a GEMM: what FlopCounterMode reports, so comparable with it), ``exec_flops`` are
what the kernels *execute* (GEMM rows and columns padded to the kernel's tiles and spread over
whole waves of SMs, causal attention blocks above the diagonal skipped). Time is priced on the
executed FLOPs (cost model v2); ``exec_flops`` None means "as counted" (cost model v1, video).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

ArrayLike = np.ndarray | float

CATEGORIES = ("matmul", "attention", "elementwise", "norm", "memory", "host")

Builder = TypeVar("Builder", bound=Callable[..., Any])


def registered_as(table: dict[str, Any], *names: str) -> Callable[[Builder], Builder]:
    """File an op builder in an open registry under each of ``names`` (a model type, a family), so the
    names that select a builder stand above its code and a new family is one decorated function."""

    def wrap(builder: Builder) -> Builder:
        for name in names:
            table[name] = builder
        return builder

    return wrap


@dataclass(frozen=True)
class Op:
    """One operation summed over the layers it occurs in."""

    name: str
    category: str
    flops: ArrayLike
    bytes: ArrayLike  # bytes read + written in HBM/DRAM
    n_kernels: ArrayLike  # eager launches issued for it (PyTorch/transformers/diffusers)
    counted: bool  # FLOPs also counted by FlopCounterMode
    window: int | None = None  # sliding window: in decode the op sees min(keys, window) keys
    exec_flops: ArrayLike | None = None  # FLOPs the kernels execute (tiles, waves, causal); None: = flops

    @property
    def time_flops(self) -> ArrayLike:
        """The FLOPs that set compute time: executed when known, else counted."""
        return self.flops if self.exec_flops is None else self.exec_flops


class OpList:
    """Accumulates ops; same (name, window) are summed so that layers collapse into one row."""

    def __init__(self) -> None:
        self._ops: dict[tuple[str, int | None], Op] = {}

    def add(
        self,
        name: str,
        category: str,
        flops: ArrayLike,
        bytes_: ArrayLike,
        n_kernels: ArrayLike,
        *,
        counted: bool = False,
        times: float = 1.0,
        window: int | None = None,
        exec_flops: ArrayLike | None = None,
    ) -> None:
        if times == 0:
            return
        key = (name, window)
        ex = None if exec_flops is None else exec_flops * times
        new = Op(name, category, flops * times, bytes_ * times, n_kernels * times, counted, window, ex)
        old = self._ops.get(key)
        if old is not None:
            if old.exec_flops is None and new.exec_flops is None:
                ex = None
            else:
                ex = old.time_flops + new.time_flops
            new = Op(
                name,
                category,
                old.flops + new.flops,
                old.bytes + new.bytes,
                old.n_kernels + new.n_kernels,
                counted,
                window,
                ex,
            )
        self._ops[key] = new

    def extend(self, ops: Iterable[Op]) -> None:
        for op in ops:
            self.add(
                op.name,
                op.category,
                op.flops,
                op.bytes,
                op.n_kernels,
                counted=op.counted,
                window=op.window,
                exec_flops=op.exec_flops,
            )

    def ops(self) -> list[Op]:
        return list(self._ops.values())


def counted_flops(ops: Iterable[Op]) -> ArrayLike:
    """FLOPs that FlopCounterMode would report for the same ops (matmuls, SDPA, convs)."""
    return sum((op.flops for op in ops if op.counted), 0.0)


def total(ops: Iterable[Op], attr: str) -> ArrayLike:
    return sum((getattr(op, attr) for op in ops), 0.0)
