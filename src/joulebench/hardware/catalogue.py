"""Datasheet catalogue of accelerators, in SI units, each value with the source it was copied from.

Why a table and not a formula: peak numbers are marketing facts that change per SKU (SXM vs PCIe,
HBM3 vs HBM3e). They are copied once, with their source, and pinned by unit tests. Peaks are
*dense* (NVIDIA datasheets print tensor-core figures "with sparsity"; those are halved here).

Precision keys (`PRECISIONS`): ``fp32`` is the non-tensor-core FP32 rate (what PyTorch uses for
float32 matmuls unless TF32 is switched on), ``tf32``, ``bf16``, ``fp16``, ``fp8`` and ``int8`` are
tensor-core rates with FP32 accumulation where a datasheet distinguishes (GeForce cards).
A missing precision is ``None``: the card has no such unit, or the datasheet does not publish it.

Users add entries in a YAML file (``JOULEBENCH_HARDWARE`` or ``--hardware-file``)::

    accelerators:
      my-gpu:
        peak_flops_per_s: {fp32: 6.0e13, bf16: 9.0e14}
        memory_bandwidth_bytes_per_s: 3.0e12
        memory_bytes: 8.0e10
        tdp_w: 700
        idle_power_w: 100
        sm_count: 132                      # optional: streaming multiprocessors (wave quantization)
        idle_power_range_w: [20, 350]      # optional: what a profile's idle power may be
        sources: {peak_flops_per_s: "my measurement"}

``sm_count`` feeds the tile-and-wave GEMM model (`analytic.matmul`): a GEMM of ``t`` output tiles runs
in ``ceil(t / sm_count)`` waves. Unknown (None, e.g. CPUs): no wave quantization.
``idle_power_range_w`` bounds the idle power a calibration profile may carry; by default
[2%, 50%] of TDP, which holds every listed card's idle reading (RTX 4090 about 20 W of 450 W, L4
about 16 W of 72 W, H200 79-144 W of 700 W measured).

``joulebench hardware probe`` writes exactly that shape.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joulebench.errors import UsageError

PRECISIONS: tuple[str, ...] = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8")
HARDWARE_ENV = "JOULEBENCH_HARDWARE"

#: default plausible idle power, as fractions of TDP (module docstring)
IDLE_RANGE_TDP_FRACTIONS = (0.02, 0.5)


@dataclass(frozen=True)
class Accelerator:
    """Ceilings of one accelerator (or a CPU, from the probe). All SI: FLOP/s, bytes/s, bytes, W."""

    name: str
    peak_flops_per_s: dict[str, float | None]
    memory_bandwidth_bytes_per_s: float
    memory_bytes: float
    tdp_w: float
    idle_power_w: float
    vendor: str = "nvidia"
    kind: str = "gpu"  # "gpu" or "cpu"
    sources: dict[str, str] = field(default_factory=dict)
    match: tuple[str, ...] = ()  # substrings of the driver's device name that identify this entry
    sm_count: int | None = None  # streaming multiprocessors (AMD: compute units); None: unknown
    idle_range_w: tuple[float, float] | None = None  # None: IDLE_RANGE_TDP_FRACTIONS of tdp_w
    #: GPU-to-GPU link (NVLink): bytes/s one way per GPU, and the latency of one collective step
    interconnect_bandwidth_bytes_per_s: float | None = None
    interconnect_latency_s: float | None = None

    @property
    def idle_power_range_w(self) -> tuple[float, float]:
        """The idle power a calibration profile may carry for this card (W)."""
        if self.idle_range_w is not None:
            return self.idle_range_w
        lo, hi = IDLE_RANGE_TDP_FRACTIONS
        return (lo * self.tdp_w, hi * self.tdp_w)

    def peak_flops(self, precision: str) -> float:
        """Dense peak for ``precision``; `UsageError` when the card has none (e.g. fp8 on an A100)."""
        if precision not in PRECISIONS:
            raise UsageError(f"precision '{precision}' unknown; allowed: {', '.join(PRECISIONS)}")
        value = self.peak_flops_per_s.get(precision)
        if value is None:
            have = [p for p in PRECISIONS if self.peak_flops_per_s.get(p)]
            raise UsageError(f"gpu '{self.name}' has no {precision} peak in the catalogue; it has: {', '.join(have)}")
        return float(value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "peak_flops_per_s": {p: self.peak_flops_per_s.get(p) for p in PRECISIONS},
            "memory_bandwidth_bytes_per_s": self.memory_bandwidth_bytes_per_s,
            "memory_bytes": self.memory_bytes,
            "tdp_w": self.tdp_w,
            "idle_power_w": self.idle_power_w,
            "vendor": self.vendor,
            "kind": self.kind,
            "sm_count": self.sm_count,
            "idle_power_range_w": list(self.idle_power_range_w),
            "interconnect_bandwidth_bytes_per_s": self.interconnect_bandwidth_bytes_per_s,
            "interconnect_latency_s": self.interconnect_latency_s,
            "sources": dict(self.sources),
        }

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> Accelerator:
        """Build from a YAML/JSON mapping; every missing required field is named in the error."""
        required = (
            "peak_flops_per_s",
            "memory_bandwidth_bytes_per_s",
            "memory_bytes",
            "tdp_w",
            "idle_power_w",
        )
        missing = [k for k in required if k not in data]
        if missing:
            raise UsageError(f"hardware entry '{name}' lacks {', '.join(missing)}; required: {', '.join(required)}")
        peaks = data["peak_flops_per_s"]
        if not isinstance(peaks, dict):
            raise UsageError(f"hardware entry '{name}': peak_flops_per_s must be a mapping precision -> FLOP/s")
        unknown = [p for p in peaks if p not in PRECISIONS]
        if unknown:
            raise UsageError(f"hardware entry '{name}': precision {unknown[0]!r} unknown; allowed: {', '.join(PRECISIONS)}")
        return cls(
            name=name,
            peak_flops_per_s={p: (None if peaks.get(p) is None else float(peaks[p])) for p in PRECISIONS},
            memory_bandwidth_bytes_per_s=float(data["memory_bandwidth_bytes_per_s"]),
            memory_bytes=float(data["memory_bytes"]),
            tdp_w=float(data["tdp_w"]),
            idle_power_w=float(data["idle_power_w"]),
            vendor=str(data.get("vendor", "unknown")),
            kind=str(data.get("kind", "gpu")),
            sources={str(k): str(v) for k, v in (data.get("sources") or {}).items()},
            match=tuple(data.get("match", ())),
            sm_count=None if data.get("sm_count") is None else int(data["sm_count"]),
            idle_range_w=_range(name, data.get("idle_power_range_w")),
            interconnect_bandwidth_bytes_per_s=_optional(data.get("interconnect_bandwidth_bytes_per_s")),
            interconnect_latency_s=_optional(data.get("interconnect_latency_s")),
        )


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


def _range(name: str, value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or len(value) != 2 or float(value[0]) > float(value[1]):
        raise UsageError(f"hardware entry '{name}': idle_power_range_w must be [low, high] in W")
    return (float(value[0]), float(value[1]))


#: the built-in rows: a data file in the package, read by the same reader as a user's --hardware-file
_CATALOGUE_FILE = Path(__file__).resolve().parent.parent / "configs" / "hardware" / "catalogue.yaml"


@functools.cache
def _builtin() -> dict[str, Accelerator]:
    return load_user_entries(_CATALOGUE_FILE)


def load_user_entries(path: str | os.PathLike[str]) -> dict[str, Accelerator]:
    """Read a YAML (or JSON) file of accelerators (the built-in catalogue is one); top level
    ``accelerators:`` or names directly. Read through the one safe reader of user files."""
    from joulebench.files import read_mapping

    data = read_mapping(path, "hardware_file")
    entries = data.get("accelerators", data)
    if not isinstance(entries, dict):
        raise UsageError(f"hardware file '{path}': 'accelerators' must be a mapping name -> entry")
    return {str(k).lower(): Accelerator.from_dict(str(k).lower(), v) for k, v in entries.items()}


def catalogue(hardware_file: str | os.PathLike[str] | None = None) -> dict[str, Accelerator]:
    """Built-in rows plus the user's file (argument, else ``$JOULEBENCH_HARDWARE``); user rows win."""
    out = dict(_builtin())
    path = hardware_file or os.environ.get(HARDWARE_ENV)
    if path:
        out.update(load_user_entries(path))
    return out


