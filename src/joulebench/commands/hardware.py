"""CLI commands: ``hardware list``, ``hardware show NAME``, ``hardware probe`` (thin over hardware/)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from joulebench.commands.options import HARDWARE_FILE
from joulebench.report.console import console as make_console

hardware_app = typer.Typer(help="Accelerator catalogue and probe.", no_args_is_help=True)


def _tflops(value: float | None) -> str:
    return "-" if not value else f"{value / 1e12:.4g}"


@hardware_app.command("list")
def list_(
    hardware_file: str = HARDWARE_FILE,
    as_json: bool = typer.Option(False, "--json", help="print one JSON document instead of a table"),
) -> None:
    """All catalogue entries (built-in and user file) with their dense peaks."""
    from rich.table import Table

    from joulebench.hardware import catalogue

    entries = catalogue(hardware_file)
    if as_json:
        typer.echo(json.dumps({k: v.to_dict() for k, v in sorted(entries.items())}, indent=2))
        return
    table = Table(title="accelerators (dense peaks, TFLOP/s)")
    for col in ("name", "fp32", "tf32", "bf16", "fp8", "int8", "TB/s", "GB", "TDP W", "idle W"):
        table.add_column(col, justify="left" if col == "name" else "right")
    for name, acc in sorted(entries.items()):
        p = acc.peak_flops_per_s
        table.add_row(
            name,
            _tflops(p.get("fp32")),
            _tflops(p.get("tf32")),
            _tflops(p.get("bf16")),
            _tflops(p.get("fp8")),
            _tflops(p.get("int8")),
            f"{acc.memory_bandwidth_bytes_per_s / 1e12:.3g}",
            f"{acc.memory_bytes / 1e9:.4g}",
            f"{acc.tdp_w:.0f}",
            f"{acc.idle_power_w:.0f}",
        )
    make_console().print(table)


@hardware_app.command("show")
def show(
    name: str = typer.Argument(..., help="catalogue name or 'auto'"),
    hardware_file: str = HARDWARE_FILE,
) -> None:
    """One entry with every value's source (JSON)."""
    from joulebench.hardware import get_accelerator

    acc = get_accelerator(name, hardware_file)
    typer.echo(json.dumps({"name": acc.name, **acc.to_dict()}, indent=2))


@hardware_app.command("probe")
def probe_cmd(
    device: str = typer.Option("cuda", "--device", help="cuda or cpu"),
    out: Path = typer.Option(None, "--out", help="write the entry to this YAML file"),
    name: str = typer.Option(None, "--name", help="entry name (default: probe-<device>-<model>)"),
) -> None:
    """Measure achievable matmul FLOP/s per dtype and copy bandwidth; print (and write) an entry."""
    import yaml

    from joulebench.hardware.probe import probe, write_entry

    acc = probe(device=device, name=name)
    if out is not None:
        write_entry(acc, out)
        typer.echo(f"wrote {out} (use --gpu {out} or --hardware-file {out} --gpu {acc.name})", err=True)
    typer.echo(yaml.safe_dump({"accelerators": {acc.name: acc.to_dict()}}, sort_keys=False))


def register(app: typer.Typer) -> None:
    """Attach this family's commands to the main app."""
    app.add_typer(hardware_app, name="hardware")
