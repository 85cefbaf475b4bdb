"""Readable tables of measured points (rich)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table


def _energy(phase: Mapping[str, Any] | None, component: str) -> str:
    if not phase:
        return "-"
    value = phase.get("energy_j", {}).get(component)
    if value is None:
        return "-"
    mark = "~" if phase.get("estimated", {}).get(component) else ""
    return f"{mark}{value:.3g}"


def llm_points_table(points: Sequence[Mapping[str, Any]], title: str = "") -> Table:
    """One row per point: prefill and decode latency and energy per component (``~`` marks estimates)."""
    components = [c for c in ("gpu", "cpu", "ram")
                  if any(c in (p.get("prefill") or p.get("decode") or {}).get("energy_j", {}) for p in points)]
    table = Table(title=title, caption="J per repetition of the phase; ~ = labelled estimate")
    columns = ["model", "dtype", "b", "s", "g", "prefill ms"] + [f"pre J {c}" for c in components]
    columns += ["decode ms/tok"] + [f"dec J {c}" for c in components]
    for column in columns:
        table.add_column(column, justify="left" if column in ("model", "dtype") else "right")
    for point in points:
        cfg = point["config"]
        pre, dec = point.get("prefill"), point.get("decode")
        per_token = (dec or {}).get("per_token_latency_s", {}).get("mean")
        row = [str(cfg["model"]), cfg["dtype"], str(cfg["batch"]), str(cfg["prompt_tokens"]), str(cfg["output_tokens"]),
               f"{pre['latency_s'] * 1e3:.1f}" if pre else "-"]
        row += [_energy(pre, c) for c in components]
        row += [f"{per_token * 1e3:.2f}" if per_token else "-"]
        row += [_energy(dec, c) for c in components]
        table.add_row(*row)
    return table
