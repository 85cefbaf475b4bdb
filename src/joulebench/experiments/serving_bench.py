"""One serving benchmark arm from spec to stored result, and several arms in one process.

An *arm* is one arrival law + one target (an HTTP server or an in-process engine) + its settings.
`ArmSpec.parse` validates every field up front (nothing is loaded or sent before the whole arm is
known to be valid); `run_arms` opens the energy source once, runs each arm as one point of an
`experiments.Runner` (kind ``serving``, per-request records under ``records["requests"]``) and
returns one summary document per arm, the same document ``joulebench serve-bench --json`` prints.
Points already in the store are not re-run (the Runner resumes); their stored summary is returned.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from joulebench.errors import UsageError
from joulebench.experiments.runner import PointResult, Runner
from joulebench.serving.arrivals import ArrivalLaw, parse_arrival, schedule
from joulebench.serving.client import ClientConfig, LoadResult, run_load, validate_url
from joulebench.serving.energy import PREFILL_WEIGHT, EnergySource, energy_report
from joulebench.serving.metrics import Slo, parse_slo, summarize
from joulebench.serving.prompts import LengthLaw, PromptSource, parse_lengths, parse_prompts
from joulebench.store import MeasurementRow, Store, point_key
from joulebench.workloads.device import free_device_memory
from joulebench.workloads.engine import EngineConfig

DEFAULT_PROMPTS = "synthetic:200-4000,mean=1200"
DEFAULT_OUTPUTS = "10-300"


@dataclass(frozen=True)
class ArmSpec:
    """Everything that defines one arm; exactly one of ``url`` and ``engine`` is set."""

    name: str
    arrival: str
    requests: int
    prompts: str = DEFAULT_PROMPTS
    output_tokens: str = DEFAULT_OUTPUTS
    seed: int = 0
    ramp_up_s: float = 0.0
    max_concurrency: int | None = None
    max_duration_s: float = 600.0
    slo: str | None = None
    prefill_weight: float = PREFILL_WEIGHT
    url: str | None = None
    model: str | None = None
    api: str = "auto"
    request_timeout_s: float = 600.0
    transport: str = "native"
    ignore_eos: bool = True
    continuous_usage: bool = False
    engine: EngineConfig | None = None
    tag: str | None = None  # distinguishes repeated runs of the same configuration in the store

    def validate(self) -> tuple[ArrivalLaw, PromptSource, LengthLaw, Slo | None]:
        if (self.url is None) == (self.engine is None):
            raise UsageError("give either --url (with --model) or --engine (with --model)")
        if self.url is not None:
            validate_url(self.url)
            if not self.model:
                raise UsageError("--model: required with --url (the name the server serves)")
            if self.api not in ("auto", "completions", "chat"):
                raise UsageError(f"--api '{self.api}': allowed: auto, completions, chat")
            if self.transport not in ("native", "httpx"):
                raise UsageError(f"--transport '{self.transport}': allowed: native, httpx")
        if self.engine is not None:
            self.engine.validate()
        if self.requests < 1:
            raise UsageError(f"--requests {self.requests}: must be >= 1")
        if self.max_duration_s <= 0:
            raise UsageError(f"--max-duration {self.max_duration_s}: must be > 0")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise UsageError(f"--max-concurrency {self.max_concurrency}: must be >= 1")
        if self.prefill_weight < 0:
            raise UsageError(f"--prefill-weight {self.prefill_weight}: must be >= 0")
        if self.ramp_up_s < 0:
            raise UsageError(f"--ramp-up {self.ramp_up_s}: must be >= 0")
        law = parse_arrival(self.arrival)
        prompts = parse_prompts(self.prompts)
        outputs = parse_lengths(self.output_tokens, "--output-tokens")
        slo = parse_slo(self.slo)
        schedule(law, self.requests, self.seed, self.ramp_up_s)  # trace length check
        return law, prompts, outputs, slo

    def point_config(self) -> dict[str, Any]:
        config = asdict(self)
        config["engine"] = None if self.engine is None else self.engine.to_dict()
        return config


@dataclass
class ArmOutcome:
    summary: dict[str, Any]
    skipped: bool = False
    failed: str | None = None


@dataclass
class _EngineCache:
    """Keeps the loaded model between arms that share model, dtype and device."""

    key: tuple[str, str, str] | None = None
    loaded: Any = None
    engines: dict[str, Any] = field(default_factory=dict)

    def engine(self, config: EngineConfig) -> Any:
        from joulebench.workloads.engine import load_for_engine, open_engine

        key = (config.model, config.dtype, config.device)
        if key != self.key:
            self.loaded, self.engines, self.key = None, {}, None
            free_device_memory()
            self.loaded, self.key = load_for_engine(config), key
        return open_engine(config, self.loaded)


def execute_arm(arm: ArmSpec, source: EnergySource, engines: _EngineCache | None = None) -> PointResult:
    """Run one validated arm under ``source`` and build its result (summary, measurements, records)."""
    law, prompts, outputs, slo = arm.validate()
    targets = schedule(law, arm.requests, arm.seed, arm.ramp_up_s)
    knobs: dict[str, Any] = {}
    if arm.engine is not None:
        engine = (engines or _EngineCache()).engine(arm.engine)
        specs = prompts.build(arm.requests, outputs, arm.seed, vocab_size=_vocab(engine))
        result: LoadResult = engine.run(specs, targets, arm.max_duration_s)
        knobs = engine.knobs()
    else:
        assert arm.url is not None and arm.model is not None
        specs = prompts.build(arm.requests, outputs, arm.seed)
        config = ClientConfig(
            arm.url,
            arm.model,
            arm.api,
            arm.request_timeout_s,
            arm.max_concurrency,
            arm.max_duration_s,
            arm.ignore_eos,
            arm.continuous_usage,
            transport=arm.transport,
        )
        result = run_load(config, specs, targets)
    return build_result(arm, law, result, source, slo, knobs)


def _vocab(engine: Any) -> int:
    from joulebench.workloads.engine import vocab_size

    return vocab_size(engine.model)


def build_result(
    arm: ArmSpec,
    law: ArrivalLaw,
    result: LoadResult,
    source: EnergySource,
    slo: Slo | None,
    knobs: Mapping[str, Any],
) -> PointResult:
    records = result.records
    metrics = summarize(records, slo)
    energy, per_request = energy_report(records, source, arm.prefill_weight, t_ref_s=result.t0_s)
    warnings = list(metrics["warnings"])
    if result.stopped_by_max_duration:
        warnings.append(f"stopped by --max-duration {arm.max_duration_s} s")
    if energy.get("estimated_components"):
        warnings.append(f"estimated (not metered) components: {', '.join(energy['estimated_components'])}")
    steady = energy.get("steady_state") or {}
    if steady.get("available") and not steady.get("reliable"):
        warnings.append("steady-state window too short for a stable J/token; send more requests")
    summary = {
        "arm": arm.name,
        "target": arm.url or f"engine:{arm.engine.engine if arm.engine else ''}",
        "model": arm.model or (arm.engine.model if arm.engine else None),
        "arrival": {
            "spec": law.spec,
            "law": law.name,
            "mean_rate_per_s": law.mean_rate_per_s,
            "ramp_up_s": arm.ramp_up_s,
            "max_concurrency": arm.max_concurrency,
            "seed": arm.seed,
        },
        "prompts": arm.prompts,
        "output_tokens_spec": arm.output_tokens,
        "engine_knobs": dict(knobs),
        "metrics": metrics,
        "energy": energy,
        "headline": _headline(metrics, energy),
        "warnings": warnings,
        "stopped_by_max_duration": result.stopped_by_max_duration,
    }
    rows = [r.to_dict(result.t0_s) | {"energy_j": per_request.get(r.index, {})} for r in records]
    return PointResult(summary, _measurements(energy), {"requests": rows})


def _headline(metrics: Mapping[str, Any], energy: Mapping[str, Any]) -> dict[str, Any]:
    steady = energy.get("steady_state") or {}
    return {
        "completed": metrics["completed"],
        "failed": metrics["failed"],
        "wh_per_request": energy.get("energy_per_completed_request_wh"),
        "gpu_wh_per_request": energy.get("gpu_energy_per_completed_request_wh"),
        "j_per_output_token": energy.get("energy_per_output_token_j"),
        "steady_j_per_output_token": steady.get("j_per_output_token"),
        "steady_gpu_j_per_output_token": steady.get("gpu_j_per_output_token"),
        "requests_per_s": metrics["requests_per_s"],
        "output_tokens_per_s": metrics["output_tokens_per_s"],
        "ttft_p50_s": metrics["ttft_s"]["median"],
        "ttft_p99_s": metrics["ttft_s"]["p99"],
        "tpot_p50_s": metrics["tpot_s"]["median"],
        "e2e_p50_s": metrics["e2e_s"]["median"],
        "e2e_p99_s": metrics["e2e_s"]["p99"],
        "lateness_p99_s": metrics["lateness_s"]["p99"],
    }


def _measurements(energy: Mapping[str, Any]) -> list[MeasurementRow]:
    rows: list[MeasurementRow] = []
    if not energy.get("available"):
        return rows
    windows = [("run_window", energy["window"])]
    steady = energy.get("steady_state") or {}
    if steady.get("available"):
        windows.append(("steady_state", steady))
    for phase, window in windows:
        for component, reading in window["components"].items():
            rows.append(
                MeasurementRow(
                    phase=phase,
                    repetition=-1,
                    component=component,
                    latency_s=window["duration_s"],
                    energy_j=reading["energy_j"],
                    ci95_j=None,
                    source=reading["source"],
                    estimated=reading["estimated"],
                    protocol={
                        "window": phase,
                        "rule": steady.get("rule") if phase == "steady_state" else "first send to last end",
                    },
                )
            )
    return rows


# -- several arms, one process ---------------------------------------------------------------------
def open_energy_source(gpus: Sequence[int] | None = None, dcgm_url: str | None = None) -> Any:
    """The local monitor (GPU set through ``gpus``), or a DCGM poller for a remote server."""
    if dcgm_url is not None:
        from joulebench.serving.dcgm import DcgmPoller

        return DcgmPoller(dcgm_url, gpus).start()
    from joulebench.meters.monitor import EnergyMonitor, MonitorConfig

    return EnergyMonitor.open(MonitorConfig(gpus=gpus)).start()


def run_arms(
    arms: Sequence[ArmSpec],
    db: str | Path,
    command: str = "serve-bench",
    gpus: Sequence[int] | None = None,
    dcgm_url: str | None = None,
    idle_s: float = 0.0,
    json_dir: str | Path | None = None,
    on_event: Callable[[str, int, Mapping[str, Any], Any], None] | None = None,
) -> list[ArmOutcome]:
    """Validate all arms, then run them in order into the store; write ``<json_dir>/<arm>.json``."""
    for arm in arms:
        arm.validate()
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise UsageError(f"arm names must be unique: {names}")
    from joulebench.environment import capture

    source = open_energy_source(gpus, dcgm_url)
    try:
        monitor_like = source if hasattr(source, "meters") else None
        env = capture(monitor_like)
        if dcgm_url is not None:
            env["dcgm_url"] = dcgm_url
        plan = {"arms": [a.point_config() for a in arms], "gpus": list(gpus) if gpus is not None else None}
        with Store(db) as store:
            runner = Runner(store, "serving", command, plan, env, on_event=on_event)
            if idle_s > 0 and hasattr(source, "idle_power_w"):
                runner.set_baseline({"idle_power_w": source.idle_power_w(idle_s), "idle_s": idle_s})
            by_name = {a.name: a for a in arms}
            engines = _EngineCache()

            def execute(config: Mapping[str, Any]) -> PointResult:
                return execute_arm(by_name[config["name"]], source, engines)

            summary = runner.run([a.point_config() for a in arms], execute)
            outcomes = _outcomes(store, arms, summary)
    finally:
        source.close()
    if json_dir is not None:
        out = Path(json_dir)
        out.mkdir(parents=True, exist_ok=True)
        for arm, outcome in zip(arms, outcomes, strict=True):
            (out / f"{arm.name}.json").write_text(json.dumps(outcome.summary, indent=2, default=str))
    return outcomes


def _outcomes(store: Store, arms: Sequence[ArmSpec], summary: Any) -> list[ArmOutcome]:
    done = {d["config"]["name"]: d["summary"] for d in summary.done}
    failed = {f["config"]["name"]: f["error"] for f in summary.failed}
    stored = {p.key: p.summary for p in store.points(kind="serving", status="ok")}
    out: list[ArmOutcome] = []
    for arm in arms:
        if arm.name in done:
            out.append(ArmOutcome(done[arm.name]))
        elif arm.name in failed:
            out.append(ArmOutcome({"arm": arm.name, "error": failed[arm.name]}, failed=failed[arm.name]))
        else:
            previous = stored.get(point_key("serving", arm.point_config()), {})
            out.append(ArmOutcome(previous | {"resumed_from_store": True}, skipped=True))
    return out


def with_tag(arm: ArmSpec, tag: str | None = None) -> ArmSpec:
    """A copy that the store sees as a new point (default: the current time)."""
    return replace(arm, tag=tag or time.strftime("%Y%m%dT%H%M%S"))
