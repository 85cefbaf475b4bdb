"""Causal-LM workload: prefill, decode and the whole request, each measured in its own window.

* **prefill** = the prompt through the model to the first token (LM head on the last position only,
  as ``generate`` does), from an empty cache;
* **decode** = tokens 2..G from the KV cache that one prefill left (the cache is snapshotted once and
  copied before each repetition, outside the timed span), one synchronised step per token so that
  every inter-token time is real;
* **request** = one ``generate`` call, with a streamer stamping every token (TTFT, inter-token times).

Measuring decode in its own window, rather than as request minus prefill, is what keeps decode
latency and energy from going negative on short outputs; the request window then checks the sum.
Latency and energy do not depend on weight values, so bundled configs with random weights are
first-class; output length is controlled explicitly (EOS ignored) unless natural stop is asked for.
"""

from __future__ import annotations

import copy
import functools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from joulebench.errors import UsageError
from joulebench.measurement import PointResult
from joulebench.meters.monitor import EnergyMonitor
from joulebench.meters.window import PhaseResult, Protocol, run_repeated
from joulebench.models.configs import ModelRef, bundled_configs, resolve
from joulebench.store import MeasurementRow
from joulebench.workloads.device import free_device_memory, launch_probe_us, sync, torch_dtype

PHASES = ("prefill", "decode", "request")

#: defaults chosen from benchmarks/short_window.py (prefill) and the decode-length sweeps: a decode run
#: of hundreds of tokens already spans seconds, so one warm-up and two repetitions suffice
DEFAULT_PROTOCOLS: dict[str, Protocol] = {
    "prefill": Protocol(warmup_reps=2, min_window_s=1.2, min_reps=3),
    "decode": Protocol(warmup_reps=1, min_window_s=1.2, min_reps=2),
    "request": Protocol(warmup_reps=1, min_window_s=1.2, min_reps=2),
}




# -- loading --------------------------------------------------------------------------------------
@dataclass
class LoadedModel:
    ref: ModelRef
    model: Any
    dtype: str
    device: str
    random_weights: bool
    load_s: float

    @functools.cached_property
    def tokenizer(self) -> Any | None:
        """Loaded on first use (chat input only): synthetic prompts need no tokenizer, and an
        unreachable hub must not slow every random-weight run down."""
        return _tokenizer_for(self.ref)

    @property
    def max_positions(self) -> int:
        return int(self.ref.config.get("max_position_embeddings", 2**31))


def _tokenizer_for(ref: ModelRef) -> Any | None:
    """The model's own tokenizer: local folder, hub id, or (bundled configs) the hub ids the config
    was copied from; None when none can be had here."""
    if ref.name == "tiny-llama":
        from joulebench.workloads.tokenizer import byte_tokenizer

        return byte_tokenizer()
    from transformers import AutoTokenizer

    if ref.kind == "local" and ref.path is not None:
        sources = [ref.path]
    elif ref.kind == "hub":
        sources = [ref.name]
    else:
        sources = list(bundled_configs().get(ref.name, {}).get("_hub_ids", []))
    for source in sources:
        try:
            return AutoTokenizer.from_pretrained(source)
        except Exception:  # noqa: BLE001 - unreachable or absent: try the next, else synthetic ids only
            continue
    return None


def load_model(reference: str, dtype: str, device: str, random_weights: bool = True) -> LoadedModel:
    """Load a causal LM. Bundled names always use random weights; hub ids and local paths load their
    weights unless ``random_weights`` (then only their config is used)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    ref = resolve(reference)
    t0 = time.perf_counter()
    td = torch_dtype(dtype)
    use_random = random_weights or ref.kind == "bundled"
    if use_random:
        cfg = dict(ref.config)
        model_type = cfg.pop("model_type")
        config = AutoConfig.for_model(model_type, **{k: v for k, v in cfg.items() if k != "torch_dtype"})
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(config, dtype=td, attn_implementation="sdpa")
    else:
        source = ref.path if ref.kind == "local" else ref.name
        model = AutoModelForCausalLM.from_pretrained(source, dtype=td, attn_implementation="sdpa").to(device)
    model.eval()
    sync(device)
    return LoadedModel(ref, model, dtype, device, use_random, time.perf_counter() - t0)


class ModelCache:
    """Keeps the last loaded model, so a sweep over lengths loads each model once."""

    def __init__(self) -> None:
        self._key: tuple[str, str, str, bool] | None = None
        self._loaded: LoadedModel | None = None

    def get(self, reference: str, dtype: str, device: str, random_weights: bool) -> LoadedModel:
        key = (reference, dtype, device, random_weights)
        if self._key != key or self._loaded is None:
            self.clear()
            self._loaded = load_model(reference, dtype, device, random_weights)
            self._key = key
        return self._loaded

    def clear(self) -> None:
        self._loaded = None
        self._key = None
        free_device_memory()


def cache_keyword(model: Any) -> str:
    """transformers renamed ``past_key_values`` to ``cache`` (5.2x); accept both versions."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def output_cache(output: Any) -> Any:
    return output["cache"] if "cache" in output else output["past_key_values"]


