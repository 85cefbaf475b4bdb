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
import gc
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from joulebench.errors import UsageError
from joulebench.serving.http11 import Http11Pool
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
    max_connections: int = 4096  # httpx transport only
    transport: str = "native"  # "native" (lean asyncio HTTP/1.1, see http11.py) | "httpx"

    def endpoint(self, chat: bool) -> str:
        url = self.url.rstrip("/")
        if url.endswith("/completions"):
            return url
        if not url.endswith("/v1"):
            url += "/v1"
        return url + ("/chat/completions" if chat else "/completions")

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "model": self.model,
            "api": self.api,
            "request_timeout_s": self.request_timeout_s,
            "max_concurrency": self.max_concurrency,
            "max_duration_s": self.max_duration_s,
            "ignore_eos": self.ignore_eos,
            "continuous_usage": self.continuous_usage,
            "transport": self.transport,
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
        payload["messages"] = (
            spec.messages if spec.messages is not None else [{"role": "user", "content": spec.text or ""}]
        )
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
        self.http_ok: bool | None = None

    def set_status(self, status: int) -> None:
        self.http_ok = status == 200

    def feed(self, data: bytes, now_s: float) -> None:
        self.buffer += data
        while True:
            cut = self.buffer.find(b"\n\n")
            if cut < 0:
                return
            event, self.buffer = self.buffer[:cut], self.buffer[cut + 2 :]
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


