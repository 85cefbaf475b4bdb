"""serve-bench: bad inputs exit 2 with nothing written; a run stores its point and prints one JSON."""

from __future__ import annotations

import json

import pytest

from joulebench.store import Store
from tests.loopback_server import ServerConfig, StreamingTestServer
from tests.serving_helpers import run_cli


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--url", "http://127.0.0.1:9", "--model", "m", "--arrival", "weibull:2"], "--arrival"),
        (["--url", "http://127.0.0.1:9", "--model", "m", "--prompts", "lorem"], "--prompts"),
        (["--url", "http://127.0.0.1:9", "--model", "m", "--output-tokens", "300-10"], "--output-tokens"),
        (["--url", "http://127.0.0.1:9", "--model", "m", "--slo", "latency:1s"], "--slo"),
        (["--url", "http://127.0.0.1:9", "--model", "m", "--requests", "0"], "--requests"),
        (["--url", "http://127.0.0.1:9", "--model", "m", "--max-duration", "soon"], "--max-duration"),
        (["--url", "ftp://x", "--model", "m"], "--url"),
        (["--url", "http://127.0.0.1:9"], "--model"),
        (["--url", "http://127.0.0.1:9", "--model", "m", "--engine", "sequential"], "either"),
        (["--model", "tiny-llama"], "either"),
        (["--engine", "vllm", "--model", "tiny-llama"], "--engine"),
        (["--engine", "sequential", "--model", "tiny-llama", "--dtype", "int3"], "--dtype"),
        (["--url", "http://127.0.0.1:9", "--model", "m", "--gpus", "a,b"], "--gpus"),
    ],
)
def test_bad_inputs_exit_2_and_write_nothing(tmp_path, capsys, args: list[str], fragment: str) -> None:
    db = tmp_path / "r.db"
    assert run_cli(["serve-bench", *args, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1
    assert not db.exists()


def test_serve_bench_json_and_store(tmp_path, capsys) -> None:
    db = tmp_path / "r.db"
    with StreamingTestServer(ServerConfig(ttft_s=0.005, itl_s=0.002)) as srv:
        argv = [
            "serve-bench",
            "--url",
            srv.url,
            "--model",
            "m",
            "--requests",
            "6",
            "--arrival",
            "fixed:20ms",
            "--prompts",
            "synthetic:10-30",
            "--output-tokens",
            "3-6",
            "--slo",
            "ttft:1s",
            "--db",
            str(db),
            "--json",
            "--name",
            "cli-test",
            "--seed",
            "3",
        ]
        assert run_cli(argv) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["metrics"]["completed"] == 6 and doc["metrics"]["good_requests"] == 6
        assert doc["energy"]["available"] and doc["headline"]["wh_per_request"] > 0
        assert doc["engine_knobs"] == {}
        # same configuration again: resumed from the store, nothing re-sent
        sent_before = srv.stats.requests
        assert run_cli(argv) == 0
        again = json.loads(capsys.readouterr().out)
        assert again["resumed_from_store"] and srv.stats.requests == sent_before
    with Store(db) as store:
        points = list(store.points(kind="serving"))
        assert len(points) == 1
        rows = store.records(points[0].id)
        assert len(rows) == 6


def test_serve_bench_sequential_engine_on_cpu(tmp_path, capsys) -> None:
    argv = [
        "serve-bench",
        "--engine",
        "sequential",
        "--model",
        "tiny-llama",
        "--device",
        "cpu",
        "--dtype",
        "float32",
        "--requests",
        "2",
        "--arrival",
        "burst",
        "--prompts",
        "synthetic:8",
        "--output-tokens",
        "2",
        "--db",
        str(tmp_path / "r.db"),
        "--json",
    ]
    assert run_cli(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["metrics"]["completed"] == 2 and doc["metrics"]["output_tokens"] == 4
    assert doc["engine_knobs"]["engine"] == "sequential"
