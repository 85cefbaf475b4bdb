"""What every workload shares: one model cache, one token clock, one way to turn a phase into rows,
and peak memory per phase.

Why here once: the LLM workload, the video workload and the serving engines each kept the last loaded
model, stamped tokens from a ``generate`` streamer, and wrote per-repetition rows - three copies of
the same few lines, which drifted apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from joulebench.values import MeasurementRow

T = TypeVar("T")


class KeyedCache(Generic[T]):
    """Keeps the last loaded object (a model, a pipeline) by key; loading another frees the first, so a
    sweep over lengths loads each model once and never holds two on the device."""

    def __init__(self) -> None:
        self._key: Hashable | None = None
        self._value: T | None = None

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        if self._key != key or self._value is None:
            self.clear()
            self._value = load()
            self._key = key
        return self._value

    def clear(self) -> None:
        from joulebench.workloads.device import free_device_memory

        self._value = None
        self._key = None
        free_device_memory()


class TokenClock:
    """A ``generate`` streamer that stamps each new token with ``perf_counter``.

    ``generate`` copies each new token to the host before it calls ``put``, so the stamp follows the
    device finishing that step. The first ``put`` is the prompt and is not a token. ``on_token(time_s,
    n_tokens)`` lets a caller record chunks (serving records)."""

    def __init__(self, on_token: Callable[[float, int], None] | None = None) -> None:
        self.times_s: list[float] = []
        self._prompt_seen = False
        self._on_token = on_token

    def put(self, value: Any) -> None:
        now = time.perf_counter()
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self.times_s.append(now)
        if self._on_token is not None:
            self._on_token(now, int(value.numel()) if hasattr(value, "numel") else 1)

    def end(self) -> None:
        return None

    @property
    def first_token_s(self) -> float | None:
        return self.times_s[0] if self.times_s else None


def phase_rows(phase: str, result: Any) -> list[MeasurementRow]:
    """Rows of one measured phase: each repetition's wall time, then each component's energy per rep."""
    rows: list[MeasurementRow] = []
    proto = result.protocol.to_dict()
    for i, (b, e) in enumerate(result.spans):
        rows.append(MeasurementRow(phase, i, "time", float(e - b), None, None, "perf_counter", False, proto))
    for component, reading in result.readings.items():
        estimate = result.estimates.get(component)
        rows.append(MeasurementRow(phase, -1, component, result.latency_s, reading.energy_j,
                                   None if estimate is None else estimate.ci95_j, reading.source, reading.estimated,
                                   proto))
    return rows


def reset_peak_memory(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats()


def peak_memory(device: str) -> dict[str, Any]:
    """Peak device memory since the last reset (CUDA allocator), or the process's resident set (CPU,
    which has no per-phase peak: the figure is the size now, labelled as such)."""
    if device.startswith("cuda"):
        import torch

        peak = int(torch.cuda.max_memory_allocated())
        return {"peak_memory_bytes": peak, "memory_source": "torch.cuda.max_memory_allocated"}
    import psutil

    return {"peak_memory_bytes": int(psutil.Process().memory_info().rss), "memory_source": "process-rss-after-phase"}
