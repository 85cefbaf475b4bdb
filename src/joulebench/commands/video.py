"""CLI commands: ``measure-video`` (text-to-video denoising step, VAE decode, text encoder) and
``calibrate-video`` (fit DiT efficiency and power from stored video points, validate out of sample).

The plan is built and validated completely (model, sizes against the latent rule, dtypes, device)
before a monitor is opened or the database is touched, so bad input exits 2 with nothing written.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from joulebench.commands import command_line
from joulebench.errors import UsageError
from joulebench.experiments.plan import cuda_available, parse_int_list, parse_str_list
from joulebench.meters.window import Protocol
from joulebench.report.console import console as make_console
from joulebench.workloads.device import DTYPES
from joulebench.workloads.diffusion import DEFAULT_PROTOCOLS, load_spec, validate_config

DEVICES = ("cuda", "cpu")


def parse_resolutions(text: str) -> list[tuple[int, int]]:
    """``"480x832,720x1280"`` -> [(480, 832), (720, 1280)] (height x width)."""
    out: list[tuple[int, int]] = []
    for part in text.split(","):
        bits = part.strip().lower().split("x")
        if len(bits) != 2 or not all(b.strip().isdigit() for b in bits):
            raise UsageError(f"--resolution {text!r}: '{part.strip()}' is not HEIGHTxWIDTH (e.g. 480x832)")
        out.append((int(bits[0]), int(bits[1])))
    return out


@dataclass(frozen=True)
class VideoPlan:
    """A grid over models x resolutions x frame counts x dtypes x CFG; validated on construction."""

    models: list[str]
    resolutions: list[tuple[int, int]]
    frames: list[int]
    dtypes: list[str]
    device: str
    cfg: list[bool] = field(default_factory=lambda: [True])
    steps: int = 50
    vae: bool = False
    vae_dtype: str = "float32"
    text_encoder: bool = False
    random_weights: bool = True
    seed: int = 0
    protocols: dict[str, Protocol] = field(default_factory=lambda: dict(DEFAULT_PROTOCOLS))

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise UsageError(f"--device {self.device}: unknown; allowed: {', '.join(DEVICES)}")
        if self.steps < 1:
            raise UsageError(f"--steps {self.steps}: must be >= 1")
        for dtype in [*self.dtypes, self.vae_dtype]:
            if dtype not in DTYPES:
                raise UsageError(f"--dtype {dtype}: unknown; allowed: {', '.join(DTYPES)}")
        for point in self.points():
            validate_config(point)
        if self.device == "cuda" and not cuda_available():
            raise UsageError("--device cuda: no CUDA GPU is available on this machine; use --device cpu")

    def points(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for model, (h, w), t, dtype, cfg in itertools.product(
            self.models, self.resolutions, self.frames, self.dtypes, self.cfg
        ):
            point: dict[str, Any] = {
                "model": model,
                "height": h,
                "width": w,
                "frames": t,
                "dtype": dtype,
                "cfg": cfg,
                "steps": self.steps,
                "vae": self.vae,
                "text_encoder": self.text_encoder,
                "device": self.device,
                "random_weights": self.random_weights,
                "seed": self.seed,
                "protocols": {k: p.to_dict() for k, p in self.protocols.items()},
            }
            if self.vae:
                point["vae_dtype"] = self.vae_dtype
            out.append(point)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "video", "points": self.points()}


def run_video_plan(
    plan: VideoPlan,
    db: str | Path,
    command: str,
    on_event: Callable[[str, int, Mapping[str, Any], Any], None] | None = None,
    idle_s: float = 2.0,
) -> list[dict[str, Any]]:
    """Open the meters, take the idle baseline, run every point (resuming), return the JSON points."""
    prewarm_s = 3.0 if plan.device == "cuda" else 0.0
    return run_video_points(
        plan.points(), plan.device, db, command, plan.to_dict(), on_event, idle_s, prewarm_s
    )


def run_video_points(
    points: Sequence[Mapping[str, Any]],
    device: str,
    db: str | Path,
    command: str,
    plan_doc: Mapping[str, Any],
    on_event: Callable[[str, int, Mapping[str, Any], Any], None] | None = None,
    idle_s: float = 2.0,
    prewarm_s: float = 0.0,
) -> list[dict[str, Any]]:
    """Run already-validated points (several plans may be concatenated) under one monitor and run.

    ``prewarm_s`` runs unmeasured steps of the first point after the idle baseline, so that the first
    measured point does not pay the GPU's ramp out of idle."""
    from joulebench.environment import capture
    from joulebench.experiments.runner import Runner
    from joulebench.meters.monitor import EnergyMonitor, MonitorConfig
    from joulebench.store import Store, point_key
    from joulebench.workloads.diffusion import ModelCache, prewarm, run_video_point

    cuda = device == "cuda"
    monitor = EnergyMonitor.open(MonitorConfig(gpus=None if cuda else [], require_gpu=cuda))
    models = ModelCache()
    with Store(db) as store:
        monitor.start()
        try:
            runner = Runner(store, "video", command, plan_doc, capture(monitor), on_event=on_event)
            idle = monitor.idle_power_w(idle_s)
            runner.set_baseline({"idle_power_w": idle, "duration_s": idle_s, "prewarm_s": prewarm_s})
            if prewarm_s > 0 and points:
                prewarm(points[0], models, prewarm_s)

            def execute(config: Mapping[str, Any]) -> Any:
                protocols = {k: Protocol(**v) for k, v in config["protocols"].items()}
                return run_video_point(config, monitor, models, idle, protocols)

            result = runner.run(list(points), execute)
        finally:
            monitor.close()
        stored = {p.key: p for p in store.points(kind="video")}
        errors = {point_key("video", f["config"]): f["error"] for f in result.failed}
        out: list[dict[str, Any]] = []
        for config in points:  # in plan order, measured now or earlier
            key = point_key("video", config)
            point = stored.get(key)
            if key in errors:
                out.append({"config": dict(config), "error": errors[key]})
            elif point is not None and point.status == "ok":
                out.append(json_point(point.config, point.summary, point.id))
    return out


