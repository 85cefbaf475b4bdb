"""Energy windows and per-request attribution (sums to the window), steady state, DCGM polling."""

from __future__ import annotations

import time

import numpy as np
import pytest

from joulebench.meters.monitor import EnergyMonitor, MonitorConfig
from joulebench.serving.dcgm import DcgmPoller, parse_energy_mj
from joulebench.serving.energy import energy_report, steady_window
from joulebench.serving.records import RequestRecord
from joulebench.values import Reading
from tests.loopback_server import ServerConfig, StreamingTestServer


class PiecewisePower:
    """A fake energy source: power per component as a function of time (integrated exactly)."""

    def __init__(self, power_w) -> None:
        self.power_w = power_w  # dict component -> callable(t) -> W, integrated numerically
        self.components = list(power_w)

    def _energy(self, component: str, t0: float, t1: float) -> float:
        ts = np.linspace(t0, t1, 2001)
        return float(np.trapezoid([self.power_w[component](t) for t in ts], ts))

    def energy_between(self, t0_s: float, t1_s: float) -> dict[str, Reading]:
        return {
            c: Reading(c, self._energy(c, t0_s, t1_s), t1_s - t0_s, "fake", True) for c in self.components
        }


def rec(index: int, start: float, first: float, token_times: list[float], prompt: int = 10) -> RequestRecord:
    r = RequestRecord(
        index, start, prompt, len(token_times), send_s=start, first_token_s=first, end_s=token_times[-1]
    )
    for t in token_times:
        r.add_chunk(t, 1)
    r.prompt_tokens, r.output_tokens, r.status = prompt, len(token_times), "ok"
    return r


def overlapping_records() -> list[RequestRecord]:
    return [
        rec(0, 0.0, 0.2, [0.2, 0.4, 0.6, 0.8, 1.0]),
        rec(1, 0.3, 0.5, [0.5, 0.7, 0.9, 1.1], prompt=40),
        rec(2, 1.5, 1.6, [1.6, 1.8]),  # after an idle gap (1.1 .. 1.5)
    ]


def test_attribution_sums_to_window_energy() -> None:
    source = PiecewisePower({"gpu": lambda t: 100.0 + 50.0 * np.sin(t), "cpu": lambda t: 20.0})
    records = overlapping_records()
    summary, per_request = energy_report(records, source)
    window = source.energy_between(0.0, 1.8)
    for component in ("gpu", "cpu"):
        total = sum(per_request[r.index][component] for r in records)
        assert total == pytest.approx(window[component].energy_j, rel=1e-3)
        assert summary["attribution"]["attributed_j"][component] == pytest.approx(total)
    assert summary["window"]["duration_s"] == pytest.approx(1.8)
    assert summary["energy_per_completed_request_j"] == pytest.approx(summary["window"]["energy_j"] / 3)


def test_lone_request_takes_its_interval_and_weights_matter() -> None:
    source = PiecewisePower({"gpu": lambda t: 100.0})
    alone = [rec(0, 0.0, 0.5, [0.5, 1.0]), rec(1, 2.0, 2.5, [2.5, 3.0])]
    _, shares = energy_report(alone, source)
    # 300 J in total; each request was alone for 1 s (100 J), the 1 s idle gap is split 50/50
    assert shares[0]["gpu"] == pytest.approx(150.0, rel=1e-3)
    assert shares[1]["gpu"] == pytest.approx(150.0, rel=1e-3)
    both = [rec(0, 0.0, 1.0, [1.0], prompt=30), rec(1, 0.0, 1.0, [1.0], prompt=10)]
    _, shares = energy_report(both, source, prefill_weight=1.0)
    assert shares[0]["gpu"] / shares[1]["gpu"] == pytest.approx(3.0, rel=1e-3)  # by prefill tokens


def test_attribution_with_the_real_monitor_sums_exactly() -> None:
    with EnergyMonitor.open(MonitorConfig(gpus=[], cpu=True, ram=True)) as monitor:
        t = time.perf_counter()
        records = [
            rec(i, t + r.send_s, t + r.first_token_s, [t + x for x in r.chunk_times_s], r.prompt_tokens)
            for i, r in enumerate(overlapping_records())
        ]
        time.sleep(1.9)
        monitor.wait_for_update(t + 1.9)
        summary, per_request = energy_report(records, monitor)
        window = monitor.energy_between(t + 0.0, t + 1.8)
    for component, reading in window.items():
        assert sum(p[component] for p in per_request.values()) == pytest.approx(reading.energy_j, rel=1e-9)
    assert summary["estimated_components"]  # CPU-only box: labelled estimates


def test_steady_window_skips_ramp_and_drain() -> None:
    # requests of 0.95 s started every 0.1 s for 2.9 s: N ramps 1..10, holds at 9-10, drains
    records = [
        rec(i, 0.1 * i, 0.1 * i + 0.05, [0.1 * i + 0.05 + 0.05 * k for k in range(19)]) for i in range(10)
    ]
    records += [
        rec(10 + i, 1.0 + 0.1 * i, 1.05 + 0.1 * i, [1.05 + 0.1 * i + 0.05 * k for k in range(19)])
        for i in range(20)
    ]
    window = steady_window(records)
    assert window is not None
    assert window.level in (9, 10)
    assert 0.75 <= window.begin_s <= 0.95  # the ramp is excluded
    assert 2.9 <= window.end_s <= 3.1  # the drain after the last send (2.9 s) is excluded


DCGM_TEXT = """# HELP DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION Total energy consumption since boot (in mJ).
# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter
DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{gpu="0",UUID="GPU-aaaa",device="nvidia0",modelName="NVIDIA H100"}} {e0}
DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{gpu="1",UUID="GPU-bbbb",device="nvidia1",modelName="NVIDIA H100"}} {e1}
DCGM_FI_DEV_GPU_UTIL{{gpu="0",UUID="GPU-aaaa"}} 97
"""


def test_parse_dcgm_text() -> None:
    assert parse_energy_mj(DCGM_TEXT.format(e0=1500, e1=2500)) == {"0": 1500.0, "1": 2500.0}


def test_dcgm_poller_against_a_local_exporter() -> None:
    t_start = time.perf_counter()

    def metrics() -> str:  # 300 W on gpu0, 100 W on gpu1, updated every 20 ms like a fast exporter
        t = round((time.perf_counter() - t_start) / 0.02) * 0.02
        return DCGM_TEXT.format(e0=int(1e9 + 300_000 * t), e1=int(5e8 + 100_000 * t))

    with StreamingTestServer(ServerConfig(metrics_text=metrics)) as srv:
        poller = DcgmPoller(f"{srv.url}/metrics", period_s=0.01).start()
        only0 = DcgmPoller(f"{srv.url}/metrics", gpus=[0], period_s=0.01).start()
        t0 = time.perf_counter()
        time.sleep(0.6)
        t1 = time.perf_counter()
        time.sleep(0.1)
        poller.close()
        only0.close()
    both = poller.energy_between(t0, t1)["gpu"]
    assert both.source == "dcgm-exporter" and not both.estimated
    assert both.energy_j == pytest.approx(400.0 * (t1 - t0), rel=0.1)
    assert only0.energy_between(t0, t1)["gpu"].energy_j == pytest.approx(300.0 * (t1 - t0), rel=0.1)
