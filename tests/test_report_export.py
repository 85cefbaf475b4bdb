"""`results export`: no spreadsheet formulas, no file for an unknown kind, no CSV under a .parquet name."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from joulebench.errors import UsageError
from joulebench.report.data import open_read_only
from joulebench.report.export import export_format, export_points
from tests.test_report import make_store

FORMULA = '=HYPERLINK("http://example.invalid","click")'


def test_csv_cells_that_a_spreadsheet_would_run_export_as_text(tmp_path: Path) -> None:
    db = make_store(tmp_path / "r.db", model=FORMULA)
    store = open_read_only(db)
    try:
        n = export_points(store, tmp_path / "x.csv", None)
    finally:
        store.close()
    rows = list(csv.DictReader((tmp_path / "x.csv").open()))
    assert n == len(rows) == 3
    models = {r["config.model"] for r in rows}
    assert "'" + FORMULA in models and FORMULA not in models
    warnings = {r.get("warnings") for r in rows}
    assert "'=HYPERLINK(\"http://x\")" in warnings  # a stored warning is a cell too
    cells = [v for r in rows for v in r.values() if v]
    assert not any(v.startswith(("=", "+", "@")) for v in cells)


def test_numbers_stay_numbers_and_other_formats_keep_the_text(tmp_path: Path) -> None:
    db = make_store(tmp_path / "r.db", model=FORMULA)
    store = open_read_only(db)
    try:
        export_points(store, tmp_path / "x.parquet", None)
        export_points(store, tmp_path / "x.json", None)
    finally:
        store.close()
    frame = pd.read_parquet(tmp_path / "x.parquet")
    assert FORMULA in set(frame["config.model"])  # not a spreadsheet: the value as stored
    assert frame["prefill.latency_s"].dtype.kind == "f"
    assert FORMULA in {r.get("config.model") for r in json.loads((tmp_path / "x.json").read_text())}


def test_format_comes_from_the_suffix_or_is_refused() -> None:
    assert export_format("a.parquet", None) == "parquet"
    assert export_format("a.CSV", None) == "csv"
    assert export_format("a.json", "json") == "json"
    assert export_format("a.out", "csv") == "csv"
    with pytest.raises(UsageError, match="suffix"):
        export_format("a.out", None)
    with pytest.raises(UsageError, match="agree"):
        export_format("a.parquet", "csv")
    with pytest.raises(UsageError, match="unknown"):
        export_format("a.csv", "xlsx")


def test_unknown_kind_writes_nothing(tmp_path: Path) -> None:
    db = make_store(tmp_path / "r.db")
    store = open_read_only(db)
    try:
        with pytest.raises(UsageError, match="kinds present: llm, serving"):
            export_points(store, tmp_path / "x.csv", None, kind="vidoe")
    finally:
        store.close()
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "x.csv.partial").exists()


def cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "joulebench", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_cli_export_contract(tmp_path: Path) -> None:
    make_store(tmp_path / "r.db", model=FORMULA)
    bad_kind = cli(["results", "export", "k.csv", "--db", "r.db", "--kind", "nope"], tmp_path)
    assert bad_kind.returncode == 2 and "Traceback" not in bad_kind.stderr
    assert not (tmp_path / "k.csv").exists()
    parquet = cli(["results", "export", "x.parquet", "--db", "r.db"], tmp_path)
    if parquet.returncode == 0:  # the suffix chose the format
        assert set(pd.read_parquet(tmp_path / "x.parquet")["kind"]) == {"llm", "serving"}
    else:  # or the mismatch with a default --format was refused; either way no CSV under a .parquet name
        assert parquet.returncode == 2 and len(parquet.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "x.parquet").exists()
    ok = cli(["results", "export", "x.csv", "--db", "r.db"], tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "'" + FORMULA in {r["config.model"] for r in csv.DictReader((tmp_path / "x.csv").open())}
