"""A one-request-at-a-time server under other arrivals: its measured services replayed through its queue.

A sequential server (one ``generate`` at a time, first come first served) serves a request the same way
whenever it arrives; only its start waits for the server: ``start_i = max(arrival_i, end_{i-1} + handover_i)``
and every later time of the request moves with its start. So the records of the same requests under any
arrival law follow exactly from their measured services, with the server's measured handover between
requests (the loop's few milliseconds). This is what lets the sequential arms of a serving study (five
laws x 200 requests x two dtypes x two repeats: ~12,400 s at the 3.1 s a request measured on the H200)
come from 200 measured services per dtype and repeat, measured in segments that each fit a device call.

It holds for a server that serves one request at a time and only while its service does not depend on
the queue (no batching, no prefix cache across requests). A batching server (continuous batching,
``transformers serve``) must be measured under each law.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from joulebench.errors import UsageError
from joulebench.serving.records import RequestRecord


@dataclass(frozen=True)
class Services:
    """Measured services in one order, re-indexed 0..n-1, and the server's handover before each: the
    measured time from the previous end to this start within a run, the median of those at the first
    request of a run (0 when none is known)."""

    records: list[RequestRecord]
    handovers_s: list[float]
    origin: list[tuple[int, int]]  # (segment, index there) of each record


@dataclass(frozen=True)
class Replay:
    """The records as the server would have produced them under ``arrivals_s`` (schedule seconds)."""

    records: list[RequestRecord]
    idle_s: float  # time the server stands waiting for an arrival (not spent in the measured services)
    span_s: float  # from the first arrival to the last end


def services(segments: Sequence[Sequence[RequestRecord]]) -> Services:
    """The served requests of ``segments`` (each one run of the server, on its own clock), in segment
    order and within one in service order."""
    records: list[RequestRecord] = []
    gaps: list[float | None] = []
    origin: list[tuple[int, int]] = []
    for number, segment in enumerate(segments):
        served = sorted((r for r in segment if r.ok), key=lambda r: r.admit_s or 0.0)
        for k, record in enumerate(served):
            if record.admit_s is None or record.end_s is None or record.first_token_s is None:
                raise UsageError.bad("services", record.index, "a served record needs admit, first-token and end times")
            gaps.append(None if k == 0 else record.admit_s - served[k - 1].end_s)  # type: ignore[operator]
            origin.append((number, record.index))
            records.append(dataclasses.replace(record, index=len(records), chunk_times_s=list(record.chunk_times_s),
                                               chunk_tokens=list(record.chunk_tokens), flags=list(record.flags)))
    known = [g for g in gaps if g is not None]
    fill = float(np.median(known)) if known else 0.0
    return Services(records, [fill if g is None else g for g in gaps], origin)


def replay(served: Services, arrivals_s: Sequence[float]) -> Replay:
    """``served`` under ``arrivals_s``: request i arrives at ``arrivals_s[i]`` and starts when it has
    arrived and the server is free; its service is the measured one, shifted whole."""
    if len(arrivals_s) != len(served.records):
        raise UsageError.bad("arrivals", len(arrivals_s), f"need one arrival per service ({len(served.records)})")
    out: list[RequestRecord] = []
    free_s, idle_s = float("-inf"), 0.0
    for record, arrival, handover in zip(served.records, arrivals_s, served.handovers_s, strict=True):
        ready_s = free_s + handover
        start = max(float(arrival), ready_s)
        if out and start > ready_s:
            idle_s += start - ready_s
        shift = start - record.admit_s  # type: ignore[operator]
        moved = dataclasses.replace(
            record, target_s=float(arrival), released_s=float(arrival), send_s=float(arrival), admit_s=start,
            first_token_s=record.first_token_s + shift, end_s=record.end_s + shift,  # type: ignore[operator]
            chunk_times_s=[t + shift for t in record.chunk_times_s], chunk_tokens=list(record.chunk_tokens),
            flags=list(record.flags),
        )
        out.append(moved)
        free_s = moved.end_s  # type: ignore[assignment]
    span = (out[-1].end_s - min(float(a) for a in arrivals_s)) if out else 0.0  # type: ignore[operator]
    return Replay(out, idle_s, span)
