"""The monitor's alerts (`live.monitor.NodeMonitor`), each condition once, delivered by apprise to a
JSON webhook on 127.0.0.1: a halt, a stale feed, the lag guard stopping entries, an exchange stop
refused by the venue, a position without a resting stop, the daily summary. The snapshots are
built by hand (the live tests drive the same code against the replay venue: a halt and a
disconnect in tests/test_live_watch.py and tests/test_live_exits.py)."""

from __future__ import annotations

import logging
import math
from types import SimpleNamespace

import msgspec
import pandas as pd

from nautilus_trader.model.enums import OrderStatus
from nautilus_trader.model.enums import OrderType

from scalp_nautilus.alerts import Alerts
from scalp_nautilus.alerts import AlertSettings
from scalp_nautilus.live.monitor import FeedView
from scalp_nautilus.live.monitor import NodeMonitor
from scalp_nautilus.live.monitor import Snapshot
from scalp_nautilus.live.monitor import heartbeat_line
from scalp_nautilus.live.settings import LiveSettings
from scalp_nautilus.strategy.view import LagView
from scalp_nautilus.strategy.view import PnLView
from scalp_nautilus.strategy.view import PositionView
from tests.support.webhook import JsonWebhook

S = 1_000_000_000
MIDNIGHT = pd.Timestamp("2024-07-19T00:00:00Z").value


def snapshot(**changes) -> Snapshot:
    base = dict(
        ts_ns=MIDNIGHT - 10 * S,
        instrument_id="BTCUSDT-PERP.BINANCE",
        currency="USDT",
        position=PositionView(0.0, math.nan, 0.0, 64_000.0),
        pnl=PnLView(1.5, 0.4, 0.0, 0.0, 3, 2),
        lag=LagView(5.0, 40.0, 0.2, 3.0, 5.0, 45.0, 0.2, 3.5, 60.0, False, 0, 1000.0),
        feed=FeedView(0.1, 0.1, 0, 1, 0, False),
        limits=[],
        halt="",
        blocks={},
        orders=[],
        outcomes={},
        stale_feeds=0,
        stop_missing_s=0.0,
        alerts_sent=0,
        alerts_failed=0,
    )
    return Snapshot(**{**base, **changes})


def monitor(hook: JsonWebhook, orders: list) -> NodeMonitor:
    settings = msgspec.convert(
        {"venue": "BINANCE", "instrument_id": "BTCUSDT-PERP.BINANCE", "monitor": {"stop_missing_s": 10.0}}, LiveSettings
    )
    strategy = SimpleNamespace(
        cache=SimpleNamespace(orders=lambda **kw: orders),
        config=SimpleNamespace(instrument_id="BTCUSDT-PERP.BINANCE", exits=SimpleNamespace(exchange_stop_k=2.0)),
        id="S-1",
    )
    alerts = Alerts(AlertSettings(urls=(hook.url,), min_interval_s=0.0, name="unit"), logging.getLogger("test"))
    m = NodeMonitor(strategy, None, settings, alerts)
    m._next_summary_ns = MIDNIGHT
    return m


def refused_stop(cid: str):
    return SimpleNamespace(
        client_order_id=SimpleNamespace(value=cid),
        status=OrderStatus.REJECTED,
        order_type=OrderType.STOP_MARKET,
        is_reduce_only=True,
        last_event=SimpleNamespace(reason="-2021 order would immediately trigger"),
        status_string=lambda: "REJECTED",
    )


def test_each_condition_alerts_once_and_the_daily_summary_at_midnight():
    hook = JsonWebhook()
    try:
        m = monitor(hook, [refused_stop("O-1")])
        quiet = snapshot()
        m._alerts(quiet.ts_ns, quiet)  # a refused stop already in the cache: alerted
        m._alerts(quiet.ts_ns, quiet)  # ...once
        halted = snapshot(halt="daily_loss_limit: day P&L -101 <= -100")
        m._alerts(quiet.ts_ns, halted)
        m._alerts(quiet.ts_ns, halted)  # the same halt: once
        lagging = snapshot(lag=LagView(5.0, 1500.0, 0.2, 3.0, 5.0, 45.0, 0.2, 3.5, 1600.0, True, 1, 1000.0), stale_feeds=1)
        m._alerts(quiet.ts_ns, lagging)
        unprotected = snapshot(position=PositionView(0.05, 64_000.0, -1.0, 63_980.0), stop_missing_s=12.0)
        m._alerts(quiet.ts_ns, unprotected)
        m._alerts(MIDNIGHT + S, snapshot(ts_ns=MIDNIGHT + S))  # the daily summary's time passed
        m.alerts.close()
        assert hook.wait_for("daily summary", 10) is not None
    finally:
        hook.close()
    titles = hook.titles()
    assert titles == [
        "[unit] exchange stop refused",
        "[unit] HALTED: daily_loss_limit: day P&L -101 <= -100",
        "[unit] stale feed",
        "[unit] feed lag: entries stopped",
        "[unit] position without an exchange stop",
        "[unit] daily summary",
    ]
    by_title = {r["title"]: r for r in hook.received}
    assert "O-1: -2021 order would immediately trigger" in by_title["[unit] exchange stop refused"]["message"]
    assert by_title["[unit] HALTED: daily_loss_limit: day P&L -101 <= -100"]["type"] == "failure"
    summary = by_title["[unit] daily summary"]["message"]
    assert "2024-07-19 00:00 UTC: running" in summary and "3 round trips (3 since the last summary, 2 won)" in summary
    assert m._next_summary_ns == MIDNIGHT + 86_400 * S  # the next one a day later


def test_the_heartbeat_names_lag_resyncs_and_blocks():
    line = heartbeat_line(snapshot(blocks={"paused": "by the web page"}, halt=""))
    assert "lag p50/p99 exchange 5.0/40.0 ms queue 0.2/3.0 ms" in line
    assert "book re-syncs 1 (gaps 0, reconnects 0, watchdog silences 0)" in line
    assert "entries held by paused" in line and line.endswith("not halted")
