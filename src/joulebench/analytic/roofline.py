"""Roofline time with a kernel-launch term, evaluated per op, vectorised, and summed in closed form.

Per op and per forward::

    c = F / (mu * F_peak)              compute time; mu = params.mu_for(category): mu_attention
                                       for attention ops when set, else mu_compute
    m = D / (mu_memory * B_peak)       memory time
    l = n_kernels * t_launch_s         launch time (0 with CUDA graphs / torch.compile)
    t = max(c, m) + l   (launch_overlap "sum")   or   max(c, m, l)   ("max")

Why closed form for decode: over the decode steps F and D are affine in the number of keys k
(attention and the KV cache grow by one token per step), so ``c``, ``m`` and ``l`` are lines in k
and ``t`` is their upper envelope. The sum of an envelope of lines over an integer range has an
exact closed form (split at the crossings), which makes a prediction cost O(ops), not
O(ops x steps), and lets 100k configurations run in about a second.

Each op's time is attributed to the class that set it (compute, memory, launch); the "bound"
energy model uses that split, the "work" model the FLOPs, bytes and kernels (`ModelParams`), the
"continuous" model the busy times ``c`` and ``max(c, m)`` summed regardless of the bound
(`TimeSplit.busy_compute_s`, `TimeSplit.busy_gpu_s`), so that no bound switch makes it jump.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from joulebench.analytic.params import ModelParams

ArrayLike = np.ndarray | float


def sum_affine(a: ArrayLike, b: ArrayLike, lo: ArrayLike, hi: ArrayLike) -> np.ndarray:
    """Sum of ``a + b*x`` over the integers ``lo <= x <= hi`` (0 when the range is empty)."""
    n = np.maximum(np.asarray(hi, dtype=float) - lo + 1.0, 0.0)
    return n * a + b * (np.asarray(lo, dtype=float) + hi) * n / 2.0


def envelope_sums(a: list[ArrayLike], b: list[ArrayLike], lo: ArrayLike, hi: ArrayLike) -> list[np.ndarray]:
    """``sum_{x=lo..hi} max_i(a_i + b_i x)``, returned split by the line that is the maximum.

    Exact for integer ranges: the envelope's argmax is constant between consecutive crossing
    points, so each stretch is the sum of one line. Ties go to the lower index.
    """
    k = len(a)
    arrs = np.broadcast_arrays(*[np.asarray(v, dtype=float) for v in (*a, *b, lo, hi)])
    lines_a = np.stack(arrs[:k])
    lines_b = np.stack(arrs[k : 2 * k])
    start = arrs[2 * k]
    stop = arrs[2 * k + 1] + 1.0  # exclusive
    stop = np.maximum(stop, start)
    points = [start, stop]
    for i in range(k):
        for j in range(i + 1, k):
            slope = lines_b[i] - lines_b[j]
            num = lines_a[j] - lines_a[i]
            x = np.divide(num, slope, out=start.copy(), where=slope != 0)
            points.append(np.clip(x, start, stop))
    if k == 2:  # one crossing, clipped into [start, stop]: already in order (no sort: the hot path)
        cuts = np.stack([points[0], points[2], points[1]])
        points = [points[0], points[2], points[1]]
    else:
        cuts = np.sort(np.stack(points), axis=0)
    whole = np.clip(np.ceil(cuts), start, stop)
    out = [np.zeros_like(start) for _ in range(k)]
    for m in range(len(points) - 1):
        mid = 0.5 * (cuts[m] + cuts[m + 1])
        idx = np.argmax(lines_a + lines_b * mid, axis=0)
        first = whole[m]
        count = whole[m + 1] - whole[m]
        sel_a = np.take_along_axis(lines_a, idx[None], axis=0)[0]
        sel_b = np.take_along_axis(lines_b, idx[None], axis=0)[0]
        part = count * sel_a + sel_b * (2.0 * first + count - 1.0) * count / 2.0
        for i in range(k):
            out[i] = out[i] + np.where(idx == i, part, 0.0)
    return out


@dataclass(frozen=True)
class Ceilings:
    """The two roofs for one run: peak FLOP/s at the compute precision and peak bandwidth."""

    peak_flops_per_s: float
    bandwidth_bytes_per_s: float


@dataclass(frozen=True)
class TimeSplit:
    """Seconds attributed to each bound (arrays over the grid)."""

    compute_s: np.ndarray
    memory_s: np.ndarray
    launch_s: np.ndarray
    #: sum of F / (mu F_peak) whatever the bound (None: not tracked, taken as compute_s)
    busy_compute_s: np.ndarray | None = None
    #: sum of max(c, m), the GPU's busy time (None: compute_s + memory_s, exact in "sum" overlap)
    busy_gpu_s: np.ndarray | None = None

    @property
    def latency_s(self) -> np.ndarray:
        return self.compute_s + self.memory_s + self.launch_s

    @property
    def compute_busy(self) -> np.ndarray:
        return self.compute_s if self.busy_compute_s is None else self.busy_compute_s

    @property
    def gpu_busy(self) -> np.ndarray:
        return self.compute_s + self.memory_s if self.busy_gpu_s is None else self.busy_gpu_s

    def __add__(self, other: TimeSplit) -> TimeSplit:
        tracked = self.busy_compute_s is not None or other.busy_compute_s is not None
        return TimeSplit(
            self.compute_s + other.compute_s,
            self.memory_s + other.memory_s,
            self.launch_s + other.launch_s,
            self.compute_busy + other.compute_busy if tracked else None,
            self.gpu_busy + other.gpu_busy if tracked else None,
        )

    def plus_host(self, seconds: ArrayLike) -> TimeSplit:
        """The same split with ``seconds`` of host time (no GPU work) added to the launch class."""
        return TimeSplit(self.compute_s, self.memory_s, self.launch_s + seconds, self.busy_compute_s,
                         self.busy_gpu_s)

    def bound(self) -> np.ndarray:
        """'compute', 'memory' or 'launch': the class holding most of the time."""
        stack = np.stack(np.broadcast_arrays(self.compute_s, self.memory_s, self.launch_s))
        return np.array(["compute", "memory", "launch"])[np.argmax(stack, axis=0)]


def _launch_s(n_kernels: ArrayLike, params: ModelParams, graphs: bool) -> ArrayLike:
    return (
        0.0 * np.asarray(n_kernels, dtype=float)
        if graphs
        else np.asarray(n_kernels, float) * params.t_launch_s
    )


def op_time(
    flops: ArrayLike,
    bytes_: ArrayLike,
    n_kernels: ArrayLike,
    ceil: Ceilings,
    params: ModelParams,
    graphs: bool = False,
    category: str | None = None,
) -> TimeSplit:
    """Time of one op at one point of the grid (prefill, one decode step, one DiT forward).

    ``category`` (the op's, e.g. ``"attention"``) selects the compute efficiency (`ModelParams.mu_for`).
    """
    c = np.asarray(flops, dtype=float) / (params.mu_for(category) * ceil.peak_flops_per_s)
    m = np.asarray(bytes_, dtype=float) / (params.mu_memory * ceil.bandwidth_bytes_per_s)
    launch = _launch_s(n_kernels, params, graphs)
    c, m, launch = np.broadcast_arrays(c, m, launch)
    gpu = np.maximum(c, m)
    if params.launch_overlap == "sum":
        return TimeSplit(np.where(c >= m, c, 0.0), np.where(m > c, m, 0.0), launch.astype(float), c, gpu)
    top = np.maximum(gpu, launch)
    is_c = (c >= m) & (c >= launch)
    is_m = ~is_c & (m >= launch)
    return TimeSplit(np.where(is_c, top, 0.0), np.where(is_m, top, 0.0), np.where(~is_c & ~is_m, top, 0.0), c, gpu)


def op_time_over_range(
    flops0: ArrayLike,
    flops1: ArrayLike,
    bytes0: ArrayLike,
    bytes1: ArrayLike,
    n_kernels: ArrayLike,
    lo: ArrayLike,
    hi: ArrayLike,
    ceil: Ceilings,
    params: ModelParams,
    graphs: bool = False,
    window: int | None = None,
    category: str | None = None,
) -> TimeSplit:
    """Sum of one op's time over keys ``k = lo..hi`` where F = flops0 + flops1*k, D = bytes0 + bytes1*k.

    With a sliding ``window`` the op sees ``min(k, window)`` keys: the range is split in an affine
    part and a constant part. ``category`` selects the compute efficiency as in `op_time`.
    """
    if _is_zero(flops1) and _is_zero(bytes1):  # constant over keys (linears, norms): one point times the count
        count = np.maximum(np.asarray(hi, dtype=float) - lo + 1.0, 0.0)
        t = op_time(flops0, bytes0, n_kernels, ceil, params, graphs, category)
        return TimeSplit(t.compute_s * count, t.memory_s * count, t.launch_s * count, t.compute_busy * count,
                         t.gpu_busy * count)
    fc = 1.0 / (params.mu_for(category) * ceil.peak_flops_per_s)
    fm = 1.0 / (params.mu_memory * ceil.bandwidth_bytes_per_s)
    launch = _launch_s(n_kernels, params, graphs)
    parts = []
    if window is None:
        parts.append((flops0, flops1, bytes0, bytes1, lo, hi))
    else:
        w = float(window)
        parts.append((flops0, flops1, bytes0, bytes1, lo, np.minimum(hi, w)))
        parts.append((flops0 + flops1 * w, 0.0, bytes0 + bytes1 * w, 0.0, np.maximum(lo, w + 1.0), hi))
    total: TimeSplit | None = None
    for f0, f1, d0, d1, a, z in parts:
        busy_c = sum_affine(f0 * fc, f1 * fc, a, z)
        if params.launch_overlap == "sum":
            cs, ms = envelope_sums([f0 * fc, d0 * fm], [f1 * fc, d1 * fm], a, z)
            ls = sum_affine(launch, 0.0, a, z)
            gpu = cs + ms
        else:
            cs, ms, ls = envelope_sums([f0 * fc, d0 * fm, launch], [f1 * fc, d1 * fm, 0.0], a, z)
            gpu = sum(envelope_sums([f0 * fc, d0 * fm], [f1 * fc, d1 * fm], a, z))
        piece = TimeSplit(cs, ms, np.asarray(ls, dtype=float), busy_c, gpu)
        total = piece if total is None else total + piece
    assert total is not None
    return total


def _is_zero(x: ArrayLike) -> bool:
    return not np.any(np.asarray(x) != 0.0)


@dataclass(frozen=True)
class Work:
    """FLOPs, bytes and kernel launches of a phase (arrays over the grid): the "work" energy model's input."""

    flops: ArrayLike
    bytes: ArrayLike
    kernels: ArrayLike


def energy_j(split: TimeSplit, params: ModelParams, work: Work | None = None) -> np.ndarray:
    """Idle power over the whole time plus the active power of each bound class ("bound"), of the busy
    units ("continuous") or the energy of the work done ("work"); see `ModelParams`."""
    if params.energy_model == "continuous":
        gpu = split.gpu_busy
        return (
            params.p_idle_w * split.latency_s
            + params.p_memory_w * gpu
            + (params.p_compute_w - params.p_memory_w) * split.compute_busy
            + params.p_launch_w * (split.latency_s - gpu)
        )
    if params.energy_model == "work":
        if work is None:
            raise ValueError("the work energy model needs the phase's FLOPs, bytes and kernels")
        return (
            params.p_idle_w * split.latency_s
            + np.asarray(work.flops, dtype=float) * params.energy_per_flop_pj * 1e-12
            + np.asarray(work.bytes, dtype=float) * params.energy_per_byte_pj * 1e-12
            + np.asarray(work.kernels, dtype=float) * params.energy_per_kernel_uj * 1e-6
        )
    return (
        params.p_idle_w * split.latency_s
        + params.p_compute_w * split.compute_s
        + params.p_memory_w * split.memory_s
        + params.p_launch_w * split.launch_s
    )
