"""Causal-LM workload: one `LLMPoint` measured into a `Measurement` (prefill, decode, request).

Prefill keeps its own repeated, edge-aligned window (a 40 ms prefill is far shorter than an NVML tick).
Decode is measured **inside the real request**: the request phase repeats real ``generate`` calls, a
token clock stamps each token, and decode is the span from the first token to the end of each call -
the decode a user's call runs, not a hand-written loop (which differed by up to 35% on the H200; it
stays available as ``decode_method="loop"``). Then the point checks itself: (prefill + decode) against
the request (re-measured while the gap may be noise, then flagged), and every phase against its
physical floor (`analytic.floors`). "Above idle" energy subtracts the warm idle baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from joulebench.meters.stability import PhaseRun, StablePhase, run_interleaved
from joulebench.meters.window import PhaseResult, Protocol
from joulebench.values import Measurement, MeasurementRow
from joulebench.workloads.common import peak_memory, phase_rows, reset_peak_memory
from joulebench.workloads.device import launch_probe_us
from joulebench.workloads.llm_checks import (
    STABILITY_TARGET_REL_CI,
    below_floor,
    consistency,
    floor_report,
    inconsistent,
    unstable,
)
from joulebench.workloads.llm_inputs import chat_inputs, synthetic_inputs
from joulebench.workloads.llm_model import LoadedModel, load_model
from joulebench.workloads.llm_phases import LLMPhases

#: defaults chosen from benchmarks/short_window.py (prefill) and the decode-length sweeps: a request of
#: hundreds of tokens already spans seconds, so one warm-up and two repetitions suffice
DEFAULT_PROTOCOLS: dict[str, Protocol] = {
    "prefill": Protocol(warmup_reps=2, min_window_s=1.2, min_reps=3),
    "decode": Protocol(warmup_reps=1, min_window_s=1.2, min_reps=2),
    "request": Protocol(warmup_reps=1, min_window_s=1.2, min_reps=2),
}


def protocols_for(overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, Protocol]:
    """The phases' protocols with a point's overrides; other override keys ("stability") are not phases."""
    out = dict(DEFAULT_PROTOCOLS)
    for phase, fields in overrides.items():
        if phase in out:
            out[phase] = Protocol(**{**out[phase].to_dict(), **fields})
    return out


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    arr = np.asarray(values)
    return {"mean": float(arr.mean()), "p50": float(np.percentile(arr, 50)), "p90": float(np.percentile(arr, 90)),
            "p99": float(np.percentile(arr, 99)), "n": int(arr.size)}


def span_phase(monitor: Any, spans: np.ndarray, protocol: Protocol) -> dict[str, Any]:
    """Latency and energy per span of sub-spans of measured repetitions (decode inside each request), in
    the stored phase shape: the power trace integrated over each span, a 95% CI over the spans."""
    durations = spans[:, 1] - spans[:, 0]
    energies = monitor.energy_over_spans(spans)
    doc: dict[str, Any] = {"latency_s": float(durations.mean()), "reps": len(spans), "protocol": protocol.to_dict(),
                           "latency_std_s": float(durations.std(ddof=1)) if len(spans) > 1 else 0.0,
                           "energy_j": {}, "ci95_j": {}, "sources": {}, "estimated": {}, "window_method": {},
                           "sm_clock_mhz": monitor.gpu_sm_clock_mhz(), "spans": spans.tolist()}
    for component, energy in energies.items():
        doc["energy_j"][component] = energy.mean_j
        doc["ci95_j"][component] = energy.ci95_j
        doc["sources"][component] = energy.reading.source
        doc["estimated"][component] = energy.reading.estimated
        doc["window_method"][component] = f"inside-request-spans:{energy.method}"
    return doc


def _span_rows(phase: str, doc: Mapping[str, Any], spans: np.ndarray) -> list[MeasurementRow]:
    proto = dict(doc["protocol"]) | {"window": "first token to end of generate"}
    rows = [MeasurementRow(phase, i, "time", float(e - b), None, None, "perf_counter", False, proto)
            for i, (b, e) in enumerate(spans)]
    rows += [MeasurementRow(phase, -1, c, doc["latency_s"], e, doc["ci95_j"].get(c), doc["sources"][c],
                            doc["estimated"][c], proto) for c, e in doc["energy_j"].items()]
    return rows


def _rounds_doc(stable: StablePhase) -> dict[str, Any]:
    """One phase over its interleaved rounds, in the stored phase shape: per-repetition means, the 95%
    CI over rounds (energy) and over all repetitions' spread (latency), the spread per round."""
    results = stable.results
    durations = np.concatenate([r.spans[:, 1] - r.spans[:, 0] for r in results])
    last = results[-1].to_dict()
    readings = stable.readings
    doc: dict[str, Any] = {
        "latency_s": float(durations.mean()), "latency_std_s": float(durations.std(ddof=1)) if durations.size > 1 else 0.0,
        "reps": int(durations.size), "rounds": len(results), "protocol": last["protocol"],
        "energy_j": {c: r.energy_j for c, r in readings.items()},
        "ci95_j": {c: (stable.energy[c].rel_ci95 * abs(stable.energy[c].mean) if c in stable.energy else
                       last["ci95_j"].get(c)) for c in readings},
        "sources": {c: r.source for c, r in readings.items()}, "estimated": {c: r.estimated for c, r in readings.items()},
        "window_method": last["window_method"], "sm_clock_mhz": last["sm_clock_mhz"],
        "spread": {"latency": stable.latency.to_dict(), "energy": {c: v.to_dict() for c, v in stable.energy.items()}},
        "checks": [c for r in results for c in r.to_dict()["checks"]],
    }
    return doc


