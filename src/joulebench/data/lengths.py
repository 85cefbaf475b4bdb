"""Length distributions of prompts and replies, in tokens, drawn reproducibly from a seed.

Why distributions rather than real text: random-weight models cost the same whatever the token values,
but their output length must be given (they never stop by themselves), and prompt lengths drive the
cost. The study gives ranges and a mean, not a law: prompts 200-4000 tokens with mean ~1200, replies
10-300 tokens (case II). We use truncated log-normals (lengths of chat turns are right-skewed) whose
parameters reproduce those figures (`LengthModel.mean`, checked in tests):

* prompts: median 1040, sigma 0.6 on [200, 4000] -> mean 1200;
* case II replies: median 90, sigma 0.8 on [10, 300] -> mean ~101;
* "thank you" replies: median 45, sigma 0.5 on [10, 256] -> mean ~51. The study does not publish
  their lengths; this mean is what its own fits imply: with E_gpu = (A s + B) + (C g + D s g + E0)
  (case I, Wh) at mean s = 1200, the published 0.202 Wh per reply needs mean g ~ 51 tokens. 256 is the
  study's ``max_new_tokens``.

Sampling is by the inverse CDF of the truncated law (scipy), so that one seed gives the same lengths
on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LengthModel:
    """A truncated log-normal law of lengths in tokens."""

    name: str
    median: float
    sigma: float
    low: int
    high: int

    def _law(self):  # noqa: ANN202 - a frozen scipy distribution
        from scipy import stats

        return stats.lognorm(s=self.sigma, scale=self.median)

    def sample(self, n: int, seed: int) -> np.ndarray:
        """``n`` integer lengths in [low, high]."""
        law = self._law()
        lo, hi = law.cdf(self.low), law.cdf(self.high)
        u = np.random.default_rng(seed).uniform(lo, hi, size=n)
        return np.clip(np.rint(law.ppf(u)), self.low, self.high).astype(int)

    @property
    def mean(self) -> float:
        """The mean of the truncated law (numerical integration)."""
        from scipy import integrate

        law = self._law()
        mass = law.cdf(self.high) - law.cdf(self.low)
        return float(integrate.quad(lambda x: x * law.pdf(x), self.low, self.high)[0] / mass)

    def describe(self) -> str:
        return (f"{self.name}: log-normal, median {self.median:g}, sigma {self.sigma:g}, truncated to "
                f"[{self.low}, {self.high}] (mean {self.mean:.0f})")


PROMPTS = LengthModel("prompt tokens", 1040.0, 0.6, 200, 4000)
REPLIES = LengthModel("reply tokens", 90.0, 0.8, 10, 300)
THANK_YOU_REPLIES = LengthModel("thank-you reply tokens", 45.0, 0.5, 10, 256)
