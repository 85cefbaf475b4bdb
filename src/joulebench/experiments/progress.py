"""The progress view every sweep shares: a rich bar on stderr with the point, its phase and live watts.

Labels are escaped before rich sees them: a model or arm name such as ``[/x]`` is text, not markup.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from joulebench.experiments.sweep_values import PointOutcome
from joulebench.report.console import console as make_console
from joulebench.values import Point


class ProgressObserver:
    """A `SweepObserver` drawing one bar for all the points of one command (several sweeps may share it)."""

    def __init__(self, total: int, quiet: bool = False, title: str = "points") -> None:
        self.console = make_console(stderr=True, quiet=quiet)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=self.console, transient=False,
        )
        self.title = title
        self.task: TaskID = self.progress.add_task(title, total=total, status="")
        self.monitor: Any = None

    def __enter__(self) -> ProgressObserver:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _watts(self) -> str:
        read = getattr(self.monitor, "latest_gpu_power_w", None)
        power = read() if callable(read) else None
        return f"GPU {power:.0f} W" if power is not None else ""

    def sweep_started(self, total: int, monitor: Any) -> None:
        self.monitor = monitor

    def point_started(self, index: int, point: Point) -> None:
        self.progress.update(self.task, description=escape(point.label()), status=f"start {self._watts()}")

    def point_finished(self, index: int, outcome: PointOutcome) -> None:
        self.progress.advance(self.task)
        if outcome.status == "failed":
            self.console.print(f"[red]failed[/red] {escape(outcome.point.label())}: {escape(str(outcome.error))}")
        elif outcome.status == "claimed":
            self.console.print(f"[yellow]skipped[/yellow] {escape(outcome.point.label())}: {outcome.error}")
        self.progress.update(self.task, description=self.title, status=f"{outcome.status} {self._watts()}")

    def repetition(self, phase: str, index: int, latency_s: float) -> None:
        self.progress.update(self.task, status=f"{escape(phase)} rep {index} {latency_s * 1e3:.1f} ms {self._watts()}")


class LineObserver:
    """A `SweepObserver` that prints one plain line per finished point (device logs, scripts)."""

    def sweep_started(self, total: int, monitor: Any) -> None:
        self.total = total

    def point_started(self, index: int, point: Point) -> None:
        return None

    def point_finished(self, index: int, outcome: PointOutcome) -> None:
        detail = f": {outcome.error}" if outcome.error else ""
        print(f"[{outcome.status} {index + 1}/{self.total}] {outcome.point.label()}{detail}", flush=True)

    def repetition(self, phase: str, index: int, latency_s: float) -> None:
        return None