class _ShardedClients:
    """Several small httpx clients instead of one big pool (``transport="httpx"`` only).

    Why: httpcore's pool rescans every connection on each request (``_assign_requests_to_connections``
    is O(connections) per event), so a single pool with hundreds of open streams spends milliseconds
    per request. Pools of ``SHARD_CONNECTIONS`` connections, each request going to the least-busy one
    (a new pool when all are full), keep the per-request cost flat at any concurrency.
    """

    SHARD_CONNECTIONS = 8

    def __init__(self, timeout: httpx.Timeout, headers: dict[str, str], max_connections: int) -> None:
        self.timeout = timeout
        self.headers = headers
        self.max_shards = max(1, max_connections // self.SHARD_CONNECTIONS)
        self.clients: list[httpx.AsyncClient] = []
        self.busy: list[int] = []
        self._ssl = httpx.create_ssl_context()  # loading CA files costs ~20 ms: once, not per pool

    def acquire(self) -> int:
        best = min(range(len(self.busy)), key=self.busy.__getitem__, default=-1)
        if best < 0 or (self.busy[best] >= self.SHARD_CONNECTIONS and len(self.clients) < self.max_shards):
            limits = httpx.Limits(
                max_connections=self.SHARD_CONNECTIONS, max_keepalive_connections=self.SHARD_CONNECTIONS
            )
            self.clients.append(
                httpx.AsyncClient(limits=limits, timeout=self.timeout, headers=self.headers, verify=self._ssl)
            )
            self.busy.append(0)
            best = len(self.clients) - 1
        self.busy[best] += 1
        return best

    def release(self, shard: int) -> None:
        self.busy[shard] -= 1

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


class LoadClient:
    """Sends ``specs`` at ``targets_s`` (seconds from schedule zero) and records every request."""

    def __init__(self, config: ClientConfig) -> None:
        if config.transport not in ("native", "httpx"):
            raise UsageError(f"--transport '{config.transport}': allowed: native, httpx")
        self.config = config
        self._native: Http11Pool | None = None
        self._httpx: _ShardedClients | None = None
        self._path = ""
        self._url = ""

    async def run(self, specs: Sequence[RequestSpec], targets_s: Sequence[float]) -> LoadResult:
        if len(specs) != len(targets_s):
            raise ValueError("one target time per request spec")
        cfg = self.config
        chat = cfg.api == "chat" or (cfg.api == "auto" and any(s.messages is not None for s in specs))
        self._url = cfg.endpoint(chat)
        parts = urlsplit(self._url)
        self._path = parts.path or "/"
        headers = {"content-type": "application/json"}
        key = api_key_from_env()
        if key:
            headers["authorization"] = f"Bearer {key}"
        if cfg.transport == "native":
            self._native = Http11Pool(f"{parts.scheme}://{parts.netloc}", headers)
        else:
            timeout = httpx.Timeout(cfg.request_timeout_s, connect=min(30.0, cfg.request_timeout_s))
            self._httpx = _ShardedClients(timeout, headers, cfg.max_connections)
        bodies = [json.dumps(build_payload(s, cfg, chat)).encode() for s in specs]
        gc_paused = _pause_gc()  # before t0: a full collection can take longer than the lead
        t0 = time.perf_counter() + START_LEAD_S
        records = [
            RequestRecord(s.index, t0 + t, s.prompt_tokens, s.max_output_tokens)
            for s, t in zip(specs, targets_s, strict=True)
        ]
        deadline = None if cfg.max_duration_s is None else t0 + cfg.max_duration_s
        stopped = False
        semaphore = asyncio.Semaphore(cfg.max_concurrency) if cfg.max_concurrency else None
        tasks: list[asyncio.Task[None]] = []
        try:
            async with asyncio.timeout_at(_loop_deadline(deadline)):
                for record, body in zip(records, bodies, strict=True):
                    await sleep_until(record.target_s)
                    if semaphore is not None:
                        await semaphore.acquire()
                        record.released_s = time.perf_counter()
                    tasks.append(asyncio.create_task(self._one(body, record, semaphore)))
                if tasks:
                    await asyncio.wait(tasks)
        except TimeoutError:
            stopped = True
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks)
        finally:
            _resume_gc(gc_paused)
            if self._native is not None:
                self._native.close()
            if self._httpx is not None:
                await self._httpx.aclose()
        for record in records:
            if record.status == STATUS_INCOMPLETE and record.error is None:
                record.error = "cut by max duration" if stopped else "not sent"
        return LoadResult(records, t0, time.perf_counter(), stopped)

    async def _one(self, body: bytes, record: RequestRecord, semaphore: asyncio.Semaphore | None) -> None:
        record.send_s = time.perf_counter()
        parser = _StreamParser(record)
        try:
            async with asyncio.timeout(self.config.request_timeout_s):
                if self._native is not None:
                    status, error_body = await self._send_native(body, parser)
                else:
                    status, error_body = await self._send_httpx(body, parser)
            record.http_status = status
            record.end_s = time.perf_counter()
            if status != 200:
                detail = error_body[:300].decode(errors="replace")
                record.status, record.error = STATUS_HTTP_ERROR, f"HTTP {status}: {detail}"
                return
            parser.finish()
            if not parser.done:
                record.status, record.error = STATUS_ERROR, "stream ended without [DONE]"
            else:
                record.status = STATUS_OK
        except (TimeoutError, httpx.TimeoutException):
            record.status, record.error = (
                STATUS_TIMEOUT,
                f"no complete answer within {self.config.request_timeout_s} s",
            )
        except asyncio.CancelledError:
            record.status, record.error = STATUS_INCOMPLETE, "cut by max duration"
        except (httpx.HTTPError, json.JSONDecodeError, ValueError, OSError) as exc:
            record.status, record.error = STATUS_ERROR, f"{type(exc).__name__}: {exc}"[:300]
        finally:
            if record.end_s is None and record.status != STATUS_INCOMPLETE:
                record.end_s = time.perf_counter()
            if semaphore is not None:
                semaphore.release()

    async def _send_native(self, body: bytes, parser: _StreamParser) -> tuple[int, bytes]:
        assert self._native is not None
        error_body: list[bytes] = []

        def on_body(data: bytes, now_s: float) -> None:
            # the status is known before the first body byte; error bodies are kept, not parsed as SSE
            if parser.http_ok is False:
                error_body.append(data)
            else:
                parser.feed(data, now_s)

        status = await self._native.post(self._path, body, on_body, on_status=parser.set_status)
        return status, b"".join(error_body)

    async def _send_httpx(self, body: bytes, parser: _StreamParser) -> tuple[int, bytes]:
        assert self._httpx is not None
        shard = self._httpx.acquire()
        try:
            client = self._httpx.clients[shard]
            async with client.stream("POST", self._url, content=body) as response:
                if response.status_code != 200:
                    return response.status_code, await response.aread()
                async for data in response.aiter_raw():
                    parser.feed(data, time.perf_counter())
                return 200, b""
        finally:
            self._httpx.release(shard)


def _pause_gc() -> bool:
    """Freeze what exists and pause the cyclic collector for the bounded load loop.

    Why: a full collection over tens of thousands of live records and tasks stalls the loop for
    10-30 ms, which shows up as dispatch lateness far above the 1 ms budget. Reference counting still
    frees everything acyclic; the collector runs again when the loop ends.
    """
    was_enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    return was_enabled


def _resume_gc(was_enabled: bool) -> None:
    gc.unfreeze()
    if was_enabled:
        gc.enable()


def _loop_deadline(deadline_perf_s: float | None) -> float | None:
    """Convert a perf_counter deadline to the running loop's clock (both monotonic, different origins)."""
    if deadline_perf_s is None:
        return None
    loop = asyncio.get_running_loop()
    return loop.time() + (deadline_perf_s - time.perf_counter())


def run_load(config: ClientConfig, specs: Sequence[RequestSpec], targets_s: Sequence[float]) -> LoadResult:
    """Blocking entry point: run the load on a fresh event loop."""
    return asyncio.run(LoadClient(config).run(specs, targets_s))