_PHASE_KEYS = ("latency_s", "latency_std_s", "reps", "energy_j", "ci95_j", "sources", "estimated")


def json_point(
    config: Mapping[str, Any], summary: Mapping[str, Any], point_id: int | None = None
) -> dict[str, Any]:
    """The stable JSON shape of one measured point (the ``--json`` contract)."""
    doc: dict[str, Any] = {"config": {k: v for k, v in config.items() if k != "protocols"}}
    if point_id is not None:
        doc["point_id"] = point_id
    for phase in ("dit_step", "vae_decode", "text_encode"):
        if phase in summary:
            src = summary[phase]
            doc[phase] = {k: src[k] for k in _PHASE_KEYS if k in src}
            doc[phase]["protocol"] = src.get("protocol")
    doc["dit_step"].update(
        {k: summary["dit_step"][k] for k in ("forwards", "flops_counted") if k in summary["dit_step"]}
    )
    doc["request_extrapolated"] = summary.get("request_extrapolated")
    doc["latent"] = summary.get("latent")
    return doc


def _print_table(points: Sequence[Mapping[str, Any]]) -> None:
    from rich.table import Table

    models = sorted({p["config"]["model"] for p in points})
    table = Table(title=f"{', '.join(models)}: one denoising step, and the request extrapolated to S steps")
    for col in ("HxW", "T", "cfg", "step s", "GPU J", "CPU J", "RAM J", "VAE s", "req s", "req J"):
        table.add_column(col, justify="right")
    for p in points:
        c = p["config"]
        where = (f"{c['height']}x{c['width']}", str(c["frames"]), "on" if c["cfg"] else "off")
        if "error" in p:
            table.add_row(*where, "failed", p["error"][:40], "", "", "", "", "")
            continue
        step, req, vae = p["dit_step"], p["request_extrapolated"], p.get("vae_decode")

        def joules(comp: str, phase: Mapping[str, Any] = step) -> str:
            e = phase["energy_j"].get(comp)
            return "-" if e is None else f"{e:.1f}{'*' if phase['estimated'].get(comp) else ''}"

        table.add_row(
            *where,
            f"{step['latency_s']:.3f}",
            joules("gpu"),
            joules("cpu"),
            joules("ram"),
            f"{vae['latency_s']:.2f}" if vae else "-",
            f"{req['latency_s']:.1f}",
            f"{req['energy_total_j']:.0f}",
        )
    console = make_console()
    console.print(table)
    steps = points[0]["config"]["steps"] if points else 0
    console.print(
        f"* estimated (no hardware counter). req = extrapolated: {steps} x step + text encode + VAE "
        "decode (those measured)"
    )


