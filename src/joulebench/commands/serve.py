"""CLI commands: serve (placeholder until its issue lands)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach this family's commands to the main app."""
