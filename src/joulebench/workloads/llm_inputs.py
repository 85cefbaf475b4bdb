"""Inputs of one LLM point: random token ids of exact lengths, or conversations through the chat template.

Batches are left-padded to the longest prompt, as ``generate`` expects; a point records both the
*effective* prompt tokens (real ones) and the *computed* ones (batch x padded length), since padding
costs compute but answers nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from joulebench.errors import UsageError


@dataclass(frozen=True)
class Inputs:
    input_ids: Any  # (batch, padded_len) long tensor, left-padded
    attention_mask: Any
    effective_tokens: int  # real prompt tokens over the batch
    computed_tokens: int  # batch * padded length


def synthetic_inputs(vocab: int, device: str, prompt_tokens: int, batch: int, spread: float, seed: int,
                     row_lengths: Sequence[int] = ()) -> Inputs:
    """Random token ids of an exact length (or lengths spread down to ``(1-spread)*prompt_tokens``, or
    the given ``row_lengths``, left-padded to ``prompt_tokens``). The top of the vocabulary (where special
    ids live) is avoided so that no row ends early."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    low = max(1, int(round(prompt_tokens * (1.0 - spread))))
    lengths = torch.randint(low, prompt_tokens + 1, (batch,), generator=gen) if spread > 0 else None
    if row_lengths:
        lengths = torch.tensor([min(int(n), prompt_tokens) for n in row_lengths])
    ids = torch.randint(0, min(vocab, 2**31 - 1) - 300 if vocab > 600 else 256, (batch, prompt_tokens), generator=gen)
    mask = torch.ones_like(ids)
    if lengths is not None:
        for row, length in enumerate(lengths.tolist()):
            mask[row, : prompt_tokens - length] = 0
            ids[row, : prompt_tokens - length] = 0
    return Inputs(ids.to(device), mask.to(device), int(mask.sum()), batch * prompt_tokens)


def chat_inputs(tokenizer: Any, model_name: str, device: str, conversations: list[list[dict[str, str]]],
                batch: int) -> Inputs:
    """Rows of the batch cycle through the conversations, each through the tokenizer's chat template."""
    import torch

    if tokenizer is None:
        raise UsageError.bad("messages", model_name, "needs the model's tokenizer, which is not available here")
    rows = []
    for i in range(batch):
        encoded = tokenizer.apply_chat_template(conversations[i % len(conversations)], add_generation_prompt=True,
                                                tokenize=True)
        rows.append(list(encoded["input_ids"] if isinstance(encoded, Mapping) else encoded))
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id or 0
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return Inputs(ids.to(device), mask.to(device), int(mask.sum()), batch * width)
