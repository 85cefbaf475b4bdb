"""Loading a causal LM for measurement: bundled configs with random weights, hub ids, local folders.

Latency and energy do not depend on weight values, so a bundled config with random weights is a real
model for our purposes; hub ids and local paths load their weights unless random weights are asked for
(then only their config is used). Quantized dtypes go through their library's loader
(`workloads.quantization`). The static engine needs nothing at load time: it is a way of calling
``generate`` (`static_generate_kwargs`).
"""

from __future__ import annotations

import functools
import inspect
import time
from dataclasses import dataclass
from typing import Any

from joulebench.hardware import dtypes
from joulebench.models.configs import ModelRef, resolve
from joulebench.workloads.device import sync, torch_dtype


@dataclass
class LoadedModel:
    ref: ModelRef
    model: Any
    dtype: str
    device: str
    random_weights: bool
    load_s: float
    quantization: dict[str, Any] | None = None  # library and version of a quantized load

    @functools.cached_property
    def tokenizer(self) -> Any | None:
        """Loaded on first use (chat input only): synthetic prompts need no tokenizer."""
        from joulebench.workloads.tokenizer import tokenizer_for

        return tokenizer_for(self.ref)

    @property
    def max_positions(self) -> int:
        return int(self.ref.config.get("max_position_embeddings", 2**31))

    @property
    def vocab_size(self) -> int:
        return int(self.ref.config.get("vocab_size") or self.model.config.get_text_config().vocab_size)


def load_model(reference: str, dtype: str, device: str, random_weights: bool = True) -> LoadedModel:
    """Load a causal LM. Bundled names always use random weights."""
    from transformers import AutoConfig, AutoModelForCausalLM

    ref = resolve(reference)
    t0 = time.perf_counter()
    d = dtypes.get(dtype)
    use_random = random_weights or ref.kind == "bundled"
    quantization: dict[str, Any] | None = None
    if d.loader not in ("torch", None):  # the float model first, then its linears quantized in place
        from joulebench.workloads.quantization import check_quantizable, quantize

        check_quantizable(d, device)
        base = load_model(ref.path if ref.kind == "local" and ref.path else ref.name, dtypes.canonical(d.torch_name),
                          device, use_random)
        model, quantization = base.model, quantize(base.model, d, device)
    elif use_random:
        import torch

        cfg = dict(ref.config)
        model_type = cfg.pop("model_type")
        config = AutoConfig.for_model(model_type, **{k: v for k, v in cfg.items() if k != "torch_dtype"})
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(config, dtype=torch_dtype(dtype), attn_implementation="sdpa")
    else:
        source = ref.path if ref.kind == "local" else ref.name
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype(dtype), attn_implementation="sdpa")
        model = model.to(device)
    model.eval()
    sync(device)
    return LoadedModel(ref, model, d.name, device, use_random, time.perf_counter() - t0, quantization)


def cache_keyword(model: Any) -> str:
    """transformers renamed ``past_key_values`` to ``cache`` (5.2x); accept both versions."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def output_cache(output: Any) -> Any:
    return output["cache"] if "cache" in output else output["past_key_values"]


def static_cache(model: Any, batch: int, max_cache_len: int) -> Any:
    """A static KV cache as ``generate`` builds one for ``cache_implementation="static"``."""
    from transformers import StaticCache

    params = inspect.signature(StaticCache.__init__).parameters
    kwargs: dict[str, Any] = {"config": model.config.get_text_config(decoder=True), "max_cache_len": max_cache_len}
    if "max_batch_size" in params:  # older transformers size the cache by batch up front
        kwargs["max_batch_size"] = batch
    return StaticCache(**kwargs)


def static_generate_kwargs(max_cache_len: int) -> dict[str, Any]:
    """``generate`` arguments of the static engine: a static cache of a fixed length (so that every point
    of a sweep with the same batch reuses one compiled graph) and transformers' auto-compilation of the
    decode step (``torch.compile`` with CUDA graphs on CUDA; not compiled elsewhere)."""
    from transformers import GenerationConfig

    kwargs: dict[str, Any] = {"cache_implementation": "static"}
    if "max_cache_len" in GenerationConfig().to_dict():
        kwargs["max_cache_len"] = max_cache_len
    return kwargs


def static_cache_len(tokens: int, multiple: int = 256) -> int:
    """Cache length of the static engine: the point's tokens rounded up, so nearby lengths share a graph."""
    return -(-tokens // multiple) * multiple
