"""Rich tables for serve-bench and serve-floor. Every user or server string goes in as `rich.text.Text`
or through `rich.markup.escape`: an arm named ``[/x]`` once crashed rich after its point was stored."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table

from joulebench.report.console import console as make_console


def _fmt(value: Any, scale: float = 1.0, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value * scale:.4g}{unit}"


def print_arm(summary: Mapping[str, Any]) -> None:
    console = make_console()
    name = escape(str(summary.get("arm")))
    if "error" in summary:
        console.print(f"[bold red]arm {name} failed:[/bold red] {escape(str(summary['error']))}")
        return
    head = summary.get("headline", {})
    spec = escape(str((summary.get("arrival") or {}).get("spec")))
    resumed = " (resumed from the store)" if summary.get("resumed_from_store") else ""
    table = Table(title=f"serve-bench {name} ({spec}){resumed}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    ratio = head.get("ratio_to_floor")
    ratio_text = _fmt(ratio, 1, "x")
    if ratio is not None and ratio < 1:
        ratio_text = f"[bold red]{ratio_text}  BELOW FLOOR[/bold red]"
    rows = [
        ("completed / failed / flagged", f"{head.get('completed')} / {head.get('failed')} / {head.get('flagged', 0)}"),
        ("Wh per request (all components)", _fmt(head.get("wh_per_request"))),
        ("GPU Wh per request", _fmt(head.get("gpu_wh_per_request"))),
        ("GPU floor Wh per request", _fmt(head.get("floor_wh_per_request"))),
        ("ratio to floor (GPU)", ratio_text),
        ("J per output / input token", f"{_fmt(head.get('j_per_output_token'))} / {_fmt(head.get('j_per_input_token'))}"),
        ("J per output token (steady)", _fmt(head.get("steady_j_per_output_token"))),
        ("requests/s", _fmt(head.get("requests_per_s"))),
        ("output tokens/s", _fmt(head.get("output_tokens_per_s"))),
        ("TTFT p50 / p90 / p99", " / ".join(_fmt(head.get(f"ttft_{q}_s"), 1e3, " ms") for q in ("p50", "p90", "p99"))),
        ("TPOT p50 / p90", f"{_fmt(head.get('tpot_p50_s'), 1e3, ' ms')} / {_fmt(head.get('tpot_p90_s'), 1e3, ' ms')}"),
        ("E2E p50 / p99", f"{_fmt(head.get('e2e_p50_s'), 1, ' s')} / {_fmt(head.get('e2e_p99_s'), 1, ' s')}"),
        ("dispatch lateness p99", _fmt(head.get("lateness_p99_s"), 1e3, " ms")),
    ]
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)
    floor = summary.get("floor") or {}
    if floor and not floor.get("available", True):
        console.print(f"floor: not computed ({escape(str(floor.get('reason')))})")
    for error in (summary.get("metrics") or {}).get("errors_sample", [])[:3]:
        console.print(f"[red]error:[/red] {escape(str(error))}")
    for warning in summary.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {escape(str(warning))}")
    for failure in summary.get("check_failures", []):
        console.print(f"[bold red]check failed:[/bold red] {escape(str(failure))}")


def print_pareto(result: Mapping[str, Any]) -> None:
    console = make_console()
    front = set(result.get("front") or [])
    best = (result.get("best_within_slo") or {}).get("arm")
    table = Table(title="energy / latency over the arrival rate (p90)")
    for column in ("arm", "rate/s", "J/request", "TTFT p90", "TPOT p90", ""):
        table.add_column(column, justify="right" if column not in ("arm", "") else "left")
    for p in result.get("points", []):
        mark = ("best within SLO" if p["arm"] == best else "") + (" front" if p["arm"] in front else "")
        table.add_row(escape(str(p["arm"])), _fmt(p["rate_per_s"]), _fmt(p["j_per_request"]),
                      _fmt(p["ttft_p90_s"], 1e3, " ms"), _fmt(p["tpot_p90_s"], 1e3, " ms"), mark.strip())
    console.print(table)
    if best is None:
        console.print("[yellow]no arm meets the SLOs[/yellow]" if result.get("slo_p90_s") else "no SLO given (--slo)")


def print_floors(rows: Sequence[Mapping[str, Any]]) -> None:
    console = make_console()
    table = Table(title="GPU energy floor per request")
    for column in ("figure", "Wh/request", "floor Wh", "ratio to floor", "setting"):
        table.add_column(column, justify="left" if column in ("figure", "setting") else "right")
    for row in rows:
        ratio = row.get("ratio_to_floor")
        text = _fmt(ratio, 1, "x")
        if ratio is not None and ratio < 1:
            text = f"[bold red]{text} BELOW FLOOR[/bold red]"
        s = row["setting"]
        setting = (f"{s['model']} {s['gpu']} {s['dtype']} prompts {s['prompts']} out {s['outputs']} "
                   f"batch {s['batch'] or 'any'}")
        table.add_row(escape(str(row.get("figure") or "-")), _fmt(row.get("wh_per_request")), _fmt(row.get("floor_wh")),
                      text, escape(setting))
    console.print(table)
    if rows:
        console.print(f"energy per FLOP: {escape(str(rows[0].get('card_source')))}")
    for row in rows:
        if row.get("below_floor"):
            console.print(f"[bold red]{escape(str(row['below_floor']))}[/bold red]")
