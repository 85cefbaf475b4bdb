"""The study's closed forms: known coefficients are recovered from a store, intervals behave, and a
form the data cannot identify is reported instead of fitted."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from joulebench.calibration.closed_forms import (
    J_PER_WH,
    STATUS_EXACT,
    STATUS_FITTED,
    STATUS_UNDERDETERMINED,
    ClosedForms,
    fit_closed_forms,
)
from joulebench.calibration.closed_forms_report import load_study_reference, render_table
from joulebench.errors import UsageError
from joulebench.store import Store

REPO = Path(__file__).resolve().parents[1]
BF16_DB = REPO / "docs/validation/calibration/h200-transformers-eager-bfloat16-session1.db"  # decode at g = 63 only
# two sweeps of the calibration design: decode at g = 15, 63, 127 (s = 128) and g = 63 (s = 2048)
DESIGN_DBS = [str(REPO / f"docs/validation/calibration/h100-transformers-eager-float32{x}.db") for x in ("", "-repeat")]

# Known coefficients (SI), of the study's order of magnitude.
TRUE = {
    "A": 0.2, "B": 15.0,
    "C": 7.5, "D": 1.0e-3, "E0": -20.0,
    "alpha": 3.0e-4, "beta": 1.2e-8, "gamma": 0.02,
    "eta": 0.026, "theta": 3.0e-7, "phi": 6.0e-8, "rho": -0.05,
}
PREFILL_S = (128, 256, 512, 1024, 1536, 2048, 3072, 4096)
DECODE_S = (128, 1024, 2048, 4096)
DECODE_G = (32, 64, 128, 256)


def _truth(s: float, g: float) -> dict[str, float]:
    t = TRUE
    return {
        "E_prefill": t["A"] * s + t["B"],
        "E_decode": t["C"] * g + t["D"] * s * g + t["E0"],
        "t_prefill": t["alpha"] * s + t["beta"] * s * s + t["gamma"],
        "t_decode": t["eta"] * g + t["theta"] * s * g + t["phi"] * g * g + t["rho"],
    }


def _phase(latency: float, gpu_j: float) -> dict[str, object]:
    return {"latency_s": latency, "energy_j": {"gpu": gpu_j, "cpu": 0.1 * gpu_j, "ram": 0.05 * gpu_j},
            "estimated": {"gpu": False, "cpu": True, "ram": True}}


def _write_store(path: Path, *, prefill_s: tuple[int, ...] = PREFILL_S, decode_s: tuple[int, ...] = DECODE_S,
                 decode_g: tuple[int, ...] = DECODE_G, reps: int = 1, rel_noise: float = 0.0, seed: int = 0,
                 model: str = "toy-8b", dtype: str = "float32") -> None:
    """Points as the runner stores them: prefill-only points (output_tokens=1) and decode points."""
    rng = np.random.default_rng(seed)

    def noisy(x: float) -> float:
        return float(x * (1.0 + rel_noise * rng.standard_normal()))

    with Store(path) as store:
        run = store.begin_run("llm", "test", {}, {"gpus": [{"name": "NVIDIA H100 80GB HBM3"}]})
        for rep in range(reps):
            for s in prefill_s:
                truth = _truth(s, 0)
                cfg = {"model": model, "dtype": dtype, "device": "cuda", "batch": 1, "prompt_tokens": s,
                       "output_tokens": 1, "phases": ["prefill"], "rep": rep}
                store.save_point(run, "llm", cfg,
                                 {"prefill": _phase(noisy(truth["t_prefill"]), noisy(truth["E_prefill"]))})
            for s in decode_s:
                for g in decode_g:
                    truth = _truth(s, g)
                    cfg = {"model": model, "dtype": dtype, "device": "cuda", "batch": 1, "prompt_tokens": s,
                           "output_tokens": g + 1, "phases": ["decode"], "rep": rep}
                    store.save_point(run, "llm", cfg,
                                     {"decode": _phase(noisy(truth["t_decode"]), noisy(truth["E_decode"]))})
        # Distractors that must be filtered out: another model, another dtype, another batch.
        for extra in ({"model": "other"}, {"dtype": "bfloat16"}, {"batch": 8}):
            cfg = {"model": model, "dtype": dtype, "device": "cuda", "batch": 1, "prompt_tokens": 512,
                   "output_tokens": 65, "phases": ["prefill", "decode"]} | extra
            store.save_point(run, "llm", cfg, {"prefill": _phase(99.0, 1e6), "decode": _phase(99.0, 1e6)})


def _all_coefs(cf: ClosedForms) -> dict[str, tuple[float, float | None]]:
    return {name: (c.value, c.ci95) for fit in cf.forms.values() for name, c in fit.coefficients.items()}


def test_known_coefficients_are_recovered_and_inside_their_intervals(tmp_path: Path) -> None:
    db = tmp_path / "syn.db"
    _write_store(db, reps=2, rel_noise=0.002, seed=1)
    cf = fit_closed_forms([str(db)], "toy-8b", "float32")
    for fit in cf.forms.values():
        assert fit.status == STATUS_FITTED, fit.message
        assert fit.r2 is not None and fit.r2 > 0.999
    coefs = _all_coefs(cf)
    assert set(coefs) == set(TRUE)
    for name, (value, ci) in coefs.items():
        assert ci is not None and ci > 0
        # within 3 CIs (a 95% CI may miss 1 in 20; 3x makes a flaky pass/fail unlikely), and close
        assert abs(value - TRUE[name]) <= 3 * ci, (name, value, ci)
        # intercepts and the small quadratic terms are relative to small numbers; slopes must be tight
        if name in ("A", "C", "alpha", "eta"):
            assert value == pytest.approx(TRUE[name], rel=0.02), name
    # the distractors (1e6 J) would wreck the fit if they had been used
    assert cf.forms["E_prefill"].n == 2 * len(PREFILL_S)
    assert cf.forms["E_decode"].n == 2 * len(DECODE_S) * len(DECODE_G)
    assert cf.gpu_names == ("NVIDIA H100 80GB HBM3",)
    # Wh is J / 3600
    a = cf.forms["E_prefill"].coefficients["A"]
    assert a.in_wh()[0] == pytest.approx(a.value / J_PER_WH)
    assert a.in_wh()[2] == "Wh/token"


def test_noise_free_points_give_the_exact_coefficients(tmp_path: Path) -> None:
    db = tmp_path / "exact.db"
    _write_store(db)
    cf = fit_closed_forms([str(db)], "TOY-8B", "float32")  # model matched case-insensitively
    for name, (value, _ci) in _all_coefs(cf).items():
        assert value == pytest.approx(TRUE[name], rel=1e-6, abs=1e-12), name


def test_intervals_shrink_with_less_noise_and_more_points(tmp_path: Path) -> None:
    def widths(db: Path) -> dict[str, float]:
        cf = fit_closed_forms([str(db)], "toy-8b", "float32")
        return {k: float(ci) for k, (_v, ci) in _all_coefs(cf).items() if ci is not None}

    noisy, quiet, more = tmp_path / "noisy.db", tmp_path / "quiet.db", tmp_path / "more.db"
    _write_store(noisy, rel_noise=0.02, seed=3)
    _write_store(quiet, rel_noise=0.002, seed=3)  # the same draws, a tenth of the size
    _write_store(more, rel_noise=0.02, seed=4, reps=6)
    w_noisy, w_quiet, w_more = widths(noisy), widths(quiet), widths(more)
    assert set(w_noisy) == set(TRUE)
    for name in TRUE:
        assert w_quiet[name] < 0.2 * w_noisy[name], name
        assert w_more[name] < w_noisy[name], name


def test_too_few_distinct_points_are_reported_not_fitted(tmp_path: Path) -> None:
    db = tmp_path / "few.db"
    # two prompt lengths, three reps: t_prefill (3 coefficients) is underdetermined however many reps;
    # one decode length repeated at several prompts: g and the intercept cannot be told apart.
    _write_store(db, prefill_s=(128, 2048), decode_s=(128, 1024, 2048), decode_g=(63,), reps=3,
                 rel_noise=0.01)
    cf = fit_closed_forms([str(db)], "toy-8b", "float32")
    t_prefill = cf.forms["t_prefill"]
    assert t_prefill.status == STATUS_UNDERDETERMINED
    assert t_prefill.coefficients == {}
    assert t_prefill.n == 6 and t_prefill.n_distinct == 2  # repetitions do not identify a curve
    assert "not fitted" in t_prefill.message
    for name in ("E_decode", "t_decode"):
        assert cf.forms[name].status == STATUS_UNDERDETERMINED, name
        assert cf.forms[name].coefficients == {}
    # two distinct lengths, three reps each: a line is identified, with repeat scatter for a CI
    e_prefill = cf.forms["E_prefill"]
    assert e_prefill.status == STATUS_FITTED and "saturated" in e_prefill.message
    # the table and the JSON say so too
    text = _render(render_table(cf, None))
    assert "underdetermined" in text and "not identified" in text
    doc = json.loads(json.dumps(cf.to_dict(), allow_nan=False))
    assert doc["forms"]["t_decode"]["status"] == STATUS_UNDERDETERMINED


def test_exactly_determined_form_has_no_interval(tmp_path: Path) -> None:
    db = tmp_path / "two.db"
    _write_store(db, prefill_s=(128, 2048), decode_s=(128,), decode_g=(63,), reps=1)
    fit = fit_closed_forms([str(db)], "toy-8b", "float32").forms["E_prefill"]
    assert fit.status == STATUS_EXACT
    assert fit.coefficients["A"].ci95 is None
    assert fit.coefficients["A"].value == pytest.approx(TRUE["A"])


def test_no_matching_points_is_an_error(tmp_path: Path) -> None:
    db = tmp_path / "syn.db"
    _write_store(db, prefill_s=(128,), decode_s=(), decode_g=())
    with pytest.raises(UsageError):
        fit_closed_forms([str(db)], "no-such-model", "float32")


def _render(table: object) -> str:
    console = Console(record=True, width=200)
    console.print(table)
    return console.export_text()


def test_table_with_and_without_the_study(tmp_path: Path) -> None:
    db = tmp_path / "syn.db"
    _write_store(db, model="llama-3.1-8b", dtype="bfloat16", rel_noise=0.01)
    cf = fit_closed_forms([str(db)], "llama-3.1-8b", "bfloat16")
    plain = _render(render_table(cf, None))
    assert "study" not in plain.split("\n")[2]  # no study column in the header row
    assert "Wh/token" in plain
    study = {"model": "Llama-3.1-8B-Instruct", "dtype": "float32", "batch": 1,
             "energy_fit": {"A_Wh_per_token": 6.05e-5}, "latency_fit": {"alpha_s_per_token": 3.18e-4}}
    compared = _render(render_table(cf, study))
    assert "6.05e-05" in compared and "0.000318" in compared
    assert "dtype (float32 vs bfloat16)" in compared
    assert "card" not in compared.split("differs in")[-1]  # an H100 HBM3 is the study's card
    assert "model (" not in compared  # -Instruct is the same model
    # the whole seed_figures document is accepted as well as its case I entry
    assert "6.05e-05" in _render(render_table(cf, {"case_I_thank_you": study}))


def test_study_reference_loading(tmp_path: Path) -> None:
    assert load_study_reference(tmp_path / "absent.json") is None
    path = tmp_path / "seed.json"
    path.write_text(json.dumps({"case_I_thank_you": {"energy_fit": {"A_Wh_per_token": 1.0}}}))
    assert load_study_reference(path) == {"energy_fit": {"A_Wh_per_token": 1.0}}
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(UsageError):
        load_study_reference(bad)
    default = load_study_reference()  # ../shared beside the checkout, when CI provides it
    if default is not None:
        assert "energy_fit" in default and "latency_fit" in default


@pytest.mark.skipif(not BF16_DB.is_file(),
                    reason="calibration database not in this checkout (*.db is git-ignored)")
def test_real_bf16_database_gives_finite_prefill_forms() -> None:
    cf = fit_closed_forms([str(BF16_DB)], "llama-3.1-8b", "bfloat16")
    for name in ("E_prefill", "t_prefill"):
        fit = cf.forms[name]
        assert fit.status == STATUS_FITTED and fit.n >= 5
        for coef in fit.coefficients.values():
            assert math.isfinite(coef.value) and coef.ci95 is not None and math.isfinite(coef.ci95)
    assert cf.forms["E_prefill"].coefficients["A"].value > 0
    # this sweep has decode at a single length (g = 63): the decode forms cannot be identified from it
    assert cf.forms["E_decode"].status == STATUS_UNDERDETERMINED
    assert cf.component_estimated is False
    json.dumps(cf.to_dict(), allow_nan=False)


def test_the_calibration_design_identifies_the_decode_forms() -> None:
    cf = fit_closed_forms(DESIGN_DBS, "llama-3.1-8b", "float32")
    for name in ("E_decode", "t_decode"):
        assert cf.forms[name].status == STATUS_FITTED and cf.forms[name].n_distinct == 4
    # energy per decoded token of an 8B fp32 model on an H100: several joules, positive
    assert 1.0 < cf.forms["E_decode"].coefficients["C"].value < 30.0