def names(hardware_file: str | os.PathLike[str] | None = None) -> list[str]:
    return sorted(catalogue(hardware_file))


def name_for_device(device_name: str, entries: dict[str, Accelerator] | None = None) -> str | None:
    """Catalogue name for a driver device name (``"NVIDIA H100 80GB HBM3"`` -> ``h100-sxm``)."""
    entries = entries or _builtin()
    low = device_name.lower()
    best: tuple[int, str] | None = None
    for entry in entries.values():
        for pattern in entry.match:
            # whole-token match: "NVIDIA L4" must not claim "NVIDIA L40S"
            hit = re.search(r"(?<![a-z0-9])" + re.escape(pattern.lower()) + r"(?![a-z0-9])", low)
            if hit and (best is None or len(pattern) > best[0]):
                best = (len(pattern), entry.name)  # longest match wins: "L40S" beats "L4"
    return None if best is None else best[1]


def detect_name() -> str | None:
    """Device name of GPU 0 via NVML, else torch; None when no GPU is visible."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            raw = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(0))
        finally:
            pynvml.nvmlShutdown()
        return raw.decode() if isinstance(raw, bytes) else str(raw)
    except Exception:  # noqa: BLE001 - no NVML means "try torch"
        pass
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001
        return None
    return None


def get_accelerator(name: str, hardware_file: str | os.PathLike[str] | None = None) -> Accelerator:
    """Look up ``name`` (case-insensitive), ``auto`` (the GPU present) or a path to a probe YAML file."""
    key = name.strip().lower()
    if key.endswith((".yaml", ".yml", ".json")) and Path(name).expanduser().is_file():
        entries = load_user_entries(name)
        if len(entries) != 1:
            raise UsageError(f"gpu file '{name}' holds {len(entries)} entries; pass --hardware-file and a name")
        return next(iter(entries.values()))
    entries = catalogue(hardware_file)
    if key == "auto":
        device = detect_name()
        if device is None:
            raise UsageError("gpu 'auto': no GPU visible; pass a catalogue name or a probe file (hardware probe)")
        found = name_for_device(device, entries)
        if found is None:
            raise UsageError(
                f"gpu 'auto': device '{device}' is not in the catalogue; run 'joulebench hardware probe' "
                f"or pick one of: {', '.join(sorted(entries))}"
            )
        return entries[found]
    if key not in entries:
        raise UsageError(f"unknown gpu '{name}'; allowed: auto, {', '.join(sorted(entries))}, or a probe .yaml")
    return entries[key]
