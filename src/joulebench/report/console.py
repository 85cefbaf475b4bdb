"""One place to make rich consoles: wide enough for our tables when output is piped to a file."""

from __future__ import annotations

import sys

from rich.console import Console

PIPED_WIDTH = 160


def console(stderr: bool = False, quiet: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else PIPED_WIDTH
    return Console(stderr=stderr, quiet=quiet, width=width)
