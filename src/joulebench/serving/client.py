"""Async streaming load client for OpenAI-compatible servers (vLLM, TGI, SGLang, ``transformers serve``).

One coroutine dispatches requests at their absolute target times (see `timing.sleep_until`); each
request runs as its own task that streams the SSE response and stamps every event with
``perf_counter``. What goes wrong is recorded as such: an HTTP status other than 200 is
``http_error``, a request past its timeout is ``timeout``, a broken stream is ``error``, and a request
cut by ``max_duration_s`` is ``incomplete``; only ``ok`` requests enter served figures.

The API key is read from the environment (``JOULEBENCH_API_KEY``, then ``OPENAI_API_KEY``) at run time
and sent as a bearer token; it is never stored, logged or placed in a record.

Token counts: ``usage`` (asked for with ``stream_options.include_usage``) gives the output tokens when
the server reports it; otherwise each content event counts as one token (``counted``). When usage says
the events carried more tokens than there were events, the per-event counts are estimated in
proportion to each event's text length and the record says so (``chunk_tokens_estimated``). With
``continuous_usage=True`` (vLLM's ``continuous_usage_stats``) every event carries usage and per-event
counts are exact.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from joulebench.errors import UsageError
from joulebench.serving.prompts import RequestSpec
from joulebench.serving.records import (
    STATUS_ERROR,
    STATUS_HTTP_ERROR,
    STATUS_INCOMPLETE,
    STATUS_OK,
    STATUS_TIMEOUT,
    RequestRecord,
)
from joulebench.serving.timing import sleep_until

API_KEY_ENV_VARS = ("JOULEBENCH_API_KEY", "OPENAI_API_KEY")
START_LEAD_S = 0.05  # time between building the schedule and its first target


@dataclass(frozen=True)
class ClientConfig:
    url: str
    model: str
    api: str = "auto"  # "completions" | "chat" | "auto" (chat when the prompts are chat messages)
    request_timeout_s: float = 600.0
    max_concurrency: int | None = None
    max_duration_s: float | None = None
    ignore_eos: bool = True  # vLLM/SGLang extension so that output lengths are exact
    continuous_usage: bool = False
    max_connections: int = 4096

    def endpoint(self, chat: bool) -> str:
        url = self.url.rstrip("/")
        if url.endswith("/completions"):
            return url
        if not url.endswith("/v1"):
            url += "/v1"
        return url + ("/chat/completions" if chat else "/completions")

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url, "model": self.model, "api": self.api, "request_timeout_s": self.request_timeout_s,
            "max_concurrency": self.max_concurrency, "max_duration_s": self.max_duration_s,
            "ignore_eos": self.ignore_eos, "continuous_usage": self.continuous_usage,
        }


def validate_url(url: str) -> str:
    if not (url.startswith("http://") or url.startswith("https://")):
        raise UsageError(f"--url '{url}': must start with http:// or https://")
    return url


def api_key_from_env() -> str | None:
    for name in API_KEY_ENV_VARS:
        value = os.environ.get(name)
        if value:
            return value
    return None


@dataclass
class LoadResult:
    records: list[RequestRecord]
    t0_s: float  # perf_counter time of schedule zero
    end_s: float  # perf_counter time the load loop returned
    stopped_by_max_duration: bool


def build_payload(spec: RequestSpec, config: ClientConfig, chat: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "model": config.model,
        "max_tokens": spec.max_output_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.0,
    }
    if config.continuous_usage:
        payload["stream_options"]["continuous_usage_stats"] = True
    if config.ignore_eos:
        payload["ignore_eos"] = True
        payload["min_tokens"] = spec.max_output_tokens
    if chat:
        payload["messages"] = spec.messages if spec.messages is not None else [
            {"role": "user", "content": spec.text or ""}
        ]
    else:
        payload["prompt"] = spec.text if spec.text is not None else (spec.token_ids or "")
    return payload


class _StreamParser:
    """Turns SSE bytes into per-event token counts on a record."""

    def __init__(self, record: RequestRecord) -> None:
        self.record = record
        self.buffer = b""
        self.text_lengths: list[int] = []
        self.usage_tokens: int | None = None
        self.exact_counts = False
        self.done = False

    def feed(self, data: bytes, now_s: float) -> None:
        self.buffer += data
        while True:
            cut = self.buffer.find(b"\n\n")
            if cut < 0:
                return
            event, self.buffer = self.buffer[:cut], self.buffer[cut + 2:]
            for line in event.split(b"\n"):
                line = line.strip()
                if line.startswith(b"data:"):
                    self._event(line[5:].strip(), now_s)

    def _event(self, data: bytes, now_s: float) -> None:
        if data == b"[DONE]":
            self.done = True
            return
        obj = json.loads(data)
        usage = obj.get("usage")
        text = ""
        for choice in obj.get("choices") or ():
            delta = choice.get("delta")
            piece = (delta.get("content") if delta else choice.get("text")) or ""
            text += piece
        if usage and usage.get("completion_tokens") is not None:
            previous = self.usage_tokens or 0
            self.usage_tokens = int(usage["completion_tokens"])
            if usage.get("prompt_tokens") is not None:
                self.record.prompt_tokens = int(usage["prompt_tokens"])
            if text and self.usage_tokens > previous:
                self.exact_counts = True
                self.record.add_chunk(now_s, self.usage_tokens - previous)
                self.text_lengths.append(len(text))
                return
        if text:
            self.record.add_chunk(now_s, 1)
            self.text_lengths.append(len(text))

    def finish(self) -> None:
        rec = self.record
        counted = sum(rec.chunk_tokens)
        if self.usage_tokens is None:
            rec.output_tokens = counted
            rec.output_tokens_source = "counted"
            return
        rec.output_tokens = self.usage_tokens
        rec.output_tokens_source = "usage"
        if not self.exact_counts and self.usage_tokens != counted and rec.chunk_tokens:
            rec.chunk_tokens = _split_by_length(self.usage_tokens, self.text_lengths)
            rec.chunk_tokens_estimated = True


def _split_by_length(total: int, lengths: Sequence[int]) -> list[int]:
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


class LoadClient:
    """Sends ``specs`` at ``targets_s`` (seconds from schedule zero) and records every request."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config

    async def run(self, specs: Sequence[RequestSpec], targets_s: Sequence[float]) -> LoadResult:
        if len(specs) != len(targets_s):
            raise ValueError("one target time per request spec")
        cfg = self.config
        chat = cfg.api == "chat" or (cfg.api == "auto" and any(s.messages is not None for s in specs))
        url = cfg.endpoint(chat)
        headers = {"content-type": "application/json"}
        key = api_key_from_env()
        if key:
            headers["authorization"] = f"Bearer {key}"
        limits = httpx.Limits(max_connections=cfg.max_connections, max_keepalive_connections=cfg.max_connections)
        timeout = httpx.Timeout(cfg.request_timeout_s, connect=min(30.0, cfg.request_timeout_s))
        bodies = [json.dumps(build_payload(s, cfg, chat)).encode() for s in specs]
        t0 = time.perf_counter() + START_LEAD_S
        records = [RequestRecord(s.index, t0 + t, s.prompt_tokens, s.max_output_tokens)
                   for s, t in zip(specs, targets_s, strict=True)]
        deadline = None if cfg.max_duration_s is None else t0 + cfg.max_duration_s
        stopped = False
        async with httpx.AsyncClient(limits=limits, timeout=timeout, headers=headers) as client:
            semaphore = asyncio.Semaphore(cfg.max_concurrency) if cfg.max_concurrency else None
            tasks: list[asyncio.Task[None]] = []
            try:
                async with asyncio.timeout_at(_loop_deadline(deadline)):
                    for record, body in zip(records, bodies, strict=True):
                        await sleep_until(record.target_s)
                        if semaphore is not None:
                            await semaphore.acquire()
                        record.released_s = time.perf_counter()
                        tasks.append(asyncio.create_task(self._one(client, url, body, record, semaphore)))
                    if tasks:
                        await asyncio.wait(tasks)
            except TimeoutError:
                stopped = True
                for task in tasks:
                    task.cancel()
                if tasks:
                    await asyncio.wait(tasks)
        for record in records:
            if record.status == STATUS_INCOMPLETE and record.error is None:
                record.error = "cut by max duration" if stopped else "not sent"
        return LoadResult(records, t0, time.perf_counter(), stopped)

    async def _one(self, client: httpx.AsyncClient, url: str, body: bytes, record: RequestRecord,
                   semaphore: asyncio.Semaphore | None) -> None:
        record.send_s = time.perf_counter()
        parser = _StreamParser(record)
        try:
            async with asyncio.timeout(self.config.request_timeout_s):
                async with client.stream("POST", url, content=body) as response:
                    record.http_status = response.status_code
                    if response.status_code != 200:
                        detail = (await response.aread())[:300].decode(errors="replace")
                        record.status, record.error = STATUS_HTTP_ERROR, f"HTTP {response.status_code}: {detail}"
                        return
                    async for data in response.aiter_raw():
                        parser.feed(data, time.perf_counter())
            record.end_s = time.perf_counter()
            parser.finish()
            if not parser.done:
                record.status, record.error = STATUS_ERROR, "stream ended without [DONE]"
            else:
                record.status = STATUS_OK
        except (TimeoutError, httpx.TimeoutException):
            record.status, record.error = STATUS_TIMEOUT, f"no complete answer within {self.config.request_timeout_s} s"
        except asyncio.CancelledError:
            record.status, record.error = STATUS_INCOMPLETE, "cut by max duration"
        except (httpx.HTTPError, json.JSONDecodeError, ValueError, OSError) as exc:
            record.status, record.error = STATUS_ERROR, f"{type(exc).__name__}: {exc}"[:300]
        finally:
            if record.end_s is None and record.status != STATUS_INCOMPLETE:
                record.end_s = time.perf_counter()
            if semaphore is not None:
                semaphore.release()


def _loop_deadline(deadline_perf_s: float | None) -> float | None:
    """Convert a perf_counter deadline to the running loop's clock (both monotonic, different origins)."""
    if deadline_perf_s is None:
        return None
    loop = asyncio.get_running_loop()
    return loop.time() + (deadline_perf_s - time.perf_counter())


def run_load(config: ClientConfig, specs: Sequence[RequestSpec], targets_s: Sequence[float]) -> LoadResult:
    """Blocking entry point: run the load on a fresh event loop."""
    return asyncio.run(LoadClient(config).run(specs, targets_s))