def register(app: typer.Typer) -> None:
    """Attach ``measure-video`` and ``calibrate-video`` to the main app."""

    @app.command("measure-video")
    def measure_video(
        model: str = typer.Argument(
            ..., help="bundled video model (wan2.1-t2v-1.3b, tiny-wan), local pipeline folder"
        ),
        height: str = typer.Option("480", help="pixel height(s), comma list"),
        width: str = typer.Option("832", help="pixel width(s), comma list (grid with --height)"),
        resolution: str = typer.Option(
            "", help="HxW list instead of the height x width grid, e.g. 480x832,720x1280"
        ),
        frames: str = typer.Option("17", help="frame count(s), 4k+1 for Wan, comma list"),
        steps: int = typer.Option(50, help="denoising steps for the extrapolated request total"),
        dtype: str = typer.Option("bfloat16", help="transformer dtype(s), comma list"),
        device: str = typer.Option("cuda", help="cuda or cpu"),
        cfg: bool = typer.Option(
            True, "--cfg/--no-cfg", help="classifier-free guidance: two forwards per step"
        ),
        vae: bool = typer.Option(False, "--vae/--no-vae", help="also measure one VAE decode"),
        vae_dtype: str = typer.Option(
            "float32", help="VAE dtype (diffusers' Wan example decodes in float32)"
        ),
        text_encoder: bool = typer.Option(
            False, "--text-encoder/--no-text-encoder", help="also measure UMT5"
        ),
        min_window_s: float = typer.Option(1.2, help="minimum measured window per phase, seconds"),
        min_reps: int = typer.Option(2, help="minimum repetitions per phase"),
        warmup: int = typer.Option(1, help="warm-up repetitions per phase"),
        db: str = typer.Option("joulebench.db", help="results database (SQLite)"),
        as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
    ) -> None:
        """Measure one denoising step (and optionally VAE decode, text encoder) per grid point."""
        resolutions = (
            parse_resolutions(resolution)
            if resolution
            else list(itertools.product(parse_int_list("--height", height), parse_int_list("--width", width)))
        )
        load_spec(model)
        protocol = Protocol(warmup_reps=warmup, min_window_s=min_window_s, min_reps=min_reps)
        plan = VideoPlan(
            models=[model],
            resolutions=resolutions,
            frames=parse_int_list("--frames", frames),
            dtypes=parse_str_list("--dtype", dtype, DTYPES),
            device=device,
            cfg=[cfg],
            steps=steps,
            vae=vae,
            vae_dtype=vae_dtype,
            text_encoder=text_encoder,
            protocols={
                **{k: protocol for k in DEFAULT_PROTOCOLS},
                "vae_decode": Protocol(warmup, min_window_s, 1),
            },
        )
        if Path(db).is_dir():
            raise UsageError(f"--db {db}: is a directory; give a file path")

        def progress(event: str, index: int, config: Mapping[str, Any], payload: Any) -> None:
            where = (
                f"[{index + 1}/{len(plan.points())}] {config['height']}x{config['width']}x{config['frames']}"
            )
            sys.stderr.write(f"{event:7s} {where}{'  ' + str(payload)[:200] if event == 'failed' else ''}\n")

        points = run_video_plan(plan, db, command_line(), on_event=progress)
        if as_json:
            sys.stdout.write(json.dumps({"points": points}, indent=2, default=str) + "\n")
        else:
            _print_table(points)

    @app.command("calibrate-video")
    def calibrate_video(
        db: str = typer.Option("joulebench.db", help="results database with video points"),
        out: str = typer.Option("calibration-video", help="output folder for profile, table and figure"),
        gpu_name: str = typer.Option("auto", help="catalogue GPU name or 'auto' (from the stored runs)"),
        model: str = typer.Option("", help="only points of this model (default: the most measured)"),
        dtype: str = typer.Option("bfloat16", help="only points of this dtype"),
        train_resolutions: str = typer.Option(
            "", help="HxW list used to fit (default: smallest and largest)"
        ),
        train_frames: str = typer.Option("", help="frame counts used to fit (default: min, middle, max)"),
        latency_model: str = typer.Option(
            "split", help="split: separate dense and attention efficiency; single: one mu for all FLOPs"
        ),
        as_json: bool = typer.Option(False, "--json", help="print the validation summary as JSON"),
    ) -> None:
        """Fit DiT efficiency and power on some stored points, validate on the held-out rest."""
        from joulebench.calibration.video import Split, calibrate_and_validate

        split = Split(
            train_resolutions=tuple(parse_resolutions(train_resolutions)) if train_resolutions else None,
            train_frames=tuple(parse_int_list("--train-frames", train_frames)) if train_frames else None,
        )
        if Path(out).exists() and not Path(out).is_dir():
            raise UsageError(f"--out {out}: exists and is not a folder")
        report = calibrate_and_validate(
            db,
            out,
            gpu_name=None if gpu_name == "auto" else gpu_name,
            model=model or None,
            dtype=dtype,
            split=split,
            latency_model=latency_model,
        )
        if as_json:
            sys.stdout.write(json.dumps(report, indent=2, default=str) + "\n")
        else:
            sys.stdout.write(report["text"] + "\n")
