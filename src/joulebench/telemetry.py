"""``joulebench env``: which energy telemetry this machine offers, and what would be estimated."""

from __future__ import annotations

from typing import Any

from joulebench.environment import library_versions
from joulebench.errors import TelemetryUnavailable
from joulebench.meters.estimates import RamEstimateMeter, cpu_power_model
from joulebench.meters.nvml import open_gpu_meters
from joulebench.meters.rapl import POWERCAP_ROOT, find_rapl_domains


def describe() -> dict[str, Any]:
    doc: dict[str, Any] = {}
    try:
        meters, states = open_gpu_meters(None)
        doc["gpu"] = {"source": "nvml-counter", "devices": [s.to_dict() for s in states]}
        for m in meters:
            m.close()
    except TelemetryUnavailable as exc:
        doc["gpu"] = {"source": None, "reason": str(exc)}
    domains = find_rapl_domains()
    if domains:
        doc["rapl"] = [{"name": d.name, "component": d.component, "path": str(d.path)} for d in domains]
    else:
        doc["rapl"] = f"none readable under {POWERCAP_ROOT}"
    cpu = cpu_power_model()
    if not any(d.component == "cpu" for d in domains):
        doc["cpu"] = {"source": "estimate-cpu-tdp-util", "estimated": True, **cpu.to_dict()}
    else:
        doc["cpu"] = {"source": "rapl", "estimated": False}
    if not any(d.component == "ram" for d in domains):
        doc["ram"] = {"source": "estimate-ram-3w-per-8gb", "estimated": True, "power_w": RamEstimateMeter().power_w}
    else:
        doc["ram"] = {"source": "rapl", "estimated": False}
    doc["libraries"] = library_versions()
    return doc
