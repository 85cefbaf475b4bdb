"""Plans: grids of points, validated before any model is loaded or anything is written."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joulebench.errors import UsageError
from joulebench.models.configs import resolve

LLM_DTYPES = ("float32", "bfloat16", "float16")
DEVICES = ("cuda", "cpu")
PHASES = ("prefill", "decode", "request")


def parse_int_list(option: str, text: str, minimum: int = 1) -> list[int]:
    """``"128,512"`` -> [128, 512]; one line naming the option when a value is not an integer >= minimum."""
    values: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            value = int(part)
        except ValueError:
            raise UsageError(f"{option} {text!r}: '{part}' is not an integer; give integers >= {minimum}, "
                             "comma-separated") from None
        if value < minimum:
            raise UsageError(f"{option} {text!r}: {value} is below {minimum}; give integers >= {minimum}")
        values.append(value)
    return values


def parse_str_list(option: str, text: str, allowed: tuple[str, ...]) -> list[str]:
    values = [p.strip() for p in str(text).split(",") if p.strip()]
    for value in values:
        if value not in allowed:
            raise UsageError(f"{option} {value}: unknown; allowed: {', '.join(allowed)}")
    if not values:
        raise UsageError(f"{option}: empty; allowed: {', '.join(allowed)}")
    return values


def cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


@dataclass(frozen=True)
class LLMPlan:
    """A grid over models x dtypes x prompt lengths x output lengths x batch sizes."""

    models: list[str]
    dtypes: list[str]
    prompt_tokens: list[int]
    output_tokens: list[int]
    batches: list[int]
    device: str
    random_weights: bool = True
    stop: str = "exact"
    messages: str | None = None
    prompt_spread: float = 0.0
    seed: int = 0
    phases: list[str] = field(default_factory=lambda: list(PHASES))
    protocol_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise UsageError(f"--device {self.device}: unknown; allowed: {', '.join(DEVICES)}")
        if self.device == "cuda" and not cuda_available():
            raise UsageError("--device cuda: no CUDA GPU is available on this machine; use --device cpu")
        for dtype in self.dtypes:
            if dtype not in LLM_DTYPES:
                raise UsageError(f"--dtype {dtype}: unknown; allowed: {', '.join(LLM_DTYPES)}")
        if self.stop not in ("exact", "natural"):
            raise UsageError(f"--stop {self.stop}: unknown; allowed: exact, natural")
        if not 0.0 <= self.prompt_spread < 1.0:
            raise UsageError(f"--prompt-spread {self.prompt_spread}: must be in [0, 1)")
        if self.messages is not None and not Path(self.messages).is_file():
            raise UsageError(f"--messages {self.messages}: no such file")
        for phase in self.phases:
            if phase not in PHASES:
                raise UsageError(f"--phases {phase}: unknown; allowed: {', '.join(PHASES)}")
        for name in self.models:
            config = resolve(name).config
            max_pos = int(config.get("max_position_embeddings", 2**31))
            longest = max(self.prompt_tokens) + max(self.output_tokens)
            if self.messages is None and longest > max_pos:
                raise UsageError(
                    f"--prompt-tokens/--output-tokens: {max(self.prompt_tokens)} + {max(self.output_tokens)} = "
                    f"{longest} tokens exceeds {name}'s context of {max_pos} (max_position_embeddings)"
                )

    def points(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        prompts: list[int | None] = [None] if self.messages else list(self.prompt_tokens)
        for model, dtype, batch, s, g in itertools.product(self.models, self.dtypes, self.batches, prompts,
                                                          self.output_tokens):
            point: dict[str, Any] = {
                "model": resolve(model).name if resolve(model).kind == "bundled" else model,
                "dtype": dtype, "device": self.device, "batch": batch, "prompt_tokens": s, "output_tokens": g,
                "random_weights": self.random_weights, "stop": self.stop, "seed": self.seed,
                "prompt_spread": self.prompt_spread, "phases": list(self.phases),
            }
            if self.messages:
                point["messages"] = str(Path(self.messages).resolve())
            if self.protocol_overrides:
                point["protocol_overrides"] = self.protocol_overrides
            out.append(point)
        return out

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
