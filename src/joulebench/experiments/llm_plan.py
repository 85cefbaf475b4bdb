"""LLM plans: grids of `LLMPoint` s, every point validated before any model is loaded or anything written.

What is checked up front, and why each one matters: the device exists (a CUDA plan on a CPU machine
would otherwise fail point by point); each dtype is loadable there (a quantized dtype needs CUDA and its
library installed, fp8 a GPU of compute capability 8.9+); the engine applies (the static engine compiles
CUDA graphs); each model resolves; prompt plus output fit the model's context; the weights and KV cache
of the largest point fit the device's memory (a typo'd batch of 100000 must not start a sweep); a
conversations file parses, and the model's tokenizer is there to apply its chat template.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joulebench.errors import UsageError
from joulebench.hardware import dtypes
from joulebench.models.configs import resolve
from joulebench.parsing import choice
from joulebench.values import DECODE_METHODS, LLM_ENGINES, LLM_PHASES, LLMPoint
from joulebench.workloads.device import DEVICES, cuda_available, device_memory_bytes
from joulebench.workloads.quantization import check_loadable

STOPS = ("exact", "natural")


def _kv_bytes_per_token(config: Mapping[str, Any], kv_bytes: float) -> float:
    text = config.get("text_config") or config
    layers = int(text.get("num_hidden_layers", 1))
    heads = int(text.get("num_attention_heads", 1))
    kv_heads = int(text.get("num_key_value_heads") or heads)
    head_dim = int(text.get("head_dim") or int(text.get("hidden_size", heads)) // max(heads, 1))
    return 2.0 * layers * kv_heads * head_dim * kv_bytes


def memory_needed_bytes(model: str, dtype: str, batch: int, tokens: int) -> float:
    """Weights plus KV cache of one point (activations of one forward are small beside them)."""
    from joulebench.analytic import llm_arch

    d = dtypes.get(dtype)
    arch = llm_arch(model)
    act_bytes = dtypes.ELEMENT_BYTES[d.activation]
    return arch.n_params() * d.weight_bytes + batch * tokens * _kv_bytes_per_token(resolve(model).config, act_bytes)


def protocol_overrides(min_window_s: float | None, point_budget_s: float | None = None) -> dict[str, dict[str, float]]:
    """Shorter energy windows for quick runs (CPU trials, tests) and a cap on the stability rounds of each
    point; None keeps the workload's defaults (1.2 s windows; 120 s of rounds on CUDA, 5 s on a CPU)."""
    out: dict[str, dict[str, float]] = {}
    if min_window_s is not None:
        if not 0.0 < min_window_s <= 60.0:
            raise UsageError.bad("min_window_s", min_window_s, "must be in (0, 60] seconds")
        out |= {phase: {"min_window_s": float(min_window_s)} for phase in LLM_PHASES}
    if point_budget_s is not None:
        out["stability"] = {"budget_s": float(point_budget_s)}  # checked by LLMPlan, as any plan's overrides
    return out


def point_budget_s_checked(point_budget_s: float) -> float:
    """The rounds of a point stop at the first that meets the CI target or when this budget is spent; eager
    decode, whose run-to-run spread is 5-16% on an H200, spends the whole budget (flagged unstable)."""
    if not 1.0 <= point_budget_s <= 3600.0:
        raise UsageError.bad("point_budget_s", point_budget_s, "must be in [1, 3600] seconds")
    return float(point_budget_s)


