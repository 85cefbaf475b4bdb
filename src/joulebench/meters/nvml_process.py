"""Poll NVML from a separate process, so that polling costs the measured workload (almost) nothing.

On our H200 host one NVML energy or FieldValues query costs 3-4 ms of CPU (an ioctl through the VM);
polling the counter every 5 ms slowed an eager decode loop by ~7%. The child process reads two things:

- the **power-sample buffer** (`meters.samples`) every ``samples_period_s`` (0.5 s; the buffer holds
  ~2.5 s, so nothing is lost even if one read comes late): a ~20 ms power trace for ~0.7 ms a read;
- the **energy counter** every ``counter_period_s``: slowly by default (0.5 s: it only cross-checks the
  trace), every 5 ms while a short window is measured on counter edges (`EnergyMonitor.fast_polling`).

It writes (time, cumulative energy) rows and, per GPU, (time, power) samples and gaps into shared
memory rings; the parent copies new rows out when it asks a question (and once a second from its
sampler thread, so the rings never overflow). ``flush()`` makes the child read both now, so a window
that just ended need not wait for the next scheduled read. ``pause()`` stops all NVML calls (the
"no meter" arm of an overhead measurement). ``time.perf_counter`` is CLOCK_MONOTONIC on Linux, one
clock for both processes. The child is started with ``spawn`` (never ``fork`` a process that may hold
a CUDA context) and imports nothing heavier than NVML and numpy.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

#: counter rows kept: 2M rows at 5 ms is ~2.8 hours; older rows are overwritten (ring)
DEFAULT_CAPACITY = 2_000_000
#: power samples kept per GPU between two copies by the parent (~1.4 h at 50 samples/s)
SAMPLE_CAPACITY = 1 << 18
GAP_CAPACITY = 1024
#: per-GPU status slots: clock code, offset s, uncertainty s, stale, errors, gaps, max offset jump s, reads
STATUS_SLOTS = 8
CLOCKS = ("none", "realtime", "monotonic", "boottime", "anchored")


@dataclass
class _Shared:
    """Everything the two processes share (inherited by the spawned child through its arguments)."""

    n_gpus: int
    capacity: int
    sample_capacity: int
    times: Any
    energy: Any
    count: Any
    s_t: Any
    s_p: Any
    s_count: Any
    gaps: Any
    g_count: Any
    status: Any
    counter_period_s: Any
    samples_period_s: Any
    samples_on: Any  # set by the child: 1 when every GPU has a sample buffer
    paused: Any
    flush_req: Any
    flush_done: Any
    ready: Any
    stop: Any
    wake: Any

    def view(self, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        dtype = np.int64 if name in ("s_count", "g_count") else np.float64
        out = np.frombuffer(getattr(self, name).get_obj(), dtype=dtype)
        return out.reshape(shape) if shape else out


def _load_nvml(nvml_module: str | None) -> Any:
    """Real NVML, or (``"module:factory"``) a stand-in that replays recorded readings in CPU tests."""
    if nvml_module is None:
        from joulebench.meters.nvml import nvml_init

        return nvml_init()
    module, factory = nvml_module.split(":")
    return getattr(importlib.import_module(module), factory)()


def _child(uuids: list[str], shared: _Shared, want_samples: bool, nvml_module: str | None) -> None:
    # Ctrl-C (or `timeout -s INT`) reaches the whole process group: the meter stops when its owner says
    # (`close`), or when the owner is gone, not mid-read with a traceback of its own
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    owner = os.getppid()
    from joulebench.meters.nvml import NvmlEnergyMeter
    from joulebench.meters.samples import PowerSampleReader

    pynvml = _load_nvml(nvml_module)
    handles = [pynvml.nvmlDeviceGetHandleByUUID(uuid) for uuid in uuids]
    meters = [NvmlEnergyMeter(pynvml, uuid, h) for uuid, h in zip(uuids, handles, strict=True)]
    readers = [PowerSampleReader(pynvml, h) for h in handles] if want_samples else []
    if readers and not all(r.supported() for r in readers):
        readers = []
    shared.samples_on.value = 1 if readers else 0
    n, cap, scap = shared.n_gpus, shared.capacity, shared.sample_capacity
    t_view, e_view = shared.view("times"), shared.view("energy", (n, cap))
    st, sp, sc = shared.view("s_t", (n, scap)), shared.view("s_p", (n, scap)), shared.view("s_count")
    gv, gc = shared.view("gaps", (n, GAP_CAPACITY, 2)), shared.view("g_count")
    status = shared.view("status", (n, STATUS_SLOTS))
    index = 0
    next_counter = next_samples = 0.0
    ready_sent = False
    while not shared.stop.is_set() and os.getppid() == owner:
        if shared.paused.value:
            shared.wake.wait(0.05)
            shared.wake.clear()
            continue
        flush = shared.flush_req.value
        now = time.perf_counter()
        if now >= next_counter or flush > shared.flush_done.value:
            row = index % cap
            for g, meter in enumerate(meters):
                e_view[g, row] = meter.read_energy_j(now)
            t_view[row] = now
            index += 1
            shared.count.value = index  # published after the row is complete
            next_counter = now + shared.counter_period_s.value
        if readers and (now >= next_samples or flush > shared.flush_done.value):
            for g, reader in enumerate(readers):
                batch = reader.read()
                base = int(sc[g])
                k = batch.t_s.size
                idx = (base + np.arange(k)) % scap
                st[g, idx], sp[g, idx] = batch.t_s, batch.power_w
                if batch.gap is not None:
                    gv[g, int(gc[g]) % GAP_CAPACITY] = batch.gap
                    gc[g] += 1
                sc[g] = base + k
                clock = reader.clock
                status[g] = (CLOCKS.index(clock.clock) if clock else 0, clock.offset_s if clock else np.nan,
                             clock.uncertainty_s if clock else np.nan, reader.stale, reader.errors + meters[g].errors,
                             reader.gaps, reader.max_offset_jump_s, reader.reads)
            next_samples = now + shared.samples_period_s.value
        shared.flush_done.value = max(shared.flush_done.value, flush)
        if not ready_sent:
            shared.ready.set()
            ready_sent = True
        wait = min(next_counter, next_samples if readers else next_counter) - time.perf_counter()
        shared.wake.wait(max(0.0, wait))
        shared.wake.clear()


@dataclass
class SampleRows:
    """Power samples and gaps of one GPU that arrived since the last copy."""

    t_s: np.ndarray
    power_w: np.ndarray
    gaps: list[tuple[float, float]]
    dropped: int


class NvmlProcessSampler:
    """Owns the child process and the shared rings; `new_rows` / `new_samples` hand back what arrived."""

    def __init__(self, uuids: list[str], counter_period_s: float, samples_period_s: float = 0.5,
                 samples: bool = True, capacity: int = DEFAULT_CAPACITY, sample_capacity: int = SAMPLE_CAPACITY,
                 nvml_module: str | None = None) -> None:
        ctx = mp.get_context("spawn")
        n = len(uuids)
        self.uuids = uuids
        self.shared = _Shared(
            n, capacity, sample_capacity, ctx.Array("d", capacity), ctx.Array("d", capacity * n), ctx.Value("q", 0),
            ctx.Array("d", sample_capacity * n), ctx.Array("d", sample_capacity * n), ctx.Array("q", n),
            ctx.Array("d", GAP_CAPACITY * 2 * n), ctx.Array("q", n), ctx.Array("d", STATUS_SLOTS * n),
            ctx.Value("d", counter_period_s), ctx.Value("d", samples_period_s), ctx.Value("b", 0), ctx.Value("b", 0),
            ctx.Value("q", 0), ctx.Value("q", 0), ctx.Event(), ctx.Event(), ctx.Event(),
        )
        self._process = ctx.Process(target=_child, name="joulebench-nvml", args=(uuids, self.shared, samples, nvml_module),
                                    daemon=True)
        self._read = 0
        self._s_read = [0] * n
        self._g_read = [0] * n
        self.dropped_rows = 0

    @property
    def capacity(self) -> int:
        return self.shared.capacity

    @property
    def samples_on(self) -> bool:
        return bool(self.shared.samples_on.value)

    def set_period(self, period_s: float) -> None:
        """The counter polling period (the samples keep theirs)."""
        self.shared.counter_period_s.value = period_s
        self.shared.wake.set()

    def pause(self, paused: bool) -> None:
        self.shared.paused.value = 1 if paused else 0
        self.shared.wake.set()

    def flush(self, timeout_s: float = 0.5) -> bool:
        """Make the child read the counter and the sample buffer now; True once it has."""
        if self.shared.paused.value or not self._process.is_alive():
            return False
        with self.shared.flush_req.get_lock():
            self.shared.flush_req.value += 1
            wanted = self.shared.flush_req.value
        self.shared.wake.set()
        deadline = time.perf_counter() + timeout_s
        while self.shared.flush_done.value < wanted:
            if time.perf_counter() > deadline:
                return False
            time.sleep(0.0005)
        return True

    def start(self, timeout_s: float = 20.0) -> bool:
        """Start the child; False (and nothing left running) if it did not come up in time."""
        self._process.start()
        if self.shared.ready.wait(timeout_s):
            return True
        self.close()
        return False

    def new_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """(t_s, energy_j[gpu, row]) of the counter rows written since the last call."""
        sh = self.shared
        n = int(sh.count.value)
        start = max(self._read, n - sh.capacity)
        self.dropped_rows += start - self._read
        self._read = n
        idx = np.arange(start, n) % sh.capacity
        t = sh.view("times")[idx].copy()
        e = sh.view("energy", (sh.n_gpus, sh.capacity))[:, idx].copy()
        return t, e

    def new_samples(self) -> list[SampleRows]:
        sh = self.shared
        counts, gcounts = sh.view("s_count"), sh.view("g_count")
        st, sp = sh.view("s_t", (sh.n_gpus, sh.sample_capacity)), sh.view("s_p", (sh.n_gpus, sh.sample_capacity))
        gv = sh.view("gaps", (sh.n_gpus, GAP_CAPACITY, 2))
        out = []
        for g in range(sh.n_gpus):
            n, gn = int(counts[g]), int(gcounts[g])
            start = max(self._s_read[g], n - sh.sample_capacity)
            dropped = start - self._s_read[g]
            idx = np.arange(start, n) % sh.sample_capacity
            gaps = [tuple(gv[g, i % GAP_CAPACITY]) for i in range(max(self._g_read[g], gn - GAP_CAPACITY), gn)]
            self._s_read[g], self._g_read[g] = n, gn
            out.append(SampleRows(st[g, idx].copy(), sp[g, idx].copy(), gaps, dropped))  # type: ignore[arg-type]
        return out

    def status(self) -> list[dict[str, Any]]:
        """Per GPU: the timestamp clock and its offset to perf_counter, stale samples, errors, gaps."""
        rows = self.shared.view("status", (self.shared.n_gpus, STATUS_SLOTS))
        keys = ("clock", "offset_s", "uncertainty_s", "stale", "errors", "gaps", "max_offset_jump_s", "reads")
        out = []
        for uuid, row in zip(self.uuids, rows, strict=True):
            doc: dict[str, Any] = {"device": uuid, **{k: float(v) for k, v in zip(keys, row, strict=True)}}
            doc["clock"] = CLOCKS[int(row[0])]
            out.append(doc)
        return out

    def close(self) -> None:
        self.shared.stop.set()
        self.shared.wake.set()
        self._process.join(timeout=5.0)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=2.0)
