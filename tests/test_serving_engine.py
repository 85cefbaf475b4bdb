"""In-process engines on CPU with the tiny random-weight Llama: exact lengths, per-token times, knobs."""

from __future__ import annotations

import pytest

from joulebench.errors import UsageError
from joulebench.serving.arrivals import parse_arrival, schedule
from joulebench.serving.metrics import summarize
from joulebench.serving.prompts import parse_lengths, parse_prompts
from joulebench.workloads.engine import ENGINES, EngineConfig, load_for_engine
from joulebench.workloads.serving_engines import ENGINE_CLASSES, open_engine

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def loaded():
    return load_for_engine(EngineConfig("tiny-llama", device="cpu"))


def _specs(n: int):
    return parse_prompts("synthetic:8-24").build(n, parse_lengths("2-4", "o"), seed=0, vocab_size=384)


@pytest.mark.parametrize("engine", ["sequential", "transformers"])
def test_engine_serves_exact_lengths_with_token_times(loaded, engine: str) -> None:
    knobs = {"max_batch_tokens": 128, "num_blocks": 32, "page_size": 16} if engine == "transformers" else {}
    config = EngineConfig("tiny-llama", engine, device="cpu", knobs=knobs)
    eng = open_engine(config, loaded)
    specs = _specs(3)
    result = eng.run(specs, schedule(parse_arrival("fixed:20ms"), 3), max_duration_s=60)
    assert [r.status for r in result.records] == ["ok"] * 3
    for r, s in zip(result.records, specs, strict=True):
        assert r.output_tokens == s.max_output_tokens  # EOS ignored
        assert r.prompt_tokens == s.prompt_tokens
        assert sum(r.chunk_tokens) == r.output_tokens
        assert r.target_s <= r.send_s <= r.admit_s <= r.first_token_s <= r.end_s + 1e-6
        assert r.chunk_times_s == sorted(r.chunk_times_s)
    summary = summarize(result.records)
    assert summary["completed"] == 3 and summary["ttft_s"]["count"] == 3
    knobs = eng.knobs()
    assert "attn_implementation" in knobs
    if engine == "transformers":
        assert knobs["requested"]["max_batch_tokens"] == 128
        assert knobs["continuous_batching_config"]["num_blocks"] == 32


def test_sequential_serves_in_arrival_order(loaded) -> None:
    eng = open_engine(EngineConfig("tiny-llama", "sequential", device="cpu"), loaded)
    result = eng.run(_specs(3), [0.0, 0.0, 0.0])
    admits = [r.admit_s for r in result.records]
    ends = [r.end_s for r in result.records]
    assert admits == sorted(admits)
    assert all(ends[i] <= admits[i + 1] for i in range(2))  # one at a time


def test_engine_config_validation() -> None:
    assert set(ENGINE_CLASSES) == set(ENGINES)  # every name a config accepts opens an engine
    with pytest.raises(UsageError, match="engine"):
        EngineConfig("tiny-llama", "vllm").validate()
    with pytest.raises(UsageError, match="dtype"):
        EngineConfig("tiny-llama", dtype="int3").validate()
    with pytest.raises(UsageError, match="num_blocks"):
        EngineConfig("tiny-llama", knobs={"num_blocks": 0}).validate()
