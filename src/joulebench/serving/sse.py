"""Server-sent events, incrementally: bytes in, ``data`` payloads out, with a bound on every buffer.

The WHATWG event-stream grammar, not a guess at it: a line ends with CRLF, LF or CR (servers behind
some proxies and several Python frameworks send CRLF), an event ends at a blank line, ``data`` lines of
one event are joined with LF, a line that starts with ``:`` is a comment, ``event``/``id``/``retry`` are
fields we do not need, and an incomplete event at the end of the stream is discarded. A line whose
field is none of those (a server that forgot the ``data:`` prefix) is ignored as the spec says, but
counted in ``stray_lines``, so that a stream of bare JSON is reported as such instead of looking like
a completed request with no tokens.

Why a line bound: a server that sends one line without end would grow the buffer until memory runs
out; past ``max_line_bytes`` the parser raises `SseError` and the request is recorded as an error.
"""

from __future__ import annotations

import re

MAX_LINE_BYTES = 1 << 20  # a completion event with a few hundred tokens of text is a few KB
_LINE_END = re.compile(rb"\r\n|\r|\n")
_KNOWN_FIELDS = (b"event", b"id", b"retry")


class SseError(ValueError):
    """The byte stream is not an event stream we can read within its bounds."""


class SseParser:
    """Feed bytes as they arrive; each call returns the ``data`` payloads of the events it completed."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self._buffer = b""
        self._data: list[bytes] = []
        self._skip_lf = False  # the previous chunk ended with CR: a LF that starts this one belongs to it
        self.stray_lines = 0
        self.events = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._skip_lf and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._skip_lf = False
        if not chunk:
            return []
        buffer = self._buffer + chunk
        lines = _LINE_END.split(buffer)
        rest = lines.pop()  # after the last line end: an incomplete line (b"" when the chunk ended on one)
        if buffer.endswith(b"\r"):
            self._skip_lf = True
        if len(rest) > self.max_line_bytes:
            raise SseError(f"an event-stream line grew past {self.max_line_bytes} bytes without a line end")
        self._buffer = rest
        out: list[bytes] = []
        for line in lines:
            if not line:
                if self._data:
                    out.append(b"\n".join(self._data))
                    self._data = []
                    self.events += 1
                continue
            if line.startswith(b":"):
                continue
            name, colon, value = line.partition(b":")
            if colon and value.startswith(b" "):
                value = value[1:]
            if name == b"data":
                self._data.append(value)
                if sum(len(d) for d in self._data) > self.max_line_bytes:
                    raise SseError(f"an event grew past {self.max_line_bytes} bytes")
            elif name not in _KNOWN_FIELDS:
                self.stray_lines += 1
        return out
