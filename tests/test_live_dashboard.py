"""The node's web page in a real browser (the `browser` tier): headless Chromium, Debian's
`chromium` package, driven by playwright through `executable_path` (playwright's own browser
download is not used). During a replay dry run (`scalp-nautilus live` against the replay venue,
the account long 0.05 BTC, adopted with its exchange stop) the page is loaded with the token and
screenshotted, flatten is clicked and confirmed, and the venue is checked: flat, and the exchange
stop cancelled. A wrong token and no token are refused. Screenshots go to `SCREENSHOTS`.

Without chromium the tier skips and says why (under CI, where `.ci/run` installs it, it fails)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from scalp_nautilus.live.venue.thread import VenueThread
from tests.conftest import missing
from tests.support.live import DASHBOARD_TOKEN
from tests.support.live import start_watched_node
from tests.support.live import venue_settings
from tests.support.webhook import JsonWebhook

pytestmark = [pytest.mark.browser, pytest.mark.real_data, pytest.mark.slow]

SCREENSHOTS = Path("/tmp/scalp-dashboard")
# Flags that work here (no GPU, no sandbox in a container, nothing fetched from the network).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        missing("the browser tier needs Debian's chromium package (apt-get install -y chromium); not installed here")
    return path


def _wait(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_page_shows_the_node_flattens_it_and_refuses_a_wrong_token(shared_data, tmp_path, chromium):
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(exist_ok=True)
    hook = JsonWebhook()
    thread = VenueThread(venue_settings(shared_data, speed=15.0, exchange={"position": 0.05}))
    try:
        with thread as venue, sync_playwright() as pw:
            ex = venue.exchange
            node, _metrics, url = start_watched_node(tmp_path, venue, hook.url)
            browser = pw.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),  # a fresh profile
                executable_path=chromium,
                args=CHROMIUM_ARGS,
                headless=True,
                viewport={"width": 1400, "height": 1100},
                bypass_csp=True,  # the page forbids eval; playwright's waits evaluate expressions
            )
            try:
                _wait(lambda: any(c.open for c in ex.conditionals.values()), 90, "the adopted position's exchange stop")
                [stop] = [c for c in ex.conditionals.values() if c.open]
                page = browser.new_page()
                page.goto(url)
                page.fill("#token", DASHBOARD_TOKEN)
                page.click("#use-token")
                page.wait_for_selector("#orders tr.stop", timeout=30_000)  # the exchange stop, highlighted
                page.wait_for_function("document.querySelectorAll('#decisions tr').length > 1", timeout=30_000)
                page.wait_for_function("document.getElementById('curve-line').getAttribute('points')", timeout=30_000)
                before = page.inner_text("body")
                page.screenshot(path=str(SCREENSHOTS / "1-running.png"), full_page=True)
                # Flatten, confirmed in the browser's dialog.
                dialogs: list[str] = []

                def accept(dialog) -> None:
                    dialogs.append(dialog.message)
                    dialog.accept()

                page.on("dialog", accept)
                page.click("button[data-action=flatten]")
                _wait(lambda: ex.position == 0.0 and stop.status == "CANCELED", 30, "a flat account and the stop cancelled")
                page.wait_for_selector("#orders >> text=none", timeout=15_000)
                page.wait_for_function("document.getElementById('state').textContent === 'paused'", timeout=15_000)
                after = page.inner_text("body")
                page.screenshot(path=str(SCREENSHOTS / "2-flattened.png"), full_page=True)
                # A wrong token and no token: refused, nothing shown.
                wrong = browser.new_page()
                wrong.goto(url)
                wrong.fill("#token", "not-the-token-0123456789")
                wrong.click("#use-token")
                wrong.wait_for_function("document.getElementById('state').textContent === 'token refused'", timeout=10_000)
                wrong.screenshot(path=str(SCREENSHOTS / "3-wrong-token.png"), full_page=True)
                wrong_text = wrong.inner_text("body")
                missing = browser.new_page()
                missing.goto(url)
                missing.wait_for_function("document.getElementById('state').textContent === 'token refused'", timeout=10_000)
            finally:
                browser.close()
                code = node.stop()
            open_orders = [o for o in ex.orders.values() if o.open]
    finally:
        hook.close()
    print(f"screenshots: {sorted(str(p) for p in SCREENSHOTS.glob('*.png'))}")
    print(f"after flatten: venue position {ex.position}, exchange stop {stop.status}, open orders {len(open_orders)}")
    assert "BTCUSDT-PERP.BINANCE" in before and "0.050000" in before and "STOP_MARKET" in before
    assert "in_position" in before  # the decisions while the adopted position is held
    assert dialogs == ["flatten: are you sure?"]
    assert "entries paused; closing position +0.05 at market" in after and "paused (flatten by the web page)" in after
    assert ex.position == 0.0 and stop.status == "CANCELED" and not open_orders
    assert "0.050000" not in wrong_text and "STOP_MARKET" not in wrong_text
    assert "web page action flatten" in node.output and code == 0
