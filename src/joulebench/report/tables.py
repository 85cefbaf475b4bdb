"""Readable tables of measured points (rich): the one style every command prints for people.

Markers, the same in every table: ``~`` before a labelled estimate (no hardware counter), and a
``flags`` column naming what the point's own checks found (``inconsistent``, ``unstable``,
``below-floor:<phase>``) - a flagged figure is never shown plain. User strings are escaped: a model
named ``[/x]`` is text, not markup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table

ESTIMATE_MARK = "~"
PHASES = ("prefill", "decode", "request")


def energy_cell(phase: Mapping[str, Any] | None, component: str) -> str:
    if not phase:
        return "-"
    value = (phase.get("energy_j") or {}).get(component)
    if value is None:
        return "-"
    mark = ESTIMATE_MARK if (phase.get("estimated") or {}).get(component) else ""
    return f"{mark}{value:.3g}"


def _latency_cell(name: str, phase: Mapping[str, Any]) -> str:
    if name == "decode":
        per_token = (phase.get("per_token_latency_s") or {}).get("mean")
        return f"{per_token * 1e3:.2f}" if per_token else "-"
    return f"{phase['latency_s'] * 1e3:.1f}"


def llm_points_table(points: Sequence[Mapping[str, Any]], title: str = "") -> Table:
    """One row per point: latency and energy per component of each measured phase, and its flags."""
    phases = [p for p in PHASES if any(p in point for point in points)]
    components = [c for c in ("gpu", "cpu", "ram")
                  if any(c in ((point.get(p) or {}).get("energy_j") or {}) for point in points for p in phases)]
    caption = f"J per repetition of the phase; {ESTIMATE_MARK} = labelled estimate; decode in ms per token"
    table = Table(title=escape(title), caption=caption)
    columns = ["id", "model", "dtype", "engine", "b", "s", "g"]
    for name in phases:
        columns += [f"{name} ms" if name != "decode" else "decode ms/tok"] + [f"{name[:3]} J {c}" for c in components]
    columns.append("flags")
    for column in columns:
        table.add_column(column, justify="left" if column in ("model", "dtype", "engine", "flags") else "right")
    for point in points:
        cfg = point["config"]
        prompt = cfg.get("prompt_tokens")
        row = [str(point.get("point_id", "")), escape(str(cfg["model"])), str(cfg["dtype"]), str(cfg.get("engine", "eager")),
               str(cfg["batch"]), "chat" if prompt is None else str(prompt), str(cfg["output_tokens"])]
        for name in phases:
            phase = point.get(name)
            row += ([_latency_cell(name, phase)] + [energy_cell(phase, c) for c in components]) if phase else \
                ["-"] * (1 + len(components))
        row.append(escape(", ".join(point.get("flags") or [])) or "")
        table.add_row(*row)
    return table
