"""A small OpenAI-compatible streaming server on asyncio streams, for tests and client benchmarks.

Why our own: the tests must exercise the client against a real HTTP server on loopback (real sockets,
real chunked transfer encoding, real SSE framing), and no ASGI server is a dependency. Standard library
only; HTTP/1.1 with keep-alive, just enough of the protocol for ``/v1/completions`` and
``/v1/chat/completions`` (``stream`` true or false, ``stream_options.include_usage``).

Behaviour knobs (`ServerConfig`): time to first token, gap between chunks, tokens per chunk, whether
usage is reported, failing every n-th request. The ``model`` field of a request can ask for a failure:
``fail-500`` answers 500, ``hang`` never answers (client timeouts), ``drop`` closes the connection
mid-stream. Prompt tokens are counted as whitespace-separated words (the synthetic prompts use
one-token words), output tokens are ``max_tokens``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}


@dataclass
class ServerConfig:
    ttft_s: float = 0.0
    itl_s: float = 0.0
    tokens_per_chunk: int = 1
    report_usage: bool = True
    default_max_tokens: int = 16
    fail_every: int = 0  # every n-th request (1-based count) answers 500; 0 = never
    metrics_text: Callable[[], str] | None = None  # served at GET /metrics (e.g. DCGM-looking text)


@dataclass
class ServerStats:
    requests: int = 0
    streamed: int = 0
    errors: int = 0
    authorized: int = 0  # requests that carried a bearer token (the token itself is not kept)


class _Handler:
    def __init__(self, config: ServerConfig, stats: ServerStats) -> None:
        self.config = config
        self.stats = stats

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                method, path, body, has_auth = request
                self.stats.authorized += has_auth
                keep = await self._dispatch(method, path, body, writer)
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _dispatch(self, method: str, path: str, body: bytes, writer: asyncio.StreamWriter) -> bool:
        if method == "GET" and path == "/health":
            _write_json(writer, 200, {"status": "ok"})
            return True
        if method == "GET" and path == "/metrics" and self.config.metrics_text is not None:
            _write_body(writer, 200, self.config.metrics_text().encode(), "text/plain; version=0.0.4")
            return True
        if method != "POST" or path not in ("/v1/completions", "/v1/chat/completions"):
            _write_json(writer, 404, {"error": {"message": f"no route {method} {path}"}})
            return True
        self.stats.requests += 1
        try:
            payload = json.loads(body or b"{}")
        except json.JSONDecodeError:
            _write_json(writer, 400, {"error": {"message": "body is not JSON"}})
            return True
        model = str(payload.get("model", ""))
        if model == "fail-500" or (
            self.config.fail_every and self.stats.requests % self.config.fail_every == 0
        ):
            self.stats.errors += 1
            _write_json(writer, 500, {"error": {"message": "injected failure"}})
            return True
        if model == "hang":
            await asyncio.sleep(3600)
            return False
        chat = path.endswith("chat/completions")
        prompt_tokens = _prompt_tokens(payload, chat)
        max_tokens = int(
            payload.get("max_tokens")
            or payload.get("max_completion_tokens")
            or self.config.default_max_tokens
        )
        if not payload.get("stream"):
            await asyncio.sleep(self.config.ttft_s + self.config.itl_s * max(0, max_tokens - 1))
            _write_json(writer, 200, _full_response(model, chat, prompt_tokens, max_tokens))
            return True
        self.stats.streamed += 1
        include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
        await self._stream(writer, model, chat, prompt_tokens, max_tokens, include_usage)
        return model != "drop"

    async def _stream(
        self,
        writer: asyncio.StreamWriter,
        model: str,
        chat: bool,
        prompt_tokens: int,
        max_tokens: int,
        include_usage: bool,
    ) -> None:
        cfg = self.config
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\ncache-control: no-cache\r\n\r\n"
        )
        if chat:
            writer.write(_chunk(_event({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})))
        if cfg.ttft_s > 0:
            await writer.drain()
            await asyncio.sleep(cfg.ttft_s)
        sent = 0
        k = max(1, cfg.tokens_per_chunk)
        while sent < max_tokens:
            n = min(k, max_tokens - sent)
            text = " tok" * n
            choice: dict[str, Any] = {"index": 0, "finish_reason": None}
            if chat:
                choice["delta"] = {"content": text}
            else:
                choice["text"] = text
            sent += n
            if sent >= max_tokens:
                choice["finish_reason"] = "length"
            writer.write(_chunk(_event({"id": "cmpl-test", "model": model, "choices": [choice]})))
            if model == "drop" and sent >= min(2, max_tokens):
                await writer.drain()
                writer.transport.abort()
                return
            if cfg.itl_s > 0 and sent < max_tokens:
                await writer.drain()
                await asyncio.sleep(cfg.itl_s)
        if include_usage and cfg.report_usage:
            usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": max_tokens,
                "total_tokens": prompt_tokens + max_tokens,
            }
            writer.write(_chunk(_event({"id": "cmpl-test", "model": model, "choices": [], "usage": usage})))
        writer.write(_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await writer.drain()


def _prompt_tokens(payload: dict[str, Any], chat: bool) -> int:
    if chat:
        return sum(len(str(m.get("content", "")).split()) for m in payload.get("messages", []))
    prompt = payload.get("prompt", "")
    return len(prompt) if isinstance(prompt, list) else len(str(prompt).split())


def _full_response(model: str, chat: bool, prompt_tokens: int, max_tokens: int) -> dict[str, Any]:
    text = " tok" * max_tokens
    choice = {"index": 0, "finish_reason": "length"}
    choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": max_tokens,
        "total_tokens": prompt_tokens + max_tokens,
    }
    return {"id": "cmpl-test", "model": model, "choices": [choice], "usage": usage}


def _event(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _write_body(writer: asyncio.StreamWriter, status: int, body: bytes, content_type: str) -> None:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\ncontent-type: {content_type}\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)


def _write_json(writer: asyncio.StreamWriter, status: int, obj: dict[str, Any]) -> None:
    _write_body(writer, status, json.dumps(obj).encode(), "application/json")


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes, bool] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) < 2:
        return None
    length = 0
    has_auth = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "authorization":
            has_auth = value.strip().lower().startswith("bearer ")
    body = await reader.readexactly(length) if length else b""
    return parts[0], parts[1].split("?")[0], body, has_auth


class StreamingTestServer:
    """Runs the server on its own event loop in a daemon thread; ``url`` is ``http://127.0.0.1:PORT``."""

    def __init__(self, config: ServerConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or ServerConfig()
        self.stats = ServerStats()
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> StreamingTestServer:
        self._thread = threading.Thread(target=self._run, name="joulebench-testserver", daemon=True)
        self._thread.start()
        if not self._ready.wait(10.0):
            raise RuntimeError("test server did not start within 10 s")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._server = loop.run_until_complete(
            asyncio.start_server(_Handler(self.config, self.stats), self.host, self.port, backlog=4096)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5.0)
            self._thread = None

    def __enter__(self) -> StreamingTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def serve_forever(
    config: ServerConfig,
    host: str = "127.0.0.1",
    port: int = 8000,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Serve on the current loop until cancelled (used by ``benchmarks/stream_server.py``)."""
    server = await asyncio.start_server(_Handler(config, ServerStats()), host, port, backlog=4096)
    if on_ready is not None:
        on_ready(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()
