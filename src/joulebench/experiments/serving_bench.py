"""One serving arm from validated spec to result, and several arms in one process.

`execute_arm` is the per-point function (arm in -> `Measurement` out, no store writes): it launches
the server when the arm has one, sends the load (HTTP client or in-process engine), and `build_result`
turns the records into metrics, energy (whole window, steady state, attributed; J per output and per
input token), the physical floor (`serving.floors`, ``ratio_to_floor``) and the arm's failed checks:
``summary["check_failures"]`` lists what makes the run fail its own checks (no request served, the
server died, a figure below its floor). The sweep driver stores such a point as failed-but-kept
(records kept, rerun on resume) and the command exits 1. Every string of the result passes through
the redactor, so a key echoed by a server is never stored or printed.

`run_arms` validates every arm before anything is opened (no database, no meter, no server is
created for bad input), then runs the arms as points of the one sweep driver (kind ``serving``,
per-request records under ``records["requests"]``, the server's log under ``records["server_log"]``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from joulebench.experiments.serving_arms import ArmSpec, ValidArm, check_arms, prompt_reuse
from joulebench.experiments.sweep import run_sweep
from joulebench.experiments.sweep_values import MeterSpec, PointOutcome, SweepContext, SweepObserver
from joulebench.serving.arrivals import schedule
from joulebench.serving.client import ClientConfig, LoadResult, run_load
from joulebench.serving.energy import EnergySource, energy_report
from joulebench.serving.metrics import check_failures, summarize
from joulebench.serving.records import RequestRecord
from joulebench.serving.secrets import Redactor, api_key_from_env
from joulebench.serving.summary import floor_report, headline, measurement_rows
from joulebench.values import Measurement
from joulebench.workloads.device import free_device_memory
from joulebench.workloads.engine import EngineConfig


@dataclass
class ArmOutcome:
    summary: dict[str, Any]
    skipped: bool = False
    failed: str | None = None

    @property
    def check_failures(self) -> list[str]:
        return list(self.summary.get("check_failures") or [])


@dataclass
class EngineCache:
    """Keeps the loaded model between arms that share model, dtype and device."""

    key: tuple[str, str, str] | None = None
    loaded: Any = None
    engines: dict[str, Any] = field(default_factory=dict)

    def engine(self, config: EngineConfig) -> Any:
        from joulebench.workloads.engine import load_for_engine
        from joulebench.workloads.serving_engines import open_engine

        key = (config.model, config.dtype, config.device)
        if key != self.key:
            self.loaded, self.engines, self.key = None, {}, None
            free_device_memory()
            self.loaded, self.key = load_for_engine(config), key
        return open_engine(config, self.loaded)


def arm_environment(monitor: Any, dcgm_url: str | None = None) -> dict[str, Any]:
    """What an arm's summary reads from its meters: the metered GPUs (the floor's card when the arm names
    none; without them the H200 runs of 2026-12-03 had no floor) and the DCGM endpoint."""
    env: dict[str, Any] = {"gpus": [s.to_dict() for s in getattr(monitor, "gpu_states", None) or []]}
    if dcgm_url:
        env["dcgm_url"] = dcgm_url
    return env


def stored_floor(config: Mapping[str, Any], summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]],
                 env: Mapping[str, Any]) -> dict[str, Any]:
    """The floor of a stored arm, recomputed from its request records, its energy summary and its run's
    environment, as `build_result` computes it (the H200 arms of 2026-12-03 before the card came from the
    meters were stored with none)."""
    requests = [RequestRecord.from_dict(dict(row)) for row in records]
    per_request = {int(row["index"]): dict(row.get("energy_j") or {}) for row in records}
    floor, _ = floor_report(ArmSpec.from_config(dict(config)), requests, summary["energy"], per_request, env)
    return floor


def execute_arm(
    arm: ArmSpec, source: EnergySource, engines: EngineCache | None = None, env: Mapping[str, Any] | None = None,
    valid: ValidArm | None = None,
) -> Measurement:
    """Run one arm under ``source`` and build its result (summary, measurements, records)."""
    valid = valid or arm.validate()
    targets = schedule(valid.law, arm.requests, arm.seed, arm.ramp_up_s)
    knobs: dict[str, Any] = {}
    server_info: dict[str, Any] | None = None
    server_log: list[dict[str, str]] = []
    if arm.engine is not None:
        engine = (engines or EngineCache()).engine(arm.engine)
        specs = valid.prompts.build(arm.requests, valid.outputs, arm.seed, vocab_size=_vocab(engine),
                                    shared_prefix_tokens=arm.shared_prefix_tokens, prompt_salt=arm.prompt_salt)
        result: LoadResult = engine.run(specs, targets, arm.max_duration_s)
        knobs = engine.knobs()
    else:
        assert arm.url is not None and arm.model is not None
        specs = valid.prompts.build(arm.requests, valid.outputs, arm.seed, text_unit=arm.text_unit,
                                    shared_prefix_tokens=arm.shared_prefix_tokens, prompt_salt=arm.prompt_salt)
        config = ClientConfig(
            arm.url, arm.model, arm.api, arm.request_timeout_s, arm.max_concurrency, arm.max_duration_s,
            arm.length_control, arm.continuous_usage,
        )
        if arm.server is None:
            result = run_load(config, specs, targets)
        else:
            result, server_info, server_log = _with_server(arm, config, specs, targets)
    point = build_result(arm, valid, result, source, knobs, env or {})
    if server_info is not None:
        point.summary["server"] = server_info
        if not server_info.get("alive_after_load", True):
            point.summary["check_failures"].append(
                f"the server process exited during the load (code {server_info.get('returncode')})"
            )
        point.records["server_log"] = server_log
    redactor = Redactor([k for k in (api_key_from_env(),) if k])
    summary = redactor.deep(point.summary)
    return Measurement(summary, point.measurements, redactor.deep(point.records),
                       tuple(summary.get("check_failures") or ()))


def _with_server(
    arm: ArmSpec, config: ClientConfig, specs: Sequence[Any], targets: Sequence[float]
) -> tuple[LoadResult, dict[str, Any], list[dict[str, str]]]:
    """Launch the arm's server, load it, stop it; its report and log go with the result."""
    from joulebench.serving.launcher import ServerProcess

    assert arm.server is not None
    server = ServerProcess(arm.server)
    try:
        server.start()
        result = run_load(config, specs, targets)
        alive = server.alive()
        server.stop()
        info = server.report() | {"alive_after_load": alive}
        return result, info, server.log_lines()
    finally:
        server.close()


