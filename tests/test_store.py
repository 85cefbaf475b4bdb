"""The results database: schema version, one transaction per point, resume, failed points."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from joulebench.errors import UsageError
from joulebench.experiments.sweep import run_sweep
from joulebench.experiments.sweep_values import MeterSpec
from joulebench.store import SCHEMA_VERSION, MeasurementRow, Store, point_key
from joulebench.store_merge import merge
from joulebench.values import Measurement


@dataclass(frozen=True)
class Toy:
    """A point kind of the test's own: the driver needs only kind, to_dict and label."""

    kind: ClassVar[str] = "llm"
    n: int

    def to_dict(self) -> dict:
        return {"n": self.n}

    def label(self) -> str:
        return f"toy {self.n}"


def sweep(store: Store, points: list[Toy], execute) -> object:  # noqa: ANN001 - a test's point function
    return run_sweep("llm", points, execute, store.path, "test", {}, MeterSpec("cpu"), idle_s=0.0, store=store)


def row(phase: str = "prefill") -> MeasurementRow:
    return MeasurementRow(phase, -1, "gpu", 0.04, 10.0, 0.1, "nvml-counter", False, {"min_window_s": 1.2})


def test_schema_is_versioned_and_tables_exist(tmp_path: Path) -> None:
    with Store(tmp_path / "r.db") as store, store.raw() as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    assert {"runs", "points", "measurements", "records", "meta"} <= tables
    assert int(version) == SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    with pytest.raises(UsageError, match="newer"):
        Store(path)


def test_runner_skips_stored_points_and_records_failures(tmp_path: Path) -> None:
    calls: list[int] = []

    def execute(point: Toy, context: object) -> Measurement:
        calls.append(point.n)
        if point.n == 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return Measurement({"value": point.n}, [row()], {"tokens": [{"t": 0.1}]})

    points = [Toy(1), Toy(2), Toy(3)]
    with Store(tmp_path / "r.db") as store:
        first = sweep(store, points, execute)
        assert [d.point.n for d in first.done] == [1, 3]
        assert first.failed[0].error.startswith("out of memory")
        second = sweep(store, points, execute)
        assert len(second.skipped) == 2 and calls == [1, 2, 3, 2]
        statuses = sorted((p.config["n"], p.status) for p in store.points())
        assert statuses == [(1, "ok"), (2, "failed"), (3, "ok")]  # the failed point was replaced, not duplicated
        ok = next(p for p in store.points() if p.config["n"] == 1)
        assert store.measurements(ok.id)[0]["protocol"] == {"min_window_s": 1.2}
        assert store.records(ok.id, "tokens") == [{"t": 0.1}]


def test_a_sweep_stopped_as_a_point_starts_leaves_it_unclaimed(tmp_path: Path) -> None:
    """An observer may stop the sweep before a point runs (scripts/measure_serving.py stops before an arm
    that no longer fits a device call). The point was claimed by then; its claim must go, or the next
    call, on another machine, finds it "claimed by another sweep" and never measures it."""

    class Stop(Exception):
        pass

    class StopAtSecond:
        def sweep_started(self, total: int, monitor: object) -> None: ...
        def point_finished(self, index: int, outcome: object) -> None: ...
        def repetition(self, phase: str, index: int, latency_s: float) -> None: ...

        def point_started(self, index: int, point: Toy) -> None:
            if point.n == 2:
                raise Stop

    def execute(point: Toy, context: object) -> Measurement:
        return Measurement({"value": point.n}, [row()])

    with Store(tmp_path / "r.db") as store:
        with pytest.raises(Stop):
            run_sweep("llm", [Toy(1), Toy(2)], execute, store.path, "test", {}, MeterSpec("cpu"), idle_s=0.0,
                      store=store, observer=StopAtSecond())
        with store.raw() as conn:
            assert conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
        assert [p.config["n"] for p in store.points()] == [1]


def test_a_point_is_all_or_nothing(tmp_path: Path) -> None:
    with Store(tmp_path / "r.db") as store:
        run = store.begin_run("llm", "test", {}, {})
        bad = MeasurementRow("prefill", -1, "gpu", 0.1, 1.0, None, "x", False, {})
        with pytest.raises(sqlite3.Error):
            # NULL phase violates NOT NULL after the point row was inserted: the whole point must roll back
            store.save_point(run, "llm", {"a": 1}, {}, [bad, MeasurementRow(None, 0, "gpu", 0, 0, 0, "", False, {})])  # type: ignore[arg-type]
        assert list(store.points()) == []
        assert not store.has_point(point_key("llm", {"a": 1}))


