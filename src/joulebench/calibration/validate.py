"""Out-of-sample validation: predict held-out points with a profile, report errors, draw the figure."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from joulebench.analytic import ModelParams
from joulebench.calibration.dataset import Dataset
from joulebench.calibration.design import HELD_OUT_BATCHES, HELD_OUT_LENGTHS, HELD_OUT_MODELS, TRAIN_MODELS
from joulebench.calibration.llm_fit import predict_points
from joulebench.hardware import Accelerator
from joulebench.values import AsDict

#: prompt lengths of the training models that the fit never sees (held-out lengths)
HELD_OUT_PREFILL_LENGTHS = (1024, 2048)


def is_training_point(model: str, phase: str, prompt_tokens: int, batch: int = 1) -> bool:
    """The split is fixed by design, not random: other models, two aligned prefill lengths of the
    training models, the unaligned lengths (`design.HELD_OUT_LENGTHS`, any phase) and the held-out
    batch sizes are held out. (The unaligned lengths and batches are absent from the sweeps before
    them, so those splits are unchanged.)"""
    if model not in TRAIN_MODELS or prompt_tokens in HELD_OUT_LENGTHS or batch in HELD_OUT_BATCHES:
        return False
    return not (phase == "prefill" and prompt_tokens in HELD_OUT_PREFILL_LENGTHS)


def split(data: Dataset) -> tuple[Dataset, Dataset]:
    train = [is_training_point(p.model, p.phase, p.prompt_tokens, p.batch) for p in data.points]
    return data.select(train), data.select([not t for t in train])


@dataclass(frozen=True)
class ErrorRow(AsDict):
    phase: str
    subset: str
    n: int
    latency_mape: float
    latency_max_ape: float
    energy_mape: float
    energy_max_ape: float


def error_table(
    data: Dataset, acc: Accelerator, params: ModelParams, subset: str, **kw: Any
) -> tuple[list[ErrorRow], dict[str, np.ndarray]]:
    pred_t, pred_e = predict_points(data, acc, params, **kw)
    meas_t, meas_e = data.array("latency_s"), data.array("gpu_energy_j")
    phases = data.array("phase")
    rows = []
    for phase in ("prefill", "decode"):
        mask = phases == phase
        if not mask.any():
            continue
        ape_t = np.abs(pred_t[mask] / meas_t[mask] - 1.0)
        ape_e = np.abs(pred_e[mask] / meas_e[mask] - 1.0)
        rows.append(ErrorRow(phase, subset, int(mask.sum()), float(ape_t.mean()), float(ape_t.max()),
                             float(ape_e.mean()), float(ape_e.max())))
    arrays = {"pred_latency_s": pred_t, "meas_latency_s": meas_t, "pred_energy_j": pred_e, "meas_energy_j": meas_e,
              "phase": phases}
    return rows, arrays


def repeatability_rows(data: Dataset) -> list[ErrorRow]:
    """Run-to-run disagreement of repeated measurements, per phase: ``|a - b| / ((a + b) / 2)`` over every
    pair of runs of one configuration (symmetric, so the order of the stores does not matter). A
    model's error against one sweep cannot be judged more finely than this."""
    pairs: dict[str, list[tuple[float, float]]] = {"prefill": [], "decode": []}
    for group in data.groups().values():
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                pairs[a.phase].append((_rel_diff(a.latency_s, b.latency_s), _rel_diff(a.gpu_energy_j, b.gpu_energy_j)))
    rows = []
    for phase, values in pairs.items():
        if values:
            arr = np.asarray(values)
            rows.append(ErrorRow(phase, "run-to-run", len(arr), float(arr[:, 0].mean()), float(arr[:, 0].max()),
                                 float(arr[:, 1].mean()), float(arr[:, 1].max())))
    return rows


