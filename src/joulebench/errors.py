"""Errors that the command line turns into one line and exit code 2.

Validation happens at the border (CLI, Plan construction): a `UsageError` names the field, the value and
what is allowed, before any GPU work and before anything is written.
"""

from __future__ import annotations


class UsageError(ValueError):
    """Bad input from the user: printed as one line, exit code 2, nothing written."""


class TelemetryUnavailable(RuntimeError):
    """A meter that was explicitly asked for cannot be read on this machine (e.g. NVML missing)."""
