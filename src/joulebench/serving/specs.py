"""Parsing of the small textual specs the serving benchmark accepts: durations, rates, length ranges.

Kept in one place so that every field fails the same way: a `UsageError` of one line that names the
field, the value and the forms that are allowed, before any request is sent or any model is loaded.
"""

from __future__ import annotations

import re

from joulebench.errors import UsageError

_DURATION_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(us|ms|s|m|min|h)?\s*$")
_DURATION_UNITS_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_RATE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(?:/\s*(s|ms|min|m|h))?\s*$")
_RATE_UNITS_S = {"s": 1.0, "ms": 1e-3, "min": 60.0, "m": 60.0, "h": 3600.0}


def parse_duration_s(text: str, field: str, allow_zero: bool = True) -> float:
    """``50ms``, ``0.5s``, ``2min``, ``1h`` or a bare number of seconds -> seconds."""
    match = _DURATION_RE.match(text)
    if match is None:
        raise UsageError(f"{field} '{text}': not a duration; use e.g. 50ms, 0.5s, 2min, 1h")
    value = float(match.group(1)) * _DURATION_UNITS_S[match.group(2) or "s"]
    if value < 0 or (value == 0 and not allow_zero):
        raise UsageError(f"{field} '{text}': must be {'>= 0' if allow_zero else '> 0'}")
    return value


def parse_rate_per_s(text: str, field: str) -> float:
    """``20/s``, ``1200/min`` or a bare number (per second) -> requests per second, > 0."""
    match = _RATE_RE.match(text)
    if match is None:
        raise UsageError(f"{field} '{text}': not a rate; use e.g. 20/s, 1200/min")
    value = float(match.group(1)) / _RATE_UNITS_S[match.group(2) or "s"]
    if value <= 0:
        raise UsageError(f"{field} '{text}': rate must be > 0")
    return value


def parse_int(text: str, field: str, minimum: int = 0) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise UsageError(f"{field} '{text}': not an integer") from None
    if value < minimum:
        raise UsageError(f"{field} '{text}': must be >= {minimum}")
    return value


def parse_float(text: str, field: str, minimum: float | None = None) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise UsageError(f"{field} '{text}': not a number") from None
    if minimum is not None and value < minimum:
        raise UsageError(f"{field} '{text}': must be >= {minimum}")
    return value
