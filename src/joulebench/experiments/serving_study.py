"""The study's serving arms (issue 18 "must show") as one plan: targets x arrival laws x repeats.

Targets
  seq-fp32, seq-bf16   the naive baseline: one ``generate`` at a time (in-process)
  cb                   transformers continuous batching in-process, with a knob preset (``tuned``)
  serve                ``transformers serve --continuous-batching`` over HTTP (a server the caller runs
                       or launches; its URL is given)
Laws (the study's, seed_figures.json case II): burst, t_i = i * U(0, 1 s), fixed 50 / 300 / 500 ms.
Lengths: prompts 200-4,000 tokens with mean ~1,200 (a Beta law, `serving.prompts`), outputs 10-300
tokens, exact (EOS disabled). All arms draw the same request set (seed 0), so comparisons are paired;
a repeat is the same configuration stored again under ``tag="repeat<N>"``.

Request counts and per-arm time bounds are parameters so that a run fits the GPU time it is given:
an arm ends at its ``max_duration_s`` whatever the law, and records what was cut.

Sequential arms can instead be derived (`service_arms`, `experiments.serving_derive`): a sequential
server serves one request at a time, so its records under any law follow from its measured services
(`serving.fifo`). The services are measured as segments (burst, seeds 0, 1, ...), each short enough for
one device call; one real arm per target (``check``) is measured under a law to compare with the arm
derived from its own requests' services.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from joulebench.errors import UsageError
from joulebench.experiments.serving_arms import ArmSpec, FloorSpec
from joulebench.workloads.engine import EngineConfig

PROMPTS = "synthetic:200-4000,mean=1200"
OUTPUTS = "10-300"
LAWS: dict[str, str] = {
    "burst": "burst",
    "uniform-0-1s": "uniform:0s,1s",
    "fixed-50ms": "fixed:50ms",
    "fixed-300ms": "fixed:300ms",
    "fixed-500ms": "fixed:500ms",
}
TARGETS = ("seq-fp32", "seq-bf16", "cb", "serve")
SLO = "ttft:2s,tpot:100ms"


def study_arms(
    model: str,
    device: str,
    targets: Sequence[str],
    laws: Sequence[str],
    requests: Mapping[str, int],
    max_duration_s: Mapping[str, float],
    *,
    url: str | None = None,
    served_model: str | None = None,
    preset: str | None = "tuned",
    knobs: Mapping[str, object] | None = None,
    repeats: int = 1,
    prompts: str = PROMPTS,
    outputs: str = OUTPUTS,
    profiles: Sequence[str] = (),
) -> list[ArmSpec]:
    """The arms of ``targets`` x ``laws`` x ``repeats``; ``requests`` and ``max_duration_s`` per target."""
    unknown = [t for t in targets if t not in TARGETS] + [law for law in laws if law not in LAWS]
    if unknown:
        raise UsageError.bad("study", unknown[0], f"targets: {', '.join(TARGETS)}; laws: {', '.join(LAWS)}")
    if "serve" in targets and url is None:
        raise UsageError.bad("url", None, "the serve target needs the server's URL")
    floor = FloorSpec(model=model, profiles=tuple(profiles))
    arms: list[ArmSpec] = []
    for target in targets:
        for law in laws:
            base = ArmSpec(
                name=f"{target}-{law}", arrival=LAWS[law], requests=int(requests[target]), prompts=prompts,
                output_tokens=outputs, seed=0, max_duration_s=float(max_duration_s[target]), slo=SLO, floor=floor,
            )
            if target == "serve":
                arm = replace(base, url=url, model=served_model or model, length_control="transformers",
                              text_unit="byte")
            else:
                engine = "sequential" if target.startswith("seq") else "transformers"
                dtype = "fp32" if target == "seq-fp32" else "bf16"
                arm = replace(base, engine=EngineConfig(
                    model, engine, dtype, device, knobs=dict(knobs or {}) if engine == "transformers" else {},
                    preset=preset if engine == "transformers" else None))
            arms += [arm if r == 0 else replace(arm, name=f"{arm.name}-r{r}", tag=f"repeat{r}") for r in range(repeats)]
    return arms


CHECK_LAW = "fixed-500ms"


def service_name(target: str, segment: int, repeat: int = 0) -> str:
    return f"{target}-services-s{segment}" + (f"-r{repeat}" if repeat else "")


def service_arms(model: str, device: str, targets: Sequence[str], segment_requests: int, segments: int,
                 max_duration_s: float, repeats: int = 1, check: bool = True, **common: object) -> list[ArmSpec]:
    """Per sequential target: ``segments`` service runs of ``segment_requests`` requests under burst
    (seed = segment number) per repeat, then (``check``) one real arm under `CHECK_LAW` with the requests
    of segment 0."""
    seq = [t for t in targets if t.startswith("seq")]
    if len(seq) != len(targets) or segments < 1:
        raise UsageError.bad("services", ",".join(targets) or segments, "sequential targets, one or more segments")
    counts = {t: segment_requests for t in seq}
    bounds = {t: max_duration_s for t in seq}
    arms: list[ArmSpec] = []
    for target in seq:
        (base,) = study_arms(model, device, [target], ["burst"], counts, bounds, **common)  # type: ignore[arg-type]
        for repeat in range(repeats):
            tag = {"tag": f"repeat{repeat}"} if repeat else {}
            arms += [replace(base, name=service_name(target, k, repeat), seed=k, **tag) for k in range(segments)]
        if check:
            arms += study_arms(model, device, [target], [CHECK_LAW], counts, bounds, **common)  # type: ignore[arg-type]
    return arms
