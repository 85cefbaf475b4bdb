"""CLI commands: ``predict llm`` and ``predict video`` (thin: parse, call analytic.service, print)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from joulebench.commands import command_line
from joulebench.commands.options import HARDWARE_FILE, JSON_DOC, OUT_DOC

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
    dtype: str = typer.Option("bf16", "--dtype", help="any spelling of joulebench.hardware.dtypes: fp32, bf16, fp16, "
                              "bnb-int8, bnb-nf4, torchao-int8/int4/fp8, fp8, int8, int4"),
    prompt_tokens: int = typer.Option(..., "--prompt-tokens", help="prompt length s (batch padded to it)"),
    output_tokens: int = typer.Option(..., "--output-tokens", help="generated tokens G (prefill makes the 1st)"),
    batch: int = typer.Option(1, "--batch", help="sequences per batch"),
    engine: str = typer.Option(None, "--engine", help="eager (transformers generate, default), static (static cache "
                               "+ compiled decode), server (continuous batching, approximate); default: the "
                               "profile's engine"),
    calibration: str = typer.Option(None, "--calibration", help="profile YAML/JSON with a 'params' mapping "
                                    "(bounds checked: 0 < mu <= 1, energies >= 0, idle within the card's range)"),
    hardware_file: str = HARDWARE_FILE,
    kv_dtype: str = typer.Option(None, "--kv-dtype", help="KV-cache dtype when it differs"),
    attn: str = typer.Option(None, "--attn", help="sdpa or eager (default: what transformers uses)"),
    cache: str = typer.Option(None, "--cache", help="dynamic or static: overrides the engine's cache"),
    static_cache_len: int = typer.Option(None, "--static-cache-len", help="static engine: the cache length "
                                         "(default s + G - 1, as generate sizes it)"),
    mla_absorbed: bool = typer.Option(False, "--mla-absorbed", help="DeepSeek MLA in the absorbed form (what "
                                      "serving engines run) instead of transformers' re-expansion"),
    allow_offload: bool = typer.Option(False, "--allow-offload", help="price a configuration that does not fit in "
                                       "the card's memory (labelled; offload transfers not modelled)"),
    graphs: bool = typer.Option(False, "--graphs/--eager", help="CUDA graphs / compiled: no launch term"),
    tp: int = typer.Option(1, "--tp", help="tensor-parallel degree: the prediction is one GPU's shard, plus the "
                           "group's all-reduces over the card's link (tensor_parallel in --json)"),
    as_json: bool = JSON_DOC,
    explain: bool = typer.Option(False, "--explain", help="closed forms and regime boundaries"),
    out: Path = OUT_DOC,
) -> None:
    """Predict one LLM request: prefill (token 1) and decode (tokens 2..G)."""
    from joulebench.analytic.render import print_llm
    from joulebench.analytic.service import llm_prediction

    doc, pred, text = llm_prediction(
        model, gpu, dtype, prompt_tokens, output_tokens, batch, calibration=calibration, hardware_file=hardware_file,
        graphs=graphs, kv_dtype=kv_dtype, attn_impl=attn, cache=cache, engine=engine, mla_absorbed=mla_absorbed,
        static_cache_len=static_cache_len, allow_offload=allow_offload, explain=explain, command=command_line(), tp=tp,
    )
    _emit(doc, out, as_json)
    if not as_json:
        print_llm(doc, pred, text)
        if "tensor_parallel" in doc:
            from joulebench.report.console import console

            group = doc["tensor_parallel"]
            req, comm = group["request"], group["communication"]
            console().print(f"tensor parallel x{group['degree']}: the tables are one GPU's shard; with the "
                            f"all-reduces ({comm['prefill_s'] * 1e3:.2f} ms prefill, {comm['decode_s'] * 1e3:.1f} ms "
                            f"decode) the request takes {req['latency_s']:.3f} s and {req['energy_j']:.1f} J over "
                            f"{group['degree']} GPUs ({req['energy_per_gpu_j']:.1f} J each)", markup=False)


@predict_app.command("video")
def video(
    model: str = typer.Argument(..., help="bundled video model, hub id a bundled config names, or local config"),
    height: int = typer.Option(..., "--height", help="pixels; a multiple of the family's size multiple (Wan 16, LTX 32)"),
    width: int = typer.Option(..., "--width", help="pixels; a multiple of the family's size multiple (Wan 16, LTX 32)"),
    frames: int = typer.Option(..., "--frames", help="frame count; the family's rule (Wan, CogVideoX, Hunyuan 4k+1; "
                               "LTX 8k+1; Mochi 6k+1)"),
    steps: int = typer.Option(..., "--steps", help="denoising steps"),
    cfg: bool = typer.Option(True, "--cfg/--no-cfg", help="classifier-free guidance (as the family runs it)"),
    gpu: str = typer.Option(..., "--gpu", help="catalogue name, 'auto', or a probe .yaml"),
    dtype: str = typer.Option("bf16", "--dtype", help="transformer dtype: fp32, bf16, fp16, ..."),
    vae_dtype: str = typer.Option(None, "--vae-dtype", help="VAE dtype (default: the one the model's pipeline "
                                  "decodes in, as measure video runs it; Wan: fp32, priced at the TF32 peak)"),
    prompt_tokens: int = typer.Option(None, "--prompt-tokens", help="unmasked prompt tokens (Mochi attends only to "
                                      "those)"),
    calibration: str = typer.Option(None, "--calibration", help="video profile YAML (docs/validation/video/)"),
    hardware_file: str = HARDWARE_FILE,
    graphs: bool = typer.Option(False, "--graphs/--eager", help="CUDA graphs / compiled: no launch term"),
    as_json: bool = JSON_DOC,
    out: Path = OUT_DOC,
) -> None:
    """Predict one text-to-video generation: text encoder, DiT steps (x CFG), VAE decoder."""
    from joulebench.analytic.render import print_video
    from joulebench.analytic.video import video_prediction

    doc = video_prediction(
        model, height, width, frames, steps, cfg=cfg, gpu=gpu, dtype=dtype, calibration=calibration,
        hardware_file=hardware_file, graphs=graphs, command=command_line(), prompt_tokens=prompt_tokens,
        vae_dtype=vae_dtype,
    )
    _emit(doc, out, as_json)
    if not as_json:
        print_video(doc)


def register(app: typer.Typer) -> None:
    """Attach this family's commands to the main app."""
    app.add_typer(predict_app, name="predict")
