"""Imported figures (published Wh per request) put beside the floor of their own settings.

Why: every figure, ours or imported, reports ``ratio_to_floor``. For an imported figure we only know
its setting (model, card, dtype, the length laws of its requests, whether requests shared a batch),
so its floor is the mean floor over requests drawn from those laws (`serving.floors`). A published
1.1e-3 Wh/request for Llama-3.1-8B on an H100 with ~1,200-token prompts sits below ~3.5e-3 Wh, its
floor: something in that figure (tokens counted, a prefix cache, the meter) is not what it says.

The study's settings (`STUDY`) are those of ``seed_figures.json`` (case II, serving): Llama-3.1-8B on
one H100 SXM, prompts 200-4,000 tokens with mean ~1,200, outputs 10-300 tokens; TGI served in bf16
with a shared batch, the transformers baseline one request at a time (batch 1; its dtype is not
stated, and bf16 gives the lower floor, so the floor stays a floor). The figures themselves are read
from that file (`study_figures`), never copied into code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from joulebench.errors import UsageError
from joulebench.serving.floors import below_floor_message, card_energy, floor_arch, ratio_to_floor, request_floors
from joulebench.serving.prompts import parse_lengths
from joulebench.units import j_to_wh, wh_to_j

SAMPLES = 10_000


@dataclass(frozen=True)
class FigureSetting:
    """The setting a published figure was measured in (what its floor is computed for)."""

    model: str = "llama-3.1-8b"
    gpu: str = "h100-sxm"
    dtype: str = "bf16"
    prompts: str = "200-4000,mean=1200"
    outputs: str = "10-300"
    batch: float = float("inf")  # requests sharing each decode weight read; inf = unbounded


#: seed_figures.json key -> its setting (case_II_system_levers.serving.llama_8b_Wh_per_request)
STUDY: dict[str, FigureSetting] = {
    "transformers_sequential_baseline": FigureSetting(batch=1.0),
    "tgi_burst": FigureSetting(),
    "tgi_fixed_50ms": FigureSetting(),
}


def study_figures(path: str | Path) -> dict[str, float]:
    """The study's serving figures (Wh/request) from ``seed_figures.json``."""
    from joulebench.files import read_mapping

    doc = read_mapping(path, "study")
    try:
        figures = doc["case_II_system_levers"]["serving"]["llama_8b_Wh_per_request"]
    except (KeyError, TypeError):
        raise UsageError.bad("study", str(path), "no case_II_system_levers.serving.llama_8b_Wh_per_request") from None
    out = {}
    for name, value in figures.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise UsageError.bad(name, value, "a figure must be a positive number of Wh", where=str(path))
        out[str(name)] = float(value)
    return out


def figure_floor(setting: FigureSetting, profiles: Sequence[str] = (), seed: int = 0) -> dict[str, Any]:
    """Mean floor (J and Wh) of a request drawn from the setting's length laws."""
    rng = np.random.default_rng([seed, 7])
    prompts = parse_lengths(setting.prompts, "figure_prompts").sample(SAMPLES, rng)
    outputs = parse_lengths(setting.outputs, "figure_outputs").sample(SAMPLES, rng)
    card = card_energy(setting.gpu, setting.dtype, profiles)
    floors = request_floors(floor_arch(setting.model, allow_hub=True), card, prompts, outputs, setting.batch)
    mean_j = float(floors.energy_j.mean())
    return {
        "setting": {**setting.__dict__, "batch": None if not np.isfinite(setting.batch) else setting.batch},
        "card_source": card.source,
        "mean_prompt_tokens": float(np.mean(prompts)),
        "mean_output_tokens": float(np.mean(outputs)),
        "floor_j": mean_j,
        "floor_wh": j_to_wh(mean_j),
        "floor_prefill_share": float((card.energy_per_flop_j * floors.prefill_flops + card.idle_power_w
                                      * floors.prefill_flops / card.peak_flops_per_s).sum() / floors.energy_j.sum()),
    }


def compare(
    figures_wh: Mapping[str, float], settings: Mapping[str, FigureSetting], profiles: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """One row per figure: the figure, its floor, ``ratio_to_floor`` and the loud flag when below 1."""
    rows = []
    cache: dict[FigureSetting, dict[str, Any]] = {}
    for name, wh in figures_wh.items():
        setting = settings.get(name, FigureSetting())
        if setting not in cache:
            cache[setting] = figure_floor(setting, profiles)
        floor = cache[setting]
        ratio = ratio_to_floor(wh_to_j(wh), floor["floor_j"])
        rows.append({
            "figure": name, "wh_per_request": wh, **floor, "ratio_to_floor": ratio,
            "below_floor": None if ratio is None or ratio >= 1 else below_floor_message(name, ratio),
        })
    return rows
