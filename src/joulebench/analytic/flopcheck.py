"""Reference FLOP counts from the real model code, on the meta device (no weights, no GPU).

``torch.utils.flop_counter.FlopCounterMode`` counts only matmul-like ops (mm/addmm/bmm, SDPA,
convolutions) at 2 FLOPs per multiply-add; it ignores elementwise work (norms, activations,
softmax, RoPE). Comparisons therefore use the analytic model's *counted* FLOPs (ops flagged
``counted``), which is like with like. Used by the tests and ``benchmarks/flop_agreement.py``; the
video models' counters (DiTs, VAEs, text encoders) are in ``analytic.flopcheck_video``.

torch, transformers and diffusers are imported lazily: the predictor itself never needs them.
"""

from __future__ import annotations

import copy
from typing import Any

#: families whose default experts loop calls nonzero() (not on meta): counted with batched_mm
MOE_TYPES = ("mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3")


def _flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    return FlopCounterMode(display=False)


def shrink_llm_config(cfg: dict[str, Any], n_layers: int) -> dict[str, Any]:
    """Copy of ``cfg`` with fewer layers (exact: FLOPs are additive over layers)."""
    out = copy.deepcopy(cfg)
    if "text_config" in out:
        out["text_config"] = shrink_llm_config(out["text_config"], n_layers)
        return out
    out["num_hidden_layers"] = n_layers
    if out.get("layer_types"):
        out["layer_types"] = out["layer_types"][:n_layers]
    if out.get("first_k_dense_replace"):  # DeepSeek: keep a dense and a sparse layer when shrinking
        out["first_k_dense_replace"] = min(int(out["first_k_dense_replace"]), max(n_layers - 1, 0))
    return out


def count_llm_flops(cfg: dict[str, Any], prompt_tokens: int, batch: int = 1) -> dict[str, int]:
    """FLOPs of one prefill (logits of the last position only) and of the next decode step."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    clean = {k: v for k, v in cfg.items() if not k.startswith("_")}
    model_type = clean.pop("model_type")
    config = AutoConfig.for_model(model_type, **clean)
    kwargs: dict[str, Any] = {}
    if model_type in MOE_TYPES:
        kwargs["experts_implementation"] = "batched_mm"  # the default loop calls nonzero(): not on meta
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, **kwargs)
    model.eval()
    ids = torch.zeros(batch, prompt_tokens, dtype=torch.long, device="meta")
    # a ready 4D boolean mask: transformers then skips mask creation, which calls .item() (not on meta)
    mask = torch.ones(batch, 1, prompt_tokens, prompt_tokens, dtype=torch.bool, device="meta")
    with torch.no_grad():
        counter = _flop_counter()
        with counter:
            out = model(input_ids=ids, attention_mask=mask, use_cache=True, logits_to_keep=1)
        prefill = counter.get_total_flops()
        step_ids = torch.zeros(batch, 1, dtype=torch.long, device="meta")
        step_mask = torch.ones(batch, 1, 1, prompt_tokens + 1, dtype=torch.bool, device="meta")
        counter = _flop_counter()
        with counter:
            model(
                input_ids=step_ids,
                attention_mask=step_mask,
                cache=out.past_key_values,
                use_cache=True,
                logits_to_keep=1,
            )
        decode = counter.get_total_flops()
    return {"prefill": int(prefill), "decode_step": int(decode)}


def count_module_flops(module: Any, *args: Any, **kwargs: Any) -> int:
    """FLOPs of one call of ``module`` (any torch module already on the meta device)."""
    import torch

    with torch.no_grad():
        counter = _flop_counter()
        with counter:
            module(*args, **kwargs)
    return int(counter.get_total_flops())
