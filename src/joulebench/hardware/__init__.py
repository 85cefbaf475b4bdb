"""Accelerator ceilings: a datasheet catalogue (SI units, each value with its source) and a probe.

The analytic model only ever sees an `Accelerator`; where it came from (datasheet row, user YAML,
probe on the machine at hand) is recorded in its ``sources``.
"""

from __future__ import annotations

from joulebench.hardware.catalogue import (
    PRECISIONS,
    Accelerator,
    catalogue,
    detect_name,
    get_accelerator,
    load_user_entries,
    names,
)

__all__ = [
    "PRECISIONS",
    "Accelerator",
    "catalogue",
    "detect_name",
    "get_accelerator",
    "load_user_entries",
    "names",
]
