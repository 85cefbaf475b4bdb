"""Reference FLOP counts from the real model code, on the meta device (no weights, no GPU).

``torch.utils.flop_counter.FlopCounterMode`` counts only matmul-like ops (mm/addmm/bmm, SDPA,
convolutions) at 2 FLOPs per multiply-add; it ignores elementwise work (norms, activations,
softmax, RoPE). Comparisons therefore use the analytic model's *counted* FLOPs (ops flagged
``counted``), which is like with like. Used by the tests and ``benchmarks/flop_agreement.py``.

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


def _diffusers_model(class_name: str, cfg: dict[str, Any]):
    import diffusers
    import torch

    clean = {k: v for k, v in cfg.items() if not k.startswith("_")}
    cls = getattr(diffusers, class_name)
    with torch.device("meta"):
        return cls.from_config(clean)


def count_dit_flops(
    transformer_cfg: dict[str, Any],
    latent_frames: int,
    latent_height: int,
    latent_width: int,
    text_tokens: int,
    text_dim: int,
    n_layers: int | None = None,
) -> int:
    """FLOPs of one DiT forward (batch 1) on meta; ``n_layers`` shrinks the config (exact)."""
    import torch

    cfg = dict(transformer_cfg)
    if n_layers is not None:
        cfg["num_layers"] = n_layers
    model = _diffusers_model(cfg["_class_name"], cfg).eval()
    kind = cfg["_class_name"]
    c_in = cfg["in_channels"]
    ts = torch.zeros(1, dtype=torch.long, device="meta")
    text = torch.zeros(1, text_tokens, text_dim, device="meta")
    if kind == "WanTransformer3DModel":
        x = torch.zeros(1, c_in, latent_frames, latent_height, latent_width, device="meta")
        return count_module_flops(model, hidden_states=x, timestep=ts, encoder_hidden_states=text)
    if kind == "CogVideoXTransformer3DModel":
        x = torch.zeros(1, latent_frames, c_in, latent_height, latent_width, device="meta")
        return count_module_flops(model, hidden_states=x, timestep=ts, encoder_hidden_states=text)
    raise ValueError(f"no meta-device harness for {kind}")


def count_wan_vae_decode_flops(
    vae_cfg: dict[str, Any], latent_frames: int, latent_height: int, latent_width: int
) -> int:
    """FLOPs of ``AutoencoderKLWan.decode`` (frame-by-frame causal decode) on meta."""
    import torch

    vae = _diffusers_model("AutoencoderKLWan", vae_cfg).eval()
    z = torch.zeros(1, vae_cfg["z_dim"], latent_frames, latent_height, latent_width, device="meta")
    return count_module_flops(vae.decode, z)


def count_t5_encoder_flops(te_cfg: dict[str, Any], tokens: int, n_layers: int | None = None) -> int:
    """FLOPs of a T5/UMT5 encoder at ``tokens`` positions on meta."""
    import torch
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    clean = {k: v for k, v in te_cfg.items() if not k.startswith("_") and k != "model_type"}
    if n_layers is not None:
        clean["num_layers"] = n_layers
    umt5 = te_cfg["model_type"] == "umt5"
    config = (UMT5Config if umt5 else T5Config)(**clean)
    with torch.device("meta"):
        model = (UMT5EncoderModel if umt5 else T5EncoderModel)(config).eval()
    ids = torch.zeros(1, tokens, dtype=torch.long, device="meta")
    mask = torch.ones(1, 1, tokens, tokens, dtype=torch.bool, device="meta")  # 4D: no .item() in mask code
    return count_module_flops(model, input_ids=ids, attention_mask=mask)
