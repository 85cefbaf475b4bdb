"""The tables ``measure video`` prints: one row per point (phases mode: the step and the extrapolated
request; pipeline mode: the call's parts and the measured or predicted request)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from joulebench.report.console import console as make_console
from joulebench.report.tables import ESTIMATE_MARK


def _joules(doc: Mapping[str, Any], comp: str) -> str:
    e = doc.get("energy_j", {}).get(comp)
    return "-" if e is None else f"{ESTIMATE_MARK if doc.get('estimated', {}).get(comp) else ''}{e:.1f}"


def print_video_points(points: Sequence[Mapping[str, Any]]) -> None:
    from rich.table import Table

    console = make_console()
    phases = [p for p in points if p["config"].get("mode", "phases") == "phases"]
    pipeline = [p for p in points if p["config"].get("mode") == "pipeline"]
    if phases:
        models = sorted({p["config"]["model"] for p in phases})
        table = Table(title=f"{', '.join(models)}: one denoising step, and the request extrapolated to S steps")
        for col in ("HxW", "T", "cfg", "step s", "GPU J", "CPU J", "RAM J", "VAE s", "req s", "req J"):
            table.add_column(col, justify="right")
        for p in phases:
            c = p["config"]
            where = (f"{c['height']}x{c['width']}", str(c["frames"]), "on" if c["cfg"] else "off")
            if "error" in p:
                table.add_row(*where, "failed", p["error"][:40], "", "", "", "", "")
                continue
            step, req, vae = p["dit_step"], p["request_extrapolated"], p.get("vae_decode")
            table.add_row(*where, f"{step['latency_s']:.3f}", _joules(step, "gpu"), _joules(step, "cpu"),
                          _joules(step, "ram"), f"{vae['latency_s']:.2f}" if vae else "-", f"{req['latency_s']:.1f}",
                          f"{req['energy_total_j']:.0f}")
        console.print(table)
        steps = phases[0]["config"]["steps"]
        console.print(f"{ESTIMATE_MARK} = labelled estimate (no hardware counter). req = extrapolated: {steps} x step "
                      "+ text encode + VAE decode (those measured)")
    if pipeline:
        table = Table(title="real pipeline call: parts of the call, and the request (measured or predicted)")
        for col in ("model", "HxW", "T", "steps", "text s", "steps s", "VAE s", "other s", "call s", "req s",
                    "±95% s", "req GPU J"):
            table.add_column(col, justify="right")
        for p in pipeline:
            c = p["config"]
            head = (c["model"], f"{c['height']}x{c['width']}", str(c["frames"]))
            if "error" in p:
                table.add_row(*head, "failed", p["error"][:40], *[""] * 7)
                continue
            parts, call = p["parts"], p["call"]
            req = p.get("request") or p["request_predicted"]
            other = parts["prepare"]["latency_s"] + parts["postprocess"]["latency_s"]
            steps_s = parts["denoiser_forwards"]["latency_s"] + parts["step_rest"]["latency_s"]
            ci = req.get("latency_ci95_s")
            table.add_row(*head, f"{p['steps']['n']}/{c['steps']}", f"{parts['text_encode']['latency_s']:.2f}",
                          f"{steps_s:.2f}", f"{parts['vae_decode']['latency_s']:.2f}", f"{other:.2f}",
                          f"{call['latency_s']:.2f}", f"{req['latency_s']:.1f}", "measured" if ci is None else f"{ci:.2f}",
                          _joules(req, "gpu"))
        console.print(table)
