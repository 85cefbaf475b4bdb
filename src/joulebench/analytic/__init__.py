"""The analytic predictor: per-operation FLOP/byte models, roofline time with a launch term, energy.

Nothing here touches a GPU: inputs are a model config (``joulebench.models.configs.resolve``), an
`Accelerator` (``joulebench.hardware``) and a `ModelParams` (tunable constants, calibratable).

Entry points:

* `predict_llm` / `predict_llm_grid` / `llm_features` (``analytic.predict``; values in ``analytic.results``)
* `memory_fit` (``analytic.memory``), engines (``analytic.engines``), families (``analytic.families``)
* `predict_video` (``analytic.video``)
* `ModelParams.defaults_for`, `load_params` (``analytic.params``)
"""

from __future__ import annotations

from joulebench.analytic.llm import LLMArch, arch_from_config
from joulebench.analytic.memory import MemoryFit, memory_fit
from joulebench.analytic.params import ModelParams, load_params
from joulebench.analytic.precision import Precision, precision_for
from joulebench.analytic.predict import (
    LLMPrediction,
    PhaseFeatures,
    PhasePrediction,
    llm_features,
    predict_llm,
    predict_llm_grid,
)
from joulebench.analytic.service import llm_arch, llm_prediction, resolve_params

__all__ = [
    "LLMArch",
    "LLMPrediction",
    "MemoryFit",
    "PhasePrediction",
    "ModelParams",
    "PhaseFeatures",
    "Precision",
    "arch_from_config",
    "llm_arch",
    "llm_features",
    "llm_prediction",
    "load_params",
    "memory_fit",
    "precision_for",
    "predict_llm",
    "predict_llm_grid",
    "resolve_params",
]
