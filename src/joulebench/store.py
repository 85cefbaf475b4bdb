"""The results database: one SQLite file, a versioned schema, one transaction per finished point.

Tables
  runs          one invocation (command, plan, environment: GPU name, driver, power limit, clocks,
                library versions) and its idle baseline per component
  points        one configuration of a plan; ``point_key`` is a hash of the configuration, so that
                re-running a plan skips points already stored with status ``ok``
  measurements  each repetition/phase/component reading of a point, with its protocol
  records       per-token times, per-request serving records and other detail rows (JSON)

A point and all its rows are written in one transaction, so a kill or Ctrl-C leaves either the whole
point or nothing. WAL journaling keeps readers (``results list``) from blocking a running sweep.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joulebench.errors import UsageError

SCHEMA_VERSION = 1
DEFAULT_DB = "joulebench.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at REAL NOT NULL,
  kind TEXT NOT NULL,
  command TEXT NOT NULL,
  plan_json TEXT NOT NULL,
  env_json TEXT NOT NULL,
  baseline_json TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS points (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER NOT NULL REFERENCES runs(id),
  point_key TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
  error TEXT,
  config_json TEXT NOT NULL,
  summary_json TEXT NOT NULL,
  created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS measurements (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  point_id INTEGER NOT NULL REFERENCES points(id) ON DELETE CASCADE,
  phase TEXT NOT NULL,
  repetition INTEGER NOT NULL,
  component TEXT NOT NULL,
  latency_s REAL,
  energy_j REAL,
  ci95_j REAL,
  source TEXT,
  estimated INTEGER,
  protocol_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  point_id INTEGER NOT NULL REFERENCES points(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  seq INTEGER NOT NULL,
  payload_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS measurements_point ON measurements(point_id);
CREATE INDEX IF NOT EXISTS records_point ON records(point_id);
"""