def _vocab(engine: Any) -> int:
    from joulebench.workloads.engine import vocab_size

    return vocab_size(engine.model)


def build_result(
    arm: ArmSpec, valid: ValidArm, result: LoadResult, source: EnergySource, knobs: Mapping[str, Any],
    env: Mapping[str, Any],
) -> Measurement:
    records = result.records
    metrics = summarize(records, valid.slo)
    energy, per_request = energy_report(records, source, arm.prefill_weight, t_ref_s=result.t0_s)
    warnings = list(metrics["warnings"])
    if result.stopped_by_max_duration:
        warnings.append(f"stopped by --max-duration {arm.max_duration_s} s")
    if energy.get("estimated_components"):
        warnings.append(f"estimated (not metered) components: {', '.join(energy['estimated_components'])}")
    steady = energy.get("steady_state") or {}
    if steady.get("available") and not steady.get("reliable"):
        warnings.append("steady-state window too short for a stable J/token; send more requests")
    floor, per_request_floor = floor_report(arm, records, energy, per_request, env)
    failures = check_failures(metrics)
    if floor.get("below_floor"):
        failures.extend(floor["below_floor"])
    summary = {
        "arm": arm.name,
        "target": arm.url or f"engine:{arm.engine.engine if arm.engine else ''}",
        "model": arm.model or (arm.engine.model if arm.engine else None),
        "arrival": {
            "spec": valid.law.spec, "law": valid.law.name, "mean_rate_per_s": valid.law.mean_rate_per_s,
            "ramp_up_s": arm.ramp_up_s, "max_concurrency": arm.max_concurrency, "seed": arm.seed,
        },
        "prompts": arm.prompts,
        "output_tokens_spec": arm.output_tokens,
        "engine_knobs": dict(knobs),
        "prefix_cache": {
            "shared_prefix_tokens": arm.shared_prefix_tokens,
            "prompt_salt": arm.prompt_salt,
            "cached_prompt_tokens_reported": metrics["cached_prompt_tokens"],
            "engine_block_sharing": (knobs.get("cache") or {}).get("use_prefix_sharing"),
        },
        "metrics": metrics,
        "energy": energy,
        "floor": floor,
        "headline": headline(metrics, energy, floor),
        "warnings": warnings,
        "check_failures": failures,
        "stopped_by_max_duration": result.stopped_by_max_duration,
    }
    rows = [
        r.to_dict(result.t0_s) | {"energy_j": per_request.get(r.index, {}), "floor_j": per_request_floor.get(r.index)}
        for r in records
    ]
    return Measurement(summary, measurement_rows(energy), {"requests": rows})


