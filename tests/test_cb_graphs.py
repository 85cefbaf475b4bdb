"""The CUDA-graph census of the CB engine (issue 18, run_f: the graphs' pool decided whether an arm finished)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from joulebench.workloads.cb_graphs import (
    MAX_SHAPES_LISTED,
    captured_graph_keys,
    census_of,
    graph_census,
    largest_q_by_kv,
    shape_bound,
    shape_buckets,
)

pytest.importorskip("torch")
from transformers.generation.continuous_batching.utils import CudaGraphBuffer  # noqa: E402


class _Graph:
    """Stands in for a torch.cuda.CUDAGraph, which a CPU machine cannot capture: the buffer resets it."""

    def reset(self) -> None:
        pass


def _buffer(*keys: tuple[int, ...]) -> CudaGraphBuffer:
    buffer = CudaGraphBuffer()
    for key in keys:
        buffer.set_graph(key, _Graph())
    return buffer


def test_census_counts_paths_and_distinct_sizes() -> None:
    keys = [(64, 256, 1024), (128, 256, 1024), (128, 512, 1024), (16,), (32,)]
    assert graph_census(keys) == {"captured": 5, "varlen": 3, "decode": 2, "distinct_q_tokens": 4,
                                  "distinct_kv_read": 2, "max_q_tokens": 128, "max_kv_read": 512,
                                  "max_q_by_kv": 128 * 512,
                                  "shapes": [[64, 256], [128, 256], [128, 512]], "shapes_left_out": 0}
    assert graph_census([])["captured"] == 0


def test_largest_q_by_kv_is_the_largest_product_and_unknown_when_shapes_are_not_all_listed() -> None:
    """The largest product need not be the largest query's nor the largest read's shape. A census counts it
    from every shape, listed or not; one stored before that field that left shapes out, or predates the
    list, gives no figure rather than a too-small one."""
    census = graph_census([(2048, 4096, 1), (256, 102400, 1), (1024, 49152, 1), (16,)])
    assert largest_q_by_kv(census) == 1024 * 49152
    assert largest_q_by_kv(graph_census([(16,)])) == 0
    stored_before = {key: value for key, value in census.items() if key != "max_q_by_kv"}
    assert largest_q_by_kv(stored_before) == 1024 * 49152
    assert largest_q_by_kv({"captured": 52, "max_kv_read": 102400}) is None
    assert largest_q_by_kv({**stored_before, "shapes_left_out": 3}) is None
    many = [(256 * (1 + i % 8), 4096 * i, 1) for i in range(MAX_SHAPES_LISTED + 5)]
    assert largest_q_by_kv(graph_census(many)) == max(q * kv for q, kv, _ in many)


def test_census_lists_each_varlen_shape_once_and_caps_the_list() -> None:
    """Two keys that differ only in ``max_length_k`` are one (query, KV) shape; a census of more shapes than
    `MAX_SHAPES_LISTED` lists the smallest and counts the rest, so a stored summary stays small."""
    assert graph_census([(64, 256, 512), (64, 256, 1024), (16,)])["shapes"] == [[64, 256]]
    many = [(256, 4096 * i, 1024) for i in range(MAX_SHAPES_LISTED + 5)]
    census = graph_census(reversed(many))
    assert census["shapes"][0] == [256, 0] and len(census["shapes"]) == MAX_SHAPES_LISTED
    assert census["shapes_left_out"] == 5 and census["distinct_kv_read"] == MAX_SHAPES_LISTED + 5


def test_keys_are_read_from_both_io_pairs_of_async_batching() -> None:
    pairs = [SimpleNamespace(device_io=SimpleNamespace(graphs=_buffer((64, 0, 1024)))),
             SimpleNamespace(device_io=SimpleNamespace(graphs=_buffer((64, 0, 1024), (128, 256, 1024))))]
    manager = SimpleNamespace(batch_processor=SimpleNamespace(inputs_and_outputs=SimpleNamespace(io_pairs=pairs)))
    assert sorted(captured_graph_keys(manager)) == [(64, 0, 1024), (64, 0, 1024), (128, 256, 1024)]


def test_an_unreadable_store_is_unknown_not_zero() -> None:
    assert captured_graph_keys(SimpleNamespace(batch_processor=None)) is None
    no_buffer = SimpleNamespace(batch_processor=SimpleNamespace(inputs_and_outputs=SimpleNamespace(graphs={})))
    assert captured_graph_keys(no_buffer) is None
    assert census_of(no_buffer, {})["census"] is None
    odd = SimpleNamespace(batch_processor=SimpleNamespace(inputs_and_outputs=SimpleNamespace(graphs=_buffer(("q",)))))
    assert census_of(odd, {}) == {"census": None, "bound": None,
                                  "census_error": "ValueError: invalid literal for int() with base 10: 'q'"}


def test_bound_of_the_presets_that_ran_out_of_memory() -> None:
    """run_f's H100 arms (resolved sizes as stored): `tuned-mem-30` and `tuned-kv-4096`, which both ran out
    of memory under fixed-rate arrivals, could each meet thousands to tens of thousands of padded shapes."""
    assert shape_buckets(8192, 64, 116736, 256) == {"q_buckets": 128, "kv_buckets": 457, "pairs": 58496}
    assert shape_buckets(8192, 64, 198912, 4096)["pairs"] == 128 * 50
    with pytest.raises(ValueError, match="kv_padding must be positive, got 0"):
        shape_buckets(8192, 64, 1000, 0)


def test_bound_only_when_graphs_are_on() -> None:
    resolved = {"continuous_batching_config": {"use_cuda_graph": (True, False), "q_padding_interval_size": 256,
                                               "kv_padding_interval_size": 4096},
                "cache": {"max_batch_tokens": 2048, "max_tokens_read": 116736}}
    assert shape_bound(resolved) == {"q_buckets": 8, "kv_buckets": 30, "pairs": 240}
    assert census_of(None, resolved) == {"census": None, "bound": shape_bound(resolved)}
    resolved["continuous_batching_config"]["use_cuda_graph"] = (False, False)
    assert shape_bound(resolved) is None
