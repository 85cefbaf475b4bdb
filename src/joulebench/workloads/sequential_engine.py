"""The study's naive serving baseline: one ``generate`` at a time, requests served in arrival order.

Per-token times come from a streamer (``generate`` copies each new token to the host, so the stamp
follows the device). EOS is disabled (``min_new_tokens = max_new_tokens``) so output lengths are those
asked. The wall-clock bound is checked between requests and, through a stopping criterion, between
tokens, so a long request cannot run past ``max_duration_s``.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from typing import Any

from joulebench.serving.client import START_LEAD_S, LoadResult
from joulebench.serving.prompts import RequestSpec
from joulebench.serving.records import STATUS_ERROR, STATUS_INCOMPLETE, STATUS_OK, RequestRecord
from joulebench.workloads.common import TokenClock
from joulebench.workloads.engine import Dispatcher, EngineConfig, finish_unfinished, load_for_engine, new_records


def _deadline_criterion(deadline_s: float | None) -> Any:
    """A stopping criterion that ends ``generate`` at the run's wall-clock bound."""
    if deadline_s is None:
        return None
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class PastDeadline(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = time.perf_counter() >= deadline_s
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([PastDeadline()])


class SequentialEngine:
    """One ``generate`` at a time, in arrival order (the study's naive baseline)."""

    def __init__(self, config: EngineConfig, loaded: Any | None = None) -> None:
        self.config = config.validate()
        self.loaded = loaded or load_for_engine(config)
        self.model = self.loaded.model
        self._warm = False

    def knobs(self) -> dict[str, Any]:
        return {
            "engine": "sequential",
            "attn_implementation": self.model.config._attn_implementation,
            "do_sample": False,
            "eos": "disabled (min_new_tokens = max_new_tokens)",
        }

    def _generate(self, spec: RequestSpec, record: RequestRecord | None, deadline_s: float | None = None) -> int:
        import torch

        ids = torch.tensor([spec.token_ids or [3]], device=self.config.device)
        streamer = TokenClock(record.add_chunk) if record is not None else None
        with torch.no_grad():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=spec.max_output_tokens,
                min_new_tokens=spec.max_output_tokens,
                do_sample=False,
                streamer=streamer,
                pad_token_id=0,
                stopping_criteria=_deadline_criterion(deadline_s),
            )
        return int(out.shape[-1] - ids.shape[-1])

    def warmup(self) -> None:
        if not self._warm:
            self._generate(RequestSpec(-1, 8, 2, token_ids=[3] * 8), None)
            self._warm = True

    def run(
        self, specs: Sequence[RequestSpec], targets_s: Sequence[float], max_duration_s: float | None = None
    ) -> LoadResult:
        if self.config.warmup:
            self.warmup()
        t0 = time.perf_counter() + START_LEAD_S
        records = new_records(specs, targets_s, t0)
        deadline = None if max_duration_s is None else t0 + max_duration_s
        pending: queue.Queue[tuple[RequestRecord, RequestSpec]] = queue.Queue()
        stop = threading.Event()
        dispatcher = Dispatcher(records, specs, lambda r, s: pending.put((r, s)), stop)
        dispatcher.start()
        done = 0
        stopped = False
        while done < len(records):
            remaining = None if deadline is None else deadline - time.perf_counter()
            if remaining is not None and remaining <= 0:
                stopped = True
                break
            try:
                record, spec = pending.get(timeout=min(0.1, remaining) if remaining is not None else 0.1)
            except queue.Empty:
                if dispatcher.error is not None:
                    raise dispatcher.error from None
                continue
            record.admit_s = time.perf_counter()
            try:
                generated = self._generate(spec, record, deadline)
                record.end_s = time.perf_counter()
                record.prompt_tokens = len(spec.token_ids or [3])
                record.output_tokens = generated
                record.output_tokens_source = "engine"
                if generated < spec.max_output_tokens and deadline is not None and record.end_s >= deadline:
                    record.status, record.error = STATUS_INCOMPLETE, "cut by max duration"
                    stopped = True
                else:
                    record.status = STATUS_OK
            except Exception as exc:  # noqa: BLE001 - one failed request is recorded, the run goes on
                record.end_s = time.perf_counter()
                record.status, record.error = STATUS_ERROR, f"{type(exc).__name__}: {exc}"[:300]
            done += 1
        stop.set()
        dispatcher.join(5.0)
        finish_unfinished(records, stopped)
        return LoadResult(records, t0, time.perf_counter(), stopped)
