"""The event-stream parser (WHATWG framing: CRLF, LF, CR, split anywhere) and secret redaction."""

from __future__ import annotations

import pytest

from joulebench.serving.secrets import MASK, Redactor
from joulebench.serving.sse import SseError, SseParser

STREAM = b'data: {"a":1}\r\n\r\n: comment\n\ndata: x\r\rdata: y\r\revent: e\nid: 7\ndata: [DONE]\n\n'


def test_every_line_end_of_the_spec_frames_events() -> None:
    parser = SseParser()
    assert parser.feed(STREAM) == [b'{"a":1}', b"x", b"y", b"[DONE]"]
    assert parser.stray_lines == 0 and parser.events == 4


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_split_anywhere_gives_the_same_events(size: int) -> None:
    parser = SseParser()
    out = []
    for i in range(0, len(STREAM), size):
        out += parser.feed(STREAM[i : i + size])
    assert out == [b'{"a":1}', b"x", b"y", b"[DONE]"]


def test_multi_line_data_joins_with_lf_and_incomplete_events_wait() -> None:
    parser = SseParser()
    assert parser.feed(b"data: one\ndata:two\n") == []
    assert parser.feed(b"\n") == [b"one\ntwo"]
    assert parser.feed(b"data: cut at the end") == []  # discarded unless a blank line comes


def test_lines_without_a_known_field_are_counted_not_parsed() -> None:
    parser = SseParser()
    assert parser.feed(b'{"choices": []}\n\n{"choices": []}\n\n') == []
    assert parser.stray_lines == 2 and parser.events == 0


def test_a_line_without_end_is_bounded() -> None:
    parser = SseParser(max_line_bytes=1000)
    parser.feed(b"data: " + b"x" * 900)
    with pytest.raises(SseError, match="1000 bytes"):
        parser.feed(b"x" * 200)


def test_redaction_by_value_and_by_pattern(monkeypatch) -> None:
    monkeypatch.setenv("JOULEBENCH_API_KEY", "plainsecretvalue")
    redact = Redactor(["sk-given-123456"])
    text = ('HTTP 401: {"error": "invalid plainsecretvalue", "api_key": "abc123", "auth": "Bearer xyz.789"} '
            "sk-given-123456 sk-other-abcdef hf_abcdefghijkl --api-key topsecret --token=t0k http://u:pw@host/x")
    out = redact.text(text)
    for secret in ("plainsecretvalue", "abc123", "xyz.789", "sk-given", "sk-other", "hf_abc", "topsecret", "t0k", "u:pw"):
        assert secret not in out, secret
    assert out.count(MASK) >= 9 and "HTTP 401" in out and "http://" in out
    assert redact.deep({"k": ["Bearer abc", {"sk-given-123456": 1}], "n": 3}) == {
        "k": [f"Bearer {MASK}", {MASK: 1}], "n": 3}