# -- inputs ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Inputs:
    input_ids: Any  # (batch, padded_len) long tensor, left-padded
    attention_mask: Any
    effective_tokens: int  # real prompt tokens over the batch
    computed_tokens: int  # batch * padded length


def synthetic_inputs(loaded: LoadedModel, prompt_tokens: int, batch: int, spread: float, seed: int) -> Inputs:
    """Random token ids of an exact length (or lengths spread down to ``(1-spread)*prompt_tokens``,
    left-padded to ``prompt_tokens``). Special ids are avoided so no row ends early."""
    import torch

    vocab = int(loaded.ref.config["vocab_size"])
    gen = torch.Generator().manual_seed(seed)
    low = max(1, int(round(prompt_tokens * (1.0 - spread))))
    lengths = torch.randint(low, prompt_tokens + 1, (batch,), generator=gen) if spread > 0 else None
    ids = torch.randint(0, min(vocab, 2**31 - 1) - 300 if vocab > 600 else 256, (batch, prompt_tokens), generator=gen)
    mask = torch.ones_like(ids)
    if lengths is not None:
        for row, length in enumerate(lengths.tolist()):
            mask[row, : prompt_tokens - length] = 0
            ids[row, : prompt_tokens - length] = 0
    effective = int(mask.sum())
    return Inputs(ids.to(loaded.device), mask.to(loaded.device), effective, batch * prompt_tokens)


def chat_inputs(loaded: LoadedModel, messages_file: str, batch: int) -> Inputs:
    """Conversations from a JSON/JSONL file of message lists, through the tokenizer's chat template."""
    import torch

    if loaded.tokenizer is None:
        raise UsageError(
            f"--messages needs the tokenizer of {loaded.ref.name}, which is not available here "
            "(hub unreachable); use --prompt-tokens, or a local model folder with its tokenizer"
        )
    path = Path(messages_file)
    text = path.read_text()
    conversations = [json.loads(line) for line in text.splitlines() if line.strip()] if path.suffix == ".jsonl" \
        else json.loads(text)
    if not conversations:
        raise UsageError(f"--messages {messages_file}: no conversations")
    rows = []
    for i in range(batch):
        conv = conversations[i % len(conversations)]
        messages = conv["messages"] if isinstance(conv, dict) else conv
        encoded = loaded.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        rows.append(list(encoded["input_ids"] if isinstance(encoded, Mapping) else encoded))
    width = max(len(r) for r in rows)
    pad = loaded.tokenizer.pad_token_id or 0
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return Inputs(ids.to(loaded.device), mask.to(loaded.device), int(mask.sum()), batch * width)


