"""`joulebench report`: read-only stores in, one self-contained HTML page (and paper figures) out.

The stores here are real SQLite files written by `joulebench.store.Store`, holding points shaped like
the committed validation stores (docs/validation), plus a power trace record and a hostile model name.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from joulebench.errors import UsageError
from joulebench.report.build import build_report
from joulebench.report.data import load_stores, open_read_only
from joulebench.report.floors import BELOW_FLOOR, ESTIMATED, UNSTABLE
from joulebench.report.impact import ImpactParams, carbon_table, household_table, impact
from joulebench.report.sections import views
from joulebench.store import MeasurementRow, Store
from joulebench.units import J_PER_KWH

HOSTILE = "<script>alert(1)</script>"
ROOT = Path(__file__).resolve().parents[1]
ENV = {"gpus": [{"name": "NVIDIA H200", "driver": "580.159.04", "power_limit_w": 700.0}], "host": "vm",
       "libraries": {"torch": "2.11.0", "transformers": "5.24.0"}}
IDLE_W = {"gpu": 100.0, "cpu": 20.0, "ram": 50.0}


def _phase(latency_s: float, energy: dict[str, float], ci: dict[str, float], reps: int = 3, std: float = 0.0) -> dict:
    return {"latency_s": latency_s, "latency_std_s": std, "reps": reps, "energy_j": energy, "ci95_j": ci,
            "estimated": {"gpu": False, "cpu": True, "ram": True}}


def _rows(phase: str, doc: dict) -> list[MeasurementRow]:
    return [MeasurementRow(phase, -1, c, doc["latency_s"], doc["energy_j"][c], doc["ci95_j"][c],
                           "nvml-counter" if c == "gpu" else f"estimate-{c}", c != "gpu", {}) for c in doc["energy_j"]]


def make_store(path: Path, model: str = HOSTILE) -> Path:
    """One LLM run (a hostile-named point with a power trace, and a bundled-model point whose GPU energy is
    under idle x time), one serving arm with per-request records."""
    with Store(path) as store:
        run = store.begin_run("llm", f"joulebench measure llm {model}", {"models": [model]}, ENV)
        store.set_baseline(run, {"idle_power_w": IDLE_W})
        pre = _phase(0.05, {"gpu": 30.0, "cpu": 1.2, "ram": 2.6}, {"gpu": 0.5, "cpu": 0.1, "ram": 0.1})
        dec = _phase(2.0, {"gpu": 600.0, "cpu": 45.0, "ram": 101.0}, {"gpu": 120.0, "cpu": 3.0, "ram": 3.0}, reps=2)
        req = _phase(2.1, {"gpu": 640.0, "cpu": 47.0, "ram": 106.0}, {"gpu": 10.0, "cpu": 2.0, "ram": 2.0}, reps=2)
        cfg = {"model": model, "dtype": "bfloat16", "batch": 1, "prompt_tokens": 512, "output_tokens": 64,
               "device": "cuda"}
        trace = {"component": "gpu", "source": "nvml-samples", "t_s": [0.0, 0.02, 0.04, 0.06, 0.08, 2.2],
                 "power_w": [120.0, 600.0, 610.0, 300.0, 310.0, 150.0],
                 "phases": [{"phase": "prefill", "start_s": 0.0, "end_s": 0.05},
                            {"phase": "decode", "start_s": 0.05, "end_s": 2.1}]}
        store.save_point(run, "llm", cfg, {"prefill": pre, "decode": dec, "request": req},
                         _rows("prefill", pre) + _rows("decode", dec) + _rows("request", req),
                         records={"power_trace": [trace]})
        # 20 J of GPU energy in 0.5 s is under the 100 W idle floor
        low = _phase(0.5, {"gpu": 20.0, "cpu": 10.0, "ram": 25.0}, {"gpu": 0.1, "cpu": 0.1, "ram": 0.1})
        cfg2 = dict(cfg, model="qwen2.5-0.5b", output_tokens=1)
        store.save_point(run, "llm", cfg2, {"prefill": low}, _rows("prefill", low))
        arm_run = store.begin_run("serving", "joulebench serve-bench", {}, ENV)
        store.set_baseline(arm_run, {"idle_power_w": IDLE_W})
        window = {"latency_s": 10.0, "energy_j": {"gpu": 4000.0, "cpu": 250.0, "ram": 500.0},
                  "ci95_j": {"gpu": None, "cpu": None, "ram": None}}
        summary = {"arm": f"arm {HOSTILE}", "arrival": {"law": "poisson", "spec": "poisson:2/s"},
                   "metrics": {"completed": 2, "failed": 0, "requests_per_s": 0.2,
                               "ttft_s": {"median": 0.1, "p90": 0.2, "p99": 0.3}, "tpot_s": {"median": 0.02},
                               "e2e_s": {"median": 2.0}},
                   "energy": {"energy_per_completed_request_j": 2375.0, "energy_per_output_token_j": 9.0,
                              "estimated_components": ["cpu", "ram"], "floor": {"ratio_to_floor": 0.8}},
                   "warnings": ["=HYPERLINK(\"http://x\")"]}
        requests = [{"status": "ok", "energy_j": {"gpu": 1900.0, "cpu": 100.0, "ram": 200.0}},
                    {"status": "ok", "energy_j": {"gpu": 2100.0, "cpu": 150.0, "ram": 300.0}}]
        store.save_point(arm_run, "serving", {"name": f"arm {HOSTILE}", "arrival": "poisson:2/s"}, summary,
                         _rows("run_window", window), records={"requests": requests})
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_floors_and_flags_are_computed_from_the_stored_readings(tmp_path: Path) -> None:
    db = make_store(tmp_path / "r.db")
    pts = {v.model: v for v in views(load_stores([str(db)]))}
    hostile, low = pts[HOSTILE], pts["qwen2.5-0.5b"]
    decode = hostile.reading("decode", "gpu")
    assert decode is not None and decode.energy_floor_j == pytest.approx(100.0 * 2.0)
    assert UNSTABLE in decode.flags  # +-120 J on 600 J is 20%
    assert ESTIMATED in hostile.reading("decode", "cpu").flags
    assert hostile.reading("prefill", "gpu").latency_floor_s is None  # an unknown model has no FLOP floor
    prefill = low.reading("prefill", "gpu")
    assert BELOW_FLOOR in prefill.flags and prefill.energy_ratio_to_floor == pytest.approx(0.4)
    assert 0 < prefill.latency_floor_s < 0.5  # bundled model on a catalogue GPU: FLOPs/peak or bytes/bandwidth
    serving = next(v for v in pts.values() if v.kind == "serving")
    assert any(f.startswith(BELOW_FLOOR) and "ratio_to_floor=0.8" in f for f in serving.flags)


def test_report_is_self_contained_escapes_names_and_writes_paper_figures(tmp_path: Path) -> None:
    db = make_store(tmp_path / "r.db")
    before = digest(db)
    result = build_report([db], tmp_path / "report.html", figures_dir=tmp_path / "figs")
    text = result.html.read_text()
    assert HOSTILE not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script" not in text.lower()
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", text)  # nothing fetched at view time
    assert "Content-Security-Policy" in text
    for section in ("runs", "flags", "impact", "llm", "traces", "predicted", "serving", "video"):
        assert f'id="{section}"' in text
    names = re.findall(r'data-figure="([^"]+)"', text)
    assert {"power_traces", "llm_prefill_decode", "serving_energy_distribution"} <= set(names)
    for name in names:
        assert {p.name for p in (tmp_path / "figs").glob(f"{name}.*")} == {f"{name}.{f}" for f in ("png", "svg", "pdf")}
    assert result.n_flagged >= 3
    assert digest(db) == before  # read-only: the store is byte for byte what it was
    assert not (tmp_path / "r.db-wal").exists() and not (tmp_path / "r.db-shm").exists()


def test_run_selection_keeps_only_those_runs(tmp_path: Path) -> None:
    db = make_store(tmp_path / "r.db")
    kinds = {p.kind for s in load_stores([str(db)], ["2"]) for p in s.points}
    assert kinds == {"serving"}
    assert {p.kind for s in load_stores([str(db)], ["r.db:1"]) for p in s.points} == {"llm"}
    with pytest.raises(UsageError, match="no such run"):
        load_stores([str(db)], ["7"])
    with pytest.raises(UsageError, match="run id"):
        load_stores([str(db)], ["x"])


def test_foreign_and_broken_databases_are_refused_untouched(tmp_path: Path) -> None:
    foreign = tmp_path / "theirs.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (x TEXT)")
    before = digest(foreign)
    with pytest.raises(UsageError, match="not joulebench's"):
        open_read_only(foreign)
    assert digest(foreign) == before
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UsageError, match="not an SQLite database"):
        open_read_only(garbage)
    with pytest.raises(UsageError, match="no such results database"):
        open_read_only(tmp_path / "missing.db")
    with pytest.raises(UsageError, match="is a directory"):
        open_read_only(tmp_path)


def test_impact_arithmetic_uses_the_cited_tables() -> None:
    params = ImpactParams(requests_per_day=1000, pue=1.5, price_per_kwh=0.2, regions=("FRA", "POL")).validated()
    one = impact("x", J_PER_KWH / 1000, params)  # 1 Wh per request -> 1 kWh/day of IT energy, 1.5 with PUE
    assert one.kwh_per_day == pytest.approx(1.5)
    assert one.cost_per_day == pytest.approx(0.3)
    assert one.g_co2e_per_day["POL"] == pytest.approx(1.5 * carbon_table()["POL"].g_co2e_per_kwh)
    assert one.households == pytest.approx(1.5 * 365 / household_table()["us"]["kwh_per_year"])
    assert carbon_table()["FRA"].g_co2e_per_kwh < carbon_table()["POL"].g_co2e_per_kwh
    for bad in (ImpactParams(pue=0.5), ImpactParams(requests_per_day=0), ImpactParams(regions=("XXX",))):
        with pytest.raises(UsageError):
            bad.validated()


def jb(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "joulebench", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("case", ["missing-db", "foreign-db", "corrupt-db", "unknown-run", "out-dir", "out-missing-folder",
                                  "out-suffix", "bad-pue", "bad-region", "bad-calibration", "figures-is-file"])
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path: Path, case: str) -> None:
    db = make_store(tmp_path / "r.db")
    foreign = sqlite3.connect(tmp_path / "theirs.db")
    foreign.execute("CREATE TABLE notes (x TEXT)")
    foreign.commit()
    foreign.close()
    (tmp_path / "corrupt.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    (tmp_path / "file").write_text("x")
    (tmp_path / "cal.yaml").write_text("profile: x\nparams: [1, 2]\n")
    args = {"missing-db": ["--db", "nope.db"], "foreign-db": ["--db", "theirs.db"], "corrupt-db": ["--db", "corrupt.db"],
            "unknown-run": ["--db", "r.db", "--run", "9"], "out-dir": ["--db", "r.db", "--out", "."],
            "out-missing-folder": ["--db", "r.db", "--out", "no/such/r.html"],
            "out-suffix": ["--db", "r.db", "--out", "r.txt"],
            "bad-pue": ["--db", "r.db", "--pue", "0.2"], "bad-region": ["--db", "r.db", "--regions", "MARS"],
            "bad-calibration": ["--db", "r.db", "--calibration", "cal.yaml"],
            "figures-is-file": ["--db", "r.db", "--figures", "file"]}[case]
    before = digest(db)
    listing = sorted(p.name for p in tmp_path.iterdir())
    proc = jb(["report", *args], tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # no report, no figures folder, no side files
    assert digest(db) == before


def test_cli_writes_the_report_and_says_where(tmp_path: Path) -> None:
    make_store(tmp_path / "r.db")
    proc = jb(["report", "--db", "r.db", "--out", "out.html", "--figures", "figs", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert '"flagged_points"' in proc.stdout and (tmp_path / "out.html").is_file()
    assert (tmp_path / "figs" / "power_traces.pdf").is_file()


def test_committed_validation_stores_give_every_section(tmp_path: Path) -> None:
    """The real stores: LLM (H100/H200 calibration sweeps), serving arms (committed gzipped), video;
    profiles validated."""
    found = [*(ROOT / "docs" / "validation").rglob("*.db"), *(ROOT / "docs" / "validation").rglob("*.db.gz")]
    dbs = sorted(str(p) for p in found)
    cals = sorted(str(p) for p in (ROOT / "docs" / "validation" / "calibration").glob("*.yaml"))
    digests = {p: digest(Path(p)) for p in dbs}
    result = build_report(dbs, tmp_path / "v.html", calibrations=cals[:1])
    text = result.html.read_text()
    for name in ("llm_energy_per_token", "serving_energy_latency", "video_scaling", "predicted_vs_measured_1"):
        assert f'data-figure="{name}"' in text
    assert "run-to-run (floor)" in text and "gCO2e/kWh" in text
    assert {p: digest(Path(p)) for p in dbs} == digests


def test_live_carbon_intensity_from_a_real_loopback_server_and_fallback() -> None:
    """The optional live source (off by default) against a real HTTP server answering like the GB API, then
    against a closed port: the offline table is used and the note says why."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from joulebench.report.impact import grid_with_live

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = json.dumps({"data": [{"from": "2026-12-02T12:00Z", "intensity": {"forecast": 140, "actual": 132}}]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/intensity"
        grid, note = grid_with_live(ImpactParams(), True, url)
        assert grid["GBR"].g_co2e_per_kwh == 132.0 and "live" in (note or "")
    finally:
        server.shutdown()
        server.server_close()
    grid, note = grid_with_live(ImpactParams(), True, url)  # the server is gone now
    assert grid["GBR"] == carbon_table()["GBR"] and "offline table was used" in (note or "")
    assert grid_with_live(ImpactParams(), False) == (carbon_table(), None)
