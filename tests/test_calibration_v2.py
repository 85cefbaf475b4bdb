"""LLM calibration v2: engines in the dataset, the bounded fit, held-out unaligned lengths, floors in validate."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from joulebench.analytic import ModelParams
from joulebench.calibration.dataset import Dataset, PhasePoint, load_llm_points
from joulebench.calibration.design import HELD_OUT_LENGTHS, calibration_plans, estimate_seconds
from joulebench.calibration.llm_fit import fit_llm, predict_points
from joulebench.calibration.validate import is_training_point
from joulebench.errors import UsageError
from joulebench.hardware import get_accelerator

CAL = Path(__file__).resolve().parent.parent / "docs" / "validation" / "calibration"
H200 = get_accelerator("h200")


def synthetic(params: ModelParams, engine: str = "eager") -> Dataset:
    points = []
    for model in ("qwen2.5-0.5b", "llama-3.1-8b"):
        for phase, s, g, b in [("prefill", 128, 1, 1), ("prefill", 1024, 1, 1), ("prefill", 4096, 1, 1),
                               ("prefill", 256, 1, 16), ("decode", 128, 64, 1), ("decode", 2048, 64, 8),
                               ("decode", 512, 16, 1)]:
            points.append(PhasePoint(0, model, "bf16", phase, s, g, b, 1.0, 1.0, "NVIDIA H200", "x", engine=engine))
    data = Dataset(points, idle_power_w=[params.p_idle_w])
    t, e = predict_points(data, H200, params)
    data.points = [replace(p, latency_s=float(ti), gpu_energy_j=float(ei)) for p, ti, ei in zip(points, t, e, strict=True)]
    return data


def test_v2_fit_recovers_the_static_engine_parameters():
    truth = ModelParams(mu_compute=0.62, mu_memory=0.7, t_launch_s=15e-6, launch_overlap="sum", p_idle_w=110.0,
                        mu_attention=0.45, t_step_s=2.5e-3, cost_model="v2", energy_per_flop_pj=0.9,
                        energy_per_byte_pj=130.0, energy_per_kernel_uj=60.0)
    fit = fit_llm(synthetic(truth, "static"), H200, "bf16", cost_model="v2")
    assert fit.params.cost_model == "v2"
    for field in ("mu_compute", "mu_memory", "t_step_s", "energy_per_flop_pj", "energy_per_byte_pj"):
        assert getattr(fit.params, field) == pytest.approx(getattr(truth, field), rel=0.05), field
    assert fit.train_latency_mape < 0.01


def test_fit_stays_within_the_physical_bounds():
    """Data faster than the floors allow (a card 'better' than its datasheet) fits at mu = 1, never above."""
    truth = ModelParams(mu_compute=0.7, mu_memory=0.8, t_launch_s=12e-6, p_idle_w=100.0, energy_per_flop_pj=1.0,
                        energy_per_byte_pj=100.0, energy_per_kernel_uj=50.0)
    data = synthetic(truth)
    data.points = [replace(p, latency_s=p.latency_s / 3.0) for p in data.points]
    fit = fit_llm(data, H200, "bf16")
    assert 0 < fit.params.mu_compute <= 1.0 and 0 < fit.params.mu_memory <= 1.0


def test_dataset_filters_by_engine_and_reads_both_dtype_spellings():
    store = [str(CAL / "h100-transformers-eager-bfloat16.db")]
    eager = load_llm_points(store, "bf16")
    assert eager.points and {p.engine for p in eager.points} == {"eager"}
    assert len(load_llm_points(store, "bfloat16", engine="transformers-eager").points) == len(eager.points)
    with pytest.raises(UsageError, match="engine static"):
        load_llm_points(store, "bf16", engine="static")


def test_design_holds_out_unaligned_lengths_and_batches_within_budget():
    plans = calibration_plans("bf16", "cpu")
    lengths = {s for p in plans for s in p.prompt_tokens}
    assert set(HELD_OUT_LENGTHS) <= lengths and all(s % 64 for s in HELD_OUT_LENGTHS)
    assert not is_training_point("llama-3.1-8b", "prefill", 1200)
    assert not is_training_point("llama-3.1-8b", "decode", 128, batch=3)
    assert is_training_point("llama-3.1-8b", "decode", 128, batch=8)
    static = calibration_plans("bf16", "cpu", ("qwen2.5-0.5b", "llama-3.1-8b", "qwen2.5-1.5b"))
    assert estimate_seconds(static, "h200", "static") < 360.0


def test_validate_prints_the_floor_of_the_same_points():
    argv = [sys.executable, "-m", "joulebench", "validate", "--calibration",
            str(CAL / "h100-transformers-eager-float32.yaml"), "--db", str(CAL / "h100-transformers-eager-float32.db"),
            "--db", str(CAL / "h100-transformers-eager-float32-repeat.db")]
    doc = json.loads(subprocess.run([*argv, "--json"], capture_output=True, text=True, check=True).stdout)
    floors = {(f["subset"], f["phase"]): f for f in doc["floors"]}
    rows = {(r["subset"], r["phase"]): r for r in doc["rows"]}
    assert set(floors) == {(s, p) for s in ("train", "held-out") for p in ("prefill", "decode")}
    for key, floor in floors.items():
        assert floor["n"] <= rows[key]["n"] and 0 <= floor["latency_mape"] < 1
    table = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert "(floor)" in table
    assert np.isfinite([f["energy_mape"] for f in doc["floors"]]).all()


def test_static_design_builds_valid_plans_with_one_cache_length_per_model(monkeypatch) -> None:
    """The static engine needs CUDA, so its plans are built here with the device check answered yes:
    every point of a model must share one cache length that holds its longest point."""
    import joulebench.experiments.llm_plan as llm_plan
    from joulebench.calibration.design import calibration_plans

    monkeypatch.setattr(llm_plan, "cuda_available", lambda: True)
    monkeypatch.setattr(llm_plan, "device_memory_bytes", lambda device: None)
    plans = calibration_plans("bf16", "cuda", engine="static")
    by_model: dict[str, set[int]] = {}
    for plan in plans:
        for point in plan.points():
            assert point.engine == "static" and point.static_cache_len is not None
            assert point.static_cache_len >= point.prompt_tokens + point.output_tokens
            by_model.setdefault(point.model, set()).add(point.static_cache_len)
    assert by_model and all(len(lengths) == 1 for lengths in by_model.values())
