"""``joulebench results list|show|export``: read the results database."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import typer
from rich.table import Table

from joulebench.errors import UsageError
from joulebench.report.console import console as make_console
from joulebench.report.export import EXPORT_FORMATS, export_points, points_frame
from joulebench.store import DEFAULT_DB, Store

results_app = typer.Typer(help="Read the results database.", no_args_is_help=True)


@results_app.command("list")
def list_runs(db: str = typer.Option(DEFAULT_DB), as_json: bool = typer.Option(False, "--json")) -> None:
    """Runs and their points."""
    with Store.open_existing(db) as store:
        frame = points_frame(store)
        runs = store.runs()
    if as_json:
        sys.stdout.write(json.dumps({"runs": [{k: r[k] for k in ("id", "kind", "command", "n_points")} for r in runs],
                                     "points": json.loads(frame.to_json(orient="records"))}, indent=2) + "\n")
        return
    table = Table(title=f"runs in {db}")
    for column in ("run", "when", "kind", "points", "command"):
        table.add_column(column)
    for r in runs:
        when = datetime.fromtimestamp(r["created_at"], tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(str(r["id"]), when, r["kind"], str(r["n_points"]), r["command"])
    make_console().print(table)


@results_app.command("show")
def show(point_id: int = typer.Argument(..., help="point id (see results list --json)"),
         db: str = typer.Option(DEFAULT_DB)) -> None:
    """One point: configuration, summary and its measurement rows, as JSON."""
    with Store.open_existing(db) as store:
        point = store.point(point_id)
        doc = {"id": point.id, "run_id": point.run_id, "kind": point.kind, "status": point.status,
               "error": point.error, "config": point.config, "summary": point.summary,
               "measurements": store.measurements(point_id)}
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")


@results_app.command("export")
def export(out: str = typer.Argument(..., help="output file"),
           fmt: str = typer.Option("csv", "--format", help="csv, parquet or json"),
           db: str = typer.Option(DEFAULT_DB), kind: str | None = typer.Option(None)) -> None:
    """One row per point (configuration and per-phase figures flattened)."""
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"--format {fmt}: unknown; allowed: {', '.join(EXPORT_FORMATS)}")
    if Path(out).is_dir():
        raise UsageError(f"{out}: is a directory; give a file path")
    with Store.open_existing(db) as store:
        n = export_points(store, out, fmt, kind)
    make_console(stderr=True).print(f"{n} point(s) written to {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(results_app, name="results")
