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

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from joulebench.calibration.fits import t_quantile
from joulebench.meters.base import Reading
from joulebench.meters.window import PhaseResult, Protocol, run_repeated
from joulebench.values import Measurement, MeasurementRow
from joulebench.workloads.common import peak_memory, phase_rows, reset_peak_memory
from joulebench.workloads.device import launch_probe_us
from joulebench.workloads.llm_checks import (
    DEFAULT_CONSISTENCY_BUDGET_S,
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
    out = dict(DEFAULT_PROTOCOLS)
    for phase, fields in overrides.items():
        if phase in out:  # other keys ("consistency": its re-measuring budget) are not phase protocols
            out[phase] = Protocol(**{**out[phase].to_dict(), **fields})
    return out


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    arr = np.asarray(values)
    return {"mean": float(arr.mean()), "p50": float(np.percentile(arr, 50)), "p90": float(np.percentile(arr, 90)),
            "p99": float(np.percentile(arr, 99)), "n": int(arr.size)}


def span_phase(monitor: Any, spans: np.ndarray, protocol: Protocol) -> dict[str, Any]:
    """Latency and energy per span of sub-spans of already measured repetitions (decode inside each
    request), in the stored phase shape; energy interpolated between meter updates over each span."""
    durations = spans[:, 1] - spans[:, 0]
    per_span = [monitor.energy_between(float(b), float(e)) for b, e in spans]
    doc: dict[str, Any] = {"latency_s": float(durations.mean()), "reps": len(spans), "protocol": protocol.to_dict(),
                           "latency_std_s": float(durations.std(ddof=1)) if len(spans) > 1 else 0.0,
                           "energy_j": {}, "ci95_j": {}, "sources": {}, "estimated": {}, "window_method": {},
                           "sm_clock_mhz": monitor.gpu_sm_clock_mhz()}
    for component in per_span[0] if per_span else {}:
        values = np.array([r[component].energy_j for r in per_span])
        first: Reading = per_span[0][component]
        doc["energy_j"][component] = float(values.mean())
        doc["ci95_j"][component] = (t_quantile(len(values) - 1) * float(values.std(ddof=1)) / np.sqrt(len(values))
                                    if len(values) > 1 else float("nan"))
        doc["sources"][component] = first.source
        doc["estimated"][component] = first.estimated
        doc["window_method"][component] = "inside-request-spans"
    return doc


def _span_rows(phase: str, doc: Mapping[str, Any], spans: np.ndarray) -> list[MeasurementRow]:
    proto = dict(doc["protocol"]) | {"window": "first token to end of generate"}
    rows = [MeasurementRow(phase, i, "time", float(e - b), None, None, "perf_counter", False, proto)
            for i, (b, e) in enumerate(spans)]
    rows += [MeasurementRow(phase, -1, c, doc["latency_s"], e, doc["ci95_j"].get(c), doc["sources"][c],
                            doc["estimated"][c], proto) for c, e in doc["energy_j"].items()]
    return rows


def _inputs(point: Any, loaded: LoadedModel) -> Any:
    if point.messages:
        from joulebench.data.conversations import read_conversations

        return chat_inputs(loaded.tokenizer, loaded.ref.name, point.device, read_conversations(point.messages),
                           point.batch)
    return synthetic_inputs(loaded.vocab_size, point.device, point.prompt_tokens, point.batch, point.prompt_spread,
                            point.seed, point.prompt_lengths)


class _PointRun:
    """Measures the phases of one point, keeping every repetition's figures for the summary."""

    def __init__(self, point: Any, context: Any, phases: LLMPhases, protocols: Mapping[str, Protocol]) -> None:
        self.point, self.context, self.phases, self.protocols = point, context, phases, protocols
        self.results: dict[str, PhaseResult] = {}
        self.docs: dict[str, dict[str, Any]] = {}
        self.rows: list[MeasurementRow] = []
        self.memory: dict[str, dict[str, Any]] = {}

    def _progress(self, phase: str) -> Callable[[int, float], None]:
        return lambda i, dt: self.context.on_rep(phase, i, dt)

    def _repeat(self, name: str, fn: Callable[[], object], prepare: Callable[[], object] | None = None) -> None:
        reset_peak_memory(self.point.device)
        result = run_repeated(self.context.monitor, fn, self.protocols[name], prepare=prepare,
                              on_rep=self._progress(name))
        self.memory[name] = peak_memory(self.point.device)
        self.results[name] = result
        self.docs[name] = result.to_dict()

    def measure(self, wanted: set[str]) -> None:
        point, phases = self.point, self.phases
        if "prefill" in wanted:
            self._repeat("prefill", phases.prefill)
        if "decode" in wanted and point.output_tokens > 1 and point.decode_method == "loop":
            phases.prefill()
            self._repeat("decode", phases.decode_loop, prepare=phases.prepare_decode)
            phases.drop_snapshot()
        inside = "decode" in wanted and point.output_tokens > 1 and point.decode_method == "request"
        if "request" in wanted or inside:
            phases.requests.clear()
            self._repeat("request", phases.request)
            if inside:
                stamps = phases.requests[-self.results["request"].reps:]
                spans = np.array([[r.first_token_s, r.end_s] for r in stamps])
                self.docs["decode"] = span_phase(self.context.monitor, spans, self.protocols["request"])
                self.memory["decode"] = self.memory["request"]
                self.decode_spans = spans

    def rows_for(self, wanted: set[str]) -> list[MeasurementRow]:
        rows: list[MeasurementRow] = []
        for name, result in self.results.items():
            if name == "request" and "request" not in wanted:
                continue
            rows += phase_rows(name, result)
        if "decode" in self.docs and "decode" not in self.results:
            rows += _span_rows("decode", self.docs["decode"], self.decode_spans)
        return rows


def run_llm_point(point: Any, context: Any) -> Measurement:
    """Measure one validated `LLMPoint` under the sweep's open meters (``context``: `SweepContext`)."""
    cache = context.cache.setdefault("llm_models", None)
    if cache is None:
        from joulebench.workloads.common import KeyedCache

        cache = context.cache["llm_models"] = KeyedCache()
    loaded: LoadedModel = cache.get((point.model, point.dtype, point.device, point.random_weights),
                                    lambda: load_model(point.model, point.dtype, point.device, point.random_weights))
    inputs = _inputs(point, loaded)
    phases = LLMPhases(loaded, inputs, point.output_tokens, point.stop == "natural", engine=point.engine)
    protocols = protocols_for(point.protocol_overrides)
    launch_us = launch_probe_us(point.device)
    wanted = set(point.phases)
    run = _PointRun(point, context, phases, protocols)
    run.measure(wanted)
    idle = dict(context.idle_w())
    flags: list[str] = []
    summary: dict[str, Any] = {"config": point.to_dict(), "engine": point.engine, "decode_method": point.decode_method}
    if {"prefill", "decode", "request"} <= run.docs.keys():
        summary["consistency"], flags = _gate(run, wanted, context)
    for name, doc in run.docs.items():
        if name == "request" and "request" not in wanted:
            continue
        doc = dict(doc) | run.memory.get(name, {})
        if idle:
            doc["above_idle_energy_j"] = {c: e - idle.get(c, 0.0) * doc["latency_s"] for c, e in doc["energy_j"].items()}
            doc["idle_baseline"] = context.baseline_doc().get("above_idle_uses", "cold")
        doc["cv"] = doc["latency_std_s"] / doc["latency_s"] if doc["latency_s"] > 0 else None
        if unstable(doc):
            flags.append(f"unstable:{name}")
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
    records: dict[str, list[dict[str, Any]]] = {}
    if phases.decode_token_times:
        records["decode_token_times"] = [{"rep": i, "t_s": t} for i, t in enumerate(phases.decode_token_times)]
    if phases.requests:
        records["request_token_times"] = [{"rep": i, "start_s": r.start_s, "t_s": r.token_times_s, "end_s": r.end_s}
                                          for i, r in enumerate(phases.requests)]
    return Measurement(summary, run.rows_for(wanted), records)


def _gate(run: _PointRun, wanted: set[str], context: Any) -> tuple[dict[str, Any], list[str]]:
    """Consistency of prefill + decode against the request; re-measure while the gap may be noise."""
    deadline = time.perf_counter() + float(run.point.protocol_overrides.get("consistency", {}).get(
        "budget_s", DEFAULT_CONSISTENCY_BUDGET_S if run.point.device.startswith("cuda") else 0.0))
    attempts = 1
    while True:
        ratios = consistency(run.docs["prefill"], run.docs["decode"], run.docs["request"])
        estimated = dict(run.docs["request"].get("estimated") or {})
        misses, noisy = inconsistent(ratios, run.docs, estimated)
        if not misses or not noisy or time.perf_counter() >= deadline:
            break
        run.results.clear()
        run.measure(wanted | {"prefill", "request"})
        attempts += 1
    ratios["attempts"] = attempts
    ratios["within_tolerance"] = not misses
    if misses:
        ratios["outside"] = misses
    return ratios, ([] if not misses else ["inconsistent"])


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
