"""LLM request prediction: prefill (produces token 1) + decode (tokens 2..G), vectorised over grids.

Three entry points, from cheapest to richest:

* `llm_features` - per-phase sums a calibrator regresses on (seconds at mu = 1 per bound class,
  kernel counts); no params beyond the mu ratio used to classify bounds.
* `predict_llm_grid` - latency and energy arrays over any broadcastable grid of prompt tokens,
  output tokens and batch sizes (100k points in about a second).
* `predict_llm` - one configuration, with the per-op breakdown, as an `LLMPrediction`.

Batching with padding: every sequence of the batch is padded to ``prompt_tokens`` (pass the
longest prompt), prefill computes ``batch x prompt_tokens`` positions and each decode step
``batch`` positions attending to ``prompt_tokens + t`` keys (cache of s + t - 1 plus itself), or,
with the static engine, to the whole static cache of ``static_cache_len`` (default s + G - 1).

Options (keyword arguments, all optional): ``engine`` (`engines.ENGINES`), ``attn_impl``, ``cache``
(overrides the engine's cache for both phases), ``sdpa_math_fallback``, ``mla_absorbed``,
``static_cache_len``. The cost model is the params' (``ModelParams.cost_model``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from joulebench.analytic.engines import HOST_OPS, Engine, get_engine
from joulebench.analytic.llm import LLMArch, forward_ops
from joulebench.analytic.matmul import Executed
from joulebench.analytic.ops import Op
from joulebench.analytic.params import LEGACY_COST_MODEL, ModelParams
from joulebench.analytic.precision import Precision
from joulebench.analytic.results import LLMPrediction, OpResult, PhaseFeatures, PhasePrediction
from joulebench.analytic.roofline import Ceilings, TimeSplit, Work, energy_j, op_time, op_time_over_range, sum_affine
from joulebench.errors import UsageError
from joulebench.hardware.catalogue import Accelerator

ATTENTION_FLOPS_CONVENTION = "dense"
FLOPS_CONVENTION = {
    "flops": "dense-counted: every query-key pair and GEMM row (comparable with torch FlopCounterMode)",
    "executed_flops": "what the kernels execute: GEMM tiles padded and spread over whole waves of SMs, causal "
    "attention blocks skipped (cost model v2; sets compute time and the energy per FLOP)",
}

__all__ = [
    "ATTENTION_FLOPS_CONVENTION",
    "FLOPS_CONVENTION",
    "LLMPrediction",
    "OpResult",
    "PhaseFeatures",
    "PhasePrediction",
    "ceilings",
    "decode_step_ops",
    "llm_features",
    "predict_llm",
    "predict_llm_grid",
    "prefill_ops",
    "validate_request",
]


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
    """One prefill forward: ``b x s`` positions attending causally over ``s`` keys, logits of the last."""
    s = np.asarray(s, dtype=float)
    return forward_ops(arch, prec, b, s, s, head_tokens=np.asarray(b, dtype=float), **kw)


def decode_step_ops(arch: LLMArch, prec: Precision, keys: Any, b: Any, **kw: Any) -> list[Op]:
    """One decode step: ``b`` new positions attending to ``keys`` keys each (cache + itself)."""
    return forward_ops(arch, prec, b, 1.0, keys, head_tokens=np.asarray(b, dtype=float), **kw)


@dataclass(frozen=True)
class _Setup:
    """The options of one prediction, resolved once: engine, op-model keywords, executed-FLOP model."""

    engine: Engine
    prefill_kw: dict[str, Any]
    decode_kw: dict[str, Any]
    static_cache_len: Any

    @classmethod
    def of(cls, arch: LLMArch, acc: Accelerator, prec: Precision, params: ModelParams, kw: dict[str, Any]) -> _Setup:
        kw = dict(kw)
        engine = get_engine(kw.pop("engine", None))
        cache = kw.pop("cache", None)
        cache_len = kw.pop("static_cache_len", None)
        if params.cost_model != LEGACY_COST_MODEL:
            kw["executed"] = Executed.for_compute(prec.compute, acc.sm_count)
        del arch
        decode_kw = {**kw, "cache": cache or engine.decode_cache}
        if engine.decode_masked_sdpa:
            decode_kw["sdpa_masked"] = True
        return cls(engine, {**kw, "cache": cache or engine.prefill_cache}, decode_kw, cache_len)


def op_options(arch: LLMArch, acc: Accelerator, prec: Precision, params: ModelParams,
               kw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The op-model keywords (`forward_ops`) of prefill and of a decode step for these options."""
    setup = _Setup.of(arch, acc, prec, params, kw)
    return setup.prefill_kw, setup.decode_kw


