"""Energy against latency over a sweep of arrival rates (or concurrency caps): the Pareto front and
the rate that costs the fewest joules per request while meeting the user's latency SLOs.

Why p90: a rate that halves J/request by doubling the tail of TTFT is a choice a service makes with
its eyes open; the front shows every rate that no other rate beats on all three of J/request, p90
TTFT and p90 TPOT, and ``best_within_slo`` picks, among the arms whose p90 TTFT and p90 TPOT meet the
SLOs, the one with the lowest J/request (arms that failed their own checks never qualify).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ParetoPoint:
    arm: str
    rate_per_s: float | None
    j_per_request: float | None
    ttft_p90_s: float | None
    tpot_p90_s: float | None
    ok: bool

    def usable(self) -> bool:
        return self.ok and None not in (self.j_per_request, self.ttft_p90_s, self.tpot_p90_s)


def point_of(summary: Mapping[str, Any]) -> ParetoPoint:
    head = summary.get("headline") or {}
    wh = head.get("wh_per_request")
    return ParetoPoint(
        arm=str(summary.get("arm")),
        rate_per_s=(summary.get("arrival") or {}).get("mean_rate_per_s"),
        j_per_request=None if wh is None else wh * 3600.0,
        ttft_p90_s=head.get("ttft_p90_s"),
        tpot_p90_s=head.get("tpot_p90_s"),
        ok=not summary.get("check_failures") and "error" not in summary,
    )


def _dominates(a: ParetoPoint, b: ParetoPoint) -> bool:
    pairs = [(a.j_per_request, b.j_per_request), (a.ttft_p90_s, b.ttft_p90_s), (a.tpot_p90_s, b.tpot_p90_s)]
    return all(x <= y for x, y in pairs) and any(x < y for x, y in pairs)  # type: ignore[operator]


def pareto(summaries: Sequence[Mapping[str, Any]], slo_s: Mapping[str, float] | None = None) -> dict[str, Any]:
    """The front (arm names), and the best arm within ``slo_s`` (``{"ttft": s, "tpot": s}``, p90 bounds)."""
    points = [point_of(s) for s in summaries]
    usable = [p for p in points if p.usable()]
    front = [p for p in usable if not any(_dominates(q, p) for q in usable if q is not p)]
    limits = dict(slo_s or {})
    within = [
        p for p in usable
        if p.ttft_p90_s <= limits.get("ttft", float("inf")) and p.tpot_p90_s <= limits.get("tpot", float("inf"))  # type: ignore[operator]
    ]
    best = min(within, key=lambda p: p.j_per_request) if within else None  # type: ignore[arg-type,return-value]
    return {
        "points": [asdict(p) for p in sorted(points, key=lambda p: (p.rate_per_s is None, p.rate_per_s or 0.0))],
        "front": [p.arm for p in sorted(front, key=lambda p: p.j_per_request)],  # type: ignore[arg-type,return-value]
        "slo_p90_s": limits,
        "best_within_slo": None if best is None else asdict(best),
        "rule": "front: no other arm is lower on all of J/request, p90 TTFT, p90 TPOT; best: lowest J/request "
        "among arms whose p90 TTFT and TPOT meet the SLOs",
    }
