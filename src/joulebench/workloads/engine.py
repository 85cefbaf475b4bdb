"""In-process serving engines for boxes where no inference server can be installed: config and factory.

Two engines with the HTTP client's interface (``run(specs, targets_s, max_duration_s) -> LoadResult``),
so arrival laws, records, metrics and energy attribution are the same whichever serves:

* ``transformers`` (`cb_engine.ContinuousBatchingEngine`): transformers' own continuous batching
  (paged KV cache, a scheduler, optional CUDA graphs and compile), every knob exposed in
  `EngineConfig` and recorded with each result (requested and as transformers resolved it);
* ``sequential`` (`sequential_engine.SequentialEngine`): the study's naive case, one ``generate`` at a
  time in arrival order.

Knobs (`CB_KNOBS`, the fields of transformers' ``ContinuousBatchingConfig`` we expose; ``None`` keeps
the library's choice): ``max_batch_tokens``, ``num_blocks``, ``page_size``, ``max_requests_per_batch``,
``max_memory_percent``, ``scheduler`` (``fifo`` | ``prefill_first``), ``use_cuda_graph``,
``use_async_batching``, ``compile_level`` (0-3), ``q_padding`` / ``kv_padding`` (CUDA-graph padding
intervals, tokens), ``max_blocks_per_request`` (0 disables the flash decode fast path),
``allow_block_sharing`` (prefix caching), ``safety_margin``; plus ``attn_implementation`` (``sdpa``,
``eager``, ``flash_attention_2``, ``flash_attention_3``) and ``auto_switch_to_flash`` (False here, unlike
the library: the attention path run is the one asked for and recorded).

Presets (`PRESETS`) name knob sets; ``tuned`` is the pick of the knob sweep (scripts/measure_serving.py
sweeps the knobs on the GPU), ``bounded-graphs`` the one issue 18's must-show runs (it served every request
under each of the five arrival laws on an H100 80 GB); `PRESETS` says what each measured. The default stays
the library's: its graphs' pool reached 23.6 GiB on that card, more than a 24 GB card keeps free beside
an 8B model's 16 GB of bf16 weights.
Why the paged path is prefill-bound with ``sdpa`` is written down in `cb_engine`'s docstring.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from joulebench.errors import UsageError
from joulebench.hardware import dtypes
from joulebench.serving.prompts import RequestSpec
from joulebench.serving.records import STATUS_INCOMPLETE, RequestRecord
from joulebench.serving.timing import sleep_until_blocking

ENGINES = ("transformers", "sequential")
ATTENTION = ("sdpa", "eager", "flash_attention_2", "flash_attention_3")
SCHEDULERS = ("fifo", "prefill_first")
STOP_TIMEOUT_S = 30.0

#: knob -> (ContinuousBatchingConfig field, type, (min, max)) for the continuous-batching engine
CB_KNOBS: dict[str, tuple[str, type, tuple[float, float] | None]] = {
    "max_batch_tokens": ("max_batch_tokens", int, (1, 1 << 20)),
    "num_blocks": ("num_blocks", int, (1, 1 << 24)),
    "page_size": ("page_size", int, (4, 1 << 16)),
    "max_requests_per_batch": ("max_requests_per_batch", int, (1, 1 << 16)),
    "max_memory_percent": ("max_memory_percent", float, (0.01, 1.0)),
    "scheduler": ("scheduler_type", str, None),
    "use_cuda_graph": ("use_cuda_graph", bool, None),
    "use_async_batching": ("use_async_batching", bool, None),
    "compile_level": ("default_compile_level", int, (0, 3)),
    "q_padding": ("q_padding_interval_size", int, (1, 1 << 20)),
    "kv_padding": ("kv_padding_interval_size", int, (1, 1 << 24)),
    "max_blocks_per_request": ("max_blocks_per_request", int, (0, 1 << 16)),
    "allow_block_sharing": ("allow_block_sharing", bool, None),
    "safety_margin": ("safety_margin", float, (0.0, 1.0)),
}
#: not ContinuousBatchingConfig fields: the model's attention, the manager's flash switch, and PyTorch's
#: cuDNN SDPA backend (on/off for the engine's runs; torch's own choice when absent), because cuDNN builds
#: an attention graph for every new (query, key) shape it meets and a packed batch meets a new one
#: nearly every step (docs/VALIDATION.md, issue 18, run_e)
OTHER_KNOBS = ("attn_implementation", "auto_switch_to_flash", "sdpa_cudnn")

#: named knob sets. "library" = transformers' own defaults. "tuned" = the lowest J/request of the knob
#: sweep on the H200 (docs/validation/serving/run_d/knobs, 48 requests under burst, sdpa, transformers
#: 5.24, one run each): CUDA graphs with small padding, 0.082 Wh/request and 230 output tok/s against
#: 0.094 and 168 for the library's defaults. No arm met the SLOs under that burst, and the 13% is one
#: run of each; none of the knobs removes the ~16x gap to the floor (VALIDATION.md, issue 18).
#: ``max_memory_percent`` 0.5 (not from the sweep): at 200 requests under burst the graphs' private pool
#: reached 22.8 GiB and a capture ran out of memory beside a KV cache given 90% of the free memory (run_e,
#: 2026-12-03). Half of the ~123 GiB free after the weights is ~61 GiB of cache: 1.8x the KV of the whole
#: 200-request workload at the study's lengths (~273k tokens x 128 KiB), with the rest left to the graphs.
PRESETS: dict[str, dict[str, Any]] = {
    "library": {},
    "tuned": {"use_cuda_graph": True, "kv_padding": 256, "q_padding": 64, "max_memory_percent": 0.5},
    # candidates from reading transformers 5.24 (cb_engine docstring): a batch-token budget that
    # bounds the packed attention rectangle, and no KV padding to 16,384 keys when graphs are on
    "small-batch-tokens": {"max_batch_tokens": 1024},
    "graphs-no-kv-padding": {"use_cuda_graph": True, "kv_padding": 256, "q_padding": 64},
    "prefill-first": {"scheduler": "prefill_first"},
    # ``tuned`` ran out of memory on an H100 under fixed 300 ms arrivals (run_f, 2026-12-07: 34 GiB of graphs'
    # private pool, 10 of 200 requests served). With a 256-key KV padding every step whose keys grew by 256
    # captures a new graph, ~780 of them up to the cache's 198,912 keys; 4,096 keys cut that 16-fold for at
    # most 4,095 padded keys a step. Measured on an H100 (run_f call 13): it does not help. Under fixed
    # 300 ms the pool still reached 34.5 GiB of 77.1 reserved and 10 of 200 requests were served; under
    # burst it served all 200 at 0.111 Wh/request, as ``tuned`` did. So KV padding is not what fills the pool
    "tuned-kv-4096": {"use_cuda_graph": True, "kv_padding": 4096, "q_padding": 64, "max_memory_percent": 0.5},
    # A smaller KV cache (0.3 of the memory free after the weights: 456 blocks, 116,736 keys on an H100, not
    # 777) leaves more to the graphs' pool. Measured on an H100 (run_f calls 16, 19, 20; one arm each): it
    # served all 200 under burst at 0.0976 Wh/request and under fixed 300 ms at 0.0982 (12% below
    # ``tuned``'s burst, 0.111), but under fixed 500 ms a capture ran out of memory with 46.3 GiB in the
    # pool (44 of 200 served). On the same cache the pool grew with the arrival spacing, 14.0 -> 32.4 ->
    # 46.3 GiB; our reading then: more padded (query, KV) shapes, one graph each, kept for the whole run.
    # Its arms predate the census (workloads/cb_graphs.py). In the census of ``bounded-graphs`` below the
    # pool follows neither the largest KV read nor the count alone: 52 graphs reading up to 102,400 keys
    # held 17.2 GiB under burst, 71 reading up to 45,056 held 3.8 GiB under U(0, 1 s), and 83 graphs over
    # 8 query sizes reading up to 102,400 held 23.6 GiB under fixed 300 ms (run_f call 23) and 20.2 in its
    # repeat (call 25); it ranks with the largest query x KV product of one graph (cb_graphs.largest_q_by_kv)
    "tuned-mem-30": {"use_cuda_graph": True, "kv_padding": 256, "q_padding": 64, "max_memory_percent": 0.3},
    # ``bounded-graphs`` pads to far fewer shapes: 8 query sizes (2,048 tokens a step in steps of 256) x
    # ~30 KV sizes (4,096 keys) on an H100 at 0.3, where ``tuned-mem-30`` could meet 128 x 457. A decode
    # step of under 256 requests padded to 256 queries stays below the ridge of an 8B model's matmuls
    # (~295 tokens from an H100's datasheet peaks, 989 TFLOP/s over 3.35 TB/s), so the padding should cost
    # little there; a 2,048-token step admits one or two of the study's prompts. ``mem-30-no-graphs`` is
    # the control: the same cache, no graphs, no pool to fill. Measured on an H100 (run_f calls 21-22, one
    # arm each unless said): under fixed 500 ms, the law that broke ``tuned-mem-30``, ``bounded-graphs``
    # served all 200 at 0.0885 Wh/request (79 graphs of 264 allowed, 6.5 GiB of pool, 267 output tok/s)
    # and the control at 0.098 (190 tok/s); under burst 0.0981 and 0.0985 (two repeats, 17.2-17.3 GiB of
    # pool), under U(0, 1 s) 0.0899. Call 23 added U(0, 1 s) r1 0.0942, fixed 50 ms 0.099 and 0.0991,
    # fixed 300 ms 0.0997: it served every request under each of the five laws on an 80 GB card, below the
    # control at 500 ms, so the must-show's CB rows are its arms (scripts/validation_tables_serving.py).
    # Call 25 added the second repeats at 300 and 500 ms (0.0974, 0.0867): two of each law on the H100
    "bounded-graphs": {"use_cuda_graph": True, "max_batch_tokens": 2048, "q_padding": 256, "kv_padding": 4096,
                       "max_memory_percent": 0.3},
    "mem-30-no-graphs": {"use_cuda_graph": False, "max_memory_percent": 0.3},
    "eager-attention": {"attn_implementation": "eager"},
}


def _parse_value(name: str, kind: type, text: Any) -> Any:
    if not isinstance(text, str):
        return text
    low = text.strip().lower()
    if low in ("none", "auto", "library"):
        return None
    if kind is bool:
        if low in ("true", "on", "yes", "1"):
            return True
        if low in ("false", "off", "no", "0"):
            return False
        raise UsageError.bad(name, text, "must be true or false")
    try:
        return kind(low)
    except ValueError:
        raise UsageError.bad(name, text, f"must be {'an integer' if kind is int else 'a number'}") from None


def parse_knobs(items: Sequence[str]) -> dict[str, Any]:
    """``["max_batch_tokens=512", "scheduler=prefill_first"]`` -> a knob mapping (validated later)."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise UsageError.bad("engine_knob", item, "use NAME=VALUE, e.g. max_batch_tokens=512")
        if name not in CB_KNOBS and name not in OTHER_KNOBS:
            raise UsageError.bad("engine_knob", item, f"unknown knob; allowed: {', '.join([*CB_KNOBS, *OTHER_KNOBS])}")
        out[name] = value.strip()
    return out


