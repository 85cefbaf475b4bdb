#!/usr/bin/env python3
"""Record raw NVML power-sample buffers and energy-counter polls side by side, for the CPU replay tests.

CI has no GPU, so the meter tests replay real readings. This script records, on one GPU, four short
scenarios and writes one JSON file each under $OUT (default ./out), about 0.1-0.4 MB each:

- ``nvml_samples_idle.json``: the card left alone (run this first on a fresh machine: a cold idle),
  then a *gap probe*: the buffer is not read for ``--gap-probe-s`` (longer than the ~2.5 s buffer), so the
  next read shows a real gap;
- ``nvml_samples_steady.json``: back-to-back ~40 ms bf16 matmul chains after ~1 s of idle (a power step
  at a stamped time, for the sensor's lag);
- ``nvml_samples_short.json``: back-to-back ~5 ms chains;
- ``nvml_samples_bursty.json``: random on/off bursts (5-200 ms of work, 5-200 ms of nothing, seeded).

A poller thread (NVML calls release the interpreter lock) reads, all stamped with ``time.perf_counter()``:
the energy counter every ``--counter-ms`` (5 ms: edges placed to 2.5 ms), ``nvmlDeviceGetPowerUsage``
every 100 ms, and the sample buffer every ``--samples-ms`` (500 ms) with ``last_seen`` = the newest
timestamp seen so far. For each buffer read it keeps the clocks read just before and after the call, so
that the NVML timestamp clock can be identified and mapped offline.

Format ``joulebench-nvml-recording/1`` (one JSON object per file):
  format, scenario, gpu {name, uuid, driver, power_limit_w}, created_unix_s,
  sample_value_type (NVML_VALUE_TYPE_* of the power samples), sample_unit ("mW"),
  clocks: {"perf_s", "realtime_us", "monotonic_us", "boottime_us"} read together at the start,
  polls: list of buffer reads {perf_before_s, perf_after_s, realtime_us, monotonic_us, boottime_us,
         last_seen_us, ts_us: [...], value: [...], error: null | "NVML error text"},
  counter: {t_s: [...], energy_mj: [...]}    (nvmlDeviceGetTotalEnergyConsumption, raw mJ),
  power_usage: {t_s: [...], power_mw: [...]} (nvmlDeviceGetPowerUsage),
  load_spans: [[begin_s, end_s], ...]        (perf_counter spans of synchronised GPU work),
  step_s: perf time the first work was launched (steady only), costs: CPU seconds per NVML call.
Usage: python3 scripts/record_nvml_samples.py [--seconds 8] ; takes about 45 s plus CUDA start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import pynvml
import torch

FORMAT = "joulebench-nvml-recording/1"


def clocks_us() -> dict[str, int]:
    return {
        "realtime_us": time.time_ns() // 1000,
        "monotonic_us": time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000,
        "boottime_us": time.clock_gettime_ns(time.CLOCK_BOOTTIME) // 1000,
    }


def sample_value(sample: Any, value_type: int) -> float:
    field = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}[value_type]
    return float(getattr(sample.sampleValue, field))


class Poller:
    """Counter, power usage and sample buffer, read on a thread at their own periods."""

    def __init__(self, handle: Any, counter_s: float, samples_s: float) -> None:
        self.handle = handle
        self.counter_s = counter_s
        self.samples_s = samples_s
        self.last_seen_us = 0
        self.value_type: int | None = None
        self.lock = threading.Lock()  # reset/save on the main thread vs appends on the poller thread
        self.reset()
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._thread: threading.Thread | None = None

    def reset(self) -> None:
        self.counter: dict[str, list[float]] = {"t_s": [], "energy_mj": []}
        self.power: dict[str, list[float]] = {"t_s": [], "power_mw": []}
        self.polls: list[dict[str, Any]] = []

    def read_buffer(self) -> None:
        before = time.perf_counter()
        clocks = clocks_us()
        entry: dict[str, Any] = {"perf_before_s": before, **clocks, "last_seen_us": self.last_seen_us,
                                 "ts_us": [], "value": [], "error": None}
        try:
            value_type, samples = pynvml.nvmlDeviceGetSamples(self.handle, pynvml.NVML_TOTAL_POWER_SAMPLES,
                                                              self.last_seen_us)
            self.value_type = int(value_type)
            entry["ts_us"] = [int(s.timeStamp) for s in samples]
            entry["value"] = [sample_value(s, self.value_type) for s in samples]
            if entry["ts_us"]:
                self.last_seen_us = max(self.last_seen_us, max(entry["ts_us"]))
        except pynvml.NVMLError as exc:  # NOT_FOUND when nothing is newer than last_seen
            entry["error"] = str(exc)
        entry["perf_after_s"] = time.perf_counter()
        self.polls.append(entry)

    def _loop(self) -> None:
        next_power = next_buffer = 0.0
        while not self._stop.is_set():
            now = time.perf_counter()
            if self._paused.is_set():
                self._stop.wait(0.01)
                continue
            with self.lock:
                energy_mj = float(pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))
                self.counter["t_s"].append(now)
                self.counter["energy_mj"].append(energy_mj)
                if now >= next_power:
                    power_mw = float(pynvml.nvmlDeviceGetPowerUsage(self.handle))
                    self.power["t_s"].append(now)
                    self.power["power_mw"].append(power_mw)
                    next_power = now + 0.1
                if now >= next_buffer:
                    self.read_buffer()
                    next_buffer = now + self.samples_s
            self._stop.wait(max(0.0, self.counter_s - (time.perf_counter() - now)))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def pause(self, paused: bool) -> None:
        (self._paused.set if paused else self._paused.clear)()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def matmul_chain(target_s: float) -> Any:
    n = 4096
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)

    def run(k: int) -> None:
        for _ in range(k):
            torch.matmul(a, b)
        torch.cuda.synchronize()

    run(20)
    t0 = time.perf_counter()
    run(50)
    per_mm = (time.perf_counter() - t0) / 50
    k = max(1, round(target_s / per_mm))
    return lambda: run(k), per_mm


def call_costs(handle: Any, since_us: int, n: int = 30) -> dict[str, float]:
    """CPU seconds per call (thread time) of each NVML query the meters use."""
    calls = {
        "total_energy": lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(handle),
        "power_usage": lambda: pynvml.nvmlDeviceGetPowerUsage(handle),
        "get_samples_recent": lambda: pynvml.nvmlDeviceGetSamples(handle, pynvml.NVML_TOTAL_POWER_SAMPLES, since_us),
    }
    out: dict[str, float] = {}
    for name, fn in calls.items():
        c0, w0 = time.thread_time(), time.perf_counter()
        for _ in range(n):
            try:
                fn()
            except pynvml.NVMLError:
                pass
        out[f"{name}_cpu_s"] = (time.thread_time() - c0) / n
        out[f"{name}_wall_s"] = (time.perf_counter() - w0) / n
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each loaded scenario")
    parser.add_argument("--idle-s", type=float, default=6.0)
    parser.add_argument("--gap-probe-s", type=float, default=4.0)
    parser.add_argument("--counter-ms", type=float, default=5.0)
    parser.add_argument("--samples-ms", type=float, default=500.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(os.environ.get("OUT", "out"))
    out.mkdir(parents=True, exist_ok=True)

    pynvml.nvmlInit()
    torch.cuda.init()
    uuid = "GPU-" + str(torch.cuda.get_device_properties(0).uuid)
    handle = pynvml.nvmlDeviceGetHandleByUUID(uuid)
    gpu = {"name": str(pynvml.nvmlDeviceGetName(handle)), "uuid": uuid,
           "driver": str(pynvml.nvmlSystemGetDriverVersion()),
           "power_limit_w": pynvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0}
    poller = Poller(handle, args.counter_ms / 1e3, args.samples_ms / 1e3)
    poller.read_buffer()  # the whole buffer as it is now: its depth and the sample interval
    first_read = poller.polls[0]
    costs = call_costs(handle, max(first_read["ts_us"], default=0))
    poller.reset()
    poller.start()

    def save(scenario: str, extra: dict[str, Any]) -> None:
        with poller.lock:
            save_locked(scenario, extra)

    def save_locked(scenario: str, extra: dict[str, Any]) -> None:
        doc = {"format": FORMAT, "scenario": scenario, "gpu": gpu, "created_unix_s": time.time(),
               "sample_value_type": poller.value_type, "sample_unit": "mW",
               "clocks": {"perf_s": time.perf_counter(), **clocks_us()},
               "polls": poller.polls, "counter": poller.counter, "power_usage": poller.power, "costs": costs, **extra}
        path = out / f"nvml_samples_{scenario}.json"
        path.write_text(json.dumps(doc))
        ts = [t for p in poller.polls for t in p["ts_us"]]
        steps = sorted(b - a for a, b in zip(ts, ts[1:], strict=False))
        median_ms = steps[len(steps) // 2] / 1e3 if steps else float("nan")
        print(f"{scenario:7s} {len(ts):5d} samples (median step {median_ms:.1f} ms), "
              f"{len(poller.counter['t_s']):5d} counter polls, {path.stat().st_size / 1e6:.2f} MB")
        poller.reset()

    # idle (cold when this runs first), then the gap probe: no buffer reads for longer than the buffer
    time.sleep(args.idle_s)
    poller.pause(True)
    time.sleep(args.gap_probe_s)
    poller.pause(False)
    time.sleep(1.0)
    save("idle", {"load_spans": [], "first_full_read": first_read, "gap_probe_s": args.gap_probe_s})

    for scenario, target in (("steady", 0.040), ("short", 0.005)):
        fn, per_mm = matmul_chain(target)
        torch.cuda.synchronize()
        with poller.lock:
            poller.reset()
        time.sleep(1.0)  # idle before the step
        spans = []
        step_s = time.perf_counter()
        end = step_s + args.seconds
        while time.perf_counter() < end:
            b = time.perf_counter()
            fn()
            spans.append([b, time.perf_counter()])
        time.sleep(1.0)
        save(scenario, {"load_spans": spans, "step_s": step_s, "matmul_s": per_mm})

    fn, per_mm = matmul_chain(0.001)
    rng = random.Random(args.seed)
    with poller.lock:
        poller.reset()
    time.sleep(0.5)
    spans = []
    end = time.perf_counter() + args.seconds
    while time.perf_counter() < end:
        k = rng.randint(5, 200)  # ~1 ms chains: 5-200 ms of work
        b = time.perf_counter()
        for _ in range(k):
            fn()
        spans.append([b, time.perf_counter()])
        time.sleep(rng.uniform(0.005, 0.2))
    time.sleep(1.0)
    save("bursty", {"load_spans": spans, "matmul_s": per_mm, "seed": args.seed})
    poller.stop()
    print("costs per call (CPU s): " + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in costs.items()))
    pynvml.nvmlShutdown()


if __name__ == "__main__":
    main()
