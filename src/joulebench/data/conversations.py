"""Chat conversations from a user's file, checked line by line before any model is loaded.

Accepted shapes (what chat datasets and the OpenAI API use):

* JSON Lines, one conversation per line: ``{"messages": [{"role": ..., "content": ...}, ...]}`` or the
  bare list of messages;
* a JSON file holding a list of such conversations, or one conversation (a list of messages).

A message is a mapping with a text ``role`` and a text ``content``. Anything else is one line naming
the file, the line (JSONL) or the conversation index, and what was found.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from joulebench.errors import UsageError
from joulebench.files import read_document, read_jsonl

Message = dict[str, str]


def _is_message(value: Any) -> bool:
    return isinstance(value, dict) and "role" in value and "content" in value


def parse_conversation(value: Any, field: str, where: str) -> list[Message]:
    messages = value.get("messages") if isinstance(value, dict) else value
    if isinstance(value, dict) and "messages" not in value:
        raise UsageError.bad(field, sorted(value)[:5], "a conversation needs a 'messages' list (or is a bare list "
                             "of messages)", where=where)
    if not isinstance(messages, list) or not messages:
        raise UsageError(f"{field}: a conversation must be a non-empty list of messages", where=where)
    out: list[Message] = []
    for i, message in enumerate(messages):
        if not _is_message(message):
            raise UsageError(f"{field}: message {i} must be a mapping with 'role' and 'content'", where=where)
        role, content = message["role"], message["content"]
        if not isinstance(role, str) or not isinstance(content, str):
            raise UsageError(f"{field}: message {i}: 'role' and 'content' must be text", where=where)
        out.append({"role": role, "content": content})
    return out


def read_records(path: str | Path, field: str = "messages") -> list[tuple[str, Any]]:
    """``(where, value)`` for every conversation record of a JSON/JSONL file, not yet validated: the
    prompt sources read extra keys (``reply_tokens``, ``prompt_tokens``) beside the messages."""
    source = str(path)
    if Path(path).suffix.lower() == ".jsonl":
        return [(f"{source} line {n}", value) for n, value in read_jsonl(path, field)]
    data = read_document(path, field)
    if isinstance(data, list) and data and all(_is_message(m) for m in data):
        data = [data]  # one conversation given as its list of messages
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise UsageError.bad(field, source, f"must hold a list of conversations, not {type(data).__name__}")
    return [(f"{source} conversation {i}", value) for i, value in enumerate(data)]


def read_conversations(path: str | Path, field: str = "messages") -> list[list[Message]]:
    """Every conversation of the file, validated; `UsageError` at the first bad one."""
    conversations = [parse_conversation(value, field, where) for where, value in read_records(path, field)]
    if not conversations:
        raise UsageError.bad(field, str(path), "no conversations")
    return conversations
