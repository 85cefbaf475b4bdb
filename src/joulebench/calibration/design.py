"""The designed LLM calibration sweep: which points to measure so that a handful of physical
parameters (mu_c, mu_m, launch overhead, idle/compute/memory power) are identifiable and shared by
all models, within about 10 minutes of GPU time per (GPU, engine, dtype).

* prefill over prompt lengths at batch 1 (from launch-bound at 128 tokens to compute-bound at 4096)
  and at larger batch for a short prompt (compute-bound with little attention);
* decode over two prompt lengths (KV-cache reading grows with context) and two batch sizes (batch 1 is
  launch-bound in eager mode, batch 8 moves toward memory-bound), and over three output lengths at
  one prompt length, so that the study's decode closed forms (``joulebench fit``) are identifiable;
* models of several sizes, so that parameters are not per-model; `HELD_OUT_MODELS` are measured for
  validation only and never used to fit.
"""

from __future__ import annotations

from joulebench.experiments.llm_plan import LLMPlan

TRAIN_MODELS = ("qwen2.5-0.5b", "qwen2.5-3b", "llama-3.1-8b")
HELD_OUT_MODELS = ("qwen2.5-1.5b", "qwen2.5-7b", "mistral-7b-v0.3")

PREFILL_LENGTHS = (128, 512, 1024, 2048, 4096)
PREFILL_BATCHED = ((256, 4), (256, 16))
DECODE_LENGTHS = (128, 2048)
DECODE_BATCHES = (1, 8)
DECODE_TOKENS = 64
DECODE_EXTRA_TOKENS = (16, 128)  # at the first decode length, batch 1

#: shorter protocol than a user measurement: the fit pools many points, and the budget is ~10 min.
#: Decode keeps two repetitions so that its run-to-run spread is on record.
CALIBRATION_PROTOCOLS = {
    "prefill": {"warmup_reps": 1, "min_window_s": 1.0, "min_reps": 2},
    "decode": {"warmup_reps": 1, "min_window_s": 1.0, "min_reps": 2},
    "request": {"warmup_reps": 1, "min_window_s": 1.0, "min_reps": 2},  # decode is measured inside requests
}


def calibration_plans(dtype: str, device: str = "cuda", models: tuple[str, ...] | None = None) -> list[LLMPlan]:
    """Plans ordered model by model, so that each model is loaded once."""
    return [plan for model in (models or TRAIN_MODELS + HELD_OUT_MODELS) for plan in _model_plans(model, dtype, device)]


def _model_plans(model: str, dtype: str, device: str) -> list[LLMPlan]:
    common = {"models": [model], "dtypes": [dtype], "device": device, "protocol_overrides": CALIBRATION_PROTOCOLS}
    return [
        LLMPlan(prompt_tokens=list(PREFILL_LENGTHS), output_tokens=[1], batches=[1], phases=["prefill"], **common),
        *[LLMPlan(prompt_tokens=[s], output_tokens=[1], batches=[b], phases=["prefill"], **common)
          for s, b in PREFILL_BATCHED],
        LLMPlan(prompt_tokens=list(DECODE_LENGTHS), output_tokens=[DECODE_TOKENS], batches=list(DECODE_BATCHES),
                phases=["decode"], **common),
        LLMPlan(prompt_tokens=[DECODE_LENGTHS[0]], output_tokens=list(DECODE_EXTRA_TOKENS), batches=[1],
                phases=["decode"], **common),
    ]