def floor_rows(measured: Dataset, subsets: dict[str, Dataset]) -> list[ErrorRow]:
    """The run-to-run floor *of the same points* as each (subset, phase) row of the error table: the
    mean pairwise disagreement of the repeated measurements of exactly those configurations (``n`` =
    pairs; no row where no configuration was measured twice). A MAPE is judged against this."""
    groups = measured.groups()
    out = []
    for subset, part in subsets.items():
        for phase in ("prefill", "decode"):
            keys = {p.same_config() for p in part.points if p.phase == phase}
            values = [(_rel_diff(a.latency_s, b.latency_s), _rel_diff(a.gpu_energy_j, b.gpu_energy_j))
                      for key in keys for i, a in enumerate(groups.get(key, [])) for b in groups[key][i + 1:]]
            if values:
                arr = np.asarray(values)
                out.append(ErrorRow(phase, subset, len(arr), float(arr[:, 0].mean()), float(arr[:, 0].max()),
                                    float(arr[:, 1].mean()), float(arr[:, 1].max())))
    return out


def _rel_diff(a: float, b: float) -> float:
    return abs(a - b) / ((a + b) / 2.0)


def figure(arrays_by_subset: dict[str, dict[str, np.ndarray]], title: str, out: Path) -> None:
    """Predicted vs measured, latency and energy, log-log, training and held-out points marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    markers = {"prefill": "o", "decode": "s"}
    colors = {"train": "tab:blue", "held-out": "tab:orange"}
    for ax, (quantity, unit) in zip(axes, (("latency", "s"), ("energy", "J")), strict=True):
        lo, hi = np.inf, 0.0
        for subset, arrays in arrays_by_subset.items():
            key_p, key_m = f"pred_{quantity}_{unit.lower()}", f"meas_{quantity}_{unit.lower()}"
            for phase, marker in markers.items():
                mask = arrays["phase"] == phase
                if not mask.any():
                    continue
                ax.scatter(arrays[key_m][mask], arrays[key_p][mask], marker=marker, s=22, alpha=0.8,
                           color=colors.get(subset, "gray"), label=f"{phase}, {subset}")
                lo = min(lo, arrays[key_m][mask].min(), arrays[key_p][mask].min())
                hi = max(hi, arrays[key_m][mask].max(), arrays[key_p][mask].max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.fill_between([lo, hi], [lo * 0.95, hi * 0.95], [lo * 1.05, hi * 1.05], color="gray", alpha=0.15, label="±5%")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"measured {quantity} ({unit})")
        ax.set_ylabel(f"predicted {quantity} ({unit})")
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def markdown_table(rows: list[ErrorRow], floors: list[ErrorRow] | None = None) -> str:
    """One row per (subset, phase); with ``floors`` each MAPE has the run-to-run floor of the same
    points beside it (``-`` where those points were measured once)."""
    if floors is None:
        lines = ["| subset | phase | n | latency MAPE | latency max APE | energy MAPE | energy max APE |",
                 "|---|---|---:|---:|---:|---:|---:|"]
        for r in rows:
            lines.append(f"| {r.subset} | {r.phase} | {r.n} | {r.latency_mape:.1%} | {r.latency_max_ape:.1%} | "
                         f"{r.energy_mape:.1%} | {r.energy_max_ape:.1%} |")
        return "\n".join(lines)
    by_key = {(f.subset, f.phase): f for f in floors}
    lines = ["| subset | phase | n | latency MAPE | (floor) | latency max APE | energy MAPE | (floor) | energy max APE |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        f = by_key.get((r.subset, r.phase))
        lf, ef = ("-", "-") if f is None else (f"{f.latency_mape:.1%}", f"{f.energy_mape:.1%}")
        lines.append(f"| {r.subset} | {r.phase} | {r.n} | {r.latency_mape:.1%} | {lf} | {r.latency_max_ape:.1%} | "
                     f"{r.energy_mape:.1%} | {ef} | {r.energy_max_ape:.1%} |")
    return "\n".join(lines)


__all__ = ["HELD_OUT_MODELS", "error_table", "figure", "floor_rows", "markdown_table", "repeatability_rows", "split"]
