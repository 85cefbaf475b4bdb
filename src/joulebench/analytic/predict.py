"""LLM request prediction: prefill (produces token 1) + decode (tokens 2..G), vectorised over grids.

Three entry points, from cheapest to richest:

* `llm_features` - per-phase sums a calibrator regresses on (seconds at mu = 1 per bound class,
  kernel counts); no params beyond the mu ratio used to classify bounds.
* `predict_llm_grid` - latency and energy arrays over any broadcastable grid of prompt tokens,
  output tokens and batch sizes (100k points in about a second).
* `predict_llm` - one configuration, with the per-op breakdown, as an `LLMPrediction`.

Batching with padding: every sequence of the batch is padded to ``prompt_tokens`` (pass the
longest prompt), prefill computes ``batch x prompt_tokens`` positions and each decode step
``batch`` positions attending to ``prompt_tokens + t`` keys (cache of s + t - 1 plus itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from joulebench.analytic.llm import LLMArch, forward_ops
from joulebench.analytic.ops import Op
from joulebench.analytic.params import ModelParams
from joulebench.analytic.precision import Precision
from joulebench.analytic.roofline import (
    Ceilings,
    TimeSplit,
    Work,
    energy_j,
    op_time,
    op_time_over_range,
    sum_affine,
)
from joulebench.errors import UsageError
from joulebench.hardware.catalogue import Accelerator

ATTENTION_FLOPS_CONVENTION = "dense"


@dataclass(frozen=True)
class OpResult:
    """One op of one phase (decode: summed over all steps)."""

    name: str
    category: str
    flops: float
    bytes: float
    n_kernels: float
    latency_s: float
    compute_s: float
    memory_s: float
    launch_s: float
    bound: str

    @property
    def intensity_flops_per_byte(self) -> float:
        return self.flops / self.bytes if self.bytes else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "category": self.category,
            "flops": self.flops,
            "bytes": self.bytes,
            "intensity_flops_per_byte": (None if not self.bytes else self.flops / self.bytes),
            "n_kernels": self.n_kernels,
            "bound": self.bound,
            "latency_s": self.latency_s,
            "compute_s": self.compute_s,
            "memory_s": self.memory_s,
            "launch_s": self.launch_s,
        }


@dataclass(frozen=True)
class PhaseResult:
    name: str
    steps: int
    flops: float
    bytes: float
    n_kernels: float
    latency_s: float
    energy_j: float
    compute_s: float
    memory_s: float
    launch_s: float
    ops: tuple[OpResult, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "flops": self.flops,
            "bytes": self.bytes,
            "n_kernels": self.n_kernels,
            "latency_s": self.latency_s,
            "energy_j": self.energy_j,
            "time_split_s": {"compute": self.compute_s, "memory": self.memory_s, "launch": self.launch_s},
            "ops": [op.to_dict() for op in self.ops],
        }


@dataclass(frozen=True)
class LLMPrediction:
    model: str
    gpu: str
    dtype: str
    prompt_tokens: int
    output_tokens: int
    batch: int
    prefill: PhaseResult
    decode: PhaseResult
    params: ModelParams
    graphs: bool

    @property
    def latency_s(self) -> float:
        return self.prefill.latency_s + self.decode.latency_s

    @property
    def energy_j(self) -> float:
        return self.prefill.energy_j + self.decode.energy_j


@dataclass(frozen=True)
class PhaseFeatures:
    """Per-phase sums for fitting (arrays over the grid). With the classification of bounds fixed,

    ``latency_s = compute_bound_s / mu_compute + memory_bound_s / mu_memory + n_kernels * t_launch_s``
    (overlap "sum"), and ``flops_s`` / ``bytes_s`` are the plain totals over the peaks.
    """

    flops: np.ndarray
    bytes: np.ndarray
    n_kernels: np.ndarray
    flops_s: np.ndarray  # total FLOPs / peak FLOP/s
    bytes_s: np.ndarray  # total bytes / peak bandwidth
    compute_bound_s: np.ndarray  # sum of F / peak over (op, step) that are compute-bound
    memory_bound_s: np.ndarray  # sum of D / peak over (op, step) that are memory-bound


def validate_request(arch: LLMArch, prompt_tokens: Any, output_tokens: Any, batch: Any) -> None:
    s, g, b = (np.asarray(v) for v in (prompt_tokens, output_tokens, batch))
    if np.any(s < 1):
        raise UsageError(f"prompt tokens {int(np.min(s))} must be >= 1")
    if np.any(g < 1):
        raise UsageError(f"output tokens {int(np.min(g))} must be >= 1 (prefill produces the first token)")
    if np.any(b < 1):
        raise UsageError(f"batch {int(np.min(b))} must be >= 1")
    longest = int(np.max(s + g - 1))
    if longest > arch.max_positions:
        raise UsageError(
            f"prompt tokens + output tokens - 1 = {longest} exceeds the model's max_position_embeddings "
            f"({arch.max_positions})"
        )


def ceilings(accelerator: Accelerator, prec: Precision) -> Ceilings:
    return Ceilings(accelerator.peak_flops(prec.compute), accelerator.memory_bandwidth_bytes_per_s)


def prefill_ops(arch: LLMArch, prec: Precision, s: Any, b: Any, **kw: Any) -> list[Op]:
    """One prefill forward: ``b x s`` positions, dense attention over ``s`` keys, logits of the last."""
    s = np.asarray(s, dtype=float)
    return forward_ops(arch, prec, b, s, s, head_tokens=np.asarray(b, dtype=float), **kw)


def decode_step_ops(arch: LLMArch, prec: Precision, keys: Any, b: Any, **kw: Any) -> list[Op]:
    """One decode step: ``b`` new positions attending to ``keys`` keys each (cache + itself)."""
    return forward_ops(arch, prec, b, 1.0, keys, head_tokens=np.asarray(b, dtype=float), **kw)


def _decode_affine(arch: LLMArch, prec: Precision, b: Any, **kw: Any) -> list[tuple[Op, Op]]:
    """(value at keys = 0, slope per key) of every decode op: all decode quantities are affine in keys."""
    at0 = decode_step_ops(arch, prec, 0.0, b, **kw)
    at1 = decode_step_ops(arch, prec, 1.0, b, **kw)
    pairs = []
    for o0, o1 in zip(at0, at1, strict=True):
        slope = Op(o0.name, o0.category, o1.flops - o0.flops, o1.bytes - o0.bytes, 0.0, o0.counted, o0.window)
        pairs.append((o0, slope))
    return pairs


def _phase_split(
    arch: LLMArch,
    prec: Precision,
    ceil: Ceilings,
    params: ModelParams,
    s: np.ndarray,
    g: np.ndarray,
    b: np.ndarray,
    graphs: bool,
    kw: dict[str, Any],
) -> tuple[list[tuple[Op, TimeSplit]], list[tuple[Op, Op, TimeSplit, np.ndarray, np.ndarray]]]:
    pre = [
        (op, op_time(op.flops, op.bytes, op.n_kernels, ceil, params, graphs, op.category))
        for op in prefill_ops(arch, prec, s, b, **kw)
    ]
    lo, hi = s + 1.0, s + g - 1.0  # keys attended by decode steps 1..G-1
    dec = []
    for o0, slope in _decode_affine(arch, prec, b, **kw):
        split = op_time_over_range(
            o0.flops,
            slope.flops,
            o0.bytes,
            slope.bytes,
            o0.n_kernels,
            lo,
            hi,
            ceil,
            params,
            graphs,
            o0.window,
            o0.category,
        )
        flops = _sum_windowed(o0.flops, slope.flops, lo, hi, o0.window)
        bytes_ = _sum_windowed(o0.bytes, slope.bytes, lo, hi, o0.window)
        dec.append((o0, slope, split, flops, bytes_))
    return pre, dec


def _phase_work(pre: list[tuple[Op, TimeSplit]], dec: list[tuple[Op, Op, TimeSplit, np.ndarray, np.ndarray]],
                g: np.ndarray) -> tuple[Work, Work]:
    """FLOPs, bytes and kernel launches of prefill and of all decode steps (tokens 2..G), over the grid."""
    zero = np.zeros_like(g)
    n_steps = np.maximum(g - 1.0, 0.0)
    prefill = Work(sum((op.flops for op, _ in pre), zero), sum((op.bytes for op, _ in pre), zero),
                   sum((op.n_kernels for op, _ in pre), zero))
    decode = Work(sum((f for *_, f, _ in dec), zero), sum((d for *_, d in dec), zero),
                  sum((o0.n_kernels for o0, *_ in dec), zero) * n_steps)
    return prefill, decode


def _sum_windowed(a: Any, b: Any, lo: Any, hi: Any, window: int | None) -> np.ndarray:
    if window is None:
        return sum_affine(a, b, lo, hi)
    w = float(window)
    return sum_affine(a, b, lo, np.minimum(hi, w)) + sum_affine(a + b * w, 0.0, np.maximum(lo, w + 1.0), hi)


def predict_llm_grid(
    arch: LLMArch,
    accelerator: Accelerator,
    params: ModelParams,
    prec: Precision,
    prompt_tokens: Any,
    output_tokens: Any,
    batch: Any = 1,
    *,
    graphs: bool = False,
    **kw: Any,
) -> dict[str, np.ndarray]:
    """Latency (s) and energy (J) per phase over a broadcastable grid; no per-op detail kept."""
    s, g, b = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (prompt_tokens, output_tokens, batch))
    )
    validate_request(arch, s, g, b)
    ceil = ceilings(accelerator, prec)
    pre, dec = _phase_split(arch, prec, ceil, params, s, g, b, graphs, kw)
    zero = np.zeros_like(s)
    pre_split = TimeSplit(zero, zero, zero)
    for _, t in pre:
        pre_split = pre_split + t
    dec_split = TimeSplit(zero, zero, zero)
    for *_, t, _f, _d in dec:
        dec_split = dec_split + t
    pre_work, dec_work = _phase_work(pre, dec, g)
    out = {
        "prefill_latency_s": pre_split.latency_s,
        "prefill_energy_j": energy_j(pre_split, params, pre_work),
        "decode_latency_s": dec_split.latency_s,
        "decode_energy_j": energy_j(dec_split, params, dec_work),
    }
    out["request_latency_s"] = out["prefill_latency_s"] + out["decode_latency_s"]
    out["request_energy_j"] = out["prefill_energy_j"] + out["decode_energy_j"]
    return out


def llm_features(
    arch: LLMArch,
    accelerator: Accelerator,
    prec: Precision,
    prompt_tokens: Any,
    output_tokens: Any,
    batch: Any = 1,
    *,
    params: ModelParams | None = None,
    **kw: Any,
) -> dict[str, PhaseFeatures]:
    """Regressors per phase (``prefill``, ``decode``) for calibration by least squares.

    Bounds are classified with ``params``' mu ratio (defaults when None); the sums are at mu = 1 so
    that ``compute_bound_s / mu_compute + memory_bound_s / mu_memory + n_kernels * t_launch_s``
    reproduces `predict_llm_grid` exactly for overlap "sum" and those mu (with ``mu_attention`` unset;
    when set, attention ops are classified with it and their compute seconds still summed at mu = 1).
    """
    params = params or ModelParams()
    s, g, b = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (prompt_tokens, output_tokens, batch))
    )
    validate_request(arch, s, g, b)
    ceil = ceilings(accelerator, prec)
    pre, dec = _phase_split(
        arch,
        prec,
        ceil,
        params.__class__(
            mu_compute=params.mu_compute,
            mu_memory=params.mu_memory,
            t_launch_s=0.0,
            launch_overlap="sum",
            mu_attention=params.mu_attention,
        ),
        s,
        g,
        b,
        False,
        kw,
    )

    def feats(flops, bytes_, kernels, splits, ops) -> PhaseFeatures:
        if params.mu_attention is None or params.mu_attention == params.mu_compute:
            cs = sum((t.compute_s for t in splits), np.zeros_like(s)) * params.mu_compute
        else:  # back to mu = 1 per op: attention ops ran at mu_attention
            pairs = zip(splits, ops, strict=True)
            cs = sum((t.compute_s * params.mu_for(op.category) for t, op in pairs), np.zeros_like(s))
        ms = sum((t.memory_s for t in splits), np.zeros_like(s)) * params.mu_memory
        return PhaseFeatures(
            flops, bytes_, kernels, flops / ceil.peak_flops_per_s, bytes_ / ceil.bandwidth_bytes_per_s, cs, ms
        )

    pw, dw = _phase_work(pre, dec, g)
    return {
        "prefill": feats(pw.flops, pw.bytes, pw.kernels, [t for _, t in pre], [op for op, _ in pre]),
        "decode": feats(dw.flops, dw.bytes, dw.kernels, [t for _, _, t, _, _ in dec], [o0 for o0, *_ in dec]),
    }


def _scalar(x: Any) -> float:
    return float(np.asarray(x, dtype=float).reshape(-1)[0])


def predict_llm(
    arch: LLMArch,
    accelerator: Accelerator,
    params: ModelParams,
    prec: Precision,
    prompt_tokens: int,
    output_tokens: int,
    batch: int = 1,
    *,
    graphs: bool = False,
    **kw: Any,
) -> LLMPrediction:
    """One configuration with the per-op breakdown of both phases."""
    s, g, b = (np.asarray(float(v)) for v in (prompt_tokens, output_tokens, batch))
    validate_request(arch, s, g, b)
    ceil = ceilings(accelerator, prec)
    pre, dec = _phase_split(arch, prec, ceil, params, s, g, b, graphs, kw)
    n_steps = max(int(output_tokens) - 1, 0)

    def result(op: Op, split: TimeSplit, flops: Any, bytes_: Any, kernels: Any) -> OpResult:
        return OpResult(
            name=op.name,
            category=op.category,
            flops=_scalar(flops),
            bytes=_scalar(bytes_),
            n_kernels=_scalar(kernels),
            latency_s=_scalar(split.latency_s),
            compute_s=_scalar(split.compute_s),
            memory_s=_scalar(split.memory_s),
            launch_s=_scalar(split.launch_s),
            bound=str(split.bound().reshape(-1)[0]),
        )

    pre_ops = tuple(result(op, t, op.flops, op.bytes, op.n_kernels) for op, t in pre)
    dec_ops = tuple(result(o0, t, f, d, _scalar(o0.n_kernels) * n_steps) for o0, _, t, f, d in dec)
    return LLMPrediction(
        model=arch.name,
        gpu=accelerator.name,
        dtype=prec.dtype,
        prompt_tokens=int(prompt_tokens),
        output_tokens=int(output_tokens),
        batch=int(batch),
        prefill=_phase("prefill", 1, pre_ops, params),
        decode=_phase("decode", n_steps, dec_ops, params),
        params=params,
        graphs=graphs,
    )


def _phase(name: str, steps: int, ops: tuple[OpResult, ...], params: ModelParams) -> PhaseResult:
    cs = sum(o.compute_s for o in ops)
    ms = sum(o.memory_s for o in ops)
    ls = sum(o.launch_s for o in ops)
    split = TimeSplit(np.asarray(cs), np.asarray(ms), np.asarray(ls))
    work = Work(sum(o.flops for o in ops), sum(o.bytes for o in ops), sum(o.n_kernels for o in ops))
    return PhaseResult(
        name=name,
        steps=steps,
        flops=float(work.flops),
        bytes=float(work.bytes),
        n_kernels=float(work.kernels),
        latency_s=cs + ms + ls,
        energy_j=float(energy_j(split, params, work)),
        compute_s=cs,
        memory_s=ms,
        launch_s=ls,
        ops=ops,
    )
