"""The per-request record shared by the HTTP client and the in-process engines.

One shape for both, so that metrics and energy attribution never care where a request was served.
Times are ``time.perf_counter()`` seconds while the run is live (the clock the energy monitor uses)
and are written relative to the run start (``t0_s``) when stored.

Token times are kept per *chunk*: a chunk that carried k tokens is one time with count k. Spreading
its tokens over the gap would invent timings the client never saw; metrics expand a chunk of k tokens
into k inter-token latencies: the gap to the previous chunk, then k-1 zeros.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STATUS_OK = "ok"
STATUS_HTTP_ERROR = "http_error"
STATUS_TIMEOUT = "timeout"
STATUS_ERROR = "error"
STATUS_INCOMPLETE = "incomplete"  # cut by --max-duration or the engine stopping
STATUS_REDIRECTED = "redirected"  # a 3xx answer: the load never reached a model


@dataclass
class RequestRecord:
    """What happened to one request. Absolute perf_counter seconds; None where it never happened."""

    index: int
    target_s: float
    prompt_tokens_requested: int
    max_output_tokens: int
    released_s: float | None = None  # when a concurrency slot was free (== target without a cap)
    send_s: float | None = None  # when the request actually left (client) or was submitted (engine)
    admit_s: float | None = None  # engine only: when prefill began (left the engine's queue)
    first_token_s: float | None = None
    end_s: float | None = None
    chunk_times_s: list[float] = field(default_factory=list)
    chunk_tokens: list[int] = field(default_factory=list)
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    output_tokens_source: str = "counted"  # "usage" | "counted" | "engine"
    chunk_tokens_estimated: bool = False  # True when usage showed chunks carried several tokens each
    cached_prompt_tokens: int | None = None  # prefix-cache hits the server reported (usage details)
    status: str = STATUS_INCOMPLETE
    http_status: int | None = None
    error: str | None = None
    flags: list[str] = field(default_factory=list)  # served, but a figure of it failed a cross-check

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def add_chunk(self, now_s: float, tokens: int) -> None:
        if tokens <= 0:
            return
        if self.first_token_s is None:
            self.first_token_s = now_s
        self.chunk_times_s.append(now_s)
        self.chunk_tokens.append(tokens)

    def to_dict(self, t0_s: float) -> dict[str, Any]:
        """JSON-ready, times relative to the run start ``t0_s``."""

        def rel(value: float | None) -> float | None:
            return None if value is None else round(value - t0_s, 9)

        return {
            "index": self.index,
            "target_s": rel(self.target_s),
            "released_s": rel(self.released_s),
            "send_s": rel(self.send_s),
            "admit_s": rel(self.admit_s),
            "first_token_s": rel(self.first_token_s),
            "end_s": rel(self.end_s),
            "chunk_times_s": [rel(t) for t in self.chunk_times_s],
            "chunk_tokens": list(self.chunk_tokens),
            "prompt_tokens_requested": self.prompt_tokens_requested,
            "max_output_tokens": self.max_output_tokens,
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            "output_tokens_source": self.output_tokens_source,
            "chunk_tokens_estimated": self.chunk_tokens_estimated,
            "cached_prompt_tokens": self.cached_prompt_tokens,
            "status": self.status,
            "http_status": self.http_status,
            "error": self.error,
            "flags": list(self.flags),
        }

    @classmethod
    def from_dict(cls, row: dict[str, Any], t0_s: float = 0.0) -> RequestRecord:
        """Inverse of `to_dict` (times shifted by ``t0_s``), for recomputing metrics from the store."""

        def absolute(value: float | None) -> float | None:
            return None if value is None else value + t0_s

        return cls(
            index=row["index"],
            target_s=row["target_s"] + t0_s,
            prompt_tokens_requested=row["prompt_tokens_requested"],
            max_output_tokens=row["max_output_tokens"],
            released_s=absolute(row.get("released_s")),
            send_s=absolute(row.get("send_s")),
            admit_s=absolute(row.get("admit_s")),
            first_token_s=absolute(row.get("first_token_s")),
            end_s=absolute(row.get("end_s")),
            chunk_times_s=[t + t0_s for t in row.get("chunk_times_s", [])],
            chunk_tokens=list(row.get("chunk_tokens", [])),
            prompt_tokens=row.get("prompt_tokens"),
            output_tokens=row.get("output_tokens"),
            output_tokens_source=row.get("output_tokens_source", "counted"),
            chunk_tokens_estimated=bool(row.get("chunk_tokens_estimated", False)),
            cached_prompt_tokens=row.get("cached_prompt_tokens"),
            status=row["status"],
            http_status=row.get("http_status"),
            error=row.get("error"),
            flags=list(row.get("flags", [])),
        )
