"""Tensor parallelism: what one GPU of a tensor-parallel group computes, and what the group exchanges.

The Megatron layout that transformers' ``tp_plan="auto"`` follows: attention heads (q, and k/v where
they divide; else k/v are replicated) and the MLP's intermediate width (experts' too) are split across
the ``degree`` GPUs, each GPU runs the same ops on its shard, and after each layer's attention output
projection and MLP down projection one all-reduce sums the partial hidden states (2 per layer per
forward, ``tokens x hidden`` activations each). The LM head is vocab-parallel.

An all-reduce is priced as the ring algorithm NCCL uses on NVLink: ``2 (N-1)/N x bytes / link bandwidth
(one way) + 2 (N-1) x step latency``; the link figures come from the catalogue
(``interconnect_*``), the latency there an estimate until measured on a multi-GPU machine. The GPUs
wait (at idle power or above) while they exchange; the energy of the transfer itself above idle is not
modelled and is labelled so. Not modelled either: the logits all-gather (tiny beside the all-reduces)
and any overlap of communication with compute (transformers does not overlap them).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from joulebench.analytic.arch import LLMArch
from joulebench.analytic.precision import Precision
from joulebench.errors import UsageError
from joulebench.hardware.catalogue import Accelerator


def shard(arch: LLMArch, degree: int) -> LLMArch:
    """The architecture one GPU of a tensor-parallel group of ``degree`` holds and computes."""
    if degree == 1:
        return arch
    if degree < 1:
        raise UsageError.bad("tp", degree, "must be >= 1")
    if arch.mla is not None:
        raise UsageError.bad("tp", degree, f"{arch.name}: tensor parallelism of MLA attention is not modelled")
    if arch.n_heads % degree:
        raise UsageError.bad("tp", degree, f"{arch.name} has {arch.n_heads} attention heads: not divisible by {degree}")
    if arch.intermediate % degree:
        raise UsageError.bad("tp", degree, f"{arch.name}'s MLP width {arch.intermediate} is not divisible by {degree}")
    kv = arch.n_kv_heads // degree if arch.n_kv_heads % degree == 0 else arch.n_kv_heads  # replicated otherwise
    moe = arch.moe
    if moe is not None:
        if moe.expert_intermediate % degree or moe.shared_intermediate % degree:
            raise UsageError.bad("tp", degree, f"{arch.name}'s expert widths are not divisible by {degree}")
        moe = replace(moe, expert_intermediate=moe.expert_intermediate // degree,
                      shared_intermediate=moe.shared_intermediate // degree)
    return replace(arch, n_heads=arch.n_heads // degree, n_kv_heads=kv, intermediate=arch.intermediate // degree,
                   vocab=-(-arch.vocab // degree), moe=moe)


def allreduce_s(nbytes: float, degree: int, acc: Accelerator) -> float:
    """Ring all-reduce of ``nbytes`` over ``degree`` GPUs on the card's link."""
    if degree == 1:
        return 0.0
    bandwidth, latency = acc.interconnect_bandwidth_bytes_per_s, acc.interconnect_latency_s
    if bandwidth is None or latency is None:
        raise UsageError.bad("tp", degree, f"{acc.name} has no interconnect figures in the catalogue "
                             "(interconnect_bandwidth_bytes_per_s, interconnect_latency_s); add them with --hardware-file")
    return 2.0 * (degree - 1) / degree * nbytes / bandwidth + 2.0 * (degree - 1) * latency


@dataclass(frozen=True)
class Communication:
    """The group's exchanges for one request: two all-reduces per layer per forward."""

    degree: int
    prefill_bytes: float
    prefill_s: float
    decode_bytes: float
    decode_s: float

    @property
    def total_s(self) -> float:
        return self.prefill_s + self.decode_s

    def to_dict(self) -> dict[str, Any]:
        return {"degree": self.degree, "allreduces_per_forward": 2, "prefill_bytes": self.prefill_bytes,
                "prefill_s": self.prefill_s, "decode_bytes": self.decode_bytes, "decode_s": self.decode_s,
                "algorithm": "ring (NCCL on NVLink)", "transfer_energy_above_idle": "not modelled"}


def communication(arch: LLMArch, prec: Precision, acc: Accelerator, degree: int, prompt_tokens: int,
                  output_tokens: int, batch: int = 1) -> Communication:
    per_token = arch.hidden * prec.activation_bytes
    prefill_one = batch * prompt_tokens * per_token
    decode_one = batch * per_token
    steps = max(output_tokens - 1, 0)
    n = 2 * arch.n_layers
    return Communication(degree, n * prefill_one, n * allreduce_s(prefill_one, degree, acc),
                         n * steps * decode_one, n * steps * allreduce_s(decode_one, degree, acc))


def group_document(per_gpu: Any, comm: Communication, idle_w: float) -> dict[str, Any]:
    """The group's request: each GPU's compute (the sharded prediction) plus the exchanges; energy of
    every GPU, each waiting at ``idle_w`` at least while the group communicates."""
    degree = comm.degree
    prefill_s = per_gpu.prefill.latency_s + comm.prefill_s
    decode_s = per_gpu.decode.latency_s + comm.decode_s
    per_gpu_j = per_gpu.energy_j + idle_w * comm.total_s
    return {
        "degree": degree,
        "per_gpu": {"latency_s": per_gpu.latency_s, "energy_j": per_gpu.energy_j,
                    "energy_with_communication_j": per_gpu_j},
        "communication": comm.to_dict(),
        "request": {"prefill_latency_s": prefill_s, "decode_latency_s": decode_s, "latency_s": prefill_s + decode_s,
                    "energy_j": degree * per_gpu_j, "energy_per_gpu_j": per_gpu_j},
    }
