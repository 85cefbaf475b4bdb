"""The must-show table from the committed H200 store of run_e (7 serve arms, 2 failed CB arms)."""

from __future__ import annotations

from pathlib import Path

import pytest

from joulebench.experiments.serving_table import must_show_rows
from joulebench.store import Store

RUN_E = Path(__file__).resolve().parents[1] / "docs" / "validation" / "serving" / "run_e" / "serving.db"


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
