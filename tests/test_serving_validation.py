"""serve-bench bad input: exit 2, one line naming the flag (or the file and line), no traceback, nothing
written - every argument and file is checked before a database, meter or server is opened (issue 16)."""

from __future__ import annotations

import json

import pytest

from tests.serving_helpers import run_cli

BASE = ["--url", "http://127.0.0.1:9", "--model", "m"]



def _files(tmp_path):
    (tmp_path / "binary.jsonl").write_bytes(b"\x00\x01\x02")
    (tmp_path / "negative.jsonl").write_text(json.dumps({"prompt": "a b", "max_tokens": -5}) + "\n")
    (tmp_path / "badrole.jsonl").write_text(json.dumps({"messages": [{"role": "wizard", "content": "x"}]}) + "\n")
    (tmp_path / "typo.jsonl").write_text(json.dumps({"prompt": "x"}) + "\n" + json.dumps({"prompt": "y", "max_token": 3}))
    (tmp_path / "notjson.jsonl").write_text('{"prompt": "x"}\n{prompt\n')
    (tmp_path / "empty.jsonl").write_text("\n\n")
    (tmp_path / "binary.csv").write_bytes(b"\x89PNG\x00\x00")
    (tmp_path / "unsorted.csv").write_text("time_s\n0\n2\n1\n")
    (tmp_path / "negative.csv").write_text("time_s\n-1\n0\n")
    (tmp_path / "nan.jsonl").write_text('{"time_s": 0}\n{"time_s": NaN}\n')
    (tmp_path / "huge.csv").write_text("time_s\n0\n1e12\n")


CASES = [
    (["--url", "http://exa mple:80"], "--url"),
    (["--url", "http://127.0.0.1:99999"], "--url"),
    (["--url", "http://127.0.0.1:abc"], "--url"),
    (["--url", "http://"], "--url"),
    (["--url", "http://user:pw@127.0.0.1:8000"], "--url"),
    (["--url", "ftp://127.0.0.1"], "--url"),
    (["--url", "garbage"], "--url"),
    (["--model", " "], "--model"),
    (["--requests", "1000000000"], "--requests"),
    (["--requests", "-3"], "--requests"),
    (["--max-duration", "1e9s"], "--max-duration"),
    (["--max-duration", "0"], "--max-duration"),
    (["--request-timeout", "-1s"], "--request-timeout"),
    (["--ramp-up", "3 days"], "--ramp-up"),
    (["--max-concurrency", "0"], "--max-concurrency"),
    (["--prefill-weight", "nan"], "--prefill-weight"),
    (["--seed", "-1"], "--seed"),
    (["--arrival", "poisson:0/s"], "--arrival"),
    (["--arrival", "poisson:1e99/s"], "--arrival"),
    (["--arrival", "gamma:1/s,1e9"], "--arrival"),
    (["--output-tokens", "0"], "--output-tokens"),
    (["--output-tokens", "5-99999999"], "--output-tokens"),
    (["--prompts", "synthetic:4000000"], "--prompts"),
    (["--api", "grpc"], "--api"),
    (["--length-control", "magic"], "--length-control"),
    (["--text-unit", "glyph"], "--text-unit"),
    (["--name", "a\nb"], "--name"),
    (["--name", ""], "--name"),
    (["--idle", "2h"], "--idle"),
    (["--gpus", "-1"], "--gpus"),
    (["--dcgm-url", "nope"], "--dcgm-url"),
    (["--floor-model", "no-such-model-xyz"], "no-such-model-xyz"),
    (["--floor-gpu", "h9000"], "h9000"),
    (["--floor-dtype", "int3"], "--floor-dtype"),
    (["--floor-profile", "/nonexistent.yaml"], "--floor-profile"),
    (["--rates", "1/s,-2/s"], "--rates"),
    (["--rates", "1/s", "--rate-law", "weibull"], "--rate-law"),
    (["--sweep", "max_batch_tokens=1,2"], "--sweep"),
    (["--server-timeout", "0s", "--server", "python -V"], "--server-timeout"),
    (["--db", "/nonexistent-dir/x.db"], "--db"),
    (["--prompts", "{tmp}/binary.jsonl"], "binary"),
    (["--prompts", "{tmp}/negative.jsonl"], "line 1: max_tokens=-5"),
    (["--prompts", "{tmp}/badrole.jsonl"], "messages[0].role='wizard'"),
    (["--prompts", "{tmp}/typo.jsonl"], "line 2: max_token=3: unknown key"),
    (["--prompts", "{tmp}/notjson.jsonl"], "line 2"),
    (["--prompts", "{tmp}/empty.jsonl"], "no requests"),
    (["--arrival", "trace:{tmp}/binary.csv"], "binary"),
    (["--arrival", "trace:{tmp}/unsorted.csv"], "line 4"),
    (["--arrival", "trace:{tmp}/negative.csv"], ">= 0"),
    (["--arrival", "trace:{tmp}/nan.jsonl"], "line 2"),
    (["--arrival", "trace:{tmp}/huge.csv"], "at most 86400"),
]


@pytest.mark.parametrize("args, fragment", CASES, ids=[" ".join(a)[:40] for a, _ in CASES])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, args, fragment) -> None:
    _files(tmp_path)
    db = tmp_path / "r.db"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    flags = dict(zip(BASE[::2], BASE[1::2], strict=True))
    for i in range(0, len(args) - 1):
        if args[i] in flags:
            flags.pop(args[i])
    base = [x for k, v in flags.items() for x in (k, v)]
    argv = ["serve-bench", *base, *args]
    if "--db" not in args:
        argv += ["--db", str(db)]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db" or ".db-" in p.name) == []


def test_engine_knobs_are_checked_before_any_model_loads(tmp_path, capsys) -> None:
    db = tmp_path / "r.db"
    for args, fragment in [
        (["--engine-knob", "max_batch_tokens=abc"], "max_batch_tokens='abc'"),
        (["--engine-knob", "warp_drive=1"], "unknown knob"),
        (["--engine-knob", "scheduler=lifo"], "scheduler='lifo'"),
        (["--engine-knob", "compile_level=9"], "compile_level=9"),
        (["--engine-preset", "fastest"], "--engine-preset"),
    ]:
        argv = ["serve-bench", "--engine", "transformers", "--model", "tiny-llama", "--device", "cpu", *args,
                "--db", str(db)]
        assert run_cli(argv) == 2
        err = capsys.readouterr().err
        assert fragment in err and err.count("\n") == 1, err
    assert not db.exists()