def _inputs(point: Any, loaded: LoadedModel) -> Any:
    if point.messages:
        from joulebench.data.conversations import read_conversations

        return chat_inputs(loaded.tokenizer, loaded.ref.name, point.device, read_conversations(point.messages),
                           point.batch)
    return synthetic_inputs(loaded.vocab_size, point.device, point.prompt_tokens, point.batch, point.prompt_spread,
                            point.seed, point.prompt_lengths)


def stability_settings(point: Any) -> dict[str, Any]:
    """Interleaving: rounds until each phase's 95% CI is within the target or the budget is spent."""
    cuda = point.device.startswith("cuda")
    defaults = {"target_rel_ci": STABILITY_TARGET_REL_CI, "budget_s": 120.0 if cuda else 5.0,
                "min_rounds": 3 if cuda else 2, "max_rounds": 50}
    return defaults | dict(point.protocol_overrides.get("stability", {}))


class _PointRun:
    """Measures the phases of one point in interleaved rounds, keeping every round for the summary."""

    def __init__(self, point: Any, context: Any, phases: LLMPhases, protocols: Mapping[str, Protocol]) -> None:
        self.point, self.context, self.phases, self.protocols = point, context, phases, protocols
        self.docs: dict[str, dict[str, Any]] = {}
        self.rows: list[MeasurementRow] = []
        self.memory: dict[str, dict[str, Any]] = {}
        self.traces: list[dict[str, Any]] = []
        self.launch_us: dict[str, list[float]] = {}
        self.unstable: list[str] = []

    def _after_round(self, name: str, index: int, result: PhaseResult) -> None:
        self.context.on_rep(name, index, result.latency_s)
        self.memory[name] = peak_memory(self.point.device)
        reset_peak_memory(self.point.device)
        for device, trace in result.traces.items():
            self.traces.append({"phase": name, "round": index, "device": device} | trace.to_dict())
        probe = launch_probe_us(self.point.device)
        if probe is not None:
            self.launch_us.setdefault(name, []).append(probe)

    def measure(self, wanted: set[str]) -> None:
        point, phases = self.point, self.phases
        loop = "decode" in wanted and point.output_tokens > 1 and point.decode_method == "loop"
        inside = "decode" in wanted and point.output_tokens > 1 and point.decode_method == "request"
        runs = []
        if "prefill" in wanted:
            runs.append(PhaseRun("prefill", phases.prefill))
        if loop:
            phases.prefill()
            runs.append(PhaseRun("decode", phases.decode_loop, prepare=phases.prepare_decode))
        if "request" in wanted or inside:
            runs.append(PhaseRun("request", phases.request))
        settings = stability_settings(point)
        phases.requests.clear()
        reset_peak_memory(point.device)
        result = run_interleaved(self.context.monitor, runs, self.protocols, on_rep=self._after_round, **settings)
        phases.drop_snapshot()
        self.unstable = list(result.unstable)
        self.interleaving = {k: v for k, v in result.to_dict().items() if k != "phases"}
        for name, stable in result.phases.items():
            self.docs[name] = _rounds_doc(stable)
            self.rows += [row for r in stable.results for row in phase_rows(name, r)]
        if inside:
            measured = np.concatenate([r.spans for r in result.phases["request"].results])
            timed = [r for r in phases.requests  # warm-up calls are not measured repetitions
                     if np.any((measured[:, 0] <= r.start_s) & (r.end_s <= measured[:, 1]))]
            spans = np.array([[r.first_token_s, r.end_s] for r in timed])
            self.docs["decode"] = span_phase(self.context.monitor, spans, self.protocols["request"])
            self.memory["decode"] = self.memory.get("request", {})
            self.rows += _span_rows("decode", self.docs["decode"], spans)
            if unstable(self.docs["decode"]):
                self.unstable.append("decode")
        if "request" not in wanted:
            self.docs.pop("request", None)
            self.rows = [r for r in self.rows if r.phase != "request"]


