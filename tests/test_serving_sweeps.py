"""Rate and knob sweeps, the energy/latency Pareto, engine knobs and presets, prefix-cache accounting."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from joulebench.errors import UsageError
from joulebench.experiments.serving_arms import ArmSpec, knob_sweep, rate_sweep
from joulebench.serving.pareto import pareto
from joulebench.workloads.engine import EngineConfig, parse_knobs
from tests.loopback_server import ServerConfig, StreamingTestServer
from tests.serving_helpers import run_cli


def summary(arm: str, rate: float, wh: float, ttft: float, tpot: float, failed: bool = False) -> dict:
    return {"arm": arm, "arrival": {"mean_rate_per_s": rate}, "check_failures": ["x"] if failed else [],
            "headline": {"wh_per_request": wh, "ttft_p90_s": ttft, "tpot_p90_s": tpot}}


def test_pareto_front_and_the_cheapest_rate_within_the_slo() -> None:
    arms = [
        summary("r1", 1, 0.010, 0.10, 0.020),  # fast, expensive
        summary("r2", 2, 0.006, 0.20, 0.030),
        summary("r4", 4, 0.004, 0.90, 0.060),  # cheap, slow
        summary("r3", 3, 0.007, 0.30, 0.040),  # dominated by r2
        summary("r8", 8, 0.001, 0.05, 0.010, failed=True),  # failed its checks: never chosen
    ]
    result = pareto(arms, {"ttft": 0.5, "tpot": 0.05})
    assert result["front"] == ["r4", "r2", "r1"]
    assert result["best_within_slo"]["arm"] == "r2"
    assert result["best_within_slo"]["j_per_request"] == pytest.approx(0.006 * 3600)
    assert pareto(arms, {"ttft": 0.01})["best_within_slo"] is None
    assert pareto(arms)["best_within_slo"]["arm"] == "r4"


def test_rate_and_knob_sweeps_make_one_arm_per_value() -> None:
    base = ArmSpec("a", "burst", 4, url="http://127.0.0.1:1", model="m")
    arms = rate_sweep(base, "1/s,500/min", "fixed")
    assert [a.arrival for a in arms] == ["fixed:1s", "fixed:0.12s"] and len({a.name for a in arms}) == 2
    assert [a.arrival for a in rate_sweep(base, "2/s")] == ["poisson:2/s"]
    # one server serves the whole sweep: each arm's prompts are its own, so no arm hits the cache of another
    salts = [a.prompt_salt for a in rate_sweep(base, "1/s,2/s,3/s")]
    assert len(set(salts)) == 3 and 0 not in salts  # every arm's prompts its own
    assert salts == [a.prompt_salt for a in rate_sweep(base, "1/s,2/s,3/s")]  # the same when planned again
    assert not set(salts) & {a.prompt_salt for a in rate_sweep(replace(base, prompt_salt=5), "1/s,2/s,3/s")}
    with pytest.raises(UsageError, match="sweep"):
        knob_sweep(base, "max_batch_tokens=1,2")
    engine = ArmSpec("e", "burst", 4, engine=EngineConfig("tiny-llama", knobs={"page_size": 16}))
    arms = knob_sweep(engine, "max_batch_tokens=128,256")
    assert [a.engine.resolved_knobs() for a in arms] == [
        {"page_size": 16, "max_batch_tokens": 128}, {"page_size": 16, "max_batch_tokens": 256}]


def test_knobs_parse_merge_with_presets_and_refuse_nonsense() -> None:
    knobs = parse_knobs(["max_batch_tokens=512", "use-cuda-graph=off", "scheduler=prefill_first", "kv_padding=auto"])
    config = EngineConfig("tiny-llama", knobs=knobs, preset="graphs-no-kv-padding")
    # explicit knobs win over the preset; "auto" gives a knob back to the library (kv_padding dropped)
    assert config.validate().resolved_knobs() == {
        "use_cuda_graph": False, "q_padding": 64, "max_batch_tokens": 512, "scheduler": "prefill_first"}
    assert config.to_dict()["knobs"]["max_batch_tokens"] == 512 and config.to_dict()["dtype"] == "fp32"
    for bad, fragment in [({"num_blocks": "x"}, "integer"), ({"safety_margin": 2}, "from 0"),
                          ({"attn_implementation": "flex"}, "allowed"), ({"use_cuda_graph": "maybe"}, "true or false")]:
        with pytest.raises(UsageError, match=fragment):
            EngineConfig("tiny-llama", knobs=bad).validate()
    with pytest.raises(UsageError, match="transformers only"):
        EngineConfig("tiny-llama", "sequential", knobs={"num_blocks": 4}).validate()
    with pytest.raises(UsageError, match="engine_knob"):
        parse_knobs(["warp=9"])


def test_rates_sweep_end_to_end_prints_the_pareto(tmp_path, capsys) -> None:
    with StreamingTestServer(ServerConfig(ttft_s=0.002, itl_s=0.001)) as srv:
        argv = ["serve-bench", "--url", srv.url, "--model", "m", "--requests", "6", "--rates", "50/s,100/s",
                "--rate-law", "fixed", "--prompts", "synthetic:8", "--output-tokens", "3", "--slo", "ttft:1s,tpot:1s",
                "--db", str(tmp_path / "r.db"), "--json"]
        assert run_cli(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [a["arrival"]["spec"] for a in doc["arms"]] == ["fixed:0.02s", "fixed:0.01s"]
    assert {p["arm"] for p in doc["pareto"]["points"]} == {"arm@50per_s", "arm@100per_s"}
    assert doc["pareto"]["best_within_slo"]["arm"] in ("arm@50per_s", "arm@100per_s")


def test_prefix_cache_is_controllable_and_recorded(tmp_path, capsys) -> None:
    from joulebench.serving.prompts import parse_lengths, parse_prompts

    specs = parse_prompts("synthetic:20-30").build(3, parse_lengths("2", "o"), seed=1, shared_prefix_tokens=12)
    words = [s.text.split() for s in specs]
    assert words[0][:12] == words[1][:12] == words[2][:12] and words[0][12:] != words[1][12:]
    fresh = parse_prompts("synthetic:20-30").build(3, parse_lengths("2", "o"), seed=1)
    assert fresh[0].text.split()[:12] != fresh[1].text.split()[:12]
    with StreamingTestServer(ServerConfig()) as srv:
        argv = ["serve-bench", "--url", srv.url, "--model", "cached", "--requests", "3", "--prompts", "synthetic:20",
                "--output-tokens", "2", "--shared-prefix", "12", "--db", str(tmp_path / "r.db"), "--json"]
        assert run_cli(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["prefix_cache"] == {"shared_prefix_tokens": 12, "cached_prompt_tokens_reported": 30,
                                   "engine_block_sharing": None, "prompt_salt": 0}
    with pytest.raises(UsageError, match="shared_prefix_tokens"):
        ArmSpec("a", "burst", 2, prompts="synthetic:8", url="http://127.0.0.1:1", model="m",
                shared_prefix_tokens=9).validate()


def test_a_prompt_salt_draws_new_tokens_under_the_same_lengths(tmp_path) -> None:
    """A server keeps earlier arms' blocks cached (transformers serve, run_f): a salted arm sends the same
    lengths with no block in common with the unsalted one, and salt 0 is the prompts as before."""
    from joulebench.serving.prompts import parse_lengths, parse_prompts
    from joulebench.values import point_key

    source, outs = parse_prompts("synthetic:200-4000,mean=1200"), parse_lengths("10-300", "o")
    for unit in ("byte", "word"):
        plain = source.build(20, outs, seed=0, text_unit=unit)
        assert [s.text for s in source.build(20, outs, seed=0, text_unit=unit, prompt_salt=0)] == [s.text for s in plain]
        salted = source.build(20, outs, seed=0, text_unit=unit, prompt_salt=7)
        assert [(s.prompt_tokens, s.max_output_tokens) for s in salted] == [
            (s.prompt_tokens, s.max_output_tokens) for s in plain]
        assert all(a.text[:32] != b.text[:32] for a, b in zip(salted, plain, strict=True))
    ids = source.build(5, outs, seed=0, vocab_size=1000, prompt_salt=7)
    assert [len(s.token_ids) for s in ids] == [s.prompt_tokens for s in plain[:5]]
    arm = ArmSpec("a", "burst", 2, url="http://127.0.0.1:1", model="m")
    assert "prompt_salt" not in arm.point_config()  # arms stored before the salt keep their keys
    assert point_key("serving", replace(arm, prompt_salt=3).point_config()) != point_key("serving", arm.point_config())
    rows = tmp_path / "prompts.jsonl"
    rows.write_text('{"prompt": "thank you"}\n')
    with pytest.raises(UsageError, match="prompt_salt"):
        replace(arm, prompts=str(rows), prompt_salt=1).validate()


def test_an_arm_sending_a_live_server_an_earlier_arms_prompts_is_warned(tmp_path, capsys) -> None:
    """A file's prompts cannot be salted: a rate sweep over them sends one server the same prompts twice,
    and the second arm says a prefix cache may serve it. Salted or self-launched arms are not warned."""
    from joulebench.experiments.serving_arms import prompt_reuse
    from joulebench.serving.launcher import ServerSpec

    rows = tmp_path / "prompts.jsonl"
    rows.write_text("".join(f'{{"prompt": "thank you number {i}", "max_tokens": 2}}\n' for i in range(3)))
    base = ArmSpec("a", "burst", 3, prompts=str(rows), url="http://127.0.0.1:1", model="m")
    assert prompt_reuse(rate_sweep(base, "1/s,2/s,3/s")) == {"a@2per_s": "a@1per_s", "a@3per_s": "a@1per_s"}
    synthetic = replace(base, prompts="synthetic:8")
    assert prompt_reuse(rate_sweep(synthetic, "1/s,2/s")) == {}  # each arm salted
    assert prompt_reuse([synthetic, replace(synthetic, name="b", tag="repeat1")]) == {"b": "a"}
    own = replace(synthetic, server=ServerSpec("python -m srv", "http://127.0.0.1:1"))
    assert prompt_reuse([own, replace(own, name="b")]) == {}  # a server of its own each time: no cache kept
    with StreamingTestServer(ServerConfig()) as srv:
        argv = ["serve-bench", "--url", srv.url, "--model", "m", "--requests", "3", "--rates", "50/s,100/s",
                "--rate-law", "fixed", "--prompts", str(rows), "--db", str(tmp_path / "r.db"), "--json"]
        assert run_cli(argv) == 0
    first, second = json.loads(capsys.readouterr().out)["arms"]
    assert not any("prefix cache" in w for w in first["warnings"])
    assert any("prompts arm arm@50per_s sent it" in w for w in second["warnings"])


def test_the_tuned_preset_is_the_knob_sweeps_lowest_energy_per_request() -> None:
    """``tuned`` is picked from the committed H200 knob sweep (docs/validation/serving/run_d/knobs): the
    knobs of its arm with the lowest Wh per request among those that served every request, and a memory cap."""
    from pathlib import Path

    from joulebench.store import Store

    db = Path(__file__).resolve().parents[1] / "docs" / "validation" / "serving" / "run_d" / "knobs" / "serving.db.gz"
    store = Store.open_read(db)
    try:
        arms = [p for p in store.points(kind="serving") if p.summary["headline"]["failed"] == 0]
    finally:
        store.close()
    assert len(arms) >= 6
    best = min(arms, key=lambda p: p.summary["headline"]["wh_per_request"])
    tuned = EngineConfig("llama-3.1-8b", preset="tuned").resolved_knobs()
    # plus a cap on the KV cache's share of memory, which the 200-request arms needed (engine.PRESETS)
    assert tuned.pop("max_memory_percent") == 0.5
    assert best.config["engine"]["knobs"] == tuned
