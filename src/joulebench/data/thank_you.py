"""The "thank you" prompts of case study I: a conversation's whole history, then a user's thanks.

The study took ultrachat_200k conversations, cut them after an assistant turn, appended a user turn
"thank you", and sent the whole history through the model's chat template as the prompt (max 256 new
tokens). `thank_you_conversation` is that cut. Records come from ``datasets`` (the hub id, or a local
json/jsonl/parquet copy of it) when that can be had; otherwise - no hub, no ``datasets``, no tokenizer
to count real text with - from the generated offline set (`data.offline_chats`), quickly and quietly:
one note says which set was used and why, and the hub is probed once (~1 s at most) rather than left
to retry.

Reply lengths: the study let the real model answer; random weights cannot, so replies are drawn from
the thank-you reply law (`data.lengths.THANK_YOU_REPLIES`, mean ~51 tokens, what the study's own fits
imply for its 0.202 Wh per reply).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from joulebench.data.prompt_set import PromptSample, PromptSet, SourceRequest, count_chat_tokens

ULTRACHAT = "HuggingFaceH4/ultrachat_200k"
ULTRACHAT_SPLIT = "train_sft"
THANK_YOU = "Thank you!"
#: records read per request wanted: a few conversations have no assistant turn to cut after
OVERSAMPLE = 1.1


def thank_you_conversation(messages: Sequence[Mapping[str, str]]) -> list[dict[str, str]] | None:
    """The history up to and including the last assistant turn, then the user's thanks (None: no
    assistant turn to cut after)."""
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
    if last is None:
        return None
    history = [{"role": str(m["role"]), "content": str(m["content"])} for m in messages[: last + 1]]
    return history + [{"role": "user", "content": THANK_YOU}]


def dataset_records(n: int, seed: int, dataset: str = ULTRACHAT) -> tuple[list[dict[str, Any]] | None, str]:
    """Up to ``n`` shuffled records of ``dataset`` (a hub id, or a local .json/.jsonl/.parquet file) via
    ``datasets``; ``(None, why)`` when they cannot be had here."""
    local = Path(dataset).suffix.lower() in (".json", ".jsonl", ".parquet")
    if not local:
        from joulebench.models.configs import hub_reachable

        if not hub_reachable():
            return None, "the hub is unreachable"
    try:
        import datasets
    except ImportError:
        return None, "the datasets package is not installed"
    try:
        datasets.disable_progress_bars()
        if local:
            builder = "parquet" if dataset.endswith(".parquet") else "json"
            table = datasets.load_dataset(builder, data_files=dataset, split="train")
            rows: Iterable[Any] = table.shuffle(seed=seed).select(range(min(n, len(table))))
        else:
            stream = datasets.load_dataset(dataset, split=ULTRACHAT_SPLIT, streaming=True)
            rows = stream.shuffle(seed=seed, buffer_size=10_000).take(n)
        return [dict(r) for r in rows], f"{dataset} via datasets {datasets.__version__}"
    except Exception as exc:  # noqa: BLE001 - any failure to fetch falls over to the offline set
        return None, f"{dataset} could not be loaded ({type(exc).__name__}: {str(exc)[:120]})"


def _samples(records: Iterable[Mapping[str, Any]], replies: Sequence[int], want: int,
             tokenizer: Any) -> list[PromptSample]:
    out: list[PromptSample] = []
    for record in records:
        if len(out) == want:
            break
        conversation = thank_you_conversation(record.get("messages") or [])
        if conversation is None:
            continue
        s = count_chat_tokens(tokenizer, conversation) if tokenizer is not None else int(record["design_tokens"])
        out.append(PromptSample(len(out), s, int(replies[len(out)]), tuple(conversation)))
    return out


def thank_you_set(request: SourceRequest) -> PromptSet:
    """The study's thank-you prompts from ultrachat when it can be had, else the generated offline set."""
    from joulebench.data.lengths import THANK_YOU_REPLIES
    from joulebench.data.offline_chats import offline_records

    dataset = str(request.extra.get("dataset", ULTRACHAT))
    replies = THANK_YOU_REPLIES.sample(request.requests, request.seed + 1)
    reply_note = THANK_YOU_REPLIES.describe()
    records, why = dataset_records(int(request.requests * OVERSAMPLE) + 8, request.seed, dataset)
    if records is not None:
        tokenizer = _tokenizer(request.model)
        if tokenizer is None:
            why = f"{request.model}'s tokenizer is not available to count {dataset}'s text"
        else:
            samples = _samples(records, replies, request.requests, tokenizer)
            if samples:
                return PromptSet("thank-you", tuple(samples), f"chat template of {request.model} on {why}",
                                 reply_note)
            why = f"{dataset} gave no conversation with an assistant turn"
    samples = _samples(offline_records(request.requests, request.seed), replies, request.requests, None)
    note = f"thank-you prompts from the generated offline set ({why}); prompt lengths follow the study's law"
    return PromptSet("thank-you", tuple(samples), "design of the generated offline set", reply_note, (note,))


def _tokenizer(model: str) -> Any:
    from joulebench.models.configs import resolve
    from joulebench.workloads.tokenizer import tokenizer_for

    return tokenizer_for(resolve(model))
