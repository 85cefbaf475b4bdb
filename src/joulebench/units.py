"""Unit conversions at the edges. Joules and seconds inside; Wh and kWh only in reports."""

from __future__ import annotations

J_PER_WH = 3600.0
J_PER_KWH = 3.6e6


def j_to_wh(energy_j: float) -> float:
    return energy_j / J_PER_WH


def wh_to_j(energy_wh: float) -> float:
    return energy_wh * J_PER_WH


def j_to_kwh(energy_j: float) -> float:
    return energy_j / J_PER_KWH
