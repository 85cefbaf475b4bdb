"""What a workload hands back for one point: a summary, measurement rows and detail records.

A plain value, so that workloads depend on it and on nothing of the runner or the store's writing
side (workloads never write to the store; the experiments Runner does)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from joulebench.store import MeasurementRow


@dataclass(frozen=True)
class PointResult:
    """What a workload returns for one point."""

    summary: dict[str, Any]
    measurements: list[MeasurementRow] = field(default_factory=list)
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
