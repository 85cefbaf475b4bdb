"""Serving benchmark arms: what one arm is, how it is validated, and the sweeps that build several.

An *arm* is one arrival law + one target (an HTTP server, a server process we launch, or an
in-process engine) + its settings. `ArmSpec.validate` checks every field and file up front (URL,
prompt and trace files, sizes against the documented bounds and against memory, the engine's knobs,
the floor's model and card), so nothing is loaded, launched, sent or written before the whole arm is
known to be valid. Sweeps (`rate_sweep`, `knob_sweep`) derive arms from one; the one sweep driver
(`experiments.sweep`) runs them like any other points.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar

from joulebench.errors import UsageError
from joulebench.serving.arrivals import ArrivalLaw, parse_arrival, schedule
from joulebench.serving.client import LENGTH_CONTROLS
from joulebench.serving.energy import PREFILL_WEIGHT
from joulebench.serving.launcher import ServerSpec
from joulebench.serving.metrics import Slo, parse_slo
from joulebench.serving.prompts import TEXT_UNITS, LengthLaw, PromptSource, parse_lengths, parse_prompts
from joulebench.serving.specs import (
    MAX_DURATION_S,
    MAX_REQUESTS,
    check_finite,
    check_int,
    check_memory,
    parse_rate_per_s,
    parse_url,
)
from joulebench.workloads.engine import EngineConfig

DEFAULT_PROMPTS = "synthetic:200-4000,mean=1200"
DEFAULT_OUTPUTS = "10-300"
APIS = ("auto", "completions", "chat")
MAX_ARMS = 256


@dataclass(frozen=True)
class FloorSpec:
    """What the physical floor of an arm is computed for (`serving.floors`)."""

    model: str | None = None  # architecture; default: the engine's model, or --model when bundled/local
    gpu: str | None = None  # catalogue name; default: the metered GPU
    dtype: str = "bf16"  # default: the engine's dtype
    profiles: tuple[str, ...] = ()  # calibration profiles: the best energy_per_flop_pj of the card

    def validate(self) -> None:
        from joulebench.hardware import dtypes
        from joulebench.hardware.catalogue import get_accelerator
        from joulebench.profiles import read_profile
        from joulebench.serving.floors import floor_arch

        dtypes.get(self.dtype, "floor_dtype", among=dtypes.TORCH_DTYPES)
        for field, value, check in (("floor_model", self.model, lambda v: floor_arch(v, allow_hub=True)),
                                    ("floor_gpu", self.gpu, get_accelerator)):
            if value is None:
                continue
            try:
                check(value)
            except UsageError as exc:
                if exc.field is not None:
                    raise
                raise UsageError.bad(field, value, exc.reason) from None
        for path in self.profiles:
            read_profile(path, "floor_profile")


@dataclass(frozen=True)
class ValidArm:
    law: ArrivalLaw
    prompts: PromptSource
    outputs: LengthLaw
    slo: Slo | None


@dataclass(frozen=True)
class ArmSpec:
    """Everything that defines one arm; exactly one of ``url`` and ``engine`` is set (``server`` needs ``url``)."""

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
    length_control: str = "vllm"
    continuous_usage: bool = False
    text_unit: str = "word"
    shared_prefix_tokens: int = 0  # the same first tokens in every prompt, for a prefix cache to hit
    prompt_salt: int = 0  # other than 0: the prompts' tokens drawn afresh (same lengths), for no cache to hit
    server: ServerSpec | None = None
    engine: EngineConfig | None = None
    floor: FloorSpec = FloorSpec()
    tag: str | None = None  # distinguishes repeated runs of the same configuration in the store

    def validate(self) -> ValidArm:
        _check_name(self.name)
        if (self.url is None) == (self.engine is None):
            raise UsageError("give either --url (with --model) or --engine (with --model)")
        if self.url is not None:
            parse_url(self.url, "url")
            if not self.model or not self.model.strip():
                raise UsageError.bad("model", self.model or "", "required with --url (the name the server serves)")
            if self.api not in APIS:
                raise UsageError.bad("api", self.api, f"allowed: {', '.join(APIS)}")
            if self.length_control not in LENGTH_CONTROLS:
                raise UsageError.bad("length_control", self.length_control, f"allowed: {', '.join(LENGTH_CONTROLS)}")
        if self.server is not None:
            if self.url is None:
                raise UsageError.bad("server", self.server.command, "needs --url (where the server listens)")
            self.server.argv()
            check_finite(self.server.ready_timeout_s, "server_timeout_s", 0.1, MAX_DURATION_S)
        if self.engine is not None:
            self.engine.validate()
        if self.text_unit not in TEXT_UNITS:
            raise UsageError.bad("text_unit", self.text_unit, f"allowed: {', '.join(TEXT_UNITS)}")
        check_int(self.requests, "requests", 1, MAX_REQUESTS)
        check_int(self.shared_prefix_tokens, "shared_prefix_tokens", 0, 1 << 20)
        check_int(self.prompt_salt, "prompt_salt", 0, 2**32 - 1)
        check_int(self.seed, "seed", 0, 2**63 - 1)
        check_finite(self.max_duration_s, "max_duration_s", 1e-3, MAX_DURATION_S)
        check_finite(self.request_timeout_s, "request_timeout_s", 1e-3, MAX_DURATION_S)
        check_finite(self.ramp_up_s, "ramp_up_s", 0.0, MAX_DURATION_S)
        check_finite(self.prefill_weight, "prefill_weight", 0.0, 1e6)
        if self.max_concurrency is not None:
            check_int(self.max_concurrency, "max_concurrency", 1, MAX_REQUESTS)
        law = parse_arrival(self.arrival)
        prompts = parse_prompts(self.prompts)
        outputs = parse_lengths(self.output_tokens, "output_tokens")
        slo = parse_slo(self.slo)
        if self.shared_prefix_tokens and (prompts.lengths is None or self.shared_prefix_tokens > prompts.lengths.low):
            raise UsageError.bad("shared_prefix_tokens", self.shared_prefix_tokens,
                                 "needs synthetic prompts at least that long (LO of --prompts)")
        if self.prompt_salt and prompts.lengths is None:
            raise UsageError.bad("prompt_salt", self.prompt_salt, "needs synthetic prompts (a file's text is fixed)")
        schedule(law, self.requests, self.seed, self.ramp_up_s)  # trace length check
        check_memory(self.requests, prompts.max_prompt_tokens, prompts.max_output_tokens(outputs))
        self.floor.validate()
        return ValidArm(law, prompts, outputs, slo)

    #: a point of the sweep driver: the store keeps `point_config` and resumes by it
    kind: ClassVar[str] = "serving"

    def to_dict(self) -> dict[str, Any]:
        return self.point_config()

    def label(self) -> str:
        return f"arm {self.name} ({self.arrival}, {self.requests} requests)"

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ArmSpec:
        """Inverse of `point_config`, for recomputing what a stored arm's records give."""
        known = dict(config)
        known["engine"] = None if config.get("engine") is None else EngineConfig(**config["engine"])
        known["server"] = None if config.get("server") is None else ServerSpec(**config["server"])
        floor = dict(config.get("floor") or {})
        known["floor"] = FloorSpec(**{**floor, "profiles": tuple(floor.get("profiles") or ())})
        return cls(**known)

    def point_config(self) -> dict[str, Any]:
        config = asdict(self)
        if not self.prompt_salt:  # absent unless set: the arms stored before it keep their keys
            del config["prompt_salt"]
        config["engine"] = None if self.engine is None else self.engine.to_dict()
        if self.server is not None:
            from joulebench.serving.secrets import Redactor

            config["server"] = asdict(self.server) | {"command": Redactor().text(self.server.command)}
        return config


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > 120:
        raise UsageError.bad("name", name, "must be 1 to 120 characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise UsageError.bad("name", name, "no control characters")


def check_arms(arms: list[ArmSpec]) -> list[ValidArm]:
    """Validate a whole plan of arms (every one, before any runs); names must be unique."""
    if not 1 <= len(arms) <= MAX_ARMS:
        raise UsageError.bad("arms", len(arms), f"from 1 to {MAX_ARMS} arms in one run")
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise UsageError.bad("name", names, "arm names must be unique")
    return [arm.validate() for arm in arms]


def own_prompts(arm: ArmSpec) -> ArmSpec:
    """``arm`` with a prompt salt of its own, from its name and the salt it had: the same lengths, tokens no
    arm of another name sends, and the same ones each time the arm is planned (a resume finds it)."""
    return replace(arm, prompt_salt=zlib.crc32(f"{arm.name}#{arm.prompt_salt}".encode()) or 1)


def prompt_reuse(arms: Sequence[ArmSpec]) -> dict[str, str]:
    """Arms that send a live server the prompts an earlier arm of the plan sent it: name -> that arm's.

    A server given by ``url`` alone lives across the arms, and one that keeps finished requests' blocks
    for de-duplication (transformers serve) answers the same prompts partly from that cache: in run_f a
    server's first, second and third arm over seed 0's prompts cost 0.118, 0.0957 and 0.0669 Wh per request.
    An arm with a ``server`` of its own starts a fresh one; prompts differ by source, seed, salt, shared
    prefix or text unit (the count and the output lengths do not change the prompts sent first)."""
    first: dict[tuple[Any, ...], str] = {}
    reused: dict[str, str] = {}
    for arm in arms:
        if arm.url is None or arm.server is not None:
            continue
        key = (arm.url, arm.prompts, arm.seed, arm.prompt_salt, arm.shared_prefix_tokens, arm.text_unit)
        if key in first:
            reused[arm.name] = first[key]
        else:
            first[key] = arm.name
    return reused


# -- sweeps -----------------------------------------------------------------------------------------
RATE_LAWS = ("poisson", "fixed")


def rate_sweep(arm: ArmSpec, rates: str, law: str = "poisson") -> list[ArmSpec]:
    """One arm per arrival rate (``"1/s,2/s,5/s"``), for the energy/latency Pareto (`serving.pareto`).

    Against a server (``url``) with synthetic prompts, each arm gets prompts of its own (`own_prompts`):
    one server serves the whole sweep, and a prefix cache kept from the arms before would make the later
    (faster) rates cheaper than they are."""
    if law not in RATE_LAWS:
        raise UsageError.bad("rate_law", law, f"allowed: {', '.join(RATE_LAWS)}")
    values = [parse_rate_per_s(r, "rates") for r in rates.split(",") if r.strip()]
    if not values:
        raise UsageError.bad("rates", rates, "give one rate or more, e.g. 1/s,2/s,5/s")
    salted = arm.url is not None and arm.prompts.strip().startswith("synthetic:")
    out = []
    for rate in values:
        spec = f"poisson:{rate:g}/s" if law == "poisson" else f"fixed:{1.0 / rate:g}s"
        rated = replace(arm, name=f"{arm.name}@{rate:g}per_s", arrival=spec)
        out.append(own_prompts(rated) if salted else rated)
    return out


def knob_sweep(arm: ArmSpec, sweep: str) -> list[ArmSpec]:
    """One arm per value of one engine knob (``"max_batch_tokens=256,512,1024"``)."""
    if arm.engine is None:
        raise UsageError.bad("sweep", sweep, "a knob sweep needs --engine transformers")
    name, sep, values = sweep.partition("=")
    name = name.strip().replace("-", "_")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not items:
        raise UsageError.bad("sweep", sweep, "use KNOB=V1,V2,..., e.g. max_batch_tokens=256,512,1024")
    out = []
    for value in items:
        engine = replace(arm.engine, knobs={**dict(arm.engine.knobs), name: value})
        out.append(replace(arm, name=f"{arm.name}@{name}={value}", engine=engine))
    return out
