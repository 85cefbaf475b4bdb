"""The must-show's budget (`experiments.serving_budget`) and its plan (scripts/measure_serving.py): an arm is
expected to take what arms of its kind took (the committed H200 and H100 stores)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from joulebench.experiments import serving_budget as budget

from .scripts_loader import load_script

ROOT = Path(__file__).resolve().parents[1]
RUN_E = ROOT / "docs" / "validation" / "serving" / "run_e" / "serving.db.gz"


@pytest.fixture(scope="module")
def script():
    return load_script("measure_serving")


def _namespace(plan: str = "must-show", **options):
    """The script's command line with its defaults unless ``options`` say otherwise."""
    import argparse

    args = dict(targets=None, laws=None, requests=[], max_duration=[], prompts=None, outputs=None, profile=[],
                repeats=None, preset=None, checkpoint="/tmp/joulebench-ckpt", model="llama-3.1-8b", device="cuda",
                plan=plan, sweep=None, parts=None, server_sdpa_cudnn=None)
    return argparse.Namespace(**{**args, **options})


def _arms(script, plan: str = "must-show", **options):
    """The arms the script plans, with its command line's defaults unless ``options`` say otherwise."""
    return script.build_arms(_namespace(plan, **options), script.PLANS[plan])


def test_stored_serve_arms_set_the_next_ones_expected_time(script) -> None:
    arms = script.untagged_variant(_arms(script))  # run_e's serve arms shared their prompts
    stored = budget.stored_ok(arms, RUN_E)
    assert len(stored) == 7 and all(name.startswith("serve-") for name in stored)
    expected = budget.expected_durations(arms, stored)
    longest = max(s["energy"]["window"]["duration_s"] for s in stored.values())
    assert expected == {"serve": pytest.approx(1.3 * longest)}  # no CB or sequential arm stored yet
    assert 140 < longest < 150  # run_e: 92-145 s an arm, against the 330 s bound
    observer = budget.BudgetObserver(time.perf_counter() + 290, expected)
    serve = next(a for a in arms if a.engine is None and a.name not in stored)
    cb = next(a for a in arms if a.engine is not None)
    assert observer.need_s(serve) == pytest.approx(1.3 * longest)
    assert observer.need_s(serve) < serve.max_duration_s
    # nothing of its kind measured: its bound, and its model's load
    assert observer.need_s(cb) == cb.max_duration_s + budget.MODEL_LOAD_S
    observer.point_started(0, serve)  # 188 s + 15 s margin fit in 290 s
    with pytest.raises(budget.BudgetSpent, match=cb.name):
        observer.point_started(1, cb)  # 240 + 40 s + 15 s do not


def test_an_arm_finished_in_the_call_sets_its_kinds_expected_time(script) -> None:
    """2026-12-07: a call stopped with 279 s left before a second fp32 segment bounded at 290 s, its first
    having taken far less; a finished arm now sets what the next of its kind is expected to take."""
    from joulebench.experiments.sweep_values import PointOutcome

    arms = _arms(script)
    first, second = (a for a in arms if a.name in ("seq-fp32-services-s0", "seq-fp32-services-s1"))
    cb = next(a for a in arms if a.engine is not None and a.engine.engine == "transformers")
    observer = budget.BudgetObserver(time.perf_counter() + 400)
    observer.sweep_started(2, None)
    assert observer.need_s(first) == first.max_duration_s + budget.MODEL_LOAD_S  # its model loads first
    observer.point_started(0, first)
    window = {"energy": {"window": {"duration_s": 150.0}}}
    observer.point_finished(0, PointOutcome(first, "failed", summary=window))
    assert observer.need_s(second) == second.max_duration_s  # loaded; a failed arm says nothing of the time
    observer.point_finished(0, PointOutcome(first, "done", summary=window))
    assert observer.need_s(second) == pytest.approx(budget.EXPECTED_FACTOR * 150.0)
    assert observer.need_s(cb) == cb.max_duration_s + budget.MODEL_LOAD_S  # another kind: its bound and a load
    observer.deadline_s = time.perf_counter() + 280
    observer.point_started(1, second)  # 195 s + 15 s fit in 280 s; its 290 s bound would not


RUN_F = ROOT / "docs" / "validation" / "serving" / "run_f" / "serving-h100-sxm.db.gz"


def _ok_names(db: Path, variant: str) -> set[str]:
    """The arms the store holds as ok under one variant, read from the stored configs' tags (not from point
    keys, as the plan reads them): the stores grow call by call, so tests read what they hold."""
    from joulebench.store import Store

    with Store.open_read(db) as store:
        configs = [p.config for p in store.points(status="ok")]
    return {c["name"] for c in configs if (c.get("tag") or "").removeprefix("repeat1+") == variant}


