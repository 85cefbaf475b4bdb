"""`build_report`: results databases in, one self-contained HTML file (and paper figures) out.

Order matters for bad input: every argument is checked (output paths writable, impact parameters,
calibration profiles, every database opened read-only and recognised, every ``--run`` found) before a
figure is drawn or a byte written; the HTML is written to a temporary name and renamed, so a failure
never leaves half a report under the requested name. The study commands call this at their end
(``--report``) with the databases they wrote.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from joulebench.errors import UsageError
from joulebench.report import figures as figs
from joulebench.report import render
from joulebench.report.data import StoreData, Trace, load_stores
from joulebench.report.html import Markup, esc, figure_html, join, page, section, tag
from joulebench.report.impact import ImpactParams, grid_with_live, impacts
from joulebench.report.predicted import read_profiles, validate
from joulebench.report.sections import PointView, arms, impact_items, run_rows, videos, views


@dataclass(frozen=True)
class ReportResult:
    html: Path
    figures: tuple[Path, ...] = ()
    n_points: int = 0
    n_flagged: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


def check_output(path: str | Path, field_name: str, directory: bool = False) -> Path:
    """A path we may write: its folder exists (or, for a directory, can be made) and is writable, and it is not
    the wrong kind of thing. `UsageError` naming ``field_name`` otherwise; nothing is created here."""
    p = Path(path).expanduser()
    if directory:
        if p.exists() and not p.is_dir():
            raise UsageError.bad(field_name, str(path), "exists and is not a directory")
        probe = p
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
            raise UsageError.bad(field_name, str(path), f"cannot be created: {probe} is not a writable directory")
        return p
    if p.is_dir():
        raise UsageError.bad(field_name, str(path), "is a directory; give a file path, e.g. report.html")
    if p.suffix.lower() not in (".html", ".htm"):
        raise UsageError.bad(field_name, str(path), "the report is HTML; give a .html path")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError.bad(field_name, str(path), f"folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise UsageError.bad(field_name, str(path), "not writable")
    return p


def build_report(
    db_paths: Sequence[str | Path],
    out_html: str | Path,
    figures_dir: str | Path | None = None,
    runs: Sequence[str] = (),
    calibrations: Sequence[str | Path] = (),
    impact: ImpactParams | None = None,
    live_carbon: bool = False,
    title: str | None = None,
) -> ReportResult:
    """Write the report; returns where it went and how many points carry flags."""
    out = check_output(out_html, "out")
    fig_dir = check_output(figures_dir, "figures", directory=True) if figures_dir is not None else None
    params = (impact or ImpactParams()).validated()
    profiles = read_profiles([str(c) for c in calibrations])
    stores = load_stores([str(p) for p in db_paths], list(runs))

    points = views(stores)
    arm_views, video_views = arms(stores), videos(stores)
    checked = [validate(p, stores) for p in profiles]
    grid, live_note = grid_with_live(params, live_carbon)
    impact_rows = impacts(impact_items(points, arm_views, video_views), params, grid)

    specs = (figs.llm_energy_per_token(points) + figs.llm_breakdown(points) + figs.serving(arm_views)
             + figs.video_scaling(video_views)
             + figs.power_traces(_traced(stores, points)))
    specs += [figs.validation_figure(f"predicted_vs_measured_{i + 1}", v.profile, v.arrays)
              for i, v in enumerate(checked) if v.arrays]
    try:
        rendered = {s.name: figs.svg_text(s) for s in specs}
        saved: list[Path] = []
        if fig_dir is not None:
            for spec in specs:
                saved += figs.save(spec, fig_dir)
    finally:
        figs.close(specs)

    def figures_of(names: Sequence[str]) -> list[Markup]:
        return [figure_html(rendered[s.name], s.title, s.caption, s.name) for s in specs if s.name in names]

    trace_note = [] if any(p.traces for s in stores for p in s.points) else [tag(
        "p", "No power traces are stored in these databases (the records table holds none for their points); "
        "points measured with the sampled NVML trace show here with their phase windows.", class_="note")]
    validation_names = [f"predicted_vs_measured_{i + 1}" for i in range(len(checked))]
    sections = [
        section("runs", "Runs and environment", render.runs(run_rows(stores))),
        section("flags", "Flags", render.flag_summary(points)),
        section("impact", "Impact at scale", render.impact(impact_rows, params, grid, live_note)),
        section("llm", "LLM: per phase and component", [render.phase_table(points, ("llm",))]
                + figures_of(["llm_energy_per_token", "llm_prefill_decode"])),
        section("traces", "Power traces", figures_of(["power_traces"]) + trace_note),
        section("predicted", "Predicted vs measured", render.validations(checked) + figures_of(validation_names)),
        section("serving", "Serving: latency and energy per arrival law",
                render.serving(arm_views) + figures_of(["serving_energy_distribution", "serving_energy_latency"])
                + [render.phase_table(points, ("serving",))]),
        section("video", "Video: scaling", render.video(video_views) + figures_of(["video_scaling"])
                + [render.phase_table(points, ("video",))]),
    ]
    nav = [("runs", "runs"), ("flags", "flags"), ("impact", "impact"), ("llm", "LLM"), ("traces", "traces"),
           ("predicted", "predicted vs measured"), ("serving", "serving"), ("video", "video")]
    html_text = page(title or "joulebench report", _subtitle(stores), nav, sections)
    tmp = out.with_name(out.name + ".partial")
    tmp.write_text(html_text, encoding="utf-8")
    tmp.replace(out)
    flagged = sum(1 for v in points if v.all_flags())
    return ReportResult(out, tuple(saved), len(points), flagged, tuple(n for n in (live_note,) if n))


def _traced(stores: Sequence[StoreData], points: Sequence[PointView]) -> list[tuple[PointView, tuple[Trace, ...]]]:
    by_key = {(v.store, v.point_id): v for v in points}
    return [(by_key[(s.label, p.id)], p.traces) for s in stores for p in s.points if p.traces]


def _subtitle(stores: Sequence[StoreData]) -> Markup:
    from joulebench import __version__

    names = join([tag("code", s.label) for s in stores], ", ")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    n = sum(len(s.points) for s in stores)
    return join([f"{n} points from ", names, esc(f"; built {stamp} by joulebench {__version__}. Energies are J per "
                                              "repetition of a phase unless a column says otherwise.")])
