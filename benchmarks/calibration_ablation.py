#!/usr/bin/env python3
"""Which parts of the LLM calibration model earn their place: refit the committed stores with each
combination of (attention costs for fp32 SDPA: fused vs math fallback) x (energy model: power per bound
class vs energy per unit of work) and print the held-out MAPE per phase. CPU only, from the stores
under docs/validation/calibration (repeated sweeps of one card are averaged, as `calibrate` does).

With ``--cost-models`` it instead refits the default model (math fallback, work energy) under each cost
model (v1: dense time, no tiles; v2: tiles, waves, causal attention, per-step host time) and prints the
held-out MAPE of each (the committed eager sweeps hold out aligned lengths only, so this shows what
v2 costs or gains on them, not on unaligned lengths).

Usage: python benchmarks/calibration_ablation.py [--cards h100 h200] [--cost-models] [--out FILE.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from joulebench.calibration.dataset import load_llm_points
from joulebench.calibration.llm_fit import fit_llm
from joulebench.calibration.validate import error_table, split
from joulebench.hardware import get_accelerator

CAL = Path(__file__).resolve().parent.parent / "docs" / "validation" / "calibration"
CATALOGUE = {"h100": "h100-sxm", "h200": "h200"}
VARIANTS = (("fused", "bound"), ("fused", "work"), ("math fallback", "bound"), ("math fallback", "work"))


def stores(card: str, dtype: str) -> list[str]:
    stem = f"{card}-transformers-eager-{dtype}"
    return [str(p) for p in (CAL / f"{stem}.db", CAL / f"{stem}-repeat.db") if p.is_file()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cards", nargs="*", default=["h100", "h200"])
    parser.add_argument("--out")
    parser.add_argument("--cost-models", action="store_true")
    args = parser.parse_args()
    if args.cost_models:
        return cost_models(args.cards, args.out)
    lines = ["| card | dtype | fp32 SDPA costs | energy model | held-out prefill latency / energy MAPE |"
             " held-out decode latency / energy MAPE |", "|---|---|---|---|---:|---:|"]
    for card in args.cards:
        acc = get_accelerator(CATALOGUE[card])
        for dtype in ("bfloat16", "float32"):
            train, held_out = split(load_llm_points(stores(card, dtype), dtype).merged())
            for attention, energy in VARIANTS:
                if dtype != "float32" and attention == "math fallback":
                    continue  # the fallback only changes fp32
                kw = {"sdpa_math_fallback": attention == "math fallback"}
                fit = fit_llm(train, acc, dtype, energy_model=energy, **kw)
                rows, _ = error_table(held_out, acc, fit.params, "held-out", **kw)
                by_phase = {r.phase: r for r in rows}
                cells = [f"{by_phase[p].latency_mape:.1%} / {by_phase[p].energy_mape:.1%}" for p in ("prefill", "decode")]
                lines.append(f"| {card} | {dtype} | {attention} | {energy} | {cells[0]} | {cells[1]} |")
                print(lines[-1], flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


def cost_models(cards: list[str], out: str | None) -> None:
    lines = ["| card | dtype | cost model | train latency / energy MAPE | held-out prefill latency / energy MAPE |"
             " held-out decode latency / energy MAPE |", "|---|---|---|---:|---:|---:|"]
    for card in cards:
        acc = get_accelerator(CATALOGUE[card])
        for dtype in ("bfloat16", "float32"):
            train, held_out = split(load_llm_points(stores(card, dtype), dtype).merged())
            for cost_model in ("v1", "v2"):
                fit = fit_llm(train, acc, dtype, cost_model=cost_model)
                rows, _ = error_table(held_out, acc, fit.params, "held-out")
                by_phase = {r.phase: r for r in rows}
                cells = [f"{by_phase[p].latency_mape:.1%} / {by_phase[p].energy_mape:.1%}" for p in ("prefill", "decode")]
                lines.append(f"| {card} | {dtype} | {cost_model} | {fit.train_latency_mape:.1%} / "
                             f"{fit.train_energy_mape:.1%} | {cells[0]} | {cells[1]} |")
                print(lines[-1], flush=True)
    if out:
        Path(out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
