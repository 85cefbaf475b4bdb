"""scripts/ingest_must_show_call.py on a copy of the committed H200 must-show store: a returned store with
more points replaces the committed one, an equal one leaves it alone, one with fewer points is refused."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
from pathlib import Path

import pytest

from .scripts_loader import load_script

ROOT = Path(__file__).resolve().parents[1]
H200 = ROOT / "docs" / "validation" / "serving" / "run_f" / "serving-h200.db.gz"


@pytest.fixture(scope="module")
def ingest():
    return load_script("ingest_must_show_call")


def _points(db: Path) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return [k for (k,) in con.execute("SELECT point_key FROM points ORDER BY id")]
    finally:
        con.close()


def _gunzip(src: Path, dst: Path) -> Path:
    with gzip.open(src, "rb") as a, open(dst, "wb") as b:
        shutil.copyfileobj(a, b)
    return dst


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run_f"
    run.mkdir()
    shutil.copyfile(H200, run / H200.name)
    return run


def _returned(tmp_path: Path, change: str, part: str = "") -> Path:
    """A call's returned folder: logs, and the H200 store with one point more, one fewer or the same."""
    files = tmp_path / "files"
    folder = files / part
    folder.mkdir(parents=True)
    (folder / "card.csv").write_text("name, uuid\nNVIDIA H200, GPU-x\n")
    (folder / "must_show.log").write_text("3 of 10 arms stored\n")
    db = _gunzip(H200, folder / "serving-h200.db")
    con = sqlite3.connect(db)
    if change == "more":
        con.execute("INSERT INTO points (run_id, point_key, kind, status, error, config_json, summary_json, "
                    "created_at) SELECT run_id, 'added', kind, status, error, config_json, summary_json, "
                    "created_at FROM points WHERE id = (SELECT max(id) FROM points)")
    elif change == "fewer":
        con.execute("DELETE FROM points WHERE id = (SELECT max(id) FROM points)")
    con.commit()
    con.close()
    return files


def test_a_store_with_more_points_replaces_the_committed_one_and_the_logs_land(ingest, run_dir, tmp_path):
    before = _points(_gunzip(run_dir / H200.name, tmp_path / "before.db"))
    messages, landed = ingest.ingest(16, _returned(tmp_path, "more", part="probe"), run_dir)
    assert landed and messages == [f"call 16: serving-h200.db {len(before)} -> {len(before) + 1} points"]
    after = _points(_gunzip(run_dir / H200.name, tmp_path / "after.db"))
    assert after == [*before, "added"]
    assert (run_dir / "call16" / "probe" / "card_16.csv").read_text().startswith("name, uuid")
    assert (run_dir / "call16" / "probe" / "measure_serving_must_show_16.log").is_file()
    with pytest.raises(FileExistsError):
        ingest.ingest(16, tmp_path / "files", run_dir)


def test_an_unchanged_store_is_left_alone(ingest, run_dir, tmp_path):
    committed = (run_dir / H200.name).read_bytes()
    messages, landed = ingest.ingest(17, _returned(tmp_path, "same"), run_dir)
    assert landed and messages == ["call 17: serving-h200.db unchanged"]
    assert (run_dir / H200.name).read_bytes() == committed


def test_a_store_with_fewer_points_is_refused(ingest, run_dir, tmp_path):
    committed = (run_dir / H200.name).read_bytes()
    messages, landed = ingest.ingest(18, _returned(tmp_path, "fewer"), run_dir)
    assert not landed and "not replaced" in messages[0]
    assert (run_dir / H200.name).read_bytes() == committed
    assert ingest.main(["19", str(tmp_path / "files"), "--run-dir", str(run_dir)]) == 1


def test_the_later_part_of_a_call_gives_the_store(ingest, tmp_path):
    """The last part's store holds every point the earlier parts stored, whatever its folder's name: here
    "probe" ran after "serve" and sorts before it."""
    files = _returned(tmp_path, "same", part="serve")
    _returned(tmp_path, "more", part="probe")
    assert ingest.parts(files) == ["", "probe", "serve"]
    stores = ingest.returned_stores(files)
    assert {name: path for name, (path, _) in stores.items()} == {"serving-h200.db": files / "probe" / "serving-h200.db"}
    assert stores["serving-h200.db"][1] == ingest._points(files / "probe" / "serving-h200.db")
