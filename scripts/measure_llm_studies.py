#!/usr/bin/env python3
"""Case studies I and II on one H200: each ``joulebench study`` command in turn, within a GPU-time budget.

What it measures (random weights, bundled configs; every figure beside the study's published one):

* ``thank-you`` - Wh per reply (GPU/CPU/RAM, prefill/decode) for Llama-3.1-8B fp32 on the thank-you length
  distribution (10,000 requests), from a 3x3 designed grid plus a random check sample, with the achieved
  95% interval and the GPU time against the study's own protocol;
* ``sizes`` - prefill and decode energy per model size (Qwen2.5-0.5B..14B, Mistral-7B, Llama-3.1-8B), fp32;
* ``precision`` - fp32/bf16/fp16/bnb-int8/bnb-nf4/torchao int8/int4/fp8, eager engine;
* ``batch`` - energy per effective and computed token along batch sizes, random batches and length
  bucketing (bf16);
* ``precision-static`` - the static engine (static KV cache + torch.compile), every precision by default.

Parts run in that order as subprocesses of the real CLI, into one database; a part that would pass the
budget is interrupted with SIGINT (its finished points are kept: running the script again with the same
``--db`` resumes) and the parts after it are skipped. Measured on the H200 (2026-12-03, docs/validation/
studies/llm_studies.cmd): with the CLI's default 120 s of stability rounds per point, eager fp32
Llama-3.1-8B points took 53-118 s each (decode's run-to-run spread of 5-16% never meets the 2% target, so
most points spend the whole budget). Hence ``--point-budget-s`` (default 30 here): eager points then took
28-41 s each and static ones 39-143 s (most likely each precision's compile of its decode step, which
happens inside the first round); all five parts took ~1,800 s of GPU time over four calls of sessions 5
and 6 (thank-you 526 s, sizes 215, precision eager 251, static 642, batch 161). The summary prints what each took.

Usage on the device (wheels: ``rm -rf .whl && python3 scripts/prepare_device_wheels.py --studies`` here,
then carry ``.whl``)::

    source scripts/device_env.sh && python3 scripts/measure_llm_studies.py --budget-s 470

Writes into $OUT (default ./out): ``llm_studies.db`` (every point and the study tables), ``summary.json``
(each part's JSON document, exit code, wall time) and ``llm_studies.log`` (each part's stderr). A part cut
short by the budget gets the tables of its stored points from the same command with ``--tables-only``
(CPU, a few seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PARTS = ("thank-you", "sizes", "precision", "batch", "precision-static")
SIZES = "qwen2.5-0.5b,qwen2.5-1.5b,qwen2.5-3b,qwen2.5-7b,qwen2.5-14b,mistral-7b-v0.3,llama-3.1-8b"
PRECISIONS = "fp32,bf16,fp16,bnb-int8,bnb-nf4,torchao-int8,torchao-int4,torchao-fp8"
#: seconds a part gets after SIGINT to store its finished points and exit
GRACE_S = 30.0


def commands(a: argparse.Namespace) -> dict[str, list[str]]:
    window = ["--min-window-s", str(a.min_window_s)] if a.min_window_s else []
    common = ["--device", a.device, "--db", a.db, "--json", "--point-budget-s", str(a.point_budget_s), *window]
    return {
        "thank-you": ["study", "thank-you", "--model", a.thank_you_model, "--dtype", "fp32", "--requests",
                      str(a.thank_you_requests), "--max-check", str(a.thank_you_max_check), *common],
        "sizes": ["study", "sizes", "--model", a.sizes_models, "--dtype", a.sizes_dtype, "--output-tokens",
                  str(a.output_tokens), *common],
        "precision": ["study", "precision", "--model", a.precision_model, "--dtype", a.precisions, "--engine", "eager",
                      "--output-tokens", str(a.output_tokens), *common],
        "batch": ["study", "batch", "--model", a.batch_model, "--dtype", a.batch_dtype, "--batches", a.batches,
                  "--output-tokens", str(a.output_tokens), *common],
        "precision-static": ["study", "precision", "--model", a.precision_model, "--dtype", a.static_dtypes,
                             "--engine", "static", "--output-tokens", str(a.output_tokens), *common],
    }


def run_part(argv: list[str], timeout_s: float, log: Any) -> tuple[int, float, dict[str, Any] | None]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "joulebench", *argv], stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        out, _ = proc.communicate(timeout=max(timeout_s, 1.0))
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # the sweep keeps every finished point and exits 130
        try:
            out, _ = proc.communicate(timeout=GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    wall = time.perf_counter() - t0
    try:
        doc = json.loads(out) if out.strip() else None
    except json.JSONDecodeError:
        doc = None
    return proc.returncode, wall, doc


def headline(doc: dict[str, Any] | None) -> list[str]:
    """A few lines per part: the study's main figures, for the terminal."""
    if not doc:
        return ["(no result document)"]
    lines = []
    for item in doc.get("tables", []):
        cols = item["columns"]
        if item["name"] in ("per_reply", "sizes", "precision", "batch", "protocol", "avg_power"):
            lines.append(f"[{item['title']}]")
            lines.append("  " + " | ".join(cols))
            for row in item["rows"]:
                lines.append("  " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
            lines += [f"  note: {n}" for n in item.get("notes", []) if n.startswith(("ours", "study:"))]
    return lines


def main() -> int:
    out_dir = Path(os.environ.get("OUT", "out"))
    out_dir.mkdir(parents=True, exist_ok=True)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma list of: {', '.join(PARTS)}")
    p.add_argument("--budget-s", type=float, default=470.0, help="GPU wall time for all parts together")
    p.add_argument("--db", default=str(out_dir / "llm_studies.db"))
    p.add_argument("--min-window-s", type=float, default=None, help="shorter energy windows (default 1.2 s)")
    p.add_argument("--device", default="cuda", help="cuda; cpu runs the plumbing on tiny models")
    p.add_argument("--thank-you-model", default="llama-3.1-8b")
    p.add_argument("--thank-you-requests", type=int, default=10_000)
    p.add_argument("--thank-you-max-check", type=int, default=8)
    p.add_argument("--sizes-models", default=SIZES)
    p.add_argument("--sizes-dtype", default="fp32")
    p.add_argument("--precision-model", default="llama-3.1-8b")
    p.add_argument("--precisions", default=PRECISIONS)
    p.add_argument("--static-dtypes", default="bf16,fp16,torchao-int8,torchao-int4,torchao-fp8,fp32,bnb-nf4,bnb-int8",
                   help="precisions of the static engine, in the order measured (the compile makes each ~1-2 min)")
    p.add_argument("--batch-model", default="llama-3.1-8b")
    p.add_argument("--batch-dtype", default="bf16")
    p.add_argument("--batches", default="1,4,16")
    p.add_argument("--output-tokens", type=int, default=32, help="reply tokens of sizes, precision and batch points")
    p.add_argument("--point-budget-s", type=float, default=30.0,
                   help="stability rounds per point (the CLI's 120 s default made thank-you take 115 s a point)")
    a = p.parse_args()
    wanted = [x.strip() for x in a.parts.split(",") if x.strip()]
    unknown = sorted(set(wanted) - set(PARTS))
    if unknown:
        p.error(f"--parts: unknown {', '.join(unknown)}; allowed: {', '.join(PARTS)}")
    cmds = commands(a)
    summary: dict[str, Any] = {"budget_s": a.budget_s, "db": a.db, "parts": {}}
    start = time.perf_counter()
    with (out_dir / "llm_studies.log").open("w") as log:
        for part in wanted:
            left = a.budget_s - (time.perf_counter() - start)
            if left < GRACE_S + 20:  # less than that gives a part no time to measure anything before its SIGINT
                summary["parts"][part] = {"skipped": "budget spent"}
                continue
            log.write(f"\n===== {part}: {' '.join(cmds[part])}\n")
            log.flush()
            rc, wall, doc = run_part(cmds[part], left - GRACE_S, log)
            summary["parts"][part] = {"exit_code": rc, "wall_s": wall, "command": cmds[part], "document": doc}
            if doc is None:  # cut short: the tables of its stored points (``--tables-only``, CPU, seconds)
                _, _, doc = run_part([*cmds[part], "--tables-only"], 120.0, log)
                summary["parts"][part].update(document=doc, tables_only=doc is not None)
            (out_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    print(f"{'part':18} {'rc':>4} {'wall s':>8} {'GPU s':>8}  points (done/skipped/failed)")
    for part, res in summary["parts"].items():
        if "skipped" in res:
            print(f"{part:18} skipped: {res['skipped']}")
            continue
        doc = res["document"] or {}
        pts = doc.get("points", {})
        gpu = (doc.get("gpu_time") or {}).get("measure_s", float("nan"))
        print(f"{part:18} {res['exit_code']:>4} {res['wall_s']:8.1f} {gpu:8.1f}  "
              f"{pts.get('done', '-')}/{pts.get('skipped', '-')}/{pts.get('failed', '-')}")
    for part, res in summary["parts"].items():
        if "document" in res:
            print(f"\n== {part}")
            print("\n".join(headline(res["document"])))
    print(f"\nwrote {out_dir}/summary.json, {out_dir}/llm_studies.log, {a.db}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
