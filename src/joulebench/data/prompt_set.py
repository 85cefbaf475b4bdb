"""The values every prompt source hands over: one request's lengths (and conversation), the set a
study draws from, what a source is asked for, and how a conversation's prompt tokens are counted.

Apart from `data.prompts` (the sources' registry and the user's files) so that a source such as
`data.thank_you` can build these values without importing the registry that lists it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from joulebench.data.lengths import REPLIES, LengthModel
from joulebench.errors import UsageError

Message = Mapping[str, str]


@dataclass(frozen=True)
class PromptSample:
    """One request of a source: its prompt and reply lengths in tokens, and its conversation if any."""

    index: int
    prompt_tokens: int
    reply_tokens: int
    messages: tuple[Message, ...] | None = None


@dataclass(frozen=True)
class PromptSet:
    """The requests a study draws from, and where their lengths came from."""

    name: str
    samples: tuple[PromptSample, ...]
    prompt_lengths: str  # "chat template of <model>" | "design of the generated set" | "recorded" | law
    reply_lengths: str
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.samples:
            raise UsageError.bad("source", self.name, "holds no requests")

    @property
    def prompts(self) -> np.ndarray:
        return np.array([s.prompt_tokens for s in self.samples], dtype=int)

    @property
    def replies(self) -> np.ndarray:
        return np.array([s.reply_tokens for s in self.samples], dtype=int)

    def describe(self) -> dict[str, Any]:
        s, g = self.prompts, self.replies
        return {"source": self.name, "requests": len(self.samples), "prompt_lengths": self.prompt_lengths,
                "reply_lengths": self.reply_lengths, "prompt_tokens_mean": float(s.mean()),
                "prompt_tokens_range": [int(s.min()), int(s.max())], "reply_tokens_mean": float(g.mean()),
                "reply_tokens_range": [int(g.min()), int(g.max())], "notes": list(self.notes)}


@dataclass(frozen=True)
class SourceRequest:
    """What a source is asked for: how many requests, the seed, the model (its tokenizer counts text)
    and the reply law to draw from where the source records no reply length."""

    requests: int
    seed: int
    model: str
    replies: LengthModel = REPLIES
    spec: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


def count_chat_tokens(tokenizer: Any, messages: Sequence[Message]) -> int:
    """Prompt tokens of a conversation as ``generate`` gets it: the chat template with the generation prompt."""
    encoded = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=True)
    ids = encoded["input_ids"] if isinstance(encoded, Mapping) else encoded
    return len(ids)
