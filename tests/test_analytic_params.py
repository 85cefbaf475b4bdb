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


# -- mu_attention: a separate compute efficiency for attention ops ---------------------------------------
def _llm_setup():
    from joulebench.analytic.llm import arch_from_config
    from joulebench.analytic.precision import precision_for
    from joulebench.models.configs import resolve

    return arch_from_config(resolve("llama-3.1-8b").config, "llama-3.1-8b"), precision_for("bf16")


def _video(params, acc):
    from joulebench.analytic.precision import precision_for
    from joulebench.analytic.video import VideoRequest, predict_video
    from joulebench.models.configs import resolve

    ref = resolve("wan2.1-t2v-1.3b", "video")
    req = VideoRequest(480, 832, 81, 4, True)
    return predict_video(ref.config, ref.name, acc, params, precision_for("bf16"), req)


def _strip_params(doc):
    return {k: v for k, v in doc.items() if k != "params"}


def test_mu_attention_none_is_mu_compute_exactly():
    """None (the default, every existing profile) prices attention at mu_compute, bit for bit."""
    import numpy as np

    from joulebench.analytic.predict import llm_features, predict_llm_grid

    acc = get_accelerator("h200")
    arch, prec = _llm_setup()
    none = ModelParams.defaults_for(acc)
    same = ModelParams(**{**none.to_dict(), "mu_attention": none.mu_compute})
    assert none.mu_attention is None
    s, g, b = np.array([16.0, 1200.0, 30000.0]), np.array([1.0, 256.0, 2000.0]), np.array([1.0, 8.0, 64.0])
    for graphs in (False, True):
        a = predict_llm_grid(arch, acc, none, prec, s, g, b, graphs=graphs)
        c = predict_llm_grid(arch, acc, same, prec, s, g, b, graphs=graphs)
        assert a.keys() == c.keys()
        for key in a:
            assert np.array_equal(a[key], c[key]), key
    fa, fc = llm_features(arch, acc, prec, s, g, b, params=none), llm_features(arch, acc, prec, s, g, b, params=same)
    for phase in fa:
        assert np.array_equal(fa[phase].compute_bound_s, fc[phase].compute_bound_s)
        assert np.array_equal(fa[phase].memory_bound_s, fc[phase].memory_bound_s)
    assert _strip_params(_video(none, acc)) == _strip_params(_video(same, acc))


def test_mu_attention_changes_only_attention_ops():
    from dataclasses import replace

    from joulebench.analytic.predict import ceilings, prefill_ops
    from joulebench.analytic.roofline import op_time

    acc = get_accelerator("h200")
    base = ModelParams.defaults_for(acc)
    slow = replace(base, mu_attention=base.mu_compute / 2)
    rows_base = {r["name"]: r for r in _video(base, acc)["components"]["dit"]["ops"]}
    rows_slow = {r["name"]: r for r in _video(slow, acc)["components"]["dit"]["ops"]}
    attention = {"self_attention", "self_attention_softmax", "cross_attention", "cross_attention_softmax"}
    assert attention <= set(rows_base)
    for name, row in rows_base.items():
        if name in attention:
            if row["bound"] == "compute":  # compute time doubles, launch time stays
                launch = row["n_kernels"] * base.t_launch_s
                assert rows_slow[name]["latency_s"] - launch == pytest.approx(2 * (row["latency_s"] - launch))
        else:
            assert rows_slow[name]["latency_s"] == row["latency_s"], name
    assert rows_slow["self_attention"]["latency_s"] > rows_base["self_attention"]["latency_s"]
    # LLM prefill: the same per op
    arch, prec = _llm_setup()
    ceil = ceilings(acc, prec)
    changed = 0
    for op in prefill_ops(arch, prec, 8192.0, 1.0):
        a = op_time(op.flops, op.bytes, op.n_kernels, ceil, base, False, op.category)
        c = op_time(op.flops, op.bytes, op.n_kernels, ceil, slow, False, op.category)
        if op.category == "attention":
            changed += int(float(c.latency_s) != float(a.latency_s))
        else:
            assert float(c.latency_s) == float(a.latency_s), op.name
    assert changed > 0


def test_mu_attention_round_trip_null_and_bounds(tmp_path):
    base = ModelParams.defaults_for(get_accelerator("h200"), "bf16")
    assert ModelParams.from_dict(base.to_dict()) == base  # None survives the round trip
    p = ModelParams.from_dict({"mu_attention": 0.45}, base=base)
    assert p.mu_attention == 0.45 and p.mu_for("attention") == 0.45 and p.mu_for("matmul") == base.mu_compute
    assert ModelParams.from_dict(p.to_dict()) == p
    yml = tmp_path / "cal.yaml"
    yml.write_text("params:\n  mu_compute: 0.4\n  mu_attention: null\n")
    q = load_params(yml, p)
    assert q.mu_attention is None and q.mu_for("attention") == 0.4
    for bad in (0.0, -0.1, 2.0):
        with pytest.raises(UsageError):
            ModelParams.from_dict({"mu_attention": bad})


def test_work_energy_fields_all_or_none_and_round_trip():
    assert ModelParams().energy_model == "bound"
    with pytest.raises(UsageError, match="all of"):
        ModelParams(energy_per_flop_pj=1.0)
    with pytest.raises(UsageError, match=">= 0"):
        ModelParams(energy_per_flop_pj=-1.0, energy_per_byte_pj=1.0, energy_per_kernel_uj=1.0)
    p = ModelParams.from_dict({"energy_per_flop_pj": 0.9, "energy_per_byte_pj": 120.0, "energy_per_kernel_uj": 80.0})
    assert p.energy_model == "work"
    assert ModelParams.from_dict(p.to_dict()) == p
    assert ModelParams.from_dict({"energy_per_flop_pj": None, "energy_per_byte_pj": None,
                                  "energy_per_kernel_uj": None}).energy_model == "bound"
