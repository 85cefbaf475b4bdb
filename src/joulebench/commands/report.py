"""``joulebench report``: results databases -> one self-contained HTML report (+ paper figures)."""

from __future__ import annotations

import typer

from joulebench.store import DEFAULT_DB


def report(
    db: list[str] = typer.Option([DEFAULT_DB], "--db", help="results database to read (read-only); repeat for several"),
    run: list[str] = typer.Option([], "--run", help="only this run: N (in every --db) or DB:N (DB = the database's "
                                  "file name); repeat for several; default: every run"),
    out: str = typer.Option("report.html", "--out", help="HTML file to write (self-contained: no network at view time)"),
    figures: str | None = typer.Option(None, "--figures", help="also write every figure as PNG, SVG and PDF into DIR"),
    calibration: list[str] = typer.Option([], "--calibration", help="LLM calibration profile (YAML) to validate "
                                          "against the stored points: predicted vs measured; repeat for several"),
    requests_per_day: float = typer.Option(1_000_000.0, "--requests-per-day", help="impact: requests served per day"),
    pue: float = typer.Option(1.0, "--pue", help="impact: power usage effectiveness (facility / IT energy; 1 = IT only)"),
    price_per_kwh: float = typer.Option(0.15, "--price-per-kwh", help="impact: electricity price per kWh (an assumption)"),
    currency: str = typer.Option("USD", "--currency", help="impact: label of the price's currency"),
    regions: str = typer.Option(",".join(("USA", "FRA", "DEU", "GBR", "POL", "SWE", "CHN", "IND")), "--regions",
                                help="impact: grid regions (ISO 3166 alpha-3) from the bundled carbon-intensity table"),
    live_carbon: bool = typer.Option(False, "--live-carbon", help="impact: use Great Britain's live grid intensity "
                                     "(network; falls back to the table with a note)"),
    title: str | None = typer.Option(None, "--title", help="title of the page"),
    as_json: bool = typer.Option(False, "--json", help="print where the report went as JSON instead of a line"),
) -> None:
    """Read the results databases and write one HTML page: runs and environment, per-phase and per-component
    tables with floors and flags, energy distributions, prefill/decode breakdowns, power traces, predicted vs
    measured, serving per arrival law, video scaling, and impact (kWh/day, households, CO2e, cost)."""
    import json
    import sys

    from joulebench.report.build import build_report
    from joulebench.report.impact import ImpactParams, parse_regions

    params = ImpactParams(requests_per_day, pue, price_per_kwh, currency, parse_regions(regions))
    result = build_report(db, out, figures_dir=figures, runs=run, calibrations=calibration, impact=params,
                          live_carbon=live_carbon, title=title)
    if as_json:
        doc = {"html": str(result.html), "figures": [str(p) for p in result.figures], "points": result.n_points,
               "flagged_points": result.n_flagged, "notes": list(result.notes)}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    from joulebench.report.console import console

    err = console(stderr=True)
    for note in result.notes:
        err.print(note, markup=False, highlight=False)
    err.print(f"report written: {result.html} ({result.n_points} points, {result.n_flagged} flagged"
              + (f"; {len(result.figures)} figure files in {figures}" if figures else "") + ")",
              markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
