"""The CLI's JSON contract and its bad-input behaviour (exit code 2, one line naming the problem)."""

from __future__ import annotations

import json

import pytest

from joulebench.cli import main


def video_argv(model: str, height: int, width: int, frames: int, steps: int) -> tuple[str, ...]:
    return ("predict", "video", model, "--height", str(height), "--width", str(width), "--frames", str(frames),
            "--steps", str(steps), "--gpu", "h100-sxm")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


LLM = (
    "predict",
    "llm",
    "llama-3.1-8b",
    "--gpu",
    "h100-sxm",
    "--dtype",
    "fp32",
    "--prompt-tokens",
    "1200",
    "--output-tokens",
    "256",
)


def test_llm_json_contract(capsys):
    code, out, _ = run(capsys, *LLM, "--json")
    assert code == 0
    doc = json.loads(out)
    for phase in ("prefill", "decode"):
        for key in ("flops", "bytes", "latency_s", "energy_j", "ops"):
            assert key in doc[phase]
        for op in doc[phase]["ops"]:
            assert {"name", "flops", "bytes", "bound", "latency_s"} <= set(op)
            assert op["bound"] in ("compute", "memory", "launch")
    assert {"flops", "bytes", "latency_s", "energy_j"} <= set(doc["request"])
    assert doc["request"]["latency_s"] == pytest.approx(
        doc["prefill"]["latency_s"] + doc["decode"]["latency_s"]
    )
    assert doc["attention_flops_convention"] in ("dense", "causal")
    assert doc["params_source"] == "catalogue-defaults" and "params_uncertainty" in doc
    assert {"mu_compute", "mu_memory", "t_launch_s", "launch_overlap", "p_idle_w"} <= set(doc["params"])
    assert doc["decode"]["steps"] == 255
    names = {op["name"] for op in doc["prefill"]["ops"]}
    assert {
        "embedding",
        "input_norm",
        "q_proj",
        "k_proj",
        "v_proj",
        "rope",
        "attn_scores",
        "attn_softmax",
        "attn_values",
        "o_proj",
        "residual_add",
        "gate_proj",
        "up_proj",
        "mlp_act",
        "down_proj",
        "final_norm",
        "lm_head",
        "sampling",
    } <= names


def test_llm_table_and_explain(capsys):
    code, out, _ = run(capsys, *LLM, "--explain")
    assert code == 0
    assert "prefill" in out and "decode" in out and "g*" in out and "bound" in out


def test_calibration_file_is_used(capsys, tmp_path):
    cal = tmp_path / "cal.yaml"
    cal.write_text("params:\n  mu_compute: 0.5\n  t_launch_s: 0.0\n")
    code, out, _ = run(capsys, *LLM, "--json", "--calibration", str(cal))
    doc = json.loads(out)
    assert code == 0 and doc["params"]["mu_compute"] == 0.5 and doc["params_source"] == str(cal)
    assert "params_uncertainty" not in doc


@pytest.mark.parametrize(
    "argv, needle",
    [
        (
            (
                "predict",
                "llm",
                "llama-3.1-8b",
                "--gpu",
                "h999",
                "--prompt-tokens",
                "10",
                "--output-tokens",
                "2",
            ),
            "h100-sxm",
        ),
        (
            (
                "predict",
                "llm",
                "no-such-model",
                "--gpu",
                "h100-sxm",
                "--prompt-tokens",
                "10",
                "--output-tokens",
                "2",
            ),
            "llama-3.1-8b",
        ),
        (
            (
                "predict",
                "llm",
                "llama-3.1-8b",
                "--gpu",
                "h100-sxm",
                "--dtype",
                "fp12",
                "--prompt-tokens",
                "10",
                "--output-tokens",
                "2",
            ),
            "dtype",
        ),
        (
            (
                "predict",
                "llm",
                "llama-3.1-8b",
                "--gpu",
                "a100-80gb-sxm",
                "--dtype",
                "fp8",
                "--prompt-tokens",
                "10",
                "--output-tokens",
                "2",
            ),
            "fp8",
        ),
        (
            (
                "predict",
                "llm",
                "llama-3.1-8b",
                "--gpu",
                "h100-sxm",
                "--prompt-tokens",
                "0",
                "--output-tokens",
                "2",
            ),
            "prompt tokens",
        ),
        (
            (
                "predict",
                "llm",
                "phi-3-mini-4k",
                "--gpu",
                "h100-sxm",
                "--prompt-tokens",
                "4000",
                "--output-tokens",
                "300",
            ),
            "max_position_embeddings",
        ),
        (
            video_argv("wan2.1-t2v-1.3b", 721, 1280, 81, 50),
            "height % 16",
        ),
        (
            video_argv("wan2.1-t2v-1.3b", 720, 1280, 80, 50),
            "frames",
        ),
        (
            video_argv("nope", 720, 1280, 81, 50),
            "wan2.1-t2v-1.3b",
        ),
        (("hardware", "show", "h999"), "allowed"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert needle in err and err.count("\n") == 1


def test_video_json_contract(capsys):
    code, out, _ = run(capsys, *video_argv("wan2.1-t2v-1.3b", 480, 832, 33, 4), "--json")
    assert code == 0
    doc = json.loads(out)
    for comp in ("text_encoder", "dit", "vae_decoder"):
        assert "flops" in doc["components"][comp]
    assert "flops_per_forward" in doc["components"]["dit"]
    assert {"flops", "latency_s", "energy_j"} <= set(doc["total"])
    code, out, _ = run(capsys, *video_argv("wan2.1-t2v-1.3b", 480, 832, 33, 4), "--no-cfg")
    assert code == 0 and "dit" in out


def test_hardware_list_and_show(capsys):
    code, out, _ = run(capsys, "hardware", "list", "--json")
    assert code == 0 and "h100-sxm" in json.loads(out)
    code, out, _ = run(capsys, "hardware", "show", "h200")
    assert code == 0 and json.loads(out)["memory_bandwidth_bytes_per_s"] == 4.8e12
