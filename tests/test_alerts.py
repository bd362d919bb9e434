"""Alerts (`scalp_nautilus.alerts`) delivered by apprise to a JSON webhook on 127.0.0.1."""

from __future__ import annotations

import logging

import msgspec
import pytest

from scalp_nautilus.alerts import Alerts
from scalp_nautilus.alerts import AlertSettings
from scalp_nautilus.config import ConfigError
from scalp_nautilus.config import decode
from tests.support.webhook import JsonWebhook


@pytest.fixture
def hook():
    h = JsonWebhook()
    yield h
    h.close()


def test_an_alert_reaches_a_json_webhook_with_title_body_and_level(hook) -> None:
    alerts = Alerts(AlertSettings(urls=(f"json://127.0.0.1:{hook.port}/hook",), name="node-1"), logging.getLogger("t"))
    assert alerts.send("kill_switch", "kill switch tripped", "daily loss 101 > 100 USDT", "failure")
    alerts.close()
    assert len(hook.received) == 1
    got = hook.received[0]
    assert got["path"] == "/hook"
    assert got["title"] == "[node-1] kill switch tripped"
    assert got["message"] == "daily loss 101 > 100 USDT"
    assert got["type"] == "failure"
    assert alerts.counts.sent == 1 and alerts.counts.failed == 0


def test_repeats_of_a_key_are_throttled_and_counted_in_the_next_alert(hook) -> None:
    now = [0.0]
    alerts = Alerts(
        AlertSettings(urls=(f"json://127.0.0.1:{hook.port}/",), min_interval_s=60), logging.getLogger("t"), clock=lambda: now[0]
    )
    assert alerts.send("stale", "feed stale", "no book for 5 s")
    now[0] = 10.0
    assert not alerts.send("stale", "feed stale", "no book for 15 s")
    assert not alerts.send("stale", "feed stale", "no book for 16 s")
    assert alerts.send("disk", "disk low", "1 GB free")  # another key is not held back
    now[0] = 61.0
    assert alerts.send("stale", "feed stale", "no book for 66 s")
    alerts.close()
    messages = [r["message"] for r in hook.received]
    assert messages[0] == "no book for 5 s"
    assert messages[1] == "1 GB free"
    assert messages[2].startswith("no book for 66 s") and "2 repeat(s)" in messages[2]
    assert alerts.counts.suppressed == 2 and alerts.counts.sent == 3
    assert alerts.counts.by_key == {"stale": 4, "disk": 1}


def test_an_unreachable_endpoint_is_counted_and_logged_not_raised(caplog) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    alerts = Alerts(AlertSettings(urls=(f"json://127.0.0.1:{port}/",)), logging.getLogger("t"))
    with caplog.at_level(logging.WARNING):
        assert alerts.send("halt", "halted")
        alerts.close()
    assert alerts.counts.failed == 1 and alerts.counts.sent == 0
    assert "delivery of '[scalp-nautilus] halted' failed" in caplog.text


def test_without_urls_alerts_are_logged_only(caplog) -> None:
    alerts = Alerts(AlertSettings(), logging.getLogger("t"))
    with caplog.at_level(logging.INFO):
        assert alerts.send("daily", "daily summary", "net +1.2 USDT", "info")
    alerts.close()
    assert "ALERT daily: daily summary — net +1.2 USDT" in caplog.text
    assert alerts.counts.sent == 0


def test_a_url_apprise_cannot_use_fails_when_the_config_is_loaded_without_leaking_its_secret() -> None:
    with pytest.raises(ConfigError) as err:
        decode({"alerts": {"urls": ["nosuchscheme://user:s3cret@example.org/x"]}}, _WithAlerts, "live.yaml")
    text = str(err.value)
    assert "live.yaml" in text and "alerts" in text
    assert "s3cret" not in text
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"min_interval_s": -1}, AlertSettings)


class _WithAlerts(msgspec.Struct, forbid_unknown_fields=True):
    alerts: AlertSettings = AlertSettings()
