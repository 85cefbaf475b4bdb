"""Physics floors and flags for every figure the report shows.

A measured figure is only believable next to what physics allows (DESIGN "physics first"):

* **energy floor** ``idle_power_w x latency_s`` per component: a card draws at least its idle power
  while it works, so a phase reading below it is a metering fault (a 40 ms window read across one
  100 ms counter tick reads 0 J; DESIGN.md);
* **latency floor** of an LLM phase: ``max(FLOPs / peak FLOP/s, bytes / peak bandwidth)`` from the
  analytic model's own FLOP and byte counts (``analytic.llm_features``) and the catalogue's ceilings;
  of a video denoising step: the counted FLOPs (stored with the point) over the dense peak.

A metered figure under its floor by more than `FLOOR_TOLERANCE` is flagged ``below floor``; a metered
reading whose energy 95% CI, or whose mean latency's 95% CI (Student t over its repetitions), is wider
than `UNSTABLE_REL` of its value is flagged ``unstable``; estimates (no meter) are flagged ``estimated``
and nothing else: they are built from idle power, so their floor and spread say nothing. Flags that the measurement
stored itself (``flags``, ``check_failures``, ``warnings`` and any ``ratio_to_floor`` below 1) are
carried over verbatim. The report shows flags beside the figure, never the figure alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from joulebench.errors import UsageError
from joulebench.report.data import PointData, RunData

#: the idle baseline itself is measured; 1% below idle x time is within its noise
FLOOR_TOLERANCE = 0.01
#: relative 95% CI (energy) or relative standard deviation (latency) above which a reading is unstable
UNSTABLE_REL = 0.10

ESTIMATED, UNSTABLE, BELOW_FLOOR, FAILED = "estimated", "unstable", "below floor", "failed"


@dataclass(frozen=True)
class Reading:
    """One phase x component figure of a point as the report shows it, with its floors and flags."""

    phase: str
    component: str
    latency_s: float | None
    energy_j: float | None
    ci95_j: float | None
    source: str | None
    estimated: bool
    energy_floor_j: float | None
    latency_floor_s: float | None
    flags: tuple[str, ...]

    @property
    def energy_ratio_to_floor(self) -> float | None:
        if self.energy_j is None or not self.energy_floor_j:
            return None
        return self.energy_j / self.energy_floor_j

    @property
    def latency_ratio_to_floor(self) -> float | None:
        if self.latency_s is None or not self.latency_floor_s:
            return None
        return self.latency_s / self.latency_floor_s


def readings(point: PointData, run: RunData | None) -> list[Reading]:
    """The aggregate rows (repetition -1) of a point's measurements, each with floors and flags."""
    idle = run.idle_power_w if run is not None else {}
    latency_floors = phase_latency_floors(point, run)
    out = []
    latency_cis = {phase: _latency_ci95_s(doc) for phase, doc in point.summary.items() if isinstance(doc, Mapping)}
    for row in point.measurements:
        if row.get("repetition") != -1 or row.get("component") == "time":
            continue
        phase, component = str(row.get("phase")), str(row.get("component"))
        latency, energy, ci = _num(row.get("latency_s")), _num(row.get("energy_j")), _num(row.get("ci95_j"))
        estimated = bool(row.get("estimated"))
        e_floor = idle[component] * latency if component in idle and latency is not None else None
        t_floor = latency_floors.get(phase)
        latency_ci = latency_cis.get(phase)
        flags = [ESTIMATED] if estimated else []
        if not estimated:  # an estimate is idle-based by construction: its floor and spread say nothing
            if _unstable(energy, ci) or _unstable(latency, latency_ci):
                flags.append(UNSTABLE)
            if _below(energy, e_floor) or _below(latency, t_floor):
                flags.append(BELOW_FLOOR)
        out.append(Reading(phase, component, latency, energy, ci, _str(row.get("source")), estimated, e_floor, t_floor,
                           tuple(flags)))
    return out


def _latency_ci95_s(doc: Mapping[str, Any]) -> float | None:
    """Half-width of the 95% CI of a phase's mean latency (Student t over its repetitions): the spread of
    single repetitions of a 20 ms call is not the uncertainty of their mean."""
    std, reps = _num(doc.get("latency_std_s")), doc.get("reps")
    if std is None or not isinstance(reps, int) or reps < 2:
        return None
    from joulebench.calibration.fits import t_quantile

    return t_quantile(reps - 1) * std / reps**0.5


