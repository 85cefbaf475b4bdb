"""The phases of one LLM point on a loaded model, each a callable the meters can repeat.

* **prefill** = the prompt through the model to the first token (LM head on the last position only, as
  ``generate`` asks with ``logits_to_keep=1``), from an empty cache of the engine's kind;
* **request** = one real ``generate`` call, a `TokenClock` stamping every token: its first stamp ends
  the prefill inside the request (TTFT), and the span from it to the end of the call is **decode as it
  runs inside the request a user makes** (the default decode measurement);
* **decode loop** = tokens 2..G by a hand-written forward loop from a snapshot of one prefill's cache,
  kept only for comparison (``--decode-method loop``): on the H200 it differed from decode inside
  ``generate`` by up to 35%.

Engines: ``eager`` calls ``generate`` as it comes (dynamic cache); ``static`` gives it a static cache
of a fixed length and lets transformers compile the decode step (CUDA graphs on CUDA).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

from joulebench.workloads.common import TokenClock
from joulebench.workloads.device import sync
from joulebench.workloads.llm_inputs import Inputs
from joulebench.workloads.llm_model import (
    LoadedModel,
    cache_keyword,
    output_cache,
    static_cache,
    static_cache_len,
    static_generate_kwargs,
)


@dataclass
class RequestStamps:
    """One ``generate`` call: its start, every token's stamp, its end (perf_counter seconds)."""

    start_s: float
    token_times_s: list[float]
    end_s: float

    @property
    def first_token_s(self) -> float:
        return self.token_times_s[0] if self.token_times_s else self.end_s


@dataclass
class LLMPhases:
    """Runs the phases of one point on a loaded model."""

    loaded: LoadedModel
    inputs: Inputs
    output_tokens: int
    natural_stop: bool
    engine: str = "eager"
    static_cache_len: int | None = None
    requests: list[RequestStamps] = field(default_factory=list)
    decode_token_times: list[list[float]] = field(default_factory=list)
    generated: list[int] = field(default_factory=list)
    _snapshot: Any = None
    _first_token: Any = None
    _cache: Any = None

    @property
    def cache_len(self) -> int:
        needed = int(self.inputs.input_ids.shape[-1]) + self.output_tokens
        return max(self.static_cache_len or 0, static_cache_len(needed) if self.static_cache_len is None else needed)

    def engine_detail(self) -> dict[str, Any]:
        """What the engine did, stored with the point: cache kind and length, whether decode was compiled."""
        if self.engine != "static":
            return {"cache": "dynamic", "compiled": False}
        import transformers

        return {"cache": "static", "max_cache_len": self.cache_len, "compiled": self.loaded.device.startswith("cuda"),
                "compile": "transformers generate auto-compile (torch.compile, CUDA graphs)",
                "transformers": transformers.__version__}

    def _forward(self, cache: Any = None, **kwargs: Any) -> Any:
        import torch

        if cache is not None:
            kwargs[cache_keyword(self.loaded.model)] = cache
        with torch.no_grad():
            return self.loaded.model(**kwargs)

    def _empty_cache(self) -> Any:
        if self.engine == "static":
            return static_cache(self.loaded.model, int(self.inputs.input_ids.shape[0]), self.cache_len)
        return None

    def prefill(self) -> Any:
        out = self._forward(cache=self._empty_cache(), input_ids=self.inputs.input_ids,
                            attention_mask=self.inputs.attention_mask, use_cache=True, logits_to_keep=1)
        token = out.logits[:, -1, :].argmax(dim=-1)
        sync(self.loaded.device)
        self._snapshot, self._first_token = output_cache(out), token
        return token

    # -- the hand loop (``--decode-method loop``) --------------------------------------------------
    def prepare_decode(self) -> None:
        if self._snapshot is None:
            self.prefill()
        self._cache = copy.deepcopy(self._snapshot)
        sync(self.loaded.device)

    def decode_loop(self) -> int:
        """Tokens 2..G from the prepared cache; returns how many tokens were produced per sequence."""
        import torch

        mask = self.inputs.attention_mask
        positions = mask.sum(dim=-1, keepdim=True) - 1
        token = self._first_token
        eos = self.eos_ids()
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

    def drop_snapshot(self) -> None:
        self._snapshot = self._cache = None

    # -- the real request --------------------------------------------------------------------------
    def request(self) -> Any:
        import torch

        clock = TokenClock()
        kwargs: dict[str, Any] = {"max_new_tokens": self.output_tokens, "do_sample": False, "streamer": clock}
        if not self.natural_stop:
            kwargs["min_new_tokens"] = self.output_tokens
        if self.engine == "static":
            kwargs.update(static_generate_kwargs(self.cache_len))
        pad = self.eos_ids()
        kwargs["pad_token_id"] = pad[0] if pad else 0
        start = time.perf_counter()
        with torch.no_grad():
            out = self.loaded.model.generate(input_ids=self.inputs.input_ids,
                                             attention_mask=self.inputs.attention_mask, **kwargs)
        sync(self.loaded.device)
        self.requests.append(RequestStamps(start, clock.times_s, time.perf_counter()))
        self.generated.append(len(clock.times_s))
        return out

    def eos_ids(self) -> list[int]:
        eos = self.loaded.ref.config.get("eos_token_id")
        if eos is None:
            return []
        return list(eos) if isinstance(eos, list) else [int(eos)]
