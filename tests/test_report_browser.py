"""The report in a real browser: headless Chromium (Debian's ``chromium``) driven through Playwright.

Checked on the committed report of the validation stores (docs/report/index.html) and on a fresh
report of a store with a hostile model name: the page loads with no console error and no script run
(no dialog), every figure is decoded and laid out with a size, and the hostile name shows as text.
Not skipped when Chromium is missing: CI installs it (``apt-get install -y chromium``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from joulebench.report.build import build_report
from tests.test_report import HOSTILE, make_store

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "docs" / "report" / "index.html"
#: Chromium on a closed network: no background connections, no sandbox (root in a container), fresh profile
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Chromium is needed for this test: apt-get install -y chromium"
    return found


def inspect(page_path: Path, profile: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(str(profile), executable_path=chromium(), headless=True,
                                                       args=CHROMIUM_ARGS, viewport={"width": 1300, "height": 900})
        try:
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(page_path.resolve().as_uri(), wait_until="load")
            figures = page.evaluate("""() => Array.from(document.querySelectorAll('img[data-figure]')).map(img => {
                img.scrollIntoView();
                const r = img.getBoundingClientRect();
                return {name: img.dataset.figure, complete: img.complete, natural: img.naturalWidth,
                        width: r.width, height: r.height};
            })""")
            text = page.inner_text("body")
            scripts = page.evaluate("() => document.scripts.length")
        finally:
            context.close()
    return {"errors": errors, "dialogs": dialogs, "figures": figures, "text": text, "scripts": scripts}


def assert_figures_visible(figures: list[dict[str, Any]]) -> None:
    assert figures, "no figure in the page"
    for fig in figures:
        assert fig["complete"] and fig["natural"] > 0, f"figure {fig['name']} did not decode"
        assert fig["width"] > 100 and fig["height"] > 50, f"figure {fig['name']} has no size on the page"


def test_hostile_name_shows_as_text_and_every_figure_is_visible(tmp_path: Path) -> None:
    db = make_store(tmp_path / "r.db")
    build_report([db], tmp_path / "r.html")
    seen = inspect(tmp_path / "r.html", tmp_path / "profile")
    assert seen["errors"] == [] and seen["dialogs"] == [] and seen["scripts"] == 0
    assert HOSTILE in seen["text"]  # rendered as the literal characters, not as an element
    assert {f["name"] for f in seen["figures"]} >= {"power_traces", "llm_prefill_decode", "serving_energy_latency"}
    assert_figures_visible(seen["figures"])


def test_committed_validation_report_loads_cleanly(tmp_path: Path) -> None:
    assert COMMITTED.is_file(), "docs/report/index.html is committed (scripts/build_validation_report.sh)"
    seen = inspect(COMMITTED, tmp_path / "profile")
    assert seen["errors"] == [] and seen["dialogs"] == []
    assert_figures_visible(seen["figures"])
    on_disk = {p.stem for p in (COMMITTED.parent / "figures").glob("*.svg")}
    assert {f["name"] for f in seen["figures"]} == on_disk  # every paper figure is in the page and vice versa
    for name in on_disk:
        assert all((COMMITTED.parent / "figures" / f"{name}.{fmt}").is_file() for fmt in ("png", "pdf"))
    for section in ("Runs and environment", "Predicted vs measured", "Serving", "Video", "Impact at scale"):
        assert section in seen["text"]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Playwright's driver talks to Chromium over a local pipe; a proxy setting must not reroute it."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
