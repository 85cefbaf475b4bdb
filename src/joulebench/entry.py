"""The console script's entry point: Ctrl-C exits 130 cleanly from the first instant.

Importing the command line takes a moment (typer, rich, the command families); a SIGINT during those
imports would otherwise print a traceback from inside an import. Nothing is imported here before the
guard is in place.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from joulebench.cli import main as run

        run()
    except KeyboardInterrupt:
        sys.stderr.write("joulebench: interrupted\n")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
