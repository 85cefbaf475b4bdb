#!/usr/bin/env python3
"""Profile transformers' continuous batching (the in-process engine) under a burst: where a step's time goes.

Issue 18 asks why the paged path serves ~2,000 prompt tokens/s where plain prefill runs ~30,000. The
knob sweep (docs/validation/serving/run_d/knobs) moved J/request by at most 13%, and with 8 requests in
flight a step still took 87 ms against ~30 ms for an eager batch-1 decode step. This script answers the
first question a profile can: is the GPU busy (then which kernels: attention over the packed rectangle,
the mask's fill, the KV gather) or idle between launches (then the scheduler's Python on the CPU)?

The first profile (run_e, 2026-12-03) answered: idle. 16 requests under burst kept the GPU busy 33% of the
wall with the library's knobs and 50% with ``tuned``; the largest kernel was cuDNN's SDPA. cuDNN builds
an attention graph for every new (query, key) shape, hundreds of ms for a new one by public accounts,
and a packed batch meets a new shape nearly every step; `transformers serve` arms measured later in the
same server ran up to 1.9x cheaper than the first one. So each variant here runs the same requests
twice unprofiled (``first_wall_s`` meets new shapes, ``repeat_wall_s`` the shapes the first one built),
then once under ``torch.profiler`` with CUDA activity (CUPTI sees the kernels of every thread, the
manager's worker included): the sum of kernel time (``gpu_busy_share`` = kernel time / wall; kernels of
one stream do not overlap) and the top kernels. A variant is ``PRESET[:KNOB=V,...]``, e.g.
``tuned:sdpa_cudnn=off``. Every variant serves the same requests (seed 0), so variants compare on one
workload; list the ``sdpa_cudnn=off`` ones first, and a cuDNN variant's first run then meets only shapes no
earlier variant built (``tuned`` pads its shapes, ``library`` does not). The model is loaded once, and 4
other requests (seed 1000, cuDNN SDPA off) warm the process first (CUDA context, cuBLAS, allocator), so a
first run's extra time is what its shapes cost. Writes ``$OUT/cb_profile.json``. Run on the GPU box:

    WHEELS=.whl-serving source scripts/device_env.sh && python3 scripts/profile_cb_engine.py \
        --variants library:sdpa_cudnn=off tuned:sdpa_cudnn=off library tuned
    python3 scripts/profile_cb_engine.py --model tiny-llama --device cpu --requests 4 --variants library  # CPU
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from joulebench.errors import UsageError  # noqa: E402
from joulebench.serving.arrivals import parse_arrival, schedule  # noqa: E402
from joulebench.serving.prompts import parse_lengths, parse_prompts  # noqa: E402
from joulebench.workloads.cb_engine import ContinuousBatchingEngine  # noqa: E402
from joulebench.workloads.engine import EngineConfig, load_for_engine, parse_knobs, vocab_size  # noqa: E402


def top(rows: list, key: str, n: int) -> list[dict]:
    ranked = sorted(rows, key=lambda e: getattr(e, key), reverse=True)[:n]
    return [{"name": e.key[:120], "calls": e.count, "total_ms": getattr(e, key) / 1e3} for e in ranked]


def parse_variant(text: str) -> tuple[str, dict]:
    preset, _, knobs = text.partition(":")
    return preset, parse_knobs([k for k in knobs.split(",") if k])


def warm_process(a: argparse.Namespace, loaded: object) -> None:
    config = EngineConfig(a.model, "transformers", a.dtype, a.device, {"sdpa_cudnn": False}).validate()
    engine = ContinuousBatchingEngine(config, loaded)
    specs = parse_prompts(a.prompts).build(4, parse_lengths(a.outputs, "o"), 1000, vocab_size=vocab_size(engine.model))
    engine.run(specs, schedule(parse_arrival("burst"), 4), a.max_duration_s)


def profile_variant(a: argparse.Namespace, loaded: object, text: str, seed: int = 0) -> dict:
    import torch
    from torch.profiler import ProfilerActivity, profile

    preset, knobs = parse_variant(text)
    config = EngineConfig(a.model, "transformers", a.dtype, a.device, knobs, preset).validate()
    engine = ContinuousBatchingEngine(config, loaded)
    law = parse_arrival("burst")
    specs = parse_prompts(a.prompts).build(a.requests, parse_lengths(a.outputs, "o"), seed,
                                           vocab_size=vocab_size(engine.model))
    cuda = a.device.startswith("cuda")

    def timed() -> tuple[float, object]:
        t0 = time.perf_counter()
        result = engine.run(specs, schedule(law, a.requests), a.max_duration_s)
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - t0, result

    first_s, _ = timed()
    repeat_s, _ = timed()
    with profile(activities=[ProfilerActivity.CUDA] if cuda else [ProfilerActivity.CPU]) as prof:
        wall_s, result = timed()
    events = prof.key_averages()
    kernels = [e for e in events if str(getattr(e, "device_type", "")).endswith("CUDA")] if cuda else []
    kernel_s = sum(e.self_device_time_total for e in kernels) / 1e6
    served = [r for r in result.records if r.ok]
    return {
        "variant": text, "preset": preset, "knobs": engine.knobs(), "seed": seed, "requests": a.requests,
        "served": len(served), "prompt_tokens": sum(r.prompt_tokens or 0 for r in served),
        "output_tokens": sum(r.output_tokens or 0 for r in served), "first_wall_s": first_s,
        "repeat_wall_s": repeat_s, "wall_s": wall_s, "kernel_s": kernel_s,
        "gpu_busy_share": kernel_s / wall_s if cuda else None, "top_kernels": top(kernels, "self_device_time_total", 20),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="llama-3.1-8b")
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", default="bf16")
    p.add_argument("--requests", type=int, default=16)
    p.add_argument("--prompts", default="synthetic:200-4000,mean=1200")
    p.add_argument("--outputs", default="32")
    p.add_argument("--variants", nargs="+", default=["library", "tuned"], help="PRESET[:KNOB=V,...] each")
    p.add_argument("--max-duration-s", type=float, default=60.0)
    a = p.parse_args()
    import torch

    try:  # every variant checked before the model loads
        for text in a.variants:
            preset, knobs = parse_variant(text)
            EngineConfig(a.model, "transformers", a.dtype, a.device, knobs, preset).validate()
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    began = time.perf_counter()
    loaded = load_for_engine(EngineConfig(a.model, "transformers", a.dtype, a.device))
    doc = {"model": a.model, "dtype": a.dtype, "device": a.device, "load_s": time.perf_counter() - began,
           "gpu": torch.cuda.get_device_name(0) if a.device.startswith("cuda") else None,
           "libraries": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
           "variants": []}
    out = Path(os.environ.get("OUT", "out"))
    out.mkdir(parents=True, exist_ok=True)
    warm_process(a, loaded)
    for text in a.variants:
        row = profile_variant(a, loaded, text)
        doc["variants"].append(row)
        (out / "cb_profile.json").write_text(json.dumps(doc, indent=2))  # each finished variant kept
        busy = f" = {row['gpu_busy_share']:.0%} of the wall" if row["gpu_busy_share"] is not None else ""
        print(f"{text}: {row['served']}/{a.requests} served, {row['prompt_tokens']} prompt + {row['output_tokens']} "
              f"output tokens; first {row['first_wall_s']:.2f} s, repeat {row['repeat_wall_s']:.2f} s, profiled "
              f"{row['wall_s']:.2f} s, kernels {row['kernel_s']:.2f} s{busy}", flush=True)
        for k in row["top_kernels"][:6]:
            print(f"  {k['total_ms']:9.1f} ms  {k['calls']:7d}x  {k['name']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
