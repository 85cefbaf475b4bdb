"""In-process serving engines for boxes where no inference server can be installed.

Two engines with the HTTP client's interface (``run(specs, targets_s) -> LoadResult``), so the arrival
laws, records, metrics and energy attribution are the same whichever serves:

* ``ContinuousBatchingEngine``: transformers' own continuous batching (``init_continuous_batching`` /
  ``ContinuousBatchingManager``, paged KV cache, FIFO scheduler). A dispatcher thread submits each
  request at its target time; the manager's worker thread batches them; per-token times come from
  ``record_timestamps`` (perf_counter, stamped by the worker as each token is produced), the start of
  prefill from the request's ``lifespan``. EOS is disabled (``eos_token_id=-1``) so output lengths are
  exactly those asked. The cache and batch knobs (page size, number of blocks, max batch tokens, max
  requests per batch, attention implementation) change energy per request a lot and are returned by
  ``knobs()`` to be stored with every result. It must not run inside ``torch.inference_mode()``:
  the worker thread inherits it and then fails on in-place cache updates.
* ``SequentialEngine``: the study's naive case, one ``generate`` at a time, requests served in arrival
  order from a queue; per-token times from a streamer (``generate`` copies each new token to the host,
  so the stamp follows the device).

API differences between transformers versions (the config object appeared around 5.23; the GPU image
runs 5.17) are confined to `_cb_kwargs` and `_attention_for_cb`.
"""

from __future__ import annotations

import dataclasses
import inspect
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from joulebench.errors import UsageError
from joulebench.serving.client import START_LEAD_S, LoadResult
from joulebench.serving.prompts import RequestSpec
from joulebench.serving.records import STATUS_ERROR, STATUS_INCOMPLETE, STATUS_OK, RequestRecord
from joulebench.serving.timing import sleep_until_blocking

