#!/usr/bin/env python3
"""Unaligned prompt lengths, held out by construction: Llama-3.1-8B prefill on the H200 at s = 128, 512,
1200 and 4000 (issue 2's measurements, docs/VALIDATION.md, store issue2/issue2_h200.db) against the
committed v1 eager profile and a v2 refit of the same training sweep (tiles, waves, causal attention).
The calibration sweeps only ever saw 128..4096 in powers of two, so 1200 and 4000 test what v1 never
saw. CPU only, about a minute.

Usage: python benchmarks/unaligned_prefill.py [--out FILE.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from joulebench.analytic import llm_arch
from joulebench.analytic.params import ModelParams, params_from_mapping
from joulebench.analytic.precision import precision_for
from joulebench.analytic.predict import predict_llm_grid
from joulebench.calibration.dataset import load_llm_points
from joulebench.calibration.llm_fit import fit_llm
from joulebench.calibration.validate import split
from joulebench.hardware import get_accelerator
from joulebench.profiles import read_profile

ROOT = Path(__file__).resolve().parent.parent
CAL = ROOT / "docs" / "validation" / "calibration"
ISSUE2 = ROOT / "docs" / "validation" / "issue2" / "issue2_h200.db"


def measured_prefill() -> dict[tuple[str, int], tuple[float, float]]:
    """(dtype, s) -> (latency s, GPU J) of the batch-1 prefill-only points of issue 2's store."""
    from joulebench.store import Store

    out = {}
    with Store.open_read(str(ISSUE2)) as store:
        for p in store.points(kind="llm", status="ok"):
            c, doc = p.config, p.summary.get("prefill")
            if doc and int(c["output_tokens"]) == 1 and int(c["batch"]) == 1 and "gpu" in doc.get("energy_j", {}):
                out[(c["dtype"], int(c["prompt_tokens"]))] = (float(doc["latency_s"]), float(doc["energy_j"]["gpu"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out")
    args = parser.parse_args()
    acc, arch = get_accelerator("h200"), llm_arch("llama-3.1-8b")
    measured = measured_prefill()
    lines = ["| dtype | s | measured latency s / GPU J | v1 profile (committed) | v2 refit (same sweep) |",
             "|---|---:|---:|---:|---:|"]
    for dtype in ("bfloat16", "float32"):
        profile = read_profile(CAL / f"h200-transformers-eager-{dtype}.yaml")
        v1 = params_from_mapping(dict(profile.params), ModelParams(), None, acc)
        train, _ = split(load_llm_points([str(CAL / f"h200-transformers-eager-{dtype}.db")], dtype).merged())
        v2 = fit_llm(train, acc, dtype, cost_model="v2").params
        prec = precision_for(dtype)
        for (d, s), (t, e) in sorted(measured.items()):
            if d != dtype:
                continue
            cells = []
            for params in (v1, v2):
                out = predict_llm_grid(arch, acc, params, prec, s, 1, 1)
                pt, pe = float(out["prefill_latency_s"]), float(out["prefill_energy_j"])
                cells.append(f"{pt:.4f} ({pt / t - 1:+.1%}) / {pe:.1f} ({pe / e - 1:+.1%})")
            lines.append(f"| {dtype} | {s} | {t:.4f} / {e:.1f} | {cells[0]} | {cells[1]} |")
            print(lines[-1], flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
