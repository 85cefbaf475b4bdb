"""The ``joulebench`` command line: thin parsing over the library.

Each command family lives in ``joulebench.commands.<family>`` and registers itself on the one Typer app
(static imports; each family imports its heavy libraries inside its commands, so ``--help`` stays fast).
Errors at the border become one line on stderr with the exit codes of `joulebench.errors`: a library
`UsageError` names a field, and this module prints the field as the command's flag; Ctrl-C exits 130
after the sweep driver has kept every finished point.
"""

from __future__ import annotations

import sys
from functools import cache

import click
import typer

from joulebench import __version__
from joulebench.commands import calibrate, hardware, measure, predict, report, results, serve, study, video
from joulebench.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, TelemetryUnavailable, UsageError

try:  # typer >= 0.2x vendors its own click; its exceptions are not click's
    from typer._click import exceptions as _typer_click_exceptions
except ImportError:  # pragma: no cover - older typer uses click itself
    _typer_click_exceptions = click.exceptions


def _classes(name: str) -> tuple[type[BaseException], ...]:
    found = {getattr(module, name, None) for module in (click.exceptions, _typer_click_exceptions)}
    return tuple(cls for cls in found if isinstance(cls, type))


_USAGE_ERRORS = _classes("UsageError")
_NO_ARGS = _classes("NoArgsIsHelpError")
_ABORT = _classes("Abort")
_EXIT = _classes("Exit")


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"joulebench {__version__}\n")
        raise typer.Exit(EXIT_OK)


app = typer.Typer(
    name="joulebench",
    help="Measure and predict the latency and energy of generative-AI inference. "
         "Exit codes: 0 ok, 1 ran but failed its own checks, 2 bad input, 130 interrupted.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", help="print the version and exit", is_eager=True, metavar="",
                                       callback=_version)) -> None:
    """Measure and predict the latency and energy of generative-AI inference."""


for _family in (measure, results, predict, hardware, calibrate, serve, video, report, study):
    _family.register(app)


@cache
def _flags() -> frozenset[str]:
    """Every long option any command has: a library error's field is printed as its flag when one exists."""
    out: set[str] = set()

    def walk(command: object) -> None:
        for param in getattr(command, "params", []):
            out.update(o for o in getattr(param, "opts", []) if o.startswith("--"))
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    return frozenset(out)


#: unit suffixes a library field carries that its flag leaves out (``max_duration_s`` is ``--max-duration``)
_UNIT_SUFFIXES = ("_s", "_tokens", "_w", "_bytes")


def usage_message(exc: UsageError) -> str:
    """The error's one line, its field printed as the flag of the command when there is one."""
    if exc.field is None:
        return str(exc)
    name = exc.field.lstrip("-")
    candidates = [name] + [name.removesuffix(u) for u in _UNIT_SUFFIXES if name.endswith(u)]
    for candidate in candidates:
        flag = "--" + candidate.replace("_", "-")
        if flag in _flags():
            return exc.with_flag(flag)
    return exc.with_flag(None)


def _fail(message: str) -> None:
    sys.stderr.write(f"joulebench: error: {' '.join(message.split())}\n")
    raise SystemExit(EXIT_USAGE)


def main(argv: list[str] | None = None) -> None:
    """Run the app; the console script's entry point is `joulebench.entry.main`."""
    try:
        result = app(args=argv, standalone_mode=False)
    except UsageError as exc:
        _fail(usage_message(exc))
    except TelemetryUnavailable as exc:
        _fail(str(exc))
    except _NO_ARGS:
        raise SystemExit(EXIT_OK) from None
    except _USAGE_ERRORS as exc:
        _fail(exc.format_message())
    except _EXIT as exc:
        raise SystemExit(getattr(exc, "exit_code", 0)) from None
    except (*_ABORT, KeyboardInterrupt):
        sys.stderr.write("joulebench: interrupted\n")
        raise SystemExit(EXIT_INTERRUPTED) from None
    if isinstance(result, int) and result != 0:
        raise SystemExit(result)


if __name__ == "__main__":
    main()
