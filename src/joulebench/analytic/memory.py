"""Memory fit: do the weights, the KV cache and the activations of one configuration fit on the card?

Why: a roofline prices anything, including 139 GB of Llama-3.1-70B fp16 weights on a 24 GB card
(issue 11). Counted per configuration, in bytes:

* weights - quantizable linears at ``Precision.weight_bytes`` (scales included), embeddings, LM
  head, norms and routers at the dense width; every expert is resident.
* KV cache - per layer and token `LLMArch.kv_elements_per_token` at the cache width, for the
  ``s + G - 1`` positions of the request (a sliding-window layer keeps its window), per sequence.
  MLA caches its latent (transformers 5.2x and the absorbed form alike).
* activations - the largest transient of one prefill layer: the residual stream and its norm
  copies, the MLP's gate/up/activation (MoE: the routed copies), the q/k/v/output tensors, and the
  scores when they are materialised (eager attention, SDPA's math path in fp32 with GQA); plus
  the last position's fp32 logits. DynamicCache's ``torch.cat`` holds one layer's old and new
  cache at once: one extra layer of KV.

Not counted: the CUDA context and allocator reserve (a few hundred MB, card and driver dependent);
a fit within `TIGHT_FRACTION` of the card is flagged ``tight`` rather than claimed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from joulebench.analytic.arch import LLMArch
from joulebench.analytic.attention import sdpa_cost_path
from joulebench.analytic.precision import Precision
from joulebench.errors import UsageError
from joulebench.hardware.catalogue import Accelerator

GB = 1e9
TIGHT_FRACTION = 0.95


@dataclass(frozen=True)
class MemoryFit:
    """Bytes one configuration needs on the device, and whether they fit."""

    weights_bytes: float
    kv_cache_bytes: float
    activation_bytes: float
    device_bytes: float

    @property
    def total_bytes(self) -> float:
        return self.weights_bytes + self.kv_cache_bytes + self.activation_bytes

    @property
    def fits(self) -> bool:
        return self.total_bytes <= self.device_bytes

    @property
    def tight(self) -> bool:
        return self.fits and self.total_bytes > TIGHT_FRACTION * self.device_bytes

    def to_dict(self) -> dict[str, Any]:
        return {"weights_bytes": self.weights_bytes, "kv_cache_bytes": self.kv_cache_bytes,
                "activation_bytes": self.activation_bytes, "total_bytes": self.total_bytes,
                "device_bytes": self.device_bytes, "fits": self.fits, "tight": self.tight,
                "not_counted": "CUDA context and allocator reserve"}

    def summary(self) -> str:
        return (f"{self.total_bytes / GB:.1f} GB (weights {self.weights_bytes / GB:.1f} + KV cache "
                f"{self.kv_cache_bytes / GB:.1f} + activations {self.activation_bytes / GB:.1f})")


def _cached_positions(arch: LLMArch, layer: int, positions: float) -> float:
    window = arch.layer_windows[layer] if arch.layer_windows else None
    return positions if window is None else min(positions, float(window))


def memory_fit(arch: LLMArch, prec: Precision, accelerator: Accelerator, prompt_tokens: int, output_tokens: int,
               batch: int = 1, attn_impl: str | None = None, cache_len: int | None = None) -> MemoryFit:
    """Bytes of one configuration (module docstring); ``cache_len`` sizes a static cache."""
    linear, dense = arch.param_counts()
    weights = linear * prec.weight_bytes + dense * prec.dense_weight_bytes
    positions = float(cache_len if cache_len is not None else prompt_tokens + output_tokens - 1)
    per_layer = [batch * _cached_positions(arch, i, positions) * arch.kv_elements_per_token(i) * prec.kv_bytes
                 for i in range(arch.n_layers)]
    kv = sum(per_layer)
    a, tokens, h = prec.activation_bytes, float(batch * prompt_tokens), arch.hidden
    mlp_width = 3 * arch.intermediate
    if arch.moe is not None and any(arch.moe_layers):
        m = arch.moe
        mlp_width = max(mlp_width if not all(arch.moe_layers) else 0,
                        m.top_k * 3 * m.expert_intermediate + 3 * m.shared_intermediate + m.n_experts)
    if arch.mla is not None:
        attn_width = arch.n_heads * (2 * arch.mla.qk_head + 2 * arch.mla.v_head)
    else:
        attn_width = 2 * (arch.n_heads + arch.n_kv_heads) * arch.head_dim
    acts = tokens * (4 * h + max(mlp_width, attn_width)) * a
    impl = sdpa_cost_path(attn_impl or arch.attn_impl, arch, prec)
    if impl == "eager":  # materialised scores and the fp32 softmax of one layer
        acts += batch * arch.n_heads * float(prompt_tokens) ** 2 * (a + 4.0)
    acts += batch * arch.vocab * 4.0 + (max(per_layer) if per_layer else 0.0)
    return MemoryFit(float(weights), float(kv), float(acts), float(accelerator.memory_bytes))


def check_fit(fit: MemoryFit, accelerator: Accelerator, allow_offload: bool) -> None:
    """Refuse a configuration that does not fit, in one line naming the bytes and the card's memory."""
    if fit.fits or allow_offload:
        return
    raise UsageError(
        f"does not fit: needs {fit.summary()} but {accelerator.name} has {fit.device_bytes / GB:.1f} GB; "
        "lower batch, tokens or dtype, or pass allow_offload to price it anyway (labelled)"
    )