@dataclass(frozen=True)
class LLMPlan:
    """A grid over models x dtypes x prompt lengths x output lengths x batch sizes."""

    models: Sequence[str]
    dtypes: Sequence[str]
    prompt_tokens: Sequence[int]
    output_tokens: Sequence[int]
    batches: Sequence[int]
    device: str
    random_weights: bool = True
    stop: str = "exact"
    messages: str | None = None
    prompt_spread: float = 0.0
    seed: int = 0
    phases: Sequence[str] = LLM_PHASES
    protocol_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    engine: str = "eager"
    decode_method: str = "request"
    #: static engine: one cache length for every point (default: each point's tokens rounded up to 256)
    static_cache_len: int | None = None
    #: False: the points of a plan measured elsewhere (``--tables-only`` finds them stored by their keys),
    #: so this machine's GPU, libraries and memory are not checked; every other check still runs
    check_device: bool = field(default=True, compare=False)

    def __post_init__(self) -> None:
        choice("device", self.device, DEVICES)
        if self.check_device and self.device == "cuda" and not cuda_available():
            raise UsageError.bad("device", "cuda", "no CUDA GPU is available on this machine; use --device cpu")
        object.__setattr__(self, "dtypes", [dtypes.canonical(d, "dtype") for d in self.dtypes])
        for name in self.dtypes:
            d = dtypes.get(name)
            if d.loader is None:
                raise UsageError.bad("dtype", name, "a format the predictor prices only; allowed: "
                                     f"{dtypes.allowed(dtypes.LOADABLE_DTYPES)}")
            if d.cuda_only and self.device != "cuda":
                raise UsageError.bad("dtype", name, f"runs on CUDA only ({d.loader}); on this device allowed: "
                                     f"{dtypes.allowed(dtypes.TORCH_DTYPES)}")
            if self.check_device:
                check_loadable(d, self.device)
        choice("engine", self.engine, LLM_ENGINES)
        if self.engine == "static" and self.device != "cuda":
            raise UsageError.bad("engine", "static", "compiles CUDA graphs and needs --device cuda; use --engine eager")
        choice("decode_method", self.decode_method, DECODE_METHODS)
        if self.engine == "static" and self.decode_method == "loop":
            raise UsageError.bad("decode_method", "loop", "the hand loop runs eager forwards; the static engine is "
                                 "measured inside its compiled generate: use --decode-method request")
        if self.static_cache_len is not None:
            if self.engine != "static":
                raise UsageError.bad("static_cache_len", self.static_cache_len, "applies to --engine static only")
            longest = max(self.prompt_tokens) + max(self.output_tokens)
            if self.messages is None and self.static_cache_len < longest:
                raise UsageError.bad("static_cache_len", self.static_cache_len,
                                     f"shorter than the longest point's {longest} tokens")
        choice("stop", self.stop, STOPS)
        budget = dict(self.protocol_overrides.get("stability", {})).get("budget_s")
        if budget is not None:
            point_budget_s_checked(budget)
        if not 0.0 <= self.prompt_spread < 1.0:
            raise UsageError.bad("prompt_spread", self.prompt_spread, "must be in [0, 1)")
        for phase in self.phases:
            choice("phases", phase, LLM_PHASES)
        if not self.models:
            raise UsageError.bad("model", "", "give one or more model names")
        refs = [resolve(name) for name in self.models]
        if self.messages is not None:
            self._check_messages(refs)
        else:
            self._check_context(refs)
        if self.check_device:
            self._check_memory()

    def _check_messages(self, refs: Sequence[Any]) -> None:
        from joulebench.data.conversations import read_conversations
        from joulebench.workloads.tokenizer import tokenizer_for

        read_conversations(self.messages or "", "messages")
        for ref in refs:
            if tokenizer_for(ref) is None:
                raise UsageError.bad("messages", self.messages, f"needs the tokenizer of {ref.name}, which is not "
                                     "available here (hub unreachable); use --prompt-tokens, or a local model folder "
                                     "with its tokenizer")

    def _check_context(self, refs: Sequence[Any]) -> None:
        longest = max(self.prompt_tokens) + max(self.output_tokens)
        for ref in refs:
            max_pos = int(ref.config.get("max_position_embeddings", 2**31))
            if longest > max_pos:
                raise UsageError.bad(
                    "prompt_tokens", max(self.prompt_tokens),
                    f"{max(self.prompt_tokens)} + {max(self.output_tokens)} = {longest} tokens exceeds {ref.name}'s "
                    f"context of {max_pos} (max_position_embeddings)")

    def _check_memory(self) -> None:
        available = device_memory_bytes(self.device)
        if available is None:
            return
        tokens = (max(self.prompt_tokens) if self.messages is None else self._longest_conversation()) + max(
            self.output_tokens)
        for model, dtype in itertools.product(self.models, self.dtypes):
            need = memory_needed_bytes(model, dtype, max(self.batches), tokens)
            if need > available:
                raise UsageError.bad("batch", max(self.batches), f"{model} {dtype} with {tokens} tokens needs "
                                     f"~{need / 1e9:.1f} GB of weights and KV cache; {self.device} has "
                                     f"{available / 1e9:.1f} GB available")

    def _longest_conversation(self) -> int:
        """An upper bound on the tokens of the longest conversation: its characters (no tokenizer here
        yields more tokens than characters plus the template's few specials)."""
        from joulebench.data.conversations import read_conversations

        chats = read_conversations(self.messages or "", "messages")
        return max(sum(len(m["content"]) + 8 for m in chat) for chat in chats) + 16

    def points(self) -> list[LLMPoint]:
        prompts: list[int | None] = [None] if self.messages else list(self.prompt_tokens)
        messages = str(Path(self.messages).resolve()) if self.messages else None
        out: list[LLMPoint] = []
        for model, dtype, batch, s, g in itertools.product(self.models, self.dtypes, self.batches, prompts,
                                                          self.output_tokens):
            ref = resolve(model)
            out.append(LLMPoint(
                model=ref.name if ref.kind == "bundled" else model, dtype=dtype, device=self.device, batch=batch,
                prompt_tokens=s, output_tokens=g, random_weights=self.random_weights, stop=self.stop,
                seed=self.seed, prompt_spread=self.prompt_spread, phases=tuple(self.phases), messages=messages,
                engine=self.engine, decode_method=self.decode_method,
                protocol_overrides={k: dict(v) for k, v in self.protocol_overrides.items()},
                static_cache_len=self._cache_len(s, g),
            ))
        return out

    def _cache_len(self, prompt: int | None, output: int) -> int | None:
        from joulebench.workloads.llm_model import static_cache_len

        if self.engine != "static":
            return None
        return self.static_cache_len or static_cache_len((prompt or self._longest_conversation()) + output)

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in self.__dict__.items()
                if k != "check_device"}
