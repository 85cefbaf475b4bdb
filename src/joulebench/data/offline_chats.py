"""A generated, offline stand-in for ultrachat_200k: conversations of the same shape, lengths by design.

Why generated rather than shipped: the study's set is 10,000 conversations (~50 MB of text); what a
random-weight measurement needs from it is only the lengths, and those follow the study's laws. So the
set is drawn from a seed: each record has ultrachat's keys (``prompt``, ``prompt_id``, ``messages``
alternating user/assistant, ending with an assistant turn) and ``design_tokens``, the prompt length it
was drawn for once the "thank you" turn is appended (`data.lengths.PROMPTS`). Its text is filler made
of common English words that are one token each in the Llama-3, Qwen2.5 and Mistral vocabularies
(with their leading space), so a real tokenizer counts close to the design; a study on this set uses
the design lengths and says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from joulebench.data.lengths import PROMPTS

WORDS = (
    "the of and to in is it you that was for on are with as they be at one have this from or had by word but "
    "what some we can out other were all there when up use your how said an each she which do their time if "
    "will way about many then them write would like so these her long make thing see him two has look more day "
    "could go come did number sound no most people my over know water than call first who may down side been "
    "now find any new work part take get place made live where after back little only round man year came show "
    "every good me give our under name very through just form great think say help low line differ turn cause"
).split()

#: tokens a chat template spends around each message (role markers, separators), on average
TEMPLATE_TOKENS_PER_MESSAGE = 4
THANK_YOU_TOKENS = 3 + TEMPLATE_TOKENS_PER_MESSAGE


_WORD_ARRAY = np.array(WORDS, dtype=object)


def _filler(rng: np.random.Generator, n: int) -> str:
    return " ".join(_WORD_ARRAY[rng.integers(0, len(WORDS), max(n, 1))].tolist())


def offline_records(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` ultrachat-shaped conversations whose thank-you prompts follow `PROMPTS` by design."""
    rng = np.random.default_rng(seed)
    totals = PROMPTS.sample(n, seed)
    out: list[dict[str, Any]] = []
    for i, total in enumerate(totals):
        exchanges = int(rng.integers(1, 5))
        messages = 2 * exchanges
        words = max(int(total) - THANK_YOU_TOKENS - TEMPLATE_TOKENS_PER_MESSAGE * messages, messages)
        # users ask briefly, assistants answer at length (ultrachat's turns look like that)
        weights = rng.dirichlet([1.0 if k % 2 == 0 else 3.0 for k in range(messages)])
        counts = np.maximum(1, np.floor(weights * words)).astype(int)
        turns = [{"role": "user" if k % 2 == 0 else "assistant", "content": _filler(rng, int(c))}
                 for k, c in enumerate(counts)]
        out.append({"prompt": turns[0]["content"], "prompt_id": f"offline-{seed}-{i}", "messages": turns,
                    "design_tokens": int(total)})
    return out
