"""The report's sections as HTML: runs and environment, per-phase tables, serving, video, predicted vs
measured, impact and the list of flags. Values come from `report.sections`; markup from `report.html`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from joulebench.report import impact as impact_mod
from joulebench.report.floors import BELOW_FLOOR, ESTIMATED, FLOOR_TOLERANCE, UNSTABLE, UNSTABLE_REL, Reading
from joulebench.report.html import Cell, Markup, esc, flags, join, num, table, tag
from joulebench.report.predicted import Validation
from joulebench.report.sections import COMPONENTS, ArmView, PointView, VideoView
from joulebench.units import j_to_wh

#: rows shown per table before the rest folds into a <details> (the page stays readable)
FOLD_ROWS = 40


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _folded(headers: Sequence[str], rows: list[list[Any]], numeric: Sequence[bool], what: str) -> Markup:
    if len(rows) <= FOLD_ROWS:
        return table(headers, rows, numeric)
    head, rest = rows[:FOLD_ROWS], rows[FOLD_ROWS:]
    return join([table(headers, head, numeric),
                 tag("details", join([tag("summary", f"{len(rest)} more {what}"), table(headers, rest, numeric)]))])


def runs(rows: Sequence[Mapping[str, Any]]) -> list[Markup]:
    """One row per database (its machine, libraries, idle range), then every run folded below."""
    by_store: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        by_store.setdefault(str(r["store"]), []).append(r)
    summary = []
    for store, items in by_store.items():
        def distinct(key: str, items: list[Mapping[str, Any]] = items) -> str:
            return ", ".join(dict.fromkeys(str(r[key]) for r in items if r[key] is not None)) or "-"

        idle = [r["idle_w"]["gpu"] for r in items if "gpu" in r["idle_w"]]
        idle_text = f"{min(idle):.0f}-{max(idle):.0f}" if idle else "-"
        summary.append([store, Cell(esc(len(items)), True), Cell(esc(sum(int(r["points"]) for r in items)), True),
                        distinct("kind"), distinct("gpu"), distinct("driver"), distinct("power_limit_w"), distinct("torch"),
                        distinct("transformers"), Cell(esc(idle_text), True), distinct("host")])
    headers = ["db", "run", "kind", "when", "points", "GPU", "idle W gpu / cpu / ram", "command"]
    body = []
    for r in rows:
        idle = r["idle_w"]
        idle_text = " / ".join(f"{idle[c]:.0f}" if c in idle else "-" for c in COMPONENTS)
        body.append([r["store"], r["run"], r["kind"], _when(r["created_at"]), r["points"], r["gpu"] or "-", idle_text,
                     tag("code", r["command"])])
    return [table(["db", "runs", "points", "kinds", "GPU", "driver", "power limit W", "torch", "transformers",
                   "idle W gpu (range)", "host"], summary),
            tag("details", join([tag("summary", f"every run ({len(body)})"),
                                 table(headers, body, [False, True, False, False, True, False, False, False])])),
            tag("p", "Idle power is each run's measured baseline; it sets the energy floor (idle W x time) of "
                "every reading of that run.", class_="note")]


def _energy_cell(r: Reading | None) -> Cell:
    if r is None or r.energy_j is None:
        return Cell(Markup("-"), True)
    text = num(r.energy_j)
    if r.ci95_j is not None:
        text = join([text, " \u00b1 ", num(r.ci95_j, 2)])
    if r.estimated:
        text = join(["~", text])
    return Cell(text, True)


def _ratio(value: float | None) -> Cell:
    return Cell(num(value, 3) if value is not None else Markup("-"), True)


def phase_table(points: Sequence[PointView], kinds: Sequence[str]) -> Markup:
    """One row per point and phase: latency, J per component (~ estimate, +- 95% CI), ratios to floors."""
    headers = ["db#point", "configuration", "phase", "latency s", "latency / floor"] + [f"{c} J" for c in COMPONENTS] + [
        "gpu J / floor", "flags"]
    rows = []
    for v in points:
        if v.kind not in kinds:
            continue
        for phase in v.phases():
            gpu = v.reading(phase, "gpu")
            first = gpu or next(r for r in v.readings if r.phase == phase)
            phase_flags = sorted({f for c in COMPONENTS if (r := v.reading(phase, c)) for f in r.flags if f != ESTIMATED})
            rows.append([f"{v.store}#{v.point_id}", v.label, phase, Cell(num(first.latency_s, 4), True),
                         _ratio(first.latency_ratio_to_floor)] + [_energy_cell(v.reading(phase, c)) for c in COMPONENTS]
                        + [_ratio(gpu.energy_ratio_to_floor if gpu else None), flags(phase_flags + list(v.flags))])
    if not rows:
        return tag("p", "No stored points of this kind.", class_="note")
    return _folded(headers, rows, [False] * 3 + [True] * 7 + [False], "rows")


def flags_legend() -> Markup:
    return tag("p", join([
        "Flags: ", flags([ESTIMATED]), " a component without a meter (a labelled estimate, shown with ~); ",
        flags([UNSTABLE]), f" the 95% CI of the energy or of the mean latency is wider than {UNSTABLE_REL:.0%} of the "
        "value; ",
        flags([BELOW_FLOOR]), f" under its physics floor by more than {FLOOR_TOLERANCE:.0%} (energy: idle W x time; "
        "latency: FLOPs / peak or bytes / bandwidth) - a metering fault, not a result; ",
        flags(["failed"]), " the point failed its own checks. Other badges are the measurement's own stored warnings."]),
        class_="note")


def flag_summary(points: Sequence[PointView]) -> list[Markup]:
    counts: dict[str, int] = {}
    rows = []
    for v in points:
        all_flags = v.all_flags()
        estimated = sum(1 for r in v.readings if r.estimated)
        if estimated:
            counts[ESTIMATED] = counts.get(ESTIMATED, 0) + estimated
        for f in {f.split(":")[0] if f.startswith((BELOW_FLOOR, "failed")) else f for f in all_flags}:
            counts[f] = counts.get(f, 0) + 1
        if all_flags:
            rows.append([f"{v.store}#{v.point_id}", v.kind, v.label, flags(all_flags)])
    summary = table(["flag", "count"], [[Markup(flags([k])), Cell(esc(n), True)] for k, n in sorted(counts.items())])
    listing = _folded(["db#point", "kind", "configuration", "flags"], rows, [False] * 4, "flagged points") if rows else \
        tag("p", "No point carries a flag other than estimated components.", class_="note")
    return [flags_legend(), summary, listing]


def serving(arm_views: Sequence[ArmView]) -> list[Markup]:
    if not arm_views:
        return [tag("p", "No serving runs in the given databases.", class_="note")]
    headers = ["db#point", "arm", "arrival law", "completed / failed", "req/s", "TTFT p50 / p90 / p99 s", "TPOT p50 s",
               "e2e p50 s", "J / request", "Wh / request", "J / output token", "steady J / token", "flags"]
    rows = []
    for a in arm_views:
        est = [ESTIMATED + f" ({', '.join(a.estimated_components)})"] if a.estimated_components else []
        ttft = join([num(a.ttft_s.get(k)) for k in ("median", "p90", "p99")], " / ")
        rows.append([f"{a.point.store}#{a.point.point_id}", a.arm, a.arrival, f"{a.completed} / {a.failed}",
                     Cell(num(a.requests_per_s), True), Cell(ttft, True), Cell(num(a.tpot_s.get("median")), True),
                     Cell(num(a.e2e_s.get("median")), True), Cell(num(a.j_per_request), True),
                     Cell(num(j_to_wh(a.j_per_request)) if a.j_per_request is not None else Markup("-"), True),
                     Cell(num(a.j_per_output_token), True), Cell(num(a.steady_j_per_output_token), True),
                     flags(est + a.point.all_flags())])
    return [table(headers, rows), tag("p", "J per request: whole run window over completed requests; steady: the "
                                      "steady-state window (requests in the system at their time-weighted median).",
                                      class_="note")]


def video(video_views: Sequence[VideoView]) -> list[Markup]:
    if not video_views:
        return [tag("p", "No video points in the given databases.", class_="note")]
    headers = ["db#point", "configuration", "latent tokens", "step s", "step / floor", "step GPU J", "achieved TFLOP/s",
               "request s", "request J", "flags"]
    rows = []
    for v in video_views:
        s = v.step
        tflops = v.achieved_flops_per_s / 1e12 if v.achieved_flops_per_s else None
        extra = ["extrapolated from the measured phases"] if v.extrapolated else []
        rows.append([f"{v.point.store}#{v.point.point_id}", v.point.label, Cell(esc(v.latent_tokens or "-"), True),
                     Cell(num(s.latency_s if s else None, 4), True), _ratio(s.latency_ratio_to_floor if s else None),
                     _energy_cell(s), Cell(num(tflops), True), Cell(num(v.request_latency_s), True),
                     Cell(num(v.request_energy_j), True), flags(extra + v.point.all_flags())])
    return [table(headers, rows)]


def validations(items: Sequence[Validation]) -> list[Markup]:
    if not items:
        return [tag("p", "No calibration profile given (--calibration PROFILE.yaml adds predicted vs measured and "
                    "its error table).", class_="note")]
    out = []
    for v in items:
        out.append(tag("h3", f"{v.profile} ({v.gpu}, {v.dtype}): {v.n_points} stored phase points"))
        if v.note:
            out.append(tag("p", v.note, class_="note"))
            continue
        rows = [[r.subset + (" (floor)" if r.subset == "run-to-run" else ""), r.phase, Cell(esc(r.n), True),
                 Cell(esc(f"{r.latency_mape:.1%}"), True), Cell(esc(f"{r.latency_max_ape:.1%}"), True),
                 Cell(esc(f"{r.energy_mape:.1%}"), True), Cell(esc(f"{r.energy_max_ape:.1%}"), True)] for r in v.rows]
        out.append(table(["subset", "phase", "n", "latency MAPE", "latency max APE", "energy MAPE", "energy max APE"], rows))
    out.append(tag("p", "Run-to-run rows are the floor of the table: the disagreement of two sweeps of the same "
                   "configuration on one machine. An error at or below it is as good as the measurements can judge.",
                   class_="note"))
    return out


def impact(items: Sequence[impact_mod.Impact], params: impact_mod.ImpactParams,
           grid: Mapping[str, impact_mod.GridIntensity], note: str | None) -> list[Markup]:
    if not items:
        return [tag("p", "No stored figure is the energy of one whole request.", class_="note")]
    household = impact_mod.household_table()[params.household]
    headers = ["request", "J / request", "kWh / day", "households", f"{params.currency} / day"] + [
        f"kg CO2e / day {code}" for code in params.regions] + ["flags"]
    rows = [[i.label, Cell(num(i.energy_per_request_j), True), Cell(num(i.kwh_per_day), True),
             Cell(num(i.households), True), Cell(num(i.cost_per_day), True)]
            + [Cell(num(i.g_co2e_per_day[c] / 1e3), True) for c in params.regions]
            + [flags([ESTIMATED] if i.estimated else [])] for i in items]
    assumptions = (f"Assumed (parameters, not measurements): {params.requests_per_day:,.0f} requests/day, PUE "
                   f"{params.pue:g}, electricity {params.price_per_kwh:g} {params.currency}/kWh; households: "
                   f"{household['name']} at {household['kwh_per_year']:,} kWh/year ({household['year']}).")
    grid_rows = [[code, grid[code].name, Cell(num(grid[code].g_co2e_per_kwh), True), grid[code].year or "live"]
                 for code in params.regions]
    cites = join([tag("li", join([tag("b", k), ": ", v])) for k, v in impact_mod.sources().items()])
    estimated = [i.label for i in items if i.estimated]
    numeric = [False] + [True] * (len(headers) - 2) + [False]
    out = [tag("p", assumptions, class_="note"), _folded(headers, rows, numeric, "requests")]
    if estimated:
        out.append(tag("p", join(["Rows whose energy includes labelled estimates (CPU/RAM without a meter): ",
                                  flags([ESTIMATED]), f" {len(estimated)} of {len(items)}."]), class_="note"))
    out += [tag("h3", "Grid carbon intensity used"), table(["region", "name", "gCO2e/kWh", "year"], grid_rows),
            tag("ul", cites, class_="note")]
    if note:
        out.append(tag("p", note, class_="note"))
    return out
