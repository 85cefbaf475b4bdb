"""Reading the files users hand us (YAML, JSON, JSONL, text), safely and with one-line errors.

Why one reader: every user file is bad input in waiting - missing, a directory, binary, huge, a YAML
alias bomb, a list where a mapping belongs, a syntax error on line 40. Each of those must become one
line that names the file (and the line) and exit code 2, never a traceback, before any work starts.

* sizes are capped (``max_bytes``) before a byte is parsed;
* text must decode as UTF-8 (a binary file is named as such, with the offset of the first bad byte);
* YAML is read with the safe loader and **no aliases** (``&a`` / ``*a`` expand exponentially: the
  "billion laughs"); calibration and hardware files never need them;
* JSON Lines are parsed line by line, errors carry the line number.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from joulebench.errors import UsageError

#: default cap on a user file: far above any real prompts or trace file, far below memory trouble
MAX_FILE_BYTES = 64 * 1024 * 1024
#: YAML/JSON documents of settings (calibration profiles, hardware entries, model configs)
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024


def read_text(path: str | Path, field: str, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The file's text; `UsageError` naming ``field`` when it is missing, not a file, too big or binary."""
    p = Path(path).expanduser()
    try:
        if not p.exists():
            raise UsageError.bad(field, str(path), "no such file")
        if not p.is_file():
            raise UsageError.bad(field, str(path), "not a regular file")
        size = p.stat().st_size
        if size > max_bytes:
            raise UsageError.bad(field, str(path), f"{size} bytes; at most {max_bytes} are read")
        data = p.read_bytes()[: max_bytes + 1]
    except OSError as exc:
        raise UsageError.bad(field, str(path), f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:  # a file that grows while read (or /proc): cut off, refused
        raise UsageError.bad(field, str(path), f"more than {max_bytes} bytes")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise UsageError.bad(field, str(path), f"binary, not text (NUL byte at offset {nul})")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError.bad(field, str(path), f"not UTF-8 text (bad byte at offset {exc.start})") from None


def _no_alias_loader() -> type:
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: ANN401 - PyYAML's signature
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise yaml.YAMLError(f"line {mark.line + 1}: aliases (*name) are not allowed")
            return super().compose_node(parent, index)

    return NoAliasLoader


def parse_yaml(text: str, field: str, source: str) -> Any:
    import yaml

    try:
        return yaml.load(text, Loader=_no_alias_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UsageError.bad(field, source, f"not valid YAML: {where}{problem}") from None
    except RecursionError:
        raise UsageError.bad(field, source, "not valid YAML: nested too deeply") from None


def read_document(path: str | Path, field: str, max_bytes: int = MAX_DOCUMENT_BYTES) -> Any:
    """A YAML or JSON file (by suffix; YAML reads JSON too) parsed into plain Python values."""
    text = read_text(path, field, max_bytes)
    if Path(path).suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError.bad(field, str(path), f"not valid JSON: line {exc.lineno}: {exc.msg}") from None
        except RecursionError:
            raise UsageError.bad(field, str(path), "not valid JSON: nested too deeply") from None
    return parse_yaml(text, field, str(path))


def read_mapping(path: str | Path, field: str, max_bytes: int = MAX_DOCUMENT_BYTES) -> dict[str, Any]:
    """A document whose top level must be a mapping with string keys."""
    data = read_document(path, field, max_bytes)
    if not isinstance(data, dict):
        raise UsageError.bad(field, str(path), f"must hold a mapping at the top level, not {type(data).__name__}")
    if not all(isinstance(k, str) for k in data):
        raise UsageError.bad(field, str(path), "every top-level key must be text")
    return data


def read_jsonl(path: str | Path, field: str, max_bytes: int = MAX_FILE_BYTES) -> list[tuple[int, Any]]:
    """``(line number, value)`` for every non-blank line of a JSON Lines file."""
    out: list[tuple[int, Any]] = []
    for number, line in enumerate(read_text(path, field, max_bytes).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((number, json.loads(line)))
        except (json.JSONDecodeError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            raise UsageError.bad(field, str(path), f"line {number}: not valid JSON: {reason}") from None
    return out


def expect(value: Any, kind: type | tuple[type, ...], field: str, where: str) -> Any:
    """``value`` when it is of ``kind`` (bool is not a number here), else a `UsageError` at ``where``."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    is_bool_as_number = isinstance(value, bool) and bool not in kinds
    if not isinstance(value, kinds) or is_bool_as_number:
        names = " or ".join(k.__name__ for k in kinds)
        raise UsageError.bad(field, value, f"must be {names}, not {type(value).__name__}", where=where)
    return value
