"""LLM calibration: the fitter recovers known parameters; committed profiles reproduce their own
predictions through `predict --calibration`; `validate` reads a real store."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from joulebench.analytic import ModelParams
from joulebench.calibration.dataset import Dataset, PhasePoint
from joulebench.calibration.llm_fit import fit_llm, predict_points
from joulebench.calibration.validate import is_training_point, repeatability_rows
from joulebench.hardware import get_accelerator

ROOT = Path(__file__).resolve().parent.parent
CAL = ROOT / "docs" / "validation" / "calibration"


def synthetic(params: ModelParams, noise: float = 0.0) -> Dataset:
    acc = get_accelerator("h200")
    points = []
    for model in ("qwen2.5-0.5b", "llama-3.1-8b"):
        for phase, s, g, b in [("prefill", 128, 1, 1), ("prefill", 1024, 1, 1), ("prefill", 4096, 1, 1),
                               ("prefill", 256, 1, 16), ("decode", 128, 64, 1), ("decode", 2048, 64, 8)]:
            points.append(PhasePoint(0, model, "bfloat16", phase, s, g, b, 1.0, 1.0, "NVIDIA H200", "x"))
    data = Dataset(points, idle_power_w=[params.p_idle_w])
    t, e = predict_points(data, acc, params)
    rng = np.random.default_rng(0)
    t = t * (1 + noise * rng.standard_normal(t.size))
    e = e * (1 + noise * rng.standard_normal(e.size))
    data.points = [replace(p, latency_s=float(ti), gpu_energy_j=float(ei)) for p, ti, ei in zip(points, t, e, strict=True)]
    return data


def test_fit_recovers_known_parameters() -> None:
    acc = get_accelerator("h200")
    truth = ModelParams(mu_compute=0.62, mu_memory=0.55, t_launch_s=18e-6, launch_overlap="max", p_idle_w=100.0,
                        energy_per_flop_pj=0.9, energy_per_byte_pj=130.0, energy_per_kernel_uj=80.0)
    fit = fit_llm(synthetic(truth), acc, "bfloat16")
    assert fit.params.launch_overlap == "max" and fit.params.energy_model == "work"
    for field in ("mu_compute", "mu_memory", "t_launch_s", "energy_per_flop_pj", "energy_per_byte_pj",
                  "energy_per_kernel_uj"):
        assert getattr(fit.params, field) == pytest.approx(getattr(truth, field), rel=0.05), field
    assert fit.train_latency_mape < 0.01 and fit.train_energy_mape < 0.02


def test_split_holds_out_other_models_and_lengths() -> None:
    assert is_training_point("llama-3.1-8b", "prefill", 512)
    assert not is_training_point("llama-3.1-8b", "prefill", 1024)
    assert not is_training_point("qwen2.5-7b", "decode", 128)


@pytest.mark.parametrize(("card", "catalogue"), [("h100", "h100-sxm"), ("h200", "h200")])
@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_committed_profile_reproduces_its_predictions_through_predict_cli(dtype: str, card: str, catalogue: str) -> None:
    profile = CAL / f"{card}-transformers-eager-{dtype}.yaml"
    points = json.loads((CAL / f"{card}-transformers-eager-{dtype}-validation.json").read_text())["points"]
    point = next(p for p in points if p["model"] == "llama-3.1-8b" and p["phase"] == "decode")
    out = subprocess.run([sys.executable, "-m", "joulebench", "predict", "llm", "llama-3.1-8b", "--gpu", catalogue,
                          "--dtype", dtype, "--prompt-tokens", str(point["s"]), "--output-tokens", str(point["g"]),
                          "--batch", str(point["b"]), "--calibration", str(profile), "--json"],
                         capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout)
    assert doc["decode"]["latency_s"] == pytest.approx(point["predicted_latency_s"], rel=1e-9)
    assert doc["decode"]["energy_j"] == pytest.approx(point["predicted_gpu_energy_j"], rel=1e-9)


def test_validate_command_on_the_committed_stores(tmp_path: Path) -> None:
    figure = tmp_path / "fig.png"
    out = subprocess.run([sys.executable, "-m", "joulebench", "validate", "--calibration",
                          str(CAL / "h100-transformers-eager-float32.yaml"),
                          "--db", str(CAL / "h100-transformers-eager-float32.db"),
                          "--db", str(CAL / "h100-transformers-eager-float32-repeat.db"),
                          "--figure", str(figure), "--json"], capture_output=True, text=True, check=True)
    rows = json.loads(out.stdout)["rows"]
    assert {(r["subset"], r["phase"]) for r in rows} == {(s, p) for s in ("train", "held-out", "run-to-run")
                                                         for p in ("prefill", "decode")}
    profile_rows = yaml.safe_load((CAL / "h100-transformers-eager-float32.yaml").read_text())["validation"]
    assert rows == profile_rows  # validate reproduces what calibrate wrote
    assert figure.stat().st_size > 10_000


def test_every_command_family_loads() -> None:
    out = subprocess.run([sys.executable, "-m", "joulebench", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr == ""
    for command in ("measure", "predict", "calibrate", "validate", "fit", "serve-bench", "report", "hardware"):
        assert command in out.stdout
    for family, kinds in (("measure", ("llm", "video")), ("calibrate", ("llm", "video")), ("predict", ("llm", "video"))):
        sub = subprocess.run([sys.executable, "-m", "joulebench", family, "--help"], capture_output=True, text=True)
        assert sub.returncode == 0 and all(kind in sub.stdout for kind in kinds)


def test_repeated_sweeps_are_averaged_and_their_spread_reported() -> None:
    def point(run: int, latency_s: float, energy_j: float, phase: str = "decode") -> PhasePoint:
        return PhasePoint(run, "qwen2.5-0.5b", "bfloat16", phase, 128, 64, 1, latency_s, energy_j, "NVIDIA H100", "x")

    data = Dataset([point(1, 1.0, 100.0), point(2, 1.5, 110.0), point(3, 0.03, 5.0, "prefill")])
    merged = data.merged()
    assert len(merged.points) == 2
    decode = next(p for p in merged.points if p.phase == "decode")
    assert (decode.latency_s, decode.gpu_energy_j, decode.repeats) == (1.25, 105.0, 2)
    rows = repeatability_rows(data)
    assert [(r.phase, r.n) for r in rows] == [("decode", 1)]  # the single prefill has nothing to compare
    assert rows[0].latency_mape == pytest.approx(0.5 / 1.25)
    assert rows[0].energy_mape == pytest.approx(10.0 / 105.0)
