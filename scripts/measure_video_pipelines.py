"""Device plan for issue 19 on one H200: real diffusers pipelines, few-steps prediction against full runs,
the component split behind the study's 410 s, the scaling sweeps and the cross-model table.

Parts (``--parts``, comma list, run in this order; each prints its table and writes ``$OUT``):

    validate-480  the same at 480x832x81 only (one full run)                                          ~2 min
    split-720     the 720x1280x81 call with K=3 steps: its component split and the 50-step prediction ~1 min
    validate      Wan2.1-1.3B at 720x1280x81 and 480x832x81, 50 steps: K=3 steps sampled (predicted)
                  and the full 50-step run, the error of the prediction, the call's parts      ~7 min
    offload       the 720x1280x81 K=3 call again with enable_model_cpu_offload (needs accelerate)  ~1 min
    scaling       the three Wan2.1-1.3B sweeps at 2 sampled steps (resolution up to 1088x1920; frames
                  5..97; steps 1, 2, 5 full and 50, 200 predicted)                            ~7 min
    models        cross-model table at each model's defaults, 2 sampled steps: AnimateDiff-Lightning,
                  CogVideoX-2b/5b, LTX-Video-0.9.7-dev, Mochi-1                               ~5 min
                  (measured on the H200, 2026-12-03: scaling + models together 501 s, with two
                  models failing early; docs/validation/video/pipelines/scaling_models.cmd)
    models-large  Wan2.1-14B (720x1280x81) and HunyuanVideo (720x1280x129), 2 sampled steps    ~8 min

Every run stores into ``$OUT/video_pipelines.db`` (resumable: rerunning a part skips what is stored) and
writes ``$OUT/<part>.json`` (the JSON points plus comparisons: prediction vs full run, the study's Table 4,
the analytic prediction with the catalogue defaults and with the committed H200 profile).

    OUT=out PYTHONPATH=src python scripts/measure_video_pipelines.py --parts validate
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from joulebench.experiments.progress import LineObserver
from joulebench.experiments.studies.video import TABLE4, model_defaults, video_models_plan, video_scaling_plans
from joulebench.experiments.video_plan import VideoPlan, run_video_points
from joulebench.workloads.diffusion.point import VideoPoint

WAN = "wan2.1-t2v-1.3b"
PROFILE = Path(__file__).resolve().parents[1] / "docs" / "validation" / "video" / "h200-diffusers-eager-bfloat16-video.yaml"
PARTS = ("validate", "validate-480", "split-720", "offload", "scaling", "models", "models-large")


def _pipe(model: str, h: int, w: int, t: int, steps: int, sample: int | None, offload: str = "none") -> VideoPoint:
    return VideoPoint(model=model, height=h, width=w, frames=t, steps=steps, mode="pipeline", sample_steps=sample,
                      offload=offload, device="cuda")


def plan_for(part: str) -> VideoPlan:
    if part == "validate":  # sampled first: the full run then finds the sizes warmed up
        points = [_pipe(WAN, h, w, 81, 50, k) for h, w in ((720, 1280), (480, 832)) for k in (3, None)]
        return VideoPlan(tuple(points), "validate")
    if part == "validate-480":  # the few-steps prediction against one full run at 480x832x81 (~2 min)
        return VideoPlan(tuple(_pipe(WAN, 480, 832, 81, 50, k) for k in (3, None)), "validate-480")
    if part == "split-720":  # the study's 720x1280x81 call, 3 steps measured inside it, 50 predicted (~1 min)
        return VideoPlan((_pipe(WAN, 720, 1280, 81, 50, 3),), "split-720")
    if part == "offload":
        return VideoPlan((_pipe(WAN, 720, 1280, 81, 50, 3, "model"),), "offload")
    if part == "scaling":
        plans = video_scaling_plans(sample_steps=2, full_steps=5, resolutions=((256, 256), (320, 576), (480, 832),
                                    (720, 1280), (1088, 1920)), step_counts=(1, 2, 5, 50, 200))
        return plans["resolution"] + plans["frames"] + plans["steps"]
    if part == "models":
        return video_models_plan(("animatediff-lightning", "cogvideox-2b", "cogvideox-5b", "ltx-video-0.9.7-dev",
                                  "mochi-1"), sample_steps=2)
    if part == "models-large":
        return video_models_plan(("wan2.1-t2v-14b", "hunyuanvideo"), sample_steps=2)
    raise SystemExit(f"unknown part {part!r}; parts: {', '.join(PARTS)}")


def _analytic(config: dict[str, Any]) -> dict[str, Any]:
    """``predict video`` for the point: catalogue defaults and, for Wan2.1-1.3B, the committed profile."""
    from joulebench.analytic.video import video_prediction

    out: dict[str, Any] = {}
    for label, calibration in (("defaults", None), ("h200_profile", str(PROFILE))):
        if calibration and config["model"] != WAN:
            continue
        try:
            doc = video_prediction(config["model"], config["height"], config["width"], config["frames"],
                                   config["steps"], cfg=config["cfg"], gpu="h200", dtype=config["dtype"],
                                   calibration=calibration, vae_dtype=config.get("vae_dtype"))
            out[label] = {"latency_s": doc["total"]["latency_s"], "energy_j": doc["total"]["energy_j"],
                          "components_s": {k: v["latency_s"] for k, v in doc["components"].items()}}
        except Exception as exc:  # noqa: BLE001 - AnimateDiff has no op model: say so in the output
            out[label] = {"error": str(exc)[:200]}
    return out


def _request(point: dict[str, Any]) -> dict[str, Any]:
    return point.get("request") or point.get("request_predicted") or {}


def compare(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per point: the request, the call's parts, the study's figure, the analytic prediction, and for a
    sampled point with a full run of the same sizes, the prediction's error."""
    full = {(p["config"]["model"], p["config"]["height"], p["config"]["width"], p["config"]["frames"],
             p["config"]["steps"], p["config"]["offload"]): p for p in points if "request" in p}
    rows = []
    for p in points:
        c = p["config"]
        if "error" in p:
            rows.append({"config": c, "error": p["error"]})
            continue
        req = _request(p)
        row = {"config": c, "latency_s": req.get("latency_s"), "latency_ci95_s": req.get("latency_ci95_s"),
               "energy_j": req.get("energy_j"), "parts_s": {k: v["latency_s"] for k, v in p["parts"].items()},
               "step_mean_s": p["steps"]["mean_latency_s"], "forwards_per_step": p["forwards_per_step"],
               "analytic": _analytic(c)}
        ref = full.get((c["model"], c["height"], c["width"], c["frames"], c["steps"], c["offload"]))
        if ref is not None and ref is not p:
            truth = ref["request"]
            row["full_run"] = {"latency_s": truth["latency_s"], "energy_j": truth["energy_j"],
                               "latency_error_pct": 100 * (req["latency_s"] / truth["latency_s"] - 1),
                               "gpu_energy_error_pct": 100 * (req["energy_j"]["gpu"] / truth["energy_j"]["gpu"] - 1)
                               if "gpu" in truth["energy_j"] else None}
        defaults = model_defaults(c["model"]) if c["model"] in TABLE4 else None
        if defaults and all(c[k] == defaults[k] for k in ("height", "width", "frames", "steps")):
            row["study_table4"] = TABLE4[c["model"]]
        rows.append(row)
    return rows


