"""The designed LLM calibration sweep: which points to measure so that a handful of physical
parameters (mu_c, mu_m, mu_attention, launch and per-step overhead, idle/compute/memory power) are
identifiable and shared by all models, within a few minutes of GPU time per (GPU, engine, dtype).

* prefill over prompt lengths at batch 1 (from launch-bound at 128 tokens to compute-bound at 4096)
  and at larger batch for a short prompt (compute-bound with little attention);
* decode over two prompt lengths (KV-cache reading grows with context) and two batch sizes (batch 1 is
  launch-bound in eager mode, batch 8 moves toward memory-bound), and over three output lengths at
  one prompt length, so that the study's decode closed forms (``joulebench fit``) are identifiable;
* models of several sizes, so that parameters are not per-model; `HELD_OUT_MODELS` are measured for
  validation only and never used to fit;
* held out as well: prompt lengths that are *not* multiples of 64 (`HELD_OUT_LENGTHS`: 77, 1200, 3000)
  and batch sizes never fitted (`HELD_OUT_BATCHES`), because an aligned design never shows tile and
  wave quantization (issue 11: the v1 profiles missed fp32 prefill at 1200 tokens by 11-23%).

The static engine compiles its decode forward once per (model, batch, cache length): its plans keep
two decode batches and one cache length per model (`static_cache_len`, the largest ``s + G`` of
the model's points; the measurement records it per point as ``static_cache_len``), and fewer
models. `estimate_seconds` prices a sweep with the predictor to keep it within `BUDGET_S`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from joulebench.experiments.llm_plan import LLMPlan

TRAIN_MODELS = ("qwen2.5-0.5b", "qwen2.5-3b", "llama-3.1-8b")
HELD_OUT_MODELS = ("qwen2.5-1.5b", "qwen2.5-7b", "mistral-7b-v0.3")
#: the static engine's design (compiles are the cost: two training models and one held out)
STATIC_TRAIN_MODELS = ("qwen2.5-0.5b", "llama-3.1-8b")
STATIC_HELD_OUT_MODELS = ("qwen2.5-1.5b",)

PREFILL_LENGTHS = (128, 512, 1024, 2048, 4096)
PREFILL_BATCHED = ((256, 4), (256, 16))
DECODE_LENGTHS = (128, 2048)
DECODE_BATCHES = (1, 8)
DECODE_TOKENS = 64
DECODE_EXTRA_TOKENS = (16, 128)  # at the first decode length, batch 1
#: held out in every model: unaligned prompt lengths and an unfitted batch size
HELD_OUT_LENGTHS = (77, 1200, 3000)
HELD_OUT_BATCHES = (3,)

#: shorter protocol than a user measurement: the fit pools many points, and the budget is minutes.
#: Decode keeps two repetitions so that its run-to-run spread is on record.
CALIBRATION_PROTOCOLS = {
    "prefill": {"warmup_reps": 1, "min_window_s": 1.0, "min_reps": 2},
    "decode": {"warmup_reps": 1, "min_window_s": 1.0, "min_reps": 2},
    "request": {"warmup_reps": 1, "min_window_s": 1.0, "min_reps": 2},  # decode is measured inside requests
    # two interleaved rounds per point: the fit pools many points, so each needs its spread on record,
    # not its own +-2% (the design's budget would not hold 3+ rounds of every point)
    "stability": {"min_rounds": 2, "budget_s": 4.0},
}
BUDGET_S = 360.0
#: assumptions of `estimate_seconds`, not measurements: loading a random-weight model, and one
#: torch.compile + CUDA-graph capture of a decode forward (check both on the device)
LOAD_ALLOWANCE_S = 5.0
COMPILE_ALLOWANCE_S = 30.0


def _plan(**kw: Any) -> LLMPlan:
    return LLMPlan(**kw)


def calibration_plans(dtype: str, device: str = "cuda", models: tuple[str, ...] | None = None,
                      engine: str = "eager") -> list[LLMPlan]:
    """Plans ordered model by model, so that each model is loaded once. ``dtype`` in any spelling."""
    from joulebench.hardware.dtypes import TORCH_DTYPES, canonical

    dtype = canonical(dtype, "dtype", TORCH_DTYPES)
    models = default_models(engine) if models is None else models
    out: list[LLMPlan] = []
    for model in models:
        plans = _model_plans(model, dtype, device, engine)
        if engine == "static":  # one cache length per model: one compiled decode graph per batch size
            length = static_cache_len(plans)
            plans = [replace(plan, static_cache_len=length) for plan in plans]
        out += plans
    return out


def default_models(engine: str = "eager") -> tuple[str, ...]:
    """The designed models of an engine, training models first."""
    if engine == "static":
        return STATIC_TRAIN_MODELS + STATIC_HELD_OUT_MODELS
    return TRAIN_MODELS + HELD_OUT_MODELS


def _model_plans(model: str, dtype: str, device: str, engine: str) -> list[LLMPlan]:
    common = {"models": [model], "dtypes": [dtype], "device": device, "protocol_overrides": CALIBRATION_PROTOCOLS,
              "engine": engine}
    extra_tokens = [] if engine == "static" else [
        _plan(prompt_tokens=[DECODE_LENGTHS[0]], output_tokens=list(DECODE_EXTRA_TOKENS), batches=[1],
              phases=["decode"], **common)]
    return [
        _plan(prompt_tokens=list(PREFILL_LENGTHS + HELD_OUT_LENGTHS), output_tokens=[1], batches=[1],
              phases=["prefill"], **common),
        *[_plan(prompt_tokens=[s], output_tokens=[1], batches=[b], phases=["prefill"], **common)
          for s, b in (*PREFILL_BATCHED, (256, HELD_OUT_BATCHES[0]))],
        _plan(prompt_tokens=list(DECODE_LENGTHS), output_tokens=[DECODE_TOKENS], batches=list(DECODE_BATCHES),
              phases=["decode"], **common),
        _plan(prompt_tokens=[HELD_OUT_LENGTHS[1]], output_tokens=[DECODE_TOKENS], batches=[HELD_OUT_BATCHES[0]],
              phases=["decode"], **common),
        *extra_tokens,
    ]


def static_cache_len(plans: list[LLMPlan]) -> int:
    """The one static cache length of a model's plans: the largest ``s + G`` among its points (what
    ``generate`` allocates for its longest call, prefill points included: they fill the same cache), so
    every point of the model replays one graph per batch."""
    return max(max(p.prompt_tokens) + max(p.output_tokens) for p in plans)


def estimate_seconds(plans: list[LLMPlan], gpu: str, engine: str = "eager") -> float:
    """GPU seconds of a sweep, priced with the predictor (catalogue defaults, latest cost model): per
    point ``(warmup + max(min_reps, ceil(min_window / t))) * t``, plus `LOAD_ALLOWANCE_S` per model and,
    for the static engine, `COMPILE_ALLOWANCE_S` per distinct (model, decode batch)."""
    import math

    from joulebench.analytic.params import LATEST_COST_MODEL, ModelParams
    from joulebench.analytic.precision import precision_for
    from joulebench.analytic.predict import predict_llm_grid
    from joulebench.analytic.service import llm_arch
    from joulebench.hardware import get_accelerator

    acc = get_accelerator(gpu)
    total = 0.0
    compiles: set[tuple[str, int]] = set()
    for plan in plans:
        prec = precision_for(plan.dtypes[0])
        params = ModelParams.defaults_for(acc, prec.dtype, cost_model=LATEST_COST_MODEL)
        for model in plan.models:
            arch = llm_arch(model)
            for s in plan.prompt_tokens:
                for g in plan.output_tokens:
                    for b in plan.batches:
                        out = predict_llm_grid(arch, acc, params, prec, s, max(g, 2), b, engine=engine)
                        for phase in plan.phases:
                            t = float(out[f"{phase}_latency_s"])
                            proto = CALIBRATION_PROTOCOLS[phase]
                            reps = max(proto["min_reps"], math.ceil(proto["min_window_s"] / max(t, 1e-6)))
                            total += (proto["warmup_reps"] + reps) * t
                            if phase == "decode":
                                compiles.add((model, b))
    models = {m for p in plans for m in p.models}
    return total + LOAD_ALLOWANCE_S * len(models) + (COMPILE_ALLOWANCE_S * len(compiles) if engine == "static" else 0.0)
