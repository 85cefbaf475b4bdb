"""The NVML meter and GPU selection, against a stand-in for pynvml that replays a recorded H200
counter stream (CI has no GPU; the values are real readings)."""

from __future__ import annotations

import numpy as np
import pytest

from joulebench.errors import TelemetryUnavailable
from joulebench.meters.nvml import NvmlEnergyMeter, resolve_handles, visible_uuids
from joulebench.meters.trace import EnergyTrace, aligned_energy_per_rep

from .conftest import load_stream


class NVMLError(Exception):
    pass


class ReplayNvml:
    """Just enough of pynvml: devices by index/UUID and an energy counter replaying recorded mJ."""

    NVMLError = NVMLError

    def __init__(self, uuids: list[str], energy_mj: list[float], fail_at: set[int] | None = None) -> None:
        self.uuids = uuids
        self.energy_mj = energy_mj
        self.calls = 0
        self.fail_at = fail_at or set()

    def nvmlDeviceGetCount(self) -> int:
        return len(self.uuids)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> str:
        return self.uuids[i]

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> str:
        if uuid not in self.uuids:
            raise NVMLError("not found")
        return uuid

    def nvmlDeviceGetUUID(self, handle: str) -> str:
        return handle

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: str) -> float:
        i = min(self.calls, len(self.energy_mj) - 1)
        self.calls += 1
        if i in self.fail_at:
            raise NVMLError("GPU is lost")
        return self.energy_mj[i]


def test_meter_replays_recorded_stream_and_window_is_accurate() -> None:
    stream = load_stream("40ms")
    raw_mj = [e * 1000.0 + 5e9 for e in stream["energy_j"]]  # absolute counter values since driver load
    nvml = ReplayNvml(["GPU-aaaa"], raw_mj)
    meter = NvmlEnergyMeter(nvml, "GPU-aaaa", "GPU-aaaa")
    nvml.calls = 0
    trace = EnergyTrace()
    for t in stream["t_s"]:
        trace.append(t, meter.read_energy_j(t))
    est = aligned_energy_per_rep(trace, np.asarray(stream["spans"]))
    assert est.energy_per_rep_j == pytest.approx(stream["reference_j_per_call"], rel=0.01)


def test_counter_reset_and_nvml_errors_do_not_invent_energy() -> None:
    nvml = ReplayNvml(["GPU-a"], [0, 1000.0, 2000.0, 2000.0, 500.0, 1500.0], fail_at={3})
    meter = NvmlEnergyMeter(nvml, "GPU-a", "GPU-a")
    nvml.calls = 0
    values = [meter.read_energy_j(float(i)) for i in range(6)]
    # 0, 1 J, 2 J, error -> keep 2 J, reset to 0.5 J -> +0.5, then +1
    assert values == pytest.approx([0.0, 1.0, 2.0, 2.0, 2.5, 3.5])
    assert meter.errors == 1


def test_selection_maps_cuda_visible_devices_through_uuids(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = ReplayNvml(["GPU-1111", "GPU-2222", "GPU-3333"], [0.0])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-3333,GPU-1111")
    monkeypatch.setattr("joulebench.meters.nvml._torch_uuid", lambda i: None)
    assert [u for u, _ in resolve_handles(nvml, None)] == ["GPU-3333", "GPU-1111"]
    assert [u for u, _ in resolve_handles(nvml, [1])] == ["GPU-1111"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    assert visible_uuids() == [None, None]
    assert [u for u, _ in resolve_handles(nvml, [0])] == ["GPU-3333"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-22")  # unique prefix, as CUDA accepts
    assert [u for u, _ in resolve_handles(nvml, None)] == ["GPU-2222"]
    with pytest.raises(TelemetryUnavailable, match="not visible"):
        resolve_handles(nvml, [3])


def test_sm_clock_read_and_an_nvml_error_reads_none() -> None:
    class ClockNvml(ReplayNvml):
        NVML_CLOCK_SM = 1
        clock_fails = False

        def nvmlDeviceGetClockInfo(self, handle: str, which: int) -> int:
            if self.clock_fails:
                raise NVMLError("not supported")
            return 1980 if which == self.NVML_CLOCK_SM else 0

    nvml = ClockNvml(["GPU-a"], [0.0])
    meter = NvmlEnergyMeter(nvml, "GPU-a", "GPU-a")
    assert meter.sm_clock_mhz() == 1980
    nvml.clock_fails = True
    assert meter.sm_clock_mhz() is None
    assert meter.errors == 1
