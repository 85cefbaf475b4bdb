"""transformers' continuous batching as an in-process serving engine, every knob exposed and recorded.

A dispatcher thread submits each request at its target time; the manager's worker thread batches
them; per-token times come from ``record_timestamps`` (perf_counter, stamped by the worker as each
token is produced), the start of prefill from the request's ``lifespan``. EOS is disabled
(``eos_token_id=-1``) so output lengths are exactly those asked. It must not run inside
``torch.inference_mode()``: the worker thread inherits it and then fails on in-place cache updates.

Why the paged path is prefill-bound with ``sdpa`` (issue 18: ~2,000 prompt tokens/s, where plain
batch-1 prefill runs ~30,000), from reading transformers 5.24 (``generation/continuous_batching``):

1. **Packed batch, dense rectangle.** Every step packs all scheduled requests into ONE sequence of
   ``Q`` query tokens and reads back the whole KV of each (``cache_allocators/full_attention.py:225``,
   ``index_select`` of every past token), ``K`` keys in all. With ``sdpa`` (or ``paged|eager``) a mask
   is needed (``utils.py:87``) and ``is_causal`` is forced False (``input_outputs.py:510``,
   ``integrations/sdpa_attention.py:148``), so PyTorch runs a masked kernel over the full ``Q x K``
   rectangle: the block-diagonal mask hides the cross-request scores but does not skip them. Work is
   ``(sum q_i)(sum k_i)`` instead of ``sum q_i k_i``: a step with 6 new 1,300-token prompts and 90
   decoding requests of ~1,400 keys computes ~7,900 x 134,000 scores per head and layer, ~100x the
   useful ones, and pays the same again in every decode step that has a prefill chunk in it.
2. **Mask materialisation.** The mask is a dense model-dtype tensor of ``[max_batch_tokens,
   max_tokens_read + max_batch_tokens]`` (``input_outputs.py:189-193``), reset with ``fill_`` over
   ``q x (q + kv)`` every step (``input_outputs.py:280``) and rebuilt by a Python loop per request
   (``utils.py:115-186``): at the step above, ~2 GB written and read per layer pass; its memory is also
   taken from the KV cache at sizing (``cache.py:654``).
3. **No GQA in the kernel.** With a mask, ``use_gqa_in_sdpa`` is False (``sdpa_attention.py:42-51``) and
   K/V are expanded from 8 to 32 heads (``sdpa_attention.py:126``): 4x copies of the whole gathered KV.
4. **CUDA graphs made it worse.** Graphs are off by default with a mask
   (``initialization.py:264,274``); forced on, the varlen path pads ``K`` to multiples of
   ``kv_padding_interval_size`` = 16,384 keys (``initialization.py:36``, ``model_runner.py:101-110``),
   so every step attends over >= 16,384 keys; async batching doubles the IO buffers and is off by
   default with a mask (``initialization.py:290``). This matches 0.082 -> 0.105 -> 0.126 Wh/request.
5. **The fast paths need flash attention.** The varlen kernel without a mask and the decode fast path
   (``flash_attn_with_kvcache`` on the block table) exist only for flash implementations; the manager
   switches to them only when flash-attn (or the hub's kernels) is installed
   (``continuous_api.py:745-789``), which the GPU box lacks and cannot download.

Measured since (H200, run_e, ``scripts/profile_cb_engine.py``, 16 requests under burst): the GPU is busy
33% of the wall with the library's knobs and 50% with ``tuned``, the same 2.4-2.5 s of kernels in both;
cuDNN SDPA is 43% of that, copy kernels 21%. PyTorch picks cuDNN for a masked SDPA on Hopper, and cuDNN builds a
graph for each new (query, key) shape; the ``sdpa_cudnn`` knob switches it off for the engine's runs, so
the two can be compared (VALIDATION.md, issue 18, run_e).

What configuration can do without flash attention: bound ``Q`` and ``K`` per step
(``max_batch_tokens``, ``max_requests_per_batch``), keep graph padding small (``kv_padding``), choose
the scheduler (``prefill_first`` finishes split prefills before admitting more decodes); the knob sweep
(scripts/measure_serving.py) measures which wins; with flash-attn installed, ``attn_implementation=
flash_attention_2`` removes items 1-3 altogether. None of this is our own engine: only transformers'
own knobs are set.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

from joulebench.serving.client import START_LEAD_S, LoadResult
from joulebench.serving.prompts import RequestSpec
from joulebench.serving.records import STATUS_ERROR, STATUS_INCOMPLETE, STATUS_OK, RequestRecord
from joulebench.workloads.cb_graphs import census_of
from joulebench.workloads.device import free_device_memory, memory_use, reset_memory_peak
from joulebench.workloads.engine import (
    CB_KNOBS,
    STOP_TIMEOUT_S,
    Dispatcher,
    EngineConfig,
    finish_unfinished,
    load_for_engine,
    new_records,
)

WARMUP_TIMEOUT_S = 600.0


class ContinuousBatchingEngine:
    """transformers' continuous batching fed by a dispatcher thread at the arrival law's times."""

    def __init__(self, config: EngineConfig, loaded: Any | None = None) -> None:
        self.config = config.validate()
        self.loaded = loaded or load_for_engine(config)
        self.model = self.loaded.model
        self._resolved: dict[str, Any] = {}

    def _cb_kwargs(self) -> dict[str, Any]:
        from transformers import GenerationConfig
        from transformers.generation.configuration_utils import ContinuousBatchingConfig

        knobs = self.config.resolved_knobs()  # validated against this transformers in EngineConfig.validate
        kwargs: dict[str, Any] = {"auto_switch_to_flash": bool(knobs.get("auto_switch_to_flash", False))}
        kwargs.update({CB_KNOBS[name][0]: value for name, value in knobs.items() if name in CB_KNOBS})
        gen = GenerationConfig(max_new_tokens=16, do_sample=False, eos_token_id=-1, pad_token_id=0)
        return {"generation_config": gen, "continuous_batching_config": ContinuousBatchingConfig(**kwargs)}

    def _open(self) -> Any:
        import torch

        if torch.is_inference_mode_enabled():
            raise RuntimeError("continuous batching must not run inside torch.inference_mode()")
        attention = self.config.resolved_knobs().get("attn_implementation", "sdpa")
        if self.model.config._attn_implementation != attention:
            self.model.set_attn_implementation(attention)
        manager = self.model.init_continuous_batching(**self._cb_kwargs())
        manager.start()
        return manager

    def knobs(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "engine": "transformers-continuous-batching",
            "preset": self.config.preset,
            "requested": self.config.resolved_knobs(),
        }
        out.update(self._resolved)
        return out

    def _record_resolved(self, manager: Any) -> None:
        import transformers

        resolved: dict[str, Any] = {
            "attn_implementation": self.model.config._attn_implementation,
            "transformers": transformers.__version__,
        }
        cb_config = getattr(manager, "continuous_batching_config", None)
        if cb_config is not None and dataclasses.is_dataclass(cb_config):
            resolved["continuous_batching_config"] = {
                f.name: getattr(cb_config, f.name)
                for f in dataclasses.fields(cb_config)
                if isinstance(getattr(cb_config, f.name), (int, float, str, bool, type(None), tuple, list))
            }
        processor = getattr(manager, "batch_processor", None)
        cache = getattr(processor, "cache", None)
        for name in ("num_blocks", "page_size", "max_batch_tokens", "max_tokens_read", "use_prefix_sharing"):
            if cache is not None and isinstance(getattr(cache, name, None), (int, bool)):
                resolved.setdefault("cache", {})[name] = getattr(cache, name)
        self._resolved = resolved

    def run(
        self, specs: Sequence[RequestSpec], targets_s: Sequence[float], max_duration_s: float | None = None
    ) -> LoadResult:
        with _sdpa_cudnn(self.config.resolved_knobs().get("sdpa_cudnn")):
            manager = self._open()
            timestamps = "record_timestamps" in inspect.signature(manager.add_request).parameters
            try:
                if self.config.warmup:
                    self._submit(manager, "warmup", [3] * 8, 2, timestamps)
                    bound = WARMUP_TIMEOUT_S if max_duration_s is None else min(WARMUP_TIMEOUT_S, max_duration_s)
                    self._collect_one(manager, time.perf_counter() + bound)
                self._record_resolved(manager)
                reset_memory_peak()
                try:
                    return self._run_timed(manager, specs, targets_s, max_duration_s, timestamps)
                finally:  # before the manager's graphs and cache go
                    self._resolved["memory"] = memory_use()
                    self._resolved["cuda_graphs"] = census_of(manager, self._resolved)
            finally:
                _close(manager)
                # The next arm's cache is sized from the memory left (on the H200, 2026-12-03, an OOM'd arm
                # left the next one -15 sectors): no local of this frame may still point at the manager
                # when the collection runs
                manager = None
                free_device_memory()

    @staticmethod
    def _submit(manager: Any, request_id: str, ids: list[int], max_new: int, timestamps: bool) -> None:
        kwargs: dict[str, Any] = {"request_id": request_id, "max_new_tokens": max_new}
        params = inspect.signature(manager.add_request).parameters
        if timestamps:
            kwargs["record_timestamps"] = True
        else:
            kwargs["streaming"] = True  # older versions: stamp tokens as streamed outputs arrive
        if "eos_token_id" in params:
            kwargs["eos_token_id"] = -1
        manager.add_request(ids, **kwargs)

    @staticmethod
    def _collect_one(manager: Any, deadline_s: float) -> Any:
        while time.perf_counter() < deadline_s:
            result = manager.get_result(timeout=0.1)
            if result is not None and result.is_finished():
                return result
        raise TimeoutError("continuous batching warm-up did not finish")

    def _run_timed(
        self, manager: Any, specs: Sequence[RequestSpec], targets_s: Sequence[float], max_duration_s: float | None,
        timestamps: bool,
    ) -> LoadResult:
        t0 = time.perf_counter() + START_LEAD_S
        records = new_records(specs, targets_s, t0)
        by_id = {str(r.index): r for r in records}
        deadline = None if max_duration_s is None else t0 + max_duration_s
        stop = threading.Event()

        def submit(record: RequestRecord, spec: RequestSpec) -> None:
            self._submit(manager, str(record.index), list(spec.token_ids or [3]), spec.max_output_tokens, timestamps)

        dispatcher = Dispatcher(records, specs, submit, stop)
        dispatcher.start()
        finished = 0
        stopped = False
        while finished < len(records):
            if deadline is not None and time.perf_counter() >= deadline:
                stopped = True
                break
            if dispatcher.error is not None:
                raise dispatcher.error
            result = manager.get_result(timeout=0.05)
            if result is None:
                if _died(manager):  # nothing more will come: run_f's OOM'd arm otherwise waited out its bound
                    break
                continue
            record = by_id.get(str(result.request_id))
            if record is None:
                continue
            if not result.is_finished():
                if not timestamps:  # streamed partial output: one more token now
                    record.add_chunk(time.perf_counter(), len(result.generated_tokens) - sum(record.chunk_tokens))
                continue
            _fill(record, result, timestamps)
            finished += 1
        stop.set()
        dispatcher.join(5.0)
        if stopped:
            manager.stop(block=True, timeout=STOP_TIMEOUT_S, **_hard_stop_kwargs(manager))
        finish_unfinished(records, stopped)
        if _died(manager):
            for record in records:
                if record.status == STATUS_INCOMPLETE:
                    record.status, record.error = STATUS_ERROR, f"engine stopped: {_fatal_error(manager)}"[:300]
        return LoadResult(records, t0, time.perf_counter(), stopped)


def _fill(record: RequestRecord, result: Any, timestamps: bool) -> None:
    now = time.perf_counter()
    lifespan = getattr(result, "lifespan", (-1, -1))
    record.admit_s = lifespan[0] if lifespan and lifespan[0] > 0 else None
    record.end_s = lifespan[1] if lifespan and lifespan[1] > 0 else now
    record.prompt_tokens = len(result.prompt_ids)
    record.output_tokens = len(result.generated_tokens)
    record.output_tokens_source = "engine"
    if timestamps and result.timestamps:
        record.chunk_times_s, record.chunk_tokens = [], []
        for stamp in result.timestamps:
            record.add_chunk(stamp, 1)
    elif not timestamps:
        record.add_chunk(now, record.output_tokens - sum(record.chunk_tokens))
    if result.error:
        record.status, record.error = STATUS_ERROR, str(result.error)[:300]
    else:
        record.status = STATUS_OK


def _fatal_error(manager: Any) -> BaseException | None:
    return getattr(getattr(manager, "background_thread_status", None), "fatal_error", None)


def _died(manager: Any) -> bool:
    """The manager's generation thread ended on a fatal error (an out-of-memory, say): no result will come."""
    return isinstance(_fatal_error(manager), BaseException)


