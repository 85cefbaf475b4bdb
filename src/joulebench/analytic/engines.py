"""Inference engines as the predictor costs them: which cache, which launches, which keys decode attends.

A registry (`ENGINES`): adding an engine is one row. What each row encodes was read off transformers
5.2x (``generation/utils.py``, ``masking_utils.py``, ``cache_utils.py``):

* ``eager`` - ``generate`` with the default ``DynamicCache``: every kernel launched from Python
  (the launch term), the cache re-concatenated each step, decode attending the ``s + t`` keys so far.
* ``static`` - ``cache_implementation="static"`` with the decode forward compiled (torch.compile,
  CUDA graphs): prefill still runs eagerly (``generate`` exempts the first iteration from
  compilation), decode replays a graph (no launch term for the forward; the sampling and
  stopping-criteria kernels of the ``generate`` loop stay eager). The cache is a tensor of
  ``max_cache_len = max_length - 1 = s + G - 1`` positions (the largest of the calls so far), and
  under compilation the 4-D mask is always materialised (``_ignore_causal_mask_sdpa`` returns False
  for a traced ``q_offset``): every decode step runs SDPA with an explicit mask over the *whole*
  static length, not over the tokens written so far; with that mask, grouped K/V heads are copied out
  to every query head before SDPA (``repeat_kv``, `attention.sdpa_cost_path`). Writes are an
  ``index_copy_`` of the new token.
* ``server`` - ``transformers serve --continuous-batching``: paged cache (writes only the new
  tokens), decode attending the real keys, eager launches. Approximate: batching across requests
  and scheduling are not modelled here (``serving`` measures them); uncalibrated.
"""

from __future__ import annotations

from dataclasses import dataclass

from joulebench.errors import UsageError


@dataclass(frozen=True)
class Engine:
    name: str
    profile_name: str  # the engine's name in profile file names (``h200-transformers-static-bf16``)
    prefill_cache: str  # "dynamic" | "static": how the prefill writes the cache
    decode_cache: str
    decode_graphs: bool  # decode forward replayed from a CUDA graph: no per-kernel launch cost
    decode_full_cache: bool  # decode attends the whole static cache length every step
    decode_masked_sdpa: bool = False  # decode's SDPA gets an explicit mask (grouped K/V repeated first)
    approximate: bool = False


ENGINES: dict[str, Engine] = {
    e.name: e
    for e in (
        Engine("eager", "transformers-eager", "dynamic", "dynamic", False, False),
        Engine("static", "transformers-static", "static", "static", True, True, decode_masked_sdpa=True),
        Engine("server", "transformers-serve", "static", "static", False, False, approximate=True),
    )
}
_ALIASES = {e.profile_name: e.name for e in ENGINES.values()}
DEFAULT_ENGINE = "eager"
#: host kernels of the ``generate`` loop that stay eager under CUDA graphs
HOST_OPS = ("sampling",)


def get_engine(name: str | None, field: str = "engine") -> Engine:
    """The engine a name (or its profile spelling, ``transformers-eager``) means; None: the default."""
    key = DEFAULT_ENGINE if name is None else str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in ENGINES:
        raise UsageError.bad(field, name, f"unknown engine; allowed: {', '.join(ENGINES)}")
    return ENGINES[key]
