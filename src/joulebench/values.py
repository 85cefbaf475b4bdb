"""The value vocabulary one measurement travels in, from the plan to the store and back.

Plain frozen dataclasses, so that a newcomer following one measurement meets the same few types
everywhere: a `Point` (what to run: one configuration of a plan), a `Measurement` (what a workload hands
back for it: a summary, `MeasurementRow` s and detail records, and the checks it failed), built from
the meters' `Reading` (one component over one `Span` of time; a repeated phase is the meters' own
`meters.window.PhaseResult`), and on the reading side `StoredRun`, `StoredPoint` and `PhaseSummary`.
Nothing here imports torch, NVML, the meters or the store's writing side, so every layer may depend on it.

Points are a registry (`POINT_KINDS`): each kind (``llm``, ``video``, ``serving``) registers its class,
whose ``to_dict`` is what the store keeps and hashes into the resume key (`point_key`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable


@runtime_checkable
class Point(Protocol):
    """One configuration of a plan: what the sweep driver runs, stores and resumes by."""

    kind: ClassVar[str]

    def to_dict(self) -> dict[str, Any]: ...

    def label(self) -> str: ...


#: point classes by kind, for reading stored configurations back as typed points
POINT_KINDS: dict[str, Callable[[Mapping[str, Any]], Any]] = {}


def register_point(kind: str) -> Callable[[type], type]:
    def wrap(cls: type) -> type:
        POINT_KINDS[kind] = cls.from_dict  # type: ignore[attr-defined]
        return cls

    return wrap


def point_key(kind: str, config: Mapping[str, Any]) -> str:
    """Stable identity of a point: its kind and canonical configuration (protocol included)."""
    blob = json.dumps({"kind": kind, "config": config}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def key_of(point: Point) -> str:
    return point_key(point.kind, point.to_dict())


class AsDict:
    """``to_dict`` for a dataclass whose fields are its document: the field names are the JSON and store
    keys, so there is one spelling of each. (Values with a custom document write their own.)"""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class Span:
    """One stamped interval of ``time.perf_counter`` seconds, optionally named.

    The one interval type of the project: the measured part of a phase (decode from the first token's
    stamp to the end of ``generate``), a pipeline's component calls and steps, a serving run's steady
    window. Energy is always integrated over spans of this clock, so they must never mix clocks."""

    begin_s: float
    end_s: float
    name: str = ""

    @property
    def duration_s(self) -> float:
        return self.end_s - self.begin_s


@dataclass(frozen=True)
class Reading:
    """Energy of one component over one time interval.

    ``idle_power_w`` / ``idle_state`` name the idle baseline that "above idle" subtracts ("cold": taken at
    start; "warm": after the warm-ups, the GPU left idle for a settle time); None until one is applied
    (`meters.idle.IdleBaseline.apply`)."""

    component: str  # "gpu" | "cpu" | "ram"
    energy_j: float
    duration_s: float
    source: str  # e.g. "nvml-samples", "nvml-counter", "rapl", "estimate-cpu-tdp-util", "estimate-ram-per-gb"
    estimated: bool
    devices: tuple[str, ...] = ()
    idle_power_w: float | None = None
    idle_state: str | None = None

    @property
    def avg_power_w(self) -> float:
        return self.energy_j / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def above_idle_energy_j(self) -> float | None:
        """Energy beyond what the idle card would have used over the same time (None without a baseline)."""
        if self.idle_power_w is None:
            return None
        return self.energy_j - self.idle_power_w * self.duration_s

    def to_dict(self) -> dict[str, object]:
        return {
            "component": self.component,
            "energy_j": self.energy_j,
            "duration_s": self.duration_s,
            "avg_power_w": self.avg_power_w,
            "source": self.source,
            "estimated": self.estimated,
            "devices": list(self.devices),
            "idle_power_w": self.idle_power_w,
            "idle_state": self.idle_state,
            "above_idle_energy_j": self.above_idle_energy_j,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, object]) -> Reading:
        idle = doc.get("idle_power_w")
        state = doc.get("idle_state")
        return cls(
            component=str(doc["component"]),
            energy_j=float(doc["energy_j"]),  # type: ignore[arg-type]
            duration_s=float(doc["duration_s"]),  # type: ignore[arg-type]
            source=str(doc["source"]),
            estimated=bool(doc["estimated"]),
            devices=tuple(str(d) for d in doc.get("devices") or ()),  # type: ignore[union-attr]
            idle_power_w=None if idle is None else float(idle),  # type: ignore[arg-type]
            idle_state=None if state is None else str(state),
        )


@dataclass(frozen=True)
class MeasurementRow:
    """One reading of one phase, repetition and component (``repetition`` -1 = over repetitions)."""

    phase: str  # "prefill" | "decode" | "request" | "dit_step" | "run_window" | ...
    repetition: int
    component: str  # "gpu" | "cpu" | "ram" | "time"
    latency_s: float | None
    energy_j: float | None
    ci95_j: float | None
    source: str | None
    estimated: bool | None
    protocol: Mapping[str, Any]


@dataclass(frozen=True)
class Measurement:
    """What a workload returns for one point. Workloads never write to the store; the driver does.

    ``check_failures`` name the point's own checks that failed (no request served, a consistency gate
    that re-measuring could not pass): the point is stored with its data but as *failed*, so that a
    resumed sweep measures it again and the command exits 1."""

    summary: Mapping[str, Any]
    measurements: Sequence[MeasurementRow] = ()
    records: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    check_failures: Sequence[str] = ()


@dataclass(frozen=True)
class StoredRun:
    """One invocation as the store keeps it."""

    id: int
    created_at: float
    kind: str
    command: str
    n_points: int
    env: Mapping[str, Any]
    plan: Mapping[str, Any]
    baseline: Mapping[str, Any]

    @property
    def gpu_name(self) -> str | None:
        gpus = self.env.get("gpus") or []
        name = gpus[0].get("name") if gpus and isinstance(gpus[0], Mapping) else None
        return str(name) if name else None

    @property
    def idle_power_w(self) -> Mapping[str, float]:
        """Idle power per component (W) that "above idle" used; empty when none was taken."""
        value = self.baseline.get("idle_power_w") or {}
        return {str(k): float(v) for k, v in value.items() if isinstance(v, (int, float))}


@dataclass(frozen=True)
class StoredPoint:
    """One point as the store keeps it: its configuration, status and summary."""

    id: int
    run_id: int
    key: str
    kind: str
    status: str  # "ok" | "failed"
    error: str | None
    config: Mapping[str, Any]
    summary: Mapping[str, Any]
    created_at: float

    def typed(self) -> Any:
        """The configuration as its registered point class (``config`` dict when none is registered)."""
        reader = POINT_KINDS.get(self.kind)
        return reader(self.config) if reader is not None else self.config

    def phase(self, name: str) -> PhaseSummary | None:
        doc = self.summary.get(name)
        return PhaseSummary.from_dict(doc) if isinstance(doc, Mapping) else None


@dataclass(frozen=True)
class PhaseSummary:
    """The stored figures of one measured phase (per repetition), read back typed."""

    latency_s: float
    energy_j: Mapping[str, float]
    reps: int = 0
    latency_std_s: float = 0.0
    ci95_j: Mapping[str, float | None] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)
    estimated: Mapping[str, bool] = field(default_factory=dict)
    above_idle_energy_j: Mapping[str, float] = field(default_factory=dict)
    sm_clock_mhz: float | None = None
    flags: Sequence[str] = ()

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> PhaseSummary:
        return cls(
            latency_s=float(doc.get("latency_s") or 0.0),
            energy_j={k: float(v) for k, v in (doc.get("energy_j") or {}).items() if v is not None},
            reps=int(doc.get("reps") or 0),
            latency_std_s=float(doc.get("latency_std_s") or 0.0),
            ci95_j=dict(doc.get("ci95_j") or {}),
            sources=dict(doc.get("sources") or {}),
            estimated=dict(doc.get("estimated") or {}),
            above_idle_energy_j=dict(doc.get("above_idle_energy_j") or {}),
            sm_clock_mhz=doc.get("sm_clock_mhz"),
            flags=tuple(doc.get("flags") or ()),
        )


#: LLM engines a measurement can run: eager ``generate`` (dynamic cache), and static KV cache +
#: ``torch.compile`` (CUDA graphs) through transformers' ``cache_implementation="static"``
LLM_ENGINES = ("eager", "static")
#: how decode is measured: inside the real ``generate`` call (from the first token's stamp to its end),
#: or by the hand-written forward loop of round 1 (kept for comparison, ``--decode-method loop``)
DECODE_METHODS = ("request", "loop")
LLM_PHASES = ("prefill", "decode", "request")


@register_point("llm")
@dataclass(frozen=True)
class LLMPoint:
    """One causal-LM configuration: what `workloads.llm` measures and the store resumes by."""

    kind: ClassVar[str] = "llm"

    model: str
    dtype: str  # canonical (`hardware.dtypes`)
    device: str
    batch: int
    prompt_tokens: int | None  # None: prompts come from ``messages``
    output_tokens: int
    random_weights: bool = True
    stop: str = "exact"
    seed: int = 0
    prompt_spread: float = 0.0
    phases: tuple[str, ...] = LLM_PHASES
    messages: str | None = None
    engine: str = "eager"
    decode_method: str = "request"
    protocol_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: static engine: the static KV cache's length (one per model in a sweep, so one compiled graph
    #: serves all its points; decode attends all of it), resolved by the plan
    static_cache_len: int | None = None
    #: explicit prompt length of each batch row (a batch drawn from a prompt source), left-padded to
    #: ``prompt_tokens`` (their maximum); empty: lengths from ``prompt_tokens`` and ``prompt_spread``
    prompt_lengths: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "model": self.model, "dtype": self.dtype, "device": self.device, "batch": self.batch,
            "prompt_tokens": self.prompt_tokens, "output_tokens": self.output_tokens,
            "random_weights": self.random_weights, "stop": self.stop, "seed": self.seed,
            "prompt_spread": self.prompt_spread, "phases": list(self.phases), "engine": self.engine,
            "decode_method": self.decode_method,
        }
        if self.messages:
            doc["messages"] = self.messages
        if self.protocol_overrides:
            doc["protocol_overrides"] = {k: dict(v) for k, v in self.protocol_overrides.items()}
        if self.static_cache_len is not None:
            doc["static_cache_len"] = self.static_cache_len
        if self.prompt_lengths:
            doc["prompt_lengths"] = list(self.prompt_lengths)
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> LLMPoint:
        """Read a stored configuration; points stored before the engine and decode method were
        recorded ran eager ``generate`` and measured decode with the hand loop."""
        from joulebench.hardware.dtypes import canonical

        return cls(
            model=str(doc["model"]), dtype=canonical(doc["dtype"]), device=str(doc.get("device", "cuda")),
            batch=int(doc.get("batch", 1)),
            prompt_tokens=None if doc.get("prompt_tokens") is None else int(doc["prompt_tokens"]),
            output_tokens=int(doc["output_tokens"]), random_weights=bool(doc.get("random_weights", True)),
            stop=str(doc.get("stop", "exact")), seed=int(doc.get("seed", 0)),
            prompt_spread=float(doc.get("prompt_spread", 0.0)),
            phases=tuple(doc.get("phases") or LLM_PHASES), messages=doc.get("messages"),
            engine=str(doc.get("engine", "eager")), decode_method=str(doc.get("decode_method", "loop")),
            protocol_overrides=dict(doc.get("protocol_overrides") or {}),
            static_cache_len=None if doc.get("static_cache_len") is None else int(doc["static_cache_len"]),
            prompt_lengths=tuple(int(n) for n in doc.get("prompt_lengths") or ()),
        )

    def label(self) -> str:
        s = "chat" if self.prompt_tokens is None else str(self.prompt_tokens)
        engine = "" if self.engine == "eager" else f" {self.engine}"
        return f"{self.model} {self.dtype}{engine} b={self.batch} s={s} g={self.output_tokens}"
