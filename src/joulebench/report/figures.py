"""The report's figures (matplotlib, Agg): drawn once, embedded as SVG and saved as PNG, SVG and PDF.

Each function returns `FigureSpec`s (a file stem the report chose, a title, a caption, the figure), or
nothing when the stores hold no data for it. Text that comes from a database (model names, arm names)
goes through `_text`, which turns matplotlib's mathtext ``$`` into a literal: a name like ``$\\frac`` must
print as itself, not crash the renderer. Flags are drawn, not only tabled: below-floor points get a red
cross, estimated energies are hatched.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joulebench.report.data import Trace
from joulebench.report.floors import BELOW_FLOOR
from joulebench.report.sections import COMPONENTS, ArmView, PointView, VideoView

FORMATS = ("png", "svg", "pdf")
#: at most this many power traces are drawn (the table still lists every point)
MAX_TRACES = 12
_COLORS = {"gpu": "tab:green", "cpu": "tab:blue", "ram": "tab:purple"}


@dataclass(frozen=True)
class FigureSpec:
    name: str  # file stem, chosen by the report (never a stored string)
    title: str
    caption: str
    figure: Any  # matplotlib.figure.Figure


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3,
                         "font.size": 9})
    return plt


def _text(value: object) -> str:
    return str(value).replace("$", r"\$")


def svg_text(spec: FigureSpec) -> str:
    buf = io.StringIO()
    spec.figure.savefig(buf, format="svg", bbox_inches="tight")
    return buf.getvalue()


def save(spec: FigureSpec, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in FORMATS:
        path = directory / f"{spec.name}.{fmt}"
        spec.figure.savefig(path, format=fmt, dpi=150, bbox_inches="tight")
        paths.append(path)
    return paths


def close(specs: Sequence[FigureSpec]) -> None:
    plt = _plt()
    for spec in specs:
        plt.close(spec.figure)


def _hbox(ax: Any, data: list[list[float]], labels: list[str]) -> None:
    """Horizontal box plot; matplotlib >= 3.10 spells it ``orientation``, older ones ``vert=False``."""
    import matplotlib

    major, minor = (int(x) for x in matplotlib.__version__.split(".")[:2])
    if (major, minor) >= (3, 10):
        ax.boxplot(data, orientation="horizontal", tick_labels=labels)
    else:
        ax.boxplot(data, vert=False, labels=labels)


def llm_energy_per_token(points: Sequence[PointView]) -> list[FigureSpec]:
    """Distribution of GPU J per token: prefill per prompt token, decode per generated token."""
    groups: dict[str, dict[str, list[float]]] = {"prefill": {}, "decode": {}}
    for v in points:
        if v.kind != "llm" or v.status != "ok":
            continue
        cfg = v.config
        b, s, g = (cfg.get(k) for k in ("batch", "prompt_tokens", "output_tokens"))
        if not all(isinstance(x, int) and x > 0 for x in (b, s, g)):
            continue
        for phase, tokens in (("prefill", s * b), ("decode", (g - 1) * b)):
            r = v.reading(phase, "gpu")
            if r is not None and r.energy_j is not None and tokens > 0:
                key = f"{v.model} {cfg.get('dtype')} [{v.store}]"
                groups[phase].setdefault(key, []).append(r.energy_j / tokens)
    if not any(groups.values()):
        return []
    plt = _plt()
    rows = max(len(g) for g in groups.values())
    fig, axes = plt.subplots(1, 2, figsize=(12, 1.2 + 0.28 * rows))
    for ax, (phase, data) in zip(axes, groups.items(), strict=True):
        labels = sorted(data)
        if labels:
            _hbox(ax, [data[k] for k in labels], [_text(k) for k in labels])
        ax.set_xscale("log")
        ax.set_xlabel(f"GPU J per {'prompt' if phase == 'prefill' else 'generated'} token")
        ax.set_title(phase)
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return [FigureSpec("llm_energy_per_token", "LLM energy per token",
                       "Distribution over stored points of GPU energy per token, per model, dtype and database: prefill "
                       "per prompt token (s x b), decode per generated token ((g-1) x b).", fig)]


def llm_breakdown(points: Sequence[PointView]) -> list[FigureSpec]:
    """Prefill vs decode energy per component, for points that measured both."""
    both = [v for v in points if v.kind == "llm" and v.reading("prefill", "gpu") and v.reading("decode", "gpu")]
    if not both:
        return []
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 1.0 + 0.55 * len(both)))
    for i, v in enumerate(both):
        left = 0.0
        for phase, alpha in (("prefill", 1.0), ("decode", 0.55)):
            for comp in COMPONENTS:
                r = v.reading(phase, comp)
                if r is None or r.energy_j is None:
                    continue
                ax.barh(i, r.energy_j, left=left, color=_COLORS[comp], alpha=alpha, hatch="//" if r.estimated else None,
                        edgecolor="black", linewidth=0.4, label=f"{phase} {comp}" + (" (est.)" if r.estimated else ""))
                left += r.energy_j
    ax.set_yticks(range(len(both)), [_text(f"{v.store}#{v.point_id} {v.label}") for v in both], fontsize=7)
    ax.set_xlabel("J per request (prefill + decode windows)")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), fontsize=7, ncol=3, loc="lower right")
    fig.tight_layout()
    return [FigureSpec("llm_prefill_decode", "Prefill / decode breakdown",
                       "Energy of one request split into its prefill and decode windows, per component; hatched = "
                       "labelled estimate (no meter for that component).", fig)]


def serving(arm_views: Sequence[ArmView]) -> list[FigureSpec]:
    if not arm_views:
        return []
    plt = _plt()
    specs = []
    with_dist = [a for a in arm_views if a.request_energies_j]
    if with_dist:
        fig, ax = plt.subplots(figsize=(10, 1.0 + 0.4 * len(with_dist)))
        _hbox(ax, [list(a.request_energies_j) for a in with_dist],
              [_text(f"{a.point.store}: {a.arm} [{a.arrival}]") for a in with_dist])
        ax.set_xscale("log")
        ax.set_xlabel("attributed energy per completed request (J, all components)")
        ax.tick_params(axis="y", labelsize=7)
        fig.tight_layout()
        specs.append(FigureSpec("serving_energy_distribution", "Serving: energy per request",
                                "Distribution of the energy attributed to each completed request, per arm (arrival law "
                                "in brackets); CPU and RAM parts are labelled estimates where no meter exists.", fig))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, (x_of, xlabel, y_of, ylabel) in zip(axes, (
            (lambda a: a.ttft_s.get("p90"), "TTFT p90 (s)", lambda a: a.j_per_request, "J per completed request"),
            (lambda a: a.tpot_s.get("median"), "TPOT median (s)", lambda a: a.j_per_output_token, "J per output token")),
            strict=True):
        for a in arm_views:
            x, y = x_of(a), y_of(a)
            if x is None or y is None or x <= 0 or y <= 0:
                continue
            below = any(f.startswith(BELOW_FLOOR) for f in a.point.all_flags())
            ax.scatter([x], [y], s=40, marker="X" if below else "o", color="red" if below else None)
            ax.annotate(_text(f"{a.arrival} ({a.point.store})"), (x, y), fontsize=7, xytext=(4, 3),
                        textcoords="offset points")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    fig.tight_layout()
    specs.append(FigureSpec("serving_energy_latency", "Serving: energy vs latency per arrival law",
                            "Each arm's energy per request against its p90 time to first token, and energy per output "
                            "token against its median time per output token; red crosses are below their floor.", fig))
    return specs


def video_scaling(video_views: Sequence[VideoView]) -> list[FigureSpec]:
    rows = [v for v in video_views if v.latent_tokens and v.step is not None and v.step.latency_s]
    if not rows:
        return []
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for model in sorted({v.point.model for v in rows}):
        mine = sorted((v for v in rows if v.point.model == model), key=lambda v: v.latent_tokens or 0)
        x = [v.latent_tokens for v in mine]
        axes[0].plot(x, [v.step.latency_s for v in mine if v.step], "o-", label=_text(model))
        floors = [(v.latent_tokens, v.step.latency_floor_s) for v in mine if v.step and v.step.latency_floor_s]
        if floors:
            axes[0].plot(*zip(*floors, strict=True), "k:", lw=1, label=_text(f"{model} floor (FLOPs / peak)"))
        axes[1].plot(x, [v.step.energy_j for v in mine if v.step], "s-", label=_text(model))
        idle = [(v.latent_tokens, v.step.energy_floor_j) for v in mine if v.step and v.step.energy_floor_j]
        if idle:
            axes[1].plot(*zip(*idle, strict=True), "k:", lw=1, label="floor (idle W x time)")
    for ax, ylabel in zip(axes, ("denoising step latency (s)", "denoising step GPU energy (J)"), strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("latent tokens per frame stack (patched)")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return [FigureSpec("video_scaling", "Video: scaling with latent size",
                       "One denoising step (both CFG forwards) against the number of latent tokens; dotted lines are "
                       "the floors: counted FLOPs at the dense peak, and idle power over the step.", fig)]


def power_traces(points: Sequence[tuple[PointView, Sequence[Trace]]]) -> list[FigureSpec]:
    """One panel per trace, phase windows as coloured bands; the first `MAX_TRACES` only."""
    items = [(v, t) for v, traces in points for t in traces][:MAX_TRACES]
    if not items:
        return []
    plt = _plt()
    fig, axes = plt.subplots(len(items), 1, figsize=(11, 2.3 * len(items)), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, (v, trace) in zip(axes[:, 0], items, strict=True):
        t0 = trace.t_s[0]
        ax.plot([t - t0 for t in trace.t_s], trace.power_w, lw=0.8, color=_COLORS.get(trace.component, "black"))
        names = sorted({b[0] for b in trace.bands})
        for phase, start, end in trace.bands:
            ax.axvspan(start - t0, end - t0, alpha=0.18, color=cmap(names.index(phase) % 10),
                       label=_text(phase))
        handles, labels = ax.get_legend_handles_labels()
        if labels:
            unique = dict(zip(labels, handles, strict=True))
            ax.legend(unique.values(), unique.keys(), fontsize=7, loc="upper right")
        ax.set_ylabel(f"{trace.component} W")
        ax.set_title(_text(f"{v.store}#{v.point_id} {v.label}"), fontsize=8)
    axes[-1, 0].set_xlabel("time since trace start (s)")
    fig.tight_layout()
    return [FigureSpec("power_traces", "Power traces with phase windows",
                       f"Sampled power of each metered component, phase windows shaded (at most {MAX_TRACES} traces "
                       "drawn).", fig)]


def validation_figure(name: str, title: str, arrays: dict[str, dict[str, Any]]) -> FigureSpec:
    """`calibration.validate.figure` (the one predicted-vs-measured plot), captured as a figure."""
    from joulebench.calibration.validate import figure

    plt = _plt()
    before = set(plt.get_fignums())
    captured: dict[str, Any] = {}
    original_close = plt.close

    def keep(fig: Any = None) -> None:  # validate.figure closes its figure after saving; keep it open
        captured["fig"] = fig

    plt.close = keep
    try:
        figure(arrays, _text(title), Path(os.devnull))
    except (OSError, ValueError):
        pass  # saving to the null device may be refused by a backend; the figure is drawn either way
    finally:
        plt.close = original_close
    fig = captured.get("fig") or plt.figure(max(set(plt.get_fignums()) - before))
    return FigureSpec(name, f"Predicted vs measured: {title}",
                      "Predicted against measured latency and GPU energy (log-log), training and held-out points; the "
                      "band is +-5%.", fig)
