"""In-process engines on CPU with the tiny random-weight Llama: exact lengths, per-token times, knobs."""

from __future__ import annotations

import pytest

from joulebench.errors import UsageError
from joulebench.serving.arrivals import parse_arrival, schedule
from joulebench.serving.metrics import summarize
from joulebench.serving.prompts import parse_lengths, parse_prompts
from joulebench.workloads.cb_graphs import graph_census
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
        # the census read the real manager's graph store (None would mean this transformers moved it);
        # no graph backend on CPU, so nothing was captured and there is no bound to give
        assert knobs["cuda_graphs"] == {"census": graph_census([]), "bound": None}


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


def test_a_failed_generation_loop_frees_its_manager(loaded, monkeypatch) -> None:
    """A forward that raises (standing in for the H200's CUDA OOM, which CI cannot have) fails every request,
    and the run itself frees the manager, whose kept error holds the KV cache: the next arm is sized from
    the memory left, and on the H200 an OOM'd arm left the next one no cache (run_e, 2026-12-03). With
    torch 2.13 something outside the manager also keeps the error's traceback, so the frames are cleared."""
    import weakref

    knobs = {"max_batch_tokens": 128, "num_blocks": 32, "page_size": 16}
    eng = open_engine(EngineConfig("tiny-llama", "transformers", device="cpu", knobs=knobs, warmup=False), loaded)
    managers = []
    opened = eng._open

    def spy():
        manager = opened()
        managers.append(weakref.ref(manager))
        return manager

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory (injected)")

    monkeypatch.setattr(eng, "_open", spy)
    monkeypatch.setattr(loaded.model, "forward", out_of_memory)
    failed = eng.run(_specs(2), [0.0, 0.0], max_duration_s=30)
    assert [r.status for r in failed.records] == ["error", "error"]
    assert "out of memory" in failed.records[0].error
    assert managers[0]() is None  # freed by the run, not left to a later collection
    monkeypatch.undo()
    again = eng.run(_specs(2), [0.0, 0.0], max_duration_s=60)
    assert [r.status for r in again.records] == ["ok", "ok"]


def test_a_dead_generation_loop_ends_the_run_and_fails_what_it_stranded(loaded, monkeypatch) -> None:
    """run_f (H100): a CUDA-graph capture ran out of memory 30 s into an arm of requests every 300 ms; the
    manager's thread died, and the run waited out its bound for results that could not come, the requests
    still to arrive counted as cut by time. Now the run ends when the thread dies (a forward that raises
    stands in for the OOM, which CI cannot have), and every request it stranded is an error of the engine."""
    knobs = {"max_batch_tokens": 128, "num_blocks": 32, "page_size": 16}
    eng = open_engine(EngineConfig("tiny-llama", "transformers", device="cpu", knobs=knobs, warmup=False), loaded)

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory (injected)")

    monkeypatch.setattr(loaded.model, "forward", out_of_memory)
    result = eng.run(_specs(3), [0.0, 30.0, 30.0], max_duration_s=60)
    assert [r.status for r in result.records] == ["error"] * 3 and not result.stopped_by_max_duration
    assert [r.send_s is None for r in result.records] == [False, True, True]  # never sent to a dead engine
    assert all("engine stopped" in r.error and "out of memory" in r.error for r in result.records[1:])


def test_the_sdpa_cudnn_knob_is_set_for_the_run_and_restored() -> None:
    from joulebench.workloads.cb_engine import _sdpa_cudnn

    before = torch.backends.cuda.cudnn_sdp_enabled()
    with _sdpa_cudnn(not before):
        assert torch.backends.cuda.cudnn_sdp_enabled() is (not before)
    assert torch.backends.cuda.cudnn_sdp_enabled() is before
    with _sdpa_cudnn(None):
        assert torch.backends.cuda.cudnn_sdp_enabled() is before
    assert EngineConfig("tiny-llama", knobs={"sdpa_cudnn": "off"}).resolved_knobs() == {"sdpa_cudnn": False}
    with pytest.raises(UsageError, match="sdpa_cudnn"):
        EngineConfig("tiny-llama", knobs={"sdpa_cudnn": 2}).resolved_knobs()
