"""Parsing of the small textual specs the serving benchmark accepts, and the bounds every input must meet.

Kept in one place so that every field fails the same way: a `UsageError` naming the field and value
and what is allowed, before any request is sent, any model loaded or any file written. Fields are
named as the library knows them (``requests``, ``max_duration_s``); the command line turns them into
its flags.

Bounds (documented in ``serve-bench --help`` and the README's exit-code table):

* ``MAX_REQUESTS`` requests per arm, and no more than the memory the records and request bodies
  would take (`check_memory`): the client builds every body before the first send, so that building
  them never delays a send;
* ``MAX_DURATION_S`` for ``--max-duration``, ``--request-timeout``, ``--ramp-up`` and trace spans: a
  serving arm longer than a day is a typo, not an experiment;
* ``MAX_TOKENS`` per prompt or output (beyond any released model's context).
"""

from __future__ import annotations

import ipaddress
import math
import re
from urllib.parse import urlsplit

from joulebench.errors import UsageError

MAX_REQUESTS = 1_000_000
MAX_DURATION_S = 86_400.0
MAX_TOKENS = 1_048_576
MAX_RATE_PER_S = 1_000_000.0
MEMORY_FRACTION = 0.5  # of the memory available now, for the records and bodies of one arm
BYTES_PER_PROMPT_TOKEN = 16  # word text + its JSON-escaped copy in the body
BYTES_PER_OUTPUT_TOKEN = 160  # two floats and two ints in lists, metrics' per-token arrays
BYTES_PER_REQUEST = 4096  # record, spec, task, futures

_NUMBER = r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
_DURATION_RE = re.compile(rf"^\s*{_NUMBER}\s*(us|ms|s|m|min|h)?\s*$")
_DURATION_UNITS_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_RATE_RE = re.compile(rf"^\s*{_NUMBER}\s*(?:/\s*(s|ms|min|m|h))?\s*$")
_RATE_UNITS_S = {"s": 1.0, "ms": 1e-3, "min": 60.0, "m": 60.0, "h": 3600.0}
_HOST_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


def parse_duration_s(text: str, field: str, allow_zero: bool = True, maximum_s: float = MAX_DURATION_S) -> float:
    """``50ms``, ``0.5s``, ``2min``, ``1h`` or a bare number of seconds -> seconds, at most ``maximum_s``."""
    match = _DURATION_RE.match(text)
    if match is None:
        raise UsageError.bad(field, text, "not a duration; use e.g. 50ms, 0.5s, 2min, 1h")
    value = float(match.group(1)) * _DURATION_UNITS_S[match.group(2) or "s"]
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise UsageError.bad(field, text, f"must be {'>= 0' if allow_zero else '> 0'}")
    if value > maximum_s:
        raise UsageError.bad(field, text, f"at most {maximum_s:g} s")
    return value


def parse_rate_per_s(text: str, field: str) -> float:
    """``20/s``, ``1200/min`` or a bare number (per second) -> requests per second, > 0."""
    match = _RATE_RE.match(text)
    if match is None:
        raise UsageError.bad(field, text, "not a rate; use e.g. 20/s, 1200/min")
    value = float(match.group(1)) / _RATE_UNITS_S[match.group(2) or "s"]
    if not math.isfinite(value) or value <= 0 or value > MAX_RATE_PER_S:
        raise UsageError.bad(field, text, f"rate must be > 0 and at most {MAX_RATE_PER_S:g}/s")
    return value


def parse_float(text: str, field: str, minimum: float | None = None) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise UsageError.bad(field, text, "not a number") from None
    if not math.isfinite(value):
        raise UsageError.bad(field, text, "must be a finite number")
    if minimum is not None and value < minimum:
        raise UsageError.bad(field, text, f"must be >= {minimum}")
    return value


def check_int(value: int, field: str, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise UsageError.bad(field, value, f"must be an integer from {minimum} to {maximum}")
    return value


def check_finite(value: float, field: str, minimum: float, maximum: float = math.inf) -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not minimum <= value <= maximum:
        bound = f"from {minimum:g} to {maximum:g}" if math.isfinite(maximum) else f">= {minimum:g}"
        raise UsageError.bad(field, value, f"must be a finite number {bound}")
    return float(value)


def parse_url(text: str, field: str = "url") -> str:
    """An http(s) URL with a host and a valid port; credentials in it are refused (they would be stored)."""
    if not isinstance(text, str) or not text or any(c.isspace() or ord(c) < 32 for c in text):
        raise UsageError.bad(field, text, "not a URL (empty, or spaces/control characters inside)")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise UsageError.bad(field, text, "must start with http:// or https://")
    if parts.username or parts.password:
        raise UsageError.bad(field, text, "credentials in the URL would be stored; put the key in JOULEBENCH_API_KEY")
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        raise UsageError.bad(field, text, "port must be a number from 1 to 65535") from None
    if port is not None and not 1 <= port <= 65535:
        raise UsageError.bad(field, text, "port must be a number from 1 to 65535")
    if not host or not (_is_ip(host) or _HOST_RE.match(host)):
        raise UsageError.bad(field, text, "needs a host name or IP address, e.g. http://127.0.0.1:8000")
    if parts.fragment:
        raise UsageError.bad(field, text, "a fragment (#...) has no meaning here")
    return text


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_memory(requests: int, prompt_tokens_max: int, output_tokens_max: int, field: str = "requests") -> None:
    """Refuse an arm whose records and request bodies would not fit in half the memory available now."""
    import psutil

    need = requests * (
        BYTES_PER_REQUEST + BYTES_PER_PROMPT_TOKEN * prompt_tokens_max + BYTES_PER_OUTPUT_TOKEN * output_tokens_max
    )
    available = psutil.virtual_memory().available
    if need > MEMORY_FRACTION * available:
        raise UsageError.bad(
            field, requests,
            f"would need about {need / 2**30:.1f} GiB for records and request bodies "
            f"({prompt_tokens_max} prompt and {output_tokens_max} output tokens at most each); "
            f"{available / 2**30:.1f} GiB are available; send fewer requests or split the arm",
        )
