"""The streaming client against a real local HTTP server on loopback: tokens, usage, errors, timeouts."""

from __future__ import annotations

import json

import pytest

from joulebench.serving.arrivals import parse_arrival, schedule
from joulebench.serving.client import ClientConfig, run_load
from joulebench.serving.metrics import check_failures, itl_per_token_s, parse_slo, summarize
from joulebench.serving.prompts import parse_lengths, parse_prompts
from joulebench.serving.stream import split_by_length
from tests.loopback_server import ServerConfig, StreamingTestServer


def _run(
    server: StreamingTestServer,
    n: int = 4,
    arrival: str = "fixed:10ms",
    outputs: str = "5",
    prompts: str = "synthetic:12",
    **kwargs,
):
    specs = parse_prompts(prompts).build(n, parse_lengths(outputs, "o"), seed=0)
    config = ClientConfig(server.url, kwargs.pop("model", "m"), **kwargs)
    return run_load(config, specs, schedule(parse_arrival(arrival), n))


@pytest.fixture()
def server():
    with StreamingTestServer(ServerConfig(ttft_s=0.01, itl_s=0.002)) as srv:
        yield srv


def test_completions_stream_records_every_token(server) -> None:
    result = _run(server)
    assert [r.status for r in result.records] == ["ok"] * 4
    for r in result.records:
        assert r.output_tokens == 5 and r.output_tokens_source == "usage"
        assert r.prompt_tokens == 12
        assert r.chunk_tokens == [1] * 5
        assert r.send_s <= r.first_token_s <= r.chunk_times_s[-1] <= r.end_s
        assert r.first_token_s - r.send_s >= 0.009  # the server's TTFT
        assert len(itl_per_token_s(r)) == 4
    summary = summarize(result.records)
    assert summary["completed"] == 4 and summary["output_tokens"] == 20
    assert summary["tpot_s"]["median"] >= 0.0015


def test_chat_messages_from_jsonl(server, tmp_path) -> None:
    path = tmp_path / "chat.jsonl"
    path.write_text(
        json.dumps({"messages": [{"role": "user", "content": "one two three"}], "max_tokens": 3}) + "\n"
    )
    result = _run(server, n=2, prompts=str(path))
    assert all(r.ok and r.output_tokens == 3 and r.prompt_tokens == 3 for r in result.records)


def test_multi_token_chunks_are_split_honestly() -> None:
    with StreamingTestServer(ServerConfig(tokens_per_chunk=3, itl_s=0.002)) as srv:
        result = _run(srv, n=2, outputs="7")
    r = result.records[0]
    assert r.output_tokens == 7 and sum(r.chunk_tokens) == 7 and len(r.chunk_times_s) == 3
    assert r.chunk_tokens_estimated
    itl = itl_per_token_s(r)
    assert len(itl) == 6 and itl.count(0.0) >= 3  # tokens that arrived together get 0, not a made-up gap


def test_without_usage_tokens_are_counted() -> None:
    with StreamingTestServer(ServerConfig(report_usage=False)) as srv:
        result = _run(srv, n=2, outputs="4")
    assert all(r.ok and r.output_tokens == 4 and r.output_tokens_source == "counted" for r in result.records)


def test_server_errors_are_counted_not_served() -> None:
    with StreamingTestServer(ServerConfig(fail_every=2)) as srv:
        result = _run(srv, n=6)
    statuses = [r.status for r in result.records]
    assert statuses.count("http_error") == 3 and statuses.count("ok") == 3
    failed = [r for r in result.records if not r.ok]
    assert all(r.http_status == 500 and "injected failure" in r.error for r in failed)
    summary = summarize(result.records)
    assert summary["completed"] == 3 and summary["failed"] == 3
    assert summary["ttft_s"]["count"] == 3 and summary["output_tokens"] == 15
    # figures over the half that was served are no answer: the arm fails its own check (stored, kept)
    assert check_failures(summary) == ["3 of 6 requests failed (3 http_error, 3 ok)"]
    assert check_failures(summarize(result.records[:1])) == []  # request 1 was served


def test_timeouts_and_dropped_streams(server) -> None:
    hung = _run(server, n=2, model="hang", request_timeout_s=0.3)
    assert [r.status for r in hung.records] == ["timeout", "timeout"]
    dropped = _run(server, n=2, model="drop")
    assert all(r.status == "error" for r in dropped.records)
    assert summarize(hung.records + dropped.records)["completed"] == 0


def test_max_duration_cuts_the_run() -> None:
    with StreamingTestServer(ServerConfig(itl_s=0.05)) as srv:
        result = _run(srv, n=5, arrival="fixed:100ms", outputs="20", max_duration_s=0.25)
    assert result.stopped_by_max_duration
    assert all(r.status == "incomplete" for r in result.records)
    assert sum(r.send_s is None for r in result.records) >= 2  # the last ones were never sent


def test_concurrency_cap_waits_are_not_lateness() -> None:
    with StreamingTestServer(ServerConfig(ttft_s=0.03)) as srv:
        result = _run(srv, n=4, arrival="burst", max_concurrency=1, outputs="2")
    summary = summarize(result.records)
    assert summary["completed"] == 4
    assert summary["cap_wait_s"]["max"] > 0.05
    assert summary["lateness_s"]["p99"] < 0.02
    sends = [r.send_s for r in result.records]
    assert sends == sorted(sends)


def test_api_key_is_sent_but_never_recorded(server, monkeypatch) -> None:
    monkeypatch.setenv("JOULEBENCH_API_KEY", "sk-secret-123")
    result = _run(server, n=2)
    assert server.stats.authorized >= 2
    blob = json.dumps([r.to_dict(result.t0_s) for r in result.records])
    assert "sk-secret" not in blob


def test_goodput_under_slo(server) -> None:
    result = _run(server, n=4)
    assert summarize(result.records, parse_slo("ttft:1s,tpot:1s"))["good_requests"] == 4
    assert summarize(result.records, parse_slo("ttft:1ms"))["good_requests"] == 0


def test_split_by_length_is_exact() -> None:
    assert sum(split_by_length(10, [4, 4, 8])) == 10
    assert split_by_length(2, [3, 3, 3]) == [1, 1, 0]