@dataclass(frozen=True)
class EngineConfig:
    model: str
    engine: str = "transformers"  # "transformers" (continuous batching) | "sequential"
    dtype: str = "fp32"
    device: str = "cpu"
    knobs: Mapping[str, Any] = field(default_factory=dict)  # CB_KNOBS / OTHER_KNOBS -> value
    preset: str | None = None
    warmup: bool = True

    def validate(self) -> EngineConfig:
        """Check every field (types, ranges, names) before any model is loaded; returns self."""
        if self.engine not in ENGINES:
            raise UsageError.bad("engine", self.engine, f"allowed: {', '.join(ENGINES)}")
        dtypes.get(self.dtype, "dtype", among=dtypes.TORCH_DTYPES)
        if not (self.device == "cpu" or self.device == "cuda" or _cuda_index(self.device)):
            raise UsageError.bad("device", self.device, "allowed: cpu, cuda, cuda:N")
        if self.preset is not None and self.preset not in PRESETS:
            raise UsageError.bad("engine_preset", self.preset, f"allowed: {', '.join(PRESETS)}")
        knobs = self.resolved_knobs()
        if self.engine == "transformers":
            _check_installed(knobs)
        elif knobs or self.preset:
            name = next(iter(knobs), "engine_preset")
            raise UsageError.bad(name, knobs.get(name, self.preset), "engine knobs apply to --engine transformers only")
        return self

    def resolved_knobs(self) -> dict[str, Any]:
        """The preset's knobs overridden by the explicit ones, parsed and range-checked."""
        merged = {**PRESETS.get(self.preset or "", {}), **dict(self.knobs)}
        out: dict[str, Any] = {}
        for name, raw in merged.items():
            if name == "attn_implementation":
                if raw not in ATTENTION:
                    raise UsageError.bad(name, raw, f"allowed: {', '.join(ATTENTION)}")
                out[name] = raw
                continue
            if name in ("auto_switch_to_flash", "sdpa_cudnn"):
                value = _parse_value(name, bool, raw)
                if value is not None and not isinstance(value, bool):
                    raise UsageError.bad(name, raw, "must be true or false")
                if value is not None:
                    out[name] = value
                continue
            if name not in CB_KNOBS:
                raise UsageError.bad("engine_knob", name, f"unknown knob; allowed: {', '.join([*CB_KNOBS, *OTHER_KNOBS])}")
            _, kind, bounds = CB_KNOBS[name]
            value = _parse_value(name, kind, raw)
            if value is None:
                continue
            if name == "scheduler" and value not in SCHEDULERS:
                raise UsageError.bad(name, value, f"allowed: {', '.join(SCHEDULERS)}")
            wanted = (int, float) if kind is float else kind
            if not isinstance(value, wanted) or (kind is not bool and isinstance(value, bool)):
                raise UsageError.bad(name, value, f"must be {kind.__name__}")
            if bounds is not None and not bounds[0] <= value <= bounds[1]:
                raise UsageError.bad(name, value, f"must be from {bounds[0]:g} to {bounds[1]:g}")
            out[name] = value
        return out

    @property
    def torch_dtype_name(self) -> str:
        return str(dtypes.get(self.dtype).torch_name)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["dtype"] = dtypes.canonical(self.dtype)
        out["knobs"] = self.resolved_knobs()
        return out


