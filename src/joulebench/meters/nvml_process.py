"""Poll NVML from a separate process, so that polling costs the measured workload nothing.

On our H200 host one NVML energy query costs about 3 ms of CPU (an ioctl through the VM); polling
every 5 ms from a thread used ~70% of a core and, through the interpreter lock, slowed an eager
decode loop by ~5% (docs/VALIDATION.md). A child process polls instead and writes (time, cumulative
energy, instant power) rows into shared memory; the parent copies new rows into its traces when it
asks a question. ``time.perf_counter`` is CLOCK_MONOTONIC on Linux, one clock for both processes.
The child is started with ``spawn`` (never ``fork`` a process that may hold a CUDA context) and
imports nothing heavier than NVML.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import time
from typing import Any

import numpy as np

#: rows kept in shared memory: 2M rows at 5 ms is ~2.8 hours; older rows are overwritten (ring)
DEFAULT_CAPACITY = 2_000_000


def _child(uuids: list[str], period_s: Any, power_period_s: float, times: Any, energy: Any, power: Any,
           count: Any, capacity: int, ready: Any, stop: Any) -> None:
    from joulebench.meters.nvml import NvmlEnergyMeter, nvml_init

    pynvml = nvml_init()
    meters = [NvmlEnergyMeter(pynvml, uuid, pynvml.nvmlDeviceGetHandleByUUID(uuid)) for uuid in uuids]
    t_view = np.frombuffer(times.get_obj(), dtype=np.float64)
    e_view = np.frombuffer(energy.get_obj(), dtype=np.float64).reshape(len(uuids), capacity)
    p_view = np.frombuffer(power.get_obj(), dtype=np.float64).reshape(len(uuids), capacity)
    ready.set()
    index = 0
    next_power = 0.0
    while not stop.is_set():
        now = time.perf_counter()
        row = index % capacity
        for g, meter in enumerate(meters):
            e_view[g, row] = meter.read_energy_j(now)
            p_view[g, row] = math.nan
        if now >= next_power:
            for g, meter in enumerate(meters):
                value = meter.power_w()
                p_view[g, row] = math.nan if value is None else value
            next_power = now + power_period_s
        t_view[row] = now
        index += 1
        count.value = index  # published after the row is complete
        stop.wait(max(0.0, period_s.value - (time.perf_counter() - now)))


class NvmlProcessSampler:
    """Owns the child process and the shared rows; `new_rows` hands back what arrived since last call."""

    def __init__(self, uuids: list[str], period_s: float, power_period_s: float,
                 capacity: int = DEFAULT_CAPACITY) -> None:
        ctx = mp.get_context("spawn")
        self.uuids = uuids
        self.capacity = capacity
        self._times = ctx.Array("d", capacity)
        self._energy = ctx.Array("d", capacity * len(uuids))
        self._power = ctx.Array("d", capacity * len(uuids))
        self._count = ctx.Value("q", 0)
        self._period_s = ctx.Value("d", period_s)  # the parent may change it while the child runs
        self._ready = ctx.Event()
        self._stop = ctx.Event()
        self._process = ctx.Process(
            target=_child, name="joulebench-nvml",
            args=(uuids, self._period_s, power_period_s, self._times, self._energy, self._power, self._count,
                  capacity, self._ready, self._stop),
            daemon=True,
        )
        self._read = 0
        self.dropped_rows = 0

    def set_period(self, period_s: float) -> None:
        self._period_s.value = period_s

    def start(self, timeout_s: float = 20.0) -> bool:
        """Start the child; False (and nothing left running) if it did not come up in time."""
        self._process.start()
        if self._ready.wait(timeout_s):
            return True
        self.close()
        return False

    def new_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(t_s, energy_j[gpu, row], power_w[gpu, row]) of the rows written since the last call."""
        n = int(self._count.value)
        start = max(self._read, n - self.capacity)
        self.dropped_rows += start - self._read
        self._read = n
        idx = np.arange(start, n) % self.capacity
        t = np.frombuffer(self._times.get_obj(), dtype=np.float64)[idx].copy()
        e = np.frombuffer(self._energy.get_obj(), dtype=np.float64).reshape(len(self.uuids), self.capacity)[:, idx]
        p = np.frombuffer(self._power.get_obj(), dtype=np.float64).reshape(len(self.uuids), self.capacity)[:, idx]
        return t, e.copy(), p.copy()

    def close(self) -> None:
        self._stop.set()
        self._process.join(timeout=5.0)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=2.0)