def _decode_affine(arch: LLMArch, prec: Precision, b: Any, **kw: Any) -> list[tuple[Op, Op]]:
    """(value at keys = 0, slope per key) of every decode op: all decode quantities are affine in keys."""
    at0 = decode_step_ops(arch, prec, 0.0, b, **kw)
    at1 = decode_step_ops(arch, prec, 1.0, b, **kw)
    pairs = []
    for o0, o1 in zip(at0, at1, strict=True):
        ex = None if o0.exec_flops is None else o1.time_flops - o0.time_flops
        slope = Op(o0.name, o0.category, o1.flops - o0.flops, o1.bytes - o0.bytes, 0.0, o0.counted, o0.window, ex)
        pairs.append((o0, slope))
    return pairs


@dataclass(frozen=True)
class _DecodeOp:
    """One decode op summed over steps 2..G: its time split and its counted and executed FLOPs, bytes."""

    op: Op
    split: TimeSplit
    flops: np.ndarray
    exec_flops: np.ndarray
    bytes: np.ndarray


def _sum_windowed(a: Any, b: Any, lo: Any, hi: Any, window: int | None) -> np.ndarray:
    if window is None:
        return sum_affine(a, b, lo, hi)
    w = float(window)
    return sum_affine(a, b, lo, np.minimum(hi, w)) + sum_affine(a + b * w, 0.0, np.maximum(lo, w + 1.0), hi)


def _phase_split(
    arch: LLMArch,
    prec: Precision,
    acc: Accelerator,
    params: ModelParams,
    s: np.ndarray,
    g: np.ndarray,
    b: np.ndarray,
    graphs: bool,
    kw: dict[str, Any],
) -> tuple[list[tuple[Op, TimeSplit]], list[_DecodeOp], _Setup]:
    setup = _Setup.of(arch, acc, prec, params, kw)
    ceil = ceilings(acc, prec)
    pre = [
        (op, op_time(op.time_flops, op.bytes, op.n_kernels, ceil, params, graphs, op.category))
        for op in prefill_ops(arch, prec, s, b, **setup.prefill_kw)
    ]
    lo, hi = s + 1.0, s + g - 1.0  # keys attended by decode steps 1..G-1
    eng = setup.engine
    full = None
    if eng.decode_full_cache:
        full = s + g - 1.0 if setup.static_cache_len is None else np.asarray(setup.static_cache_len, dtype=float)
    dec = []
    for o0, slope in _decode_affine(arch, prec, b, **setup.decode_kw):
        kernels = 0.0 if eng.decode_graphs and o0.name not in HOST_OPS else o0.n_kernels
        if full is None:
            f0, f1, d0, d1, window = o0.time_flops, slope.time_flops, o0.bytes, slope.bytes, o0.window
            flops = _sum_windowed(o0.flops, slope.flops, lo, hi, window)
            exec_flops = _sum_windowed(f0, f1, lo, hi, window)
            bytes_ = _sum_windowed(d0, d1, lo, hi, window)
        else:  # every step attends the whole static cache (a sliding layer's cache holds its window)
            keys = full if o0.window is None else np.minimum(full, float(o0.window))
            f0, d0, f1, d1, window = o0.time_flops + slope.time_flops * keys, o0.bytes + slope.bytes * keys, 0.0, 0.0, None
            flops = sum_affine(o0.flops + slope.flops * keys, 0.0, lo, hi)
            exec_flops = sum_affine(f0, 0.0, lo, hi)
            bytes_ = sum_affine(d0, 0.0, lo, hi)
        split = op_time_over_range(f0, f1, d0, d1, kernels, lo, hi, ceil, params, graphs, window, o0.category)
        dec.append(_DecodeOp(o0, split, flops, exec_flops, bytes_))
    return pre, dec, setup


def _phase_work(pre: list[tuple[Op, TimeSplit]], dec: list[_DecodeOp], g: np.ndarray) -> tuple[Work, Work]:
    """FLOPs, bytes and kernel launches of prefill and of all decode steps (tokens 2..G), over the grid.

    The work energy model charges *counted* FLOPs in every cost model: padded tile rows and idle SMs
    of a partial wave cost time, not FLOP energy (refitting the committed eager sweeps with executed
    FLOPs here raised H100 fp32 held-out decode energy MAPE from 14% to 23%:
    ``benchmarks/calibration_ablation.py --cost-models``)."""
    zero = np.zeros_like(g)
    n_steps = np.maximum(g - 1.0, 0.0)
    prefill = Work(sum((op.flops for op, _ in pre), zero), sum((op.bytes for op, _ in pre), zero),
                   sum((op.n_kernels for op, _ in pre), zero))
    decode = Work(sum((d.flops for d in dec), zero), sum((d.bytes for d in dec), zero),
                  sum((d.op.n_kernels for d in dec), zero) * n_steps)
    return prefill, decode


