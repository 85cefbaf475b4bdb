"""From user strings (model name, gpu name, dtype, file paths) to a prediction document.

The CLI and the Python API share this one path, so that both validate the same way and produce
the same JSON.
"""

from __future__ import annotations

from typing import Any

from joulebench.analytic.llm import LLMArch, arch_from_config
from joulebench.analytic.params import ModelParams, load_params
from joulebench.analytic.precision import precision_for
from joulebench.analytic.predict import LLMPrediction, predict_llm
from joulebench.hardware.catalogue import Accelerator, get_accelerator
from joulebench.models.configs import resolve


def llm_arch(reference: str) -> LLMArch:
    """Bundled name, hub id or local path -> normalised architecture (what the predictor needs)."""
    ref = resolve(reference, "models")
    return arch_from_config(ref.config, ref.name)


def resolve_params(acc: Accelerator, dtype: str, calibration: str | None) -> tuple[ModelParams, str]:
    """Catalogue defaults, overridden field by field by a calibration file when given."""
    base = ModelParams.defaults_for(acc, dtype)
    if calibration is None:
        return base, "catalogue-defaults"
    return load_params(calibration, base), str(calibration)


def llm_prediction(
    model: str,
    gpu: str,
    dtype: str,
    prompt_tokens: int,
    output_tokens: int,
    batch: int = 1,
    *,
    calibration: str | None = None,
    hardware_file: str | None = None,
    graphs: bool = False,
    kv_dtype: str | None = None,
    attn_impl: str | None = None,
    cache: str = "dynamic",
    explain: bool = False,
    command: str | None = None,
) -> tuple[dict[str, Any], LLMPrediction, str | None]:
    """Validate everything first, then predict; returns (JSON document, prediction, explain text)."""
    from joulebench.analytic.render import llm_document

    prec = precision_for(dtype, kv_dtype=kv_dtype)
    acc = get_accelerator(gpu, hardware_file)
    acc.peak_flops(prec.compute)  # fail early when the card lacks the precision
    ref = resolve(model, "models")
    arch = arch_from_config(ref.config, ref.name)
    params, source = resolve_params(acc, prec.dtype, calibration)
    kw = {"attn_impl": attn_impl, "cache": cache}
    pred = predict_llm(arch, acc, params, prec, prompt_tokens, output_tokens, batch, graphs=graphs, **kw)
    info = text = None
    if explain:
        from joulebench.analytic.explain import explain_llm, explain_text

        info = explain_llm(arch, acc, params, prec, prompt_tokens, output_tokens, batch, graphs=graphs, **kw)
        text = explain_text(info)
    doc = llm_document(pred, prec, source, command=command, explain=info)
    doc["model_source"] = ref.kind
    return doc, pred, text