# -- phases ---------------------------------------------------------------------------------------
class _TokenClock:
    """A ``generate`` streamer that stamps each new token (the first ``put`` is the prompt)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.times_s: list[float] = []
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self.times_s.append(time.perf_counter())

    def end(self) -> None:
        return None


@dataclass
class LLMPhases:
    """Runs the three phases of one point on a loaded model."""

    loaded: LoadedModel
    inputs: Inputs
    output_tokens: int
    natural_stop: bool
    decode_token_times: list[list[float]] = field(default_factory=list)
    request_token_times: list[list[float]] = field(default_factory=list)
    request_starts: list[float] = field(default_factory=list)
    generated: list[int] = field(default_factory=list)
    _snapshot: Any = None
    _first_token: Any = None
    _cache: Any = None

    def _forward(self, cache: Any = None, **kwargs: Any) -> Any:
        import torch

        if cache is not None:
            kwargs[cache_keyword(self.loaded.model)] = cache
        with torch.no_grad():
            return self.loaded.model(**kwargs)

    def prefill(self) -> Any:
        out = self._forward(input_ids=self.inputs.input_ids, attention_mask=self.inputs.attention_mask,
                            use_cache=True, logits_to_keep=1)
        token = out.logits[:, -1, :].argmax(dim=-1)
        sync(self.loaded.device)
        self._snapshot, self._first_token = output_cache(out), token
        return token

    def prepare_decode(self) -> None:
        if self._snapshot is None:
            self.prefill()
        self._cache = copy.deepcopy(self._snapshot)
        sync(self.loaded.device)

    def decode(self) -> int:
        """Tokens 2..G from the prepared cache; returns how many tokens were produced per sequence."""
        import torch

        mask = self.inputs.attention_mask
        positions = mask.sum(dim=-1, keepdim=True) - 1
        token = self._first_token
        eos = self._eos_ids()
        stamps: list[float] = []
        finished = torch.zeros(token.shape[0], dtype=torch.bool, device=token.device)
        produced = 1
        for _ in range(self.output_tokens - 1):
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=-1)
            positions = positions + 1
            out = self._forward(input_ids=token[:, None], attention_mask=mask, position_ids=positions,
                                cache=self._cache, use_cache=True)
            token = out.logits[:, -1, :].argmax(dim=-1)
            sync(self.loaded.device)
            stamps.append(time.perf_counter())
            produced += 1
            if self.natural_stop and eos:
                finished |= torch.isin(token, torch.tensor(eos, device=token.device))
                if bool(finished.all()):
                    break
        self.decode_token_times.append(stamps)
        self.generated.append(produced)
        return produced

    def request(self) -> Any:
        import torch

        clock = _TokenClock(self.loaded.device)
        kwargs: dict[str, Any] = {"max_new_tokens": self.output_tokens, "do_sample": False, "streamer": clock}
        if not self.natural_stop:
            kwargs["min_new_tokens"] = self.output_tokens
        pad = self._eos_ids()
        kwargs["pad_token_id"] = pad[0] if pad else 0
        start = time.perf_counter()
        with torch.no_grad():
            out = self.loaded.model.generate(input_ids=self.inputs.input_ids,
                                             attention_mask=self.inputs.attention_mask, **kwargs)
        sync(self.loaded.device)
        self.request_starts.append(start)
        self.request_token_times.append(clock.times_s)
        return out

    def _eos_ids(self) -> list[int]:
        eos = self.loaded.ref.config.get("eos_token_id")
        if eos is None:
            return []
        return list(eos) if isinstance(eos, list) else [int(eos)]


# -- one point ------------------------------------------------------------------------------------
def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    arr = np.asarray(values)
    return {"mean": float(arr.mean()), "p50": float(np.percentile(arr, 50)), "p90": float(np.percentile(arr, 90)),
            "p99": float(np.percentile(arr, 99)), "n": int(arr.size)}


def _phase_rows(phase: str, result: PhaseResult) -> list[MeasurementRow]:
    rows: list[MeasurementRow] = []
    proto = result.protocol.to_dict()
    for i, (b, e) in enumerate(result.spans):
        rows.append(MeasurementRow(phase, i, "time", float(e - b), None, None, "perf_counter", False, proto))
    for component, reading in result.readings.items():
        rows.append(MeasurementRow(phase, -1, component, result.latency_s, reading.energy_j,
                                   result.estimates[component].ci95_j, reading.source, reading.estimated, proto))
    return rows


def run_llm_point(
    config: Mapping[str, Any],
    monitor: EnergyMonitor,
    models: ModelCache,
    idle_power_w: Mapping[str, float] | None = None,
    protocols: Mapping[str, Protocol] | None = None,
    on_rep: Callable[[str, int, float], None] | None = None,
) -> PointResult:
    """Measure one configuration (a validated dict from `experiments.plan.LLMPlan`)."""
    protocols = {**DEFAULT_PROTOCOLS, **(protocols or {})}
    loaded = models.get(config["model"], config["dtype"], config["device"], config["random_weights"])
    if config.get("messages"):
        inputs = chat_inputs(loaded, config["messages"], config["batch"])
    else:
        inputs = synthetic_inputs(loaded, config["prompt_tokens"], config["batch"], config.get("prompt_spread", 0.0),
                                  config.get("seed", 0))
    phases = LLMPhases(loaded, inputs, config["output_tokens"], config.get("stop", "exact") == "natural")
    results: dict[str, PhaseResult] = {}
    launch_us = launch_probe_us(config["device"])

    def progress(phase: str) -> Callable[[int, float], None] | None:
        return None if on_rep is None else (lambda i, dt: on_rep(phase, i, dt))

    wanted = config.get("phases", list(PHASES))
    if "prefill" in wanted:
        results["prefill"] = run_repeated(monitor, phases.prefill, protocols["prefill"], on_rep=progress("prefill"))
    if "decode" in wanted and config["output_tokens"] > 1:
        phases.prefill()
        results["decode"] = run_repeated(monitor, phases.decode, protocols["decode"],
                                         prepare=phases.prepare_decode, on_rep=progress("decode"))
        phases._snapshot = phases._cache = None
    if "request" in wanted:
        results["request"] = run_repeated(monitor, phases.request, protocols["request"], on_rep=progress("request"))

    summary: dict[str, Any] = {"config": dict(config)}
    idle = dict(idle_power_w or {})
    for name, result in results.items():
        doc = result.to_dict()
        if idle:
            doc["above_idle_energy_j"] = {c: e - idle.get(c, 0.0) * result.latency_s for c, e in doc["energy_j"].items()}
        summary[name] = doc
    out_tokens = phases.generated[-1] if phases.generated else config["output_tokens"]
    summary["tokens"] = {
        "batch": config["batch"],
        "prompt_tokens_effective": inputs.effective_tokens,
        "prompt_tokens_computed": inputs.computed_tokens,
        "output_tokens_per_sequence": out_tokens,
        "output_tokens_effective": out_tokens * config["batch"],
    }
    itl: list[float] = []
    if phases.decode_token_times:
        stamps = phases.decode_token_times[-1]
        itl = list(np.diff(stamps)) if len(stamps) > 1 else []
        summary["decode"]["per_token_latency_s"] = _stats(itl)
    if phases.request_token_times and phases.request_token_times[-1]:
        stamps = phases.request_token_times[-1]
        summary["request"]["ttft_s"] = stamps[0] - phases.request_starts[-1]
        summary["request"]["inter_token_latency_s"] = _stats(list(np.diff(stamps)))
    if "prefill" in results:
        summary["prefill"]["ttft_s"] = results["prefill"].latency_s
    if {"prefill", "decode", "request"} <= results.keys():
        summary["consistency"] = _consistency(results)
    summary["idle_power_w"] = idle
    summary["model_load_s"] = loaded.load_s
    if launch_us is not None:
        summary["host_launch_us"] = launch_us
    rows = [row for name, result in results.items() for row in _phase_rows(name, result)]
    records: dict[str, list[dict[str, Any]]] = {}
    if phases.decode_token_times:
        records["decode_token_times"] = [{"rep": i, "t_s": t} for i, t in enumerate(phases.decode_token_times)]
    if phases.request_token_times:
        records["request_token_times"] = [{"rep": i, "start_s": s, "t_s": t} for i, (s, t) in
                                          enumerate(zip(phases.request_starts, phases.request_token_times, strict=True))]
    return PointResult(summary, rows, records)


def _consistency(results: Mapping[str, PhaseResult]) -> dict[str, Any]:
    """(prefill + decode) / request for latency and for each component's energy: near 1 when the
    windows are right (generate adds a little of its own overhead per step)."""
    pre, dec, req = results["prefill"], results["decode"], results["request"]
    out: dict[str, Any] = {"latency_ratio": (pre.latency_s + dec.latency_s) / req.latency_s}
    for component in req.readings:
        total = req.readings[component].energy_j
        if total > 0:
            out[f"energy_ratio_{component}"] = (pre.readings[component].energy_j + dec.readings[component].energy_j) / total
    return out
