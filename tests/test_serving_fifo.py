"""Sequential arms from measured services: the FIFO replay and the derived arm's figures."""

from __future__ import annotations

import pytest

from joulebench.errors import UsageError
from joulebench.experiments.serving_arms import ArmSpec
from joulebench.experiments.serving_bench import run_arms
from joulebench.experiments.serving_derive import ServiceRun, derived_arm
from joulebench.serving.fifo import replay, services
from joulebench.serving.records import RequestRecord
from joulebench.store import Store
from joulebench.workloads.engine import EngineConfig


def _served(index: int, admit_s: float, service_s: float, ttft_s: float = 0.25) -> RequestRecord:
    r = RequestRecord(index, 0.0, 100, 4, send_s=0.0, admit_s=admit_s, first_token_s=admit_s + ttft_s,
                      end_s=admit_s + service_s)
    for k in range(4):
        r.add_chunk(admit_s + ttft_s + k * (service_s - ttft_s) / 4, 1)
    r.status, r.prompt_tokens, r.output_tokens = "ok", 100, 4
    return r


def test_a_request_starts_when_it_has_arrived_and_the_server_is_free() -> None:
    # one run: services of 1, 2 and 1 s with 10 ms handovers; a second run on another clock
    run = [_served(0, 100.0, 1.0), _served(1, 101.01, 2.0), _served(2, 103.02, 1.0)]
    other = [_served(0, 5.0, 1.0)]
    served = services([run, other])
    assert served.handovers_s == pytest.approx([0.01, 0.01, 0.01, 0.01])  # a run's first: the others' median
    assert served.origin == [(0, 0), (0, 1), (0, 2), (1, 0)]
    out = replay(served, [0.0, 0.5, 10.0, 10.2])
    starts = [r.admit_s for r in out.records]
    assert starts == pytest.approx([0.0, 1.01, 10.0, 11.01])  # waits for the server, then for the arrival
    assert out.idle_s == pytest.approx(10.0 - 3.02)
    second = out.records[1]
    assert (second.first_token_s - second.admit_s, second.end_s - second.admit_s) == pytest.approx((0.25, 2.0))
    assert second.chunk_times_s[0] == pytest.approx(1.26) and second.send_s == 0.5
    assert out.span_s == pytest.approx(12.01)
    with pytest.raises(UsageError, match="arrivals"):
        replay(served, [0.0])


def test_a_derived_arm_replays_a_stored_service_run_with_the_measured_energy(tmp_path) -> None:
    """A real service run (tiny model, CPU, sequential engine, burst) from a real store, then the same
    requests under one arrival every 5 s: the server waits for each, and that idle is priced."""
    engine = EngineConfig("tiny-llama", "sequential", "fp32", "cpu")
    arm = ArmSpec("seq-services", "burst", 3, prompts="synthetic:16-32,mean=24", output_tokens="3", engine=engine,
                  slo="ttft:1s,tpot:1s")
    run_arms([arm], tmp_path / "s.db", "test")
    store = Store.open_read(tmp_path / "s.db")
    try:
        (point,) = list(store.points(kind="serving"))
        runs = [ServiceRun(point.config, point.summary, store.records(point.id, "requests"))]
    finally:
        store.close()
    doc = derived_arm("seq-fixed-5s", "fixed:5s", runs, slo="ttft:1s,tpot:1s", idle_w={"cpu": 10.0, "ram": 1.0})
    head, measured = doc["headline"], point.summary["energy"]["window"]["components"]
    assert head["completed"] == 3 and doc["derived"]["services"] == 3
    assert doc["derived"]["idle_s"] > 9.0  # two gaps of nearly 5 s each: no service takes seconds here
    added = {name: doc["energy"]["window"]["components"][name]["energy_j"] - measured[name]["energy_j"]
             for name in measured}
    assert added["cpu"] == pytest.approx(10.0 * doc["derived"]["idle_s"])
    assert added["ram"] == pytest.approx(1.0 * doc["derived"]["idle_s"])
    assert head["e2e_p50_s"] < 5.0 and doc["metrics"]["lateness_s"]["max"] == 0.0
    assert doc["energy"]["steady_state"]["available"] is False
    with pytest.raises(UsageError, match="sequential-engine arm under burst"):
        derived_arm("x", "fixed:5s", [ServiceRun({**point.config, "arrival": "fixed:50ms"}, point.summary, [])])


def test_the_study_derives_every_law_per_repeat_and_checks_against_a_measured_arm(tmp_path) -> None:
    """Two service segments and the real check arm of one target (tiny model, CPU, a real store): five
    derived laws of six requests, and the check derived from segment 0 beside the measured arm."""
    from joulebench.experiments.serving_derive import derive_study
    from joulebench.experiments.serving_study import LAWS, service_arms

    arms = service_arms("tiny-llama", "cpu", ["seq-fp32"], 3, 2, 60.0, prompts="synthetic:16-32,mean=24",
                        outputs="3")
    assert [a.name for a in arms] == ["seq-fp32-services-s0", "seq-fp32-services-s1", "seq-fp32-fixed-500ms"]
    assert [a.seed for a in arms] == [0, 1, 0] and arms[2].arrival == "fixed:500ms"
    run_arms(arms, tmp_path / "s.db", "test")
    store = Store.open_read(tmp_path / "s.db")
    try:
        docs = {d["arm"]: d for d in derive_study(store, ["seq-fp32"], segments=2, repeats=2)}
    finally:
        store.close()
    assert set(docs) == {f"seq-fp32-{law}-derived" for law in LAWS} | {"seq-fp32-fixed-500ms-derived-check"}
    assert all(docs[f"seq-fp32-{law}-derived"]["headline"]["completed"] == 6 for law in LAWS)
    check = docs["seq-fp32-fixed-500ms-derived-check"]
    assert check["derived"]["from"] == ["seq-fp32-services-s0"] and check["measured"]["headline"]["completed"] == 3
    assert check["warnings"] and "idle" in check["warnings"][0]  # CPU runs take no idle baseline
    with pytest.raises(UsageError, match="sequential targets"):
        service_arms("tiny-llama", "cpu", ["cb"], 3, 2, 60.0)