ENGINES = ("transformers", "sequential")
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class EngineConfig:
    model: str
    engine: str = "transformers"  # "transformers" (continuous batching) | "sequential"
    dtype: str = "float32"
    device: str = "cpu"
    max_batch_tokens: int | None = None
    num_blocks: int | None = None
    page_size: int | None = None
    max_requests_per_batch: int | None = None
    warmup: bool = True

    def validate(self) -> EngineConfig:
        if self.engine not in ENGINES:
            raise UsageError(f"--engine '{self.engine}': allowed: {', '.join(ENGINES)}")
        if self.dtype not in ("float32", "float16", "bfloat16"):
            raise UsageError(f"--dtype '{self.dtype}': allowed: float32, float16, bfloat16")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise UsageError(f"--device '{self.device}': allowed: cpu, cuda, cuda:N")
        for name in ("max_batch_tokens", "num_blocks", "page_size", "max_requests_per_batch"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UsageError(f"--{name.replace('_', '-')} {value}: must be >= 1")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_for_engine(config: EngineConfig) -> Any:
    """Load the model through the shared LLM loader (random weights for bundled names)."""
    from joulebench.workloads.llm import load_model

    return load_model(config.model, config.dtype, config.device)


def vocab_size(model: Any) -> int:
    return int(model.config.get_text_config().vocab_size)


class _Dispatcher(threading.Thread):
    """Submits requests at their target times (coarse sleep + spin), stamping the actual send time."""

    def __init__(
        self,
        records: Sequence[RequestRecord],
        specs: Sequence[RequestSpec],
        submit: Any,
        stop: threading.Event,
    ) -> None:
        super().__init__(name="joulebench-dispatch", daemon=True)
        self.records, self.specs, self.submit, self.stop_event = records, specs, submit, stop
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for record, spec in zip(self.records, self.specs, strict=True):
                while not self.stop_event.is_set() and time.perf_counter() < record.target_s - 0.05:
                    self.stop_event.wait(min(0.05, record.target_s - 0.05 - time.perf_counter()))
                if self.stop_event.is_set():
                    return
                sleep_until_blocking(record.target_s)
                record.send_s = time.perf_counter()
                self.submit(record, spec)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the engine's run()
            self.error = exc


def _records(specs: Sequence[RequestSpec], targets_s: Sequence[float], t0: float) -> list[RequestRecord]:
    return [
        RequestRecord(s.index, t0 + t, s.prompt_tokens, s.max_output_tokens)
        for s, t in zip(specs, targets_s, strict=True)
    ]


def _finish_unfinished(records: Sequence[RequestRecord], stopped: bool) -> None:
    for record in records:
        if record.status == STATUS_INCOMPLETE and record.error is None:
            record.error = "cut by max duration" if stopped else "not finished"


# -- sequential baseline ----------------------------------------------------------------------------
class _TokenStamper:
    """A ``generate`` streamer that stamps each new token (the first ``put`` is the prompt)."""

    def __init__(self, record: RequestRecord) -> None:
        self.record = record
        self.seen_prompt = False

    def put(self, value: Any) -> None:
        now = time.perf_counter()
        if not self.seen_prompt:
            self.seen_prompt = True
            return
        self.record.add_chunk(now, int(value.numel()))

    def end(self) -> None:
        pass


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

    def _generate(self, spec: RequestSpec, record: RequestRecord | None) -> int:
        import torch

        ids = torch.tensor([spec.token_ids or [3]], device=self.config.device)
        streamer = _TokenStamper(record) if record is not None else None
        with torch.no_grad():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=spec.max_output_tokens,
                min_new_tokens=spec.max_output_tokens,
                do_sample=False,
                streamer=streamer,
                pad_token_id=0,
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
        records = _records(specs, targets_s, t0)
        deadline = None if max_duration_s is None else t0 + max_duration_s
        pending: queue.Queue[tuple[RequestRecord, RequestSpec]] = queue.Queue()
        stop = threading.Event()
        dispatcher = _Dispatcher(records, specs, lambda r, s: pending.put((r, s)), stop)
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
                generated = self._generate(spec, record)
                record.end_s = time.perf_counter()
                record.prompt_tokens = len(spec.token_ids or [3])
                record.output_tokens = generated
                record.output_tokens_source = "engine"
                record.status = STATUS_OK
            except Exception as exc:  # noqa: BLE001 - one failed request is recorded, the run goes on
                record.end_s = time.perf_counter()
                record.status, record.error = STATUS_ERROR, f"{type(exc).__name__}: {exc}"[:300]
            done += 1
        stop.set()
        dispatcher.join(5.0)
        _finish_unfinished(records, stopped)
        return LoadResult(records, t0, time.perf_counter(), stopped)


# -- continuous batching ----------------------------------------------------------------------------
def _new_cb_api() -> bool:
    try:
        from transformers.generation.configuration_utils import ContinuousBatchingConfig  # noqa: F401
    except ImportError:
        return False
    return True


def _attention_for_cb(model: Any) -> None:
    """5.23+ accepts "sdpa" (it pages internally); older versions need the paged variant named."""
    if _new_cb_api():
        return
    for name in ("paged|sdpa", "sdpa_paged"):
        try:
            model.set_attn_implementation(name)
            return
        except Exception:  # noqa: BLE001 - try the next spelling of this version
            continue


class ContinuousBatchingEngine:
    """transformers' continuous batching fed by a dispatcher thread at the arrival law's times."""

    def __init__(self, config: EngineConfig, loaded: Any | None = None) -> None:
        self.config = config.validate()
        self.loaded = loaded or load_for_engine(config)
        self.model = self.loaded.model
        self._resolved: dict[str, Any] = {}

    def _cb_kwargs(self) -> dict[str, Any]:
        from transformers import GenerationConfig

        cfg = self.config
        knobs = {
            "max_batch_tokens": cfg.max_batch_tokens,
            "num_blocks": cfg.num_blocks,
            "max_requests_per_batch": cfg.max_requests_per_batch,
        }
        knobs = {k: v for k, v in knobs.items() if v is not None}
        gen = GenerationConfig(max_new_tokens=16, do_sample=False, eos_token_id=-1, pad_token_id=0)
        if _new_cb_api():
            from transformers.generation.configuration_utils import ContinuousBatchingConfig

            if cfg.page_size is not None:
                knobs["page_size"] = cfg.page_size
            return {"generation_config": gen, "continuous_batching_config": ContinuousBatchingConfig(**knobs)}
        if cfg.page_size is not None:
            knobs["block_size"] = cfg.page_size
        for key, value in knobs.items():
            setattr(gen, key, value)  # older versions read these knobs from the generation config
        return {"generation_config": gen}

    def _open(self) -> Any:
        import torch

        if torch.is_inference_mode_enabled():
            raise RuntimeError("continuous batching must not run inside torch.inference_mode()")
        _attention_for_cb(self.model)
        manager = self.model.init_continuous_batching(**self._cb_kwargs())
        manager.start()
        return manager

    def knobs(self) -> dict[str, Any]:
        out = {
            "engine": "transformers-continuous-batching",
            "requested": {
                "max_batch_tokens": self.config.max_batch_tokens,
                "num_blocks": self.config.num_blocks,
                "page_size": self.config.page_size,
                "max_requests_per_batch": self.config.max_requests_per_batch,
            },
        }
        out.update(self._resolved)
        return out

    def _record_resolved(self, manager: Any) -> None:
        resolved: dict[str, Any] = {"attn_implementation": self.model.config._attn_implementation}
        cb_config = getattr(manager, "continuous_batching_config", None)
        if cb_config is not None and dataclasses.is_dataclass(cb_config):
            resolved["continuous_batching_config"] = {
                k: v
                for k, v in dataclasses.asdict(cb_config).items()
                if isinstance(v, (int, float, str, bool, type(None), tuple, list))
            }
        processor = getattr(manager, "batch_processor", None)
        cache = getattr(processor, "cache", None)
        for name in ("num_blocks", "block_size", "page_size", "max_batch_tokens"):
            if cache is not None and isinstance(getattr(cache, name, None), int):
                resolved.setdefault("cache", {})[name] = getattr(cache, name)
        self._resolved = resolved

    def run(
        self, specs: Sequence[RequestSpec], targets_s: Sequence[float], max_duration_s: float | None = None
    ) -> LoadResult:
        manager = self._open()
        add_params = inspect.signature(manager.add_request).parameters
        timestamps = "record_timestamps" in add_params
        try:
            if self.config.warmup:
                self._submit(manager, "warmup", [3] * 8, 2, timestamps)
                self._collect_one(manager, time.perf_counter() + 600.0)
            self._record_resolved(manager)
            return self._run_timed(manager, specs, targets_s, max_duration_s, timestamps)
        finally:
            manager.stop(block=True, timeout=STOP_TIMEOUT_S)
            destroy = getattr(manager, "destroy", None)
            if callable(destroy):
                destroy()

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
        self,
        manager: Any,
        specs: Sequence[RequestSpec],
        targets_s: Sequence[float],
        max_duration_s: float | None,
        timestamps: bool,
    ) -> LoadResult:
        t0 = time.perf_counter() + START_LEAD_S
        records = _records(specs, targets_s, t0)
        by_id = {str(r.index): r for r in records}
        deadline = None if max_duration_s is None else t0 + max_duration_s
        stop = threading.Event()
        submitted = [0]

        def submit(record: RequestRecord, spec: RequestSpec) -> None:
            self._submit(
                manager, str(record.index), list(spec.token_ids or [3]), spec.max_output_tokens, timestamps
            )
            submitted[0] += 1

        dispatcher = _Dispatcher(records, specs, submit, stop)
        dispatcher.start()
        finished = 0
        stopped = False
        while finished < len(records):
            now = time.perf_counter()
            if deadline is not None and now >= deadline:
                stopped = True
                break
            if dispatcher.error is not None:
                raise dispatcher.error
            result = manager.get_result(timeout=0.05)
            if result is None:
                continue
            record = by_id.get(str(result.request_id))
            if record is None:
                continue
            if not result.is_finished():
                if not timestamps:  # streamed partial output: one more token now
                    record.add_chunk(
                        time.perf_counter(), len(result.generated_tokens) - sum(record.chunk_tokens)
                    )
                continue
            self._fill(record, result, timestamps)
            finished += 1
        stop.set()
        dispatcher.join(5.0)
        if stopped:
            manager.stop(block=True, timeout=STOP_TIMEOUT_S, **_hard_stop_kwargs(manager))
        _finish_unfinished(records, stopped)
        return LoadResult(records, t0, time.perf_counter(), stopped)

    @staticmethod
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


def _hard_stop_kwargs(manager: Any) -> dict[str, Any]:
    return {"hard_stop": True} if "hard_stop" in inspect.signature(manager.stop).parameters else {}


def open_engine(
    config: EngineConfig, loaded: Any | None = None
) -> SequentialEngine | ContinuousBatchingEngine:
    """The engine named by ``config.engine``, its model loaded (or the given ``LoadedModel`` reused)."""
    config.validate()
    if config.engine == "sequential":
        return SequentialEngine(config, loaded)
    return ContinuousBatchingEngine(config, loaded)