def run_llm_point(point: Any, context: Any) -> Measurement:
    """Measure one validated `LLMPoint` under the sweep's open meters (``context``: `SweepContext`)."""
    cache = context.cache.setdefault("llm_models", None)
    if cache is None:
        from joulebench.workloads.common import KeyedCache

        cache = context.cache["llm_models"] = KeyedCache()
    loaded: LoadedModel = cache.get((point.model, point.dtype, point.device, point.random_weights),
                                    lambda: load_model(point.model, point.dtype, point.device, point.random_weights))
    inputs = _inputs(point, loaded)
    phases = LLMPhases(loaded, inputs, point.output_tokens, point.stop == "natural", engine=point.engine,
                       static_cache_len=point.static_cache_len)
    protocols = protocols_for(point.protocol_overrides)
    launch_us = launch_probe_us(point.device)
    wanted = set(point.phases)
    run = _PointRun(point, context, phases, protocols)
    run.measure(wanted)
    idle = dict(context.idle_w())
    flags: list[str] = [f"unstable:{name}" for name in run.unstable]
    summary: dict[str, Any] = {"config": point.to_dict(), "engine": point.engine, "decode_method": point.decode_method,
                               "engine_detail": phases.engine_detail()}
    if {"prefill", "decode", "request"} <= run.docs.keys():
        summary["consistency"] = _consistency(run)
        if not summary["consistency"]["within_tolerance"]:
            flags.append("inconsistent")
    summary["interleaving"] = run.interleaving
    for name, doc in run.docs.items():
        doc = dict(doc) | run.memory.get(name, {})
        if idle:
            doc["above_idle_energy_j"] = {c: e - idle.get(c, 0.0) * doc["latency_s"] for c, e in doc["energy_j"].items()}
            doc["idle_baseline"] = context.baseline_doc().get("above_idle_uses", "cold")
        doc["cv"] = doc["latency_std_s"] / doc["latency_s"] if doc["latency_s"] > 0 else None
        summary[name] = doc
    tokens_out = phases.generated[-1] if phases.generated else point.output_tokens
    summary["tokens"] = {
        "batch": point.batch, "prompt_tokens_effective": inputs.effective_tokens,
        "prompt_tokens_computed": inputs.computed_tokens, "output_tokens_per_sequence": tokens_out,
        "output_tokens_effective": tokens_out * point.batch,
    }
    _token_times(summary, phases, point)
    flags += _floors(summary, context, point, inputs, tokens_out)
    summary["flags"] = flags
    summary["idle_power_w"] = idle
    summary["model_load_s"] = loaded.load_s
    if loaded.quantization:
        summary["quantization"] = loaded.quantization
    if launch_us is not None:
        summary["host_launch_us"] = launch_us
        summary["host_launch_us_per_round"] = run.launch_us
    records: dict[str, list[dict[str, Any]]] = {"power_trace": run.traces} if run.traces else {}
    if phases.decode_token_times:
        records["decode_token_times"] = [{"rep": i, "t_s": t} for i, t in enumerate(phases.decode_token_times)]
    if phases.requests:
        records["request_token_times"] = [{"rep": i, "start_s": r.start_s, "t_s": r.token_times_s, "end_s": r.end_s}
                                          for i, r in enumerate(phases.requests)]
    return Measurement(summary, run.rows, records)


