"""Prompt sources of the studies: (prompt length, reply length) pairs, with the text where there is one.

A study measures requests whose cost is set by two numbers, the prompt's tokens ``s`` and the reply's
tokens ``g``; a source says where both come from, and says so in the result (``prompt_lengths``,
``reply_lengths``), because "Wh per reply" means nothing without the lengths behind it:

* ``thank-you`` - ultrachat_200k conversations cut after an assistant turn with a user "thank you"
  appended (`data.thank_you`), loaded with ``datasets`` when the hub answers; offline, the generated set
  of the same shape (`data.offline_chats`);
* ``synthetic`` - lengths only, drawn from the study's case II laws (`data.lengths`);
* a user's ``.jsonl`` / ``.json`` file: one request per line, ``{"messages": [...]}`` (counted with the
  model's chat template) and/or ``{"prompt_tokens": 812}``, optionally ``"reply_tokens": 40``.

Random-weight models never stop by themselves, so every sample carries its reply length: recorded in
the source, or drawn from the study's reply law (said in ``reply_lengths``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from joulebench.data.lengths import PROMPTS, REPLIES, LengthModel
from joulebench.data.prompt_set import PromptSample, PromptSet, SourceRequest, count_chat_tokens
from joulebench.data.thank_you import thank_you_set
from joulebench.errors import UsageError
from joulebench.files import expect


def synthetic(request: SourceRequest) -> PromptSet:
    """Lengths drawn from the study's case II laws (prompts 200-4000, mean ~1200)."""
    s = PROMPTS.sample(request.requests, request.seed)
    g = request.replies.sample(request.requests, request.seed + 1)
    samples = tuple(PromptSample(i, int(a), int(b)) for i, (a, b) in enumerate(zip(s, g, strict=True)))
    return PromptSet("synthetic", samples, PROMPTS.describe(), request.replies.describe())


#: named sources; anything else is read as a user's file
SOURCES: dict[str, Callable[[SourceRequest], PromptSet]] = {"thank-you": thank_you_set, "synthetic": synthetic}
FILE_SUFFIXES = (".jsonl", ".json")


def open_prompts(spec: str, requests: int | None, seed: int, model: str, replies: LengthModel = REPLIES,
                 default_requests: int = 1000) -> PromptSet:
    """The source ``spec`` names (`SOURCES` or a file path), with ``requests`` requests (a file: its first
    ``requests`` lines, all of them when None). `UsageError` naming ``source`` for anything else."""
    if requests is not None and requests < 1:
        raise UsageError.bad("requests", requests, "must be >= 1")
    if spec in SOURCES:
        return SOURCES[spec](SourceRequest(requests or default_requests, seed, model, replies, spec))
    if Path(spec).suffix.lower() in FILE_SUFFIXES:
        return user_file(Path(spec), requests, seed, model, replies)
    raise UsageError.bad("source", spec, f"unknown; allowed: {', '.join(SOURCES)}, or a {'/'.join(FILE_SUFFIXES)} "
                         "file of requests")


def _positive_int(record: Mapping[str, Any], key: str, where: str) -> int | None:
    if key not in record:
        return None
    value = expect(record[key], int, key, where)
    if value < 1:
        raise UsageError.bad(key, value, "must be >= 1", where=where)
    return int(value)


def user_file(path: Path, requests: int | None, seed: int, model: str, replies: LengthModel) -> PromptSet:
    """A user's requests: every line validated before anything runs; messages are counted with the
    model's own chat template, so a line without ``prompt_tokens`` needs the model's tokenizer here."""
    from joulebench.data.conversations import parse_conversation, read_records

    records = read_records(path, "source")[: requests or None]
    if not records:
        raise UsageError.bad("source", str(path), "holds no requests")
    tokenizer: Any = None
    drawn = replies.sample(len(records), seed + 1)
    samples, counted, recorded_replies = [], False, 0
    for i, (where, value) in enumerate(records):
        if not isinstance(value, (dict, list)):
            raise UsageError.bad("source", type(value).__name__, "a request is a mapping (or a list of messages)",
                                 where=where)
        record = value if isinstance(value, dict) else {"messages": value}
        has_messages = "messages" in record
        messages = tuple(parse_conversation(record, "source", where)) if has_messages else None
        s = _positive_int(record, "prompt_tokens", where)
        g = _positive_int(record, "reply_tokens", where)
        if s is None and messages is None:
            raise UsageError.bad("source", sorted(record)[:5], "a request needs 'messages' or 'prompt_tokens'",
                                 where=where)
        if s is None:
            tokenizer = tokenizer or _tokenizer(model, path)
            s, counted = count_chat_tokens(tokenizer, messages or ()), True
        recorded_replies += g is not None
        samples.append(PromptSample(i, s, int(drawn[i]) if g is None else g, messages))
    notes = () if requests is None or requests <= len(records) else (
        f"{path} holds {len(records)} requests; --requests {requests} asked for more",)
    prompt_lengths = f"chat template of {model}" if counted else "recorded in the file"
    reply_lengths = ("recorded in the file" if recorded_replies == len(samples)
                     else f"{recorded_replies} recorded, the rest drawn from {replies.describe()}")
    return PromptSet(str(path), tuple(samples), prompt_lengths, reply_lengths, notes)


def _tokenizer(model: str, path: Path) -> Any:
    from joulebench.models.configs import resolve
    from joulebench.workloads.tokenizer import tokenizer_for

    tokenizer = tokenizer_for(resolve(model))
    if tokenizer is None:
        raise UsageError.bad("source", str(path), f"its messages need {model}'s tokenizer to be counted, which is "
                             "not available here (hub unreachable); give 'prompt_tokens' on each line, or a local "
                             "model folder with its tokenizer")
    return tokenizer
