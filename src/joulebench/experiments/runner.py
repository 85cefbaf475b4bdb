"""Run a plan point by point: skip what the store already has, keep every finished point.

The runner is the only writer of measurement results: workloads return a `PointResult` and the runner
stores it in one transaction. An out-of-memory or other failure of one point is stored as a failed
point with its reason and the sweep goes on; Ctrl-C or a kill leaves the unfinished point unwritten
(its transaction never began) and every finished point intact, so re-running the same plan resumes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from joulebench.measurement import PointResult
from joulebench.store import Store, point_key
from joulebench.workloads.device import free_device_memory


@dataclass
class RunSummary:
    run_id: int
    done: list[dict[str, Any]] = field(default_factory=list)  # {"config", "summary", "point_id"}
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)


def is_out_of_memory(exc: BaseException) -> bool:
    try:
        import torch

        if isinstance(exc, torch.OutOfMemoryError):
            return True
    except ImportError:
        pass
    return "out of memory" in str(exc).lower()


EventFn = Callable[[str, int, Mapping[str, Any], Any], None]


class Runner:
    """Executes points of one kind (``llm``, ``video``, ``serving``) into a store."""

    def __init__(self, store: Store, kind: str, command: str, plan: Mapping[str, Any],
                 env: Mapping[str, Any], on_event: EventFn | None = None) -> None:
        self.store = store
        self.kind = kind
        self.run_id = store.begin_run(kind, command, plan, env)
        self.on_event = on_event

    def set_baseline(self, baseline: Mapping[str, Any]) -> None:
        self.store.set_baseline(self.run_id, baseline)

    def run(self, points: Sequence[Mapping[str, Any]],
            execute: Callable[[Mapping[str, Any]], PointResult]) -> RunSummary:
        summary = RunSummary(self.run_id)
        for index, config in enumerate(points):
            key = point_key(self.kind, config)
            if self.store.has_point(key):
                summary.skipped.append({"config": dict(config)})
                self._emit("skip", index, config, None)
                continue
            self._emit("start", index, config, None)
            try:
                result = execute(config)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # noqa: BLE001 - one bad point must not end the sweep
                reason = f"{'out of memory' if is_out_of_memory(exc) else type(exc).__name__}: {exc}"
                free_device_memory()
                self.store.save_point(self.run_id, self.kind, config, {}, status="failed",
                                      error=reason[:2000], key=key)
                summary.failed.append({"config": dict(config), "error": reason})
                self._emit("failed", index, config, reason)
                continue
            point_id = self.store.save_point(self.run_id, self.kind, config, result.summary,
                                             result.measurements, result.records, key=key)
            summary.done.append({"config": dict(config), "summary": result.summary, "point_id": point_id})
            self._emit("done", index, config, result)
        return summary

    def _emit(self, event: str, index: int, config: Mapping[str, Any], payload: Any) -> None:
        if self.on_event is not None:
            self.on_event(event, index, config, payload)
