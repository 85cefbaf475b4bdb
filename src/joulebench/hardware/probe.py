"""Measure achievable ceilings on the machine at hand and write a catalogue entry.

Why: datasheet peaks are not what PyTorch reaches (clocks, power caps, CPU builds), and on a CPU
there is no datasheet at all. The probe times square matmuls per dtype and a device-to-device
copy; the YAML it writes works with ``--gpu FILE.yaml`` or ``--hardware-file`` + name.
Its FLOP/s are *achieved*, so a prediction with the probed entry should use mu close to 1.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joulebench.errors import UsageError
from joulebench.hardware.catalogue import PRECISIONS, Accelerator

_TORCH_DTYPES = {"fp32": "float32", "tf32": "float32", "bf16": "bfloat16", "fp16": "float16"}


@dataclass(frozen=True)
class ProbeSettings:
    """Sizes and time budget; CPU defaults keep the whole probe under about 20 s."""

    matmul_n: int
    copy_bytes: int
    seconds_per_test: float

    @classmethod
    def for_device(cls, device: str) -> ProbeSettings:
        if device == "cuda":
            return cls(matmul_n=8192, copy_bytes=1 << 30, seconds_per_test=1.0)
        return cls(matmul_n=768, copy_bytes=64 << 20, seconds_per_test=1.5)


def _sync(torch: Any, device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _timed(torch: Any, device: str, fn, budget_s: float) -> float:
    """Seconds per call: one warm-up, then repeat until the budget is used (at least 3 calls)."""
    fn()
    _sync(torch, device)
    calls = 0
    start = time.perf_counter()
    while True:
        fn()
        calls += 1
        if calls >= 3:
            _sync(torch, device)
            elapsed = time.perf_counter() - start
            if elapsed >= budget_s:
                return elapsed / calls


def measure_matmul_flops(device: str, precision: str, settings: ProbeSettings) -> float | None:
    """Achieved FLOP/s of an n x n x n matmul; None when the dtype is unsupported here."""
    import torch

    if precision not in _TORCH_DTYPES or (precision == "tf32" and device != "cuda"):
        return None
    dtype = getattr(torch, _TORCH_DTYPES[precision])
    n = settings.matmul_n
    try:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
    except (RuntimeError, TypeError):
        return None
    old = torch.backends.cuda.matmul.allow_tf32 if device == "cuda" else None
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    try:
        per_call = _timed(torch, device, lambda: torch.matmul(a, b), settings.seconds_per_test)
    except RuntimeError:
        return None
    finally:
        if device == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = old
    return 2.0 * n**3 / per_call


def measure_copy_bandwidth(device: str, settings: ProbeSettings) -> float:
    """Bytes moved per second by ``dst.copy_(src)`` (read + write counted)."""
    import torch

    n = settings.copy_bytes // 4
    src = torch.ones(n, device=device, dtype=torch.float32)
    dst = torch.empty_like(src)
    per_call = _timed(torch, device, lambda: dst.copy_(src), settings.seconds_per_test)
    return 2.0 * n * 4 / per_call


def _device_facts(device: str) -> tuple[str, float, float, float, dict[str, str]]:
    """(device name, memory bytes, power limit W, idle W, sources)."""
    import torch

    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        name, memory = props.name, float(props.total_memory)
        tdp = idle = 0.0
        sources = {"memory_bytes": "torch.cuda.get_device_properties"}
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            tdp = pynvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0
            idle = pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
            pynvml.nvmlShutdown()
            sources.update(tdp_w="NVML enforced power limit", idle_power_w="NVML power at probe start")
        except Exception:  # noqa: BLE001 - NVML missing: leave the estimate labelled
            sources.update(tdp_w="unknown (NVML unavailable)", idle_power_w="unknown (NVML unavailable)")
        return name, memory, tdp, idle, sources
    import platform

    import psutil

    name = platform.processor() or platform.machine() or "cpu"
    cores = psutil.cpu_count(logical=False) or 1
    sources = {
        "memory_bytes": "psutil.virtual_memory().total",
        "tdp_w": f"estimate: 10 W per physical core ({cores}); no RAPL here, calibrate",
        "idle_power_w": "estimate: 2 W per physical core; no RAPL here, calibrate",
    }
    return name, float(psutil.virtual_memory().total), 10.0 * cores, 2.0 * cores, sources


def probe(
    device: str = "cuda", name: str | None = None, settings: ProbeSettings | None = None
) -> Accelerator:
    """Measure this machine and return an `Accelerator` whose sources say "probe"."""
    import torch

    if device not in ("cuda", "cpu"):
        raise UsageError(f"device '{device}' unknown; allowed: cuda, cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("device 'cuda' requested but torch sees no CUDA device; use --device cpu")
    settings = settings or ProbeSettings.for_device(device)
    dev_name, memory, tdp, idle, sources = _device_facts(device)
    peaks: dict[str, float | None] = {p: measure_matmul_flops(device, p, settings) for p in PRECISIONS}
    bandwidth = measure_copy_bandwidth(device, settings)
    stamp = time.strftime("%Y-%m-%d")
    sources.update(
        peak_flops_per_s=(
            f"probe {stamp}: achieved torch.matmul {settings.matmul_n}^3 on {dev_name} ({device})"
        ),
        memory_bandwidth_bytes_per_s=(
            f"probe {stamp}: achieved copy_ of {settings.copy_bytes} bytes (read+write)"
        ),
    )
    entry_name = (name or f"probe-{device}-{dev_name}").lower().replace(" ", "-")
    return Accelerator(
        name=entry_name,
        peak_flops_per_s=peaks,
        memory_bandwidth_bytes_per_s=bandwidth,
        memory_bytes=memory,
        tdp_w=tdp,
        idle_power_w=idle,
        vendor="probe",
        kind="gpu" if device == "cuda" else "cpu",
        sources=sources,
    )


def write_entry(acc: Accelerator, path: str | Path) -> Path:
    """Write ``{accelerators: {name: entry}}`` as YAML; loadable by `load_user_entries`."""
    import yaml

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump({"accelerators": {acc.name: acc.to_dict()}}, sort_keys=False))
    return out
