"""The physical floor of a served request's GPU energy, and the ratio of a figure to it.

Why: a figure is only believable beside its floor. A 1,200-token prompt on an 8B model is ~1.8e13
FLOP of prefill; at an H100's dense bf16 peak and its power limit (700 W / 989.5 TFLOP/s = 0.71
pJ/FLOP) that is >= ~12 J (3.4e-3 Wh) before a single output token, so a published 1.1e-3 Wh/request
cannot be the whole GPU energy of such requests (issue 18). A ratio below 1 means a miscount (tokens
that were not computed, a prefix cache, a meter that missed work), never an efficient system; it is
flagged loudly and makes the run fail its own checks.

Floor of one request with ``s`` prompt tokens and ``g`` output tokens (GPU only):

    E_floor = e_flop * F_prefill(s) + P_idle * t_floor
    t_floor = F_prefill(s) / F_peak + D_decode(s, g, B) / B_peak
    D_decode = sum over the g-1 decode steps of (W / B + KV(context))

* ``F_prefill`` from the analytic predictor (`analytic.predict.prefill_ops`, the same FLOP count every
  prediction uses); ``W`` the weights a decode step reads (embedding rows excluded, they are looked
  up), ``KV`` the cache it reads (per layer, windows respected); ``B`` the batch sharing the weight
  reads: the most requests ever in the system together (the most generous sharing the run allowed),
  unbounded for an imported figure unless given.
* ``e_flop``: the best (lowest) ``energy_per_flop_pj`` among the calibration profiles given for the
  card (energy above idle, fitted on measurements); without one, the catalogue's ``(TDP - idle) /
  F_peak`` (the card at its power limit doing its dense peak). Decode is charged only idle power over
  its time at peak bandwidth: its dynamic energy per byte is a fit, not a bound.
* ``P_idle``: the profile's fitted idle power, else the catalogue's.

Everything here undercounts on purpose (no attention score reads, no activations, no launches), so
the floor stays a floor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from joulebench.errors import UsageError
from joulebench.units import j_to_wh


@dataclass(frozen=True)
class CardEnergy:
    """The energy constants a floor uses, and where they came from."""

    gpu: str
    dtype: str
    energy_per_flop_j: float  # dynamic (above idle)
    idle_power_w: float
    peak_flops_per_s: float
    bandwidth_bytes_per_s: float
    source: str


def card_energy(gpu: str, dtype: str, profiles: Sequence[str] = (), hardware_file: str | None = None) -> CardEnergy:
    """Catalogue ceilings of ``gpu`` plus the best per-FLOP energy among the ``profiles`` of that card."""
    from joulebench.analytic.precision import precision_for
    from joulebench.hardware.catalogue import get_accelerator
    from joulebench.profiles import read_profile

    prec = precision_for(dtype)
    acc = get_accelerator(gpu, hardware_file)
    peak = acc.peak_flops(prec.compute)
    best: tuple[float, float, str] | None = None
    for path in profiles:
        profile = read_profile(path, "floor_profile")
        if profile.catalogue_name not in (None, acc.name):
            raise UsageError.bad("floor_profile", path, f"is a profile of {profile.catalogue_name}, not of {acc.name}")
        e_pj = profile.params.get("energy_per_flop_pj")
        if e_pj is None:
            continue
        idle = float(profile.params.get("p_idle_w") or acc.idle_power_w)
        if best is None or float(e_pj) < best[0]:
            best = (float(e_pj), idle, f"calibration profile {profile.name} ({path})")
    if best is not None:
        return CardEnergy(acc.name, prec.dtype, best[0] * 1e-12, best[1], peak, acc.memory_bandwidth_bytes_per_s, best[2])
    dynamic = max(acc.tdp_w - acc.idle_power_w, 0.0) / peak
    return CardEnergy(acc.name, prec.dtype, dynamic, acc.idle_power_w, peak, acc.memory_bandwidth_bytes_per_s,
                      f"catalogue {acc.name}: (TDP {acc.tdp_w:g} W - idle {acc.idle_power_w:g} W) / dense peak")


@dataclass(frozen=True)
class RequestFloors:
    """Floors of a set of requests (arrays aligned with the inputs), with their parts."""

    energy_j: np.ndarray
    prefill_flops: np.ndarray
    decode_bytes: np.ndarray
    time_s: np.ndarray
    batch: float

    def summary(self, card: CardEnergy, model: str) -> dict[str, Any]:
        n = int(self.energy_j.size)
        mean = float(self.energy_j.mean()) if n else None
        return {
            "available": True,
            "model": model,
            "card": asdict(card),
            "batch_sharing_weights": None if not np.isfinite(self.batch) else self.batch,
            "requests": n,
            "mean_j": mean,
            "mean_wh": None if mean is None else j_to_wh(mean),
            "total_j": float(self.energy_j.sum()),
            "mean_prefill_flops": float(self.prefill_flops.mean()) if n else None,
            "mean_decode_bytes": float(self.decode_bytes.mean()) if n else None,
            "rule": "e_flop x prefill FLOPs + idle power x (prefill FLOPs / peak + decode reads / peak bandwidth)",
        }


def floor_arch(model: str, allow_hub: bool = False) -> Any:
    """The architecture of ``model`` (bundled name or local path; the hub only when allowed)."""
    from joulebench.analytic.llm import arch_from_config
    from joulebench.models.configs import resolve

    ref = resolve(model, "models", allow_hub=allow_hub)
    return arch_from_config(ref.config, ref.name)


def request_floors(
    arch: Any, card: CardEnergy, prompt_tokens: Sequence[int], output_tokens: Sequence[int], batch: float = np.inf
) -> RequestFloors:
    """Floors of requests of the given lengths on ``card``; ``batch`` requests share each weight read."""
    from joulebench.analytic.precision import precision_for
    from joulebench.analytic.predict import prefill_ops

    if not batch >= 1:
        raise UsageError.bad("floor_batch", batch, "must be >= 1")
    prec = precision_for(card.dtype)
    s = np.asarray(prompt_tokens, dtype=float)
    g = np.asarray(output_tokens, dtype=float)
    if s.size == 0:
        empty = np.zeros(0)
        return RequestFloors(empty, empty, empty, empty, float(batch))
    distinct, inverse = np.unique(s, return_inverse=True)
    ops = prefill_ops(arch, prec, distinct, np.asarray(1.0))
    flops = sum(np.broadcast_to(np.asarray(op.flops, dtype=float), distinct.shape) for op in ops)[inverse]
    steps = np.maximum(g - 1.0, 0.0)
    looked_up = 0 if arch.tie_embeddings else arch.vocab * arch.hidden
    weight_bytes = (arch.n_params() - looked_up) * prec.weight_bytes
    per_layer_token = 2.0 * arch.n_kv_heads * arch.head_dim * prec.kv_bytes
    kv = np.zeros_like(s)
    windows = arch.layer_windows or (None,) * arch.n_layers
    for window in windows:
        kv += per_layer_token * _context_sum(s, steps, window)
    shared = 0.0 if not np.isfinite(batch) else weight_bytes / batch
    decode_bytes = steps * shared + kv
    time_s = flops / card.peak_flops_per_s + decode_bytes / card.bandwidth_bytes_per_s
    energy = card.energy_per_flop_j * flops + card.idle_power_w * time_s
    return RequestFloors(energy, flops, decode_bytes, time_s, float(batch))


def _context_sum(s: np.ndarray, steps: np.ndarray, window: int | None) -> np.ndarray:
    """Keys read over the decode steps: step k (0-based) reads min(s + 1 + k, window) keys."""
    if window is None:
        return steps * (s + 1.0) + steps * (steps - 1.0) / 2.0
    below = np.clip(window - (s + 1.0), 0.0, steps)  # steps whose context is still under the window
    return below * (s + 1.0) + below * (below - 1.0) / 2.0 + (steps - below) * float(window)


def ratio_to_floor(energy_j: float | None, floor_j: float | None) -> float | None:
    if energy_j is None or not floor_j:
        return None
    return energy_j / floor_j


def below_floor_message(what: str, ratio: float) -> str:
    return (f"BELOW THE PHYSICAL FLOOR: {what} is {ratio:.2f}x its floor; a figure under its floor is a "
            "miscount (uncomputed tokens, a prefix cache, a meter that missed work), not efficiency")