def _open_when_released(path: str, start, results) -> None:  # noqa: ANN001 - multiprocessing handles
    start.wait()
    try:
        Store(path).close()
        results.put("ok")
    except UsageError as exc:
        results.put(str(exc))


def test_many_processes_creating_one_new_database_all_succeed(tmp_path: Path) -> None:
    """Two sweeps started together on a new file once raced: one saw the other's half-made schema and
    refused the file as not joulebench's. Every opener must now find either nothing or a whole schema."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    for attempt in range(3):
        path = tmp_path / f"new{attempt}.db"
        start, results = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_open_when_released, args=(str(path), start, results)) for _ in range(6)]
        for proc in procs:
            proc.start()
        start.set()
        outcomes = [results.get(timeout=120) for _ in procs]
        for proc in procs:
            proc.join(timeout=60)
        assert outcomes == ["ok"] * len(procs), outcomes
        with Store.open_read(path) as store, store.raw() as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"meta", "runs", "points", "claims", "measurements", "records"} <= tables


def test_a_gzip_compressed_store_reads_as_the_store_and_leaves_nothing_behind(tmp_path) -> None:
    """Committed stores travel compressed (run_d's serve store: 0.5 MB -> 0.12 MB); reading one gives the
    same points as its decompressed copy, and the temporary copy is gone after close. A bad file is one line
    naming it."""
    import gzip
    import tempfile

    packed = Path(__file__).resolve().parents[1] / "docs" / "validation" / "serving" / "run_d" / "serve" / "serving.db.gz"
    db = tmp_path / "serving.db"
    db.write_bytes(gzip.decompress(packed.read_bytes()))
    before = set(Path(tempfile.gettempdir()).glob("joulebench-*.db"))
    with Store.open_read(db) as plain, Store.open_read(packed) as store:
        assert [p.summary for p in store.points()] == [p.summary for p in plain.points()]
        unpacked = store._unpacked
        assert unpacked is not None and unpacked.is_file()
    assert not unpacked.exists() and set(Path(tempfile.gettempdir()).glob("joulebench-*.db")) == before
    (tmp_path / "bad.db.gz").write_bytes(b"not gzip")
    with pytest.raises(UsageError, match="bad.db.gz.*gzip"):
        Store.open_read(tmp_path / "bad.db.gz")
    (tmp_path / "text.db.gz").write_bytes(gzip.compress(b"hello"))
    with pytest.raises(UsageError, match="text.db.gz.*SQLite"):
        Store.open_read(tmp_path / "text.db.gz")
    assert set(Path(tempfile.gettempdir()).glob("joulebench-*.db")) == before


def _one_point_store(path: Path, names: list[str], status: str = "ok") -> None:
    with Store(path) as store:
        run = store.begin_run("serving", f"call {path.stem}", {"plan": path.stem}, {"gpus": [{"name": "NVIDIA H100"}]})
        for name in names:
            store.save_point(run, "serving", {"name": name}, {"headline": {"from": path.stem}}, [row("window")],
                             {"requests": [{"index": 0, "from": path.stem}, {"index": 1}]}, status=status,
                             error=None if status == "ok" else "out of memory")


def test_merge_copies_what_the_store_lacks_with_its_run_and_rows(tmp_path: Path) -> None:
    """Two device calls resumed from one store return two stores; merged, each point is there once."""
    _one_point_store(tmp_path / "a.db", ["base", "serve-burst"])
    _one_point_store(tmp_path / "b.db", ["base", "cb-burst", "cb-burst-r1"])
    _one_point_store(tmp_path / "c.db", ["serve-burst", "cb-fixed"], status="failed")
    with Store(tmp_path / "a.db") as into:
        with Store.open_read(tmp_path / "b.db") as source:
            outcome = merge(into, source)
        assert outcome.copied == (point_key("serving", {"name": "cb-burst"}), point_key("serving", {"name": "cb-burst-r1"}))
        assert outcome.skipped == (point_key("serving", {"name": "base"}),) and outcome.runs_added == 1
        with Store.open_read(tmp_path / "c.db") as source:
            failed = merge(into, source)  # a failed point never replaces an ok one; it fills a gap
        assert [len(failed.copied), len(failed.skipped)] == [1, 1]
    with Store.open_read(tmp_path / "a.db") as merged:
        points = {p.config["name"]: p for p in merged.points()}
        assert sorted(points) == ["base", "cb-burst", "cb-burst-r1", "cb-fixed", "serve-burst"]
        assert points["base"].summary == {"headline": {"from": "a"}}  # what the store held stays
        assert points["cb-burst"].summary == {"headline": {"from": "b"}} and points["cb-fixed"].status == "failed"
        runs = {r.id: r for r in merged.runs()}
        assert runs[points["cb-burst"].run_id].command == "call b" and runs[points["cb-burst"].run_id].env["gpus"]
        assert merged.records(points["cb-burst-r1"].id, "requests") == [{"index": 0, "from": "b"}, {"index": 1}]
        [m] = merged.measurements(points["cb-burst"].id)
        assert (m["phase"], m["energy_j"], m["source"], m["protocol"]) == ("window", 10.0, "nvml-counter",
                                                                           {"min_window_s": 1.2})


def test_a_failed_point_gives_way_to_an_ok_one_from_the_source(tmp_path: Path) -> None:
    _one_point_store(tmp_path / "a.db", ["cb-burst"], status="failed")
    _one_point_store(tmp_path / "b.db", ["cb-burst"])
    with Store(tmp_path / "a.db") as into, Store.open_read(tmp_path / "b.db") as source:
        assert len(merge(into, source).copied) == 1
    with Store.open_read(tmp_path / "a.db") as merged:
        [point] = merged.points()
        assert point.status == "ok" and len(merged.measurements(point.id)) == 1


def test_results_merge_puts_two_stores_back_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from joulebench.cli import main

    _one_point_store(tmp_path / "a.db", ["base", "serve-burst"])
    _one_point_store(tmp_path / "b.db", ["base", "cb-burst"])
    monkeypatch.chdir(tmp_path)
    assert main(["results", "merge", "a.db", "b.db", "--db", "merged.db"]) in (None, 0)
    assert "b.db: 1 point(s) copied, 1 already in merged.db" in capsys.readouterr().err
    with Store.open_read(tmp_path / "merged.db") as merged:
        assert sorted(p.config["name"] for p in merged.points()) == ["base", "cb-burst", "serve-burst"]


def test_merging_stores_resumed_from_one_store_keeps_their_common_run_once(tmp_path: Path) -> None:
    """Calls 3 and 4 of run_f each resumed from call 2's store: merged, call 2's run is there once."""
    import shutil

    _one_point_store(tmp_path / "base.db", ["seq-s0"])
    for name, added in (("a", "serve-burst"), ("b", "cb-burst")):
        shutil.copy(tmp_path / "base.db", tmp_path / f"{name}.db")
        with Store(tmp_path / f"{name}.db") as store:
            run = store.begin_run("serving", f"call {name}", {}, {})
            store.save_point(run, "serving", {"name": added}, {})
    shutil.copy(tmp_path / "a.db", tmp_path / "lacks-base.db")
    with Store(tmp_path / "lacks-base.db") as store, store.raw() as conn, conn:
        conn.execute("DELETE FROM points WHERE point_key=?", (point_key("serving", {"name": "seq-s0"}),))
    with Store(tmp_path / "b.db") as into:
        with Store.open_read(tmp_path / "a.db") as source:
            assert merge(into, source).runs_added == 1  # call a's own run; the inherited one is skipped with its point
        with Store.open_read(tmp_path / "base.db") as source:
            assert merge(into, source).copied == ()
    with Store(tmp_path / "lacks-base.db") as into, Store.open_read(tmp_path / "b.db") as source:
        outcome = merge(into, source)  # seq-s0 comes back into the run this store already holds
        assert outcome.runs_added == 1 and len(outcome.copied) == 2
    with Store.open_read(tmp_path / "lacks-base.db") as merged:
        assert [r.command for r in merged.runs()] == ["call base", "call a", "call b"]
        assert {p.config["name"]: p.run_id for p in merged.points()}["seq-s0"] == merged.runs()[0].id
