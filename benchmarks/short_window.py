#!/usr/bin/env python3
"""Short-window accuracy on a GPU: energy per call of a ~40 ms and a ~5 ms workload.

For each workload: a >= 20 s reference window (back-to-back calls, energy between the first and last
NVML counter update inside, divided by the calls those updates enclose), then repeated trials of the
protocol on counter edges (`meters.window.Protocol(window_method="counter")`; the power-trace method is
measured by scripts/measure_meter_fidelity.py), of a plain ~1 s start/stop counter window, and of a
naive single call read with start/stop counter values. Prints the per-call energy and error of each
against the reference, and the measuring time per point. Writes a JSON summary and one recorded
counter stream per workload (for the CPU tests) to --out.

Usage: python benchmarks/short_window.py --out DIR [--trials 10] [--reference-s 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from record_nvml_samples import matmul_chain  # noqa: E402 - the one definition of this workload

from joulebench.meters.monitor import EnergyMonitor, MonitorConfig
from joulebench.meters.trace import aligned_energy_per_rep
from joulebench.meters.window import Protocol, run_repeated


def make_workload(target_s: float) -> tuple[Any, float]:
    """A chain of bf16 matmuls sized to last about ``target_s``; returns (fn, measured seconds)."""
    fn, _ = matmul_chain(target_s)
    t0 = time.perf_counter()
    fn()
    return fn, time.perf_counter() - t0


def repeated_spans(fn: Any, duration_s: float) -> np.ndarray:
    spans = []
    end = time.perf_counter() + duration_s
    while time.perf_counter() < end:
        b = time.perf_counter()
        fn()
        spans.append((b, time.perf_counter()))
    return np.asarray(spans)


def gpu_trace(monitor: EnergyMonitor) -> Any:
    monitor.refresh()  # pull the rows the NVML child process wrote
    return next(t for m, t in zip(monitor.meters, monitor.traces, strict=True) if m.component == "gpu")


def reference(monitor: EnergyMonitor, fn: Any, duration_s: float) -> float:
    spans = repeated_spans(fn, duration_s)
    return aligned_energy_per_rep(gpu_trace(monitor), spans).energy_per_rep_j


def naive_single(monitor: EnergyMonitor, fn: Any) -> float:
    e0 = monitor.read_now_j()["gpu"]
    fn()
    return monitor.read_now_j()["gpu"] - e0


def plain_window(monitor: EnergyMonitor, fn: Any, duration_s: float = 1.0) -> float:
    e0 = monitor.read_now_j()["gpu"]
    spans = repeated_spans(fn, duration_s)
    return (monitor.read_now_j()["gpu"] - e0) / len(spans)


def summarise(values: list[float], ref: float) -> dict[str, float]:
    errors = [abs(v / ref - 1.0) for v in values]
    return {"mean_j": statistics.fmean(values), "mean_abs_error": statistics.fmean(errors), "max_abs_error": max(errors),
            "n": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--workloads", default="40ms,5ms")
    parser.add_argument("--reference-s", type=float, default=20.0)
    parser.add_argument("--sample-period-ms", type=float, default=5.0, help="GPU counter polling period")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    protocol = Protocol(window_method="counter")  # this benchmark is about counter edges (trace: measure_meter_fidelity)
    doc: dict[str, Any] = {"protocol": protocol.to_dict(), "gpu": torch.cuda.get_device_name(0), "workloads": {}}
    config = MonitorConfig(gpus=[0], require_gpu=True, cpu=False, ram=False, counter_period_s=args.sample_period_ms / 1e3)
    with EnergyMonitor.open(config) as monitor:
        doc["gpu_state"] = [s.to_dict() for s in monitor.gpu_states]
        for label, target in [(w, {"40ms": 0.040, "5ms": 0.005}[w]) for w in args.workloads.split(",")]:
            fn, call_s = make_workload(target)
            repeated_spans(fn, 3.0)  # reach a steady power and clock state
            ref_before = reference(monitor, fn, args.reference_s)
            trials, trial_wall = [], []
            for _ in range(args.trials):
                t0 = time.perf_counter()
                result = run_repeated(monitor, fn, protocol)
                trial_wall.append(time.perf_counter() - t0)
                trials.append(result.readings["gpu"].energy_j)
            recorded_spans = result.spans
            plain = [plain_window(monitor, fn) for _ in range(args.trials)]
            naive = []
            for _ in range(args.trials):
                naive.append(naive_single(monitor, fn))
                time.sleep(0.05)
            repeated_spans(fn, 1.0)
            ref_after = reference(monitor, fn, args.reference_s)
            ref = 0.5 * (ref_before + ref_after)
            t, e = gpu_trace(monitor).arrays()
            keep = (t >= recorded_spans[0, 0] - 0.3) & (t <= recorded_spans[-1, 1] + 0.3)
            stream = {"gpu": doc["gpu"], "workload": label, "call_s": call_s, "reference_j_per_call": ref,
                      "sample_period_s": monitor.gpu_sample_period_s, "t_s": t[keep].tolist(),
                      "energy_j": e[keep].tolist(), "spans": recorded_spans.tolist(),
                      "protocol_estimate_j": trials[-1]}
            (out / f"nvml_stream_{label}.json").write_text(json.dumps(stream))
            doc["workloads"][label] = {
                "call_s": call_s, "reference_j_per_call": ref, "reference_before_j": ref_before,
                "reference_after_j": ref_after, "reference_window_s": args.reference_s,
                "protocol": summarise(trials, ref), "protocol_wall_s_per_point": statistics.fmean(trial_wall),
                "plain_1s_window": summarise(plain, ref), "naive_single_call": summarise([max(v, 1e-9) for v in naive], ref),
                "naive_single_call_j": naive,
            }
            w = doc["workloads"][label]
            print(f"{label}: call {call_s * 1e3:.1f} ms, reference {ref:.4f} J/call "
                  f"(before {ref_before:.4f}, after {ref_after:.4f})")
            proto = w["protocol"]
            print(f"  protocol: mean |err| {proto['mean_abs_error'] * 100:.2f}%  max {proto['max_abs_error'] * 100:.2f}%"
                  f"  measuring {w['protocol_wall_s_per_point']:.2f} s/point")
            print(f"  plain 1 s window: mean |err| {w['plain_1s_window']['mean_abs_error'] * 100:.2f}%  max "
                  f"{w['plain_1s_window']['max_abs_error'] * 100:.2f}%")
            print(f"  naive single call: values {[round(v, 3) for v in naive]} J (reference {ref:.3f})")
    (out / "short_window.json").write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
