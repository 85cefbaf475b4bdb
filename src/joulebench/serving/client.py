"""Async streaming load client for OpenAI-compatible servers (vLLM, TGI, SGLang, ``transformers serve``).

One coroutine dispatches requests at their absolute target times (see `timing.sleep_until`); each
request runs as its own task that streams the SSE response (`stream.StreamAccount`) and stamps every
buffer with ``perf_counter`` as aiohttp hands it on.

Why aiohttp (issue 9): it replaced a hand-written HTTP/1.1 transport once it met the bar on the
project's 2-core box with the server on the same box (``python benchmarks/serving_client.py
--repeats 2``, 2026-12-02, load average 0.1): 500 req/s with dispatch lateness p99 0.027-0.032 ms (hand-written:
0.029), 2,000 req/s sent at 1,996-1,997/s and completed at 1,994-1,996/s with p99 0.36-0.37 ms
(hand-written: 0.030-0.033 ms), a closed loop of 64 in flight at 5,702 req/s (hand-written 8,819).
httpx, the client before both, fell behind at 2,000 req/s (completed at 787/s). The bar assumes free
cores: with a load average of 10 from other work on the same 2 cores, aiohttp sent 1,124-1,315/s of
2,000/s and lateness p99 was 59-67 ms at 500 req/s; the warnings then say the law sent was not the
law asked.

What goes wrong is recorded as such: a 3xx answer is ``redirected`` (never
followed), any other status but 200 is ``http_error``, a request past its timeout is ``timeout``, a
broken, unreadable or over-long stream is ``error``, and a request cut by ``max_duration_s`` is
``incomplete``; only ``ok`` requests enter served figures.

Bounds: the whole load (dispatch, streams, cancellation) ends by ``max_duration_s`` after schedule
zero plus ``CANCEL_GRACE_S``; each stream is bounded in events and bytes by the tokens it asked for;
error bodies are cut at ``ERROR_BODY_BYTES``. So no server can make a run outlive its time bound or
grow memory past what the request count allows.

The API key is read from the environment (``JOULEBENCH_API_KEY``, then ``OPENAI_API_KEY``) at run time
and sent as a bearer token; every error text goes through `secrets.Redactor` (by value and pattern),
so a server that echoes the key cannot put it in a record.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from joulebench.serving.prompts import RequestSpec
from joulebench.serving.records import (
    STATUS_ERROR,
    STATUS_HTTP_ERROR,
    STATUS_INCOMPLETE,
    STATUS_OK,
    STATUS_REDIRECTED,
    STATUS_TIMEOUT,
    RequestRecord,
)
from joulebench.serving.secrets import Redactor, api_key_from_env
from joulebench.serving.sse import SseError
from joulebench.serving.stream import StreamAccount
from joulebench.serving.timing import sleep_until
from joulebench.values import AsDict

START_LEAD_S = 0.05  # time between building the schedule and its first target
CANCEL_GRACE_S = 5.0  # after the deadline, cancelled streams have this long to unwind
ERROR_BODY_BYTES = 4096
LENGTH_CONTROLS = ("vllm", "transformers", "none")


@dataclass(frozen=True)
class ClientConfig(AsDict):
    url: str
    model: str
    api: str = "auto"  # "completions" | "chat" | "auto" (chat when the prompts are chat messages)
    request_timeout_s: float = 600.0
    max_concurrency: int | None = None
    max_duration_s: float | None = None
    # how exact output lengths are asked for: "vllm" (ignore_eos + min_tokens: vLLM, SGLang),
    # "transformers" (a generation_config with EOS disabled: transformers serve), "none" (plain OpenAI)
    length_control: str = "vllm"
    continuous_usage: bool = False

    def endpoint(self, chat: bool) -> str:
        url = self.url.rstrip("/")
        if url.endswith("/completions"):
            return url
        if not url.endswith("/v1"):
            url += "/v1"
        return url + ("/chat/completions" if chat else "/completions")


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
    if config.length_control == "vllm":
        payload["ignore_eos"] = True
        payload["min_tokens"] = spec.max_output_tokens
    elif config.length_control == "transformers":
        # transformers serve refuses unknown fields (422) but takes a whole generation config as JSON
        generation = {"max_new_tokens": spec.max_output_tokens, "min_new_tokens": spec.max_output_tokens,
                      "do_sample": False, "eos_token_id": -1}
        payload["generation_config"] = json.dumps(generation)
        del payload["temperature"]
    if chat:
        payload["messages"] = (
            spec.messages if spec.messages is not None else [{"role": "user", "content": spec.text or ""}]
        )
    else:
        payload["prompt"] = spec.text if spec.text is not None else (spec.token_ids or "")
    return payload


class LoadClient:
    """Sends ``specs`` at ``targets_s`` (seconds from schedule zero) and records every request."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._session: Any = None
        self._url = ""
        self._redactor = Redactor()

    async def run(self, specs: Sequence[RequestSpec], targets_s: Sequence[float]) -> LoadResult:
        if len(specs) != len(targets_s):
            raise ValueError("one target time per request spec")
        cfg = self.config
        chat = cfg.api == "chat" or (cfg.api == "auto" and any(s.messages is not None for s in specs))
        headers = {"content-type": "application/json"}
        key = api_key_from_env()
        if key:
            headers["authorization"] = f"Bearer {key}"
            self._redactor = Redactor([key])
        self._url = cfg.endpoint(chat)
        self._session = _open_session(headers)
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
                await asyncio.wait(tasks, timeout=CANCEL_GRACE_S)
        finally:
            _resume_gc(gc_paused)
            await asyncio.wait_for(self._session.close(), CANCEL_GRACE_S)
        for record in records:
            if record.status == STATUS_INCOMPLETE and record.error is None:
                record.error = "cut by max duration" if stopped else "not sent"
        return LoadResult(records, t0, time.perf_counter(), stopped)

    async def _one(self, body: bytes, record: RequestRecord, semaphore: asyncio.Semaphore | None) -> None:
        record.send_s = time.perf_counter()
        account = StreamAccount(record, self.config.continuous_usage)
        error_body = bytearray()
        answer: dict[str, Any] = {}

        def on_status(status: int, headers: dict[str, str]) -> None:
            answer["status"], answer["location"] = status, headers.get("location", "")

        def on_body(data: bytes, now_s: float) -> None:
            # the status is known before the first body byte; error bodies are kept (cut), not parsed as SSE
            if answer.get("status") == 200:
                account.feed(data, now_s)
            elif len(error_body) < ERROR_BODY_BYTES:
                error_body.extend(data[: ERROR_BODY_BYTES - len(error_body)])

        try:
            async with asyncio.timeout(self.config.request_timeout_s):
                status = await self._post(body, on_status, on_body)
            record.http_status = status
            record.end_s = time.perf_counter()
            if 300 <= status < 400:
                where = answer.get("location") or "nowhere"
                record.status, record.error = STATUS_REDIRECTED, self._clean(f"HTTP {status}: redirected to {where}")
                return
            if status != 200:
                detail = bytes(error_body[:300]).decode(errors="replace")
                record.status, record.error = STATUS_HTTP_ERROR, self._clean(f"HTTP {status}: {detail}")
                return
            problem = account.finish()
            if problem is not None:
                record.status, record.error = STATUS_ERROR, self._clean(problem)
            else:
                record.status = STATUS_OK
                record.flags = [self._clean(f) for f in record.flags]
        except TimeoutError:
            record.status = STATUS_TIMEOUT
            record.error = f"no complete answer within {self.config.request_timeout_s} s"
        except asyncio.CancelledError:
            record.status, record.error = STATUS_INCOMPLETE, "cut by max duration"
        except (SseError, ValueError, OSError, _client_errors()) as exc:
            record.status, record.error = STATUS_ERROR, self._clean(f"{type(exc).__name__}: {exc}")
        finally:
            if record.end_s is None and record.status != STATUS_INCOMPLETE:
                record.end_s = time.perf_counter()
            if semaphore is not None:
                semaphore.release()

    async def _post(self, body: bytes, on_status: Any, on_body: Any) -> int:
        """POST ``body``; redirects are never followed (they could carry the prompt and the key elsewhere)."""
        async with self._session.post(self._url, data=body, allow_redirects=False) as response:
            on_status(response.status, {k.lower(): v for k, v in response.headers.items()})
            async for data in response.content.iter_any():
                on_body(data, time.perf_counter())
            return int(response.status)

    def _clean(self, text: str) -> str:
        return self._redactor.text(text)[:300]


def _open_session(headers: dict[str, str]) -> Any:
    """One session, an unbounded connector (the client bounds concurrency), no timeout of its own
    (each request has ``request_timeout_s``), bodies passed on as received."""
    import aiohttp

    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=None),
        auto_decompress=False,
        skip_auto_headers=("User-Agent",),
    )


def _client_errors() -> type[BaseException]:
    import aiohttp

    return aiohttp.ClientError


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
