"""The must-show's budget: an arm is expected to take what arms of its kind took (the committed H200 store)."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN_E = ROOT / "docs" / "validation" / "serving" / "run_e" / "serving.db"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("measure_serving", ROOT / "scripts" / "measure_serving.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _arms(script):
    import argparse

    args = argparse.Namespace(targets=None, laws=None, requests=[], max_duration=[], prompts=None, outputs=None,
                              profile=[], repeats=None, preset=None, checkpoint="/tmp/joulebench-ckpt", model="llama-3.1-8b",
                              device="cuda", plan="must-show", sweep=None)
    return script.build_arms(args, script.PLANS["must-show"])


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
    assert observer.need_s(cb) == cb.max_duration_s  # nothing of its kind measured: its bound
    observer.point_started(0, serve)  # 188 s + 55 s margin fit in 290 s
    with pytest.raises(script.BudgetSpent, match=cb.name):
        observer.point_started(1, cb)  # 240 s + 55 s do not
