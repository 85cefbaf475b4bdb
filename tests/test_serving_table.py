"""The must-show table from the committed H200 store of run_e (7 serve arms, 2 failed CB arms)."""

from __future__ import annotations

from pathlib import Path

import pytest

from joulebench.experiments.serving_table import must_show_rows
from joulebench.store import Store

RUN_E = Path(__file__).resolve().parents[1] / "docs" / "validation" / "serving" / "run_e" / "serving.db.gz"


@pytest.fixture(scope="module")
def rows():
    store = Store.open_read(RUN_E)
    try:
        return {(r.target, r.law): r for r in must_show_rows(store)}
    finally:
        store.close()


def test_a_partial_store_gives_the_rows_it_holds_and_names_the_rest(rows) -> None:
    assert len(rows) == 4 * 5
    burst = rows[("serve", "burst")]
    assert burst.arms == ("serve-burst", "serve-burst-r1") and burst.completed == (200, 200) and not burst.missing
    assert rows[("serve", "fixed-300ms")].arms == ("serve-fixed-300ms",)
    assert rows[("serve", "fixed-300ms")].missing == ("serve-fixed-300ms-r1",)
    assert rows[("serve", "fixed-300ms")].wh_spread is None  # one repeat: no spread
    assert rows[("serve", "fixed-500ms")].arms == () and rows[("serve", "fixed-500ms")].figures["wh_per_request"] is None
    assert rows[("cb", "burst")].arms == ()  # both CB arms failed: a failed arm is no row's figure
    assert len(rows[("cb", "burst")].failed) == 2 and rows[("cb", "burst")].missing == ("cb-burst", "cb-burst-r1")
    seq = rows[("seq-fp32", "burst")]
    assert seq.source == "derived" and seq.missing == ("seq-fp32-burst-derived", "seq-fp32-burst-derived-r1")


def test_a_row_is_the_mean_of_its_repeats_and_says_how_far_they_disagree(rows) -> None:
    store = Store.open_read(RUN_E)
    try:
        heads = {p.config["name"]: p.summary["headline"] for p in store.points(kind="serving", status="ok")}
    finally:
        store.close()
    row = rows[("serve", "fixed-50ms")]
    a, b = heads["serve-fixed-50ms"]["wh_per_request"], heads["serve-fixed-50ms-r1"]["wh_per_request"]
    assert row.figures["wh_per_request"] == pytest.approx((a + b) / 2)
    assert row.wh_spread == pytest.approx(max(a, b) / min(a, b) - 1)
    assert row.wh_spread > 0.5  # run_e: a fresh server's first arm cost 1.9x (VALIDATION.md)
    assert not any(r.below_floor for r in rows.values())


RUN_F = RUN_E.parents[1] / "run_f" / "serving-h100-sxm.db.gz"


def test_a_row_takes_one_variant_of_its_arms_never_two_averaged() -> None:
    """run_f (H100) holds serve-burst twice: the server at its defaults and with cuDNN's SDPA off."""
    from joulebench.experiments.serving_table import arm_variant

    assert arm_variant("repeat1+server-sdpa-cudnn-off") == arm_variant("server-sdpa-cudnn-off") == "server-sdpa-cudnn-off"
    assert arm_variant("repeat1") is None and arm_variant(None) is None
    with Store.open_read(RUN_F) as store:
        default = {(r.target, r.law): r for r in must_show_rows(store)}
        off = {(r.target, r.law): r for r in must_show_rows(store, variants={"serve": "server-sdpa-cudnn-off"})}
    burst = default[("serve", "burst")]
    assert burst.arms == ("serve-burst", "serve-burst-r1") and not burst.missing
    assert 0.2 < burst.wh_spread < 0.3  # run_f: a fresh server's first arm, 23% over its second
    assert off[("serve", "burst")].arms == ("serve-burst",) and off[("serve", "burst")].missing == ("serve-burst-r1",)
    assert off[("serve", "burst")].figures["wh_per_request"] > 1.5 * burst.figures["wh_per_request"]
    assert off[("cb", "burst")] == default[("cb", "burst")]  # a variant asked for one target leaves the others
    assert default[("cb", "burst")].wh_spread < 0.01 and not default[("cb", "burst")].below_floor


def test_an_arm_that_did_not_serve_every_request_is_no_repeat_even_if_stored_ok() -> None:
    """run_f call 9: the CB engine ran out of memory in cb-fixed-300ms (10 of 200 served) and the arm was
    stored ok, before requests' failures failed a point; its 0.496 Wh/request over 10 requests is no answer."""
    run_f = RUN_E.parents[1] / "run_f" / "serving-h100-sxm.db.gz"
    store = Store.open_read(run_f)
    try:
        rows = {(r.target, r.law): r for r in must_show_rows(store, variants={"serve": "fresh-prompts"})}
        shared = {(r.target, r.law): r for r in must_show_rows(store)}  # the serve arms that shared prompts
    finally:
        store.close()
    row = rows[("cb", "fixed-300ms")]
    assert row.arms == () and row.failed == ("cb-fixed-300ms (10/200)",) and row.figures["wh_per_request"] is None
    assert row.missing == ("cb-fixed-300ms", "cb-fixed-300ms-r1")
    assert rows[("cb", "burst")].completed == (200, 200) and not rows[("cb", "burst")].failed
    # the serve rows take the arms with prompts of their own (run_f calls 13-14), never those that shared them
    assert rows[("serve", "burst")].arms == ("serve-burst", "serve-burst-r1")
    assert rows[("serve", "burst")].figures != shared[("serve", "burst")].figures
    assert shared[("serve", "burst")].arms == ("serve-burst", "serve-burst-r1")


def test_the_cb_rows_take_one_presets_arms_and_never_average_it_with_tuned() -> None:
    """run_f calls 21-22 (H100): ``bounded-graphs`` served all 200 under burst (twice), U(0, 1 s) and fixed
    500 ms, beside ``tuned``'s untagged arms of the same names; a row holds one preset's arms or none."""
    run_f = RUN_E.parents[1] / "run_f" / "serving-h100-sxm.db.gz"
    store = Store.open_read(run_f)
    try:
        bounded = {(r.target, r.law): r for r in must_show_rows(store, variants={"cb": "preset-bounded-graphs"})}
        tuned = {(r.target, r.law): r for r in must_show_rows(store)}
        probe = {(r.target, r.law): r for r in must_show_rows(store, variants={"cb": "preset-mem-30-no-graphs"})}
    finally:
        store.close()
    assert bounded[("cb", "burst")].arms == tuned[("cb", "burst")].arms == ("cb-burst", "cb-burst-r1")
    assert bounded[("cb", "burst")].figures["wh_per_request"] < tuned[("cb", "burst")].figures["wh_per_request"]
    # fixed 500 ms: bounded-graphs served all 200; tuned never ran it; the control's one arm is its own row
    assert "cb-fixed-500ms" in bounded[("cb", "fixed-500ms")].arms and not bounded[("cb", "fixed-500ms")].failed
    assert tuned[("cb", "fixed-500ms")].arms == ()
    assert probe[("cb", "fixed-500ms")].arms == ("cb-fixed-500ms",) and probe[("cb", "burst")].arms == ()
    assert (probe[("cb", "fixed-500ms")].figures["wh_per_request"]
            != bounded[("cb", "fixed-500ms")].figures["wh_per_request"])
