"""Helpers shared by the serving tests: the CLI as a function that returns its exit code."""

from __future__ import annotations

from joulebench.cli import main


def run_cli(argv: list[str]) -> int:
    """Exit code of ``joulebench ARGV`` (``main`` returns on success and raises SystemExit otherwise)."""
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
