"""CLI bad inputs: one line, exit code 2, nothing written; the demo end to end on the tiny model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from joulebench.store import Store

CLI = [sys.executable, "-m", "joulebench"]


def run(args: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", CUDA_VISIBLE_DEVICES="")
    return subprocess.run(CLI + args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["measure", "llm", "no-such-model", "--device", "cpu"], "bundled: "),
        (["measure", "llm", "tiny-llama", "--device", "cpu", "--dtype", "float8"], "allowed: float32"),
        (["measure", "llm", "tiny-llama", "--device", "cpu", "--prompt-tokens", "0"], "below 1"),
        (["measure", "llm", "tiny-llama", "--device", "cpu", "--prompt-tokens", "abc"], "not an integer"),
        (["measure", "llm", "tiny-llama", "--device", "cpu", "--prompt-tokens", "9000"], "max_position_embeddings"),
        (["measure", "llm", "tiny-llama", "--device", "cuda"], "no CUDA GPU"),
        (["measure", "llm", "tiny-llama", "--device", "tpu"], "allowed: cuda, cpu"),
        (["measure", "llm", "tiny-llama", "--bogus-flag"], "bogus"),
        (["results", "list", "--db", "missing.db"], "no such results database"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path: Path, args: list[str], needle: str) -> None:
    result = run(args + (["--db", "out.db"] if args[0] == "measure" else []), tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip() and "warning" not in ln.lower()]
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.db").exists()


def test_env_reports_estimates_on_a_machine_without_rapl_or_gpu(tmp_path: Path) -> None:
    result = run(["env", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["gpu"]["source"] is None
    if isinstance(doc["rapl"], str):
        assert doc["cpu"]["estimated"] is True and doc["cpu"]["source"].startswith("estimate")
    assert doc["ram"]["source"] in ("rapl", "estimate-ram-3w-per-8gb")


def test_measure_json_contract_and_export(tmp_path: Path) -> None:
    result = run(["measure", "llm", "tiny-llama", "--device", "cpu", "--dtype", "float32", "--prompt-tokens", "16",
                  "--output-tokens", "6", "--batch", "2", "--prompt-spread", "0.5", "--decode-method", "loop",
                  "--point-budget-s", "1", "--db", "r.db", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    point = doc["points"][0]
    assert {"config", "prefill", "decode", "request", "tokens", "consistency"} <= point.keys()
    for phase in ("prefill", "decode", "request"):
        assert point[phase]["latency_s"] > 0
        assert set(point[phase]["energy_j"]) == {"cpu", "ram"}
        assert point[phase]["estimated"] == {"cpu": True, "ram": True}
        assert point[phase]["protocol"]["min_window_s"] > 0
    tokens = point["tokens"]
    assert tokens["prompt_tokens_computed"] == 32 and tokens["prompt_tokens_effective"] < 32
    assert point["decode"]["per_token_latency_s"]["n"] == 4  # tokens 2..6: 5 stamps, 4 gaps
    # no timing assertion here (timings belong in benchmarks/): the ratio is reported, and a point outside
    # the +-5% gate says so in its flags
    ratio = point["consistency"]["latency_ratio"]
    assert ratio > 0 and point["consistency"]["within_tolerance"] == (abs(ratio - 1) <= 0.05 and
                                                                      "outside" not in point["consistency"])
    assert ("inconsistent" in point["flags"]) == (not point["consistency"]["within_tolerance"])
    out = tmp_path / "points.csv"
    exported = run(["results", "export", str(out), "--db", "r.db"], tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert "prefill.energy_j.cpu" in out.read_text().splitlines()[0]


def test_demo_end_to_end(tmp_path: Path) -> None:
    result = run(["demo", "--db", "demo.db"], tmp_path, timeout=400)
    assert result.returncode == 0, result.stderr
    assert "tiny-llama" in result.stdout and "~" in result.stdout  # estimates are marked
    with Store(tmp_path / "demo.db") as store:
        points = list(store.points(status="ok"))
        assert len(points) == 6
        runs = store.runs()
        assert runs[0].baseline["idle_power_w"]["cpu"] > 0
        assert runs[0].env["libraries"]["torch"]


def test_chat_messages_go_through_the_chat_template(tmp_path: Path) -> None:
    conversations = tmp_path / "chats.jsonl"
    conversations.write_text(
        json.dumps({"messages": [{"role": "user", "content": "What does one request cost?"}]}) + "\n"
        + json.dumps([{"role": "user", "content": "hi"}]) + "\n"
    )
    result = run(["measure", "llm", "tiny-llama", "--device", "cpu", "--dtype", "float32", "--messages",
                  str(conversations), "--batch", "2", "--output-tokens", "4", "--stop", "natural",
                  "--phases", "prefill", "--point-budget-s", "1", "--db", "r.db", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    tokens = json.loads(result.stdout)["points"][0]["tokens"]
    # bos + <|user|> + 27 bytes + eos + <|assistant|> = 31 tokens, the other row is left-padded to it
    assert tokens["prompt_tokens_computed"] == 62
    assert tokens["prompt_tokens_effective"] == 31 + 6


def test_decode_is_measured_inside_the_real_request(tmp_path: Path) -> None:
    result = run(["measure", "llm", "tiny-llama", "--device", "cpu", "--dtype", "fp32", "--prompt-tokens", "16",
                  "--output-tokens", "6", "--point-budget-s", "1", "--db", "r.db", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    point = json.loads(result.stdout)["points"][0]
    assert point["config"]["decode_method"] == "request" and point["config"]["dtype"] == "fp32"
    decode, request = point["decode"], point["request"]
    # decode is the span from the first token to the end of each generate call: inside the request
    assert 0 < decode["latency_s"] < request["latency_s"]
    assert decode["reps"] == request["reps"]
    assert decode["per_token_latency_s"]["n"] == 5  # tokens 2..6 each after the one before
    assert decode["window_method"]["cpu"].startswith("inside-request-spans")
    for phase in ("prefill", "decode", "request"):
        assert point[phase]["peak_memory_bytes"] > 0
    assert point["floors"]["available"] is False  # a CPU has no catalogue entry: said, not invented
    with Store.open_read(tmp_path / "r.db") as store:
        rows = {(r["phase"], r["component"]) for p in store.points() for r in store.measurements(p.id)}
    assert {("decode", "time"), ("decode", "cpu"), ("request", "cpu"), ("prefill", "ram")} <= rows
