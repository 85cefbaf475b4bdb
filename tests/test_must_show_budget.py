"""The must-show's budget: an arm is expected to take what arms of its kind took (the committed H200 store)."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN_E = ROOT / "docs" / "validation" / "serving" / "run_e" / "serving.db.gz"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("measure_serving", ROOT / "scripts" / "measure_serving.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _namespace(plan: str = "must-show", **options):
    """The script's command line with its defaults unless ``options`` say otherwise."""
    import argparse

    args = dict(targets=None, laws=None, requests=[], max_duration=[], prompts=None, outputs=None, profile=[],
                repeats=None, preset=None, checkpoint="/tmp/joulebench-ckpt", model="llama-3.1-8b", device="cuda",
                plan=plan, sweep=None, parts=None, server_sdpa_cudnn=None, server_warmup_replay=False)
    return argparse.Namespace(**{**args, **options})


def _arms(script, plan: str = "must-show", **options):
    """The arms the script plans, with its command line's defaults unless ``options`` say otherwise."""
    return script.build_arms(_namespace(plan, **options), script.PLANS[plan])


def test_stored_serve_arms_set_the_next_ones_expected_time(script) -> None:
    arms = _arms(script)
    stored = script.stored_ok(arms, RUN_E)
    assert len(stored) == 7 and all(name.startswith("serve-") for name in stored)
    expected = script.expected_durations(arms, stored)
    longest = max(s["energy"]["window"]["duration_s"] for s in stored.values())
    assert expected == {"serve": pytest.approx(1.3 * longest)}  # no CB or sequential arm stored yet
    assert 140 < longest < 150  # run_e: 92-145 s an arm, against the 330 s bound
    observer = script.BudgetObserver(time.perf_counter() + 290, expected)
    serve = next(a for a in arms if a.engine is None and a.name not in stored)
    cb = next(a for a in arms if a.engine is not None)
    assert observer.need_s(serve) == pytest.approx(1.3 * longest)
    assert observer.need_s(serve) < serve.max_duration_s
    # nothing of its kind measured: its bound, and its model's load
    assert observer.need_s(cb) == cb.max_duration_s + script.MODEL_LOAD_S
    observer.point_started(0, serve)  # 188 s + 15 s margin fit in 290 s
    with pytest.raises(script.BudgetSpent, match=cb.name):
        observer.point_started(1, cb)  # 240 + 40 s + 15 s do not


def test_an_arm_finished_in_the_call_sets_its_kinds_expected_time(script) -> None:
    """2026-12-07: a call stopped with 279 s left before a second fp32 segment bounded at 290 s, its first
    having taken far less; a finished arm now sets what the next of its kind is expected to take."""
    from joulebench.experiments.sweep_values import PointOutcome

    arms = _arms(script)
    first, second = (a for a in arms if a.name in ("seq-fp32-services-s0", "seq-fp32-services-s1"))
    cb = next(a for a in arms if a.engine is not None and a.engine.engine == "transformers")
    observer = script.BudgetObserver(time.perf_counter() + 400)
    observer.sweep_started(2, None)
    assert observer.need_s(first) == first.max_duration_s + script.MODEL_LOAD_S  # its model loads first
    observer.point_started(0, first)
    window = {"energy": {"window": {"duration_s": 150.0}}}
    observer.point_finished(0, PointOutcome(first, "failed", summary=window))
    assert observer.need_s(second) == second.max_duration_s  # loaded; a failed arm says nothing of the time
    observer.point_finished(0, PointOutcome(first, "done", summary=window))
    assert observer.need_s(second) == pytest.approx(script.EXPECTED_FACTOR * 150.0)
    assert observer.need_s(cb) == cb.max_duration_s + script.MODEL_LOAD_S  # another kind: its bound and a load
    observer.deadline_s = time.perf_counter() + 280
    observer.point_started(1, second)  # 195 s + 15 s fit in 280 s; its 290 s bound would not


RUN_F = ROOT / "docs" / "validation" / "serving" / "run_f" / "serving-h100-sxm.db.gz"


