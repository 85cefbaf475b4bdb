#!/usr/bin/env python3
"""Is run-to-run drift of the calibration sweeps explained by GPU clocks or by the host's launch cost?

Reads the two H100 sweeps of each dtype under docs/validation/calibration and prints, per phase, the
range of the SM clock read at the end of each window (`sm_clock_mhz`) and the correlation between the
log latency ratio of the two sweeps and the log ratio of their host launch probes (`host_launch_us`).
Launch-bound prefill only (< 100 ms), since longer prefill is GPU-bound. CPU only.

Usage: python benchmarks/calibration_drift.py [--out FILE.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from joulebench.store import Store

CAL = Path(__file__).resolve().parent.parent / "docs" / "validation" / "calibration"


def load(path: Path) -> dict[tuple, tuple[float, float, float | None]]:
    out = {}
    with Store.open_read(str(path)) as store:
        for p in store.points(kind="llm", status="ok"):
            c, s = p.config, p.summary
            phase = c["phases"][0]
            key = (c["model"], phase, c["prompt_tokens"], c["output_tokens"], c["batch"])
            out[key] = (s[phase]["latency_s"], s.get("host_launch_us"), s[phase].get("sm_clock_mhz"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out")
    args = parser.parse_args()
    lines = ["| card | dtype | phase | points | SM clock MHz (min..max, both sweeps) | corr(log latency ratio,"
             " log launch-probe ratio) |", "|---|---|---|---:|---|---:|"]
    for dtype in ("bfloat16", "float32"):
        a = load(CAL / f"h100-transformers-eager-{dtype}.db")
        b = load(CAL / f"h100-transformers-eager-{dtype}-repeat.db")
        for phase in ("prefill", "decode"):
            keys = [k for k in a if k[1] == phase and k in b and (phase == "decode" or a[k][0] < 0.1)]
            lat = np.log([a[k][0] / b[k][0] for k in keys])
            probe = np.log([a[k][1] / b[k][1] for k in keys])
            clocks = [v[2] for k in keys for v in (a[k], b[k]) if v[2] is not None]
            corr = float(np.corrcoef(lat, probe)[0, 1])
            lines.append(f"| h100 | {dtype} | {phase}{' < 100 ms' if phase == 'prefill' else ''} | {len(keys)} | "
                         f"{min(clocks):.0f}..{max(clocks):.0f} | {corr:+.2f} |")
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
