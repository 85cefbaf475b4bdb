"""``joulebench results list|show|records|export|merge``: read the results database (read-only), and merge
the stores that separate runs returned into one (``merge`` writes only its ``--db``)."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import Any

import typer

from joulebench.commands.options import JSON_HELP
from joulebench.report.console import console as make_console
from joulebench.store import DEFAULT_DB, Store

results_app = typer.Typer(help="Read the results database (opened read-only).", no_args_is_help=True)

DB_HELP = "results database (SQLite), opened read-only"


def _label(config: Any) -> str:
    if not isinstance(config, dict):
        return str(config)
    keys = ("model", "name", "dtype", "engine", "batch", "prompt_tokens", "output_tokens", "height", "width", "frames",
            "arrival")
    return " ".join(f"{k}={config[k]}" for k in keys if config.get(k) is not None)[:120]


@results_app.command("list")
def list_runs(db: str = typer.Option(DEFAULT_DB, help=DB_HELP),
              as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Runs, and every point with the id that `results show` takes."""
    from rich.markup import escape
    from rich.table import Table

    with Store.open_read(db) as store:
        runs = store.runs()
        points = list(store.points())
    if as_json:
        doc = {"runs": [{"id": r.id, "kind": r.kind, "command": r.command, "n_points": r.n_points} for r in runs],
               "points": [{"id": p.id, "run_id": p.run_id, "kind": p.kind, "status": p.status, "error": p.error,
                           "config": p.config, "flags": p.summary.get("flags", [])} for p in points]}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    console = make_console()
    table = Table(title=escape(f"runs in {db}"))
    for column in ("run", "when (UTC)", "kind", "points", "command"):
        table.add_column(column)
    for r in runs:
        when = datetime.fromtimestamp(r.created_at, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(str(r.id), when, r.kind, str(r.n_points), escape(r.command))
    console.print(table)
    points_table = Table(title="points (give an id to `joulebench results show ID`)")
    for column in ("id", "run", "kind", "status", "configuration", "flags / error"):
        points_table.add_column(column)
    for p in points:
        note = p.error or ", ".join(p.summary.get("flags") or [])
        points_table.add_row(str(p.id), str(p.run_id), p.kind, p.status, escape(_label(p.config)), escape(note or ""))
    console.print(points_table)


@results_app.command("show")
def show(point_id: int = typer.Argument(..., help="point id (see `joulebench results list`)"),
         db: str = typer.Option(DEFAULT_DB, help=DB_HELP)) -> None:
    """One point as JSON: configuration, summary and its measurement rows."""
    with Store.open_read(db) as store:
        point = store.point(point_id)
        doc = {"id": point.id, "run_id": point.run_id, "kind": point.kind, "status": point.status,
               "error": point.error, "config": point.config, "summary": point.summary,
               "measurements": store.measurements(point_id)}
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")


@results_app.command("records")
def records(point_id: int = typer.Argument(..., help="point id (see `joulebench results list`)"),
            kind: str | None = typer.Option(None, help="record kind: requests (serving), request_token_times, ..."),
            db: str = typer.Option(DEFAULT_DB, help=DB_HELP)) -> None:
    """A point's detail records (per request, per token) as JSON Lines on stdout: the per-request file."""
    with Store.open_read(db) as store:
        store.point(point_id)
        rows = store.records(point_id, kind)
    for row in rows:
        sys.stdout.write(json.dumps(row) + "\n")


@results_app.command("export")
def export(out: str = typer.Argument(..., help="output file (format from its suffix unless --format)"),
           fmt: str | None = typer.Option(None, "--format", help="csv, parquet or json (default: from the suffix)"),
           db: str = typer.Option(DEFAULT_DB, help=DB_HELP),
           kind: str | None = typer.Option(None, help="only points of this kind (llm, video, serving)")) -> None:
    """One row per point (configuration and per-phase figures flattened)."""
    from joulebench.report.export import export_format, export_points

    export_format(out, fmt)  # the format is known (or refused) before the database is opened
    with Store.open_read(db) as store:
        n = export_points(store, out, fmt, kind)
    make_console(stderr=True).print(f"{n} point(s) written to {out}", markup=False)


@results_app.command("merge")
def merge(sources: list[str] = typer.Argument(..., help="stores to copy from, opened read-only (.db or .db.gz)"),
          db: str = typer.Option(DEFAULT_DB, help="the store to copy into (created when absent)")) -> None:
    """Copy into --db every point of SOURCES that it lacks, with its run and rows: the stores that device
    calls resumed from one committed store return, put back together. Points it holds are kept."""
    from contextlib import ExitStack
    from pathlib import Path

    from joulebench.errors import UsageError
    from joulebench.store_merge import merge as merge_into

    target = Path(db).expanduser().resolve()
    for source in sources:
        if Path(source).expanduser().resolve() == target:
            raise UsageError.bad("sources", source, "stores other than --db")
    with ExitStack() as stack:  # every source opens (or is refused) before --db is created or written
        opened = [stack.enter_context(Store.open_read(source, field="sources")) for source in sources]
        into = stack.enter_context(Store(db))
        for source, store in zip(sources, opened, strict=True):
            outcome = merge_into(into, store)
            make_console(stderr=True).print(f"{source}: {len(outcome.copied)} point(s) copied, "
                                            f"{len(outcome.skipped)} already in {db}", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(results_app, name="results")
