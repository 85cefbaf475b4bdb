"""The architecture facts the LLM op model needs, normalised across families (`families` fills them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MoE:
    """Mixture-of-experts block: ``n_experts`` experts, ``top_k`` per token, optional shared expert."""

    n_experts: int
    top_k: int
    expert_intermediate: int
    shared_intermediate: int = 0
    shared_gate: bool = False
    norm_topk: bool = True


@dataclass(frozen=True)
class MLA:
    """Multi-head latent attention (DeepSeek-V2/V3): queries through an optional low-rank ``q_lora_rank``,
    keys and values compressed to ``kv_lora_rank`` plus a shared RoPE key of ``qk_rope`` dims."""

    q_lora_rank: int | None
    kv_lora_rank: int
    qk_nope: int
    qk_rope: int
    v_head: int

    @property
    def qk_head(self) -> int:
        return self.qk_nope + self.qk_rope

    @property
    def latent(self) -> int:
        """Elements cached per token and layer: the compressed KV and the RoPE key."""
        return self.kv_lora_rank + self.qk_rope


@dataclass(frozen=True)
class LLMArch:
    """One decoder-only model, as the op model sees it."""

    name: str
    family: str
    n_layers: int
    hidden: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    max_positions: int
    tie_embeddings: bool = False
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    fused_qkv: bool = False
    fused_gate_up: bool = False
    activation: str = "silu"
    norm_style: str = "rms"  # "rms" or "gemma" ((1 + w) scaling, two extra kernels)
    norms_per_layer: int = 2
    qk_norm: bool = False
    qk_norm_full: bool = False  # OLMo 2: q/k norms over the whole projection, not per head
    embed_scale: bool = False
    attn_softcap: float | None = None
    final_softcap: float | None = None
    layer_windows: tuple[int | None, ...] = ()
    moe: MoE | None = None
    moe_layers: tuple[bool, ...] = ()
    mla: MLA | None = None
    attn_impl: str = "sdpa"  # what transformers uses by default for this family
    approximate: bool = False  # read by the generic path from config fields, not a family parser

    def _attention_params(self) -> int:
        h, hd = self.hidden, self.head_dim
        if self.mla is not None:
            a, nh = self.mla, self.n_heads
            q = h * nh * a.qk_head if a.q_lora_rank is None else h * a.q_lora_rank + a.q_lora_rank * (1 + nh * a.qk_head)
            kv = h * a.latent + a.kv_lora_rank + a.kv_lora_rank * nh * (a.qk_nope + a.v_head)
            return q + kv + nh * a.v_head * h
        attn = h * hd * (self.n_heads + 2 * self.n_kv_heads) + self.n_heads * hd * h
        if self.qk_norm:
            attn += (self.n_heads + self.n_kv_heads) * hd if self.qk_norm_full else 2 * hd
        return attn

    def param_counts(self) -> tuple[int, int]:
        """(weights of quantizable linears, weights kept dense: embeddings, LM head, norms, routers)."""
        h = self.hidden
        linear = dense = 0
        for i in range(self.n_layers):
            linear += self._attention_params()
            dense += self.norms_per_layer * h
            if self.moe is not None and self.moe_layers[i]:
                m = self.moe
                dense += h * m.n_experts + (h if m.shared_gate else 0)
                linear += 3 * h * m.expert_intermediate * m.n_experts + 3 * h * m.shared_intermediate
            else:
                linear += 3 * h * self.intermediate
        dense += self.vocab * h + h + (0 if self.tie_embeddings else self.vocab * h)
        return linear, dense

    def n_params(self) -> int:
        """Parameter count (embeddings + blocks + head), for sanity checks and the explain text."""
        return sum(self.param_counts())

    def kv_elements_per_token(self, layer: int) -> int:
        """Elements one token stores in ``layer``'s cache (keys and values, or MLA's latent)."""
        del layer
        if self.mla is not None:
            return self.mla.latent
        return 2 * self.n_kv_heads * self.head_dim
