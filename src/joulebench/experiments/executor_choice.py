"""The executors a command can choose from (``--executor local|ray`` and their options): a registry by
name, the user's choice checked before anything runs, and the chosen executor opened and closed.

Why apart from `experiments.executors`: Ray's executor builds on the job vocabulary there, and the
choice between the two sits above both (``ray`` is imported only when asked for, so that it stays an
optional dependency).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from joulebench.errors import UsageError
from joulebench.experiments.executors import DEFAULT_RETRIES, Executor, LocalExecutor


def _ray(**options: Any) -> Executor:
    from joulebench.experiments.ray_executor import RayExecutor

    return RayExecutor(**options)


#: executors by name; each takes its own keyword options (``ray``: address, gpu_type, retries, ...)
EXECUTORS: dict[str, Callable[..., Executor]] = {"local": lambda **_: LocalExecutor(), "ray": _ray}


@dataclass(frozen=True)
class ExecutorChoice:
    """Which executor a command runs its plans on, as the user asked (``--executor`` and its options);
    `check` refuses combinations that cannot mean anything, before anything runs."""

    name: str = "local"
    ray_address: str | None = None
    gpu_type: str | None = None
    ray_retries: int = DEFAULT_RETRIES

    def check(self, device: str, gpus: Sequence[int] | None = None) -> ExecutorChoice:
        if self.name not in EXECUTORS:
            raise UsageError.bad("executor", self.name, f"unknown; allowed: {', '.join(EXECUTORS)}")
        if self.name != "ray":
            for field, value, default in (("ray_address", self.ray_address, None), ("gpu_type", self.gpu_type, None),
                                          ("ray_retries", self.ray_retries, DEFAULT_RETRIES)):
                if value != default:
                    raise UsageError.bad(field, value, "only with --executor ray")
            return self
        if self.gpu_type is not None and not device.startswith("cuda"):
            raise UsageError.bad("gpu_type", self.gpu_type, f"only for CUDA points; the device is {device}")
        if gpus:
            raise UsageError.bad("gpus", ",".join(map(str, gpus)), "with --executor ray each worker meters the "
                                 "GPU Ray gives it; leave --gpus out (--gpu-type selects the kind of GPU)")
        return self


@contextmanager
def open_executor(choice: ExecutorChoice, device: str, gpus: Sequence[int] | None = None) -> Iterator[Executor]:
    """The chosen executor, validated against the plan's ``device`` (a Ray cluster without a fitting GPU
    is refused here, before anything is written), closed at the end (Ray workers ended)."""
    choice.check(device, gpus)
    if choice.name == "local":
        yield LocalExecutor()
        return
    executor = EXECUTORS[choice.name](address=choice.ray_address, gpu_type=choice.gpu_type,
                                      retries=choice.ray_retries)
    try:
        executor.check(device.startswith("cuda"))  # type: ignore[attr-defined]
        yield executor
    finally:
        executor.close()