def test_serve_arms_send_prompts_of_their_own_and_a_server_variant_is_part_of_the_planned_arm(script) -> None:
    """run_f: one server serves a call's arms and keeps finished requests' blocks cached, so arms sharing
    seed 0's prompts were served partly from the arms before them (0.118, 0.0957, 0.0669 Wh/request); and on
    2026-12-07 call 2's cuDNN-off arm was tagged after the resume check, so no later call found it."""
    default = _arms(script, parts=["serve"])
    off = _arms(script, parts=["serve"], server_sdpa_cudnn="off")
    assert all(a.engine is None for a in off + default) and len(off) == len(default) == 10  # --parts serve
    assert [a.tag for a in default][:2] == ["fresh-prompts", "repeat1+fresh-prompts"]
    assert [a.tag for a in off][:2] == ["server-sdpa-cudnn-off+fresh-prompts",
                                        "repeat1+server-sdpa-cudnn-off+fresh-prompts"]
    salts = [a.prompt_salt for a in default]
    assert 0 not in salts and len(set(salts)) == 10 and salts == [a.prompt_salt for a in _arms(script, parts=["serve"])]
    # run_f's first serve arms shared prompts: only the arms stored with prompts of their own count
    assert set(budget.stored_ok(default, RUN_F)) == _ok_names(RUN_F, "fresh-prompts") >= {"serve-burst-r1"}
    assert budget.stored_ok(off, RUN_F) == {} == budget.stored_ok(default, RUN_E)
    # the arms stored with shared prompts keep their keys (no salt in the config) and still predict durations
    shared = script.untagged_variant(default)
    assert [a.tag for a in shared][:2] == [None, "repeat1"] and {a.prompt_salt for a in shared} == {0}
    assert sorted(budget.stored_ok(shared, RUN_F)) == ["serve-burst", "serve-burst-r1", "serve-uniform-0-1s"]
    found_off = budget.stored_ok(script.untagged_variant(off), RUN_F)
    assert sorted(found_off) == ["serve-burst", "serve-burst-r1", "serve-uniform-0-1s"]


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


def test_a_variant_is_expected_to_take_what_the_shared_prompt_arms_took(script) -> None:
    """run_f call 6: a variant with no arm stored expected each arm to take its 330 s bound, and a 575 s
    call ran nothing. The arms stored before (shared prompts, the default server) now predict a variant's,
    and the server's set-up and a first arm fit a call."""
    arms = _arms(script, parts=["serve"])
    stored = budget.stored_ok(script.untagged_variant(arms), RUN_F)
    expected = budget.expected_durations(arms, stored)
    observer = budget.BudgetObserver(time.perf_counter() + 575, expected)
    need = observer.need_s(arms[0])
    assert need < arms[0].max_duration_s
    assert observer.margin_s + need + script.SERVER_SETUP_S < 575  # the script's check before a server starts
    assert budget.expected_durations(arms, {}) == {}  # nothing stored: each arm its bound


def test_another_preset_is_a_variant_of_the_cb_arms(script) -> None:
    """A probe of another knob preset (run_f: ``tuned`` ran out of memory on an H100 at fixed 300 ms) must
    not land in the plan's CB rows: the preset's name is in the engine config, not in the arm's tag."""
    probe = _arms(script, parts=["cb"], preset="tuned-kv-4096")
    assert [a.tag for a in probe][:2] == ["preset-tuned-kv-4096", "repeat1+preset-tuned-kv-4096"]
    assert {a.engine.preset for a in probe} == {"tuned-kv-4096"}
    # run_f call 13: the probe's burst arm is its own, its failed 300 ms arm is not finished
    assert set(budget.stored_ok(probe, RUN_F)) == _ok_names(RUN_F, "preset-tuned-kv-4096") == {"cb-burst"}
    plan = _arms(script, parts=["cb"], preset="tuned")  # the plan's own preset: no variant
    assert [a.tag for a in plan][:2] == [None, "repeat1"] == [a.tag for a in _arms(script, parts=["cb"])][:2]
    assert "cb-burst" in budget.stored_ok(plan, RUN_F)
    # a plan with sequential targets: the preset tags its CB arms and leaves the sequential ones as they were
    engines = _arms(script, plan="engines", preset="bounded-graphs")
    seq = [a for a in engines if a.engine.engine == "sequential"]
    assert seq and all(a.tag is None for a in seq) and all(a.engine.preset is None for a in seq)
    assert {a.tag for a in engines if a.engine.engine == "transformers"} == {"preset-bounded-graphs"}


def test_a_saved_checkpoint_is_not_charged_to_the_servers_set_up(script, tmp_path) -> None:
    """A warm machine keeps the checkpoint in /tmp between calls: the next call's server set-up is expected
    without its save, and a fresh machine's with it."""
    assert script.server_setup_s(tmp_path) == script.SERVER_SETUP_S
    (tmp_path / "config.json").write_text("{}")
    assert script.checkpoint_saved(tmp_path)
    assert script.server_setup_s(tmp_path) == script.SERVER_SETUP_S - script.CHECKPOINT_S
