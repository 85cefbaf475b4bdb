"""serve-bench against a REAL loopback server that misbehaves on purpose (issue 16, serving parts)."""

from __future__ import annotations

import json
import re
import sqlite3
import time

import pytest

from joulebench.serving.arrivals import parse_arrival, schedule
from joulebench.serving.client import CANCEL_GRACE_S, ClientConfig, run_load
from joulebench.serving.metrics import itl_per_token_s, summarize
from joulebench.serving.prompts import parse_lengths, parse_prompts
from joulebench.store import Store
from tests.loopback_server import ServerConfig, StreamingTestServer
from tests.serving_helpers import run_cli


@pytest.fixture(scope="module")
def server():
    with StreamingTestServer(ServerConfig(itl_s=0.001)) as srv:
        yield srv


def load(srv, model: str, n: int = 3, outputs: str = "5", **kwargs):
    specs = parse_prompts("synthetic:8").build(n, parse_lengths(outputs, "o"), seed=0)
    return run_load(ClientConfig(srv.url, model, **kwargs), specs, schedule(parse_arrival("fixed:5ms"), n))


def bench(srv, db, model: str, *extra: str) -> list[str]:
    return ["serve-bench", "--url", srv.url, "--model", model, "--requests", "3", "--arrival", "fixed:10ms",
            "--prompts", "synthetic:8", "--output-tokens", "4", "--db", str(db), "--json", *extra]


@pytest.mark.parametrize("model, extra, status", [
    ("fail-500", [], "http_error"),
    ("hang", ["--request-timeout", "0.3s"], "timeout"),
    ("redirect", [], "redirected"),
])
def test_every_request_failed_exits_1_and_is_not_resumed(server, tmp_path, capsys, model, extra, status) -> None:
    db = tmp_path / "r.db"
    assert run_cli(bench(server, db, model, *extra)) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["metrics"]["completed"] == 0 and doc["metrics"]["status_counts"] == {status: 3}
    assert doc["check_failures"] and "no request served" in doc["check_failures"][0]
    with Store(db) as store:
        (point,) = store.points(kind="serving")
        assert point.status == "failed" and len(store.records(point.id)) == 3  # kept, not served
    sent = server.stats.requests
    assert run_cli(bench(server, db, model, *extra)) == 1  # measured again, not resumed as served
    assert server.stats.requests == sent + 3
    assert "resumed_from_store" not in json.loads(capsys.readouterr().out)


def test_crlf_framed_events_are_read(server) -> None:
    result = load(server, "crlf", outputs="6")
    assert [r.status for r in result.records] == ["ok"] * 3
    assert all(r.output_tokens == 6 and r.output_tokens_source == "usage" for r in result.records)


def test_events_without_data_prefix_are_not_completed_with_zero_tokens(server) -> None:
    result = load(server, "no-data-prefix")
    assert all(r.status == "error" for r in result.records)
    assert all("data:" in r.error for r in result.records)
    assert summarize(result.records)["completed"] == 0


@pytest.mark.parametrize("model, fragment", [
    ("huge-usage", "above the 5 tokens asked"),
    ("lying-usage", "above the 5 tokens asked"),
    ("low-usage", "below the 5 content events"),
    ("negative-usage", "is negative"),
])
def test_impossible_usage_is_flagged_and_the_streamed_tokens_used(server, model, fragment) -> None:
    result = load(server, model)
    assert [r.status for r in result.records] == ["ok"] * 3  # served: the times are real
    for r in result.records:
        assert r.output_tokens == 5 and r.output_tokens_source == "counted"
        assert len(r.flags) == 1 and fragment in r.flags[0]
        assert len(itl_per_token_s(r)) == 4  # no per-token list sized by the lie
    summary = summarize(result.records)
    assert summary["flagged"] == 3 and any("cross-check" in w for w in summary["warnings"])


def test_negative_usage_keeps_the_arm_and_its_records(server, tmp_path, capsys) -> None:
    db = tmp_path / "r.db"
    assert run_cli(bench(server, db, "negative-usage")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["metrics"]["completed"] == 3 and doc["metrics"]["flagged"] == 3 and not doc["check_failures"]
    with Store(db) as store:
        (point,) = store.points(kind="serving", status="ok")
        rows = store.records(point.id, "requests")
        assert len(rows) == 3 and all(r["flags"] for r in rows)


@pytest.mark.parametrize("model, outputs, max_s, fragment", [
    ("endless", "4000", 1.5, "cut by max duration"),  # slower than the bound: the wall clock ends it
    ("endless", "4", 30.0, "more content events than the 4 tokens asked"),
    ("endless-line", "4", 30.0, "line grew past|bytes for 4 tokens asked"),  # whichever bound comes first
    ("empty-events", "4", 30.0, "more than 80 events"),
])
def test_endless_servers_are_bounded_in_time_and_memory(server, model, outputs, max_s, fragment) -> None:
    started = time.perf_counter()
    result = load(server, model, n=2, outputs=outputs, max_duration_s=max_s)
    assert result.end_s - started < max_s + CANCEL_GRACE_S + 5.0  # the hard bound, with its own grace
    assert all(r.status in ("incomplete", "error") for r in result.records)
    assert all(re.search(fragment, r.error or "") for r in result.records), [r.error for r in result.records]
    assert all(len(r.chunk_times_s) <= int(outputs) for r in result.records)


def _db_text(db) -> str:
    conn = sqlite3.connect(db)
    try:
        rows = []
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            rows += [json.dumps(list(r), default=str) for r in conn.execute(f"SELECT * FROM {table}")]
    finally:
        conn.close()
    return "\n".join(rows)


def test_an_echoed_api_key_is_never_stored_or_printed(server, tmp_path, capsys, monkeypatch) -> None:
    secret = "sk-test-4f9a8b7c6d5e"
    monkeypatch.setenv("JOULEBENCH_API_KEY", secret)
    db = tmp_path / "r.db"
    assert run_cli(bench(server, db, "echo-auth")) == 1
    captured = capsys.readouterr()
    assert "HTTP 401" in captured.out
    assert secret not in captured.out + captured.err
    assert "Bearer sk" not in captured.out
    blob = _db_text(db)
    assert "HTTP 401" in blob and secret not in blob and "4f9a8b7c6d5e" not in blob


def test_a_markup_arm_name_prints_and_stores(server, tmp_path, capsys) -> None:
    db = tmp_path / "r.db"
    argv = [a for a in bench(server, db, "m") if a != "--json"] + ["--name", "[/x] [bold]"]
    assert run_cli(argv) == 0
    assert "[/x] [bold]" in capsys.readouterr().out
    with Store(db) as store:
        assert [p.config["name"] for p in store.points(kind="serving")] == ["[/x] [bold]"]
