"""Case studies I and II as plans: thank-you replies, model sizes, precision, batching.

Each plan is validated on construction the way every LLM plan is - by an `LLMPlan` over its extremes
(the longest prompt and reply, the largest batch: device, dtype and library, engine, context, memory) -
before any model is loaded or anything written; its points are that plan's template point with the
lengths of each request (`dataclasses.replace`), so every point is an ordinary `LLMPoint` the one
sweep driver measures, stores and resumes by.

Designs, and why:

* **thank-you** (case I, 5 warm-ups + 10 prefill + 10 full runs on each of 10,000 prompts in the study)
  measures a designed grid of (prompt, reply) lengths at the population's quantiles, fits the study's own
  length models on it, predicts every request, and corrects that prediction with the residuals of a
  random check sample drawn batch by batch (`llm_estimate`) until the per-reply mean is known to the
  target (+-2%) or the GPU time reaches the budget (1/5 of the study's protocol). Check points carry
  ``seed = 1 + index`` so that a request drawn twice, or equal to a grid point, is still its own point.
* **sizes**: one point per model at the study's mean lengths; **precision**: dtype x engine at those
  lengths; **batch**: batches of requests drawn from the case II length laws, left-padded, at random
  (padding as it comes) or with length bucketing (sorted requests cut into consecutive groups).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from joulebench.data.prompt_set import PromptSet
from joulebench.errors import UsageError
from joulebench.experiments.llm_plan import LLMPlan
from joulebench.hardware import dtypes
from joulebench.values import LLMPoint

PHASES = ("prefill", "decode", "request")
#: population quantiles of the designed grid (per axis)
DESIGN_QUANTILES = (0.05, 0.5, 0.95)
BUCKETING = ("off", "on")
#: the study's mean prompt and a short reply: where sizes and precision are compared
STUDY_PROMPT_TOKENS = 1200
STUDY_OUTPUT_TOKENS = 64


def _template(model: str, dtype: str, device: str, engine: str, max_s: int, max_g: int, max_b: int,
              overrides: Mapping[str, Mapping[str, Any]], check_device: bool) -> LLMPoint:
    """The validated point every point of a study is made from (validation at the extremes)."""
    plan = LLMPlan(models=[model], dtypes=[dtype], prompt_tokens=[max_s], output_tokens=[max_g], batches=[max_b],
                   device=device, engine=engine, protocol_overrides=overrides, check_device=check_device)
    return plan.points()[0]


@dataclass(frozen=True)
class ThankYouPlan:
    """Case I: Wh per reply over a population of thank-you prompts, measured on a designed subset."""

    prompts: PromptSet
    model: str = "llama-3.1-8b"
    dtype: str = "fp32"
    device: str = "cuda"
    engine: str = "eager"
    seed: int = 0
    protocol_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    check_batch: int = 4
    min_check: int = 8
    max_check: int = 48
    target_ci: float = 0.02
    budget_fraction: float = 0.2
    #: False for ``--tables-only``: nothing will run, so this machine's device is not checked (`LLMPlan`)
    check_device: bool = field(default=True, compare=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.target_ci < 1.0:
            raise UsageError.bad("target_ci", self.target_ci, "a relative half-width in (0, 1), e.g. 0.02")
        if not 0.0 < self.budget_fraction <= 1.0:
            raise UsageError.bad("budget_fraction", self.budget_fraction, "a share of the study's GPU time in (0, 1]")
        if not 2 <= self.min_check <= self.max_check:
            raise UsageError.bad("max_check", self.max_check, f"needs 2 <= min_check ({self.min_check}) <= max_check")
        _ = self.template  # validate now, before anything runs

    @cached_property
    def template(self) -> LLMPoint:
        return _template(self.model, self.dtype, self.device, self.engine, int(self.prompts.prompts.max()),
                         int(self.prompts.replies.max()), 1, self.protocol_overrides, self.check_device)

    def _point(self, s: int, g: int, seed: int) -> LLMPoint:
        return dataclasses.replace(self.template, prompt_tokens=int(s), output_tokens=int(g), seed=seed)

    def design_lengths(self) -> list[tuple[int, int]]:
        """The grid: prompt and reply lengths at the population's quantiles (distinct pairs, in order)."""
        s_levels = np.quantile(self.prompts.prompts, DESIGN_QUANTILES)
        g_levels = np.quantile(self.prompts.replies, DESIGN_QUANTILES)
        pairs: list[tuple[int, int]] = []
        for s in s_levels:
            for g in g_levels:
                pair = (int(round(s)), max(2, int(round(g))))
                if pair not in pairs:
                    pairs.append(pair)
        return pairs

    def design_points(self) -> list[LLMPoint]:
        return [self._point(s, g, 0) for s, g in self.design_lengths()]

    @cached_property
    def check_order(self) -> np.ndarray:
        """The random check sample's order over the population (drawn once from the seed)."""
        return np.random.default_rng(self.seed + 7).permutation(len(self.prompts.samples))

    def check_indices(self, batch: int) -> list[int]:
        chosen = self.check_order[batch * self.check_batch:(batch + 1) * self.check_batch]
        return [int(i) for i in chosen]

    def check_points(self, batch: int) -> list[LLMPoint]:
        samples = self.prompts.samples
        return [self._point(samples[i].prompt_tokens, max(2, samples[i].reply_tokens), 1 + i)
                for i in self.check_indices(batch)]

    def to_dict(self) -> dict[str, Any]:
        return {"study": "thank-you", "model": self.model, "dtype": self.dtype, "device": self.device,
                "engine": self.engine, "seed": self.seed, "prompts": self.prompts.describe(),
                "check_batch": self.check_batch, "min_check": self.min_check, "max_check": self.max_check,
                "target_ci": self.target_ci, "budget_fraction": self.budget_fraction,
                "protocol_overrides": {k: dict(v) for k, v in self.protocol_overrides.items()}}


