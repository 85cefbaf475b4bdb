"""The thank-you estimator on a population whose true costs are known: a designed grid, a random check
sample, the difference estimator's interval, and the stopping rule.

The "measured" figures here are a smooth cost law with multiplicative noise and a term the study's
length model does not have (so the fit is wrong on purpose): the estimator must still cover the true
mean, which is what the check sample is for."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from joulebench.experiments.studies.llm_estimate import TOTAL, estimate, stop_reason


def _law(s: np.ndarray, g: np.ndarray) -> dict[str, np.ndarray]:
    return {"t_pre": 3e-4 * s + 1.2e-8 * s * s + 0.02, "t_dec": 0.026 * g + 3e-7 * s * g + 0.05,
            "e_pre": 0.2 * s + 20 + 2e-5 * s * s,  # s^2: outside the study's prefill energy form
            "e_dec": 7.7 * g + 1e-3 * s * g + 5, "cpu_pre": 0.02 * s, "cpu_dec": 0.9 * g}


def _doc(s: float, g: float, rng: np.random.Generator, noise: float) -> dict[str, Any]:
    law = {k: float(v) for k, v in _law(np.array(s), np.array(g)).items()}

    def n(x: float) -> float:
        return x * (1 + noise * rng.standard_normal())

    def phase(t: float, e: float, c: float) -> dict[str, Any]:
        return {"latency_s": n(t), "energy_j": {"gpu": n(e), "cpu": n(c)}, "estimated": {"gpu": False, "cpu": True}}

    return {"config": {"prompt_tokens": int(s), "output_tokens": int(g)}, "measure_s": 4.0, "wall_s": 5.0,
            "prefill": phase(law["t_pre"], law["e_pre"], law["cpu_pre"]),
            "decode": phase(law["t_dec"], law["e_dec"], law["cpu_dec"]),
            "request": phase(law["t_pre"] + law["t_dec"], law["e_pre"] + law["e_dec"], law["cpu_pre"] + law["cpu_dec"])}


def _population(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from joulebench.data.lengths import PROMPTS, THANK_YOU_REPLIES

    return PROMPTS.sample(n, seed), THANK_YOU_REPLIES.sample(n, seed + 1)


def _grid(s_all: np.ndarray, g_all: np.ndarray, rng: np.random.Generator, noise: float) -> list[dict[str, Any]]:
    q = (0.05, 0.5, 0.95)
    return [_doc(s, g, rng, noise) for s in np.quantile(s_all, q) for g in np.quantile(g_all, q)]


@pytest.mark.parametrize("seed", range(6))
def test_difference_estimator_covers_the_true_mean(seed: int) -> None:
    rng = np.random.default_rng(seed)
    s_all, g_all = _population(5000, seed)
    checks = [_doc(s_all[i], g_all[i], rng, 0.02) for i in rng.permutation(len(s_all))[:24]]
    est = estimate(_grid(s_all, g_all, rng, 0.02), checks, s_all, g_all)
    assert est is not None and est.primary == "gpu"
    law = _law(s_all.astype(float), g_all.astype(float))
    true = float(np.mean(law["e_pre"] + law["e_dec"]))
    fig = est.figures["request/gpu"]
    # a 95% interval: with six seeds a miss of more than 1.5 half-widths would be a broken estimator
    assert abs(fig.mean - true) <= 1.5 * fig.half_width
    assert 0 < fig.relative < 0.05
    assert fig.check_error > 0  # the model misses (its prefill has no s^2): the correction is not zero
    assert est.figures[f"request/{TOTAL}"].mean == pytest.approx(
        est.figures["request/gpu"].mean + est.figures["request/cpu"].mean, rel=0.02)
    assert est.estimated["cpu"] and not est.estimated["gpu"] and est.estimated[TOTAL]
    assert (est.n_design, est.n_check, est.population) == (9, 24, 5000)


def test_protocol_time_is_the_studys_protocol_on_the_population() -> None:
    rng = np.random.default_rng(9)
    s_all, g_all = _population(1000, 9)
    est = estimate(_grid(s_all, g_all, rng, 0.0), [], s_all, g_all)
    assert est is not None
    law = _law(s_all.astype(float), g_all.astype(float))
    full = law["t_pre"] + law["t_dec"]
    study = float(np.sum(15 * full + 10 * law["t_pre"]))  # 5 warm-ups + 10 full runs, 10 prefill runs
    assert est.study_protocol_s == pytest.approx(study, rel=0.03)  # the fits are exact but for the s^2 term
    assert est.measure_s == 9 * 4.0 and est.wall_s == 9 * 5.0
    assert est.time_ratio == pytest.approx(36.0 / est.study_protocol_s)
    assert np.isnan(est.figures["request/gpu"].half_width)  # no check sample yet: no interval


def test_stopping_rule() -> None:
    rng = np.random.default_rng(1)
    s_all, g_all = _population(2000, 1)
    grid = _grid(s_all, g_all, rng, 0.01)
    checks = [_doc(s_all[i], g_all[i], rng, 0.01) for i in range(12)]
    est = estimate(grid, checks, s_all, g_all)
    assert est is not None
    assert stop_reason(est, 12, 12, 0.5, 0.2, 8, 48).startswith("target reached")
    assert stop_reason(est, 4, 4, 0.5, 0.2, 8, 48) is None  # under the minimum check sample: go on
    assert stop_reason(est, 12, 12, 1e-6, 1e-9, 8, 48).startswith("GPU-time budget")
    assert stop_reason(est, 12, 48, 1e-6, 1.0, 8, 48).startswith("check sample at its maximum")
    assert stop_reason(None, 0, 0, 0.02, 0.2, 8, 48).startswith("the designed grid's fits are not identified")
    assert estimate(grid[:3], checks, s_all, g_all) is None  # three points cannot fit four coefficients
