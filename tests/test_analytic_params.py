"""ModelParams: defaults from the catalogue, dict round trip, calibration files, validation."""

from __future__ import annotations

import json

import pytest

from joulebench.analytic.params import ModelParams, load_params
from joulebench.errors import UsageError
from joulebench.hardware import get_accelerator


def test_defaults_follow_the_catalogue():
    acc = get_accelerator("h100-sxm")
    p = ModelParams.defaults_for(acc, "bf16")
    assert p.p_idle_w == acc.idle_power_w
    assert p.p_compute_w == pytest.approx(acc.tdp_w - acc.idle_power_w)
    assert p.p_compute_w > p.p_memory_w > p.p_launch_w > 0


def test_round_trip_and_partial_override(tmp_path):
    base = ModelParams.defaults_for(get_accelerator("h200"), "bf16")
    assert ModelParams.from_dict(base.to_dict()) == base
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"params": {"mu_compute": 0.55, "t_launch_s": 9e-6}, "fit": {"r2": 0.99}}))
    p = load_params(path, base)
    assert p.mu_compute == 0.55 and p.t_launch_s == 9e-6 and p.mu_memory == base.mu_memory
    yml = tmp_path / "cal.yaml"
    yml.write_text("params:\n  launch_overlap: max\n")
    assert load_params(yml, base).launch_overlap == "max"


@pytest.mark.parametrize(
    "bad", [{"mu_compute": 0.0}, {"launch_overlap": "both"}, {"nope": 1}, {"p_idle_w": -1}]
)
def test_bad_params_are_usage_errors(bad):
    with pytest.raises(UsageError):
        ModelParams.from_dict(bad)


def test_calibration_file_without_params(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("{}")
    with pytest.raises(UsageError, match="params"):
        load_params(path, ModelParams())
