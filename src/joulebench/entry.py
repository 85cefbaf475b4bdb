"""The console script's entry point: Ctrl-C exits 130 cleanly from the first instant.

Importing the command line takes a moment (typer, rich, the command families); a SIGINT during those
imports would otherwise print a traceback from inside an import, or be lost in it (`interrupts` says
what was measured). Nothing heavy is imported here before the handler is in place.
"""

from __future__ import annotations

import sys

from joulebench import interrupts


def main() -> None:
    interrupts.install()
    try:
        with interrupts.deferred():  # a Ctrl-C inside the imports is raised once they are whole
            from joulebench.cli import main as run
            from joulebench.errors import EXIT_INTERRUPTED

        run()
    except SystemExit:
        raise
    except BaseException:
        if not interrupts.interrupted():
            raise
        # an interrupt, bare or wrapped by the code it landed in (e.g. a RuntimeError from a class body)
        sys.stderr.write("joulebench: interrupted\n")
        raise SystemExit(EXIT_INTERRUPTED) from None


if __name__ == "__main__":
    main()
