"""Errors and exit codes shared by the library and the command line.

Validation happens at the border (CLI parsing, plan construction, file readers): a `UsageError` names
the field, the value and what is allowed, before any GPU work and before anything is written. Below
the CLI an error speaks of fields (``frames=84: Wan needs 4k+1``); the CLI, which knows its flags,
turns the field into the flag (``--frames 84: Wan needs 4k+1``). Errors about the *content* of a
file carry ``where`` (the file, and the line or key) instead, which the CLI shows as is.

Exit codes (documented in the README):

* 0 - everything asked for ran and passed its own checks;
* 1 - the measurement ran but failed its own checks (a failed point, no request served);
* 2 - bad input: one line on stderr, nothing written;
* 130 - interrupted (Ctrl-C); every finished point is kept.
"""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_MAX_SHOWN = 80


def shown(value: Any) -> str:
    """A value as it goes into a one-line message: quoted when text, control characters escaped,
    cut to a readable length (a hostile value must not spill over lines or screens)."""
    text = repr(value) if isinstance(value, str) else str(value)
    text = text.encode("unicode_escape", "backslashreplace").decode("ascii", "replace")
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


class UsageError(ValueError):
    """Bad input from the user: printed as one line, exit code 2, nothing written.

    ``UsageError("reason")`` for input that is no one field; ``UsageError.bad(field, value, reason)``
    for a field (the CLI prints its flag); ``where`` for a place inside a file."""

    def __init__(self, reason: str, *, field: str | None = None, value: Any = None, where: str | None = None) -> None:
        self.reason = " ".join(str(reason).split())
        self.field = field
        self.value = value
        self.where = where
        super().__init__(self._render(field))

    @classmethod
    def bad(cls, field: str, value: Any, reason: str, where: str | None = None) -> UsageError:
        return cls(reason, field=field, value=value, where=where)

    def _render(self, label: str | None) -> str:
        if self.field is None:
            head = ""
        elif label is not None and label.startswith("--"):
            head = f"{label} {shown(self.value)}: "
        elif self.field.startswith("--"):  # a field already named by its flag
            head = f"{self.field} {shown(self.value)}: "
        else:
            head = f"{self.field}={shown(self.value)}: "
        return f"{self.where + ': ' if self.where else ''}{head}{self.reason}"

    def with_flag(self, flag: str | None) -> str:
        """The message as the CLI prints it, the field named by its flag when it has one."""
        if self.where is not None or flag is None:
            return str(self)
        return self._render(flag)


class TelemetryUnavailable(RuntimeError):
    """A meter that was explicitly asked for cannot be read on this machine (e.g. NVML missing)."""


class CheckFailed(RuntimeError):
    """The work ran but its result failed its own checks (exit code 1): what ran is stored."""
