"""CLI commands: ``predict llm`` and ``predict video`` (thin: parse, call analytic.service, print)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from joulebench.commands import command_line

predict_app = typer.Typer(
    help="Predict latency and energy analytically (no GPU needed).", no_args_is_help=True
)


def _emit(doc: dict, out: Path | None, as_json: bool) -> None:
    text = json.dumps(doc, indent=2)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    if as_json:
        typer.echo(text)


@predict_app.command("llm")
def llm(
    model: str = typer.Argument(..., help="bundled name, hub id or local folder with config.json"),
    gpu: str = typer.Option(..., "--gpu", help="catalogue name, 'auto', or a probe .yaml"),
    dtype: str = typer.Option("bf16", "--dtype", help="fp32, bf16, fp16, fp8, int8, int4"),
    prompt_tokens: int = typer.Option(..., "--prompt-tokens", help="prompt length s (batch padded to it)"),
    output_tokens: int = typer.Option(
        ..., "--output-tokens", help="generated tokens G (prefill makes the 1st)"
    ),
    batch: int = typer.Option(1, "--batch"),
    calibration: str = typer.Option(None, "--calibration", help="YAML/JSON with a 'params' mapping"),
    hardware_file: str = typer.Option(None, "--hardware-file", help="YAML of extra accelerators"),
    kv_dtype: str = typer.Option(None, "--kv-dtype", help="KV-cache dtype when it differs"),
    attn: str = typer.Option(None, "--attn", help="sdpa or eager (default: what transformers uses)"),
    cache: str = typer.Option("dynamic", "--cache", help="dynamic (transformers default) or static"),
    graphs: bool = typer.Option(False, "--graphs/--eager", help="CUDA graphs / compiled: no launch term"),
    as_json: bool = typer.Option(False, "--json", help="print the JSON document"),
    explain: bool = typer.Option(False, "--explain", help="closed forms and regime boundaries"),
    out: Path = typer.Option(None, "--out", help="also write the JSON document to this file"),
) -> None:
    """Predict one LLM request: prefill (token 1) and decode (tokens 2..G)."""
    from joulebench.analytic.render import print_llm
    from joulebench.analytic.service import llm_prediction

    doc, pred, text = llm_prediction(
        model,
        gpu,
        dtype,
        prompt_tokens,
        output_tokens,
        batch,
        calibration=calibration,
        hardware_file=hardware_file,
        graphs=graphs,
        kv_dtype=kv_dtype,
        attn_impl=attn,
        cache=cache,
        explain=explain,
        command=command_line(),
    )
    _emit(doc, out, as_json)
    if not as_json:
        print_llm(doc, pred, text)


@predict_app.command("video")
def video(
    model: str = typer.Argument(..., help="bundled video model name"),
    height: int = typer.Option(..., "--height"),
    width: int = typer.Option(..., "--width"),
    frames: int = typer.Option(..., "--frames"),
    steps: int = typer.Option(..., "--steps"),
    cfg: bool = typer.Option(True, "--cfg/--no-cfg", help="classifier-free guidance (2 DiT passes per step)"),
    gpu: str = typer.Option(..., "--gpu"),
    dtype: str = typer.Option("bf16", "--dtype"),
    calibration: str = typer.Option(None, "--calibration"),
    hardware_file: str = typer.Option(None, "--hardware-file"),
    graphs: bool = typer.Option(False, "--graphs/--eager"),
    as_json: bool = typer.Option(False, "--json"),
    out: Path = typer.Option(None, "--out"),
) -> None:
    """Predict one text-to-video generation: text encoder, DiT steps (x CFG), VAE decoder."""
    from joulebench.analytic.render import print_video
    from joulebench.analytic.video import video_prediction

    doc = video_prediction(
        model,
        height,
        width,
        frames,
        steps,
        cfg=cfg,
        gpu=gpu,
        dtype=dtype,
        calibration=calibration,
        hardware_file=hardware_file,
        graphs=graphs,
        command=command_line(),
    )
    _emit(doc, out, as_json)
    if not as_json:
        print_video(doc)


def register(app: typer.Typer) -> None:
    """Attach this family's commands to the main app."""
    app.add_typer(predict_app, name="predict")
