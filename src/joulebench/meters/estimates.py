"""Labelled estimates for components that have no counter on this machine (CPU without RAPL, RAM).

CPU model: P(u) = P_idle + (P_max - P_idle) * u, the linear utilisation model of Fan, Weber and
Barroso, "Power provisioning for a warehouse-sized computer" (ISCA 2007), with u the host CPU
utilisation from ``psutil`` and P_max the share of the package TDP that belongs to the logical CPUs
this machine sees (TDP / threads-per-package * visible threads). P_idle = 30% of P_max, about the idle
share of recent servers in SPECpower_ssj2008 results. TDPs come from the vendors' product pages
(Intel ARK, AMD product specifications); unknown CPUs use a per-thread default of 5 W (a 64-thread,
320 W server part), labelled as such.

RAM model: 3 W per 8 GB of installed memory (0.375 W/GB), the rule CodeCarbon takes from Micron's DDR4
power guidance; constant in load, since DRAM background and refresh power dominate at inference loads.
Both are estimates and are labelled so wherever they go.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from joulebench.values import AsDict

#: (name pattern, package TDP W, threads per package, source)
CPU_TDP_TABLE: tuple[tuple[str, float, int, str], ...] = (
    (r"Xeon\(R\) Platinum 8480\+?", 350.0, 112, "Intel ARK: Xeon Platinum 8480+ (350 W, 56C/112T)"),
    (r"Xeon\(R\) Platinum 8468", 350.0, 96, "Intel ARK: Xeon Platinum 8468 (350 W, 48C/96T)"),
    (r"Xeon\(R\) Platinum 8462Y\+?", 300.0, 64, "Intel ARK: Xeon Platinum 8462Y+ (300 W, 32C/64T)"),
    (r"Xeon\(R\) Platinum 8375C", 300.0, 64, "Intel ARK: Xeon Platinum 8375C (300 W, 32C/64T)"),
    (r"Xeon\(R\) Platinum 8358", 250.0, 64, "Intel ARK: Xeon Platinum 8358 (250 W, 32C/64T)"),
    (r"Xeon\(R\) Platinum 8275CL", 240.0, 48, "Intel ARK: Xeon Platinum 8275CL (240 W, 24C/48T)"),
    (r"Xeon\(R\) Platinum 8259CL", 210.0, 48, "Intel ARK: Xeon Platinum 8259CL (210 W, 24C/48T)"),
    (r"EPYC 9654", 360.0, 192, "AMD: EPYC 9654 (360 W, 96C/192T)"),
    (r"EPYC 9554", 360.0, 128, "AMD: EPYC 9554 (360 W, 64C/128T)"),
    (r"EPYC 9454", 290.0, 96, "AMD: EPYC 9454 (290 W, 48C/96T)"),
    (r"EPYC 9R14", 400.0, 192, "AMD: EPYC 9R14 (AWS custom 96C/192T; 9684X-class 400 W)"),
    (r"EPYC 7R13", 280.0, 96, "AMD: EPYC 7R13 (AWS custom 48C/96T, 7643-class 280 W)"),
    (r"EPYC 7763", 280.0, 128, "AMD: EPYC 7763 (280 W, 64C/128T)"),
    (r"EPYC 7742", 225.0, 128, "AMD: EPYC 7742 (225 W, 64C/128T)"),
    (r"EPYC 7B13", 240.0, 128, "AMD: EPYC 7B13 (GCP custom 64C/128T, 240 W)"),
)
DEFAULT_W_PER_THREAD = 5.0
IDLE_FRACTION = 0.30
RAM_W_PER_GB = 3.0 / 8.0


def cpu_model_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    import platform

    return platform.processor() or "unknown"


@dataclass(frozen=True)
class CpuPowerModel(AsDict):
    model_name: str
    p_max_w: float
    p_idle_w: float
    threads: int
    basis: str  # which table row or default gave p_max_w


def cpu_power_model(model_name: str | None = None, threads: int | None = None) -> CpuPowerModel:
    name = model_name if model_name is not None else cpu_model_name()
    n = threads if threads is not None else (psutil.cpu_count(logical=True) or 1)
    for pattern, tdp_w, threads_per_pkg, source in CPU_TDP_TABLE:
        if re.search(pattern, name):
            p_max = tdp_w / threads_per_pkg * n
            return CpuPowerModel(name, p_max, IDLE_FRACTION * p_max, n, source)
    p_max = DEFAULT_W_PER_THREAD * n
    return CpuPowerModel(name, p_max, IDLE_FRACTION * p_max, n, f"default {DEFAULT_W_PER_THREAD} W per thread")


class _EstimateMeter:
    """What every labelled estimate shares: ``estimated`` set, a continuous trace (no counter ticks)."""

    component: str
    source: str
    device: str
    estimated = True
    update_period_s = 0.0

    def close(self) -> None:
        return None


class CpuEstimateMeter(_EstimateMeter):
    """Integrates the utilisation model at every sample (so its trace is continuous)."""

    component = "cpu"
    source = "estimate-cpu-tdp-util"

    def __init__(self, model: CpuPowerModel | None = None) -> None:
        self.model = model or cpu_power_model()
        self.device = "host-cpu"
        self._energy_j = 0.0
        self._last_s: float | None = None
        self._last_cpu = psutil.cpu_times()
        self._util = 0.0
        self._util_stamp = time.perf_counter()

    def _utilisation(self, now_s: float) -> float:
        # psutil's utilisation needs ~10 ms between reads to mean anything; reuse the last value in between
        if now_s - self._util_stamp >= 0.05:
            self._util = psutil.cpu_percent(interval=None) / 100.0
            self._util_stamp = now_s
        return self._util

    def read_energy_j(self, now_s: float) -> float:
        if self._last_s is None:
            psutil.cpu_percent(interval=None)  # prime the counter
            self._last_s = now_s
            return 0.0
        u = self._utilisation(now_s)
        power_w = self.model.p_idle_w + (self.model.p_max_w - self.model.p_idle_w) * u
        self._energy_j += power_w * (now_s - self._last_s)
        self._last_s = now_s
        return self._energy_j


class RamEstimateMeter(_EstimateMeter):
    """Constant power proportional to installed memory (see module docstring)."""

    component = "ram"
    source = "estimate-ram-3w-per-8gb"

    def __init__(self, total_bytes: int | None = None) -> None:
        total = total_bytes if total_bytes is not None else psutil.virtual_memory().total
        self.power_w = total / 1e9 * RAM_W_PER_GB
        self.device = "host-ram"
        self._origin_s: float | None = None

    def read_energy_j(self, now_s: float) -> float:
        if self._origin_s is None:
            self._origin_s = now_s
        return self.power_w * (now_s - self._origin_s)
