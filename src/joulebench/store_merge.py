"""Joining results stores: the points one store holds and another lacks, with their runs and rows.

Why: a sweep that resumes from a store copied to a GPU box returns a store of its own, and two calls made
from the same committed store (or on two machines) return two, each holding what the other lacks
(2026-12-07: the must-show's serve and CB calls of run_f). ``joulebench results merge`` puts them back
together. It writes through the destination's own connection in one transaction, so a kill leaves the
destination as it was.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from joulebench.store import Store

_RUN_COLUMNS = ("created_at", "kind", "command", "plan_json", "env_json", "baseline_json")
_POINT_COLUMNS = ("point_key", "kind", "status", "error", "config_json", "summary_json", "created_at")
_MEASUREMENT_COLUMNS = ("phase", "repetition", "component", "latency_s", "energy_j", "ci95_j", "source", "estimated",
                        "protocol_json")


@dataclass(frozen=True)
class MergeOutcome:
    """What `merge` did: the point keys it copied and skipped, and how many runs it added."""

    copied: tuple[str, ...]
    skipped: tuple[str, ...]
    runs_added: int


def merge(into: Store, source: Store) -> MergeOutcome:
    """Copy into ``into`` every point of ``source`` whose key it lacks (a failed point there gives way to an
    ``ok`` one here), with its run, measurements and records.

    A run is copied once, with every column as it was (its environment names the card it ran on), unless
    ``into`` holds the same run (the one both stores inherited: same time, kind, command and environment);
    a point keeps its creation time, so the merged store lists points in the order they were measured."""
    copied: list[str] = []
    skipped: list[str] = []
    runs: dict[int, int] = {}  # the source's run ids -> the destination's
    added = 0
    with source.raw() as src, into.raw() as dst, dst:
        for row in src.execute("SELECT * FROM points ORDER BY created_at, id").fetchall():
            mine = dst.execute("SELECT status FROM points WHERE point_key=?", (row["point_key"],)).fetchone()
            if mine is not None and (mine["status"] == "ok" or row["status"] == "failed"):
                skipped.append(row["point_key"])
                continue
            if row["run_id"] not in runs:
                run = src.execute("SELECT * FROM runs WHERE id=?", (row["run_id"],)).fetchone()
                same = dst.execute("SELECT id FROM runs WHERE created_at=? AND kind=? AND command=? AND env_json=?",
                                   (run["created_at"], run["kind"], run["command"], run["env_json"])).fetchone()
                if same is None:
                    added += 1
                runs[row["run_id"]] = int(same["id"]) if same is not None else _insert(dst, "runs", _RUN_COLUMNS, run)
            dst.execute("DELETE FROM points WHERE point_key=?", (row["point_key"],))  # a failed one, if any
            point_id = _insert(dst, "points", ("run_id", *_POINT_COLUMNS),
                               {"run_id": runs[row["run_id"]], **{c: row[c] for c in _POINT_COLUMNS}})
            for m in src.execute("SELECT * FROM measurements WHERE point_id=? ORDER BY id", (row["id"],)):
                _insert(dst, "measurements", ("point_id", *_MEASUREMENT_COLUMNS),
                        {"point_id": point_id, **{c: m[c] for c in _MEASUREMENT_COLUMNS}})
            for r in src.execute("SELECT * FROM records WHERE point_id=? ORDER BY id", (row["id"],)):
                _insert(dst, "records", ("point_id", "kind", "seq", "payload_json"),
                        {"point_id": point_id, "kind": r["kind"], "seq": r["seq"], "payload_json": r["payload_json"]})
            copied.append(row["point_key"])
    return MergeOutcome(tuple(copied), tuple(skipped), added)


def _insert(conn: sqlite3.Connection, table: str, columns: tuple[str, ...], row: Any) -> int:
    """Insert ``row``'s ``columns`` (an sqlite3 row or a dict) into ``table`` (names from this module's
    constants only); the new id."""
    cur = conn.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                       tuple(row[c] for c in columns))
    return int(cur.lastrowid or 0)