@dataclass(frozen=True)
class GridStudyPlan:
    """Sizes and precision: models x dtypes x engines, each at the same requests' lengths ``(s, g)``
    (default: the study's mean prompt and a short reply); validated per configuration at the extremes."""

    study: str
    models: Sequence[str]
    dtypes: Sequence[str]
    engines: Sequence[str]
    device: str
    lengths: Sequence[tuple[int, int]] = ((STUDY_PROMPT_TOKENS, STUDY_OUTPUT_TOKENS),)
    protocol_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: False for ``--tables-only``: nothing will run, so this machine's device is not checked (`LLMPlan`)
    check_device: bool = field(default=True, compare=False)

    def __post_init__(self) -> None:
        if not self.lengths:
            raise UsageError.bad("requests", 0, "a study needs at least one request")
        object.__setattr__(self, "dtypes", [dtypes.canonical(d, "dtype") for d in self.dtypes])
        _ = self.templates  # validate now, before anything runs

    @cached_property
    def templates(self) -> list[LLMPoint]:
        max_s = max(s for s, _ in self.lengths)
        max_g = max(g for _, g in self.lengths)
        return [_template(model, dtype, self.device, engine, max_s, max_g, 1, self.protocol_overrides, self.check_device)
                for engine in self.engines for model in self.models for dtype in self.dtypes]

    def points(self) -> list[LLMPoint]:
        return [dataclasses.replace(t, prompt_tokens=int(s), output_tokens=int(g), seed=i)
                for t in self.templates for i, (s, g) in enumerate(self.lengths)]

    def to_dict(self) -> dict[str, Any]:
        return {"study": self.study, "models": list(self.models), "dtypes": list(self.dtypes),
                "engines": list(self.engines), "device": self.device, "lengths": [list(p) for p in self.lengths],
                "protocol_overrides": {k: dict(v) for k, v in self.protocol_overrides.items()}}


@dataclass(frozen=True)
class BatchPlan:
    """Case II batching: static batches of requests from a prompt source, left-padded to the longest."""

    prompts: PromptSet
    batches: Sequence[int]
    model: str = "llama-3.1-8b"
    dtype: str = "bf16"
    device: str = "cuda"
    engine: str = "eager"
    output_tokens: int = STUDY_OUTPUT_TOKENS
    draws: int = 1
    bucketing: Sequence[str] = BUCKETING
    seed: int = 0
    protocol_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: False for ``--tables-only``: nothing will run, so this machine's device is not checked (`LLMPlan`)
    check_device: bool = field(default=True, compare=False)

    def __post_init__(self) -> None:
        if max(self.batches) > len(self.prompts.samples):
            raise UsageError.bad("batch", max(self.batches), f"larger than the {len(self.prompts.samples)} requests "
                                 "of the source; raise --requests")
        if self.draws < 1:
            raise UsageError.bad("draws", self.draws, "must be >= 1")
        _ = self.template  # validate now, before anything runs

    @cached_property
    def template(self) -> LLMPoint:
        return _template(self.model, self.dtype, self.device, self.engine, int(self.prompts.prompts.max()),
                         self.output_tokens, max(self.batches), self.protocol_overrides, self.check_device)

    def rows(self, bucketing: str, batch: int, draw: int) -> list[int]:
        """The requests of one batch: drawn at random, or one group of consecutive sorted lengths (a batch
        of one is the same request either way, so that both curves start from the same point)."""
        rng = np.random.default_rng([self.seed, batch, draw])
        lengths = self.prompts.prompts
        if bucketing == "off" or batch == 1:
            return [int(i) for i in rng.choice(len(lengths), size=batch, replace=False)]
        order = np.argsort(lengths, kind="stable")
        group = int(rng.integers(0, len(lengths) // batch))
        return [int(i) for i in order[group * batch:(group + 1) * batch]]

    def batches_planned(self) -> list[tuple[str, int, int, tuple[int, ...]]]:
        """(bucketing, batch, draw, prompt lengths) of every point, in the plan's order."""
        return [(bucketing, batch, draw, tuple(int(self.prompts.prompts[i]) for i in self.rows(bucketing, batch, draw)))
                for bucketing in self.bucketing for batch in self.batches for draw in range(self.draws)]

    def modes(self) -> list[str]:
        """The bucketing mode of each point, in the plan's order."""
        return [mode for mode, *_ in self.batches_planned()]

    def points(self) -> list[LLMPoint]:
        return [dataclasses.replace(self.template, batch=batch, prompt_tokens=max(lengths),
                                    prompt_lengths=lengths if batch > 1 else (), seed=draw)
                for _, batch, draw, lengths in self.batches_planned()]

    def to_dict(self) -> dict[str, Any]:
        return {"study": "batch", "model": self.model, "dtype": self.dtype, "device": self.device,
                "engine": self.engine, "batches": list(self.batches), "output_tokens": self.output_tokens,
                "draws": self.draws, "bucketing": list(self.bucketing), "seed": self.seed,
                "prompts": self.prompts.describe(),
                "protocol_overrides": {k: dict(v) for k, v in self.protocol_overrides.items()}}
