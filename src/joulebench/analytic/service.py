"""From user strings (model name, gpu name, dtype, file paths) to a prediction document.

The CLI and the Python API share this one path, so that both validate the same way and produce
the same JSON. Everything is checked before the first FLOP is priced: dtype, card, model, engine,
the profile's bounds (read once through `joulebench.profiles`), the request's lengths and whether
it fits in the card's memory (`analytic.memory`).
"""

from __future__ import annotations

from typing import Any

from joulebench.analytic.engines import get_engine
from joulebench.analytic.families import arch_from_config
from joulebench.analytic.llm import LLMArch
from joulebench.analytic.memory import check_fit, memory_fit
from joulebench.analytic.params import LATEST_COST_MODEL, LEGACY_COST_MODEL, ModelParams, params_from_mapping
from joulebench.analytic.precision import precision_for
from joulebench.analytic.predict import LLMPrediction, predict_llm, validate_request
from joulebench.errors import UsageError
from joulebench.hardware.catalogue import Accelerator, get_accelerator
from joulebench.models.configs import resolve


def llm_arch(reference: str) -> LLMArch:
    """Bundled name, hub id or local path -> normalised architecture (what the predictor needs)."""
    ref = resolve(reference, "models")
    return arch_from_config(ref.config, ref.name)


def resolve_params(acc: Accelerator, dtype: str, calibration: str | None,
                   cost_model: str = LEGACY_COST_MODEL) -> tuple[ModelParams, str]:
    """Catalogue defaults (of ``cost_model``), overridden field by field by a calibration file when
    given; the file's bounds (and idle power against the card) are checked on the way in."""
    return _resolve(acc, dtype, calibration, cost_model)[:2]


def _resolve(acc: Accelerator, dtype: str, calibration: str | None,
             cost_model: str) -> tuple[ModelParams, str, str | None]:
    """(params, where they came from, the profile's engine or None)."""
    base = ModelParams.defaults_for(acc, dtype, cost_model=cost_model)
    if calibration is None:
        return base, "catalogue-defaults", None
    from joulebench.profiles import read_profile

    profile = read_profile(calibration)
    params = params_from_mapping(dict(profile.params), base, str(calibration), acc)
    return params, str(calibration), profile.engine


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
    cache: str | None = None,
    engine: str | None = None,
    mla_absorbed: bool = False,
    static_cache_len: int | None = None,
    allow_offload: bool = False,
    explain: bool = False,
    command: str | None = None,
    tp: int = 1,
) -> tuple[dict[str, Any], LLMPrediction, str | None]:
    """Validate everything first, then predict; returns (JSON document, prediction, explain text).

    ``engine`` None takes the profile's engine (eager without a profile); a profile of another engine
    is refused. Uncalibrated predictions use the latest cost model; a profile its own."""
    from joulebench.analytic.render import llm_document

    prec = precision_for(dtype, kv_dtype=kv_dtype)
    acc = get_accelerator(gpu, hardware_file)
    acc.peak_flops(prec.compute)  # fail early when the card lacks the precision
    ref = resolve(model, "models")
    arch = arch_from_config(ref.config, ref.name)
    if tp > 1:  # every GPU of the group computes its shard: predict one GPU, then add the exchanges
        from joulebench.analytic.parallel import communication, shard

        comm = communication(arch, prec, acc, tp, prompt_tokens, output_tokens, batch)
        arch = shard(arch, tp)
    params, source, profile_engine = _resolve(acc, prec.dtype, calibration, LATEST_COST_MODEL)
    chosen = get_engine(engine if engine is not None else profile_engine)
    if profile_engine is not None and get_engine(profile_engine).name != chosen.name:
        raise UsageError.bad("engine", engine, f"the profile {calibration} was fitted on engine "
                             f"{get_engine(profile_engine).name}; predict with that engine or another profile")
    validate_request(arch, prompt_tokens, output_tokens, batch)
    fit = memory_fit(arch, prec, acc, prompt_tokens, output_tokens, batch, attn_impl,
                     static_cache_len if chosen.decode_full_cache else None)
    check_fit(fit, acc, allow_offload)
    kw: dict[str, Any] = {"attn_impl": attn_impl, "engine": chosen.name, "mla_absorbed": mla_absorbed}
    if cache is not None:
        kw["cache"] = cache
    if static_cache_len is not None:
        kw["static_cache_len"] = static_cache_len
    pred = predict_llm(arch, acc, params, prec, prompt_tokens, output_tokens, batch, graphs=graphs, **kw)
    info = text = None
    if explain:
        from joulebench.analytic.explain import explain_llm, explain_text

        info = explain_llm(arch, acc, params, prec, prompt_tokens, output_tokens, batch, graphs=graphs, **kw)
        text = explain_text(info)
    doc = llm_document(pred, prec, source, command=command, explain=info)
    doc["model_source"] = ref.kind
    doc["engine"] = {"name": chosen.name, "approximate": chosen.approximate}
    doc["memory"] = fit.to_dict()
    if not fit.fits:
        doc["memory"]["offload"] = ("does not fit: priced as if it did; offload transfers are not modelled, "
                                    "so the figures are a lower bound")
    if arch.approximate:
        doc["family_approximate"] = (f"model_type {arch.family.split(':', 1)[-1]} has no family parser: read from "
                                     "the standard config fields as a Llama-like decoder, approximate")
    doc["floors"] = _floors(pred, arch, acc, prec, prompt_tokens, output_tokens, batch)
    if tp > 1:
        from joulebench.analytic.parallel import group_document

        doc["tensor_parallel"] = group_document(pred, comm, params.p_idle_w)
    return doc, pred, text


def _floors(pred: LLMPrediction, arch: LLMArch, acc: Accelerator, prec: Any, s: int, g: int, b: int) -> dict[str, Any]:
    """Each predicted phase beside the one first-principles floor (`analytic.floors`, the floor every
    measurement is held to too): a prediction below it is a modelling bug, flagged."""
    from joulebench.analytic.floors import llm_floors

    floors = llm_floors(arch, prec, acc, s, g, b)
    out: dict[str, Any] = {}
    for phase in (pred.prefill, pred.decode):
        floor = floors[phase.name]
        out[phase.name] = {"time_s": floor.latency_s, "energy_j": floor.energy_j, "bound": floor.bound,
                           "below_floor": phase.latency_s < floor.latency_s * (1 - 1e-9)}
    return out
