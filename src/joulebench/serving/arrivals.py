"""Arrival laws: generators of absolute send times (seconds from the start of the run).

Why absolute times and not gaps: a client that sleeps one gap after each send drifts by its own
overhead at every request, so a nominal 500 req/s becomes 450 without anyone noticing. Generating the
whole schedule up front (as kubernetes-sigs/inference-perf does) lets the dispatcher aim at each target
time and lets the record keep both the target and the actual send time (GuideLLM's distinction), so
lateness is measured, not hidden.

Every law is seeded (one ``numpy.random.Generator`` per schedule), so the same spec, count and seed
give the same schedule on every machine. Laws live in a registry keyed by the spec prefix; adding one is
one function and one row in `_REGISTRY`.

Specs
  fixed:50ms            one request every 50 ms: t_i = i * 50 ms
  uniform:0s,1s         gaps drawn from U(a, b): t_i = sum of the first i gaps (the study's law)
  poisson:20/s          exponential gaps with mean 1/rate
  gamma:20/s,0.5        gamma gaps with mean 1/rate and shape k (burstiness; CV^2 = 1/k, k=1 is Poisson)
  burst                 every request at t = 0
  trace:FILE            replay of the times in FILE (CSV: first numeric column or ``time_s``/``timestamp``
                        column; JSONL: ``time_s`` or ``timestamp`` key), shifted so the first is 0;
                        times must be finite, >= 0 and sorted (a trace out of order is a broken trace,
                        not something to sort silently), read through `joulebench.files` (size cap,
                        text only)

A ramp-up of R seconds warps time so that the instantaneous rate grows linearly from 0 to the law's
rate over R seconds, then stays: base time tau maps to t = sqrt(2 R tau) for tau < R/2, else tau + R/2
(the inverse of the cumulative-rate function). It works for every law without touching its sampler.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from joulebench.errors import UsageError
from joulebench.files import read_text
from joulebench.serving.specs import MAX_DURATION_S, MAX_REQUESTS, parse_duration_s, parse_float, parse_rate_per_s

FIELD = "arrival"

ALLOWED_FORMS = "fixed:50ms, uniform:0s,1s, poisson:20/s, gamma:20/s,0.5, burst, trace:FILE"


@dataclass(frozen=True)
class ArrivalLaw:
    """A parsed arrival spec. ``gaps`` draws ``count`` inter-arrival gaps in seconds from ``rng``."""

    spec: str
    name: str
    mean_rate_per_s: float | None  # None for burst and traces
    gaps: Callable[[int, np.random.Generator], np.ndarray] = field(repr=False, compare=False)
    fixed_times_s: tuple[float, ...] | None = field(default=None, repr=False, compare=False)

    def times_s(self, count: int, seed: int = 0, ramp_up_s: float = 0.0) -> Iterator[float]:
        """Yield ``count`` absolute send times in seconds from run start, non-decreasing, first at 0."""
        yield from schedule(self, count, seed, ramp_up_s)


def schedule(law: ArrivalLaw, count: int, seed: int = 0, ramp_up_s: float = 0.0) -> list[float]:
    """The whole schedule as a list (bounded by ``count``)."""
    if count < 0 or count > MAX_REQUESTS:
        raise UsageError.bad("requests", count, f"must be from 0 to {MAX_REQUESTS}")
    if count == 0:
        return []
    if law.fixed_times_s is not None:
        if count > len(law.fixed_times_s):
            raise UsageError.bad(
                "requests", count, f"the trace {law.spec!r} holds only {len(law.fixed_times_s)} times"
            )
        base = np.asarray(law.fixed_times_s[:count], dtype=float)
    else:
        rng = np.random.default_rng(seed)
        gaps = law.gaps(count - 1, rng) if count > 1 else np.zeros(0)
        base = np.concatenate([[0.0], np.cumsum(gaps)])
    return [float(t) for t in ramp(base, ramp_up_s)]


def ramp(base_s: np.ndarray, ramp_up_s: float) -> np.ndarray:
    """Warp base times so the rate grows linearly from 0 over ``ramp_up_s`` (see module docstring)."""
    if ramp_up_s <= 0:
        return base_s
    half = ramp_up_s / 2.0
    return np.where(base_s < half, np.sqrt(2.0 * ramp_up_s * np.maximum(base_s, 0.0)), base_s + half)


# -- the laws ---------------------------------------------------------------------------------------
def _fixed(arg: str, spec: str) -> ArrivalLaw:
    interval_s = parse_duration_s(arg, FIELD, allow_zero=True)
    rate = None if interval_s == 0 else 1.0 / interval_s
    return ArrivalLaw(spec, "fixed", rate, lambda n, rng: np.full(n, interval_s))


def _two(arg: str, spec: str, what: str) -> tuple[str, str]:
    """A law's two comma-separated arguments, or one line saying what the law takes."""
    parts = arg.split(",")
    if len(parts) != 2:
        raise UsageError.bad(FIELD, spec, what)
    return parts[0], parts[1]


