"""A small OpenAI-compatible streaming server on asyncio streams that can misbehave on purpose.

Why our own: the serving tests must exercise the client against a real HTTP server on loopback (real
sockets, real chunked transfer encoding, real SSE framing), including servers that break the rules,
and no ASGI server is a dependency. Standard library only; HTTP/1.1 with keep-alive, just enough of
the protocol for ``/v1/completions``, ``/v1/chat/completions``, ``/v1/models`` and ``/health``.
It lives in tests/ (not in the installed package); ``benchmarks/stream_server.py`` runs it as a process
and ``python tests/loopback_server.py --port N`` starts it for ``serve-bench --server`` tests.

Behaviour knobs (`ServerConfig`): time to first token, gap between chunks, tokens per chunk, whether
usage is reported, failing every n-th request. The ``model`` field of a request picks a misbehaviour
(`MISBEHAVIOURS`), so one server covers every case: errors, hangs, dropped streams, CRLF framing,
events without ``data:``, lying, huge or negative ``usage``, redirects, a 401 that echoes the
Authorization header, a stream that never ends, a line that never ends. Prompt tokens are counted as
whitespace-separated words, output tokens are ``max_tokens``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_REASONS = {200: "OK", 307: "Temporary Redirect", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            500: "Internal Server Error", 503: "Service Unavailable"}

#: model name -> what the server does instead of behaving
MISBEHAVIOURS = {
    "fail-500": "answer 500",
    "hang": "never answer",
    "drop": "close the connection mid-stream",
    "crlf": "frame SSE events with CRLF line ends (allowed by the spec)",
    "no-data-prefix": "send JSON lines without 'data:' and then a proper [DONE]",
    "huge-usage": "report usage.completion_tokens = 1e9",
    "lying-usage": "report 3x the tokens streamed",
    "low-usage": "report 1 token whatever was streamed",
    "negative-usage": "report usage.completion_tokens = -5",
    "redirect": "answer 307 to another place",
    "echo-auth": "answer 401 with the Authorization header echoed in the body and a header",
    "endless": "stream one token every 10 ms, forever",
    "endless-line": "send one SSE line that never ends",
    "empty-events": "send data events with no content, forever",
    "cached": "report half of each prompt as prefix-cache hits (usage.prompt_tokens_details.cached_tokens)",
}


@dataclass
class ServerConfig:
    ttft_s: float = 0.0
    itl_s: float = 0.0
    tokens_per_chunk: int = 1
    report_usage: bool = True
    default_max_tokens: int = 16
    fail_every: int = 0  # every n-th request (1-based count) answers 500; 0 = never
    metrics_text: Callable[[], str] | None = None  # served at GET /metrics (e.g. DCGM-looking text)
    ready_after_s: float = 0.0  # /health and /v1/models answer 503 until then (a server still loading)


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
        self.started = time.monotonic()

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                method, path, body, headers = request
                self.stats.authorized += headers.get("authorization", "").lower().startswith("bearer ")
                keep = await self._dispatch(method, path, body, headers, writer)
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _dispatch(
        self, method: str, path: str, body: bytes, headers: dict[str, str], writer: asyncio.StreamWriter
    ) -> bool:
        if method == "GET" and path in ("/health", "/v1/models"):
            if time.monotonic() - self.started < self.config.ready_after_s:
                _write_json(writer, 503, {"status": "loading"})
            elif path == "/health":
                _write_json(writer, 200, {"status": "ok"})
            else:
                _write_json(writer, 200, {"object": "list", "data": [{"id": "m", "object": "model"}]})
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
        if model == "fail-500" or (self.config.fail_every and self.stats.requests % self.config.fail_every == 0):
            self.stats.errors += 1
            _write_json(writer, 500, {"error": {"message": "injected failure"}})
            return True
        if model == "hang":
            await asyncio.sleep(3600)
            return False
        if model == "redirect":
            _write_body(writer, 307, b"", "text/plain", extra=f"location: http://127.0.0.1:9{path}\r\n")
            return True
        if model == "echo-auth":
            auth = headers.get("authorization", "")
            extra = f"www-authenticate: Bearer realm=x\r\nx-echo-authorization: {auth}\r\n"
            message = {"error": {"message": f"invalid credentials: {auth}", "api_key": auth.split(" ")[-1]}}
            _write_body(writer, 401, json.dumps(message).encode(), "application/json", extra=extra)
            return True
        chat = path.endswith("chat/completions")
        prompt_tokens = _prompt_tokens(payload, chat)
        max_tokens = int(payload.get("max_tokens") or payload.get("max_completion_tokens") or self.config.default_max_tokens)
        if not payload.get("stream"):
            await asyncio.sleep(self.config.ttft_s + self.config.itl_s * max(0, max_tokens - 1))
            _write_json(writer, 200, _full_response(model, chat, prompt_tokens, max_tokens))
            return True
        self.stats.streamed += 1
        include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
        await self._stream(writer, model, chat, prompt_tokens, max_tokens, include_usage)
        return model != "drop"

    async def _stream(
        self, writer: asyncio.StreamWriter, model: str, chat: bool, prompt_tokens: int, max_tokens: int,
        include_usage: bool,
    ) -> None:
        cfg = self.config
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\ncache-control: no-cache\r\n\r\n"
        )
        frame = _crlf_event if model == "crlf" else (_bare_event if model == "no-data-prefix" else _event)
        if model in ("endless", "endless-line", "empty-events"):
            await _forever(writer, model, chat)
            return
        if chat:
            writer.write(_chunk(frame({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})))
        if cfg.ttft_s > 0:
            await writer.drain()
            await asyncio.sleep(cfg.ttft_s)
        sent = 0
        k = max(1, cfg.tokens_per_chunk)
        while sent < max_tokens:
            n = min(k, max_tokens - sent)
            sent += n
            choice = _choice(chat, " tok" * n, "length" if sent >= max_tokens else None)
            writer.write(_chunk(frame({"id": "cmpl-test", "model": model, "choices": [choice]})))
            if model == "drop" and sent >= min(2, max_tokens):
                await writer.drain()
                writer.transport.abort()
                return
            if cfg.itl_s > 0 and sent < max_tokens:
                await writer.drain()
                await asyncio.sleep(cfg.itl_s)
        if include_usage and cfg.report_usage:
            completion = {"huge-usage": 10**9, "lying-usage": 3 * max_tokens, "low-usage": 1,
                          "negative-usage": -5}.get(model, max_tokens)
            usage: dict[str, Any] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                                     "total_tokens": prompt_tokens + completion}
            if model == "cached":
                usage["prompt_tokens_details"] = {"cached_tokens": prompt_tokens // 2}
            writer.write(_chunk(frame({"id": "cmpl-test", "model": model, "choices": [], "usage": usage})))
        done = b"data: [DONE]\r\n\r\n" if model == "crlf" else b"data: [DONE]\n\n"
        writer.write(_chunk(done) + b"0\r\n\r\n")
        await writer.drain()


async def _forever(writer: asyncio.StreamWriter, model: str, chat: bool) -> None:
    """The never-ending streams: the client's wall-clock and memory bounds must end them."""
    if model == "endless-line":
        writer.write(_chunk(b"data: {\"choices\": [{\"text\": \""))
    while True:
        if model == "endless":
            writer.write(_chunk(_event({"choices": [_choice(chat, " tok", None)]})))
        elif model == "empty-events":
            writer.write(_chunk(_event({"choices": [_choice(chat, "", None)]})))
        else:
            writer.write(_chunk(b"x" * 65536))
        await writer.drain()
        await asyncio.sleep(0.01 if model == "endless" else 0.001)


