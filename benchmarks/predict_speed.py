"""Configurations per second of the vectorised LLM predictor (prefill + decode, latency + energy).

Run: ``python benchmarks/predict_speed.py [N]``. Prints one line per model and cost model with the rate
(v2: tile and wave quantization, causal attention, continuous energy - the target is >= 100k/s on 2 cores).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from joulebench.analytic.llm import arch_from_config
from joulebench.analytic.params import LATEST_COST_MODEL, LEGACY_COST_MODEL, ModelParams
from joulebench.analytic.precision import precision_for
from joulebench.analytic.predict import predict_llm_grid
from joulebench.hardware import get_accelerator
from joulebench.models.configs import resolve


def rate(model: str, n: int, gpu: str = "h100-sxm", dtype: str = "bf16",
         cost_model: str = LATEST_COST_MODEL) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    s = rng.integers(1, 4000, n)
    g = rng.integers(1, 512, n)
    b = rng.integers(1, 64, n)
    acc = get_accelerator(gpu)
    arch = arch_from_config(resolve(model).config, model)
    prec = precision_for(dtype)
    params = ModelParams.defaults_for(acc, dtype, cost_model=cost_model)
    predict_llm_grid(arch, acc, params, prec, s[:10], g[:10], b[:10])  # warm-up
    start = time.perf_counter()
    out = predict_llm_grid(arch, acc, params, prec, s, g, b)
    elapsed = time.perf_counter() - start
    assert np.all(np.isfinite(out["request_energy_j"]))
    return n / elapsed, elapsed


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    for cost_model in (LEGACY_COST_MODEL, LATEST_COST_MODEL):
        for model in ("llama-3.1-8b", "gemma-2-9b", "mixtral-8x7b", "deepseek-v2-lite"):
            per_s, elapsed = rate(model, n, cost_model=cost_model)
            print(f"{cost_model} {model:16s} {n} configurations in {elapsed:.3f} s = {per_s:,.0f} configurations/s")


if __name__ == "__main__":
    main()