def print_rows(part: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n== {part} ==", flush=True)
    print(f"{'model':22s} {'HxWxT':>14s} {'steps':>5s} {'K':>4s} {'req s':>9s} {'±95%':>7s} {'GPU Wh':>8s} "
          f"{'text':>6s} {'steps s':>8s} {'fwd s':>8s} {'VAE':>6s} {'post':>6s} {'vs full %':>9s} {'study s':>8s}")
    for r in rows:
        c = r["config"]
        where = f"{c['height']}x{c['width']}x{c['frames']}"
        if "error" in r:
            print(f"{c['model']:22s} {where:>14s} FAILED {r['error'][:120]}")
            continue
        parts = r["parts_s"]
        steps_s = parts["denoiser_forwards"] + parts["step_rest"]
        ci = "full" if r["latency_ci95_s"] is None else f"{r['latency_ci95_s']:.2f}"
        gpu = (r["energy_j"] or {}).get("gpu")
        err = r.get("full_run", {}).get("latency_error_pct")
        study = r.get("study_table4", {}).get("latency_s")
        print(f"{c['model']:22s} {where:>14s} {c['steps']:5d} {str(c['sample_steps'] or '-'):>4s} "
              f"{r['latency_s']:9.2f} {ci:>7s} {gpu / 3600 if gpu else float('nan'):8.3f} {parts['text_encode']:6.2f} "
              f"{steps_s:8.2f} {parts['denoiser_forwards']:8.2f} {parts['vae_decode']:6.2f} {parts['postprocess']:6.2f} "
              f"{'' if err is None else f'{err:+.2f}':>9s} {'' if study is None else f'{study:.1f}':>8s}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="validate", help=f"comma list of {', '.join(PARTS)}")
    parser.add_argument("--prewarm-s", type=float, default=5.0)
    args = parser.parse_args(argv)
    out = Path(os.environ.get("OUT", "out"))
    out.mkdir(parents=True, exist_ok=True)
    db = out / "video_pipelines.db"
    start = time.perf_counter()
    try:
        run_parts(args, out, db)
    except KeyboardInterrupt:  # `timeout -s INT` in a device call: one line, every finished point stays stored
        print(f"interrupted after {time.perf_counter() - start:.0f} s; finished points are in {db}", flush=True)
        return 130
    print(f"done in {time.perf_counter() - start:.0f} s; store {db}", flush=True)
    return 0


def run_parts(args: argparse.Namespace, out: Path, db: Path) -> None:
    for part in [p.strip() for p in args.parts.split(",") if p.strip()]:
        if part == "offload":
            try:
                import accelerate  # noqa: F401
            except ImportError:
                print("offload: skipped (accelerate is not installed)", flush=True)
                continue
        plan = plan_for(part)
        points = run_video_points(plan.typed_points, db, "scripts/measure_video_pipelines.py " + " ".join(sys.argv[1:]),
                                  plan.to_dict(), prewarm_s=args.prewarm_s, observer=LineObserver())
        rows = compare(points)
        print_rows(part, rows)
        (out / f"{part}.json").write_text(json.dumps({"points": points, "comparison": rows}, indent=2, default=str))


if __name__ == "__main__":
    raise SystemExit(main())
