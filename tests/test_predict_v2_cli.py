"""predict llm v2 at the border: the memory-fit refusal, the bad-profile refusal, engines, the document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from joulebench.analytic.params import ModelParams, params_from_mapping
from joulebench.hardware import get_accelerator
from joulebench.profiles import read_profile
from tests.test_predict_cli import run

CAL = Path(__file__).resolve().parent.parent / "docs" / "validation" / "calibration"
BIG = ("predict", "llm", "llama-3.1-70b", "--gpu", "rtx-4090", "--dtype", "fp16", "--batch", "32",
       "--prompt-tokens", "1200", "--output-tokens", "256")


def small(*extra: str) -> tuple[str, ...]:
    return ("predict", "llm", "llama-3.1-8b", "--gpu", "h200", "--prompt-tokens", "1200", "--output-tokens", "64",
            *extra)


def test_memory_fit_refusal_names_the_bytes_and_the_card(capsys, tmp_path):
    out_file = tmp_path / "p.json"
    code, out, err = run(capsys, *BIG, "--out", str(out_file))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "does not fit" in err and "weights 141.1" in err and "rtx-4090 has 24.0 GB" in err
    assert not out_file.exists()  # nothing written


def test_allow_offload_prices_it_labelled(capsys):
    code, out, _ = run(capsys, *BIG, "--allow-offload", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["memory"]["fits"] is False and "lower bound" in doc["memory"]["offload"]
    assert doc["memory"]["weights_bytes"] == pytest.approx(141.1e9, rel=0.01)


def test_fitting_configuration_reports_its_memory_and_floors(capsys):
    code, out, _ = run(capsys, *small("--json"))
    doc = json.loads(out)
    assert code == 0 and doc["memory"]["fits"] and doc["memory"]["total_bytes"] < doc["memory"]["device_bytes"]
    assert doc["cost_model"] == "v2" and doc["energy_model"] == "continuous" and doc["engine"]["name"] == "eager"
    for phase in ("prefill", "decode"):
        assert doc["floors"][phase]["below_floor"] is False
        assert doc[phase]["latency_s"] >= doc["floors"][phase]["time_s"]
        assert doc[phase]["executed_flops"] > 0
    assert set(doc["flops_convention"]) == {"flops", "executed_flops"}


@pytest.mark.parametrize(("params", "field"), [
    ("mu_compute: 1.2", "params.mu_compute"),
    ("mu_memory: 0.0", "params.mu_memory"),
    ("mu_attention: 1.5", "params.mu_attention"),
    ("energy_per_flop_pj: -1.0\n  energy_per_byte_pj: 1.0\n  energy_per_kernel_uj: 1.0", "params.energy_per_flop_pj"),
    ("p_idle_w: 5000", "params.p_idle_w"),
    ("p_idle_w: 1", "params.p_idle_w"),
])
def test_bad_profile_is_refused_naming_the_field(capsys, tmp_path, params, field):
    cal = tmp_path / "bad.yaml"
    cal.write_text(f"params:\n  {params}\n")
    code, out, err = run(capsys, *small("--calibration", str(cal)))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert field in err and str(cal) in err


def test_profile_engine_must_match(capsys):
    profile = CAL / "h200-transformers-eager-bfloat16.yaml"
    code, _, err = run(capsys, *small("--dtype", "bf16", "--calibration", str(profile), "--engine", "static"))
    assert code == 2 and "engine" in err
    code, out, _ = run(capsys, *small("--dtype", "bf16", "--calibration", str(profile), "--json"))
    doc = json.loads(out)
    assert code == 0 and doc["engine"]["name"] == "eager" and doc["cost_model"] == "v1"  # the profile's own


@pytest.mark.parametrize("path", sorted(CAL.glob("*-transformers-eager-*.yaml")), ids=lambda p: p.stem)
def test_committed_profiles_load_within_bounds_as_v1(path):
    profile = read_profile(path)
    acc = get_accelerator(profile.catalogue_name)
    params = params_from_mapping(dict(profile.params), ModelParams(), str(path), acc)
    assert params.cost_model == "v1" and 0 < params.mu_compute <= 1 and 0 < params.mu_memory <= 1


def test_static_engine_and_new_families_through_the_cli(capsys):
    code, out, _ = run(capsys, *small("--engine", "static", "--json"))
    static = json.loads(out)
    code2, out2, _ = run(capsys, *small("--json"))
    eager = json.loads(out2)
    assert code == code2 == 0 and static["decode"]["latency_s"] < eager["decode"]["latency_s"]
    for model in ("qwen3-30b-a3b", "olmo-2-1124-7b", "deepseek-v2-lite"):
        code, out, err = run(capsys, "predict", "llm", model, "--gpu", "h200", "--prompt-tokens", "500",
                             "--output-tokens", "20", "--json")
        assert code == 0, err
        assert json.loads(out)["request"]["energy_j"] > 0
    code, out, _ = run(capsys, "predict", "llm", "deepseek-v3", "--gpu", "h200", "--prompt-tokens", "500",
                       "--output-tokens", "20", "--mla-absorbed", "--allow-offload", "--json")
    assert code == 0 and json.loads(out)["memory"]["fits"] is False  # 671B parameters on one H200
