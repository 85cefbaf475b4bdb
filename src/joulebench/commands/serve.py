"""CLI commands: serve-bench (serving benchmark under a controlled arrival law).

Thin: parses options into a `experiments.serving_bench.ArmSpec`, which validates everything before any model is
loaded or any request sent, then `run_arms` does the work.
"""

from __future__ import annotations

import json
from typing import Any

import typer

from joulebench.commands import command_line
from joulebench.errors import UsageError
from joulebench.experiments.serving_bench import DEFAULT_OUTPUTS, DEFAULT_PROMPTS, ArmSpec, run_arms
from joulebench.report.console import console as make_console
from joulebench.serving.specs import parse_duration_s
from joulebench.workloads.engine import EngineConfig


def _gpus(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--gpus '{text}': use comma-separated GPU indices, e.g. 0,1") from None


def serve_bench(
    url: str | None = typer.Option(None, "--url", help="OpenAI-compatible server, e.g. http://host:8000"),
    model: str | None = typer.Option(
        None, "--model", help="served model name (--url) or model to load (--engine)"
    ),
    engine: str | None = typer.Option(None, "--engine", help="in-process engine: transformers | sequential"),
    dtype: str = typer.Option("bfloat16", "--dtype", help="float32 | float16 | bfloat16 (--engine)"),
    device: str = typer.Option("cuda", "--device", help="cpu | cuda | cuda:N (--engine)"),
    arrival: str = typer.Option(
        "burst",
        "--arrival",
        help="fixed:50ms | uniform:0s,1s | poisson:20/s | gamma:20/s,0.5 | burst | trace:FILE",
    ),
    requests: int = typer.Option(100, "--requests", help="number of requests"),
    prompts: str = typer.Option(
        DEFAULT_PROMPTS,
        "--prompts",
        help="synthetic:N | synthetic:LO-HI | synthetic:LO-HI,mean=M | FILE.jsonl",
    ),
    output_tokens: str = typer.Option(DEFAULT_OUTPUTS, "--output-tokens", help="N | LO-HI | LO-HI,mean=M"),
    max_duration: str = typer.Option("600s", "--max-duration", help="hard bound on the run"),
    request_timeout: str = typer.Option("600s", "--request-timeout", help="per-request timeout (--url)"),
    max_concurrency: int | None = typer.Option(None, "--max-concurrency", help="cap on requests in flight"),
    ramp_up: str = typer.Option("0s", "--ramp-up", help="rate grows linearly from 0 over this time"),
    slo: str | None = typer.Option(None, "--slo", help="goodput SLOs, e.g. ttft:0.5s,tpot:50ms"),
    prefill_weight: float = typer.Option(
        1.0, "--prefill-weight", help="cost of a prefill token vs a decode token"
    ),
    api: str = typer.Option("auto", "--api", help="auto | completions | chat (--url)"),
    transport: str = typer.Option("native", "--transport", help="native | httpx (--url)"),
    ignore_eos: bool = typer.Option(
        True, "--ignore-eos/--no-ignore-eos", help="ask the server for exact lengths"
    ),
    continuous_usage: bool = typer.Option(False, "--continuous-usage", help="vLLM per-chunk usage stats"),
    max_batch_tokens: int | None = typer.Option(None, "--max-batch-tokens", help="continuous batching knob"),
    num_blocks: int | None = typer.Option(None, "--num-blocks", help="continuous batching KV blocks"),
    page_size: int | None = typer.Option(None, "--page-size", help="continuous batching page size"),
    max_requests_per_batch: int | None = typer.Option(
        None, "--max-requests-per-batch", help="continuous batching"
    ),
    gpus: str | None = typer.Option(None, "--gpus", help="GPU indices to meter, e.g. 0,1 (default all)"),
    dcgm_url: str | None = typer.Option(
        None, "--dcgm-url", help="DCGM exporter /metrics URL of a remote server"
    ),
    idle: str = typer.Option("0s", "--idle", help="measure idle power this long before the run"),
    seed: int = typer.Option(0, "--seed"),
    name: str = typer.Option("arm", "--name", help="label of this arm"),
    tag: str | None = typer.Option(
        None, "--tag", help="store it as a new point even if the config ran before"
    ),
    db: str = typer.Option("joulebench.db", "--db", help="results database"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON summary document"),
) -> None:
    """Benchmark a server or an in-process engine under an arrival law: latency, throughput, energy."""
    engine_config = None
    if engine is not None:
        if not model:
            raise UsageError("--model: required with --engine (bundled name, hub id or local path)")
        engine_config = EngineConfig(
            model, engine, dtype, device, max_batch_tokens, num_blocks, page_size, max_requests_per_batch
        )
    arm = ArmSpec(
        name=name,
        arrival=arrival,
        requests=requests,
        prompts=prompts,
        output_tokens=output_tokens,
        seed=seed,
        ramp_up_s=parse_duration_s(ramp_up, "--ramp-up"),
        max_concurrency=max_concurrency,
        max_duration_s=parse_duration_s(max_duration, "--max-duration", allow_zero=False),
        slo=slo,
        prefill_weight=prefill_weight,
        url=url,
        model=model if url else None,
        api=api,
        request_timeout_s=parse_duration_s(request_timeout, "--request-timeout", allow_zero=False),
        transport=transport,
        ignore_eos=ignore_eos,
        continuous_usage=continuous_usage,
        engine=engine_config,
        tag=tag,
    )
    if engine_config is not None and url is not None:
        raise UsageError("give either --url or --engine, not both")
    arm.validate()
    idle_s = parse_duration_s(idle, "--idle")
    command = command_line()
    outcome = run_arms([arm], db, command, _gpus(gpus), dcgm_url, idle_s)[0]
    if as_json:
        typer.echo(json.dumps(outcome.summary, indent=2, default=str))
    else:
        _print_table(outcome.summary)
    if outcome.failed:
        raise typer.Exit(1)


def _fmt(value: Any, scale: float = 1.0, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value * scale:.4g}{unit}"


def _print_table(summary: dict[str, Any]) -> None:
    from rich.table import Table

    console = make_console()
    if "error" in summary:
        console.print(f"[red]arm {summary.get('arm')} failed:[/red] {summary['error']}")
        return
    head = summary.get("headline", {})
    table = Table(title=f"serve-bench {summary.get('arm')} ({summary.get('arrival', {}).get('spec')})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("completed / failed", f"{head.get('completed')} / {head.get('failed')}"),
        ("Wh per request (all components)", _fmt(head.get("wh_per_request"))),
        ("GPU Wh per request", _fmt(head.get("gpu_wh_per_request"))),
        ("J per output token (steady)", _fmt(head.get("steady_j_per_output_token"))),
        ("requests/s", _fmt(head.get("requests_per_s"))),
        ("output tokens/s", _fmt(head.get("output_tokens_per_s"))),
        (
            "TTFT p50 / p99",
            f"{_fmt(head.get('ttft_p50_s'), 1e3, ' ms')} / {_fmt(head.get('ttft_p99_s'), 1e3, ' ms')}",
        ),
        ("TPOT p50", _fmt(head.get("tpot_p50_s"), 1e3, " ms")),
        ("E2E p50 / p99", f"{_fmt(head.get('e2e_p50_s'), 1, ' s')} / {_fmt(head.get('e2e_p99_s'), 1, ' s')}"),
        ("dispatch lateness p99", _fmt(head.get("lateness_p99_s"), 1e3, " ms")),
    ]
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)
    for warning in summary.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {warning}")


def register(app: typer.Typer) -> None:
    """Attach this family's commands to the main app."""
    app.command("serve-bench")(serve_bench)
