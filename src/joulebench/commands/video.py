"""CLI commands ``measure video`` and ``calibrate video``: parse, build a validated plan
(``experiments.video_plan``), run it, print. Bad input exits 2 with one line and nothing written.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import typer

from joulebench.commands import command_line
from joulebench.commands.options import DB, DEVICE, JSON
from joulebench.errors import UsageError
from joulebench.experiments.video_plan import VideoPlan, run_video_plan
from joulebench.hardware import dtypes
from joulebench.meters.window import Protocol
from joulebench.parsing import parse_int_list
from joulebench.store import DEFAULT_DB, check_db_path
from joulebench.workloads.diffusion.point import DEFAULT_PROMPT, DEFAULT_PROTOCOLS


def parse_resolutions(text: str) -> list[tuple[int, int]]:
    """``"480x832,720x1280"`` -> [(480, 832), (720, 1280)] (height x width)."""
    out: list[tuple[int, int]] = []
    for part in text.split(","):
        bits = part.strip().lower().split("x")
        if len(bits) != 2 or not all(b.strip().isdigit() for b in bits):
            raise UsageError.bad("resolution", text, f"'{part.strip()}' is not HEIGHTxWIDTH (e.g. 480x832)")
        out.append((int(bits[0]), int(bits[1])))
    return out


def measure_video(
    model: str = typer.Argument(..., help="bundled video model (wan2.1-t2v-1.3b, cogvideox-2b, ..., tiny-wan), "
                                "a hub id a bundled config names, or a local diffusers pipeline folder"),
    height: str = typer.Option("480", help="pixel height(s), comma list"),
    width: str = typer.Option("832", help="pixel width(s), comma list (grid with --height)"),
    resolution: str = typer.Option("", help="HxW list instead of the height x width grid, e.g. 480x832,720x1280"),
    frames: str = typer.Option("17", help="frame count(s), comma list; the family's rule applies (Wan: 4k+1)"),
    steps: int = typer.Option(50, help="denoising steps of the request (measured with --full, else predicted)"),
    full: bool = typer.Option(False, "--full", help="run the real pipeline with every step, windows inside the call"),
    sample_steps: int = typer.Option(None, "--sample-steps", help="run the real pipeline with K steps and predict "
                                     "the --steps run with its 95% interval"),
    dtype: str = typer.Option("bf16", help=f"transformer dtype(s), comma list: {dtypes.allowed(dtypes.TORCH_DTYPES)}"),
    device: str = DEVICE,
    cfg: bool = typer.Option(True, "--cfg/--no-cfg", help="classifier-free guidance (as the family runs it)"),
    vae: bool = typer.Option(False, "--vae/--no-vae", help="phases mode: also measure one VAE decode"),
    vae_dtype: str = typer.Option(None, help="VAE dtype (default: fp32 in phases mode, the model's default in "
                                  "pipeline mode, e.g. fp32 for Wan as diffusers' example)"),
    text_encoder: bool = typer.Option(False, "--text-encoder/--no-text-encoder", help="phases mode: also measure "
                                      "the text encoder"),
    offload: str = typer.Option("none", help="pipeline mode: none, model or sequential CPU offload (needs accelerate)"),
    prompt: str = typer.Option(DEFAULT_PROMPT, help="pipeline mode: the prompt (its length matters for Mochi)"),
    min_window_s: float = typer.Option(1.2, help="phases mode: minimum measured window per phase, seconds"),
    min_reps: int = typer.Option(2, help="phases mode: minimum repetitions per phase"),
    warmup: int = typer.Option(1, help="phases mode: warm-up repetitions per phase"),
    db: str = DB,
    as_json: bool = JSON,
) -> None:
    """Measure a text-to-video model: one denoising step (and VAE, text encoder) in repeated windows, or
    the real pipeline call (--full, --sample-steps K) with windows inside it."""
    if full and sample_steps is not None:
        raise UsageError.bad("sample_steps", sample_steps, "give --full or --sample-steps, not both")
    pipeline = full or sample_steps is not None
    if pipeline and (vae or text_encoder):
        raise UsageError.bad("vae" if vae else "text_encoder", True,
                             "the pipeline runs every component; the flag belongs to the phases mode")
    resolutions = (parse_resolutions(resolution) if resolution else
                   list(itertools.product(parse_int_list("height", height), parse_int_list("width", width))))
    protocol = Protocol(warmup_reps=warmup, min_window_s=min_window_s, min_reps=min_reps)
    plan = VideoPlan.grid(
        [model], resolutions, parse_int_list("frames", frames), dtypes.parse_list(dtype, "dtype", dtypes.TORCH_DTYPES),
        device, [cfg], steps, vae=vae, vae_dtype=vae_dtype, text_encoder=text_encoder,
        protocols={**{k: protocol for k in DEFAULT_PROTOCOLS}, "vae_decode": Protocol(warmup, min_window_s, 1)},
        mode="pipeline" if pipeline else "phases", sample_steps=sample_steps, offload=offload, prompt=prompt)
    check_db_path(db, "db")
    from joulebench.experiments.progress import ProgressObserver

    with ProgressObserver(len(plan.typed_points), quiet=as_json) as observer:
        points = run_video_plan(plan, db, command_line(), observer=observer)
    if as_json:
        sys.stdout.write(json.dumps({"points": points}, indent=2, default=str) + "\n")
    else:
        from joulebench.commands.video_table import print_video_points

        print_video_points(points)


def calibrate_video(
    db: str = typer.Option(DEFAULT_DB, help="results database with video points"),
    out: str = typer.Option("calibration-video", help="output folder for profile, table and figure"),
    gpu_name: str = typer.Option("auto", help="catalogue GPU name or 'auto' (from the stored runs)"),
    model: str = typer.Option("", help="only points of this model (default: the most measured)"),
    dtype: str = typer.Option("bfloat16", help="only points of this dtype"),
    train_resolutions: str = typer.Option("", help="HxW list used to fit (default: smallest and largest)"),
    train_frames: str = typer.Option("", help="frame counts used to fit (default: min, middle, max)"),
    latency_model: str = typer.Option("split", help="split: separate dense and attention efficiency; single: one "
                                      "mu for all FLOPs"),
    mode: str = typer.Option("phases", help="which steps to fit: phases (repeated step windows) or pipeline "
                             "(steps inside the real pipeline call); never mixed"),
    as_json: bool = typer.Option(False, "--json", help="print the validation summary as JSON"),
) -> None:
    """Fit DiT efficiency and power on some stored points, validate on the held-out rest."""
    from joulebench.calibration.video import calibrate_and_validate
    from joulebench.calibration.video_dataset import Split

    if mode not in ("phases", "pipeline"):
        raise UsageError.bad("mode", mode, "unknown; allowed: phases, pipeline")
    split = Split(
        train_resolutions=tuple(parse_resolutions(train_resolutions)) if train_resolutions else None,
        train_frames=tuple(parse_int_list("--train-frames", train_frames)) if train_frames else None,
    )
    if Path(out).exists() and not Path(out).is_dir():
        raise UsageError.bad("out", out, "exists and is not a folder")
    report = calibrate_and_validate(db, out, gpu_name=None if gpu_name == "auto" else gpu_name, model=model or None,
                                    dtype=dtype, split=split, latency_model=latency_model, mode=mode)
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(report["text"] + "\n")


def register(app: typer.Typer) -> None:
    """``measure video`` and ``calibrate video`` on the families' sub-apps (one grammar: ``VERB KIND``)."""
    from joulebench.commands.calibrate import calibrate_app
    from joulebench.commands.measure import measure_app

    measure_app.command("video")(measure_video)
    calibrate_app.command("video")(calibrate_video)
