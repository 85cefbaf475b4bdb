#!/usr/bin/env python3
"""Meter overhead: latency of an eager transformers decode loop with and without the meters running.

Batch-1 eager decode is bound by the CPU launching kernels, so it is the workload most sensitive to a
sampler thread competing for the interpreter. Alternates runs with the monitor off and on (A/B/A/B..)
to cancel drift, and prints the median per-token latency of each and the overhead in percent.

Usage: python benchmarks/meter_overhead.py [--model qwen2.5-0.5b] [--tokens 128] [--pairs 8] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from joulebench.meters.monitor import EnergyMonitor, MonitorConfig
from joulebench.workloads.llm import LLMPhases, load_model, synthetic_inputs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="qwen2.5-0.5b")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--out")
    args = parser.parse_args()
    loaded = load_model(args.model, args.dtype, args.device)
    inputs = synthetic_inputs(loaded, args.prompt_tokens, 1, 0.0, 0)
    phases = LLMPhases(loaded, inputs, args.tokens, natural_stop=False)
    phases.prefill()

    def one_run() -> float:
        phases.prepare_decode()
        t0 = time.perf_counter()
        phases.decode()
        return (time.perf_counter() - t0) / (args.tokens - 1)

    for _ in range(3):
        one_run()
    off, on = [], []
    gpus = [0] if args.device == "cuda" else []
    sampler_cpu_s = sampler_wall_s = 0.0
    for i in range(args.pairs):
        # alternate the order inside each pair so that slow drift of the host cancels
        for meters_on in ((False, True) if i % 2 == 0 else (True, False)):
            if not meters_on:
                off.append(one_run())
                continue
            monitor = EnergyMonitor.open(MonitorConfig(gpus=gpus, require_gpu=bool(gpus)))
            with monitor:
                time.sleep(0.05)
                on.append(one_run())
            sampler_cpu_s += monitor.sampler_cpu_s
            sampler_wall_s += monitor.sampler_wall_s
    med_off, med_on = statistics.median(off), statistics.median(on)
    overhead = med_on / med_off - 1.0
    diffs = sorted(b / a - 1.0 for a, b in zip(off, on, strict=True))
    sampler_share = sampler_cpu_s / sampler_wall_s if sampler_wall_s else float("nan")
    doc = {"model": args.model, "dtype": args.dtype, "device": args.device, "tokens": args.tokens,
           "pairs": args.pairs, "per_token_s_off": off, "per_token_s_on": on, "median_off_s": med_off,
           "median_on_s": med_on, "overhead": overhead, "paired_overhead_median": statistics.median(diffs),
           "sampler_cpu_share_of_one_core": sampler_share}
    try:
        import torch

        doc["gpu"] = torch.cuda.get_device_name(0) if args.device == "cuda" else None
    except Exception:  # noqa: BLE001
        pass
    print(f"{args.model} {args.dtype} decode: {med_off * 1e3:.3f} ms/token without meters, "
          f"{med_on * 1e3:.3f} ms/token with meters: overhead {overhead * 100:+.2f}% (median of paired "
          f"differences {statistics.median(diffs) * 100:+.2f}%); sampler thread used {sampler_share * 100:.2f}% of one core")
    if args.out:
        Path(args.out).write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
