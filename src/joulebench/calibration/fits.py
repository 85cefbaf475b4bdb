"""The one least-squares-with-covariance helper every fit uses (LLM, video, closed forms).

Why one: three fits each solved ``min ||W (X b - y)||`` and each derived standard errors from
``s^2 (X^T W^2 X)^-1`` a little differently (one scaled columns, one did not, one used the Jacobian of
a nonlinear fit). The arithmetic is the same, so it lives here once:

* columns are scaled to unit norm before solving, because prompt-length columns reach 1e7 while an
  intercept is 1, and the rank test and the inverse are otherwise at the mercy of rounding;
* the residual variance ``s^2 = RSS / (n - p)`` needs ``n > p``; with ``n == p`` the fit is exact and
  the errors are NaN (nothing to estimate them from);
* for a nonlinear fit the Jacobian at the optimum plays the role of ``X`` (`jacobian_stderr`), which
  assumes independent residuals: read such intervals as a lower bound on the real uncertainty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from joulebench.stats import t_quantile

__all__ = ["CONFIDENCE", "LinearFit", "jacobian_stderr", "relative_lstsq", "t_quantile", "weighted_lstsq"]

CONFIDENCE = 0.95


@dataclass(frozen=True)
class LinearFit:
    """Coefficients of a (weighted) linear least-squares fit with their covariance."""

    coef: np.ndarray
    stderr: np.ndarray
    cov: np.ndarray
    dof: int
    rank: int
    rss: float  # weighted residual sum of squares

    @property
    def identified(self) -> bool:
        return self.rank == self.coef.size


def weighted_lstsq(design: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None) -> LinearFit:
    """Minimise ``sum((w (X b - y))^2)``; ``w = 1/y`` makes it a fit of relative errors."""
    x = np.asarray(design, dtype=float)
    y = np.asarray(target, dtype=float)
    w = np.ones_like(y) if weight is None else np.asarray(weight, dtype=float)
    xw, yw = x * w[:, None], y * w
    norms = np.linalg.norm(xw, axis=0)
    norms[norms == 0] = 1.0
    xs = xw / norms
    rank = int(np.linalg.matrix_rank(xs, tol=1e-10 * max(1.0, float(np.linalg.norm(xs, 2))))) if xs.size else 0
    coef_s, *_ = np.linalg.lstsq(xs, yw, rcond=None)
    coef = coef_s / norms
    resid = yw - xw @ coef
    rss = float(resid @ resid)
    dof = int(y.size - x.shape[1])
    p = x.shape[1]
    cov = np.full((p, p), np.nan)
    if dof > 0 and rank == p:
        try:
            cov = (rss / dof) * np.linalg.inv(xs.T @ xs) / np.outer(norms, norms)
        except np.linalg.LinAlgError:
            pass
    return LinearFit(coef, np.sqrt(np.abs(np.diag(cov))), cov, dof, rank, rss)


def relative_lstsq(design: np.ndarray, target: np.ndarray) -> LinearFit:
    """Minimise ``sum(((X b - y) / y)^2)``: a 30 ms point weighs as much as a 5 s one."""
    y = np.asarray(target, dtype=float)
    return weighted_lstsq(design, y, 1.0 / y)


def jacobian_stderr(jac: np.ndarray, residuals: np.ndarray, names: Sequence[str],
                    scale: np.ndarray | None = None) -> dict[str, float]:
    """One standard error per parameter of a nonlinear least-squares fit, ``sqrt(diag(s^2 (J^T J)^-1))``.

    ``scale`` multiplies each error (parameters fitted in log space: ``d exp(x) = exp(x) dx``)."""
    dof = max(1, jac.shape[0] - jac.shape[1])
    s2 = float(np.sum(np.asarray(residuals) ** 2)) / dof
    try:
        cov = np.linalg.inv(jac.T @ jac) * s2
    except np.linalg.LinAlgError:
        return {n: float("nan") for n in names}
    factor = np.ones(len(names)) if scale is None else np.asarray(scale, dtype=float)
    return {n: float(np.sqrt(max(cov[i, i], 0.0)) * factor[i]) for i, n in enumerate(names)}
