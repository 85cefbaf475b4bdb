"""What a measurement ran on: stored with every run so that numbers can be compared honestly."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
from typing import Any

import psutil

from joulebench.interrupts import deferred
from joulebench.meters.estimates import cpu_model_name
from joulebench.meters.monitor import EnergyMonitor

_LIBRARIES = ("torch", "transformers", "diffusers", "nvidia-ml-py", "numpy", "httpx", "joulebench")


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in _LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    try:
        with deferred():  # the first heavy import of a sweep: a Ctrl-C inside it is raised once it is whole
            import torch

        out["torch_runtime"] = torch.__version__
        out["cuda"] = torch.version.cuda
    except ImportError:
        pass
    return out


def capture(monitor: EnergyMonitor | None = None) -> dict[str, Any]:
    """Host, GPU state at start (name, driver, power limit, clocks), meters in use, library versions."""
    env: dict[str, Any] = {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": cpu_model_name(),
        "cpu_logical": psutil.cpu_count(logical=True),
        "ram_bytes": psutil.virtual_memory().total,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "libraries": library_versions(),
    }
    if monitor is not None:
        env["gpus"] = [s.to_dict() for s in monitor.gpu_states]
        env["meters"] = [
            {"component": m.component, "device": m.device, "source": m.source, "estimated": m.estimated}
            for m in monitor.meters
        ]
    return env


def gpu_name(env: dict[str, Any]) -> str | None:
    gpus = env.get("gpus") or []
    return gpus[0]["name"] if gpus else None