def point_key(kind: str, config: Mapping[str, Any]) -> str:
    """Stable identity of a point: its kind and canonical configuration (protocol included)."""
    blob = json.dumps({"kind": kind, "config": config}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class MeasurementRow:
    phase: str  # "prefill" | "decode" | "request" | "dit_step" | ...
    repetition: int  # -1 = the aggregate over repetitions
    component: str  # "gpu" | "cpu" | "ram" | "time"
    latency_s: float | None
    energy_j: float | None
    ci95_j: float | None
    source: str | None
    estimated: bool | None
    protocol: Mapping[str, Any]


@dataclass(frozen=True)
class StoredPoint:
    id: int
    run_id: int
    key: str
    kind: str
    status: str
    error: str | None
    config: dict[str, Any]
    summary: dict[str, Any]
    created_at: float


class Store:
    """A results database file. Use as a context manager or call `close`."""

    def __init__(self, path: str | Path = DEFAULT_DB) -> None:
        self.path = Path(path)
        if self.path.exists() and self.path.is_dir():
            raise UsageError(f"--db {self.path}: is a directory; give a file path")
        self._conn = sqlite3.connect(str(self.path), timeout=30.0)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    @classmethod
    def open_existing(cls, path: str | Path) -> Store:
        if not Path(path).is_file():
            raise UsageError(f"--db {path}: no such results database")
        return cls(path)

    def _migrate(self) -> None:
        with self._conn:
            self._conn.executescript(_SCHEMA)
            row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                self._conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row["value"]) > SCHEMA_VERSION:
                raise UsageError(
                    f"--db {self.path}: schema version {row['value']} is newer than this joulebench "
                    f"({SCHEMA_VERSION}); upgrade joulebench"
                )

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------------
    def begin_run(self, kind: str, command: str, plan: Mapping[str, Any], env: Mapping[str, Any]) -> int:
        with self._conn:
            cur = self._conn.execute(
                "INSERT INTO runs (created_at, kind, command, plan_json, env_json) VALUES (?,?,?,?,?)",
                (time.time(), kind, command, _dumps(plan), _dumps(env)),
            )
        return int(cur.lastrowid or 0)

    def set_baseline(self, run_id: int, baseline: Mapping[str, Any]) -> None:
        with self._conn:
            self._conn.execute("UPDATE runs SET baseline_json=? WHERE id=?", (_dumps(baseline), run_id))

    def has_point(self, key: str) -> bool:
        row = self._conn.execute("SELECT status FROM points WHERE point_key=?", (key,)).fetchone()
        return row is not None and row["status"] == "ok"

    def save_point(
        self,
        run_id: int,
        kind: str,
        config: Mapping[str, Any],
        summary: Mapping[str, Any],
        measurements: Iterable[MeasurementRow] = (),
        records: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
        status: str = "ok",
        error: str | None = None,
        key: str | None = None,
    ) -> int:
        """Write a finished (or failed) point and all its rows in one transaction.

        A failed point is replaced when the same point later succeeds."""
        key = key or point_key(kind, config)
        with self._conn:
            self._conn.execute("DELETE FROM points WHERE point_key=? AND status='failed'", (key,))
            cur = self._conn.execute(
                "INSERT INTO points (run_id, point_key, kind, status, error, config_json, summary_json,"
                " created_at) VALUES (?,?,?,?,?,?,?,?)",
                (run_id, key, kind, status, error, _dumps(config), _dumps(summary), time.time()),
            )
            point_id = int(cur.lastrowid or 0)
            self._conn.executemany(
                "INSERT INTO measurements (point_id, phase, repetition, component, latency_s, energy_j,"
                " ci95_j, source, estimated, protocol_json) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [
                    (point_id, m.phase, m.repetition, m.component, m.latency_s, m.energy_j, m.ci95_j,
                     m.source, None if m.estimated is None else int(m.estimated), _dumps(m.protocol))
                    for m in measurements
                ],
            )
            for record_kind, rows in (records or {}).items():
                self._conn.executemany(
                    "INSERT INTO records (point_id, kind, seq, payload_json) VALUES (?,?,?,?)",
                    [(point_id, record_kind, i, _dumps(r)) for i, r in enumerate(rows)],
                )
        return point_id

    # -- reading ------------------------------------------------------------------------------
    def runs(self) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT r.*, (SELECT COUNT(*) FROM points p WHERE p.run_id=r.id) AS n_points FROM runs r ORDER BY id"
        ).fetchall()
        return [
            {"id": r["id"], "created_at": r["created_at"], "kind": r["kind"], "command": r["command"],
             "n_points": r["n_points"], "env": json.loads(r["env_json"]), "plan": json.loads(r["plan_json"]),
             "baseline": json.loads(r["baseline_json"])}
            for r in rows
        ]

    def points(self, kind: str | None = None, run_id: int | None = None, status: str | None = None) -> Iterator[StoredPoint]:
        sql, args = "SELECT * FROM points WHERE 1=1", []
        for column, value in (("kind", kind), ("run_id", run_id), ("status", status)):
            if value is not None:
                sql += f" AND {column}=?"
                args.append(value)
        for r in self._conn.execute(sql + " ORDER BY id", args):
            yield StoredPoint(r["id"], r["run_id"], r["point_key"], r["kind"], r["status"], r["error"],
                              json.loads(r["config_json"]), json.loads(r["summary_json"]), r["created_at"])

    def point(self, point_id: int) -> StoredPoint:
        for p in self._conn.execute("SELECT id FROM points WHERE id=?", (point_id,)):
            return next(iter(self._points_by_ids([p["id"]])))
        raise UsageError(f"no point with id {point_id}")

    def _points_by_ids(self, ids: list[int]) -> Iterator[StoredPoint]:
        for r in self._conn.execute(f"SELECT * FROM points WHERE id IN ({','.join('?' * len(ids))})", ids):
            yield StoredPoint(r["id"], r["run_id"], r["point_key"], r["kind"], r["status"], r["error"],
                              json.loads(r["config_json"]), json.loads(r["summary_json"]), r["created_at"])

    def measurements(self, point_id: int) -> list[dict[str, Any]]:
        rows = self._conn.execute("SELECT * FROM measurements WHERE point_id=? ORDER BY id", (point_id,))
        return [dict(r) | {"protocol": json.loads(r["protocol_json"])} for r in rows]

    def records(self, point_id: int, kind: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM records WHERE point_id=?", [point_id]
        if kind is not None:
            sql += " AND kind=?"
            args.append(kind)
        return [json.loads(r["payload_json"]) for r in self._conn.execute(sql + " ORDER BY kind, seq", args)]

    @contextmanager
    def raw(self) -> Iterator[sqlite3.Connection]:
        yield self._conn


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=_default)


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)
