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


#: the released Wan2.1-T2V-1.3B transformer config (diffusers), written out here independently of the
#: bundled copy so that video tests do not depend on that file
WAN_13B_TRANSFORMER: dict[str, Any] = {
    "_class_name": "WanTransformer3DModel",
    "patch_size": [1, 2, 2],
    "num_attention_heads": 12,
    "attention_head_dim": 128,
    "in_channels": 16,
    "out_channels": 16,
    "text_dim": 4096,
    "freq_dim": 256,
    "ffn_dim": 8960,
    "num_layers": 30,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
}


def load_stream(label: str) -> dict[str, Any]:
    return json.loads((DATA / f"nvml_stream_{label}.json").read_text())


@pytest.fixture(params=["40ms", "5ms"])
def recorded_stream(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load_stream(request.param)
