"""``joulebench study ...`` end to end on the tiny model on CPU: each study's tables, its invariants, its
store, resuming; bad input refused with one line, exit 2 and nothing written. No timing assertions."""

from __future__ import annotations

import gzip
import json
import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

#: short windows and 1 s of stability rounds a point: these tests check the studies' plans and tables, not
#: how steady a CPU point is
QUICK = ["--device", "cpu", "--model", "tiny-llama", "--min-window-s", "0.05", "--point-budget-s", "1"]


def run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", CUDA_VISIBLE_DEVICES="")
    return subprocess.run([sys.executable, "-m", "joulebench", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def _requests(path: Path, n: int = 30, seed: int = 1) -> Path:
    rng = random.Random(seed)
    path.write_text("".join(json.dumps({"prompt_tokens": rng.randint(20, 400), "reply_tokens": rng.randint(4, 24)})
                            + "\n" for _ in range(n)))
    return path


def _table(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in doc["tables"] if t["name"] == name)


def _rows(table: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(zip(table["columns"], row, strict=True)) for row in table["rows"]]


def _stored(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT kind || ':' || status, COUNT(*) FROM points GROUP BY 1").fetchall())


def test_thank_you_study_estimates_wh_per_reply_and_resumes(tmp_path: Path) -> None:
    # 2,000 requests: the study's protocol on them would take hours here, so neither the GPU-time budget
    # nor the population stops the check sample before its maximum (or the target)
    source = _requests(tmp_path / "requests.jsonl", n=2000)
    args = ["study", "thank-you", *QUICK, "--source", str(source), "--requests", "2000", "--max-check", "4",
            "--db", "ty.db", "--json"]
    first = run(args, tmp_path)
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["study"] == "thank-you" and doc["exit_code"] == 0
    checked = 4  # the check sample's minimum is its maximum here: 4 requests, whatever the interval
    assert doc["points"] == {"done": 9 + checked, "skipped": 0, "claimed": 0, "failed": 0}  # 3x3 grid + checks
    per_reply = _rows(_table(doc, "per_reply"))
    assert [r["component"] for r in per_reply] == ["cpu ~estimate", "ram ~estimate", "total ~estimate"]
    for row in per_reply:
        assert row["reply Wh"] > 0 and row["prefill Wh"] > 0 and row["decode Wh"] > 0 and row["+-95% Wh"] >= 0
        assert row["+-95% rel"] == pytest.approx(row["+-95% Wh"] / row["reply Wh"])
    total = per_reply[-1]["reply Wh"]
    assert total == pytest.approx(per_reply[0]["reply Wh"] + per_reply[1]["reply Wh"], rel=0.05)
    assert per_reply[0]["study Wh"] == 0.024  # the study's CPU figure beside ours
    protocol = {r["what"]: r["value"] for r in _rows(_table(doc, "protocol"))}
    assert protocol["requests in the population"] == 2000 and protocol["designed points measured"] == 9
    assert protocol["check points measured"] == checked
    ratio = protocol["GPU time / study protocol"]
    assert ratio == pytest.approx(protocol["protocol GPU time (s, model loads excluded)"] / next(
        v for k, v in protocol.items() if k.startswith("study protocol on this population")))
    assert protocol["stopped because"] == doc["stop"]
    assert doc["stop"].startswith(("target reached", "check sample at its maximum"))
    fits = _rows(_table(doc, "fits"))
    assert {r["coefficient"] for r in fits} >= {"alpha_s_per_token", "eta_s_per_token", "A_Wh_per_token", "E0_Wh"}
    assert _stored(tmp_path / "ty.db") == {"llm:ok": 9 + checked, "study:ok": 1}

    again = run(args, tmp_path)  # resume: nothing is measured again, the stored tables come back
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["points"]["done"] == 0 and second["points"]["skipped"] == 9 + checked
    assert second["tables"] == doc["tables"] and second["study_point_id"] == doc["study_point_id"]
    assert _stored(tmp_path / "ty.db") == {"llm:ok": 9 + checked, "study:ok": 1}

    # --tables-only: the same tables from the stored points alone, computed again, nothing written
    only = run([*args, "--tables-only"], tmp_path)
    assert only.returncode == 0, only.stderr
    third = json.loads(only.stdout)
    assert third["tables_only"] is True and third["study_point_id"] is None
    assert third["tables"] == doc["tables"] and third["stop"] == doc["stop"]
    assert _stored(tmp_path / "ty.db") == {"llm:ok": 9 + checked, "study:ok": 1}


def test_tables_only_reads_a_cut_short_run_and_says_the_study_would_go_on(tmp_path: Path) -> None:
    """A run cut after its design (simulated: its check points removed from the real store) gives its
    tables with --tables-only, which says the study would measure more; another protocol finds nothing."""
    source = _requests(tmp_path / "requests.jsonl", n=500)
    args = ["study", "thank-you", *QUICK, "--source", str(source), "--requests", "500", "--max-check", "2",
            "--check-batch", "2", "--db", "ty.db", "--json"]
    assert run(args, tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "ty.db") as conn:
        checks = [r[0] for r in conn.execute("SELECT points.id FROM points JOIN runs ON runs.id = points.run_id "
                                             "WHERE runs.plan_json LIKE '%\"stage\": \"check%'")]
        assert len(checks) == 2
        for table in ("measurements", "records", "points"):
            column = "id" if table == "points" else "point_id"
            conn.executemany(f"DELETE FROM {table} WHERE {column} = ?", [(i,) for i in checks])
        before = conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    cut = run([*args, "--tables-only"], tmp_path)
    assert cut.returncode == 0, cut.stderr
    doc = json.loads(cut.stdout)
    assert doc["points"]["skipped"] == 9 and doc["tables"]
    assert doc["stop"].startswith("tables only: 0 check requests stored; the study would measure more")
    assert _rows(_table(doc, "per_reply"))[0]["reply Wh"] > 0  # the grid's fit alone prices the population
    # points are found by their keys, as a resumed run finds them: another seed draws another check sample
    # from the same population, so its design points are these (found) and its checks are not; another point
    # budget is another protocol, so nothing is found
    reseeded = json.loads(run([*args, "--seed", "3", "--tables-only"], tmp_path).stdout)
    assert reseeded["points"]["skipped"] == 9
    assert reseeded["stop"].startswith("tables only: 0 check requests stored; the study would measure more")
    other = json.loads(run([*args, "--point-budget-s", "2", "--tables-only"], tmp_path).stdout)
    assert other["tables"] == [] and other["points"]["skipped"] == 0 and other["stop"] == "no stored point of this plan"
    with sqlite3.connect(tmp_path / "ty.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM points").fetchone()[0] == before


def test_tables_only_of_the_h200_store_on_a_machine_without_its_gpu_or_libraries(tmp_path: Path) -> None:
    """The committed H200 store (docs/validation/studies) read here, where there is no GPU and neither
    bitsandbytes nor torchao need be installed: the static precision plan finds its 8 stored points by
    their keys (bnb-int8 measured a session later, on another H200), the same tables as the committed
    document, and nothing is written to the store."""
    studies = Path(__file__).parents[1] / "docs" / "validation" / "studies"
    db = tmp_path / "llm_studies.db"
    db.write_bytes(gzip.decompress((studies / "llm_studies.db.gz").read_bytes()))
    result = run(["study", "precision", "--model", "llama-3.1-8b", "--dtype",
                  "bf16,fp16,torchao-int8,torchao-int4,torchao-fp8,fp32,bnb-nf4,bnb-int8", "--engine", "static",
                  "--output-tokens", "32", "--device", "cuda", "--db", str(db), "--json", "--point-budget-s", "30",
                  "--tables-only"], tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["stop"] == "tables only: 8 of 8 points stored"
    assert [r["dtype"] for r in _rows(_table(doc, "precision"))] == [
        "bf16", "fp16", "torchao-int8", "torchao-int4", "torchao-fp8", "fp32", "bnb-nf4", "bnb-int8"]
    assert doc["tables"] == json.loads((studies / "precision_static_tables.json").read_text())["tables"]
    assert db.read_bytes() == gzip.decompress((studies / "llm_studies.db.gz").read_bytes())


def test_sizes_study_on_two_model_sizes(tmp_path: Path) -> None:
    config = json.loads((Path(__file__).parents[1] / "src/joulebench/configs/models/tiny-llama.json").read_text())
    config.update(num_hidden_layers=4, hidden_size=192, head_dim=48, intermediate_size=512)
    (tmp_path / "tiny4").mkdir()
    (tmp_path / "tiny4" / "config.json").write_text(json.dumps(config))
    result = run(["study", "sizes", *QUICK[:2], "--model", "tiny-llama,./tiny4", *QUICK[4:],
                  "--prompt-tokens", "96", "--output-tokens", "8", "--db", "sizes.db", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    rows = _rows(_table(doc, "sizes"))
    assert [r["model"] for r in rows] == ["tiny-llama", "./tiny4"]
    assert rows[0]["params B"] < rows[1]["params B"]
    for row in rows:
        assert (row["s"], row["g"], row["requests"]) == (96, 8, 1)
        assert row["prefill J"] > 0 and row["decode J/tok"] > 0 and row["reply Wh"] > 0
        assert row["prefill J/tok"] == pytest.approx(row["prefill J"] / 96)
        assert row["study Wh"] is None  # the study publishes Llama-3.1-8B fp32 only
    assert _stored(tmp_path / "sizes.db") == {"llm:ok": 2, "study:ok": 1}
    # --tables-only finds each planned point by its key, as a run resuming would: the same plan gives the same
    # tables; a longer model list finds the two stored points and misses the third; the precision study's
    # fp32 point is the sizes study's tiny-llama point (same configuration); another length finds nothing
    full = json.loads(run(["study", "sizes", *QUICK[:2], "--model", "tiny-llama,./tiny4", *QUICK[4:], "--prompt-tokens",
                           "96", "--output-tokens", "8", "--db", "sizes.db", "--json", "--tables-only"], tmp_path).stdout)
    assert full["stop"] == "tables only: 2 of 2 points stored" and full["tables"] == doc["tables"]
    more = run(["study", "sizes", *QUICK[:2], "--model", "tiny-llama,./tiny4,qwen2.5-0.5b", *QUICK[4:],
                "--prompt-tokens", "96", "--output-tokens", "8", "--db", "sizes.db", "--json", "--tables-only"], tmp_path)
    assert more.returncode == 0, more.stderr
    part = json.loads(more.stdout)
    assert part["stop"] == "tables only: 2 of 3 points stored"
    assert [r["model"] for r in _rows(_table(part, "sizes"))] == ["tiny-llama", "./tiny4"]
    precision = json.loads(run(["study", "precision", *QUICK, "--dtype", "fp32,bf16", "--prompt-tokens", "96",
                                "--output-tokens", "8", "--db", "sizes.db", "--json", "--tables-only"], tmp_path).stdout)
    assert precision["stop"] == "tables only: 1 of 2 points stored"
    (fp32,) = _rows(_table(precision, "precision"))
    assert fp32["dtype"] == "fp32" and fp32["prefill J"] == pytest.approx(_rows(_table(doc, "sizes"))[0]["prefill J"])
    other = json.loads(run(["study", "sizes", *QUICK[:2], "--model", "tiny-llama,./tiny4", *QUICK[4:],
                            "--prompt-tokens", "64", "--output-tokens", "8", "--db", "sizes.db", "--json",
                            "--tables-only"], tmp_path).stdout)
    assert other["stop"] == "tables only: 0 of 2 points stored"
    assert _stored(tmp_path / "sizes.db") == {"llm:ok": 2, "study:ok": 1}


def test_precision_study_compares_each_dtype_with_fp32(tmp_path: Path) -> None:
    result = run(["study", "precision", *QUICK, "--dtype", "fp32,bf16", "--prompt-tokens", "96", "--output-tokens", "8",
                  "--db", "p.db", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["parameters"]["engines"] == ["eager"]  # the static engine is CUDA only
    rows = {r["dtype"]: r for r in _rows(_table(doc, "precision"))}
    assert set(rows) == {"fp32", "bf16"}
    assert rows["fp32"]["prefill fp32/x"] == pytest.approx(1.0) and rows["fp32"]["decode x/fp32"] == pytest.approx(1.0)
    assert rows["bf16"]["weights GB"] == pytest.approx(rows["fp32"]["weights GB"] / 2)
    assert rows["bf16"]["library"] == "torch"
    assert any("int8 (LLM.int8) 2-3x fp32" in n for n in _table(doc, "precision")["notes"])
    only = run(["study", "precision", *QUICK, "--dtype", "fp32,bf16", "--prompt-tokens", "96", "--output-tokens", "8",
                "--db", "p.db", "--json", "--tables-only"], tmp_path)
    assert only.returncode == 0, only.stderr
    assert json.loads(only.stdout)["tables"] == doc["tables"]


def test_batch_study_effective_and_computed_tokens(tmp_path: Path) -> None:
    source = _requests(tmp_path / "requests.jsonl", n=24)
    result = run(["study", "batch", *QUICK, "--dtype", "fp32", "--batches", "1,2,4", "--source", str(source),
                  "--requests", "24", "--output-tokens", "6", "--db", "b.db", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["points"]["done"] == 5 and doc["points"]["skipped"] == 1  # batch 1 is one request in both curves
    rows = _rows(_table(doc, "batch"))
    assert [(r["bucketing"], r["batch"]) for r in rows] == [("off", 1), ("off", 2), ("off", 4), ("on", 1), ("on", 2),
                                                             ("on", 4)]
    for row in rows:
        assert row["prompt tok comp"] >= row["prompt tok eff"] > 0
        assert row["padding"] == pytest.approx(1 - row["prompt tok eff"] / row["prompt tok comp"])
        assert row["prefill J/eff tok"] >= row["prefill J/comp tok"] > 0
        assert row["generate J/eff in tok"] >= row["generate J/comp in tok"] > 0
        if row["batch"] == 1:
            assert row["padding"] == 0
    assert rows[0]["prefill J/eff tok"] == rows[3]["prefill J/eff tok"]
    assert any(n.startswith("ours (bucketing on)") for n in _table(doc, "batch")["notes"])
    # --tables-only finds each planned batch by its key: the same tables, and the shared batch-1 point
    # counted once in the GPU time
    only = run(["study", "batch", *QUICK, "--dtype", "fp32", "--batches", "1,2,4", "--source", str(source),
                "--requests", "24", "--output-tokens", "6", "--db", "b.db", "--json", "--tables-only"], tmp_path)
    assert only.returncode == 0, only.stderr
    again = json.loads(only.stdout)
    assert again["tables"] == doc["tables"] and again["stop"] == "tables only: 6 of 6 planned batches stored"
    assert again["gpu_time"] == doc["gpu_time"] and again["points"]["skipped"] == 5


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["precision", "--device", "cpu", "--model", "tiny-llama", "--dtype", "torchao-fp8"], "CUDA only"),
        (["thank-you", "--device", "cpu", "--model", "tiny-llama", "--source", "nope.txt"], "--source 'nope.txt'"),
        (["thank-you", "--device", "cpu", "--model", "tiny-llama", "--source", "missing.jsonl"], "no such file"),
        (["thank-you", "--device", "cpu", "--model", "tiny-llama", "--report", "out.txt"], "--report"),
        (["thank-you", "--device", "cpu", "--model", "tiny-llama", "--requests", "0"], "--requests 0"),
        (["thank-you", "--device", "cpu", "--model", "tiny-llama", "--target-ci", "2"], "--target-ci"),
        (["thank-you", "--device", "cpu", "--model", "tiny-llama", "--min-window-s", "0"], "--min-window-s"),
        (["thank-you", "--model", "tiny-llama"], "no CUDA GPU"),
        (["thank-you", "--device", "cpu", "--model", "tiny-llama", "--tables-only"], "no such results database"),
        (["thank-you", "--model", "tiny-llama", "--tables-only", "--gpus", "0"], "--gpus '0'"),
        (["sizes", "--device", "cpu", "--model", "tiny-llama,no-such-model"], "bundled: "),
        (["sizes", "--device", "cpu", "--model", "tiny-llama", "--output-tokens", "1"], "--output-tokens 1"),
        (["batch", "--device", "cpu", "--model", "tiny-llama", "--batches", "0"], "--batches"),
        (["batch", "--device", "cpu", "--model", "tiny-llama", "--bucketing", "sideways"], "--bucketing"),
        (["batch", "--device", "cpu", "--model", "tiny-llama", "--batches", "64", "--requests", "16"], "--requests"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path: Path, args: list[str], needle: str) -> None:
    result = run(["study", *args, "--db", "out.db"], tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip() and "warning" not in ln.lower()]
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_video_models_study_runs_the_real_pipeline_and_resumes(tmp_path: Path) -> None:
    args = ["study", "video-models", "--models", "tiny-wan", "--device", "cpu", "--dtype", "fp32", "--sample-steps",
            "2", "--db", "v.db", "--json"]
    first = run(args, tmp_path)
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["study"] == "video-models" and len(doc["points"]) == 1
    point = doc["points"][0]
    assert point["config"]["mode"] == "pipeline" and point["config"]["model"] == "tiny-wan"
    again = run(args, tmp_path)  # resumed: the stored point comes back, nothing is measured twice
    assert again.returncode == 0 and json.loads(again.stdout)["points"][0]["point_id"] == point["point_id"]
