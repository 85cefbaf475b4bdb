"""The LLM workload on real (tiny, random-weight) models: decode inside the request, the static engine's
cache path, the consistency gate and the checks' arithmetic."""

from __future__ import annotations

from pathlib import Path

import pytest

from joulebench.experiments.sweep import run_sweep
from joulebench.experiments.sweep_values import MeterSpec
from joulebench.store import Store
from joulebench.values import LLMPoint
from joulebench.workloads.llm import run_llm_point
from joulebench.workloads.llm_checks import consistency, inconsistent, unstable

FAST = {"prefill": {"min_window_s": 0.05, "warmup_reps": 1, "min_reps": 2},
        "request": {"min_window_s": 0.05, "warmup_reps": 1, "min_reps": 2},
        "stability": {"min_rounds": 2, "budget_s": 1.0}}  # as the calibration design sets it


def measure(tmp_path: Path, **fields: object) -> dict:
    point = LLMPoint(**{"model": "tiny-llama", "dtype": "fp32", "device": "cpu", "batch": 2, "prompt_tokens": 12,
                        "output_tokens": 5, "protocol_overrides": FAST, **fields})
    with Store(tmp_path / "w.db") as store:
        result = run_sweep("llm", [point], run_llm_point, store.path, "test", {}, MeterSpec("cpu"), idle_s=0.1,
                           store=store)
    assert not result.failed, result.failed
    return dict(result.done[0].summary)


@pytest.mark.parametrize("engine", ["eager", "static"])
def test_decode_inside_the_request_for_both_engines(tmp_path: Path, engine: str) -> None:
    summary = measure(tmp_path, engine=engine)
    assert summary["engine_detail"]["cache"] == ("static" if engine == "static" else "dynamic")
    if engine == "static":
        assert summary["engine_detail"]["max_cache_len"] == 256  # 12 + 5 tokens rounded up to one graph size
        assert summary["engine_detail"]["compiled"] is False  # CUDA graphs only on CUDA
    assert summary["tokens"]["output_tokens_per_sequence"] == 5
    assert summary["decode"]["per_token_latency_s"]["n"] == 4
    assert summary["decode"]["latency_s"] < summary["request"]["latency_s"]
    assert summary["decode"]["reps"] == summary["request"]["reps"] >= 2
    ratio = summary["consistency"]["latency_ratio"]
    assert ratio > 0 and summary["interleaving"]["rounds"] >= 2  # interleaved rounds, not one block per phase
    assert summary["idle_power_w"]["cpu"] > 0


def test_the_gate_tells_noise_from_structure() -> None:
    phase = {"latency_s": 1.0, "latency_std_s": 0.001, "reps": 10, "energy_j": {"gpu": 100.0}, "ci95_j": {"gpu": 0.5}}
    pre = dict(phase, latency_s=0.1, energy_j={"gpu": 10.0})
    dec = dict(phase, latency_s=0.7, energy_j={"gpu": 70.0})
    ratios = consistency(pre, dec, phase)
    assert ratios["latency_ratio"] == pytest.approx(0.8)
    misses, noisy = inconsistent(ratios, {"prefill": pre, "decode": dec, "request": phase}, {"gpu": False})
    assert misses and not noisy  # 20% off with 0.1% intervals: structural, re-measuring cannot help
    wide = dict(phase, latency_std_s=0.5, reps=2, ci95_j={"gpu": 30.0})
    misses, noisy = inconsistent(ratios, {"prefill": pre, "decode": dec, "request": wide}, {"gpu": False})
    assert misses and noisy
    assert unstable(wide) and not unstable(phase)
    # an estimated component is reported but not held to the gate
    misses, _ = inconsistent({"energy_ratio_cpu": 0.5, "tolerance": 0.05}, {"prefill": pre, "decode": dec,
                             "request": phase}, {"cpu": True})
    assert misses == []


def test_floors_of_the_headline_configuration() -> None:
    from joulebench.analytic import llm_arch, precision_for
    from joulebench.analytic.floors import llm_floors
    from joulebench.hardware import get_accelerator
    from joulebench.workloads.llm_checks import below_floor, floor_report

    acc = get_accelerator("h200")
    floors = llm_floors(llm_arch("llama-3.1-8b"), precision_for("bf16"), acc, 1200, 256)
    per_token = floors["decode"].latency_s / 255
    # ~16 GB of bf16 weights over 4.8 TB/s: the ~3.3 ms bandwidth floor measured facts quote
    assert 3.0e-3 < per_token < 3.6e-3 and floors["decode"].bound == "memory"
    # 2 x ~7.5e9 linear weights x 1200 tokens over ~989 TFLOP/s
    assert 0.017 < floors["prefill"].latency_s < 0.022 and floors["prefill"].bound == "compute"
    assert floors["request"].energy_j == pytest.approx(floors["request"].latency_s * acc.idle_power_w)
    measured = {"latency_s": 0.040, "energy_j": {"gpu": 26.8}}
    report = floor_report(floors, measured, "prefill", 255)
    assert report["latency_ratio_to_floor"] > 1 and not below_floor(report)
    impossible = floor_report(floors, {"latency_s": 0.005, "energy_j": {"gpu": 26.8}}, "prefill", 255)
    assert below_floor(impossible)