def _choice(chat: bool, text: str, finish: str | None) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
    if chat:
        choice["delta"] = {"content": text}
    else:
        choice["text"] = text
    return choice


def _prompt_tokens(payload: dict[str, Any], chat: bool) -> int:
    if chat:
        return sum(len(str(m.get("content", "")).split()) for m in payload.get("messages", []))
    prompt = payload.get("prompt", "")
    return len(prompt) if isinstance(prompt, list) else len(str(prompt).split())


def _full_response(model: str, chat: bool, prompt_tokens: int, max_tokens: int) -> dict[str, Any]:
    text = " tok" * max_tokens
    choice: dict[str, Any] = {"index": 0, "finish_reason": "length"}
    choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": max_tokens, "total_tokens": prompt_tokens + max_tokens}
    return {"id": "cmpl-test", "model": model, "choices": [choice], "usage": usage}


def _event(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _crlf_event(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\r\n\r\n"


def _bare_event(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _write_body(writer: asyncio.StreamWriter, status: int, body: bytes, content_type: str, extra: str = "") -> None:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\ncontent-type: {content_type}\r\n"
        f"content-length: {len(body)}\r\n{extra}\r\n"
    )
    writer.write(head.encode() + body)


def _write_json(writer: asyncio.StreamWriter, status: int, obj: dict[str, Any]) -> None:
    _write_body(writer, status, json.dumps(obj).encode(), "application/json")


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes, dict[str, str]] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) < 2:
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip():
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    body = await reader.readexactly(length) if length else b""
    return parts[0], parts[1].split("?")[0], body, headers


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
    config: ServerConfig, host: str = "127.0.0.1", port: int = 8000, on_ready: Callable[[int], None] | None = None
) -> None:
    """Serve on the current loop until cancelled (``benchmarks/stream_server.py``, ``--server`` tests)."""
    server = await asyncio.start_server(_Handler(config, ServerStats()), host, port, backlog=4096)
    if on_ready is not None:
        on_ready(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="loopback OpenAI-compatible streaming server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--ttft-ms", type=float, default=0.0)
    parser.add_argument("--itl-ms", type=float, default=0.0)
    parser.add_argument("--tokens-per-chunk", type=int, default=1)
    parser.add_argument("--ready-after-s", type=float, default=0.0, help="answer 503 on /health until then")
    parser.add_argument("--exit-after-s", type=float, default=0.0, help="exit with code 3 after this long (0: never)")
    args = parser.parse_args(argv)
    config = ServerConfig(ttft_s=args.ttft_ms / 1e3, itl_s=args.itl_ms / 1e3, tokens_per_chunk=args.tokens_per_chunk,
                          ready_after_s=args.ready_after_s)

    async def run() -> None:
        task = asyncio.create_task(serve_forever(
            config, args.host, args.port, on_ready=lambda port: print(f"listening on {args.host}:{port}", flush=True)))
        if args.exit_after_s > 0:
            await asyncio.sleep(args.exit_after_s)
            print("exiting on purpose", flush=True)
            raise SystemExit(3)
        await task

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
