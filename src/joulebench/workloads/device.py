"""Torch device helpers shared by every workload: dtype names, synchronisation, freeing memory."""

from __future__ import annotations

import gc
import time

from joulebench.hardware.dtypes import TORCH_DTYPES as DTYPES
from joulebench.hardware.dtypes import torch_dtype

__all__ = ["DEVICES", "DTYPES", "cuda_available", "device_memory_bytes", "free_device_memory", "launch_probe_us",
           "sync", "torch_dtype"]

DEVICES = ("cuda", "cpu")


def cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def device_memory_bytes(device: str) -> float | None:
    """Memory a point may use on ``device``: free GPU memory, or available host memory for the CPU."""
    if device.startswith("cuda"):
        if not cuda_available():
            return None
        import torch

        free, _total = torch.cuda.mem_get_info()
        return float(free)
    import psutil

    return float(psutil.virtual_memory().available)


def sync(device: str) -> None:
    """Block until the device's queued work is done (a phase's end is when the GPU finishes)."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def free_device_memory() -> None:
    """Drop unreferenced tensors and return cached CUDA blocks (between models, after an OOM)."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def reset_memory_peak() -> None:
    """Start a new peak for `memory_use` (no-op off CUDA)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def memory_use() -> dict[str, float]:
    """The CUDA caching allocator's memory now, in GiB: reserved, its peak since `reset_memory_peak`, and
    the part held by private pools (CUDA graphs), {} off CUDA.

    Why: in run_f (H100) the CB engine's graphs' private pool reached 34 GiB and a capture ran out of
    memory mid-arm; recorded with every arm, the pool's size says how near the next arm is to that."""
    import torch

    if not torch.cuda.is_available():
        return {}
    gib = float(1 << 30)
    out = {"reserved_gib": torch.cuda.memory_reserved() / gib, "reserved_peak_gib": torch.cuda.max_memory_reserved() / gib}
    segments = torch.cuda.memory_snapshot()
    if segments and all("segment_pool_id" in seg for seg in segments):  # a private pool's id is not (0, 0)
        out["private_pools_gib"] = sum(seg["total_size"] for seg in segments
                                       if tuple(seg["segment_pool_id"]) != (0, 0)) / gib
    return out


def launch_probe_us(device: str, launches: int = 200, rounds: int = 5) -> float | None:
    """Host cost of one eager CUDA launch right now, in microseconds (median over ``rounds``).

    Why: eager decode and short prefill are bound by the host issuing kernels, and a shared VM's
    host speed drifts (the same decode ran at 26 and 41 ms per token on one H200). Stored with each
    point, this probe separates host drift from model error. A one-element in-place add runs for
    ~2 us on the GPU, so the loop is paced by the host, not the GPU. None off CUDA.
    """
    if not device.startswith("cuda"):
        return None
    import torch

    x = torch.zeros(1, device=device)
    torch.cuda.synchronize()
    per_launch_us = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(launches):
            x.add_(1.0)
        torch.cuda.synchronize()
        per_launch_us.append((time.perf_counter() - t0) / launches * 1e6)
    return sorted(per_launch_us)[rounds // 2]