def _close(manager: Any) -> None:
    """Stop and destroy the manager, and clear the frames of a fatal error's traceback: they hold the
    batch processor and so the whole KV cache, and whoever keeps the error (a log record of it, say) would
    otherwise keep the cache too."""
    manager.stop(block=True, timeout=STOP_TIMEOUT_S)
    destroy = getattr(manager, "destroy", None)
    if callable(destroy):
        destroy()
    error = _fatal_error(manager)
    if isinstance(error, BaseException) and error.__traceback__ is not None:
        traceback.clear_frames(error.__traceback__)


@contextlib.contextmanager
def _sdpa_cudnn(enabled: bool | None) -> Iterator[None]:
    """PyTorch's cuDNN SDPA backend on or off for one run (``None``: leave torch's choice), restored after.

    A process-wide flag, not a context of the calling thread: the manager's worker thread runs the model."""
    if enabled is None:
        yield
        return
    import torch

    before = torch.backends.cuda.cudnn_sdp_enabled()
    torch.backends.cuda.enable_cudnn_sdp(enabled)
    try:
        yield
    finally:
        torch.backends.cuda.enable_cudnn_sdp(before)


def _hard_stop_kwargs(manager: Any) -> dict[str, Any]:
    return {"hard_stop": True} if "hard_stop" in inspect.signature(manager.stop).parameters else {}
