"""Prompt and output-length sources for the serving benchmark.

``--prompts``
  synthetic:1200                   every prompt 1200 tokens
  synthetic:200-4000               lengths uniform on [200, 4000]
  synthetic:200-4000,mean=1200     lengths from a Beta law scaled to [200, 4000] with that mean
                                   (concentration a+b = 4: right-skewed like chat prompts when the mean
                                   sits low in the range, as in the study's 200-4000 / ~1200)
  FILE.jsonl                       one request a line: {"messages": [{"role": ..., "content": ...}, ...]}
                                   (chat) or {"prompt": "..."}, optionally "max_tokens"; rows are reused
                                   in order when N > rows; a row of another shape, an unknown key or a
                                   max_tokens that is not an integer from 1 to MAX_TOKENS is refused
                                   with its line number
``--output-tokens``  same length forms without the prefix: 128, 10-300, 10-300,mean=100

Synthetic text (``text_unit``): ``word`` builds it from short common English words that most
tokenizers encode as one token each; ``byte`` builds it from single ASCII letters, one token each for
a byte-level tokenizer (the bundled one that random-weight checkpoints are saved with). Either way a
requested length is close to the served one; the served length is taken from the server's ``usage``
when it reports it (and cross-checked, `stream`). In-process engines get token ids directly (exact lengths); a JSONL prompt
given to an engine is sized at 4 characters a token (the content does not matter with random weights,
only the length does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from joulebench.errors import UsageError
from joulebench.files import expect, read_jsonl
from joulebench.serving.specs import MAX_TOKENS

_WORDS = (
    "the of and to in is that it for on as with was be at by this are from or have an they which one had "
    "not but what all were when we there can more if out so up said about than into them only some time "
    "new also two may first any like now my such make over our even most me state after should well made"
).split()
CHARS_PER_TOKEN = 4.0
TEXT_UNITS = ("word", "byte")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
ROW_KEYS = ("messages", "prompt", "max_tokens")
ROLES = ("system", "user", "assistant", "developer", "tool")
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
        raise UsageError.bad(field, text, f"allowed forms: {allowed}")
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) else low
    mean = float(match.group(3)) if match.group(3) else None
    if low < 1 or high < low or high > MAX_TOKENS:
        raise UsageError.bad(field, text, f"need 1 <= LO <= HI <= {MAX_TOKENS}")
    if mean is not None and not (low < mean < high):
        raise UsageError.bad(field, text, "mean must lie strictly between LO and HI")
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

    @property
    def max_prompt_tokens(self) -> int:
        """The longest prompt this source can build (for the memory check before any work)."""
        if self.lengths is not None:
            return self.lengths.high
        return max(max(1, round(len(_row_text(r)) / CHARS_PER_TOKEN)) for r in self.rows)

    def max_output_tokens(self, outputs: LengthLaw) -> int:
        asked = [int(r["max_tokens"]) for r in self.rows if "max_tokens" in r]
        return max([outputs.high, *asked])

    def build(
        self, count: int, outputs: LengthLaw, seed: int, vocab_size: int | None = None, text_unit: str = "word",
        shared_prefix_tokens: int = 0, prompt_salt: int = 0,
    ) -> list[RequestSpec]:
        """``count`` request specs. With ``vocab_size`` the prompts are token ids (in-process engines).

        ``shared_prefix_tokens``: the first tokens of every synthetic prompt are the same (a system prompt),
        so that a server's prefix cache has something to hit; 0 (default) draws every token afresh, so that
        prompts share no prefix and a cache cannot make a request cheaper than its floor.

        ``prompt_salt``: other than 0, the prompts' own tokens are drawn afresh under the same lengths, so that
        arms with the same ``seed`` but different salts send the same lengths with no block in common. Why: a
        server serves every arm from one life and may keep the blocks of finished requests for de-duplication
        (transformers serve's continuous batching does, until memory runs short); with the same seed an arm
        would be served partly from the cache of the arms before it (issue 18, run_f)."""
        rng = np.random.default_rng([seed, 1])
        out_lengths = outputs.sample(count, np.random.default_rng([seed, 2]))
        specs: list[RequestSpec] = []
        if self.lengths is not None:
            lengths = self.lengths.sample(count, rng)
            prefix_rng = np.random.default_rng([seed, 3])
            high = max(4, vocab_size or 4)
            tokens = rng if not prompt_salt else np.random.default_rng([seed, 4, prompt_salt])
            prefix = {"ids": prefix_rng.integers(3, high, size=shared_prefix_tokens),
                      "byte": prefix_rng.choice(len(_LETTERS), size=shared_prefix_tokens),
                      "word": prefix_rng.choice(len(_WORDS), size=shared_prefix_tokens)}
            for i in range(count):
                n = int(lengths[i])
                fresh = max(0, n - shared_prefix_tokens)
                if vocab_size is not None:
                    ids = np.concatenate([prefix["ids"][:n], tokens.integers(3, high, size=fresh)]).tolist()
                    specs.append(RequestSpec(i, n, int(out_lengths[i]), token_ids=[int(t) for t in ids]))
                elif text_unit == "byte":
                    letters = np.concatenate([prefix["byte"][:n], tokens.choice(len(_LETTERS), size=fresh)])
                    specs.append(RequestSpec(i, n, int(out_lengths[i]), text="".join(_LETTERS[c] for c in letters)))
                else:
                    words = np.concatenate([prefix["word"][:n], tokens.choice(len(_WORDS), size=fresh)])
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


def parse_prompts(spec: str, field: str = "prompts") -> PromptSource:
    text = spec.strip()
    if text.startswith("synthetic:"):
        return PromptSource(text, parse_lengths(text[len("synthetic:") :], field))
    path = Path(text).expanduser()
    if path.suffix == ".jsonl":
        if not path.exists():
            raise UsageError.bad(field, spec, "file not found")
        rows = tuple(_check_row(value, f"{spec}, line {lineno}") for lineno, value in read_jsonl(path, field))
        if not rows:
            raise UsageError.bad(field, spec, "file holds no requests")
        return PromptSource(text, None, rows)
    raise UsageError.bad(
        field, spec, "allowed: synthetic:N, synthetic:LO-HI, synthetic:LO-HI,mean=M, FILE.jsonl"
    )


def _check_row(row: Any, where: str) -> dict[str, Any]:
    """One JSONL row: an object with 'messages' (chat) or 'prompt' (text), optionally 'max_tokens'."""
    if not isinstance(row, dict):
        raise UsageError(f"needs an object with 'messages' (list) or 'prompt' (str), not {type(row).__name__}",
                         where=where)
    unknown = sorted(set(row) - set(ROW_KEYS))
    if unknown:
        raise UsageError.bad(unknown[0], row[unknown[0]], f"unknown key; allowed: {', '.join(ROW_KEYS)}", where=where)
    if ("messages" in row) == ("prompt" in row):
        raise UsageError("needs exactly one of 'messages' (list) or 'prompt' (str)", where=where)
    if "prompt" in row:
        if not expect(row["prompt"], str, "prompt", where):
            raise UsageError.bad("prompt", "", "must not be empty", where=where)
    else:
        messages = expect(row["messages"], list, "messages", where)
        if not messages:
            raise UsageError.bad("messages", [], "must hold at least one message", where=where)
        for k, message in enumerate(messages):
            expect(message, dict, f"messages[{k}]", where)
            role = expect(message.get("role"), str, f"messages[{k}].role", where)
            if role not in ROLES:
                raise UsageError.bad(f"messages[{k}].role", role, f"allowed: {', '.join(ROLES)}", where=where)
            expect(message.get("content"), str, f"messages[{k}].content", where)
    if "max_tokens" in row:
        value = expect(row["max_tokens"], int, "max_tokens", where)
        if not 1 <= value <= MAX_TOKENS:
            raise UsageError.bad("max_tokens", value, f"must be an integer from 1 to {MAX_TOKENS}", where=where)
    return row
