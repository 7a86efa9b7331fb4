"""``qnic dashboard`` in a real browser: headless Chromium driven by
Playwright (docs/dashboard.md).

The system's Chromium is used (``apt-get install chromium``); Playwright's
own browser download is never needed. The test is skipped, saying so, only
when no Chromium binary is found. Waits are Playwright's ``wait_for_function``
on the page's DOM, each bounded; the screenshot goes to pytest's tmp_path and
its path is printed (``pytest -s`` shows it).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from test_dashboard import Dashboard

WAIT_MS = 60_000
"""Longest wait for one expected change of the page (a cold numba cache compiles first)."""

# Chromium as root in a closed network: no sandbox (root), and none of its
# background connections (they would be refused, many at a time).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str | None:
    """The system's Chromium or Chrome, if there is one."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def test_the_page_updates_live_and_runs_chsh(tmp_path: Path) -> None:
    browser_path = chromium()
    if browser_path is None:
        pytest.skip("no Chromium binary found on PATH (chromium, chromium-browser, google-chrome): "
                    "`apt-get install chromium` to run the dashboard's browser test")
    d = Dashboard(tmp_path / "dashboard", "--interval", "0.1", "--seconds", "0.05", "--seed", "5")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1100})
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto(d.url)
                # the rates arrive and then change, pushed over the websocket
                page.wait_for_function("document.querySelector('#singles-1 .rate') !== null",
                                       timeout=WAIT_MS)
                assert page.locator("#coincidence-window").count() == 1
                assert page.locator("#rates-body tr").count() == 8  # 4 singles, 4 pairs
                # the demo from its button: win rates appear and move on while it runs
                page.fill("#demo-rounds", "600")
                page.click("#start-demo")
                page.wait_for_function(
                    "Number(document.getElementById('demo-caption').dataset.rounds) > 0"
                    " && document.getElementById('demo-caption').dataset.state === 'running'",
                    timeout=WAIT_MS)
                rounds = int(page.eval_on_selector("#demo-caption", "e => e.dataset.rounds"))
                page.wait_for_function(
                    "r => Number(document.getElementById('demo-caption').dataset.rounds) > r",
                    arg=rounds, timeout=WAIT_MS)
                assert page.locator("#demo-body tr[data-strategy]").count() == 3
                page.wait_for_function(
                    "document.getElementById('demo-caption').dataset.state === 'done'"
                    " && !document.getElementById('start-chsh').disabled", timeout=WAIT_MS)
                win = float(page.eval_on_selector(
                    "#demo-body tr[data-strategy=quantum] .win", "e => e.dataset.rate"))
                assert 0.7 < win < 0.95
                # CHSH from its button: the rates follow its settings, then S is shown
                page.fill("#chsh-seconds", "0.05")
                page.click("#start-chsh")
                page.wait_for_function(
                    "document.getElementById('rates-caption').dataset.source.startsWith('CHSH')",
                    timeout=WAIT_MS)
                page.wait_for_function("document.getElementById('chsh-S').dataset.s !== ''",
                                       timeout=WAIT_MS)
                assert page.locator("#chsh-body tr[data-key]").count() == 4
                s = float(page.eval_on_selector("#chsh-S", "e => e.dataset.s"))
                assert 2.2 < s < 2.9
                page.wait_for_function("!document.getElementById('start-demo').disabled",
                                       timeout=WAIT_MS)
                shot = tmp_path / "dashboard.png"
                page.screenshot(path=str(shot), full_page=True)
                assert not errors, errors
            finally:
                browser.close()
    finally:
        code = d.stop()
    assert code == 0, d.stderr()
    assert shot.stat().st_size > 10_000
    print(f"dashboard screenshot: {shot}")
