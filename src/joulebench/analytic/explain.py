"""Closed forms and regime boundaries of an LLM prediction (``predict llm --explain``).

Why numeric coefficients: the exact model is a sum of per-op maxima, piecewise in s and k. Within
one regime it is a polynomial, so its coefficients are read off the model itself by finite
differences at the requested point (exact inside the regime; the regime is stated).

* Prefill FLOPs are exactly quadratic in s: F(s) = F0 + F1 s + F2 s^2 (F2 is attention).
  Time: T(s) ~ c0 + c1 s + c2 s^2 around the given s; it is constant-dominated below
  s_lin = c0/c1 (launches, weight reading) and quadratic-dominated above s_quad = c1/c2.
* One decode step with k keys costs tau(k) = tau0 + tau1 k (exact between bound switches), so
  the decode phase of G tokens after a prompt of s is
  sum_{k=s+1}^{s+G-1} tau(k) = eta (G-1) + theta s (G-1) + phi (G-1)^2 with
  eta = tau0 + tau1/2 ... (form of the study's case-I fit), and the knee g* = (eta + theta s) / phi
  is the output length beyond which the growing KV cache dominates.
* Batch knee b*: a linear layer turns compute-bound when its tokens per step exceed
  w * mu_c F_peak / (2 mu_m B_peak) (the ridge point in tokens, w = bytes per weight).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from joulebench.analytic.llm import LLMArch
from joulebench.analytic.ops import total
from joulebench.analytic.params import ModelParams
from joulebench.analytic.precision import Precision
from joulebench.analytic.predict import ceilings, decode_step_ops, op_options, predict_llm_grid, prefill_ops
from joulebench.analytic.roofline import TimeSplit, Work, energy_j, op_time
from joulebench.hardware.catalogue import Accelerator


def _step_time(arch, acc, params, prec, keys, b, graphs, kw) -> tuple[float, float]:
    ceil = ceilings(acc, prec)
    split: TimeSplit | None = None
    ops = decode_step_ops(arch, prec, keys, b, **kw)
    for op in ops:
        t = op_time(op.time_flops, op.bytes, op.n_kernels, ceil, params, graphs, op.category)
        split = t if split is None else split + t
    assert split is not None
    work = Work(total(ops, "time_flops"), total(ops, "bytes"), total(ops, "n_kernels"))
    return float(split.latency_s), float(energy_j(split, params, work))


def explain_llm(
    arch: LLMArch,
    acc: Accelerator,
    params: ModelParams,
    prec: Precision,
    s: int,
    g: int,
    b: int,
    *,
    graphs: bool = False,
    **kw: Any,
) -> dict[str, Any]:
    """Coefficients and regime boundaries at (s, g, b), as a JSON-able mapping."""
    ceil = ceilings(acc, prec)
    pre_kw, dec_kw = op_options(arch, acc, prec, params, kw)
    # prefill FLOPs are an exact quadratic in s: three points determine it
    fl = [float(total(prefill_ops(arch, prec, x, b, **pre_kw), "flops")) for x in (1.0, 2.0, 3.0)]
    f2 = (fl[2] - 2 * fl[1] + fl[0]) / 2.0
    f1 = fl[1] - fl[0] - 3.0 * f2
    f0 = fl[0] - f1 - f2
    # prefill time: local quadratic through s/2, s, 3s/2 (within the regime of the given s)
    xs = np.array([max(s * 0.5, 1.0), float(s), s * 1.5])
    grid = predict_llm_grid(arch, acc, params, prec, xs, 1.0, b, graphs=graphs, **kw)
    c2, c1, c0 = np.polyfit(xs, grid["prefill_latency_s"], 2)
    e2, e1, e0 = np.polyfit(xs, grid["prefill_energy_j"], 2)
    # decode: per-step time affine in keys
    k0 = float(s + 1)
    t_a, e_a = _step_time(arch, acc, params, prec, k0, b, graphs, dec_kw)
    t_b, e_b = _step_time(arch, acc, params, prec, k0 + 1000.0, b, graphs, dec_kw)
    tau1 = (t_b - t_a) / 1000.0
    tau0 = t_a - tau1 * k0
    eta, theta, phi = tau0 + tau1 / 2.0, tau1, tau1 / 2.0
    g_knee = (eta + theta * s) / phi if phi > 0 else float("inf")
    ridge_tokens = (
        prec.weight_bytes
        * params.mu_compute
        * ceil.peak_flops_per_s
        / (2.0 * params.mu_memory * ceil.bandwidth_bytes_per_s)
    )
    return {
        "prefill": {
            "flops_form": "F(s) = F0 + F1*s + F2*s^2 (exact)",
            "F0": f0,
            "F1": f1,
            "F2": f2,
            "time_form": "T(s) ~ c0 + c1*s + c2*s^2 (local fit around s; regime of s)",
            "c0_s": c0,
            "c1_s_per_token": c1,
            "c2_s_per_token2": c2,
            "energy_form": "E(s) ~ e0 + e1*s + e2*s^2",
            "e0_j": e0,
            "e1_j_per_token": e1,
            "e2_j_per_token2": e2,
            "s_linear_from": (c0 / c1) if c1 > 0 else None,
            "s_quadratic_from": (c1 / c2) if c2 > 0 else None,
        },
        "decode": {
            "step_form": "tau(k) = tau0 + tau1*k, k = keys attended (s + t for step t)",
            "tau0_s": tau0,
            "tau1_s_per_key": tau1,
            "step_energy_j_at_s": e_a,
            "step_energy_j_per_key": (e_b - e_a) / 1000.0,
            "phase_form": "T = eta*(G-1) + theta*s*(G-1) + phi*(G-1)^2",
            "eta_s_per_token": eta,
            "theta_s_per_token2": theta,
            "phi_s_per_token2": phi,
            "g_knee_tokens": g_knee,
        },
        "batch": {
            "ridge_tokens_per_step": ridge_tokens,
            "note": "decode linear layers are memory/launch-bound below this many tokens per step, "
            "compute-bound above",
        },
        "at": {"prompt_tokens": s, "output_tokens": g, "batch": b},
    }


def explain_text(info: dict[str, Any]) -> str:
    p, d, bt = info["prefill"], info["decode"], info["batch"]

    def fmt(x: Any) -> str:
        return "n/a" if x is None else f"{x:.4g}"

    lines = [
        "Prefill",
        f"  FLOPs  F(s) = {p['F0']:.4g} + {p['F1']:.4g}*s + {p['F2']:.4g}*s^2"
        "   (exact; s^2 term = attention)",
        f"  time   T(s) ~ {p['c0_s']:.4g} + {p['c1_s_per_token']:.4g}*s + {p['c2_s_per_token2']:.4g}*s^2 s"
        "   (local, around the given s)",
        f"  energy E(s) ~ {p['e0_j']:.4g} + {p['e1_j_per_token']:.4g}*s"
        f" + {p['e2_j_per_token2']:.4g}*s^2 J",
        f"  regimes: constant below s ~ {fmt(p['s_linear_from'])},"
        f" linear up to s ~ {fmt(p['s_quadratic_from'])},"
        " quadratic above",
        "Decode (tokens 2..G)",
        f"  step   tau(k) = {d['tau0_s']:.4g} + {d['tau1_s_per_key']:.4g}*k s   (k = keys attended)",
        f"  phase  T = {d['eta_s_per_token']:.4g}*(G-1) + {d['theta_s_per_token2']:.4g}*s*(G-1)"
        f" + {d['phi_s_per_token2']:.4g}*(G-1)^2 s",
        f"  knee   g* = {fmt(d['g_knee_tokens'])} tokens (beyond it the growing KV cache dominates)",
        f"Batch    ridge point {bt['ridge_tokens_per_step']:.4g} tokens per step:"
        " below it decode linears are "
        "memory/launch-bound",
    ]
    return "\n".join(lines)
