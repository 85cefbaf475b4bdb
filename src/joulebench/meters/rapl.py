"""CPU package and DRAM energy from Linux RAPL (``/sys/class/powercap/intel-rapl*``).

Each domain exposes ``energy_uj``, which wraps at ``max_energy_range_uj``. Many VMs (our GPU and CPU
machines included) expose no powercap tree or make it unreadable; `find_rapl_domains` then returns
nothing and the caller falls back to a labelled estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from joulebench.meters.base import WrapTracker

POWERCAP_ROOT = Path("/sys/class/powercap")


@dataclass(frozen=True)
class RaplDomain:
    path: Path
    name: str  # "package-0", "dram", "core", ...
    component: str  # "cpu" for package domains, "ram" for dram
    max_energy_range_uj: int


def _read_int(path: Path) -> int:
    return int(path.read_text().strip())


def find_rapl_domains(root: Path = POWERCAP_ROOT) -> list[RaplDomain]:
    """Readable package and dram domains (sub-domains such as core/uncore are inside package)."""
    domains: list[RaplDomain] = []
    if not root.is_dir():
        return domains
    for zone in sorted(root.glob("intel-rapl:*")):
        name_file = zone / "name"
        if not name_file.is_file():
            continue
        name = name_file.read_text().strip()
        if name.startswith("package"):
            component = "cpu"
        elif name == "dram":
            component = "ram"
        else:
            continue
        try:
            _read_int(zone / "energy_uj")
            max_range = _read_int(zone / "max_energy_range_uj")
        except (OSError, ValueError):
            continue  # present but unreadable (common without root): not usable
        domains.append(RaplDomain(zone, f"{name}@{zone.name}", component, max_range))
    return domains


class RaplMeter:
    """Cumulative energy of one RAPL domain, undoing wraparound at ``max_energy_range_uj``."""

    source = "rapl"
    estimated = False
    update_period_s = 0.001  # RAPL updates about every millisecond

    def __init__(self, domain: RaplDomain) -> None:
        self.domain = domain
        self.component = domain.component
        self.device = domain.name
        self._wrap = WrapTracker(max_range=float(domain.max_energy_range_uj))
        self._last_j = 0.0

    def read_energy_j(self, now_s: float) -> float:
        try:
            raw_uj = float(_read_int(self.domain.path / "energy_uj"))
        except (OSError, ValueError):
            return self._last_j
        self._last_j = self._wrap.update(raw_uj) / 1e6
        return self._last_j

    def close(self) -> None:
        return None
