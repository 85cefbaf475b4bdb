"""joulebench: measure and predict the latency and energy of generative-AI inference."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "measure"]


def __getattr__(name: str):  # lazy: importing joulebench must not import torch or NVML
    if name == "measure":
        from joulebench.meters.api import measure

        return measure
    raise AttributeError(name)
