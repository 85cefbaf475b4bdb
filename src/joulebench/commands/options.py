"""Options several commands share, each defined once.

typer reads an option's metadata (default, flag, help) from the parameter's default value, so one
``typer.Option`` object may stand in the signature of every command that takes it; a change of wording
or default is then made here once. Options one command alone takes stay in that command."""

from __future__ import annotations

import typer

from joulebench.store import DEFAULT_DB

JSON_HELP = "print one JSON document on stdout instead of tables (progress still goes to stderr)"
DB_HELP = "results database (SQLite); created if absent, resumed if it holds the same points"

JSON = typer.Option(False, "--json", help=JSON_HELP)
DB = typer.Option(DEFAULT_DB, help=DB_HELP)
DEVICE = typer.Option("cuda", help="cuda or cpu")
GPUS = typer.Option(None, help="comma list of CUDA-visible GPU indices to meter (default: all)")
HARDWARE_FILE = typer.Option(None, "--hardware-file", help="YAML of extra accelerators")
#: ``predict``: the prediction as one JSON document, printed and/or written
JSON_DOC = typer.Option(False, "--json", help="print the JSON document (keys: analytic.render)")
OUT_DOC = typer.Option(None, "--out", help="also write the JSON document to this file")
POINT_BUDGET = typer.Option(None, "--point-budget-s", help="seconds of stability rounds one point may spend "
                            "(default: 120 on cuda, 5 on cpu); a point that misses the CI target by then is "
                            "flagged unstable")
