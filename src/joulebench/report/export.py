"""Flatten stored points into a table (pandas) for export and analysis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from joulebench.store import Store

EXPORT_FORMATS = ("csv", "parquet", "json")


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif isinstance(value, list):
        out[prefix] = ",".join(map(str, value))
    else:
        out[prefix] = value


def points_frame(store: Store, kind: str | None = None) -> pd.DataFrame:
    rows = []
    for p in store.points(kind=kind):
        row: dict[str, Any] = {"point_id": p.id, "run_id": p.run_id, "kind": p.kind, "status": p.status,
                               "error": p.error}
        _flatten("config", p.config, row)
        summary = {k: v for k, v in p.summary.items() if k not in ("config", "protocols")}
        _flatten("", summary, row)
        rows.append(row)
    return pd.DataFrame(rows)


def export_points(store: Store, out: str | Path, fmt: str, kind: str | None = None) -> int:
    frame = points_frame(store, kind)
    tmp = Path(str(out) + ".partial")
    if fmt == "csv":
        frame.to_csv(tmp, index=False)
    elif fmt == "parquet":
        frame.to_parquet(tmp, index=False)
    else:
        frame.to_json(tmp, orient="records", indent=2)
    tmp.replace(out)  # nothing half-written under the requested name
    return len(frame)
