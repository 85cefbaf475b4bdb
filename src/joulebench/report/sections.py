"""From stored points to the rows the report shows: one view per point, per serving arm, per video point.

No drawing and no HTML here: plain frozen values that `report.html` renders and `report.figures`
draws, so that both show the same numbers. Every figure keeps its flags (`report.floors`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from joulebench.report.data import PointData, RunData, StoreData, points_of
from joulebench.report.floors import ESTIMATED, Reading, point_flags, readings

COMPONENTS = ("gpu", "cpu", "ram")


@dataclass(frozen=True)
class PointView:
    store: str
    point_id: int
    run_id: int
    kind: str
    label: str
    model: str
    status: str
    config: Mapping[str, Any]
    readings: tuple[Reading, ...]
    flags: tuple[str, ...]  # the point's own (failed, stored checks and warnings)

    def phases(self) -> list[str]:
        return list(dict.fromkeys(r.phase for r in self.readings))

    def reading(self, phase: str, component: str) -> Reading | None:
        return next((r for r in self.readings if r.phase == phase and r.component == component), None)

    def phase_energy_j(self, phase: str) -> tuple[float | None, bool]:
        """Sum over components of one phase, and whether any part is estimated."""
        parts = [r for r in self.readings if r.phase == phase and r.energy_j is not None]
        if not parts:
            return None, False
        return sum(r.energy_j or 0.0 for r in parts), any(r.estimated for r in parts)

    def all_flags(self) -> list[str]:
        return list(self.flags) + sorted({f for r in self.readings for f in r.flags if f != ESTIMATED})


@dataclass(frozen=True)
class ArmView:
    """One serving arm: its arrival law, service figures and energy per request."""

    point: PointView
    arm: str
    arrival: str
    law: str
    completed: int | None
    failed: int | None
    ttft_s: Mapping[str, float | None]
    tpot_s: Mapping[str, float | None]
    e2e_s: Mapping[str, float | None]
    requests_per_s: float | None
    j_per_request: float | None
    j_per_output_token: float | None
    steady_j_per_output_token: float | None
    estimated_components: tuple[str, ...]
    request_energies_j: tuple[float, ...]  # attributed energy of each completed request, all components


@dataclass(frozen=True)
class VideoView:
    point: PointView
    frames: int | None
    height: int | None
    width: int | None
    steps: int | None
    latent_tokens: int | None
    step: Reading | None  # dit_step, GPU
    achieved_flops_per_s: float | None
    request_energy_j: float | None
    request_latency_s: float | None
    extrapolated: bool
    request_estimated: bool  # the request energy includes estimated components


def point_label(point: PointData) -> str:
    cfg = point.config
    if point.kind == "llm":
        return (f"{cfg.get('model')} {cfg.get('dtype')} b={cfg.get('batch')} s={cfg.get('prompt_tokens')} "
                f"g={cfg.get('output_tokens')}" + (f" {cfg['engine']}" if cfg.get("engine") else ""))
    if point.kind == "video":
        return (f"{cfg.get('model')} {cfg.get('dtype')} {cfg.get('frames')}x{cfg.get('height')}x{cfg.get('width')} "
                f"steps={cfg.get('steps')}")
    if point.kind == "serving":
        return f"{cfg.get('name') or point.summary.get('arm')} ({cfg.get('arrival')})"
    return f"{point.kind} point {point.id}"


def _model(point: PointData) -> str:
    cfg = point.config
    engine = cfg.get("engine")
    if isinstance(engine, Mapping):
        return str(engine.get("model") or cfg.get("model"))
    return str(cfg.get("model") or point.summary.get("model"))


def view(point: PointData, run: RunData | None) -> PointView:
    return PointView(point.store, point.id, point.run_id, point.kind, point_label(point), _model(point), point.status,
                     point.config, tuple(readings(point, run)), tuple(point_flags(point)))


def views(stores: Sequence[StoreData]) -> list[PointView]:
    return [view(p, s.run(p.run_id)) for s in stores for p in s.points]


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _dig(doc: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(key)
    return doc


def _stats(doc: Any) -> dict[str, float | None]:
    return {k: _num(_dig(doc, k)) for k in ("median", "p90", "p99", "mean")}


def arms(stores: Sequence[StoreData]) -> list[ArmView]:
    out = []
    for store, p in points_of(stores, "serving"):
        s = p.summary
        metrics, energy = _dig(s, "metrics") or {}, _dig(s, "energy") or {}
        per_request = []
        for r in p.requests:
            parts = r.get("energy_j")
            if r.get("status") == "ok" and isinstance(parts, Mapping):
                values = [_num(v) for v in parts.values()]
                if values and all(v is not None for v in values):
                    per_request.append(float(sum(v for v in values if v is not None)))
        out.append(ArmView(
            point=view(p, store.run(p.run_id)),
            arm=str(s.get("arm") or p.config.get("name")),
            arrival=str(_dig(s, "arrival", "spec") or p.config.get("arrival")),
            law=str(_dig(s, "arrival", "law") or p.config.get("arrival")),
            completed=_int(metrics.get("completed")), failed=_int(metrics.get("failed")),
            ttft_s=_stats(metrics.get("ttft_s")), tpot_s=_stats(metrics.get("tpot_s")),
            e2e_s=_stats(metrics.get("e2e_s")), requests_per_s=_num(metrics.get("requests_per_s")),
            j_per_request=_num(energy.get("energy_per_completed_request_j")),
            j_per_output_token=_num(energy.get("energy_per_output_token_j")),
            steady_j_per_output_token=_num(_dig(energy, "steady_state", "j_per_output_token")),
            estimated_components=tuple(str(c) for c in energy.get("estimated_components") or ()),
            request_energies_j=tuple(per_request),
        ))
    return out


def videos(stores: Sequence[StoreData]) -> list[VideoView]:
    out = []
    for store, p in points_of(stores, "video"):
        v = view(p, store.run(p.run_id))
        cfg, s = p.config, p.summary
        req = s.get("request_extrapolated") if isinstance(s.get("request_extrapolated"), Mapping) else None
        req = req or (s.get("request") if isinstance(s.get("request"), Mapping) else None) or {}
        total = _num(req.get("energy_total_j"))
        if total is None and isinstance(req.get("energy_j"), Mapping):
            total = sum(x for x in (_num(e) for e in req["energy_j"].values()) if x is not None)
        out.append(VideoView(v, _int(cfg.get("frames")), _int(cfg.get("height")), _int(cfg.get("width")),
                             _int(cfg.get("steps")), _int(_dig(s, "latent", "tokens")), v.reading("dit_step", "gpu"),
                             _num(_dig(s, "dit_step", "achieved_flops_per_s")), total, _num(req.get("latency_s")),
                             bool(req.get("extrapolated")),
                             any(bool(e) for e in (req.get("estimated") or {}).values())))
    return out


def run_rows(stores: Sequence[StoreData]) -> list[dict[str, Any]]:
    """One row per run: what ran, where, and the idle baseline its floors use."""
    rows = []
    for store in stores:
        counts: dict[int, int] = {}
        for p in store.points:
            counts[p.run_id] = counts.get(p.run_id, 0) + 1
        for r in store.runs:
            gpus = r.env.get("gpus") or [{}]
            gpu = gpus[0] if isinstance(gpus[0], Mapping) else {}
            libs = r.env.get("libraries") if isinstance(r.env.get("libraries"), Mapping) else {}
            rows.append({"store": store.label, "run": r.id, "kind": r.kind, "created_at": r.created_at,
                         "command": r.command, "gpu": gpu.get("name"), "driver": gpu.get("driver"),
                         "power_limit_w": _num(gpu.get("power_limit_w")), "torch": libs.get("torch_runtime") or
                         libs.get("torch"), "transformers": libs.get("transformers"), "idle_w": r.idle_power_w,
                         "points": counts.get(r.id, 0), "host": r.env.get("host"), "cpu": r.env.get("cpu_model")})
    return rows


def impact_items(points: Sequence[PointView], arm_views: Sequence[ArmView],
                 video_views: Sequence[VideoView]) -> list[tuple[str, float, bool]]:
    """(label, J per request, estimated) for every figure that is the energy of one whole request."""
    items: list[tuple[str, float, bool]] = []
    for v in points:
        if v.kind == "llm" and v.status == "ok":
            energy, estimated = v.phase_energy_j("request")
            if energy is not None:
                items.append((f"{v.store}#{v.point_id} {v.label}", energy, estimated))
    for a in arm_views:
        if a.j_per_request is not None:
            items.append((f"{a.point.store}#{a.point.point_id} serving {a.arm}", a.j_per_request,
                          bool(a.estimated_components)))
    for vv in video_views:
        if vv.request_energy_j is not None:
            label = f"{vv.point.store}#{vv.point.point_id} {vv.point.label}" + (" (extrapolated)" if vv.extrapolated else "")
            items.append((label, vv.request_energy_j, vv.request_estimated))
    return items
