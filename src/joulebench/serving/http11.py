"""A lean HTTP/1.1 client on ``asyncio.Protocol`` for the load generator's hot path.

Why not only httpx: on this project's 2-core reference box httpx + httpcore + anyio cost about 1.3 ms
of CPU per streamed request (several layers of async context managers, a pool that rescans its
connections on every event), which caps one client process near 700 req/s, far from the 2,000 req/s a
load generator must sustain to load a real server. This module does only what the benchmark needs:
POST with a body, keep-alive connections in a LIFO pool, ``content-length`` and ``chunked`` bodies,
TLS through ``ssl``. Every received buffer is handed on with the ``perf_counter`` time it arrived, which
is the timing that matters for TTFT and inter-token latency. httpx stays available
(``ClientConfig.transport="httpx"``) for proxies, HTTP/2 and anything unusual.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from urllib.parse import urlsplit

BodyCallback = Callable[[bytes, float], None]


class HttpProtocolError(OSError):
    """The server broke the protocol or closed the connection mid-response."""


class _StaleConnection(Exception):
    """A reused connection failed before any byte came back: safe to retry."""


class _Response:
    """Incremental parser of one response; feeds body bytes to ``on_body``."""

    __slots__ = (
        "on_status",
        "on_body",
        "done",
        "status",
        "headers_done",
        "chunked",
        "remaining",
        "buffer",
        "keep_alive",
        "chunk_left",
        "trailers",
        "received",
    )

    def __init__(
        self, on_body: BodyCallback, done: asyncio.Future[int], on_status: Callable[[int], None] | None = None
    ) -> None:
        self.on_status = on_status
        self.on_body = on_body
        self.done = done
        self.status = 0
        self.headers_done = False
        self.chunked = False
        self.remaining = -1  # content-length left; -1 = until close
        self.buffer = b""
        self.keep_alive = True
        self.chunk_left = -1  # -1 = expecting a size line
        self.trailers = False
        self.received = False

    def feed(self, data: bytes, now_s: float) -> None:
        self.received = True
        self.buffer += data
        if not self.headers_done:
            cut = self.buffer.find(b"\r\n\r\n")
            if cut < 0:
                return
            self._headers(self.buffer[:cut].decode("latin-1"))
            self.buffer = self.buffer[cut + 4 :]
        if self.chunked:
            self._chunked(now_s)
        else:
            self._plain(now_s)

    def _headers(self, head: str) -> None:
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HttpProtocolError(f"bad status line {lines[0][:80]!r}")
        self.status = int(parts[1])
        self.keep_alive = parts[0] == "HTTP/1.1"
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            value = value.strip().lower()
            if name == "transfer-encoding" and "chunked" in value:
                self.chunked = True
            elif name == "content-length":
                self.remaining = int(value)
            elif name == "connection":
                self.keep_alive = value != "close"
        self.headers_done = True
        if self.on_status is not None:
            self.on_status(self.status)
        if not self.chunked and self.remaining < 0:
            self.keep_alive = False  # body runs until the server closes

    def _plain(self, now_s: float) -> None:
        if self.buffer:
            data = self.buffer
            if self.remaining >= 0:
                data = data[: self.remaining]
                self.remaining -= len(data)
            self.buffer = b""
            self.on_body(data, now_s)
        if self.remaining == 0:
            self._finish()

    def _chunked(self, now_s: float) -> None:
        while not self.done.done():
            if self.trailers:
                if self.buffer.startswith(b"\r\n"):
                    self._finish()
                    return
                cut = self.buffer.find(b"\r\n\r\n")
                if cut < 0:
                    return
                self._finish()
                return
            if self.chunk_left < 0:
                cut = self.buffer.find(b"\r\n")
                if cut < 0:
                    return
                size_text = self.buffer[:cut].split(b";", 1)[0].strip()
                self.buffer = self.buffer[cut + 2 :]
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise HttpProtocolError(f"bad chunk size {size_text[:20]!r}") from None
                if size == 0:
                    self.trailers = True
                    continue
                self.chunk_left = size
            if len(self.buffer) < self.chunk_left + 2:
                return
            data = self.buffer[: self.chunk_left]
            self.buffer = self.buffer[self.chunk_left + 2 :]
            self.chunk_left = -1
            self.on_body(data, now_s)

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(self.status)

    def connection_lost(self) -> None:
        if self.done.done():
            return
        if self.headers_done and not self.chunked and self.remaining < 0:
            self._finish()  # close-delimited body ended normally
        else:
            self.done.set_exception(HttpProtocolError("server closed the connection mid-response"))


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.response: _Response | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            import socket

            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def data_received(self, data: bytes) -> None:
        now_s = time.perf_counter()
        response = self.response
        if response is None:
            return
        try:
            response.feed(data, now_s)
        except Exception as exc:  # noqa: BLE001 - parser or callback failure ends this response
            if not response.done.done():
                response.done.set_exception(exc)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.response is not None:
            self.response.connection_lost()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Http11Pool:
    """Keep-alive connections to one origin; unbounded (the caller bounds concurrency)."""

    def __init__(
        self, base_url: str, headers: dict[str, str], ssl_context: ssl.SSLContext | None = None
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"unsupported scheme in {base_url!r}")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = (ssl_context or ssl.create_default_context()) if parts.scheme == "https" else None
        host_header = parts.netloc
        self._head_extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._host_header = host_header
        self._idle: list[_Connection] = []
        self.opened = 0

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_Connection, self.host, self.port, ssl=self.ssl)
        self.opened += 1
        return protocol

    async def post(
        self, path: str, body: bytes, on_body: BodyCallback, on_status: Callable[[int], None] | None = None
    ) -> int:
        """POST ``body``; ``on_body(bytes, arrival_s)`` gets the decoded body as it arrives. Returns the
        status once the whole response is in. Cancellation closes the connection. A reused keep-alive
        connection that the server had closed meanwhile is retried once on a fresh one (nothing was
        received)."""
        conn = None
        while self._idle:
            candidate = self._idle.pop()
            if not candidate.closed:
                conn = candidate
                break
        if conn is None:
            return await self._exchange(await self._connect(), path, body, on_body, on_status)
        try:
            return await self._exchange(conn, path, body, on_body, on_status, reused=True)
        except _StaleConnection:
            return await self._exchange(await self._connect(), path, body, on_body, on_status)

    async def _exchange(
        self,
        conn: _Connection,
        path: str,
        body: bytes,
        on_body: BodyCallback,
        on_status: Callable[[int], None] | None,
        reused: bool = False,
    ) -> int:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()
        response = _Response(on_body, done, on_status)
        conn.response = response
        head = (
            f"POST {path} HTTP/1.1\r\nhost: {self._host_header}\r\ncontent-length: {len(body)}\r\n"
            f"{self._head_extra}\r\n"
        )
        assert conn.transport is not None
        conn.transport.write(head.encode("latin-1") + body)
        try:
            status = await done
        except HttpProtocolError:
            conn.close()
            if reused and not response.received:
                raise _StaleConnection from None
            raise
        except BaseException:
            conn.close()
            raise
        conn.response = None
        if response.keep_alive and not conn.closed:
            self._idle.append(conn)
        else:
            conn.close()
        return status

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
