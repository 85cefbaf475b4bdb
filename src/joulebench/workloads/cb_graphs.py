"""How many CUDA graphs transformers' continuous batching captured in an arm, and how many it could.

Why: on an H100 (run_f, 2026-12-07) the graphs' private memory pool, not the KV cache, decided whether an
arm finished. With one preset and one KV cache (``tuned-mem-30``, 456 blocks) the pool held 14.0 GiB
after 200 requests under burst, 32.4 GiB under fixed 300 ms and 46.3 GiB under fixed 500 ms, where a
capture ran out of memory. The manager keeps one graph per padded batch shape for the whole run
(transformers 5.24: ``CudaGraphBuffer`` is a plain dict, its ``max_cached_graphs`` bound deprecated since
5.13), and all of them share one memory pool (``model_runner.py``: one ``MemPool``, which also takes each
capture's eager warm-up). The first census (run_f calls 21-22, ``bounded-graphs``) did not find the pool
following the number of graphs: 52 graphs held 17.2 GiB under burst, 71 held 3.8 GiB under U(0, 1 s),
while the largest KV read one graph makes went 102,400 -> 45,056 keys. Nor does the largest read decide
it alone: under fixed 300 ms (call 23) 83 graphs over 8 query sizes, reading up to the same 102,400 keys
as burst's 52-53 over 3, held 23.6 GiB against 17.2-17.3. Each captured (query, KV) shape is recorded
(``shapes``) so that a pool's size can be set against them: in the six arms that list them (calls 23 and 25)
the pool ranks with the largest query x KV product of one graph (`largest_q_by_kv`), 75.5 M -> 3.6 GiB,
92.3 M -> 5.1, 209.7 M -> 17.2-23.6, yet the two fixed 300 ms repeats, 83 graphs each with the same
largest product, held 23.6 and 20.2 GiB. What in the shared pool has that size is not measured.
``shape_buckets`` gives the bound on the shapes from the knobs alone.

Only attributes are read, never called: the census runs on a manager whose thread may have died.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


def captured_graph_keys(manager: Any) -> list[tuple[int, ...]] | None:
    """The shape keys of every graph the manager's batch processor holds; None when this transformers keeps
    them elsewhere (the census is then unknown, not zero).

    Keys are ``(q_tokens, kv_read, *max_length_k)`` on the varlen path and ``(q_tokens,)`` on the decode
    fast path (transformers 5.24, ``input_outputs.py`` ``_get_graph_key``). With async batching each of the
    two IO pairs captures its own graphs."""
    io = getattr(getattr(manager, "batch_processor", None), "inputs_and_outputs", None)
    if io is None:
        return None
    pairs = getattr(io, "io_pairs", None)
    holders = [getattr(pair, "device_io", None) for pair in pairs] if pairs else [io]
    keys: list[tuple[int, ...]] = []
    for holder in holders:
        storage = getattr(getattr(holder, "graphs", None), "_storage", None)
        if not isinstance(storage, dict):
            return None
        keys.extend(tuple(int(part) for part in key) for key in storage)
    return keys


#: at most this many (query, KV) shapes are listed in a census (``bounded-graphs`` allows 264 on an H100; an
#: arm of ``tuned-mem-30`` could meet tens of thousands, and a summary is stored with every arm)
MAX_SHAPES_LISTED = 1024


def graph_census(keys: Iterable[tuple[int, ...]]) -> dict[str, Any]:
    """How many graphs, on which path, over how many distinct query and KV sizes, and which (query, KV)
    shapes the varlen graphs have, smallest first (at most `MAX_SHAPES_LISTED`; ``shapes_left_out`` counts
    the rest), and the largest query x KV product over all of them, listed or not (`largest_q_by_kv`)."""
    keys = list(keys)
    varlen = [key for key in keys if len(key) > 1]
    shapes = sorted({(key[0], key[1]) for key in varlen})
    return {
        "captured": len(keys),
        "varlen": len(varlen),
        "decode": len(keys) - len(varlen),
        "distinct_q_tokens": len({key[0] for key in keys}),
        "distinct_kv_read": len({key[1] for key in varlen}),
        "max_q_tokens": max((key[0] for key in keys), default=0),
        "max_kv_read": max((key[1] for key in varlen), default=0),
        "max_q_by_kv": _largest_product(shapes),
        "shapes": [list(shape) for shape in shapes[:MAX_SHAPES_LISTED]],
        "shapes_left_out": max(len(shapes) - MAX_SHAPES_LISTED, 0),
    }


def _largest_product(shapes: Iterable[Sequence[int]]) -> int:
    return max((q_tokens * kv_read for q_tokens, kv_read in shapes), default=0)


def largest_q_by_kv(census: dict[str, Any]) -> int | None:
    """The largest query x KV product of one captured graph: how many (query, key) pairs its attention
    relates, the size of a mask or score buffer were one kept per graph. A census records it from every
    shape (``max_q_by_kv``); one stored before that field has it from its listed shapes if it listed them
    all, else None (arms before session 15 list none; the list is ordered by query size, not product).

    Why: in the six ``bounded-graphs`` arms on an H100 that list their shapes, the pools rank with this
    product, not with the count or the largest KV read (docs/VALIDATION.md, session 16); whether such a
    buffer is what fills the pool is not measured."""
    if "max_q_by_kv" in census:
        return census["max_q_by_kv"]
    shapes = census.get("shapes")
    if shapes is None or census.get("shapes_left_out", 0):
        return None
    return _largest_product(shapes)


def shape_buckets(max_batch_tokens: int, q_padding: int, max_tokens_read: int, kv_padding: int) -> dict[str, int]:
    """The padded (query, KV) sizes the varlen path can meet: every pair may become a graph.

    Queries pad up to multiples of ``q_padding`` (at most ``max_batch_tokens``), KV reads to multiples of
    ``kv_padding`` (at most ``max_tokens_read``, and 0 for a batch with nothing cached), as in
    transformers 5.24's ``pad_to_interval``. The powers of two of ``max_length_k`` in the key follow the
    KV read and do not multiply the count much; they are left out, so this is a floor of the true bound."""
    for name, value in (("max_batch_tokens", max_batch_tokens), ("q_padding", q_padding),
                        ("max_tokens_read", max_tokens_read), ("kv_padding", kv_padding)):
        if value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
    q_buckets = math.ceil(max_batch_tokens / q_padding)
    kv_buckets = math.ceil(max_tokens_read / kv_padding) + 1
    return {"q_buckets": q_buckets, "kv_buckets": kv_buckets, "pairs": q_buckets * kv_buckets}


def shape_bound(resolved: dict[str, Any]) -> dict[str, int] | None:
    """`shape_buckets` from an arm's resolved knobs (as recorded, or as stored), None when graphs are off
    or a size is unknown: the arms stored before the census have their bound too."""
    cb = resolved.get("continuous_batching_config", {})
    cache = resolved.get("cache", {})
    sizes = (cache.get("max_batch_tokens"), cb.get("q_padding_interval_size"), cache.get("max_tokens_read"),
             cb.get("kv_padding_interval_size"))
    graphs_on = cb.get("use_cuda_graph")
    if not any(graphs_on if isinstance(graphs_on, (tuple, list)) else [graphs_on]):
        return None
    if not all(isinstance(size, int) and size > 0 for size in sizes):
        return None
    return shape_buckets(*sizes)


def census_of(manager: Any, resolved: dict[str, Any]) -> dict[str, Any]:
    """The arm's record: the census of captured graphs (``None`` when unreadable) beside `shape_bound`.

    A diagnostic must not cost the arm it describes: it runs in the arm's ``finally``, where an exception
    would replace the arm's own outcome, so a store laid out as no version we read gives ``census_error``."""
    try:
        keys = captured_graph_keys(manager)
    except (TypeError, ValueError) as error:
        return {"census": None, "bound": None, "census_error": f"{type(error).__name__}: {error}"[:200]}
    return {"census": None if keys is None else graph_census(keys), "bound": shape_bound(resolved)}