def _total(splits: list[TimeSplit], like: np.ndarray) -> TimeSplit:
    zero = np.zeros_like(like)
    out = TimeSplit(zero, zero, zero, zero, zero)
    for t in splits:
        out = out + t
    return out


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
    s, g, b = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (prompt_tokens, output_tokens, batch)))
    validate_request(arch, s, g, b)
    pre, dec, _ = _phase_split(arch, prec, accelerator, params, s, g, b, graphs, kw)
    pre_split = _total([t for _, t in pre], s).plus_host(params.t_step_s)
    dec_split = _total([d.split for d in dec], s).plus_host(params.t_step_s * np.maximum(g - 1.0, 0.0))
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
    reproduces `predict_llm_grid` exactly for overlap "sum", those mu and ``t_step_s = 0`` (with
    ``mu_attention`` unset; when set, attention ops are classified with it and their compute seconds
    still summed at mu = 1). ``params.cost_model`` selects the time model (counted or executed FLOPs).
    """
    params = params or ModelParams()
    s, g, b = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (prompt_tokens, output_tokens, batch)))
    validate_request(arch, s, g, b)
    ceil = ceilings(accelerator, prec)
    probe = ModelParams(
        mu_compute=params.mu_compute,
        mu_memory=params.mu_memory,
        t_launch_s=0.0,
        launch_overlap="sum",
        mu_attention=params.mu_attention,
        cost_model=params.cost_model,
    )
    pre, dec, _ = _phase_split(arch, prec, accelerator, probe, s, g, b, False, kw)

    def feats(work: Work, splits: list[TimeSplit], ops: list[Op], forwards: np.ndarray) -> PhaseFeatures:
        if params.mu_attention is None or params.mu_attention == params.mu_compute:
            cs = sum((t.compute_s for t in splits), np.zeros_like(s)) * params.mu_compute
        else:  # back to mu = 1 per op: attention ops ran at mu_attention
            pairs = zip(splits, ops, strict=True)
            cs = sum((t.compute_s * params.mu_for(op.category) for t, op in pairs), np.zeros_like(s))
        ms = sum((t.memory_s for t in splits), np.zeros_like(s)) * params.mu_memory
        flops, bytes_ = np.asarray(work.flops, float), np.asarray(work.bytes, float)
        return PhaseFeatures(
            flops,
            bytes_,
            np.asarray(work.kernels, float),
            flops / ceil.peak_flops_per_s,
            bytes_ / ceil.bandwidth_bytes_per_s,
            cs,
            ms,
            forwards,
        )

    pw, dw = _phase_work(pre, dec, g)
    return {
        "prefill": feats(pw, [t for _, t in pre], [op for op, _ in pre], np.ones_like(s)),
        "decode": feats(dw, [d.split for d in dec], [d.op for d in dec], np.maximum(g - 1.0, 0.0)),
    }


def _scalar(x: Any) -> float:
    return float(np.asarray(x, dtype=float).reshape(-1)[0])


def _op_result(op: Op, split: TimeSplit, flops: Any, exec_flops: Any, bytes_: Any, kernels: Any) -> OpResult:
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
        executed_flops=_scalar(exec_flops),
        busy_compute_s=_scalar(split.compute_busy),
        busy_gpu_s=_scalar(split.gpu_busy),
    )


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
    pre, dec, setup = _phase_split(arch, prec, accelerator, params, s, g, b, graphs, kw)
    n_steps = max(int(output_tokens) - 1, 0)
    pre_ops = tuple(_op_result(op, t, op.flops, op.time_flops, op.bytes, op.n_kernels) for op, t in pre)
    dec_ops = tuple(
        _op_result(d.op, d.split, d.flops, d.exec_flops, d.bytes, _scalar(d.op.n_kernels) * n_steps) for d in dec
    )
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
        engine=setup.engine.name,
    )


def _phase(name: str, steps: int, ops: tuple[OpResult, ...], params: ModelParams) -> PhasePrediction:
    host_s = params.t_step_s * (steps if name == "decode" else 1)
    cs = sum(o.compute_s for o in ops)
    ms = sum(o.memory_s for o in ops)
    ls = sum(o.launch_s for o in ops) + host_s
    split = TimeSplit(
        np.asarray(cs),
        np.asarray(ms),
        np.asarray(ls),
        np.asarray(sum(o.busy_compute_s for o in ops)),
        np.asarray(sum(o.busy_gpu_s for o in ops)),
    )
    executed = sum(float(o.executed_flops or 0.0) for o in ops)
    counted = sum(o.flops for o in ops)
    work = Work(counted, sum(o.bytes for o in ops), sum(o.n_kernels for o in ops))  # as in _phase_work
    return PhasePrediction(
        name=name,
        steps=steps,
        flops=float(counted),
        bytes=float(work.bytes),
        n_kernels=float(work.kernels),
        latency_s=cs + ms + ls,
        energy_j=float(energy_j(split, params, work)),
        compute_s=cs,
        memory_s=ms,
        launch_s=ls,
        ops=ops,
        executed_flops=executed,
    )
