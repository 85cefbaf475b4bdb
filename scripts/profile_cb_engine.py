#!/usr/bin/env python3
"""Profile transformers' continuous batching (the in-process engine) under a burst: where a step's time goes.

Issue 18 asks why the paged path serves ~2,000 prompt tokens/s where plain prefill runs ~30,000. The
knob sweep (docs/validation/serving/run_d/knobs) moved J/request by at most 13%, and with 8 requests in
flight a step still took 87 ms against ~30 ms for an eager batch-1 decode step. This script answers the
first question a profile can: is the GPU busy (then which kernels: attention over the packed rectangle,
the mask's fill, the KV gather) or idle between launches (then the scheduler's Python on the CPU)?

It runs the engine once unprofiled (compile, allocation), then once under ``torch.profiler`` with CUDA
activity (CUPTI sees the kernels of every thread, the manager's worker included), and writes
``$OUT/cb_profile.json``: wall time of the profiled run, the sum of kernel time over it (``gpu_busy_share``
= kernel time / wall; kernels of one stream do not overlap) and the top kernels by time. (The CPU side is
the manager's worker thread, which the profiler's CPU activity does not follow; the busy share says how
much of the wall it takes.) Run on the GPU box:

    WHEELS=.whl-serving source scripts/device_env.sh && python3 scripts/profile_cb_engine.py
    python3 scripts/profile_cb_engine.py --model tiny-llama --device cpu --requests 4   # CPU smoke
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from joulebench.serving.arrivals import parse_arrival, schedule  # noqa: E402
from joulebench.serving.prompts import parse_lengths, parse_prompts  # noqa: E402
from joulebench.workloads.cb_engine import ContinuousBatchingEngine  # noqa: E402
from joulebench.workloads.engine import EngineConfig, parse_knobs, vocab_size  # noqa: E402


def top(rows: list, key: str, n: int) -> list[dict]:
    ranked = sorted(rows, key=lambda e: getattr(e, key), reverse=True)[:n]
    return [{"name": e.key[:120], "calls": e.count, "total_ms": getattr(e, key) / 1e3} for e in ranked]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="llama-3.1-8b")
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", default="bf16")
    p.add_argument("--requests", type=int, default=16)
    p.add_argument("--prompts", default="synthetic:200-4000,mean=1200")
    p.add_argument("--outputs", default="32")
    p.add_argument("--preset", default="library")
    p.add_argument("--knob", nargs="*", default=[])
    p.add_argument("--max-duration-s", type=float, default=60.0)
    a = p.parse_args()
    import torch
    from torch.profiler import ProfilerActivity, profile

    config = EngineConfig(a.model, "transformers", a.dtype, a.device, parse_knobs(a.knob), a.preset).validate()
    began = time.perf_counter()
    engine = ContinuousBatchingEngine(config)
    loaded_s = time.perf_counter() - began
    law = parse_arrival("burst")
    specs = parse_prompts(a.prompts).build(a.requests, parse_lengths(a.outputs, "o"), 0,
                                           vocab_size=vocab_size(engine.model))
    engine.run(specs[:4], schedule(law, 4), a.max_duration_s)  # compile, allocate, warm the kernels
    cuda = a.device.startswith("cuda")
    activities = [ProfilerActivity.CUDA] if cuda else [ProfilerActivity.CPU]
    with profile(activities=activities) as prof:
        t0 = time.perf_counter()
        result = engine.run(specs, schedule(law, a.requests), a.max_duration_s)
        if cuda:
            torch.cuda.synchronize()
        wall_s = time.perf_counter() - t0
    events = prof.key_averages()
    kernels = [e for e in events if str(getattr(e, "device_type", "")).endswith("CUDA")] if cuda else []
    kernel_s = sum(e.self_device_time_total for e in kernels) / 1e6
    served = [r for r in result.records if r.ok]
    doc = {
        "model": a.model, "dtype": a.dtype, "device": a.device, "preset": a.preset, "knobs": engine.knobs(),
        "requests": a.requests, "served": len(served), "prompt_tokens": sum(r.prompt_tokens or 0 for r in served),
        "output_tokens": sum(r.output_tokens or 0 for r in served), "load_s": loaded_s, "wall_s": wall_s,
        "kernel_s": kernel_s, "gpu_busy_share": kernel_s / wall_s if cuda else None,
        "top_kernels": top(kernels, "self_device_time_total", 20),
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "libraries": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
    }
    out = Path(os.environ.get("OUT", "out"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "cb_profile.json").write_text(json.dumps(doc, indent=2))
    print(f"{doc['served']}/{a.requests} served, {doc['prompt_tokens']} prompt + {doc['output_tokens']} output tokens "
          f"in {wall_s:.2f} s; kernels {kernel_s:.2f} s"
          + (f" = {doc['gpu_busy_share']:.0%} of the wall" if cuda else ""))
    for row in doc["top_kernels"][:12]:
        print(f"  {row['total_ms']:9.1f} ms  {row['calls']:7d}x  {row['name']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
