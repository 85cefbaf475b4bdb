"""Shared fixtures: recorded NVML counter streams (real readings from an H200, see
docs/validation/issue2) and a tiny-model environment."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def load_stream(label: str) -> dict[str, Any]:
    return json.loads((DATA / f"nvml_stream_{label}.json").read_text())


@pytest.fixture(params=["40ms", "5ms"])
def recorded_stream(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load_stream(request.param)