def _check_installed(knobs: Mapping[str, Any]) -> None:
    """Every knob must be a field of the installed transformers' ContinuousBatchingConfig (before loading)."""
    import transformers

    try:
        from transformers.generation.configuration_utils import ContinuousBatchingConfig
    except ImportError:
        raise UsageError.bad("engine", "transformers", f"continuous batching needs transformers >= 5.23; "
                             f"this is {transformers.__version__}") from None
    fields = {f.name for f in dataclasses.fields(ContinuousBatchingConfig)}
    for name, value in knobs.items():
        if name in CB_KNOBS and CB_KNOBS[name][0] not in fields:
            raise UsageError.bad(name, value, f"not a continuous-batching field of transformers {transformers.__version__}")


def _cuda_index(device: str) -> bool:
    head, _, index = device.partition(":")
    return head == "cuda" and index.isdigit()


def load_for_engine(config: EngineConfig) -> Any:
    """Load the model through the shared LLM loader (random weights for bundled names)."""
    from joulebench.workloads.llm import load_model

    return load_model(config.model, config.torch_dtype_name, config.device)


def vocab_size(model: Any) -> int:
    return int(model.config.get_text_config().vocab_size)


# -- shared by both engines -------------------------------------------------------------------------
class Dispatcher(threading.Thread):
    """Submits requests at their target times (coarse sleep + spin), stamping the actual send time."""

    def __init__(self, records: Sequence[RequestRecord], specs: Sequence[RequestSpec], submit: Any,
                 stop: threading.Event) -> None:
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


def new_records(specs: Sequence[RequestSpec], targets_s: Sequence[float], t0: float) -> list[RequestRecord]:
    return [RequestRecord(s.index, t0 + t, s.prompt_tokens, s.max_output_tokens)
            for s, t in zip(specs, targets_s, strict=True)]


def finish_unfinished(records: Sequence[RequestRecord], stopped: bool) -> None:
    for record in records:
        if record.status == STATUS_INCOMPLETE and record.error is None:
            record.error = "cut by max duration" if stopped else "not finished"
