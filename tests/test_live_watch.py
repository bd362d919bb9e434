"""Watching and steering a running node, as a user runs it (`scalp-nautilus live` in its own
process against the replay venue, the 2023-04 BTCUSDT capture at 15x, the account long 0.05 BTC
for the node to adopt): the Prometheus endpoint scraped during the dry run and checked against the
venue, an alert received on a JSON webhook on 127.0.0.1, and the web page's API refusing a missing
or wrong token. The page in a real browser is `tests/test_live_dashboard.py` (its own tier)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from scalp_nautilus.live.venue.thread import VenueThread
from tests.support.live import DASHBOARD_TOKEN as TOKEN
from tests.support.live import start_watched_node
from tests.support.live import venue_settings
from tests.support.webhook import JsonWebhook

pytestmark = [pytest.mark.real_data, pytest.mark.slow]


def scrape(url: str) -> dict[str, float]:
    """`name{labels}` -> value of every sample of the Prometheus text format (labels sorted by
    name, as prometheus-client writes them; see `key`)."""
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def key(name: str, **labels: str) -> str:
    labels = {"instrument": "BTCUSDT-PERP.BINANCE", **labels}
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def api(page: str, path: str, token: str | None, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(page.rstrip("/") + path, data=json.dumps(body).encode() if body else None)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_metrics_alerts_and_the_page_api_during_a_replay_dry_run(shared_data, tmp_path):
    hook = JsonWebhook()
    settings = venue_settings(shared_data, speed=15.0, exchange={"position": 0.05})
    try:
        with VenueThread(settings) as venue:
            ex = venue.exchange
            node, metrics_url, page = start_watched_node(tmp_path, venue, hook.url)
            try:
                # Scraped until the adopted position's exchange stop rests at the venue.
                deadline, sample = time.monotonic() + 90, {}
                while time.monotonic() < deadline:
                    sample = scrape(metrics_url)
                    if sample.get(key("scalp_exchange_stop_present")) == 1.0:
                        break
                    time.sleep(0.5)
                resting = [c for c in ex.conditionals.values() if c.open]
                (tmp_path / "metrics.txt").write_text("\n".join(f"{k} {v}" for k, v in sorted(sample.items())))
                # The page's API: refused without the token or with a wrong one, served with it.
                refused = [api(page, "/api/state", None)[0], api(page, "/api/state", "wrong-token-0123456789")[0]]
                refused.append(api(page, "/api/action", "nope", {"action": "halt", "confirm": "halt"})[0])
                status, state = api(page, "/api/state", TOKEN)
                unconfirmed = api(page, "/api/action", TOKEN, {"action": "halt"})[0]
                # A halt from the page: the kill switch trips, the position is closed, an alert goes out.
                acted = api(page, "/api/action", TOKEN, {"action": "halt", "confirm": "halt"})
                alert = hook.wait_for("HALTED", 30)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and ex.position != 0.0:
                    time.sleep(0.1)
                flat = ex.position
            finally:
                code = node.stop()
    finally:
        hook.close()
    print(f"scrape ({len(sample)} samples) saved to {tmp_path / 'metrics.txt'}; alert received: {alert}")
    assert sample[key("scalp_up", currency="USDT")] == 1.0
    assert sample[key("scalp_position")] == 0.05 == ex.settings.position
    assert [c.qty for c in resting] == [0.05]  # what the metric said: one stop for the whole position
    assert sample[key("scalp_halted")] == 0.0 and sample[key("scalp_orders_last_minute")] >= 1.0
    assert sample[key("scalp_decisions_total", outcome="in_position")] > 0
    for clock in ("exchange", "queue"):
        assert key("scalp_lag_ms", clock=clock, quantile="0.99") in sample
    assert sample[key("scalp_risk_limit", limit="max_position_notional")] == 0.0  # off in this config
    assert sample[key("scalp_book_age_seconds")] >= 0.0
    assert refused == [401, 401, 401] and status == 200 and unconfirmed == 400
    assert state["instrument"] == "BTCUSDT-PERP.BINANCE" and state["position"]["quantity"] == 0.05
    assert any(o["exchange_stop"] for o in state["orders"])
    assert acted[0] == 200 and acted[1]["action"] == "halt"
    assert alert is not None and alert["type"] == "failure" and "halted by the web page" in alert["title"]
    assert flat == 0.0 and code == 0
    assert "web page action halt" in node.output
