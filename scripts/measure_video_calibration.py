"""Device plan for the video calibration (issue 4, item 5): Wan2.1-T2V-1.3B DiT steps on one H100/H200.

Measures bf16 denoising steps with CFG (two forwards, as WanPipeline runs them) over a grid that is
both a calibration set and a held-out set, plus one VAE decode and one text encoding, into ``--db``;
then fits and validates (``calibration.video.calibrate_and_validate``) into ``--out``.

Grid (default split: fit on the corners, predict the inside and an off-grid size)::

    resolutions 320x576, 480x832, 720x1280  x  frames 17, 33, 49, 65, 81   (15 points)
    fit:      {320x576, 720x1280} x {17, 49, 81}                             (6 points)
    held out: 480x832 x all frames, {320x576, 720x1280} x {33, 65}, 544x960x41 (10 points)

Budget: the largest step (720x1280x81, CFG) is ~5 s on H200 (DESIGN.md: 2.44 s per forward), run
1 warm-up + 2 measured = ~15 s; the whole grid is ~2-3 min of GPU time plus model builds.

    PYTHONPATH=src python scripts/measure_video_calibration.py --db video.db --out calibration-video
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from joulebench.experiments.progress import LineObserver
from joulebench.experiments.video_plan import VideoPlan, run_video_points
from joulebench.meters.window import Protocol
from joulebench.workloads.diffusion.point import DEFAULT_PROTOCOLS, VideoPoint

GRID_RESOLUTIONS = [(320, 576), (480, 832), (720, 1280)]
GRID_FRAMES = [17, 33, 49, 65, 81]
EXTRA_HELD_OUT = [((544, 960), 41)]
PHASE_WINDOW = Protocol(warmup_reps=1, min_window_s=1.2, min_reps=2)
VAE_WINDOW = Protocol(warmup_reps=1, min_window_s=1.2, min_reps=1)


def build_points(model: str, steps: int, with_vae: bool) -> list[VideoPoint]:
    protocols = {**{k: PHASE_WINDOW for k in DEFAULT_PROTOCOLS}, "vae_decode": VAE_WINDOW}
    common: dict[str, Any] = {
        "models": [model],
        "dtypes": ["bfloat16"],
        "device": "cuda",
        "cfg": [True],
        "steps": steps,
        "protocols": protocols,
    }
    plan = VideoPlan.grid(resolutions=GRID_RESOLUTIONS, frames=GRID_FRAMES, **common)
    for res, frames in EXTRA_HELD_OUT:
        plan = plan + VideoPlan.grid(resolutions=[res], frames=[frames], **common)
    if with_vae:  # one complete request: text encoder + step + VAE decode (fp32, as diffusers' Wan example)
        plan = plan + VideoPlan.grid(resolutions=[(480, 832)], frames=[33], vae=True, vae_dtype="float32",
                                     text_encoder=True, **common)
    # largest first: long steps keep the GPU at its steady clocks and power for the short ones after
    order = sorted(zip(plan.shapes, plan.typed_points, strict=True), key=lambda sp: -sp[0].tokens)
    return [point for _, point in order]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", default="calibration-video")
    parser.add_argument("--model", default="wan2.1-t2v-1.3b")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--no-vae", action="store_true", help="skip the VAE decode / text encoder point")
    parser.add_argument("--no-fit", action="store_true", help="measure only")
    parser.add_argument(
        "--prewarm-s", type=float, default=5.0, help="unmeasured steps before the first point"
    )
    args = parser.parse_args(argv)

    points = build_points(args.model, args.steps, not args.no_vae)
    t_start = time.perf_counter()
    print(f"{len(points)} points into {args.db}", flush=True)


    results = run_video_points(
        points,
        args.db,
        "scripts/measure_video_calibration.py " + " ".join(sys.argv[1:]),
        {"kind": "video", "script": "measure_video_calibration", "points": [p.to_config() for p in points]},
        prewarm_s=args.prewarm_s,
        observer=LineObserver(),
    )
    print(
        f"measured in {time.perf_counter() - t_start:.1f}s; {sum('error' in r for r in results)} failed",
        flush=True,
    )
    if args.no_fit:
        return 0
    from joulebench.calibration.video import calibrate_and_validate

    for latency_model in ("split", "single"):
        out = f"{args.out}/{latency_model}"
        report = calibrate_and_validate(args.db, out, latency_model=latency_model)
        print(f"\n== latency model: {latency_model} ==\n{report['text']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