def _unstable(value: float | None, ci95: float | None) -> bool:
    return bool(value) and ci95 is not None and value is not None and ci95 / value > UNSTABLE_REL


def point_flags(point: PointData) -> list[str]:
    """Flags the point carries as a whole: failed status, and what the measurement stored itself."""
    out = [f"{FAILED}: {point.error}" if point.error else FAILED] if point.status != "ok" else []
    for key in ("flags", "check_failures", "warnings"):
        value = point.summary.get(key)
        if isinstance(value, list):
            out += [str(v) for v in value]
    for path, ratio in _ratios_to_floor(point.summary):
        if ratio < 1.0:
            out.append(f"{BELOW_FLOOR}: stored {path}={ratio:.3g}")
    for phase, doc in point.summary.items():
        if isinstance(doc, Mapping) and isinstance(doc.get("flags"), list):
            out += [f"{phase}: {f}" for f in doc["flags"]]
    return out


def _ratios_to_floor(doc: Any, path: str = "") -> Iterator[tuple[str, float]]:
    if isinstance(doc, Mapping):
        for key, value in doc.items():
            where = f"{path}.{key}" if path else str(key)
            if key == "ratio_to_floor" and isinstance(value, (int, float)):
                yield where, float(value)
            else:
                yield from _ratios_to_floor(value, where)


def phase_latency_floors(point: PointData, run: RunData | None) -> dict[str, float]:
    """Latency floor per phase (s) where the model, the GPU and the precision are known; else empty."""
    gpu = run.gpu_name if run is not None else None
    cfg = point.config
    if gpu is None or cfg.get("device") not in (None, "cuda"):
        return {}
    if point.kind == "llm":
        return _llm_floors(str(cfg.get("model")), gpu, str(cfg.get("dtype")), cfg.get("prompt_tokens"),
                           cfg.get("output_tokens"), cfg.get("batch", 1))
    if point.kind == "video":
        return _video_floors(point, gpu, str(cfg.get("dtype")))
    return {}


def _llm_floors(model: str, gpu: str, dtype: str, s: Any, g: Any, b: Any) -> dict[str, float]:
    if not all(isinstance(v, int) and v >= 1 for v in (s, g, b)):
        return {}
    key = _floor_key(model, gpu, dtype)
    if key is None:
        return {}
    from joulebench.analytic.floors import llm_floors

    arch, acc, prec = key
    try:  # the one floor every measured LLM phase is held to (analytic.floors)
        floors = llm_floors(arch, prec, acc, s, max(g, 2), b)
    except UsageError:  # the card has no peak for the precision
        return {}
    out = {phase: floors[phase].latency_s for phase in ("prefill", "decode")}
    if g < 2:
        out.pop("decode", None)
    out["request"] = sum(out.values())
    return out


def _video_floors(point: PointData, gpu: str, dtype: str) -> dict[str, float]:
    step = point.summary.get("dit_step")
    flops = _num(step.get("flops_counted")) if isinstance(step, Mapping) else None
    acc_prec = _accelerator(gpu, dtype)
    if flops is None or acc_prec is None:
        return {}
    acc, prec = acc_prec
    return {"dit_step": flops / acc.peak_flops(prec.compute)}


@cache
def _accelerator(gpu: str, dtype: str) -> tuple[Any, Any] | None:
    """The catalogue entry of a stored GPU name and the precision of a stored dtype; None when either is
    unknown (a user's own card, a dtype the predictor has no peak for)."""
    from joulebench.analytic import precision_for
    from joulebench.hardware.catalogue import get_accelerator, name_for_device

    name = name_for_device(gpu)
    if name is None:
        return None
    try:
        acc, prec = get_accelerator(name), precision_for(dtype)
        acc.peak_flops(prec.compute)
    except UsageError:
        return None
    return acc, prec


@cache
def _floor_key(model: str, gpu: str, dtype: str) -> tuple[Any, Any, Any] | None:
    """Bundled architectures only: a name stored in a database is never looked up on the hub or read as
    a local path (a report must not reach out, nor read files a database names)."""
    from joulebench.analytic import llm_arch
    from joulebench.models.configs import bundled_names

    acc_prec = _accelerator(gpu, dtype)
    if acc_prec is None or model.lower() not in bundled_names("models"):
        return None
    try:
        return llm_arch(model), acc_prec[0], acc_prec[1]
    except UsageError:
        return None


def _below(value: float | None, floor: float | None) -> bool:
    return value is not None and floor is not None and floor > 0 and value < floor * (1.0 - FLOOR_TOLERANCE)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
