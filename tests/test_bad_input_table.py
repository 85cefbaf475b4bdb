"""The border contract, replayed over a table of hostile inputs across every command.

For each case: exit code 2, exactly one line on stderr that names the field (its flag), no traceback,
nothing new written in the working folder, and every file that was there (someone else's SQLite
file, a garbage file, a valid results database) unchanged to the byte. Runs in-process (one CLI call
per case, no subprocess) so that the whole table stays quick.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from joulebench.cli import main

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b]\n"


def _files(tmp: Path) -> None:
    """Fixtures every case may point at."""
    (tmp / "binary.bin").write_bytes(bytes(range(256)) * 8)
    (tmp / "garbage.db").write_bytes(b"this is not a database at all\n" * 40)
    with sqlite3.connect(tmp / "foreign.db") as conn:
        conn.execute("CREATE TABLE people (name TEXT)")
        conn.execute("INSERT INTO people VALUES ('ada')")
    from joulebench.store import Store

    with Store(tmp / "valid.db") as store:
        run = store.begin_run("llm", "test", {}, {})
        store.save_point(run, "llm", {"model": "tiny-llama", "dtype": "fp32", "output_tokens": 2}, {"flags": []})
    data = (tmp / "valid.db").read_bytes()
    (tmp / "truncated.db").write_bytes(data[: len(data) // 3])
    (tmp / "list.yaml").write_text("- 1\n- 2\n")
    (tmp / "plain_prompts.jsonl").write_text('{"prompt": "thank you"}\n')
    (tmp / "bomb.yaml").write_text(BOMB + "params: {mu_compute: 0.5}\n")
    (tmp / "syntax.yaml").write_text("params:\n  mu_compute: [0.5\n")
    (tmp / "types.yaml").write_text("params:\n  mu_compute: fast\n")
    (tmp / "nullparams.yaml").write_text("params:\n")
    (tmp / "unknown.yaml").write_text("params:\n  warp_factor: 9\n")
    (tmp / "strings.json").write_text(json.dumps(["hello", "world"]))
    (tmp / "nomessages.jsonl").write_text(json.dumps({"prompt": "hi"}) + "\n")
    (tmp / "badline.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n{oops\n")
    (tmp / "badrole.jsonl").write_text(json.dumps({"messages": [{"role": 3, "content": "hi"}]}) + "\n")
    (tmp / "unsorted.txt").write_text("0.5\n0.1\n0.9\n")
    (tmp / "negative.txt").write_text("-1\n0\n1\n")
    (tmp / "prompts.jsonl").write_text(json.dumps({"prompt": "hi", "max_tokens": -5}) + "\n")
    garbage_model = tmp / "garbage-model"
    garbage_model.mkdir()
    (garbage_model / "config.json").write_text("{not json")
    list_model = tmp / "list-model"
    list_model.mkdir()
    (list_model / "config.json").write_text("[1, 2, 3]")
    (tmp / "adir").mkdir()


LLM = ["measure", "llm", "tiny-llama", "--device", "cpu", "--db", "out.db"]
PRED = ["predict", "llm", "llama-3.1-8b", "--gpu", "h200", "--prompt-tokens", "128", "--output-tokens", "16"]
SERVE = ["serve-bench", "--url", "http://127.0.0.1:9", "--model", "m", "--db", "out.db"]
VIDEO = ["predict", "video", "wan2.1-t2v-1.3b", "--height", "480", "--width", "832", "--steps", "2", "--gpu", "h200"]

#: (id, argv, what the one line must contain)
CASES: list[tuple[str, list[str], str]] = [
    ("empty model", ["measure", "llm", "", "--device", "cpu", "--db", "out.db"], "model"),
    ("comma-only model", ["measure", "llm", ",", "--device", "cpu", "--db", "out.db"], "model"),
    ("unknown model", ["measure", "llm", "no-such-model", "--device", "cpu", "--db", "out.db"], "bundled: "),
    ("garbage config.json", ["measure", "llm", "garbage-model", "--device", "cpu", "--db", "out.db"], "JSON"),
    ("list config.json", ["measure", "llm", "list-model", "--device", "cpu", "--db", "out.db"], "mapping"),
    ("predictor-only dtype", [*LLM, "--dtype", "float8"], "--dtype"),
    ("unknown dtype", [*LLM, "--dtype", "int3"], "--dtype"),
    ("empty dtype", [*LLM, "--dtype", ","], "--dtype"),
    ("quantized on cpu", [*LLM, "--dtype", "bnb-nf4"], "CUDA"),
    ("zero prompt", [*LLM, "--prompt-tokens", "0"], "--prompt-tokens"),
    ("text prompt", [*LLM, "--prompt-tokens", "abc"], "--prompt-tokens"),
    ("prompt past context", [*LLM, "--prompt-tokens", "9000"], "max_position_embeddings"),
    ("absurd prompt", [*LLM, "--prompt-tokens", "99999999999"], "--prompt-tokens"),
    ("negative output", [*LLM, "--output-tokens", "-1"], "--output-tokens"),
    ("zero batch", [*LLM, "--batch", "0"], "--batch"),
    ("huge batch", [*LLM, "--batch", "60000", "--prompt-tokens", "4096"], "--batch"),
    ("absurd batch", [*LLM, "--batch", "10000000"], "--batch"),
    ("unknown device", [*LLM, "--device", "tpu"], "--device"),
    ("no gpu", ["measure", "llm", "tiny-llama", "--device", "cuda", "--db", "out.db"], "no CUDA GPU"),
    ("unknown engine", [*LLM, "--engine", "turbo"], "--engine"),
    ("static on cpu", [*LLM, "--engine", "static"], "--engine"),
    ("unknown decode method", [*LLM, "--decode-method", "guess"], "--decode-method"),
    ("unknown stop", [*LLM, "--stop", "maybe"], "--stop"),
    ("spread out of range", [*LLM, "--prompt-spread", "1.5"], "--prompt-spread"),
    ("unknown phase", [*LLM, "--phases", "prefill,nothing"], "--phases"),
    ("empty phases", [*LLM, "--phases", ","], "--phases"),
    ("unknown weights", [*LLM, "--weights", "fake"], "--weights"),
    ("point budget too short", [*LLM, "--point-budget-s", "0.5"], "--point-budget-s"),
    ("study point budget too long", ["study", "sizes", "--model", "tiny-llama", "--device", "cpu", "--db", "out.db",
                                     "--point-budget-s", "1e9"], "--point-budget-s"),
    ("text gpu index", [*LLM, "--gpus", "a"], "--gpus"),
    ("negative gpu index", [*LLM, "--gpus", "-1"], "--gpus"),
    ("missing messages", [*LLM, "--messages", "missing.jsonl"], "--messages"),
    ("binary messages", [*LLM, "--messages", "binary.bin"], "binary"),
    ("list of strings", [*LLM, "--messages", "strings.json"], "messages"),
    ("conversation without messages", [*LLM, "--messages", "nomessages.jsonl"], "line 1"),
    ("bad JSONL line", [*LLM, "--messages", "badline.jsonl"], "line 2"),
    ("role not text", [*LLM, "--messages", "badrole.jsonl"], "role"),
    ("db is a folder", ["measure", "llm", "tiny-llama", "--device", "cpu", "--db", "adir"], "--db"),
    ("db in a missing folder", ["measure", "llm", "tiny-llama", "--device", "cpu", "--db", "nope/x.db"], "--db"),
    ("db in /proc", ["measure", "llm", "tiny-llama", "--device", "cpu", "--db", "/proc/jb.db"], "--db"),
    ("db is /proc/version", ["measure", "llm", "tiny-llama", "--device", "cpu", "--db", "/proc/version"], "--db"),
    ("db not SQLite", ["measure", "llm", "tiny-llama", "--device", "cpu", "--db", "garbage.db"], "not an SQLite"),
    ("db someone else's", ["measure", "llm", "tiny-llama", "--device", "cpu", "--db", "foreign.db"], "not joulebench"),
    ("db truncated", ["measure", "llm", "tiny-llama", "--device", "cpu", "--db", "truncated.db"], "--db"),
    ("unknown flag", [*LLM, "--bogus-flag"], "bogus"),
    ("list: missing db", ["results", "list", "--db", "missing.db"], "no such results database"),
    ("list: someone else's db", ["results", "list", "--db", "foreign.db"], "not joulebench"),
    ("list: garbage db", ["results", "list", "--db", "garbage.db"], "not an SQLite"),
    ("list: truncated db", ["results", "list", "--db", "truncated.db"], "--db"),
    ("list: binary db", ["results", "list", "--db", "binary.bin"], "--db"),
    ("show: no such point", ["results", "show", "999", "--db", "valid.db"], "999"),
    ("merge: missing source", ["results", "merge", "valid.db", "missing.db", "--db", "out.db"], "missing.db"),
    ("merge: foreign source", ["results", "merge", "foreign.db", "--db", "out.db"], "not joulebench"),
    ("merge: into itself", ["results", "merge", "valid.db", "--db", "valid.db"], "other than --db"),
    ("merge: into foreign db", ["results", "merge", "valid.db", "--db", "foreign.db"], "not joulebench"),
    ("export: no format", ["results", "export", "out.txt", "--db", "valid.db"], "--format"),
    ("export: unknown format", ["results", "export", "out.csv", "--format", "xml", "--db", "valid.db"], "--format"),
    ("export: unknown kind", ["results", "export", "out.csv", "--kind", "bogus", "--db", "valid.db"], "--kind"),
    ("predict: unknown gpu", ["predict", "llm", "llama-3.1-8b", "--gpu", "nogpu", "--prompt-tokens", "1",
                              "--output-tokens", "1"], "nogpu"),
    ("predict: unknown dtype", [*PRED, "--dtype", "int3"], "--dtype"),
    ("predict: zero prompt", ["predict", "llm", "llama-3.1-8b", "--gpu", "h200", "--prompt-tokens", "0",
                              "--output-tokens", "16"], "prompt"),
    ("calibration missing", [*PRED, "--calibration", "missing.yaml"], "--calibration"),
    ("calibration syntax", [*PRED, "--calibration", "syntax.yaml"], "YAML"),
    ("calibration list", [*PRED, "--calibration", "list.yaml"], "mapping"),
    ("calibration alias bomb", [*PRED, "--calibration", "bomb.yaml"], "aliases"),
    ("calibration wrong types", [*PRED, "--calibration", "types.yaml"], "mu_compute"),
    ("calibration null params", [*PRED, "--calibration", "nullparams.yaml"], "params"),
    ("calibration unknown key", [*PRED, "--calibration", "unknown.yaml"], "warp_factor"),
    ("calibration binary", [*PRED, "--calibration", "binary.bin"], "binary"),
    ("validate: garbage", ["validate", "--calibration", "garbage.db", "--db", "valid.db"], "--calibration"),
    ("fit: unknown component", ["fit", "--model", "tiny-llama", "--component", "gpu2", "--db", "valid.db"],
     "--component"),
    ("fit: someone else's db", ["fit", "--model", "tiny-llama", "--db", "foreign.db"], "not joulebench"),
    ("calibrate: someone else's db", ["calibrate", "llm", "--fit-only", "--db", "foreign.db"], "not joulebench"),
    ("hardware: unknown", ["hardware", "show", "no-such-card"], "no-such-card"),
    ("video: frames not 4k+1", [*VIDEO, "--frames", "84"], "84"),
    ("video: zero height", ["predict", "video", "wan2.1-t2v-1.3b", "--height", "0", "--width", "832", "--frames",
                            "17", "--steps", "2", "--gpu", "h200"], "height"),
    ("serve: garbage url", ["serve-bench", "--url", "garbage", "--model", "m", "--db", "out.db"], "--url"),
    ("serve: bad port", ["serve-bench", "--url", "http://127.0.0.1:99999", "--model", "m", "--db", "out.db"], "--url"),
    ("serve: zero requests", [*SERVE, "--requests", "0"], "--requests"),
    ("serve: unknown arrival", [*SERVE, "--arrival", "weibull:2"], "--arrival"),
    ("serve: binary trace", [*SERVE, "--arrival", "trace:binary.bin"], "--arrival"),
    ("serve: negative prompt salt", [*SERVE, "--prompt-salt", "-1"], "--prompt-salt"),
    ("serve: prompt salt on a file", [*SERVE, "--prompts", "plain_prompts.jsonl", "--prompt-salt", "3"], "--prompt-salt"),
]


def _snapshot(tmp: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted(tmp.rglob("*")):
        if path.is_file():
            out[str(path.relative_to(tmp))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 60
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize(("case", "argv", "needle"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_contract(case: str, argv: list[str], needle: str, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _files(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = _snapshot(tmp_path)
    call: Callable[[], None] = lambda: main(argv)  # noqa: E731 - one call per case
    with pytest.raises(SystemExit) as exit_info:
        call()
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert exit_info.value.code == 2, f"{case}: exit {exit_info.value.code}\n{err}"
    assert len(lines) == 1 and lines[0].startswith("joulebench: error:"), f"{case}: {err}"
    assert needle in lines[0], f"{case}: {lines[0]}"
    assert "Traceback" not in err
    assert _snapshot(tmp_path) == before, f"{case}: files written or changed"
