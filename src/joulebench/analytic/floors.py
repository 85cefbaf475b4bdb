"""Physical floors of an LLM request: no run can be faster or cheaper, whatever the engine.

A measured figure is only believable beside its floor; one below it is a miscount (a window that missed
work, a prefix cache, a lying token count) and is flagged, never shown plain. The floors are written from
first principles, deliberately looser than the op model, so that they stay true lower bounds:

* work: the linear layers' matmuls (``2 x weights x tokens``, the LM head on the last position only in
  prefill, as ``generate`` runs it) plus causal attention (``q.k`` and ``p.v`` over the lower triangle);
  norms, activations and softmax are left out;
* bytes: every weight read once per forward (embeddings only gathered: not counted) and, in decode,
  the KV cache read once per step; activations are left out;
* time: ``max(FLOPs / peak FLOP/s, bytes / peak bandwidth)`` per phase - the max of sums, which is
  below the sum of per-step maxima;
* energy: the floor time at the card's idle power (the datasheet catalogue's figure): whatever the
  active power, the board draws at least idle while the work runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from joulebench.analytic.llm import LLMArch
from joulebench.analytic.precision import Precision
from joulebench.hardware.catalogue import Accelerator
from joulebench.values import AsDict


@dataclass(frozen=True)
class PhaseFloor(AsDict):
    flops: float
    bytes: float
    latency_s: float
    energy_j: float
    bound: str  # "compute" | "memory": which ceiling sets the floor


def _linear_weights(arch: LLMArch) -> float:
    """Weights a forward multiplies by (embedding table excluded; with tied embeddings the LM head
    reuses it, so it is counted once as the head)."""
    return float(arch.n_params() - arch.vocab * arch.hidden) if not arch.tie_embeddings else float(arch.n_params())


def _phase_floor(flops: float, nbytes: float, acc: Accelerator, prec: Precision) -> PhaseFloor:
    peak = acc.peak_flops(prec.compute)
    t_compute = flops / peak
    t_memory = nbytes / acc.memory_bandwidth_bytes_per_s
    latency = max(t_compute, t_memory)
    return PhaseFloor(flops, nbytes, latency, latency * acc.idle_power_w, "compute" if t_compute >= t_memory else "memory")


def llm_floors(arch: LLMArch, prec: Precision, acc: Accelerator, prompt_tokens: int, output_tokens: int,
               batch: int = 1) -> dict[str, PhaseFloor]:
    """Floors of prefill (token 1), decode (tokens 2..G) and the whole request."""
    w = _linear_weights(arch)
    head = float(arch.vocab * arch.hidden)
    s, g, b = prompt_tokens, output_tokens, batch
    attn_width = 2.0 * arch.n_layers * arch.n_heads * arch.head_dim  # q.k and p.v, per (query, key) pair
    kv_per_token = 2.0 * arch.n_layers * arch.n_kv_heads * arch.head_dim * prec.kv_bytes
    weight_bytes = (w - head) * prec.weight_bytes + head * prec.dense_weight_bytes
    pre_flops = 2.0 * b * ((w - head) * s + head) + 2.0 * attn_width * b * s * (s + 1) / 2.0
    pre = _phase_floor(pre_flops, weight_bytes + b * s * kv_per_token, acc, prec)
    steps = max(g - 1, 0)
    keys = steps * s + steps * (steps + 1) / 2.0  # keys attended over the steps (s+1 .. s+g-1)
    dec_flops = 2.0 * b * w * steps + 2.0 * attn_width * b * keys
    dec = _phase_floor(dec_flops, steps * weight_bytes + b * keys * kv_per_token, acc, prec)
    total = PhaseFloor(pre.flops + dec.flops, pre.bytes + dec.bytes, pre.latency_s + dec.latency_s,
                       pre.energy_j + dec.energy_j, pre.bound if pre.latency_s >= dec.latency_s else dec.bound)
    return {"prefill": pre, "decode": dec, "request": total}
