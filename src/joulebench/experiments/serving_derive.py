"""Sequential serving arms derived from stored service runs: one law's arm, figures as a measured arm's.

The service runs are sequential-engine arms under ``burst`` (the server busy from the first request),
stored like any arm; `serving.fifo` replays their requests through the server's queue under another law.
Latencies, throughput and goodput then come from the replayed records through the same `summarize`;
the floor through the same `floor_report`. Energy is the service runs' metered energy (whole windows,
per component) plus the idle power of the run's baseline over the time the server would stand waiting
for arrivals; each request keeps the energy attributed to its own service. The baseline is the one the
run took (cold, as a rule): a card just after work idles higher (~122 W against ~79 W on the H200), so
waiting is priced low; the study's laws keep a sequential server busy, with no waiting. A derived arm
has no power trace of its own, so it has no steady-state window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from joulebench.errors import UsageError
from joulebench.experiments.serving_arms import ArmSpec
from joulebench.experiments.serving_study import CHECK_LAW, LAWS, SLO, service_name
from joulebench.serving.arrivals import parse_arrival, schedule
from joulebench.serving.energy import per_request_figures
from joulebench.serving.fifo import replay, services
from joulebench.serving.metrics import parse_slo, summarize
from joulebench.serving.records import RequestRecord
from joulebench.serving.summary import floor_report, headline

SERVICE_LAW = "burst"


@dataclass(frozen=True)
class ServiceRun:
    """One stored service run: its arm configuration, summary and request records (store payloads)."""

    config: Mapping[str, Any]
    summary: Mapping[str, Any]
    records: Sequence[Mapping[str, Any]]


def _check(runs: Sequence[ServiceRun]) -> None:
    if not runs:
        raise UsageError.bad("services", 0, "need at least one stored service run")
    for run in runs:
        engine = run.config.get("engine") or {}
        if engine.get("engine") != "sequential" or run.config.get("arrival") != SERVICE_LAW:
            raise UsageError.bad("services", run.config.get("name"),
                                 f"a service run is a sequential-engine arm under {SERVICE_LAW}")
        if not (run.summary.get("energy") or {}).get("available"):
            raise UsageError.bad("services", run.config.get("name"), "a service run needs its energy window")


def _energy(runs: Sequence[ServiceRun], requests: Sequence[RequestRecord], idle_s: float,
            idle_w: Mapping[str, float]) -> dict[str, Any]:
    components: dict[str, dict[str, Any]] = {}
    for run in runs:
        for name, reading in run.summary["energy"]["window"]["components"].items():
            entry = components.setdefault(name, {"component": name, "energy_j": 0.0, "estimated": False})
            entry["energy_j"] += float(reading["energy_j"])
            entry["estimated"] = entry["estimated"] or bool(reading.get("estimated"))
    for name, entry in components.items():
        entry["idle_j"] = float(idle_w.get(name, 0.0)) * idle_s
        entry["energy_j"] += entry["idle_j"]
    total_j = sum(e["energy_j"] for e in components.values())
    gpu_j = components["gpu"]["energy_j"] if "gpu" in components else None
    return {
        "available": True,
        "window": {"duration_s": None, "energy_j": total_j, "components": components},
        "idle_s": idle_s, "idle_w": dict(idle_w), "unpriced_idle": idle_s > 0 and not idle_w,
        "estimated_components": sorted(n for n, e in components.items() if e["estimated"]),
        **per_request_figures(total_j, gpu_j, requests),
        "steady_state": {"available": False, "reason": "a derived arm has no power trace of its own"},
    }


def derived_arm(name: str, arrival: str, runs: Sequence[ServiceRun], seed: int = 0, slo: str | None = None,
                idle_w: Mapping[str, float] | None = None, env: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The arm ``name`` under ``arrival`` from the service ``runs`` (in that order): summary document
    with the shape of a measured arm's (metrics, energy, floor, headline) and what it was derived from."""
    _check(runs)
    law = parse_arrival(arrival)
    served = services([[RequestRecord.from_dict(dict(r)) for r in run.records] for run in runs])
    if not served.records:
        raise UsageError.bad("services", len(runs), "the service runs served no request")
    replayed = replay(served, schedule(law, len(served.records), seed))
    metrics = summarize(replayed.records, parse_slo(slo))
    energy = _energy(runs, replayed.records, replayed.idle_s, idle_w or {})
    energy["window"]["duration_s"] = replayed.span_s
    payload = {(k, int(r["index"])): r for k, run in enumerate(runs) for r in run.records}
    per_request = {i: dict(payload[origin].get("energy_j") or {}) for i, origin in enumerate(served.origin)}
    arm = replace(ArmSpec.from_config(dict(runs[0].config)), name=name, arrival=arrival,
                  requests=len(served.records), seed=seed)
    floor, _ = floor_report(arm, replayed.records, energy, per_request, env or {})
    warnings = []
    if energy["unpriced_idle"]:
        warnings.append(f"the server would stand idle {replayed.idle_s:.1f} s that no idle power prices (the run has "
                        "no idle baseline): energy per request is low by idle power x that time / requests")
    return {
        "arm": name,
        "warnings": warnings,
        "derived": {"from": [run.config.get("name") for run in runs], "law": law.spec, "seed": seed,
                    "services": len(served.records), "idle_s": replayed.idle_s,
                    "rule": "start_i = max(arrival_i, end_(i-1) + handover_i); each service shifted whole"},
        "engine": runs[0].config.get("engine"),
        "metrics": metrics, "energy": energy, "floor": floor, "headline": headline(metrics, energy, floor),
    }


def derive_study(store: Any, targets: Sequence[str] = ("seq-fp32", "seq-bf16"), segments: int = 5,
                 repeats: int = 2) -> list[dict[str, Any]]:
    """Every derived arm the store's service runs give: per target and repeat with all ``segments``
    stored, one arm per study law (``<target>-<law>-derived[-r<N>]``); per target with segment 0 and its
    real check arm stored, the check derived from segment 0 alone (``<target>-<CHECK_LAW>-derived-check``,
    with the measured arm's headline under ``measured``)."""
    runs = {run.id: run for run in store.runs()}
    by_name = {p.config.get("name"): p for p in store.points(kind="serving", status="ok")}

    def service(name: str) -> tuple[ServiceRun, Any] | None:
        point = by_name.get(name)
        if point is None:
            return None
        return ServiceRun(point.config, point.summary, store.records(point.id, "requests")), runs[point.run_id]

    docs: list[dict[str, Any]] = []
    for target in targets:
        for repeat in range(repeats):
            found = [service(service_name(target, k, repeat)) for k in range(segments)]
            if any(f is None for f in found):
                continue
            services_, run = [f[0] for f in found], found[0][1]  # type: ignore[index]
            suffix = f"-r{repeat}" if repeat else ""
            for law, spec in LAWS.items():
                docs.append(derived_arm(f"{target}-{law}-derived{suffix}", spec, services_, slo=SLO,
                                        idle_w=run.idle_power_w, env=run.env))
        first, real = service(service_name(target, 0)), by_name.get(f"{target}-{CHECK_LAW}")
        if first is not None and real is not None:
            doc = derived_arm(f"{target}-{CHECK_LAW}-derived-check", LAWS[CHECK_LAW], [first[0]], slo=SLO,
                              idle_w=first[1].idle_power_w, env=first[1].env)
            doc["measured"] = {"arm": real.config.get("name"), "headline": real.summary.get("headline")}
            docs.append(doc)
    return docs
