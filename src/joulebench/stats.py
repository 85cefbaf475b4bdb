"""The one Student-t quantile every confidence interval uses (meters, calibration, reports).

scipy's, imported on first use so that importing the meters stays cheap; ``lru_cache`` because the
meters ask for the same few degrees of freedom thousands of times in a sweep.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=256)
def t_quantile(dof: int, confidence: float = 0.95) -> float:
    """Two-sided Student-t quantile (NaN without degrees of freedom)."""
    if dof <= 0:
        return float("nan")
    from scipy import stats

    return float(stats.t.ppf(0.5 + confidence / 2, dof))
