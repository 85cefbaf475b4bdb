"""The checks an LLM point makes on its own figures: consistency of the phases, their physical floors.

Consistency: prefill (its own repeated window) plus decode (inside the request) should make the request,
within +-5% in latency and in each metered component's energy. What a miss means depends on why: if
the gap is within a few times the phases' own confidence intervals it may be noise and re-measuring can
settle it; if the intervals are tight and the gap is not, it is structural (``generate`` doing work
outside its prefill and decode - tiny models on a CPU spend most of a request in Python), re-measuring
cannot close it and the point is flagged at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CONSISTENCY_TOLERANCE = 0.05
#: interleaved rounds go on until each phase's 95% CI half-width is within this share of its mean
STABILITY_TARGET_REL_CI = 0.02
#: a gap is "plausibly noise" when it is within this many combined relative 95% half-widths
NOISE_FACTOR = 3.0


def consistency(pre: Mapping[str, Any], dec: Mapping[str, Any], req: Mapping[str, Any]) -> dict[str, Any]:
    """(prefill + decode) / request for latency and each component's energy; near 1 when windows are right."""
    out: dict[str, Any] = {"latency_ratio": (pre["latency_s"] + dec["latency_s"]) / req["latency_s"]}
    for component, total in req["energy_j"].items():
        if total and total > 0 and component in pre["energy_j"] and component in dec["energy_j"]:
            out[f"energy_ratio_{component}"] = (pre["energy_j"][component] + dec["energy_j"][component]) / total
    out["tolerance"] = CONSISTENCY_TOLERANCE
    return out


def _relative_halfwidth(phase: Mapping[str, Any], component: str | None) -> float:
    if component is None:
        reps = max(int(phase.get("reps") or 1), 1)
        return 2.0 * float(phase.get("latency_std_s") or 0.0) / max(phase["latency_s"], 1e-12) / reps**0.5
    ci = (phase.get("ci95_j") or {}).get(component)
    energy = (phase.get("energy_j") or {}).get(component) or 0.0
    return float(ci) / energy if ci is not None and ci == ci and energy > 0 else 0.0


def inconsistent(ratios: Mapping[str, Any], phases: Mapping[str, Mapping[str, Any]],
                 estimated: Mapping[str, bool]) -> tuple[list[str], bool]:
    """The quantities outside tolerance (estimates are not held to it) and whether re-measuring could help."""
    misses: list[str] = []
    noise = True
    for key, ratio in ratios.items():
        if key == "tolerance" or not isinstance(ratio, float):
            continue
        component = None if key == "latency_ratio" else key.removeprefix("energy_ratio_")
        if component is not None and estimated.get(component, False):
            continue
        gap = abs(ratio - 1.0)
        if gap <= CONSISTENCY_TOLERANCE:
            continue
        misses.append(f"{key}={ratio:.3f}")
        spread = sum(_relative_halfwidth(phases[p], component) for p in ("prefill", "decode", "request"))
        if gap > NOISE_FACTOR * max(spread, 1e-3):
            noise = False
    return misses, bool(misses) and noise


def floor_report(floors: Mapping[str, Any], phase: Mapping[str, Any], name: str, tokens: int) -> dict[str, Any]:
    """The phase's floor and its ratios to it (per repetition); ratios below 1 are a miscount."""
    floor = floors[name]
    out: dict[str, Any] = {"floor": floor.to_dict()}
    if floor.latency_s > 0:
        out["latency_ratio_to_floor"] = phase["latency_s"] / floor.latency_s
    gpu = (phase.get("energy_j") or {}).get("gpu")
    if gpu is not None and floor.energy_j > 0:
        out["energy_ratio_to_floor"] = gpu / floor.energy_j
    if name == "decode" and tokens > 0:
        out["floor"]["latency_per_token_s"] = floor.latency_s / tokens
    return out


def below_floor(report: Mapping[str, Any]) -> bool:
    return any(report.get(k, 2.0) < 1.0 for k in ("latency_ratio_to_floor", "energy_ratio_to_floor"))


def unstable(phase: Mapping[str, Any]) -> bool:
    """Whether the phase's latency or any metered energy is known only to worse than the target: shown
    flagged rather than plain (a decode of 5.8 s +- 4.2 s over two repetitions is not a figure)."""
    if int(phase.get("reps") or 0) < 2:
        return False
    if _relative_halfwidth(phase, None) > STABILITY_TARGET_REL_CI:
        return True
    estimated = phase.get("estimated") or {}
    return any(_relative_halfwidth(phase, c) > STABILITY_TARGET_REL_CI for c in (phase.get("energy_j") or {})
               if not estimated.get(c, False))
