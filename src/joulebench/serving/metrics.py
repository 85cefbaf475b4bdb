"""Latency and throughput figures from request records (served requests only).

Definitions (those of vLLM's ``bench serve`` where one exists, so numbers compare):
  TTFT   first token time - send time
  ITL    per *token*: a chunk carrying k tokens gives the gap to the previous chunk, then k-1 zeros
  TPOT   (end - first token) / (output tokens - 1), per request with at least 2 output tokens
  E2E    end - send time
  throughput   completed requests and output tokens over the span from the first send to the last end
  goodput      requests meeting every SLO, per second of the same span
  lateness     send time - max(target time, slot release time): the client's own delay; a concurrency
               cap's wait is reported apart (``cap_wait``), since it is the load law, not the client

Errors, timeouts and cut requests never enter the served figures; they are counted by status.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from joulebench.errors import UsageError
from joulebench.serving.records import STATUS_INCOMPLETE, STATUS_OK, RequestRecord
from joulebench.serving.specs import parse_duration_s

SLO_METRICS = ("ttft", "tpot", "itl", "e2e")
LATENESS_WARN_P99_S = 0.001  # the dispatch budget; above it the arrival law was not what was sent
#: ... unless the lateness is too small against the law's own time scales to move a figure: 5% of the
#: mean gap between targets, or 1% of the median TTFT. Why: a burst's requests all target one instant, so
#: the k-th is late by k dispatches whatever the client does; 200 requests reached 18-59 ms (run_f, H100),
#: against a TTFT p50 of 22-39 s. Arms at fixed 300 and 500 ms were 0.8-11 ms late, under 4% of their
#: gap. Every burst arm warned under the 1 ms bar alone, so the warning said nothing; the raw lateness
#: stays recorded.
LATE_SHARE_OF_GAP = 0.05
LATE_SHARE_OF_TTFT = 0.01


def stats(values: Iterable[float]) -> dict[str, float | int | None]:
    arr = np.asarray(list(values), dtype=float)
    if arr.size == 0:
        return {"count": 0, "mean": None, "median": None, "p90": None, "p99": None, "max": None}
    return {
        "count": int(arr.size),
        "mean": float(arr.mean()),
        "median": float(np.median(arr)),
        "p90": float(np.percentile(arr, 90)),
        "p99": float(np.percentile(arr, 99)),
        "max": float(arr.max()),
    }


def itl_per_token_s(record: RequestRecord) -> list[float]:
    out: list[float] = []
    times, counts = record.chunk_times_s, record.chunk_tokens
    for i in range(1, len(times)):
        out.append(times[i] - times[i - 1])
        out.extend([0.0] * (counts[i] - 1))
    if counts:
        out.extend([0.0] * (counts[0] - 1))  # tokens that came with the first one
    return out


def ttft_s(r: RequestRecord) -> float | None:
    return None if r.first_token_s is None or r.send_s is None else r.first_token_s - r.send_s


def tpot_s(r: RequestRecord) -> float | None:
    if r.first_token_s is None or r.end_s is None or not r.output_tokens or r.output_tokens < 2:
        return None
    last = r.chunk_times_s[-1] if r.chunk_times_s else r.end_s
    return (last - r.first_token_s) / (r.output_tokens - 1)


def e2e_s(r: RequestRecord) -> float | None:
    return None if r.end_s is None or r.send_s is None else r.end_s - r.send_s


@dataclass(frozen=True)
class Slo:
    """Upper bounds in seconds per metric; a request is good when it meets all of them."""

    limits_s: dict[str, float]

    def met(self, r: RequestRecord) -> bool:
        values = {"ttft": ttft_s(r), "tpot": tpot_s(r), "e2e": e2e_s(r)}
        for name, limit in self.limits_s.items():
            if name == "itl":
                itl = itl_per_token_s(r)
                if itl and max(itl) > limit:
                    return False
                continue
            value = values[name]
            if value is not None and value > limit:
                return False
        return True


def parse_slo(text: str | None) -> Slo | None:
    """``ttft:0.5s,tpot:50ms`` -> Slo; metrics allowed: ttft, tpot, itl (max per token), e2e."""
    if not text:
        return None
    limits: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition(":")
        name = name.strip().lower()
        if not sep or name not in SLO_METRICS:
            raise UsageError.bad(
                "slo", text, f"use metric:duration pairs, metrics {', '.join(SLO_METRICS)}; e.g. ttft:0.5s,tpot:50ms"
            )
        limits[name] = parse_duration_s(value, "slo", allow_zero=False)
    return Slo(limits)


def summarize(records: Sequence[RequestRecord], slo: Slo | None = None) -> dict[str, Any]:
    """Latency, throughput, goodput, dispatch lateness and status counts of one run."""
    served = [r for r in records if r.ok]
    sent = [r for r in records if r.send_s is not None]
    status_counts = Counter(r.status for r in records)
    out: dict[str, Any] = {
        "requests": len(records),
        "completed": len(served),
        "failed": len(records) - len(served),
        "status_counts": dict(sorted(status_counts.items())),
        "errors_sample": [r.error for r in records if not r.ok and r.error][:5],
        "flagged": sum(bool(r.flags) for r in served),
        "flags_sample": [f for r in served for f in r.flags][:5],
    }
    if sent and served:
        span_s = max(r.end_s or r.send_s or 0.0 for r in served) - min(r.send_s or 0.0 for r in sent)
    else:
        span_s = 0.0
    output_tokens = sum(r.output_tokens or 0 for r in served)
    prompt_tokens = sum(r.prompt_tokens or r.prompt_tokens_requested for r in served)
    out.update(
        {
            "duration_s": span_s,
            "output_tokens": output_tokens,
            "prompt_tokens": prompt_tokens,
            "requests_per_s": len(served) / span_s if span_s > 0 else None,
            "output_tokens_per_s": output_tokens / span_s if span_s > 0 else None,
            "total_tokens_per_s": (output_tokens + prompt_tokens) / span_s if span_s > 0 else None,
            "ttft_s": stats(v for v in map(ttft_s, served) if v is not None),
            "tpot_s": stats(v for v in map(tpot_s, served) if v is not None),
            "itl_s": stats(x for r in served for x in itl_per_token_s(r)),
            "e2e_s": stats(v for v in map(e2e_s, served) if v is not None),
            "chunk_tokens_estimated": sum(r.chunk_tokens_estimated for r in served),
            "cached_prompt_tokens": _cached(served),
            "output_tokens_source": dict(Counter(r.output_tokens_source for r in served)),
        }
    )
    if slo is not None:
        good = sum(slo.met(r) for r in served)
        out["slo"] = {k: v for k, v in slo.limits_s.items()}
        out["good_requests"] = good
        out["goodput_requests_per_s"] = good / span_s if span_s > 0 else None
    out["lateness_s"] = stats(_lateness(r) for r in sent)
    out["lateness_tolerance_s"] = lateness_tolerance_s([r.target_s for r in records], out["ttft_s"]["median"])
    out["cap_wait_s"] = stats((r.released_s - r.target_s) for r in sent if r.released_s is not None)
    out["warnings"] = lateness_warnings(out["lateness_s"], len(records) - len(sent), out["lateness_tolerance_s"])
    if out["flagged"]:
        out["warnings"].append(
            f"{out['flagged']} served requests failed a cross-check of the server's counts "
            f"(e.g. {out['flags_sample'][0]})"
        )
    return out


def _cached(served: Sequence[RequestRecord]) -> int | None:
    """Prefix-cache hits the server reported (``usage.prompt_tokens_details.cached_tokens``), or None."""
    reported = [r.cached_prompt_tokens for r in served if r.cached_prompt_tokens is not None]
    return sum(reported) if reported else None


#: request outcomes that are not a target's failure: served, or cut by the run's own time bound (a warning)
NOT_FAILED = (STATUS_OK, STATUS_INCOMPLETE)


def check_failures(metrics: dict[str, Any]) -> list[str]:
    """The checks a serving run fails on its own (exit code 1; the point is stored failed-but-kept)."""
    failures: list[str] = []
    if metrics["completed"] == 0:
        counts = ", ".join(f"{n} {status}" for status, n in metrics["status_counts"].items())
        failures.append(f"no request served ({counts or 'nothing sent'})")
    elif failed := sum(n for status, n in metrics["status_counts"].items() if status not in NOT_FAILED):
        # a target that failed requests (run_f: an out-of-memory in the CB engine's CUDA graphs failed 92 and
        # stranded 98 of 200) gives figures over the survivors only: the arm is kept, but it is not an answer
        counts = ", ".join(f"{n} {status}" for status, n in metrics["status_counts"].items())
        failures.append(f"{failed} of {metrics['requests']} requests failed ({counts})")
    return failures


def _lateness(r: RequestRecord) -> float:
    assert r.send_s is not None
    return r.send_s - max(r.target_s, r.released_s if r.released_s is not None else r.target_s)


def lateness_tolerance_s(targets_s: Sequence[float], ttft_p50_s: float | None) -> float:
    """The dispatch lateness (p99) below which the law sent is, for every figure, the law asked: the 1 ms
    budget, or a share of the law's mean gap between targets or of the median TTFT, whichever is largest."""
    gap_s = (max(targets_s) - min(targets_s)) / (len(targets_s) - 1) if len(targets_s) > 1 else 0.0
    return max(LATENESS_WARN_P99_S, LATE_SHARE_OF_GAP * gap_s, LATE_SHARE_OF_TTFT * (ttft_p50_s or 0.0))


def lateness_warnings(lateness: dict[str, Any], unsent: int, tolerance_s: float) -> list[str]:
    warnings: list[str] = []
    p99 = lateness.get("p99")
    if p99 is not None and p99 > tolerance_s:
        warnings.append(
            f"client fell behind its schedule: dispatch lateness p99 {p99 * 1e3:.2f} ms > "
            f"{tolerance_s * 1e3:.2f} ms (the largest of {LATENESS_WARN_P99_S * 1e3:.0f} ms, "
            f"{LATE_SHARE_OF_GAP:.0%} of the mean gap, {LATE_SHARE_OF_TTFT:.0%} of TTFT p50); "
            "the arrival law actually sent differs from the one asked"
        )
    if unsent:
        warnings.append(f"{unsent} requests were never sent (max duration reached)")
    return warnings
