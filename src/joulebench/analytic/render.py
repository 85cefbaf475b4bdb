"""JSON documents and rich tables of predictions: the stable contract other tools read.

LLM document keys: ``prefill`` and ``decode`` ({flops, executed_flops, bytes, latency_s, energy_j,
ops[...]}), ``request`` (totals), ``attention_flops_convention`` and ``flops_convention`` (what
``flops`` and ``executed_flops`` count), ``cost_model``, ``energy_model``, ``params``,
``params_source``, ``engine``, ``memory`` (the fit: bytes needed and the card's), ``floors`` (per phase
time and energy floors, ``below_floor`` flagged), ``family_approximate`` when no family parser read it.
Video document keys: ``components`` ({text_encoder, dit, vae_decoder, ...} each with flops,
latency_s, energy_j; dit also flops_per_forward) and ``total`` {flops, latency_s, energy_j}.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from joulebench import __version__
from joulebench.analytic.params import DEFAULTS_UNCERTAINTY
from joulebench.analytic.precision import Precision
from joulebench.analytic.predict import ATTENTION_FLOPS_CONVENTION, FLOPS_CONVENTION, LLMPrediction, PhasePrediction

SCHEMA_VERSION = 1


def llm_document(
    pred: LLMPrediction,
    prec: Precision,
    params_source: str,
    command: str | None = None,
    explain: dict[str, Any] | None = None,
) -> dict[str, Any]:
    decode = pred.decode.to_dict()
    decode["latency_per_token_s"] = (pred.decode.latency_s / pred.decode.steps) if pred.decode.steps else None
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "joulebench_version": __version__,
        "kind": "llm",
        "model": pred.model,
        "gpu": pred.gpu,
        "dtype": pred.dtype,
        "precision": asdict(prec),
        "prompt_tokens": pred.prompt_tokens,
        "output_tokens": pred.output_tokens,
        "batch": pred.batch,
        "graphs": pred.graphs,
        "attention_flops_convention": ATTENTION_FLOPS_CONVENTION,
        "flops_convention": FLOPS_CONVENTION,
        "cost_model": pred.params.cost_model,
        "energy_model": pred.params.energy_model,
        "phases_note": "prefill produces token 1; decode produces tokens 2..G over a cache of s+t-1 tokens",
        "prefill": pred.prefill.to_dict(),
        "decode": decode,
        "request": {
            "flops": pred.prefill.flops + pred.decode.flops,
            "executed_flops": (pred.prefill.executed_flops or 0.0) + (pred.decode.executed_flops or 0.0),
            "bytes": pred.prefill.bytes + pred.decode.bytes,
            "latency_s": pred.latency_s,
            "energy_j": pred.energy_j,
            "energy_per_output_token_j": pred.energy_j / (pred.output_tokens * pred.batch),
        },
        "params": pred.params.to_dict(),
        "params_source": params_source,
    }
    if params_source == "catalogue-defaults":
        doc["params_uncertainty"] = DEFAULTS_UNCERTAINTY
    if explain is not None:
        doc["explain"] = explain
    if command:
        doc["command"] = command
    return doc


def _fmt(x: float, unit: str = "") -> str:
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}".strip()


def _time(x: float) -> str:
    if x >= 1:
        return f"{x:.3g} s"
    if x >= 1e-3:
        return f"{x * 1e3:.3g} ms"
    return f"{x * 1e6:.3g} us"


def console():
    """A rich console at least 120 columns wide, so piped tables are not truncated."""
    import shutil

    from rich.console import Console

    return Console(width=max(shutil.get_terminal_size((120, 24)).columns, 120))


def phase_table(title: str, phase: PhasePrediction):
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in ("op", "FLOPs", "bytes", "FLOP/B", "kernels", "bound", "latency", "share"):
        table.add_column(col, justify="left" if col in ("op", "bound") else "right")
    for op in sorted(phase.ops, key=lambda o: -o.latency_s):
        share = op.latency_s / phase.latency_s if phase.latency_s else 0.0
        intensity = f"{op.flops / op.bytes:.3g}" if op.bytes else "-"
        table.add_row(
            op.name,
            _fmt(op.flops),
            _fmt(op.bytes, "B"),
            intensity,
            f"{op.n_kernels:.0f}",
            op.bound,
            _time(op.latency_s),
            f"{share:.1%}",
        )
    table.add_row(
        "total",
        _fmt(phase.flops),
        _fmt(phase.bytes, "B"),
        "",
        f"{phase.n_kernels:.0f}",
        "",
        _time(phase.latency_s),
        f"{phase.energy_j:.4g} J",
        style="bold",
    )
    return table


def print_llm(doc: dict[str, Any], pred: LLMPrediction, explain_text: str | None = None) -> None:
    out = console()
    out.print(
        f"[bold]{pred.model}[/] on [bold]{pred.gpu}[/], {pred.dtype}, engine {pred.engine}, prompt "
        f"{pred.prompt_tokens}, output {pred.output_tokens}, batch {pred.batch}  (params: {doc['params_source']}, "
        f"cost model {pred.params.cost_model})"
    )
    for key in ("family_approximate",):
        if key in doc:
            out.print(f"[yellow]{doc[key]}[/]")
    memory = doc.get("memory")
    if memory:
        line = f"memory: {memory['total_bytes'] / 1e9:.1f} GB of {memory['device_bytes'] / 1e9:.1f} GB"
        out.print(line + (" [yellow](tight)[/]" if memory["tight"] else "")
                  + (f" [red]{memory['offload']}[/]" if "offload" in memory else ""))
    out.print(phase_table("prefill (token 1)", pred.prefill))
    out.print(
        phase_table(f"decode (tokens 2..{pred.output_tokens}, {pred.decode.steps} steps)", pred.decode)
    )
    for phase, floor in (doc.get("floors") or {}).items():
        if floor["below_floor"]:
            out.print(f"[red]{phase} is below its physical floor ({_time(floor['time_s'])}): check the profile[/]")
    req = doc["request"]
    out.print(
        f"[bold]request[/]: {_time(req['latency_s'])}, {req['energy_j']:.4g} J "
        f"({req['energy_j'] / 3600:.4g} Wh), {_fmt(req['flops'])}FLOP, attention FLOPs counted "
        f"{doc['attention_flops_convention']}"
    )
    if "params_uncertainty" in doc:
        out.print(f"[dim]{doc['params_uncertainty']}[/]")
    if explain_text:
        out.print(explain_text)


def print_video(doc: dict[str, Any]) -> None:
    from rich.table import Table

    out = console()
    lat = doc["latent"]
    out.print(
        f"[bold]{doc['model']}[/] on [bold]{doc['gpu']}[/]: {doc['height']}x{doc['width']}, "
        f"{doc['frames']} frames, "
        f"{doc['steps']} steps, cfg={doc['cfg']}; latent {lat['frames']}x{lat['height']}x{lat['width']}, "
        f"{lat['tokens']} tokens  (params: {doc['params_source']})"
    )
    table = Table(title="components", title_justify="left")
    for col in ("component", "calls", "FLOPs", "bytes", "bound", "latency", "energy"):
        table.add_column(col, justify="left" if col in ("component", "bound") else "right")
    for name, comp in doc["components"].items():
        table.add_row(
            name,
            str(comp["calls"]),
            _fmt(comp["flops"]),
            _fmt(comp["bytes"], "B"),
            comp["bound"],
            _time(comp["latency_s"]),
            f"{comp['energy_j']:.4g} J",
        )
    tot = doc["total"]
    table.add_row(
        "total",
        "",
        _fmt(tot["flops"]),
        "",
        "",
        _time(tot["latency_s"]),
        f"{tot['energy_j']:.4g} J",
        style="bold",
    )
    out.print(table)
    for name, comp in doc["components"].items():
        ops = Table(title=f"{name}: ops per call", title_justify="left")
        for col in ("op", "FLOPs", "bytes", "bound", "latency"):
            ops.add_column(col, justify="left" if col in ("op", "bound") else "right")
        for op in sorted(comp["ops"], key=lambda o: -o["latency_s"])[:12]:
            ops.add_row(
                op["name"], _fmt(op["flops"]), _fmt(op["bytes"], "B"), op["bound"], _time(op["latency_s"])
            )
        out.print(ops)
    if "params_uncertainty" in doc:
        out.print(f"[dim]{doc['params_uncertainty']}[/]")
