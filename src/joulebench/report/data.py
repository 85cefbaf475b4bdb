"""The report's one door into results databases: opened read-only, checked to be joulebench's.

Why a module of its own: a report reads files that other runs wrote - committed validation stores,
a colleague's database, a file that is not joulebench's at all. It must never write to them (not even
the ``CREATE TABLE IF NOT EXISTS`` that `Store` runs on open, nor a WAL checkpoint), so the SQLite
connection is opened with ``mode=ro``; and it must refuse a missing, corrupt or foreign file with one
line naming ``db`` before anything is drawn or written. Everything past this module sees plain frozen
values (`StoreData`, `RunData`, `PointData`) and never SQL; when the store changes to typed values, this
is the one place to adapt.

The read methods are `joulebench.store.Store`'s own (``runs``, ``points``, ``measurements``,
``records``) on a store opened with `Store.open_read`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joulebench.errors import UsageError
from joulebench.store import Store
from joulebench.values import StoredRun

#: the most records of one kind read per point (a serving arm keeps one per request; 10k is plenty to draw)
MAX_RECORDS_PER_KIND = 10_000


#: one stored run, as the store reads it back (the one vocabulary: `values.StoredRun`)
RunData = StoredRun


@dataclass(frozen=True)
class Trace:
    """A power trace of one component over a point's measurement, with the phase windows inside it.

    Times in seconds on one clock, power in W; ``bands`` are (phase, start_s, end_s)."""

    component: str
    t_s: tuple[float, ...]
    power_w: tuple[float, ...]
    bands: tuple[tuple[str, float, float], ...] = ()
    source: str | None = None


@dataclass(frozen=True)
class PointData:
    """One stored point with what the report needs of its rows."""

    store: str  # label of the database it came from
    id: int
    run_id: int
    kind: str
    status: str
    error: str | None
    config: Mapping[str, Any]
    summary: Mapping[str, Any]
    measurements: tuple[Mapping[str, Any], ...] = ()
    requests: tuple[Mapping[str, Any], ...] = ()  # serving per-request records
    traces: tuple[Trace, ...] = ()


@dataclass(frozen=True)
class StoreData:
    path: str
    label: str
    runs: tuple[RunData, ...]
    points: tuple[PointData, ...] = field(default_factory=tuple)

    def run(self, run_id: int) -> RunData | None:
        return next((r for r in self.runs if r.id == run_id), None)


def points_of(stores: Sequence[StoreData], kind: str) -> Iterator[tuple[StoreData, PointData]]:
    """Every stored point of one kind, beside the store it came from (for its run and its label)."""
    for store in stores:
        for p in store.points:
            if p.kind == kind:
                yield store, p


def open_read_only(path: str | Path, field_name: str = "db") -> Store:
    """The store opened read-only (`Store.open_read`: checked to be joulebench's, nothing created)."""
    return Store.open_read(path, field_name)


def parse_run_selection(specs: Sequence[str], labels: Sequence[str]) -> dict[str, set[int]] | None:
    """``--run`` values: ``N`` (run N of every database that has it) or ``LABEL:N`` (one database, by the
    label the report gives it: its file name, or its path when two share a name). None = every run."""
    if not specs:
        return None
    chosen: dict[str, set[int]] = {label: set() for label in labels}
    for spec in specs:
        label, _, number = spec.rpartition(":")
        if not number.strip().isdigit():
            raise UsageError.bad("run", spec, "give a run id (N) or DB:N, e.g. 3 or results.db:3")
        targets = [label] if label else list(labels)
        for target in targets:
            if target not in chosen:
                raise UsageError.bad("run", spec, f"no database labelled {target!r}; labels: {', '.join(labels)}")
            chosen[target].add(int(number))
    return chosen


def labels_for(paths: Sequence[str]) -> list[str]:
    """File names, or the full path where two databases share a file name (``run_a/serving.db.gz``)."""
    names = [Path(p).name for p in paths]
    out = []
    for p, name in zip(paths, names, strict=True):
        if names.count(name) > 1:
            parts = Path(p).parts
            out.append(str(Path(*parts[-2:])) if len(parts) >= 2 else str(p))
        else:
            out.append(name)
    if len(set(out)) != len(out):
        out = [str(p) for p in paths]
    return out


def load_stores(paths: Sequence[str], runs: Sequence[str] = ()) -> list[StoreData]:
    """Every given database, read-only, with its runs and points (only the selected runs' with ``runs``).

    All databases are opened and checked before any is read, so that a bad second ``--db`` fails fast."""
    if not paths:
        raise UsageError.bad("db", "", "give at least one results database")
    labels = labels_for(list(paths))
    stores = [open_read_only(p) for p in paths]
    try:
        selection = parse_run_selection(runs, labels)
        run_lists = [list(s.runs()) for s in stores]
        if selection is not None:
            known = {(label, r.id) for label, rl in zip(labels, run_lists, strict=True) for r in rl}
            for spec in runs:
                label, _, number = spec.rpartition(":")
                targets = [label] if label else labels
                if not any((t, int(number)) in known for t in targets):
                    raise UsageError.bad("run", spec, "no such run in the given database(s); see 'results list'")
        out = []
        for store, label, run_list in zip(stores, labels, run_lists, strict=True):
            keep = None if selection is None else selection[label]
            run_list = [r for r in run_list if keep is None or r.id in keep]
            points = tuple(_points(store, label, {r.id for r in run_list}))
            out.append(StoreData(str(store.path), label, tuple(run_list), points))
        return out
    finally:
        for s in stores:
            s.close()


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _points(store: Store, label: str, run_ids: set[int]) -> Iterable[PointData]:
    for p in store.points():
        if p.run_id not in run_ids:
            continue
        kinds = _record_kinds(store, p.id)
        requests = tuple(_records(store, p.id, "requests")) if "requests" in kinds else ()
        traces = tuple(t for kind in sorted(kinds) for t in _traces(store, p.id, kind))
        yield PointData(label, p.id, p.run_id, p.kind, p.status, p.error, _mapping(p.config), _mapping(p.summary),
                        tuple(store.measurements(p.id)), requests, traces)


def _record_kinds(store: Store, point_id: int) -> set[str]:
    with store.raw() as conn:
        return {r[0] for r in conn.execute("SELECT DISTINCT kind FROM records WHERE point_id=?", (point_id,))}


def _records(store: Store, point_id: int, kind: str) -> list[Mapping[str, Any]]:
    rows = store.records(point_id, kind)
    return [r for r in rows[:MAX_RECORDS_PER_KIND] if isinstance(r, Mapping)]


def _traces(store: Store, point_id: int, kind: str) -> Iterable[Trace]:
    """Power traces are records whose payload holds ``t_s`` and ``power_w`` lists of one length (the meters
    write them per component); phase windows come with them as ``phases``/``windows`` entries
    ``{phase, start_s, end_s}``, or as records of kind ``phase_windows``. Other record kinds (token times,
    requests) are not traces."""
    if kind in ("requests", "decode_token_times", "request_token_times", "phase_windows"):
        return []
    rows = _records(store, point_id, kind)
    windows = [w for r in _records(store, point_id, "phase_windows") for w in _window_list(r)]
    out = []
    for row in rows:
        t, w = row.get("t_s"), row.get("power_w")
        if not (isinstance(t, list) and isinstance(w, list)) or len(t) != len(w) or len(t) < 2:
            continue
        try:
            ts, ws = tuple(float(x) for x in t), tuple(float(x) for x in w)
        except (TypeError, ValueError):
            continue
        bands = _window_list(row) or windows
        out.append(Trace(str(row.get("component", "gpu")), ts, ws, tuple(bands),
                         str(row["source"]) if row.get("source") is not None else None))
    return out


def _window_list(row: Mapping[str, Any]) -> list[tuple[str, float, float]]:
    items = row.get("phases") or row.get("windows") or ([row] if "start_s" in row and "end_s" in row else [])
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        try:
            name = str(item.get("phase") or item.get("name") or "window")
            out.append((name, float(item["start_s"]), float(item["end_s"])))
        except (KeyError, TypeError, ValueError):
            continue
    return out
