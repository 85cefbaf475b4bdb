"""The analytic predictor: per-operation FLOP/byte models, roofline time with a launch term, energy.

Nothing here touches a GPU: inputs are a model config (``joulebench.models.resolve``), an
`Accelerator` (``joulebench.hardware``) and a `ModelParams` (tunable constants, calibratable).

Entry points:

* `predict_llm` / `predict_llm_grid` / `llm_features` (``analytic.predict``)
* `predict_video` (``analytic.video``)
* `ModelParams.defaults_for`, `load_params` (``analytic.params``)
"""

from __future__ import annotations

from joulebench.analytic.params import ModelParams, load_params
from joulebench.analytic.precision import Precision, precision_for

__all__ = ["ModelParams", "Precision", "load_params", "precision_for"]
