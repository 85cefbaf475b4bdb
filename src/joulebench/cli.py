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

app = typer.Typer(
    name="joulebench",
    help="Measure and predict the latency and energy of generative-AI inference.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_FAMILIES = ("measure", "results", "predict", "hardware", "calibrate", "serve", "video")


def _register_all() -> None:
    import importlib

    for family in _FAMILIES:
        try:
            module = importlib.import_module(f"joulebench.commands.{family}")
        except Exception as exc:  # noqa: BLE001 - one broken family must not take the others down
            sys.stderr.write(f"joulebench: warning: '{family}' commands unavailable: {exc}\n")
            continue
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
    except _NO_ARGS:
        raise SystemExit(0) from None
    except _USAGE_ERRORS as exc:
        _fail(exc.format_message().replace("\n", " "))
    except _ABORT:
        sys.stderr.write("joulebench: interrupted\n")
        raise SystemExit(130) from None
    except KeyboardInterrupt:
        sys.stderr.write("joulebench: interrupted\n")
        raise SystemExit(130) from None
    if isinstance(result, int) and result != 0:
        raise SystemExit(result)


if __name__ == "__main__":
    main()
