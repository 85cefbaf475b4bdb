"""Torch device helpers shared by every workload: dtype names, synchronisation, freeing memory."""

from __future__ import annotations

import gc
from typing import Any

from joulebench.errors import UsageError

DTYPES = ("float32", "bfloat16", "float16")


def torch_dtype(name: str) -> Any:
    import torch

    if name not in DTYPES:
        raise UsageError(f"--dtype {name}: unknown; allowed: {', '.join(DTYPES)}")
    return getattr(torch, name)


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