def _uniform(arg: str, spec: str) -> ArrivalLaw:
    low, high = _two(arg, spec, "uniform takes two gap bounds, e.g. uniform:0s,1s")
    low_s = parse_duration_s(low, FIELD)
    high_s = parse_duration_s(high, FIELD)
    if high_s < low_s:
        raise UsageError.bad(FIELD, spec, "upper gap bound is below the lower one")
    mean = (low_s + high_s) / 2.0
    return ArrivalLaw(
        spec, "uniform", None if mean == 0 else 1.0 / mean, lambda n, rng: rng.uniform(low_s, high_s, size=n)
    )


def _poisson(arg: str, spec: str) -> ArrivalLaw:
    rate = parse_rate_per_s(arg, FIELD)
    return ArrivalLaw(spec, "poisson", rate, lambda n, rng: rng.exponential(1.0 / rate, size=n))


def _gamma(arg: str, spec: str) -> ArrivalLaw:
    rate_text, shape_text = _two(arg, spec, "gamma takes a rate and a shape, e.g. gamma:20/s,0.5")
    rate = parse_rate_per_s(rate_text, FIELD)
    shape = parse_float(shape_text, FIELD)
    if not 1e-3 <= shape <= 1e3:
        raise UsageError.bad(FIELD, spec, "gamma shape must be > 0, from 0.001 to 1000 (CV^2 = 1/shape)")
    scale = 1.0 / (rate * shape)
    return ArrivalLaw(spec, "gamma", rate, lambda n, rng: rng.gamma(shape, scale, size=n))


def _burst(arg: str, spec: str) -> ArrivalLaw:
    if arg:
        raise UsageError.bad(FIELD, spec, "burst takes no argument")
    return ArrivalLaw(spec, "burst", None, lambda n, rng: np.zeros(n))


def _trace(arg: str, spec: str) -> ArrivalLaw:
    path = Path(arg).expanduser()
    if not arg or not path.exists():
        raise UsageError.bad(FIELD, spec, f"trace file '{arg}' not found")
    times = read_trace_s(path)
    if not times:
        raise UsageError.bad(FIELD, spec, "trace file holds no times")
    first = times[0]
    shifted = tuple(t - first for t in times)
    if shifted[-1] > MAX_DURATION_S:
        raise UsageError.bad(FIELD, spec, f"the trace spans {shifted[-1]:g} s; at most {MAX_DURATION_S:g} s")
    return ArrivalLaw(spec, "trace", None, lambda n, rng: np.zeros(n), fixed_times_s=shifted)


def read_trace_s(path: Path) -> list[float]:
    """Send times from a CSV or JSONL file; a bad, negative or out-of-order row fails with its line number."""
    where = f"trace {path}"
    text = read_text(path, FIELD)
    rows: list[tuple[int, float]] = []
    if path.suffix in (".jsonl", ".json"):
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                value = row if isinstance(row, (int, float)) else row.get("time_s", row.get("timestamp"))
                if isinstance(value, bool):
                    raise TypeError
                rows.append((lineno, float(value)))
            except (ValueError, TypeError, AttributeError, RecursionError):
                raise UsageError(f"line {lineno} needs a number or a 'time_s'/'timestamp' key", where=where) from None
    else:
        lines = list(csv.reader(text.splitlines()))
        column, start = 0, 1
        if lines and lines[0] and not _is_number(lines[0][0]):
            header = [h.strip().lower() for h in lines[0]]
            for name in ("time_s", "timestamp", "time"):
                if name in header:
                    column = header.index(name)
                    break
            lines, start = lines[1:], 2
        for lineno, row in enumerate(lines, start):
            if not row:
                continue
            if column >= len(row) or not _is_number(row[column]):
                raise UsageError(f"row {lineno} has no numeric time", where=where)
            rows.append((lineno, float(row[column])))
    previous = -math.inf
    for lineno, t in rows:
        if not math.isfinite(t) or t < 0:
            raise UsageError.bad("time_s", t, f"line {lineno}: times must be finite numbers >= 0", where=where)
        if t < previous:
            raise UsageError.bad("time_s", t, f"line {lineno}: below the time before it ({previous:g}); "
                                 "a trace must be sorted", where=where)
        previous = t
    return [t for _, t in rows]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_REGISTRY: dict[str, Callable[[str, str], ArrivalLaw]] = {
    "fixed": _fixed,
    "uniform": _uniform,
    "poisson": _poisson,
    "gamma": _gamma,
    "burst": _burst,
    "trace": _trace,
}


def law_names() -> list[str]:
    return list(_REGISTRY)


def parse_arrival(spec: str) -> ArrivalLaw:
    """Parse ``--arrival``; unknown prefixes fail with the list of allowed forms."""
    text = spec.strip()
    name, _, arg = text.partition(":")
    factory = _REGISTRY.get(name.strip().lower())
    if factory is None:
        raise UsageError.bad(FIELD, spec, f"unknown law; allowed: {ALLOWED_FORMS}")
    if name.strip().lower() not in ("burst",) and not arg.strip():
        raise UsageError.bad(FIELD, spec, f"missing argument; allowed: {ALLOWED_FORMS}")
    return factory(arg.strip(), text)
