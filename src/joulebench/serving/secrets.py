"""Keep credentials out of everything a run stores or prints.

Why: servers echo what they were sent. One that puts the Authorization header into its 401 body had
the API key stored in records and printed by ``--json`` (issue 16). The key is read from the
environment at run time and sent; it must never come back out: every string that reaches a record,
an error, a server log, the command line or the summary passes through `Redactor.text`, which
removes the known secret values (the key itself, wherever it appears) and anything that looks like
one (``Bearer ...``, ``sk-...``, ``hf_...``, ``--api-key X``, ``api_key=X``, ``user:password@`` in URLs).
Redaction is by value first (exact, whatever the wrapping) and by pattern second (keys we were never
told about, e.g. in a launched server's own command line or log).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

API_KEY_ENV_VARS = ("JOULEBENCH_API_KEY", "OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
MASK = "[redacted]"
MIN_SECRET_CHARS = 4  # shorter values would redact ordinary words
_PATTERNS = (
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"),
    re.compile(r"\bhf_[A-Za-z0-9]{6,}"),
    re.compile(r"(?i)(--(?:api[-_]?key|token|hf[-_]token|password)(?:=|\s+))(\S+)"),
    re.compile(r"(?i)(\"?(?:api[-_]?key|access[-_]?token|authorization|password|secret)\"?\s*[:=]\s*\"?)([^\s\",}]+)"),
    re.compile(r"(?i)(https?://)[^/\s:@]+:[^/\s@]+@"),
)


def api_key_from_env() -> str | None:
    for name in API_KEY_ENV_VARS[:2]:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _secret_values() -> list[str]:
    return [v for name in API_KEY_ENV_VARS if (v := os.environ.get(name)) and len(v) >= MIN_SECRET_CHARS]


class Redactor:
    """Removes ``secrets`` (plus those in the environment) and secret-looking patterns from text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {s for s in secrets if s and len(s) >= MIN_SECRET_CHARS} | set(_secret_values())
        self.values = sorted(values, key=len, reverse=True)  # longest first: a key inside another

    def text(self, value: str) -> str:
        for secret in self.values:
            if secret in value:
                value = value.replace(secret, MASK)
        for i, pattern in enumerate(_PATTERNS):
            if i == 0:
                value = pattern.sub(lambda m: f"{m.group(1)} {MASK}", value)
            elif i in (3, 4):
                value = pattern.sub(lambda m: m.group(1) + MASK, value)
            elif i == 5:
                value = pattern.sub(lambda m: m.group(1) + MASK + "@", value)
            else:
                value = pattern.sub(MASK, value)
        return value

    def deep(self, value: Any) -> Any:
        """A copy of a JSON-like value with every string (keys included) redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.deep(k) if isinstance(k, str) else k: self.deep(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.deep(v) for v in value]
        return value
