"""Prompt and output-length sources for the serving benchmark.

``--prompts``
  synthetic:1200                   every prompt 1200 tokens
  synthetic:200-4000               lengths uniform on [200, 4000]
  synthetic:200-4000,mean=1200     lengths from a Beta law scaled to [200, 4000] with that mean
                                   (concentration a+b = 4: right-skewed like chat prompts when the mean
                                   sits low in the range, as in the study's 200-4000 / ~1200)
  FILE.jsonl                       one request a line: {"messages": [...]} (chat) or {"prompt": "..."},
                                   optionally "max_tokens"; rows are reused in order when N > rows
``--output-tokens``  same length forms without the prefix: 128, 10-300, 10-300,mean=100

Synthetic text is built from short common English words that most tokenizers encode as one token each,
so a requested length is close to the served one; the served length is taken from the server's
``usage`` when it reports it. In-process engines get token ids directly (exact lengths); a JSONL prompt
given to an engine is sized at 4 characters a token (the content does not matter with random weights,
only the length does).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from joulebench.errors import UsageError

_WORDS = (
    "the of and to in is that it for on as with was be at by this are from or have an they which one had "
    "not but what all were when we there can more if out so up said about than into them only some time "
    "new also two may first any like now my such make over our even most me state after should well made"
).split()
CHARS_PER_TOKEN = 4.0
_RANGE_RE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+))?\s*(?:,\s*mean\s*=\s*(\d+(?:\.\d+)?))?\s*$")
BETA_CONCENTRATION = 4.0


@dataclass(frozen=True)
class LengthLaw:
    """Integer lengths on [low, high]; uniform, or Beta-shaped with the given mean."""

    low: int
    high: int
    mean: float | None = None

    def sample(self, count: int, rng: np.random.Generator) -> np.ndarray:
        if self.low == self.high:
            return np.full(count, self.low, dtype=int)
        if self.mean is None:
            return rng.integers(self.low, self.high + 1, size=count)
        frac = (self.mean - self.low) / (self.high - self.low)
        a, b = frac * BETA_CONCENTRATION, (1.0 - frac) * BETA_CONCENTRATION
        values = self.low + rng.beta(a, b, size=count) * (self.high - self.low)
        return np.clip(np.rint(values), self.low, self.high).astype(int)

    def to_dict(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "mean": self.mean}


def parse_lengths(text: str, field: str) -> LengthLaw:
    match = _RANGE_RE.match(text)
    allowed = "N, LO-HI or LO-HI,mean=M (token counts)"
    if match is None:
        raise UsageError(f"{field} '{text}': allowed forms: {allowed}")
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) else low
    mean = float(match.group(3)) if match.group(3) else None
    if low < 1 or high < low:
        raise UsageError(f"{field} '{text}': need 1 <= LO <= HI")
    if mean is not None and not (low < mean < high):
        raise UsageError(f"{field} '{text}': mean must lie strictly between LO and HI")
    return LengthLaw(low, high, mean)


@dataclass(frozen=True)
class RequestSpec:
    """What to send for one request. Exactly one of ``text``/``messages``/``token_ids`` is used."""

    index: int
    prompt_tokens: int  # requested (or estimated for text from files)
    max_output_tokens: int
    text: str | None = None
    messages: list[dict[str, Any]] | None = None
    token_ids: list[int] | None = None


@dataclass(frozen=True)
class PromptSource:
    spec: str
    lengths: LengthLaw | None  # synthetic
    rows: tuple[dict[str, Any], ...] = ()  # file

    @property
    def is_chat(self) -> bool:
        return any("messages" in r for r in self.rows)

    def build(
        self, count: int, outputs: LengthLaw, seed: int, vocab_size: int | None = None
    ) -> list[RequestSpec]:
        """``count`` request specs. With ``vocab_size`` the prompts are token ids (in-process engines)."""
        rng = np.random.default_rng([seed, 1])
        out_lengths = outputs.sample(count, np.random.default_rng([seed, 2]))
        specs: list[RequestSpec] = []
        if self.lengths is not None:
            lengths = self.lengths.sample(count, rng)
            for i in range(count):
                n = int(lengths[i])
                if vocab_size is not None:
                    ids = rng.integers(3, max(4, vocab_size), size=n).tolist()
                    specs.append(RequestSpec(i, n, int(out_lengths[i]), token_ids=ids))
                else:
                    words = rng.choice(len(_WORDS), size=n)
                    specs.append(
                        RequestSpec(i, n, int(out_lengths[i]), text=" ".join(_WORDS[w] for w in words))
                    )
            return specs
        for i in range(count):
            row = self.rows[i % len(self.rows)]
            max_out = int(row.get("max_tokens", out_lengths[i]))
            text = _row_text(row)
            n = max(1, round(len(text) / CHARS_PER_TOKEN))
            if vocab_size is not None:
                ids = rng.integers(3, max(4, vocab_size), size=n).tolist()
                specs.append(RequestSpec(i, n, max_out, token_ids=ids))
            elif "messages" in row:
                specs.append(RequestSpec(i, n, max_out, messages=row["messages"]))
            else:
                specs.append(RequestSpec(i, n, max_out, text=row["prompt"]))
        return specs


def _row_text(row: dict[str, Any]) -> str:
    if "messages" in row:
        return " ".join(str(m.get("content", "")) for m in row["messages"])
    return str(row["prompt"])


def parse_prompts(spec: str) -> PromptSource:
    text = spec.strip()
    if text.startswith("synthetic:"):
        return PromptSource(text, parse_lengths(text[len("synthetic:") :], f"--prompts {text}"))
    path = Path(text).expanduser()
    if path.suffix == ".jsonl":
        if not path.is_file():
            raise UsageError(f"--prompts {spec}: file not found")
        rows: list[dict[str, Any]] = []
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise UsageError(f"--prompts {spec}: line {lineno} is not JSON") from None
            ok = isinstance(row, dict) and (
                isinstance(row.get("messages"), list) or isinstance(row.get("prompt"), str)
            )
            if not ok:
                raise UsageError(f"--prompts {spec}: line {lineno} needs 'messages' (list) or 'prompt' (str)")
            rows.append(row)
        if not rows:
            raise UsageError(f"--prompts {spec}: file holds no requests")
        return PromptSource(text, None, tuple(rows))
    raise UsageError(
        f"--prompts '{spec}': allowed: synthetic:N, synthetic:LO-HI, synthetic:LO-HI,mean=M, FILE.jsonl"
    )
