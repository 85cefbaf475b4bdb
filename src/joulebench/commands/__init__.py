"""Command families of the CLI; each module exposes ``register(app: typer.Typer) -> None``."""

from __future__ import annotations

import shlex
import sys


def command_line() -> str:
    """The command as the user typed it, stored with every run and result for reproduction."""
    return "joulebench " + shlex.join(sys.argv[1:])
