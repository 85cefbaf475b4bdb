"""The parts of an arm's summary built from metrics and energy: its floor, its headline, its store rows.

Why the floor here and not in `energy`: the energy report needs no model; the floor needs the
architecture and the card (`serving.floors`). An arm's ``ratio_to_floor`` is its metered GPU energy
over the whole window divided by the sum of its served requests' floors (idle gaps included in the
numerator, so it can only err upwards); each request's attributed GPU share over its own floor is
reported beside it. The floor is computed only for metered (not estimated) GPU energy: an estimate
beside a floor would be a comparison of two models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from joulebench.errors import UsageError
from joulebench.serving.energy import in_system
from joulebench.serving.floors import below_floor_message, card_energy, floor_arch, ratio_to_floor, request_floors
from joulebench.serving.records import RequestRecord
from joulebench.store import MeasurementRow


def _unavailable(reason: str) -> tuple[dict[str, Any], dict[int, float]]:
    return {"available": False, "reason": reason}, {}


def _card_name(arm: Any, env: Mapping[str, Any]) -> str | None:
    if arm.floor.gpu is not None:
        return str(arm.floor.gpu)
    from joulebench.environment import gpu_name
    from joulebench.hardware.catalogue import name_for_device

    device = gpu_name(dict(env))
    return None if device is None else name_for_device(device)


def _arch(arm: Any) -> Any | None:
    for model, hub in ((arm.floor.model, True), (arm.engine.model if arm.engine else None, True), (arm.model, False)):
        if model:
            try:
                return floor_arch(model, allow_hub=hub)
            except UsageError:
                continue
    return None


def floor_report(
    arm: Any, records: Sequence[RequestRecord], energy: Mapping[str, Any], per_request: Mapping[int, Mapping[str, float]],
    env: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[int, float]]:
    """(floor summary with ``ratio_to_floor`` and ``below_floor`` messages, floor J by record index)."""
    if not energy.get("available"):
        return _unavailable("no energy window")
    gpu = (energy["window"]["components"] or {}).get("gpu")
    if gpu is None or gpu.get("estimated"):
        return _unavailable("no metered GPU energy to compare (the floor is a GPU floor)")
    card_name = _card_name(arm, env)
    if card_name is None:
        return _unavailable("GPU not in the catalogue; name it with --floor-gpu")
    arch = _arch(arm)
    if arch is None:
        return _unavailable("architecture unknown; name it with --floor-model (bundled name or local path)")
    served = [r for r in records if r.ok]
    if not served:
        return _unavailable("no request served")
    dtype = arm.engine.dtype if arm.engine is not None else arm.floor.dtype
    card = card_energy(card_name, dtype, arm.floor.profiles)
    _, counts = in_system(records)
    batch = float(max(1, int(counts.max()) if counts.size else 1))
    prompt = [r.prompt_tokens if r.prompt_tokens is not None else r.prompt_tokens_requested for r in served]
    output = [r.output_tokens or 0 for r in served]
    floors = request_floors(arch, card, prompt, output, batch)
    out = floors.summary(card, arch.name)
    ratio = ratio_to_floor(float(gpu["energy_j"]), out["total_j"])
    out["gpu_window_j"] = float(gpu["energy_j"])
    out["ratio_to_floor"] = ratio
    shares = np.array([per_request.get(r.index, {}).get("gpu", 0.0) for r in served])
    per_ratio = shares / np.maximum(floors.energy_j, 1e-30)
    out["attributed_ratio_to_floor"] = {
        "min": float(per_ratio.min()), "median": float(np.median(per_ratio)),
        "below_1": int((per_ratio < 1.0).sum()),
    }
    out["below_floor"] = [] if ratio is None or ratio >= 1.0 else [below_floor_message("GPU energy per request", ratio)]
    by_index = {r.index: float(f) for r, f in zip(served, floors.energy_j, strict=True)}
    return out, by_index


def headline(metrics: Mapping[str, Any], energy: Mapping[str, Any], floor: Mapping[str, Any]) -> dict[str, Any]:
    steady = energy.get("steady_state") or {}
    return {
        "completed": metrics["completed"],
        "failed": metrics["failed"],
        "flagged": metrics.get("flagged", 0),
        "wh_per_request": energy.get("energy_per_completed_request_wh"),
        "gpu_wh_per_request": energy.get("gpu_energy_per_completed_request_wh"),
        "floor_wh_per_request": floor.get("mean_wh"),
        "ratio_to_floor": floor.get("ratio_to_floor"),
        "j_per_output_token": energy.get("energy_per_output_token_j"),
        "j_per_input_token": energy.get("energy_per_input_token_j"),
        "steady_j_per_output_token": steady.get("j_per_output_token"),
        "steady_gpu_j_per_output_token": steady.get("gpu_j_per_output_token"),
        "requests_per_s": metrics["requests_per_s"],
        "output_tokens_per_s": metrics["output_tokens_per_s"],
        "ttft_p50_s": metrics["ttft_s"]["median"],
        "ttft_p90_s": metrics["ttft_s"]["p90"],
        "ttft_p99_s": metrics["ttft_s"]["p99"],
        "tpot_p50_s": metrics["tpot_s"]["median"],
        "tpot_p90_s": metrics["tpot_s"]["p90"],
        "e2e_p50_s": metrics["e2e_s"]["median"],
        "e2e_p99_s": metrics["e2e_s"]["p99"],
        "lateness_p99_s": metrics["lateness_s"]["p99"],
    }


def measurement_rows(energy: Mapping[str, Any]) -> list[MeasurementRow]:
    rows: list[MeasurementRow] = []
    if not energy.get("available"):
        return rows
    windows = [("run_window", energy["window"])]
    steady = energy.get("steady_state") or {}
    if steady.get("available"):
        windows.append(("steady_state", steady))
    for phase, window in windows:
        for component, reading in window["components"].items():
            rows.append(
                MeasurementRow(
                    phase=phase, repetition=-1, component=component, latency_s=window["duration_s"],
                    energy_j=reading["energy_j"], ci95_j=None, source=reading["source"], estimated=reading["estimated"],
                    protocol={
                        "window": phase,
                        "rule": steady.get("rule") if phase == "steady_state" else "first send to last end",
                    },
                )
            )
    return rows