def _consistency(run: _PointRun) -> dict[str, Any]:
    """Prefill + decode against the request. Interleaved rounds already re-measured until each phase was
    stable (or the budget ran out), so a gap left now is structural or flagged unstable as well."""
    ratios = consistency(run.docs["prefill"], run.docs["decode"], run.docs["request"])
    misses, noisy = inconsistent(ratios, run.docs, dict(run.docs["request"].get("estimated") or {}))
    ratios["within_tolerance"] = not misses
    if misses:
        ratios["outside"] = misses
        ratios["cause"] = "noise (phases unstable)" if noisy else "structural (intervals tight, gap is not)"
    return ratios


def _token_times(summary: dict[str, Any], phases: LLMPhases, point: Any) -> None:
    if phases.decode_token_times and "decode" in summary:
        stamps = phases.decode_token_times[-1]
        summary["decode"]["per_token_latency_s"] = _stats(list(np.diff(stamps)) if len(stamps) > 1 else [])
    if phases.requests and phases.requests[-1].token_times_s:
        last = phases.requests[-1]
        gaps = list(np.diff(last.token_times_s))
        if point.decode_method == "request" and "decode" in summary:
            summary["decode"]["per_token_latency_s"] = _stats(gaps)
        if "request" in summary:
            summary["request"]["ttft_s"] = last.first_token_s - last.start_s
            summary["request"]["inter_token_latency_s"] = _stats(gaps)
    if "prefill" in summary:
        summary["prefill"]["ttft_s"] = summary["prefill"]["latency_s"]


def _floors(summary: dict[str, Any], context: Any, point: Any, inputs: Any, tokens_out: int) -> list[str]:
    """Each phase beside its physical floor on this card; flags a figure below it."""
    from joulebench.analytic import llm_arch, precision_for
    from joulebench.analytic.floors import llm_floors
    from joulebench.hardware.catalogue import get_accelerator, name_for_device

    states = getattr(context.monitor, "gpu_states", None) or []
    name = name_for_device(states[0].name) if states and point.device.startswith("cuda") else None
    if name is None:
        summary["floors"] = {"available": False, "reason": "no catalogue entry for this device (CPU or unknown GPU)"}
        return []
    acc = get_accelerator(name)
    padded = int(inputs.input_ids.shape[-1])
    floors = llm_floors(llm_arch(point.model), precision_for(point.dtype), acc, padded, tokens_out, point.batch)
    summary["floors"] = {"available": True, "catalogue_name": name}
    flags: list[str] = []
    for phase in ("prefill", "decode", "request"):
        if phase in summary:
            report = floor_report(floors, summary[phase], phase, max(tokens_out - 1, 0))
            summary[phase]["floor"] = report
            if below_floor(report):
                flags.append(f"below-floor:{phase}")
    return flags
