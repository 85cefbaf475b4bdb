"""Parsing the comma lists and choices users type, with errors that name the field.

One place for the list grammar (``128,512``; ``prefill,decode``) so every command reads it the same way;
the CLI turns the field into its flag when it prints the error.
"""

from __future__ import annotations

from collections.abc import Iterable

from joulebench.errors import UsageError

#: an upper bound on any count a user may type (requests, tokens, repetitions): past it, nothing a
#: machine can run, and a typo's extra zeros should not start an hours-long sweep or a huge allocation
MAX_COUNT = 10_000_000


def parse_int_list(field: str, text: object, minimum: int = 1, maximum: int = MAX_COUNT) -> list[int]:
    """``"128,512"`` -> [128, 512]; a `UsageError` naming ``field`` when a value is not an integer in range."""
    values: list[int] = []
    parts = [p.strip() for p in str(text).split(",")]
    if not any(parts):
        raise UsageError.bad(field, text, f"empty; give integers >= {minimum}, comma-separated")
    for part in parts:
        try:
            value = int(part)
        except ValueError:
            raise UsageError.bad(field, text, f"'{part}' is not an integer; give integers >= {minimum}, "
                                 "comma-separated") from None
        if value < minimum:
            raise UsageError.bad(field, text, f"{value} is below {minimum}; give integers >= {minimum}")
        if value > maximum:
            raise UsageError.bad(field, text, f"{value} is above {maximum}, more than any run can do")
        values.append(value)
    return values


def parse_choices(field: str, text: object, allowed: Iterable[str]) -> list[str]:
    """``"prefill,decode"`` -> ["prefill", "decode"]; each must be one of ``allowed``; order kept, no repeats."""
    choices = tuple(allowed)
    values: list[str] = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        if part not in choices:
            raise UsageError.bad(field, part, f"unknown; allowed: {', '.join(choices)}")
        if part not in values:
            values.append(part)
    if not values:
        raise UsageError.bad(field, text, f"empty; allowed: {', '.join(choices)}")
    return values


def choice(field: str, value: str, allowed: Iterable[str]) -> str:
    choices = tuple(allowed)
    if value not in choices:
        raise UsageError.bad(field, value, f"unknown; allowed: {', '.join(choices)}")
    return value


def parse_names(field: str, text: object) -> list[str]:
    """A comma list of names (models): empty items and an all-empty list are refused."""
    names = [p.strip() for p in str(text).split(",")]
    if not any(names) or any(not n for n in names):
        raise UsageError.bad(field, text, "give one or more names, comma-separated, none empty")
    return names
