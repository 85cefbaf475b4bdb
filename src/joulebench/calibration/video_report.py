"""Video calibration errors and reports: per-point predictions, held-out summary, the table and figure."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from joulebench.calibration.video_analytic import _ape
from joulebench.calibration.video_dataset import VideoSample, short_config

if TYPE_CHECKING:
    from joulebench.calibration.video_fit import VideoCalibration

def summarize_errors(cal: VideoCalibration, samples: Sequence[VideoSample]) -> dict[str, Any]:
    """Per-point predictions and absolute percentage errors, with mean and max per quantity."""
    rows: list[dict[str, Any]] = []
    for s in samples:
        t_pred, e_pred = cal.predict(s)
        row: dict[str, Any] = {
            "point_id": s.point_id,
            "label": s.label(),
            "config": short_config(s.config),
            "flops": s.flops,
            "latency_s": s.latency_s,
            "latency_pred_s": t_pred,
            "latency_ape_pct": _ape(t_pred, s.latency_s),
            "energy_j": s.energy_j,
            "energy_pred_j": e_pred,
        }
        for comp, e in s.energy_j.items():
            if comp in e_pred:
                row[f"energy_{comp}_ape_pct"] = _ape(e_pred[comp], e)
        common = [c for c in s.energy_j if c in e_pred]
        if common:
            row["energy_total_j"] = sum(s.energy_j[c] for c in common)
            row["energy_total_pred_j"] = sum(e_pred[c] for c in common)
            row["energy_total_ape_pct"] = _ape(row["energy_total_pred_j"], row["energy_total_j"])
        rows.append(row)
    summary: dict[str, Any] = {"n": len(rows)}
    keys = sorted({k for r in rows for k in r if k.endswith("_ape_pct")})
    for key in keys:
        vals = np.array([r[key] for r in rows if key in r and math.isfinite(r[key])])
        if len(vals):
            name = key.removesuffix("_ape_pct")
            summary[name] = {"mape_pct": float(vals.mean()), "max_ape_pct": float(vals.max())}
    return {"rows": rows, "summary": summary}


@dataclass
class VideoValidation:
    """Held-out errors of a calibration, with the training points for the figure."""

    calibration: VideoCalibration
    held_out: dict[str, Any]
    train: dict[str, Any]
    analytic_held_out: dict[str, Any] | None = None  # the same points through analytic.video + params

    def to_dict(self) -> dict[str, Any]:
        return {"held_out": self.held_out, "train": self.train, "analytic_held_out": self.analytic_held_out}

    def table(self) -> str:
        """A plain-text table like the study's Table 3: per held-out point and the summary."""
        lines = [
            f"{'point':>16} {'t meas s':>9} {'t pred s':>9} {'err %':>6} {'E_gpu meas J':>12} "
            f"{'E_gpu pred J':>12} {'err %':>6}"
        ]
        for r in self.held_out["rows"]:
            eg, ep = r["energy_j"].get("gpu"), r["energy_pred_j"].get("gpu")
            lines.append(
                f"{r['label']:>16} {r['latency_s']:9.4f} {r['latency_pred_s']:9.4f} "
                f"{r['latency_ape_pct']:6.2f} {_fmt(eg, 12)} {_fmt(ep, 12)} "
                f"{_fmt(r.get('energy_gpu_ape_pct'), 6, '.2f')}"
            )
        lines.append("")
        for title, block in (("held out", self.held_out["summary"]), ("in sample", self.train["summary"])):
            parts = [
                f"{k}: MAPE {v['mape_pct']:.2f}% max {v['max_ape_pct']:.2f}%"
                for k, v in block.items()
                if isinstance(v, dict)
            ]
            lines.append(f"{title} (n={block['n']}): " + "; ".join(parts))
        if self.analytic_held_out is not None:
            block = self.analytic_held_out["summary"]
            parts = [
                f"{k}: MAPE {v['mape_pct']:.2f}% max {v['max_ape_pct']:.2f}%"
                for k, v in block.items()
                if isinstance(v, dict)
            ]
            lines.append(
                f"held out through analytic.video + profile params (n={block['n']}): " + "; ".join(parts)
            )
        return "\n".join(lines)

    def figure(self, path: str | Path) -> Path:
        """Predicted vs measured (latency and GPU energy, or total energy where no GPU), log axes."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        energy_key = "gpu" if any("gpu" in r["energy_j"] for r in self.train["rows"]) else None
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
        for ax, quantity in zip(axes, ("latency", "energy"), strict=True):
            for rows, label, marker in (
                (self.train["rows"], "fit", "o"),
                (self.held_out["rows"], "held out", "^"),
            ):
                pairs = [_xy(r, quantity, energy_key) for r in rows]
                xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
                ax.scatter(xs, ys, marker=marker, label=label)
            vals = [
                v for r in (*self.train["rows"], *self.held_out["rows"]) for v in _xy(r, quantity, energy_key)
            ]
            vals = [v for v in vals if math.isfinite(v) and v > 0]
            grid = np.geomspace(min(vals) / 1.3, max(vals) * 1.3, 50)
            ax.plot(grid, grid, "k-", lw=0.8)
            ax.fill_between(grid, grid * 0.97, grid * 1.03, color="grey", alpha=0.2, label="+-3%")
            ax.set_xscale("log")
            ax.set_yscale("log")
            unit = "s" if quantity == "latency" else "J"
            what = "latency" if quantity == "latency" else f"energy ({energy_key or 'total'})"
            ax.set_xlabel(f"measured {what} per step [{unit}]")
            ax.set_ylabel(f"predicted [{unit}]")
            ax.legend()
        cal = self.calibration
        mu = f"mu={cal.mu:.3f}" if cal.mu is not None else f"rate={cal.rate_flops_per_s:.3g} FLOP/s"
        if cal.rate_attention_flops_per_s and cal.peak_flops_per_s:
            mu_attention = cal.rate_attention_flops_per_s / cal.peak_flops_per_s
            mu = f"mu_dense={cal.mu:.3f}, mu_attention={mu_attention:.3f}"
        fig.suptitle(
            f"{cal.model} {cal.dtype} on {cal.gpu_device_name or 'cpu'}: {mu}, t0={cal.t0_s * 1e3:.1f} ms"
        )
        fig.tight_layout()
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, dpi=120)
        plt.close(fig)
        return p


def _xy(row: Mapping[str, Any], quantity: str, energy_key: str | None) -> tuple[float, float]:
    if quantity == "latency":
        return row["latency_s"], row["latency_pred_s"]
    if energy_key:
        return row["energy_j"].get(energy_key, float("nan")), row["energy_pred_j"].get(
            energy_key, float("nan")
        )
    return row.get("energy_total_j", float("nan")), row.get("energy_total_pred_j", float("nan"))


def _fmt(value: float | None, width: int, spec: str = ".2f") -> str:
    return f"{'-':>{width}}" if value is None else f"{value:{width}{spec}}"
