"""NVIDIA GPU energy through NVML (``nvidia-ml-py``): handles, the total-energy counter, GPU state.

The power trace from the sample buffer lives in `meters.samples` / `meters.power_trace`.

GPU selection follows ``CUDA_VISIBLE_DEVICES`` through UUIDs: the logical CUDA index a user passes
(``--gpus 0``) is mapped to the device UUID (from torch when CUDA is up, else from the entries of
``CUDA_VISIBLE_DEVICES``), and the NVML handle is looked up by that UUID. NVML's own index order is
the PCI bus order, which need not match CUDA's, so bare indices are never passed to NVML.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from joulebench.errors import TelemetryUnavailable
from joulebench.meters.base import WrapTracker
from joulebench.values import AsDict

#: measured on our H200 and H100 machines: the counter and both power readings change every ~100 ms
NVML_UPDATE_PERIOD_S = 0.1

_init_lock = threading.Lock()
_init_count = 0


def _nvml() -> Any:
    try:
        import pynvml  # provided by nvidia-ml-py
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise TelemetryUnavailable("NVML is not installed (pip install nvidia-ml-py)") from exc
    return pynvml


def nvml_init() -> Any:
    """Initialise NVML once per process (reference counted); raise TelemetryUnavailable if absent."""
    global _init_count
    pynvml = _nvml()
    with _init_lock:
        if _init_count == 0:
            try:
                pynvml.nvmlInit()
            except pynvml.NVMLError as exc:
                raise TelemetryUnavailable(f"NVML cannot be initialised: {exc}") from exc
        _init_count += 1
    return pynvml


def nvml_shutdown() -> None:
    global _init_count
    pynvml = _nvml()
    with _init_lock:
        if _init_count > 0:
            _init_count -= 1
            if _init_count == 0:
                try:
                    pynvml.nvmlShutdown()
                except pynvml.NVMLError:
                    pass


def nvml_available() -> bool:
    try:
        nvml_init()
    except TelemetryUnavailable:
        return False
    nvml_shutdown()
    return True


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def visible_uuids() -> list[str | None]:
    """UUID (or prefix) of each CUDA-visible device in CUDA's logical order, from the environment.

    Integer entries of ``CUDA_VISIBLE_DEVICES`` name NVML indices only when CUDA_DEVICE_ORDER is
    PCI_BUS_ID; the caller resolves them with NVML. ``None`` marks an entry given as an index.
    """
    raw = os.environ.get("CUDA_VISIBLE_DEVICES")
    if raw is None:
        return []
    entries = [e.strip() for e in raw.split(",") if e.strip()]
    out: list[str | None] = []
    for entry in entries:
        if entry.startswith(("GPU-", "MIG-")):
            out.append(entry)
        elif entry.lstrip("-").isdigit():
            if int(entry) < 0:
                break  # CUDA stops at the first invalid entry
            out.append(None)
        else:
            break
    return out


def _torch_uuid(index: int) -> str | None:
    try:
        import torch

        if torch.cuda.is_available() and index < torch.cuda.device_count():
            return "GPU-" + str(torch.cuda.get_device_properties(index).uuid)
    except Exception:  # noqa: BLE001 - torch absent or CUDA broken: fall back to the environment
        return None
    return None


def resolve_handles(pynvml: Any, gpus: list[int] | None) -> list[tuple[str, Any]]:
    """(uuid, handle) for each selected logical GPU; all visible GPUs when ``gpus`` is None."""
    env_uuids = visible_uuids()
    count_nvml = pynvml.nvmlDeviceGetCount()
    raw_env = os.environ.get("CUDA_VISIBLE_DEVICES")
    n_visible = len(env_uuids) if raw_env is not None else count_nvml
    indices = list(range(n_visible)) if gpus is None else gpus
    out: list[tuple[str, Any]] = []
    for logical in indices:
        if logical < 0 or logical >= n_visible:
            raise TelemetryUnavailable(f"GPU {logical} is not visible: {n_visible} GPU(s) visible")
        uuid = _torch_uuid(logical)
        if uuid is None and raw_env is not None:
            entry = env_uuids[logical]
            if entry is not None:
                uuid = entry
            else:
                physical = int(raw_env.split(",")[logical])
                uuid = _decode(pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(physical)))
        if uuid is None:
            uuid = _decode(pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(logical)))
        handle = _handle_by_uuid(pynvml, uuid, count_nvml)
        out.append((_decode(pynvml.nvmlDeviceGetUUID(handle)), handle))
    return out


def _handle_by_uuid(pynvml: Any, uuid: str, count: int) -> Any:
    try:
        return pynvml.nvmlDeviceGetHandleByUUID(uuid)
    except pynvml.NVMLError:
        # CUDA_VISIBLE_DEVICES accepts unique UUID prefixes; NVML wants the whole UUID
        for i in range(count):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            if _decode(pynvml.nvmlDeviceGetUUID(handle)).startswith(uuid):
                return handle
    raise TelemetryUnavailable(f"no NVML device with UUID {uuid}")


class NvmlEnergyMeter:
    """Cumulative energy of one GPU from ``nvmlDeviceGetTotalEnergyConsumption`` (mJ, Volta+)."""

    component = "gpu"
    source = "nvml-counter"
    estimated = False
    update_period_s = NVML_UPDATE_PERIOD_S

    def __init__(self, pynvml: Any, uuid: str, handle: Any) -> None:
        self._pynvml = pynvml
        self._handle = handle
        self.device = uuid
        self._wrap = WrapTracker(max_range=None)  # 64-bit mJ counter: a decrease means a reset
        self.errors = 0
        self._last_j = 0.0
        # fail now (at the border) if this GPU has no energy counter
        try:
            pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        except pynvml.NVMLError as exc:
            raise TelemetryUnavailable(f"GPU {uuid} has no NVML energy counter: {exc}") from exc

    @property
    def nvml(self) -> Any:
        return self._pynvml

    @property
    def handle(self) -> Any:
        return self._handle

    def read_energy_j(self, now_s: float) -> float:
        try:
            raw_mj = float(self._pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
        except self._pynvml.NVMLError:
            self.errors += 1  # transient NVML errors keep the last value: no energy is invented
            return self._last_j
        self._last_j = self._wrap.update(raw_mj) / 1000.0
        return self._last_j

    def sm_clock_mhz(self) -> int | None:
        """The SM clock now: launch-bound phases leave the GPU mostly idle, and where the driver then
        lowers clocks each small kernel runs longer; stored per phase to explain latency drift."""
        try:
            return int(self._pynvml.nvmlDeviceGetClockInfo(self._handle, self._pynvml.NVML_CLOCK_SM))
        except self._pynvml.NVMLError:
            self.errors += 1
            return None

    def temperature_c(self) -> int | None:
        """GPU core temperature now: stored with idle baselines (a warm card idles higher)."""
        try:
            return int(self._pynvml.nvmlDeviceGetTemperature(self._handle, self._pynvml.NVML_TEMPERATURE_GPU))
        except self._pynvml.NVMLError:
            self.errors += 1
            return None

    def close(self) -> None:
        nvml_shutdown()


@dataclass(frozen=True)
class GpuState(AsDict):
    """What a GPU looked like at the start of a run (stored with every measurement)."""

    uuid: str
    name: str
    driver: str
    power_limit_w: float | None
    sm_clock_mhz: int | None
    mem_clock_mhz: int | None
    temperature_c: int | None


def gpu_state(pynvml: Any, uuid: str, handle: Any) -> GpuState:
    def safe(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except pynvml.NVMLError:
            return None

    limit_mw = safe(pynvml.nvmlDeviceGetEnforcedPowerLimit, handle)
    return GpuState(
        uuid=uuid,
        name=_decode(safe(pynvml.nvmlDeviceGetName, handle) or "unknown"),
        driver=_decode(safe(pynvml.nvmlSystemGetDriverVersion) or "unknown"),
        power_limit_w=None if limit_mw is None else limit_mw / 1000.0,
        sm_clock_mhz=safe(pynvml.nvmlDeviceGetClockInfo, handle, pynvml.NVML_CLOCK_SM),
        mem_clock_mhz=safe(pynvml.nvmlDeviceGetClockInfo, handle, pynvml.NVML_CLOCK_MEM),
        temperature_c=safe(pynvml.nvmlDeviceGetTemperature, handle, pynvml.NVML_TEMPERATURE_GPU),
    )


def open_gpu_meters(gpus: list[int] | None) -> tuple[list[NvmlEnergyMeter], list[GpuState]]:
    """Meters and start states for the selected GPUs; raise TelemetryUnavailable when impossible."""
    pynvml = nvml_init()
    try:
        pairs = resolve_handles(pynvml, gpus)
        meters: list[NvmlEnergyMeter] = []
        for uuid, handle in pairs:
            nvml_init()  # one reference per meter; released by its close()
            meters.append(NvmlEnergyMeter(pynvml, uuid, handle))
        states = [gpu_state(pynvml, uuid, handle) for uuid, handle in pairs]
    finally:
        nvml_shutdown()
    return meters, states
