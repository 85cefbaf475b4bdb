"""Flatten stored points into a table (pandas) for export and analysis.

Three things an export must not do (issue 16/17): write a formula that a spreadsheet runs (a model or
arm name ``=HYPERLINK(...)`` exports as text: OWASP's rule, a leading ``'`` on any text cell that starts
with ``= + - @``, a tab or a carriage return); write a file for a ``--kind`` the database does not hold;
or write CSV under a ``.parquet`` name. Everything is checked before the file is opened, and the file
appears under its name only when complete. pandas is imported when an export runs, not when the CLI
starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from joulebench.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

EXPORT_FORMATS = ("csv", "parquet", "json")
_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".json": "json"}
#: the characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif isinstance(value, list):
        out[prefix] = ",".join(map(str, value))
    else:
        out[prefix] = value


def points_frame(store: Any, kind: str | None = None) -> pd.DataFrame:
    """One row per point of ``store`` (a `Store` or the report's read-only one)."""
    import pandas as pd

    rows = []
    for p in store.points(kind=kind):
        row: dict[str, Any] = {"point_id": p.id, "run_id": p.run_id, "kind": p.kind, "status": p.status,
                               "error": p.error}
        _flatten("config", p.config, row)
        summary = {k: v for k, v in p.summary.items() if k not in ("config", "protocols")}
        _flatten("", summary, row)
        rows.append(row)
    return pd.DataFrame(rows)


def export_format(out: str | Path, fmt: str | None) -> str:
    """The format to write: ``fmt`` when given (and not contradicted by a known suffix), else the suffix's.
    `UsageError` when neither says, or when they disagree (``x.parquet`` with ``--format csv``)."""
    suffix = _SUFFIXES.get(Path(out).suffix.lower())
    if fmt is None:
        if suffix is None:
            raise UsageError.bad("out", str(out), f"no known suffix; end it in {', '.join(_SUFFIXES)} or give --format")
        return suffix
    if fmt not in EXPORT_FORMATS:
        raise UsageError.bad("format", fmt, f"unknown; allowed: {', '.join(EXPORT_FORMATS)}")
    if suffix is not None and suffix != fmt:
        raise UsageError.bad("format", fmt, f"but {Path(out).name} ends in {Path(out).suffix}, which is {suffix}; "
                             "make them agree")
    return fmt


def check_kind(store: Any, kind: str | None) -> None:
    """An unknown ``kind`` is refused before a file is written, naming the kinds the database holds."""
    if kind is None:
        return
    present = sorted({p.kind for p in store.points()})
    if kind not in present:
        raise UsageError.bad("kind", kind, f"no points of this kind here; kinds present: {', '.join(present) or 'none'}")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would evaluate get a leading ``'`` (numbers are left alone: -1.5 is a
    number, not a formula)."""
    def safe(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
            return "'" + value
        return value

    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or str(out[column].dtype).startswith("str"):
            out[column] = out[column].map(safe)
    out.columns = [safe(c) for c in out.columns]
    return out


def export_points(store: Any, out: str | Path, fmt: str | None, kind: str | None = None) -> int:
    """Write every point (of ``kind``) to ``out``; returns the number of rows. All checks come first."""
    fmt = export_format(out, fmt)
    if Path(out).is_dir():
        raise UsageError.bad("out", str(out), "is a directory; give a file path")
    check_kind(store, kind)
    frame = points_frame(store, kind)
    tmp = Path(str(out) + ".partial")
    if fmt == "csv":
        neutralise_formulas(frame).to_csv(tmp, index=False)
    elif fmt == "parquet":
        frame.to_parquet(tmp, index=False)
    else:
        frame.to_json(tmp, orient="records", indent=2)
    tmp.replace(out)  # nothing half-written under the requested name
    return len(frame)