def test_a_server_variant_is_part_of_the_planned_arm_so_a_resuming_call_finds_it(script) -> None:
    """2026-12-07: call 2's cuDNN-off arm was tagged after the resume check, so no later call found it."""
    off = _arms(script, parts=["serve"], server_sdpa_cudnn="off")
    default = _arms(script, parts=["serve"])
    replayed = _arms(script, parts=["serve"], server_warmup_replay=True)
    assert replayed[1].tag == "repeat1+server-warmup-replay" and not script.stored_ok(replayed, RUN_F)
    assert {a.tag for a in off} == {"server-sdpa-cudnn-off", "repeat1+server-sdpa-cudnn-off"}
    assert all(a.engine is None for a in off + default) and len(off) == len(default) == 10  # --parts serve
    found_off, found_default = script.stored_ok(off, RUN_F), script.stored_ok(default, RUN_F)
    assert sorted(found_off) == ["serve-burst"] and found_off["serve-burst"]["headline"]["output_tokens_per_s"] < 150
    assert sorted(found_default) == ["serve-burst", "serve-burst-r1", "serve-uniform-0-1s"]


def test_parts_pick_the_plans_arms_of_their_kind(script) -> None:
    def names(parts, plan="must-show"):
        return [a.name for a in _arms(script, plan, parts=parts)]

    assert len(names(None)) == 10 + 10 + 22  # serve, CB, and per dtype 10 service segments and a check arm
    assert all(n.startswith("cb-") for n in names(["cb"])) and len(names(["cb"])) == 10
    assert all(n.startswith("seq-") for n in names(["seq"])) and len(names(["seq"])) == 22
    assert names(["seq"], plan="engines") == ["seq-bf16-fixed-50ms", "seq-fp32-fixed-50ms"]  # seq targets, no services


@pytest.mark.parametrize(("device_name", "store"), [("NVIDIA H100 80GB HBM3", "serving-h100-sxm.db"),
                                                   ("NVIDIA H200", "serving-h200.db"),
                                                   ("Acme Tensor X 9", "serving-acme-tensor-x-9.db")])
def test_a_resumable_plan_keeps_one_store_per_card_model(script, monkeypatch, device_name, store) -> None:
    """The device tool lends an H100 or an H200 call by call: their repeats must not meet in one row."""
    import importlib

    catalogue = importlib.import_module("joulebench.hardware.catalogue")  # the package exports a function of that name
    monkeypatch.setattr(catalogue, "detect_name", lambda: device_name)  # CI has no GPU: the driver's name
    assert script.store_name(True, "cuda") == store
    assert script.store_name(False, "cuda") == script.store_name(True, "cpu") == "serving.db"


def test_a_server_variant_is_expected_to_take_what_the_default_servers_arms_took(script) -> None:
    """run_f call 6: with ``--server-warmup-replay`` no arm of that variant was stored, so each was expected
    to take its 330 s bound, the replay as much again, and a 575 s call ran nothing. The default server's
    stored arms now predict a variant's, and the set-up, a replay and an arm fit a call."""
    run_f = ROOT / "docs" / "validation" / "serving" / "run_f" / "serving-h100-sxm.db.gz"
    arms = _arms(script, server_warmup_replay=True, parts=["serve"])
    args = _namespace(server_warmup_replay=True)
    assert script.stored_ok(arms, run_f) == {}  # no replay arm stored
    default = script.untagged_variant(arms, args)
    assert [a.tag for a in default][:2] == [None, "repeat1"]
    stored = script.stored_ok(default, run_f)
    assert {"serve-burst", "serve-burst-r1", "serve-uniform-0-1s"} <= set(stored)
    expected = script.expected_durations(arms, stored)
    observer = script.BudgetObserver(time.perf_counter() + 575, expected)
    need = observer.need_s(arms[0])
    assert need < arms[0].max_duration_s
    assert observer.margin_s + need + script.server_setup_s(need, True) < 575  # the script's check
    assert script.untagged_variant(arms, _namespace()) == arms  # the default server: nothing to strip
