"""GPU energy of a remote server from NVIDIA's DCGM exporter (Prometheus text format).

For a server on another host the local NVML cannot see its GPUs; the DCGM exporter publishes
``DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION`` (millijoules since the driver loaded, one series per ``gpu``
label). A background thread polls the URL and appends (local perf_counter time, cumulative joules) per
GPU to the same `EnergyTrace` the local meters use, so edge detection, interpolation and the serving
energy arithmetic are shared. Counter resets (driver reload) are undone by `WrapTracker`.

Accuracy depends on the exporter's own collection interval (``dcgm-exporter -c``, 30 s by default):
set it to 100-1000 ms for serving runs. Each value is stamped at the time our poll received it, so the
window edges are late by up to one collection interval plus the network delay; runs much longer than
that interval are needed for a figure to mean anything, and the source is labelled ``dcgm-exporter``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence

import httpx
import numpy as np

from joulebench.errors import UsageError
from joulebench.meters.base import WrapTracker
from joulebench.meters.trace import EnergyTrace
from joulebench.serving.specs import parse_url
from joulebench.values import Reading

METRIC = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"
_LINE_RE = re.compile(rf"^{METRIC}\{{(?P<labels>[^}}]*)\}}\s+(?P<value>[-+0-9.eE]+)")
_LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_energy_mj(text: str) -> dict[str, float]:
    """Cumulative energy in mJ per ``gpu`` label from one scrape."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        match = _LINE_RE.match(line.strip())
        if match is None:
            continue
        labels = dict(_LABEL_RE.findall(match.group("labels")))
        gpu = labels.get("gpu", labels.get("UUID", str(len(out))))
        out[gpu] = float(match.group("value"))
    return out


class DcgmPoller:
    """Polls a DCGM exporter; quacks like `EnergyMonitor` for the serving energy arithmetic."""

    def __init__(
        self, url: str, gpus: Sequence[int] | None = None, period_s: float = 0.1, timeout_s: float = 2.0
    ) -> None:
        self.url = parse_url(url, "dcgm_url")
        self.gpus = None if gpus is None else {str(g) for g in gpus}
        self.period_s = period_s
        self._client = httpx.Client(timeout=timeout_s)
        self.traces: dict[str, EnergyTrace] = {}
        self._trackers: dict[str, WrapTracker] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0
        self.last_error: str | None = None

    @property
    def components(self) -> list[str]:
        return ["gpu"]

    def poll_once(self) -> None:
        try:
            response = self._client.get(self.url)
            now = time.perf_counter()
            response.raise_for_status()
        except httpx.HTTPError as exc:
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            return
        for gpu, value_mj in parse_energy_mj(response.text).items():
            if self.gpus is not None and gpu not in self.gpus:
                continue
            tracker = self._trackers.setdefault(gpu, WrapTracker())
            self.traces.setdefault(gpu, EnergyTrace()).append(now, tracker.update(value_mj / 1000.0))

    def start(self) -> DcgmPoller:
        self.poll_once()
        if not self.traces:
            raise UsageError.bad(
                "dcgm_url", self.url, f"no {METRIC} series found" + (f" ({self.last_error})" if self.last_error else "")
            )
        self._thread = threading.Thread(target=self._run, name="joulebench-dcgm", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            self.poll_once()
            self._stop.wait(max(0.0, self.period_s - (time.perf_counter() - started)))

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        self.poll_once()
        self._client.close()

    def cumulative_j(self, times_s: np.ndarray) -> dict[str, np.ndarray]:
        total = np.zeros_like(times_s, dtype=float)
        for trace in self.traces.values():
            edges = trace.edges()
            if len(edges):
                total += np.interp(times_s, edges.t_s, edges.energy_j)
        return {"gpu": total - total[0]}

    def energy_between(self, t0_s: float, t1_s: float) -> dict[str, Reading]:
        energy = float(np.diff(self.cumulative_j(np.array([t0_s, t1_s]))["gpu"])[0])
        devices = tuple(f"dcgm:gpu{g}" for g in sorted(self.traces))
        return {"gpu": Reading("gpu", energy, t1_s - t0_s, "dcgm-exporter", False, devices)}
