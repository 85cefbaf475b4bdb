"""From the events of one streamed completion to the tokens of its record, cross-checked and bounded.

Token counts: ``usage`` (asked for with ``stream_options.include_usage``) gives the output tokens when
the server reports it; otherwise each content event counts as one token (``counted``). When usage says
the events carried more tokens than there were events, the per-event counts are estimated in
proportion to each event's text length and the record says so (``chunk_tokens_estimated``). With
``continuous_usage`` (vLLM's ``continuous_usage_stats``) every event carries usage and per-event counts
are exact.

A stream is complete at ``data: [DONE]`` (OpenAI, vLLM, TGI) or, once the HTTP body ended cleanly, after
an event with a ``finish_reason`` (``transformers serve`` sends no ``[DONE]``); a body cut mid-way is a
transport error before this point.

Why cross-check: a server's ``usage`` is a claim. Each content event carries at least one token and a
server with exact lengths never sends more than ``max_tokens``, so a usage count outside
[content events, max_tokens] is impossible; it is then *flagged* on the record and the tokens streamed
are used instead (a lying ``usage`` of 1e9 once grew a run to 18.9 GB and ran 160 s past its time
bound; a negative one failed a whole arm). A flagged request is still served: its times are real.

Why bounds: every request may receive at most ``max_events`` events and ``max_bytes`` bytes (both
scale with the tokens asked); past them the stream is an error, so no server can make a run grow
memory or run on without end.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from joulebench.serving.records import RequestRecord
from joulebench.serving.sse import SseError, SseParser

EVENTS_PER_TOKEN = 4  # role, content, finish and usage events around the tokens; generous
BASE_EVENTS = 64
BYTES_PER_TOKEN = 8192  # a verbose event per token with logprobs is ~1-2 KB
BASE_BYTES = 1 << 20


class StreamBoundExceeded(SseError):
    """A server sent more than any honest answer to this request could hold."""


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class StreamAccount:
    """Turns one response's SSE bytes into token chunks on ``record``; `finish` cross-checks usage."""

    def __init__(self, record: RequestRecord, continuous_usage: bool = False) -> None:
        self.record = record
        self.asked = max(1, record.max_output_tokens)
        self.sse = SseParser()
        self.max_events = BASE_EVENTS + EVENTS_PER_TOKEN * self.asked
        self.max_bytes = BASE_BYTES + BYTES_PER_TOKEN * self.asked
        self.received_bytes = 0
        self.text_lengths: list[int] = []
        self.usage_tokens: Any = None
        self.usage_prompt: Any = None
        self.exact_counts = False
        self.continuous_usage = continuous_usage
        self.done = False
        self.finish_reason: str | None = None
        self.server_error: str | None = None

    def feed(self, data: bytes, now_s: float) -> None:
        self.received_bytes += len(data)
        if self.received_bytes > self.max_bytes:
            raise StreamBoundExceeded(
                f"server sent more than {self.max_bytes} bytes for {self.asked} tokens asked; stream cut"
            )
        for payload in self.sse.feed(data):
            if self.sse.events > self.max_events:
                raise StreamBoundExceeded(
                    f"server sent more than {self.max_events} events for {self.asked} tokens asked; stream cut"
                )
            self._event(payload.strip(), now_s)

    def _event(self, data: bytes, now_s: float) -> None:
        if data == b"[DONE]":
            self.done = True
            return
        if self.done:
            return
        try:
            obj = json.loads(data)
        except (json.JSONDecodeError, RecursionError, UnicodeDecodeError):
            raise SseError(f"an event's data is not JSON: {data[:60]!r}") from None
        if not isinstance(obj, dict):
            raise SseError(f"an event's data is a JSON {type(obj).__name__}, not an object")
        if obj.get("error") is not None:
            self.server_error = str(obj["error"])[:300]
            return
        text = _event_text(obj)
        self.finish_reason = _finish_reason(obj) or self.finish_reason
        usage = obj.get("usage")
        if isinstance(usage, dict):
            self._usage(usage)
            now_total = _int_or_none(self.usage_tokens)
            if self.continuous_usage and text and now_total is not None:
                previous = sum(self.record.chunk_tokens)
                if 0 < now_total - previous <= self.asked:
                    self.exact_counts = True
                    self.record.add_chunk(now_s, now_total - previous)
                    self.text_lengths.append(len(text))
                    return
        if text:
            if len(self.record.chunk_tokens) >= self.asked:
                raise StreamBoundExceeded(f"server streamed more content events than the {self.asked} tokens asked")
            self.record.add_chunk(now_s, 1)
            self.text_lengths.append(len(text))

    def _usage(self, usage: dict[str, Any]) -> None:
        if "completion_tokens" in usage:
            self.usage_tokens = usage["completion_tokens"]
        if "prompt_tokens" in usage:
            self.usage_prompt = usage["prompt_tokens"]
        details = usage.get("prompt_tokens_details")
        cached = _int_or_none(details.get("cached_tokens")) if isinstance(details, dict) else None
        if cached is not None and cached >= 0:
            self.record.cached_prompt_tokens = cached

    def finish(self) -> str | None:
        """Settle the token counts; returns why the response is not a served request, or None."""
        rec = self.record
        if self.server_error is not None:
            return f"server reported an error in the stream: {self.server_error}"
        if not self.done and self.finish_reason is None:
            if self.sse.events == 0 and self.sse.stray_lines:
                return (f"no SSE 'data:' events in the response ({self.sse.stray_lines} lines without a field "
                        "name the spec knows)")
            return "stream ended without [DONE] or a finish_reason"
        counted = sum(rec.chunk_tokens)
        if counted == 0:
            detail = f"; {self.sse.stray_lines} lines without a 'data:' prefix" if self.sse.stray_lines else ""
            return f"stream finished with no content tokens for {self.asked} asked{detail}"
        self._prompt_check()
        usage = self.usage_tokens
        if usage is None:
            rec.output_tokens, rec.output_tokens_source = counted, "counted"
            return None
        events = len(rec.chunk_tokens)
        value = _int_or_none(usage)
        problem = None
        if value is None:
            problem = f"usage.completion_tokens={usage!r} is not an integer"
        elif value < 0:
            problem = f"usage.completion_tokens={value} is negative"
        elif value < events:
            problem = f"usage.completion_tokens={value} is below the {events} content events streamed"
        elif value > self.asked:
            problem = f"usage.completion_tokens={value} is above the {self.asked} tokens asked"
        if problem is not None:
            rec.flags.append(f"{problem}; the {counted} tokens streamed are used")
            rec.output_tokens, rec.output_tokens_source = counted, "counted"
            return None
        assert value is not None
        rec.output_tokens, rec.output_tokens_source = value, "usage"
        if not self.exact_counts and value != counted:
            rec.chunk_tokens = split_by_length(value, self.text_lengths)
            rec.chunk_tokens_estimated = True
        return None

    def _prompt_check(self) -> None:
        rec = self.record
        if self.usage_prompt is None:
            return
        value = _int_or_none(self.usage_prompt)
        # text prompts are sized in words, so only impossible counts are flagged, not a tokenizer's own
        limit = 100 * rec.prompt_tokens_requested + 1000
        if value is None or value < 0 or value > limit:
            rec.flags.append(
                f"usage.prompt_tokens={self.usage_prompt!r} is impossible for a prompt of about "
                f"{rec.prompt_tokens_requested} tokens; the requested length is used"
            )
            return
        rec.prompt_tokens = value
        if rec.cached_prompt_tokens is not None and rec.cached_prompt_tokens > value:
            rec.flags.append(f"cached_tokens={rec.cached_prompt_tokens} exceeds prompt_tokens={value}; dropped")
            rec.cached_prompt_tokens = None


def _finish_reason(obj: dict[str, Any]) -> str | None:
    choices = obj.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        if isinstance(choice, dict) and isinstance(choice.get("finish_reason"), str):
            return str(choice["finish_reason"])
    return None


def _event_text(obj: dict[str, Any]) -> str:
    text = ""
    choices = obj.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        piece = (delta.get("content") if isinstance(delta, dict) else choice.get("text")) or ""
        text += piece if isinstance(piece, str) else ""
    return text


def split_by_length(total: int, lengths: Sequence[int]) -> list[int]:
    """Integer split of ``total`` over events in proportion to their text length (largest remainder),
    at least one token per event when ``total`` allows."""
    n = len(lengths)
    if total <= n:
        return [1] * total + [0] * (n - total)
    weights = [max(1, x) for x in lengths]
    scale = (total - n) / sum(weights)
    raw = [w * scale for w in weights]
    base = [int(r) for r in raw]
    order = sorted(range(n), key=lambda i: raw[i] - base[i], reverse=True)
    for i in order[: (total - n) - sum(base)]:
        base[i] += 1
    return [b + 1 for b in base]
