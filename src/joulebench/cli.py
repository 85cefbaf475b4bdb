"""The ``joulebench`` command line: thin parsing over the library.

Each command family lives in ``joulebench.commands.<family>`` and registers itself on the one Typer
app. Errors at the border (`UsageError`, click's own usage errors) become one line on stderr and exit
code 2, with nothing written; Ctrl-C exits 130 after the runner has kept every finished point.
"""

from __future__ import annotations

import sys

import click
import typer

from joulebench.errors import TelemetryUnavailable, UsageError

app = typer.Typer(
    name="joulebench",
    help="Measure and predict the latency and energy of generative-AI inference.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_FAMILIES = ("measure", "results", "predict", "hardware", "calibrate", "serve")


def _register_all() -> None:
    import importlib

    for family in _FAMILIES:
        module = importlib.import_module(f"joulebench.commands.{family}")
        module.register(app)


_register_all()


def _fail(message: str) -> None:
    sys.stderr.write(f"joulebench: error: {message}\n")
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        result = app(args=argv, standalone_mode=False)
    except (UsageError, TelemetryUnavailable) as exc:
        _fail(str(exc))
    except click.exceptions.NoArgsIsHelpError:
        raise SystemExit(0) from None
    except click.exceptions.UsageError as exc:
        _fail(exc.format_message().replace("\n", " "))
    except click.exceptions.Abort:
        sys.stderr.write("joulebench: interrupted\n")
        raise SystemExit(130) from None
    except KeyboardInterrupt:
        sys.stderr.write("joulebench: interrupted\n")
        raise SystemExit(130) from None
    if isinstance(result, int) and result != 0:
        raise SystemExit(result)


if __name__ == "__main__":
    main()
