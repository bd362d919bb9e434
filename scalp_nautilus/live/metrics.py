"""The node's Prometheus endpoint (`prometheus-client`): ``http://<metrics.host>:<metrics.port>/metrics``,
on loopback by default. prometheus-client's own HTTP server runs on its thread; each scrape reads
the monitor's latest `Snapshot` (taken once a second on the node's event loop), never the
strategy, so a scrape can neither race the strategy nor slow it down.

Metrics (label ``instrument`` on each; money in the settlement currency, ``currency`` label on `scalp_up`):
- position and P&L: `scalp_position`, `scalp_pnl{kind=realized|unrealized|funding|session}`,
  `scalp_fees`, `scalp_round_trips_total`, `scalp_round_trips_won_total`;
- decisions: `scalp_decisions_total{outcome}` (every outcome: the gates that blocked entries, the
  exits), `scalp_orders_last_minute` (the order rate the risk limit reads), `scalp_open_orders`;
- the feed: `scalp_lag_ms{clock=exchange|queue, quantile=0.5|0.99}` over the lag guard's window,
  `scalp_lag_guard_engaged`, `scalp_lag_guard_engagements_total`, `scalp_book_age_seconds`,
  `scalp_market_silence_seconds`, `scalp_book_resyncs_total`, `scalp_feed_gaps_total`,
  `scalp_reconnects_total`, `scalp_stale_feeds_total`;
- risk: `scalp_halted`, `scalp_entries_held{block}`, `scalp_risk_limit{limit}` and
  `scalp_risk_used{limit}` (each limit's setting and current use, 0 = off),
  `scalp_exchange_stop_present`, `scalp_exchange_stop_missing_seconds`;
- `scalp_alerts_sent_total`, `scalp_alerts_failed_total`, `scalp_up` (0 before the first snapshot).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry
from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from scalp_nautilus.live.monitor import NodeMonitor
from scalp_nautilus.live.settings import MetricsSettings
from scalp_nautilus.strategy.decision import ENTRY_BLOCKS

log = logging.getLogger(__name__)


class SnapshotCollector(Collector):
    def __init__(self, monitor: NodeMonitor) -> None:
        self._monitor = monitor

    def collect(self) -> Iterator:
        s = self._monitor.snapshot  # one reference read: the monitor replaces it whole
        up = GaugeMetricFamily(
            "scalp_up", "1 once the node runs and the monitor took a snapshot", labels=["instrument", "currency"]
        )
        if s is None:
            up.add_metric(["", ""], 0.0)
            yield up
            return
        i = s.instrument_id
        up.add_metric([i, s.currency], 1.0)
        yield up

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            g = GaugeMetricFamily(name, doc, labels=["instrument"])
            g.add_metric([i], _number(value))
            return g

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            c = CounterMetricFamily(name, doc, labels=["instrument"])
            c.add_metric([i], value)
            return c

        p = s.pnl
        yield gauge("scalp_position", "signed position, instrument size units", s.position.quantity)
        pnl = GaugeMetricFamily("scalp_pnl", "session P&L by part", labels=["instrument", "kind"])
        for kind, value in (
            ("realized", p.realized),
            ("unrealized", p.unrealized),
            ("funding", p.funding),
            ("session", p.session),
        ):
            pnl.add_metric([i, kind], value)
        yield pnl
        yield gauge("scalp_fees", "commissions paid this session", p.fees)
        yield counter("scalp_round_trips", "round trips closed this session", p.round_trips)
        yield counter("scalp_round_trips_won", "round trips closed with a profit after fees", p.wins)
        decisions = CounterMetricFamily("scalp_decisions", "book batches by decision outcome", labels=["instrument", "outcome"])
        for outcome, n in sorted(s.outcomes.items()):
            decisions.add_metric([i, outcome], n)
        yield decisions
        yield gauge("scalp_orders_last_minute", "orders sent in the last 60 s", _limit(s, "max_orders_per_minute").used)
        yield gauge("scalp_open_orders", "open orders of the strategy, the exchange stop included", len(s.orders))
        lag = GaugeMetricFamily("scalp_lag_ms", "book batch lateness at the decision", labels=["instrument", "clock", "quantile"])
        for clock, q, value in (
            ("exchange", "0.5", s.lag.exchange_p50_ms),
            ("exchange", "0.99", s.lag.exchange_p99_ms),
            ("queue", "0.5", s.lag.queue_p50_ms),
            ("queue", "0.99", s.lag.queue_p99_ms),
        ):
            lag.add_metric([i, clock, q], _number(value))
        yield lag
        yield gauge("scalp_lag_guard_engaged", "1 while the lag guard holds entries", float(s.lag.engaged))
        yield counter("scalp_lag_guard_engagements", "times the lag guard stopped entries", s.lag.engagements)
        yield gauge("scalp_book_age_seconds", "since the latest book batch", s.feed.book_age_s)
        yield gauge("scalp_market_silence_seconds", "since the latest market message of any stream", s.feed.silent_s)
        yield counter("scalp_book_resyncs", "book re-syncs after the first (gaps, reconnects)", s.feed.book_resyncs)
        yield counter("scalp_feed_gaps", "sequence breaks of the book feed", s.feed.gaps)
        yield counter("scalp_reconnects", "market data reconnections", s.feed.reconnects)
        yield counter("scalp_stale_feeds", "silences found by the feed watchdog", s.stale_feeds)
        yield gauge("scalp_halted", "1 while the kill switch holds a halt", float(bool(s.halt)))
        held = GaugeMetricFamily("scalp_entries_held", "1 while an entry block holds", labels=["instrument", "block"])
        for block in ENTRY_BLOCKS:
            held.add_metric([i, block], float(block in s.blocks))
        yield held
        limit = GaugeMetricFamily("scalp_risk_limit", "a risk limit's setting (0: off)", labels=["instrument", "limit"])
        used = GaugeMetricFamily("scalp_risk_used", "the value a risk limit is compared with", labels=["instrument", "limit"])
        for lv in s.limits:
            limit.add_metric([i, lv.name], lv.limit)
            used.add_metric([i, lv.name], lv.used)
        yield limit
        yield used
        yield gauge(
            "scalp_exchange_stop_present", "1 while a protective stop rests at the venue", float(s.exchange_stop is not None)
        )
        yield gauge(
            "scalp_exchange_stop_missing_seconds", "an open position without a resting stop for this long", s.stop_missing_s
        )
        yield counter("scalp_alerts_sent", "alerts delivered", s.alerts_sent)
        yield counter("scalp_alerts_failed", "alerts that failed for some URL", s.alerts_failed)


def _number(value: float) -> float:
    return float("nan") if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _limit(s, name: str):
    return next(lv for lv in s.limits if lv.name == name)


class MetricsServer:
    """prometheus-client's HTTP server on `settings.host:port` with one `SnapshotCollector`."""

    def __init__(self, settings: MetricsSettings, monitor: NodeMonitor) -> None:
        self.settings = settings
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(SnapshotCollector(monitor))
        self.port = settings.port
        self._server: WSGIServer | None = None

    async def start(self) -> None:
        server, _thread = start_http_server(self.settings.port, self.settings.host, registry=self.registry)
        self._server = server
        self.port = server.server_port
        log.info("metrics on http://%s:%d/metrics", self.settings.host, self.port)
        print(f"metrics: http://{self.settings.host}:{self.port}/metrics", flush=True)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
