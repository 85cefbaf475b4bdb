"""Quantized loads: bitsandbytes LLM.int8 / NF4 and torchao int8, int4 weight-only and float8, with random
weights, each recorded with its library, version and settings.

Why quantize in place rather than ``from_pretrained(quantization_config=...)``: a random-weight model
has no checkpoint to load, and writing one (16-60 GB) to disk to read it back would cost minutes. So
the model is built as a float model first (`llm_model.load_model`, random or pretrained weights - one
path for both), then every ``nn.Linear`` but the LM head is quantized where it lies (`quantize`):

* bitsandbytes: transformers' own ``replace_with_bnb_linear`` swaps the modules (the settings
  transformers uses: int8 threshold 6.0, no fp16 weights; NF4 in blocks of 64, bf16 compute, no double
  quantization), then each weight is wrapped the way transformers' ``Bnb8bitQuantize`` /
  ``Bnb4bitQuantize`` do, and moving it to the device quantizes it;
* torchao: ``quantize_`` with ``Int8WeightOnlyConfig``, ``Int4WeightOnlyConfig`` in the
  ``tile_packed_to_4d`` format (tinygemm, a kernel of PyTorch itself - the ``plain`` format needs the
  extra mslk/fbgemm CUDA package) and ``Float8DynamicActivationFloat8WeightConfig`` per row (fp8
  tensor cores, compute capability 8.9+).

The LM head stays in the float dtype for every method (transformers keeps it so for bitsandbytes, and
models with tied embeddings share it with the input embedding), so that the precision table compares
the same quantized layers. `check_loadable` is what a plan asks before any GPU work.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from joulebench.errors import UsageError
from joulebench.hardware.dtypes import Dtype

#: modules never quantized (by name): see the module docstring
KEEP_FLOAT = ("lm_head",)
INT8_THRESHOLD = 6.0
NF4_BLOCK = 64
INT4_GROUP = 128
INT4_PACKING = "tile_packed_to_4d"


def library_version(name: str) -> str | None:
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    return str(getattr(module, "__version__", "unknown"))


def check_loadable(dtype: Dtype, device: str, capability: tuple[int, int] | None = None) -> None:
    """Refuse, before anything is loaded, a dtype this machine cannot run: its library missing, or the
    GPU too old (``capability``: the device's, read from CUDA when None). `UsageError` naming ``dtype``.
    (Which devices a dtype may run on at all is the dtype table's ``cuda_only``, checked by the plans; the
    libraries' CPU kernels, where they have them, serve the tests.)"""
    if dtype.loader in ("torch", None):
        return
    if dtype.min_capability is not None and device.startswith("cuda"):  # first: no package would help
        have = capability or _cuda_capability()
        if have is not None and tuple(have) < dtype.min_capability:
            need = ".".join(map(str, dtype.min_capability))
            raise UsageError.bad("dtype", dtype.name, f"needs CUDA compute capability {need} or newer (fp8 tensor "
                                 f"cores); this GPU has {have[0]}.{have[1]}")
    if library_version(dtype.loader) is None:
        raise UsageError.bad("dtype", dtype.name, f"needs the {dtype.loader} package, which is not installed here "
                             f"(pip install {dtype.loader})")


def _cuda_capability() -> tuple[int, int] | None:
    import torch

    return tuple(torch.cuda.get_device_capability()) if torch.cuda.is_available() else None  # type: ignore[return-value]


def _linears(model: Any) -> list[str]:
    import torch

    return [name for name, module in model.named_modules()
            if type(module) is torch.nn.Linear and name.split(".")[-1] not in KEEP_FLOAT]


def _bnb(model: Any, dtype: Dtype, device: str) -> dict[str, Any]:
    """Swap the linears for bitsandbytes modules (transformers' helper) and quantize their weights."""
    import bitsandbytes as bnb
    import torch
    from transformers import BitsAndBytesConfig
    from transformers.integrations.bitsandbytes import replace_with_bnb_linear

    names = _linears(model)
    weights = {n: (model.get_submodule(n).weight.data, model.get_submodule(n).bias) for n in names}
    if dtype.name == "bnb-int8":
        config = BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=INT8_THRESHOLD)
    else:
        config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
                                    bnb_4bit_use_double_quant=False)
    skip = [n for n, m in model.named_modules() if n and n.split(".")[-1] in KEEP_FLOAT]
    replace_with_bnb_linear(model, modules_to_not_convert=skip, quantization_config=config)
    for name in names:
        weight, bias = weights.pop(name)
        module = model.get_submodule(name)
        params = dict(module.weight.__dict__)
        if dtype.name == "bnb-int8":
            params.pop("SCB", None)
            module.weight = bnb.nn.Int8Params(weight.to("cpu"), requires_grad=False, **params).to(device)
        else:
            params["blocksize"] = NF4_BLOCK
            module.weight = bnb.nn.Params4bit(weight, requires_grad=False, **params).to(device)
        if bias is not None:
            module.bias = torch.nn.Parameter(bias.to(device), requires_grad=False)
        del weight
    settings = {"method": config.quantization_method(), "quantized_linears": len(names), "kept_float": list(KEEP_FLOAT)}
    if dtype.name == "bnb-int8":
        settings |= {"llm_int8_threshold": INT8_THRESHOLD, "has_fp16_weights": False}
    else:
        settings |= {"quant_type": "nf4", "blocksize": NF4_BLOCK, "compute_dtype": "bfloat16", "double_quant": False}
    return settings


def _torchao_config(dtype: Dtype) -> Any:
    from torchao import quantization as q

    if dtype.name == "torchao-int8":
        return q.Int8WeightOnlyConfig()
    if dtype.name == "torchao-int4":
        return q.Int4WeightOnlyConfig(group_size=INT4_GROUP, int4_packing_format=INT4_PACKING)
    return q.Float8DynamicActivationFloat8WeightConfig(granularity=q.PerRow())


def _torchao(model: Any, dtype: Dtype, device: str) -> dict[str, Any]:
    from torchao.quantization import quantize_

    names = set(_linears(model))
    config = _torchao_config(dtype)
    quantize_(model, config, filter_fn=lambda module, fqn: fqn in names)
    return {"method": type(config).__name__, "config": repr(config), "quantized_linears": len(names),
            "kept_float": list(KEEP_FLOAT)}


QUANTIZERS: dict[str, Callable[[Any, Dtype, str], dict[str, Any]]] = {"bitsandbytes": _bnb, "torchao": _torchao}


def check_quantizable(dtype: Dtype, device: str) -> None:
    """What a quantized load checks before it builds anything: the library, the card, a loader for it."""
    check_loadable(dtype, device)
    if dtype.torch_name is None or dtype.loader not in QUANTIZERS:
        raise UsageError.bad("dtype", dtype.name, "has no quantization loader")


def quantize(model: Any, dtype: Dtype, device: str) -> dict[str, Any]:
    """Quantize the float ``model``'s linears in place as ``dtype`` says; returns what did it: library,
    version, settings (stored with every point measured on it). `llm_model.load_model` builds the float
    model and calls this, after `check_quantizable`."""
    import transformers

    settings = QUANTIZERS[dtype.loader](model, dtype, device)
    return {"library": dtype.loader, "version": library_version(dtype.loader), "config": settings,
            "float_dtype": dtype.torch_name, "transformers": transformers.__version__}
