"""The results database: one SQLite file, a versioned schema, one transaction per finished point.

Tables
  meta          schema version and the application that owns the file (``joulebench``)
  runs          one invocation (command, plan, environment: GPU name, driver, power limit, clocks,
                library versions) and its idle baselines per component
  points        one configuration of a plan; ``point_key`` hashes the configuration, so that re-running
                a plan skips points already stored with status ``ok`` (a ``failed`` point runs again)
  claims        a point a running sweep is measuring now: claimed atomically before it is measured, so
                two sweeps over overlapping plans never measure (or insert) the same point twice
  measurements  each repetition/phase/component reading of a point, with its protocol
  records       per-token times, per-request serving records, power traces and other detail rows (JSON)

A point and all its rows are written in one transaction (its claim released in the same one), so a kill
or Ctrl-C leaves either the whole point or nothing. WAL journaling keeps readers from blocking a sweep.

Whose file it is: a tool must never write into a file it did not create unless told to. `Store` (write)
refuses an SQLite file that is not joulebench's and any file that is not SQLite, before touching it;
`Store.open_read` opens read-only (``mode=ro``), so ``results``, ``report``, ``fit`` and ``validate`` never
change a byte, even of our own files.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from joulebench.errors import UsageError
from joulebench.values import MeasurementRow, Point, StoredPoint, StoredRun, key_of, point_key

__all__ = ["DEFAULT_DB", "SCHEMA_VERSION", "MeasurementRow", "Store", "StoredPoint", "StoredRun", "point_key"]

SCHEMA_VERSION = 2
DEFAULT_DB = "joulebench.db"
APPLICATION = "joulebench"
_TABLES = ("meta", "runs", "points", "measurements", "records")

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
CREATE TABLE IF NOT EXISTS claims (
  point_key TEXT PRIMARY KEY,
  run_id INTEGER NOT NULL,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  claimed_at REAL NOT NULL
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

_SCHEMA_STATEMENTS = tuple(part.strip() for part in _SCHEMA.split(";") if part.strip())

_SQLITE_MAGIC = b"SQLite format 3\x00"


def check_db_path(path: str | Path, field: str = "db", must_exist: bool = False) -> Path:
    """Refuse, before anything is created, a path that cannot hold our database (a folder, a missing
    or read-only folder, a file that is not SQLite). Returns the path."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise UsageError.bad(field, str(path), "is a directory; give a file path")
    if p.exists():
        if not p.is_file():
            raise UsageError.bad(field, str(path), "not a regular file")
        try:
            with p.open("rb") as fh:
                head = fh.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise UsageError.bad(field, str(path), f"cannot be read: {exc.strerror or exc}") from None
        if head and head != _SQLITE_MAGIC:
            raise UsageError.bad(field, str(path), "not an SQLite database; give a new file or a joulebench database")
        if must_exist and not head:
            raise UsageError.bad(field, str(path), "an empty file, not a results database")
        return p
    if must_exist:
        raise UsageError.bad(field, str(path), "no such results database")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError.bad(field, str(path), f"folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError.bad(field, str(path), f"folder {parent} is not writable")
    return p


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """A results database file, opened for writing (created when absent). Use as a context manager."""

    def __init__(self, path: str | Path = DEFAULT_DB, field: str = "db") -> None:
        self.path = check_db_path(path, field)
        self.field = field
        self.read_only = False
        beside = [Path(str(self.path) + suffix) for suffix in ("-wal", "-shm", "-journal")]
        existed = {b for b in beside if b.exists()}
        self._conn: sqlite3.Connection | None = None
        try:
            self._conn = sqlite3.connect(str(self.path), timeout=30.0)
            self._conn.row_factory = sqlite3.Row
            self._check_and_migrate()
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            if self._conn is not None:
                self._conn.close()
            for leftover in set(beside) - existed:  # a damaged file is left exactly as we found it
                leftover.unlink(missing_ok=True)
            raise UsageError.bad(field, str(path), f"not a usable SQLite database ({exc})") from None
        except UsageError:
            self._conn.close()
            for leftover in set(beside) - existed:  # someone else's file: nothing of ours left beside it
                leftover.unlink(missing_ok=True)
            raise

    _unpacked: Path | None = None  # the temporary copy of a gzip-compressed store, removed on close

    @classmethod
    def open_read(cls, path: str | Path, field: str = "db") -> Store:
        """Open an existing database read-only: nothing in the file (or beside it) is changed. A
        ``.db.gz`` (a committed store kept small: the tree that travels to a GPU box is bounded) is read
        from a temporary copy that `close` removes."""
        if str(path).endswith(".gz"):
            return cls._open_compressed(Path(path).expanduser(), field)
        p = check_db_path(path, field, must_exist=True)
        self = cls.__new__(cls)
        self.path, self.field, self.read_only = p, field, True
        # With no write-ahead log beside the file no writer is active: open it immutable, which reads the
        # file and creates nothing (a WAL reader would leave -shm/-wal files beside someone's database).
        # With a log present a sweep may be writing: read it as a WAL reader does, seeing its commits.
        live = Path(str(p) + "-wal").exists()
        uri = f"file:{quote(str(p.resolve()))}?mode=ro" + ("" if live else "&immutable=1")
        try:
            self._conn = sqlite3.connect(uri, uri=True, timeout=30.0)
            self._conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            self._conn.row_factory = sqlite3.Row
            self._check_owner(writing=False)
        except sqlite3.DatabaseError as exc:
            raise UsageError.bad(field, str(path), f"not a usable SQLite database ({exc})") from None
        return self

    def _check_owner(self, writing: bool) -> None:
        tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables and writing:
            return  # a new (or empty) file: ours from now on
        version = None
        if "meta" in tables:
            row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = None if row is None else row[0]
        ours = version is not None and {"runs", "points"} <= tables
        if not ours:
            shown = ", ".join(sorted(tables)) or "none"
            raise UsageError.bad(self.field, str(self.path), f"an SQLite database that is not joulebench's "
                                 f"(tables: {shown}); nothing was changed")
        try:
            number = int(version)
        except ValueError:
            raise UsageError.bad(self.field, str(self.path), f"schema version {version!r} is not a number") from None
        if number > SCHEMA_VERSION:
            raise UsageError.bad(self.field, str(self.path), f"schema version {number} is newer than this "
                                 f"joulebench ({SCHEMA_VERSION}); upgrade joulebench")

    def _check_and_migrate(self) -> None:
        """Check whose file it is and create or upgrade the schema in ONE write transaction.

        Two sweeps started together on a new file would otherwise race: while one creates the tables
        (each CREATE commits on its own under ``executescript``) the other sees some tables but no schema
        version yet and refuses the file as not ours. ``BEGIN IMMEDIATE`` takes the write lock first, so
        the second process waits (busy timeout) and then finds a finished schema."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._check_owner(writing=True)
            for statement in _SCHEMA_STATEMENTS:
                self._conn.execute(statement)
            row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None or int(row["value"]) < SCHEMA_VERSION:
                self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('application', ?)", (APPLICATION,))
        except BaseException:
            self._conn.rollback()
            raise
        self._conn.commit()

    @classmethod
    def _open_compressed(cls, path: Path, field: str) -> Store:
        import gzip
        import shutil
        import tempfile

        if not path.is_file():
            raise UsageError.bad(field, str(path), "no such results database")
        fd, name = tempfile.mkstemp(suffix=".db", prefix="joulebench-")
        try:
            with os.fdopen(fd, "wb") as out, gzip.open(path, "rb") as packed:
                shutil.copyfileobj(packed, out)
            store = cls.open_read(name, field)
        except (OSError, EOFError, UsageError) as exc:
            Path(name).unlink(missing_ok=True)
            reason = exc.reason if isinstance(exc, UsageError) else f"not a gzip-compressed database ({exc})"
            raise UsageError.bad(field, str(path), reason) from None
        store._unpacked = Path(name)
        return store

    def close(self) -> None:
        self._conn.close()
        if self._unpacked is not None:
            self._unpacked.unlink(missing_ok=True)
            self._unpacked = None

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

    def claim(self, key: str, run_id: int) -> bool:
        """Claim a point for this process before measuring it; False when it is stored already or a
        live sweep holds it. A claim left by a process that died (same host) is taken over."""
        host, pid = socket.gethostname(), os.getpid()
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            if self.has_point(key):
                return False
            row = self._conn.execute("SELECT host, pid FROM claims WHERE point_key=?", (key,)).fetchone()
            if row is not None:
                mine = row["host"] == host and row["pid"] == pid
                stale = row["host"] == host and not _process_alive(int(row["pid"]))
                if not (mine or stale):
                    return False
            self._conn.execute("INSERT OR REPLACE INTO claims VALUES (?,?,?,?,?)", (key, run_id, host, pid, time.time()))
        return True

    def release(self, key: str) -> None:
        with self._conn:
            self._conn.execute("DELETE FROM claims WHERE point_key=? AND host=? AND pid=?",
                               (key, socket.gethostname(), os.getpid()))

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
        """Write a finished (or failed) point and all its rows in one transaction, releasing its claim.

        A failed point is replaced when the same point later runs again."""
        key = key or point_key(kind, config)
        with self._conn:
            self._conn.execute("DELETE FROM points WHERE point_key=? AND status='failed'", (key,))
            self._conn.execute("DELETE FROM claims WHERE point_key=?", (key,))
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
    def runs(self) -> list[StoredRun]:
        rows = self._conn.execute(
            "SELECT r.*, (SELECT COUNT(*) FROM points p WHERE p.run_id=r.id) AS n_points FROM runs r ORDER BY id"
        ).fetchall()
        return [StoredRun(r["id"], r["created_at"], r["kind"], r["command"], r["n_points"], json.loads(r["env_json"]),
                          json.loads(r["plan_json"]), json.loads(r["baseline_json"])) for r in rows]

    def points(self, kind: str | None = None, run_id: int | None = None,
               status: str | None = None) -> Iterator[StoredPoint]:
        sql, args = "SELECT * FROM points WHERE 1=1", []
        for column, value in (("kind", kind), ("run_id", run_id), ("status", status)):
            if value is not None:
                sql += f" AND {column}=?"
                args.append(value)
        for r in self._conn.execute(sql + " ORDER BY id", args).fetchall():
            yield _stored_point(r)

    def point(self, point_id: int) -> StoredPoint:
        row = self._conn.execute("SELECT * FROM points WHERE id=?", (point_id,)).fetchone()
        if row is None:
            raise UsageError.bad("point_id", point_id, f"no such point in {self.path} (see `joulebench results list`)")
        return _stored_point(row)

    def point_by_key(self, key: str) -> StoredPoint | None:
        row = self._conn.execute("SELECT * FROM points WHERE point_key=?", (key,)).fetchone()
        return None if row is None else _stored_point(row)

    def finished(self, point: Point) -> StoredPoint | None:
        """``point`` as stored and finished (status ok) under its key, as a resuming sweep skips it; else None."""
        stored = self.point_by_key(key_of(point))
        return stored if stored is not None and stored.status == "ok" else None

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


def _stored_point(r: sqlite3.Row) -> StoredPoint:
    return StoredPoint(r["id"], r["run_id"], r["point_key"], r["kind"], r["status"], r["error"],
                       json.loads(r["config_json"]), json.loads(r["summary_json"]), r["created_at"])


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=_default)


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)