# -- several arms, one process ---------------------------------------------------------------------
def open_energy_source(gpus: Sequence[int] | None = None, dcgm_url: str | None = None) -> Any:
    """The local monitor (GPU set through ``gpus``), or a DCGM poller for a remote server."""
    if dcgm_url is not None:
        from joulebench.serving.dcgm import DcgmPoller

        return DcgmPoller(dcgm_url, gpus).start()
    from joulebench.meters.monitor import EnergyMonitor, MonitorConfig

    return EnergyMonitor.open(MonitorConfig(gpus=gpus)).start()


def validate_arms(arms: Sequence[ArmSpec], dcgm_url: str | None = None) -> list[ValidArm]:
    """Every arm and the energy source checked; nothing opened (call before any progress or file)."""
    valid = check_arms(list(arms))
    if dcgm_url is not None:
        from joulebench.serving.specs import parse_url

        parse_url(dcgm_url, "dcgm_url")
    return valid


@contextmanager
def _sources(gpus: Sequence[int] | None, dcgm_url: str | None) -> Iterator[Any]:
    source = open_energy_source(gpus, dcgm_url)
    try:
        yield source
    finally:
        source.close()


def run_arms(
    arms: Sequence[ArmSpec],
    db: str | Path,
    command: str = "serve-bench",
    gpus: Sequence[int] | None = None,
    dcgm_url: str | None = None,
    idle_s: float = 0.0,
    json_dir: str | Path | None = None,
    observer: SweepObserver | None = None,
) -> list[ArmOutcome]:
    """Validate all arms, then run them as points of the one sweep driver (kind ``serving``); a point
    whose checks failed is stored failed with its records and measured again on resume. Writes
    ``<json_dir>/<arm>.json`` when asked."""
    valid = validate_arms(arms, dcgm_url)
    by_name = {a.name: (a, v) for a, v in zip(arms, valid, strict=True)}
    engines = EngineCache()

    reused = prompt_reuse(arms)

    def execute(arm: ArmSpec, context: SweepContext) -> Measurement:
        checked = by_name[arm.name][1]
        measured = execute_arm(arm, context.monitor, engines, arm_environment(context.monitor, dcgm_url), checked)
        if arm.name in reused:
            measured.summary.setdefault("warnings", []).append(
                f"sends {arm.url} the prompts arm {reused[arm.name]} sent it: a prefix cache kept from that arm may "
                "serve these (give each arm its own --prompt-salt)")
        return measured

    plan = {"arms": [a.point_config() for a in arms], "gpus": list(gpus) if gpus is not None else None,
            "dcgm_url": dcgm_url}
    swept = run_sweep("serving", list(arms), execute, db, Redactor().text(command), plan, MeterSpec("cpu", gpus),
                      observer=observer, idle_s=idle_s, open_source=lambda _meters: _sources(gpus, dcgm_url))
    outcomes = [_outcome(o) for o in swept.outcomes]
    if json_dir is not None:
        out = Path(json_dir)
        out.mkdir(parents=True, exist_ok=True)
        for arm, outcome in zip(arms, outcomes, strict=True):
            (out / f"{safe_file_name(arm.name)}.json").write_text(json.dumps(outcome.summary, indent=2, default=str))
    return outcomes


def _outcome(outcome: PointOutcome) -> ArmOutcome:
    arm = outcome.point
    if outcome.status == "skipped":
        return ArmOutcome(dict(outcome.summary) | {"resumed_from_store": True}, skipped=True)
    if outcome.status == "claimed":
        return ArmOutcome({"arm": arm.name, "error": outcome.error, "check_failures": [str(outcome.error)]},
                          failed=outcome.error)
    if outcome.status == "failed" and not outcome.summary:  # the arm raised: no figures
        error = Redactor().text(str(outcome.error))
        return ArmOutcome({"arm": arm.name, "error": error, "check_failures": [error]}, failed=error)
    return ArmOutcome(dict(outcome.summary))


def safe_file_name(name: str) -> str:
    """An arm name as a file name: anything but letters, digits, '.', '_', '-', '@', '=' becomes '_'."""
    cleaned = re.sub(r"[^A-Za-z0-9._@=-]", "_", name).strip(".") or "arm"
    return cleaned[:120]


def with_tag(arm: ArmSpec, tag: str | None = None) -> ArmSpec:
    """A copy that the store sees as a new point (default: the current time)."""
    return replace(arm, tag=tag or time.strftime("%Y%m%dT%H%M%S"))
