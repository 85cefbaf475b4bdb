#!/usr/bin/env python3
"""Meter overhead: latency of an eager transformers decode loop with and without the meters running.

Batch-1 eager decode is bound by the host launching kernels, so it is the workload most sensitive to
anything else on the host (a sampler thread competing for the interpreter, NVML queries competing in
the driver). The arms run in rotating order, round after round, so that the host's slow drift cancels:
no meters; meters with NVML polled from a thread; the default monitor (a child process reading the
power-sample buffer and the counter every 0.5 s); a child process polling the counter every
``--periods-ms``. Before every run the host's eager launch cost is probed
(`workloads.device.launch_probe_us`), so host drift can be told apart from meter cost. Prints the
median per-token latency of each arm, the median paired difference against "none" with a bootstrap
95% interval, and the CPU share of the sampler thread.

Usage: python benchmarks/meter_overhead.py [--model qwen2.5-0.5b] [--tokens 64] [--rounds 12] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from joulebench.meters.monitor import EnergyMonitor, MonitorConfig
from joulebench.workloads.device import launch_probe_us
from joulebench.workloads.llm import LLMPhases, load_model, synthetic_inputs


def bootstrap_ci(values: list[float], seed: int = 0, n: int = 2000) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    arr = np.asarray(values)
    medians = np.median(rng.choice(arr, size=(n, arr.size), replace=True), axis=1)
    return float(np.percentile(medians, 2.5)), float(np.percentile(medians, 97.5))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="qwen2.5-0.5b")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--arms", default="thread", help="'thread' adds the thread-polling arm; '' drops it")
    parser.add_argument("--periods-ms", type=int, nargs="*", default=[5],
                        help="GPU counter polling periods (child process, besides the default arm)")
    parser.add_argument("--out")
    args = parser.parse_args()
    loaded = load_model(args.model, args.dtype, args.device)
    phases = LLMPhases(loaded, synthetic_inputs(loaded, args.prompt_tokens, 1, 0.0, 0), args.tokens, natural_stop=False)
    phases.prefill()

    def one_run() -> float:
        phases.prepare_decode()
        t0 = time.perf_counter()
        phases.decode()
        return (time.perf_counter() - t0) / (args.tokens - 1)

    for _ in range(3):
        one_run()
    gpus = [0] if args.device == "cuda" else []
    arms: dict[str, MonitorConfig | None] = {"none": None}
    if "thread" in args.arms:
        arms["thread"] = MonitorConfig(gpus=gpus, require_gpu=bool(gpus), gpu_process=False)
    if gpus:  # the default: power-sample buffer every 0.5 s, counter every 0.5 s
        arms["default"] = MonitorConfig(gpus=gpus, require_gpu=True)
    for period_ms in args.periods_ms if gpus else []:
        arms[f"process-{period_ms}ms"] = MonitorConfig(gpus=gpus, require_gpu=True, gpu_process=True,
                                                       counter_period_s=period_ms / 1000.0)
    names = list(arms)
    per_token: dict[str, list[float]] = {name: [] for name in names}
    probe_us: dict[str, list[float | None]] = {name: [] for name in names}
    sampler_share: dict[str, list[float]] = {name: [] for name in names if arms[name] is not None}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            config = arms[name]
            probe_us[name].append(launch_probe_us(args.device))
            if config is None:
                per_token[name].append(one_run())
                continue
            monitor = EnergyMonitor.open(config)
            with monitor:
                time.sleep(0.05)
                per_token[name].append(one_run())
            if monitor.sampler_wall_s:
                sampler_share[name].append(monitor.sampler_cpu_s / monitor.sampler_wall_s)
    doc: dict[str, Any] = {"model": args.model, "dtype": args.dtype, "device": args.device, "tokens": args.tokens,
                           "rounds": args.rounds, "per_token_s": per_token, "launch_probe_us": probe_us, "arms": {}}
    base = per_token["none"]
    for name in names:
        entry: dict[str, Any] = {"median_per_token_s": statistics.median(per_token[name])}
        if name != "none":
            diffs = [b / a - 1.0 for a, b in zip(base, per_token[name], strict=True)]
            entry["paired_overhead_median"] = statistics.median(diffs)
            entry["paired_overhead_ci95"] = bootstrap_ci(diffs)
            entry["sampler_thread_cpu_share"] = statistics.fmean(sampler_share[name]) if sampler_share[name] else None
        probes = [p for p in probe_us[name] if p is not None]
        if len(probes) > 2:  # does the host's launch cost explain the run-to-run spread?
            entry["corr_per_token_vs_probe"] = float(np.corrcoef(probes, per_token[name][: len(probes)])[0, 1])
        doc["arms"][name] = entry
    try:
        import torch

        doc["gpu"] = torch.cuda.get_device_name(0) if args.device == "cuda" else None
    except Exception:  # noqa: BLE001
        pass
    for name, entry in doc["arms"].items():
        line = f"{name:14s} {entry['median_per_token_s'] * 1e3:.3f} ms/token"
        if name != "none":
            lo, hi = entry["paired_overhead_ci95"]
            line += (f"  overhead {entry['paired_overhead_median'] * 100:+.2f}% (95% CI {lo * 100:+.2f}%..{hi * 100:+.2f}%)"
                     f"  sampler thread {100 * (entry['sampler_thread_cpu_share'] or 0):.1f}% of a core")
        if "corr_per_token_vs_probe" in entry:
            line += f"  corr(latency, launch probe) {entry['corr_per_token_vs_probe']:+.2f}"
        print(line)
    if args.out:
        Path(args.out).write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
