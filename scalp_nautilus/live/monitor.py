"""`NodeMonitor`: the one actor that watches a live node, once a second on its event loop.

Each tick it takes a `Snapshot` of the strategy (through `StrategyView`) and of the market data
client's counters; the metrics endpoint (another thread) and the heartbeat read that snapshot,
never the strategy. It also:
- watches the connection (`connection`): no market message for `halt_after_s` stops entries
  (`disconnected`) and alerts; for `exit_after_s` it asks the supervisor to exit with code 12
  (`on_exit`); a message after the halt lifts it;
- alerts (`scalp_nautilus.alerts`) on the kill switch or any halt, a disconnect, an exchange stop
  refused by the venue or missing from an open position for `monitor.stop_missing_s`, a stale
  feed, the lag guard stopping entries, and once a day (`monitor.daily_summary_utc`) a summary;
- writes the heartbeat line every `heartbeat_s`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta

import pandas as pd

from nautilus_trader.common.actor import Actor
from nautilus_trader.model.enums import OrderStatus

from scalp_nautilus.alerts import Alerts
from scalp_nautilus.live.settings import LiveSettings
from scalp_nautilus.strategy.execution import is_exchange_stop
from scalp_nautilus.strategy.view import LagView
from scalp_nautilus.strategy.view import LimitView
from scalp_nautilus.strategy.view import OrderView
from scalp_nautilus.strategy.view import PnLView
from scalp_nautilus.strategy.view import PositionView
from scalp_nautilus.strategy.view import StrategyView

_S = 1_000_000_000
TICK_S = 1.0
EXIT_CONNECTION_LOST = 12  # see `scalp_nautilus.live.supervisor`


@dataclass(frozen=True)
class FeedView:
    """The market data client's state (`SyncedBinanceFuturesDataClient`, `SyncedBybitDataClient`)."""

    silent_s: float  # since the latest market message of any stream (node clock)
    book_age_s: float  # since the latest book batch reached the strategy
    gaps: int  # sequence breaks detected
    book_resyncs: int  # book re-syncs after the first, whichever path (a gap, a reconnect)
    reconnects: int
    disconnected: bool  # silent past `connection.halt_after_s`


@dataclass(frozen=True)
class Snapshot:
    ts_ns: int
    instrument_id: str
    currency: str
    position: PositionView
    pnl: PnLView
    lag: LagView
    feed: FeedView
    limits: list[LimitView]
    halt: str
    blocks: dict[str, str]
    orders: list[OrderView]
    outcomes: dict[str, int]
    stale_feeds: int
    stop_missing_s: float  # an open position without a resting exchange stop for this long (0: it has one, or flat)
    alerts_sent: int
    alerts_failed: int
    alerts_by_key: dict[str, int] = field(default_factory=dict)

    @property
    def exchange_stop(self) -> OrderView | None:
        return next((o for o in self.orders if o.exchange_stop), None)

    @property
    def state(self) -> str:
        """halted / paused / disconnected / lagging / running (the first that applies)."""
        if self.halt:
            return "halted"
        for block, name in (("paused", "paused"), ("disconnected", "disconnected"), ("lag", "lagging")):
            if block in self.blocks:
                return name
        return "running"


def heartbeat_line(s: Snapshot) -> str:
    halted = f"HALTED ({s.halt})" if s.halt else "not halted"
    blocks = f", entries held by {', '.join(s.blocks)}" if s.blocks else ""
    f, lag = s.feed, s.lag
    return (
        f"heartbeat: position {s.position.quantity:+g}, unrealised {s.pnl.unrealized:+.4f} {s.currency}, session P&L "
        f"{s.pnl.session:+.4f} {s.currency}, last book {f.book_age_s:.1f} s ago, lag p50/p99 exchange "
        f"{lag.exchange_p50_ms:.1f}/{lag.exchange_p99_ms:.1f} ms queue {lag.queue_p50_ms:.1f}/{lag.queue_p99_ms:.1f} ms, "
        f"book re-syncs {f.book_resyncs} (gaps {f.gaps}, reconnects {f.reconnects}, watchdog silences {s.stale_feeds})"
        f"{blocks}, {halted}"
    )


class NodeMonitor(Actor):
    """See the module doc. `strategy` is the `ScalpStrategy` (read through its view; steered only
    through its entry blocks), `data_client` the market data client, `alerts` the node's alerts."""

    def __init__(
        self,
        strategy,
        data_client,
        settings: LiveSettings,
        alerts: Alerts,
        on_exit: Callable[[int, str], None] | None = None,
    ) -> None:
        super().__init__()
        self._strategy = strategy
        self.view = StrategyView(strategy)
        self._client = data_client
        self._settings = settings
        self.alerts = alerts
        self._on_exit = on_exit
        self.snapshot: Snapshot | None = None
        self.beats = 0
        self.last_line = ""
        self.exit_request: tuple[int, str] | None = None
        self._started_ns = 0
        self._next_beat_ns = 0
        self._disconnected = False
        self._halt_seen = ""
        self._stale_seen = 0
        self._lag_seen = 0
        self._refused_seen: set[str] = set()
        self._unprotected_since = 0
        self._next_summary_ns = 0
        self._summary_trips = 0

    def on_start(self) -> None:
        now = self.clock.timestamp_ns()
        self._started_ns = now
        if self._settings.heartbeat_s:
            self._next_beat_ns = now + round(self._settings.heartbeat_s * _S)
        self._next_summary_ns = _next_daily(now, self._settings.monitor.daily_summary_utc)
        self.clock.set_timer("node-monitor", timedelta(seconds=TICK_S), callback=self._tick)

    def on_stop(self) -> None:
        pass  # Nautilus cancels the actor's timers itself

    # ------------------------------------------------------------------ the tick

    def _tick(self, event=None) -> None:
        now = self.clock.timestamp_ns()
        if not self.view.started:
            return  # the strategy stopped at start (the supervisor reports why)
        feed = self._feed(now)
        self._watch_connection(now, feed)
        self.snapshot = self.take(now)
        self._alerts(now, self.snapshot)
        if self._next_beat_ns and now >= self._next_beat_ns:
            self._next_beat_ns = now + round(self._settings.heartbeat_s * _S)
            self.last_line = heartbeat_line(self.snapshot)
            self.beats += 1
            self.log.info(self.last_line)

    def take(self, now_ns: int) -> Snapshot:
        v = self.view
        position = v.position()
        stop = v.exchange_stop()
        if position.quantity and stop is None:
            self._unprotected_since = self._unprotected_since or now_ns
        else:
            self._unprotected_since = 0
        counts = self.alerts.counts
        return Snapshot(
            ts_ns=now_ns,
            instrument_id=v.instrument_id,
            currency=v.currency,
            position=position,
            pnl=v.pnl(),
            lag=v.lag(),
            feed=self._feed(now_ns),
            limits=v.limits(now_ns),
            halt=v.halt(),
            blocks=v.entry_blocks(),
            orders=v.orders(),
            outcomes=v.outcomes(),
            stale_feeds=v.stale_feeds,
            stop_missing_s=(now_ns - self._unprotected_since) / _S if self._unprotected_since else 0.0,
            alerts_sent=counts.sent,
            alerts_failed=counts.failed,
            alerts_by_key=dict(counts.by_key),
        )

    def _feed(self, now_ns: int) -> FeedView:
        c = self._client
        last = max(getattr(c, "last_message_ns", 0), self._started_ns)
        # The clients stamp messages on their own threads: one may land after `now_ns`.
        return FeedView(
            silent_s=max((now_ns - last) / _S, 0.0),
            book_age_s=max(self.view.book_age_s(now_ns), 0.0),
            gaps=getattr(c, "gaps", 0),
            book_resyncs=getattr(c, "book_resyncs", 0),
            reconnects=getattr(c, "reconnects", 0),
            disconnected=self._disconnected,
        )

    # ------------------------------------------------------------------ the connection

    def _watch_connection(self, now_ns: int, feed: FeedView) -> None:
        c = self._settings.connection
        if feed.silent_s < c.halt_after_s:
            if self._disconnected:
                self._disconnected = False
                self._strategy.unblock_entries("disconnected")
                self.alerts.send("disconnect", "market data back", f"{self.view.instrument_id}: entries resume", "success")
            return
        if not self._disconnected:
            self._disconnected = True
            why = f"no market data for {feed.silent_s:.0f} s"
            self._strategy.block_entries("disconnected", why)
            self.alerts.send(
                "disconnect",
                f"disconnected: {why}",
                f"{self.view.instrument_id}: entries stopped; exit (code {EXIT_CONNECTION_LOST}) after "
                f"{c.exit_after_s:g} s, leaving the position with its exchange stop",
                "failure",
            )
        if feed.silent_s >= c.exit_after_s and self.exit_request is None:
            reason = f"connection lost: no market data for {feed.silent_s:.0f} s (limit {c.exit_after_s:g} s)"
            self.exit_request = (EXIT_CONNECTION_LOST, reason)
            self.log.error(reason)
            if self._on_exit is not None:
                self._on_exit(EXIT_CONNECTION_LOST, reason)

    # ------------------------------------------------------------------ alerts

    def _alerts(self, now_ns: int, s: Snapshot) -> None:
        a, iid = self.alerts, s.instrument_id
        if s.halt and s.halt != self._halt_seen:
            self._halt_seen = s.halt
            a.send("halt", f"HALTED: {s.halt}", f"{iid}: kill switch; no entries until the halt is cleared", "failure")
        elif not s.halt:
            self._halt_seen = ""
        if s.stale_feeds > self._stale_seen:
            self._stale_seen = s.stale_feeds
            a.send("stale_feed", "stale feed", f"{iid}: no book update for {s.feed.book_age_s:.1f} s", "warning")
        if s.lag.engagements > self._lag_seen:
            self._lag_seen = s.lag.engagements
            a.send(
                "lag",
                "feed lag: entries stopped",
                f"{iid}: a book batch decided {s.lag.worst_ms:.0f} ms late (limit {s.lag.limit_ms:g} ms); "
                "entries resume once caught up",
                "warning",
            )
        for order_id, reason in self._refused_stops():
            a.send("stop_refused", "exchange stop refused", f"{iid}: {order_id}: {reason}", "failure")
        limit = self._settings.monitor.stop_missing_s
        if s.stop_missing_s >= limit and self._strategy.config.exits.exchange_stop_k:
            a.send(
                "stop_missing",
                "position without an exchange stop",
                f"{iid}: position {s.position.quantity:+g} has had no resting exchange stop for {s.stop_missing_s:.0f} s",
                "failure",
            )
        if self._next_summary_ns and now_ns >= self._next_summary_ns:
            self._next_summary_ns = _next_daily(now_ns, self._settings.monitor.daily_summary_utc)
            a.send("daily_summary", "daily summary", self.summary(s), "info")

    def _refused_stops(self) -> list[tuple[str, str]]:
        """Exchange stops the venue rejected or Nautilus denied, not alerted yet."""
        out = []
        s = self._strategy
        for order in s.cache.orders(instrument_id=s.config.instrument_id, strategy_id=s.id):
            cid = order.client_order_id.value
            refused = order.status in (OrderStatus.REJECTED, OrderStatus.DENIED)
            if refused and is_exchange_stop(order) and cid not in self._refused_seen:
                self._refused_seen.add(cid)
                last = order.last_event
                out.append((cid, getattr(last, "reason", "") or order.status_string()))
        return out

    def summary(self, s: Snapshot) -> str:
        p, cur = s.pnl, s.currency
        day_trips = p.round_trips - self._summary_trips
        self._summary_trips = p.round_trips
        return (
            f"{s.instrument_id} at {pd.Timestamp(s.ts_ns, tz='UTC'):%Y-%m-%d %H:%M} UTC: {s.state}; position "
            f"{s.position.quantity:+g}; session P&L {p.session:+.4f} {cur} (realised {p.realized:+.4f}, fees {p.fees:.4f}, "
            f"funding {p.funding:+.4f}, unrealised {p.unrealized:+.4f}); {p.round_trips} round trips ({day_trips} since "
            f"the last summary, {p.wins} won); lag p99 {s.lag.exchange_p99_ms:.0f} ms exchange / {s.lag.queue_p99_ms:.0f} ms "
            f"queue; book re-syncs {s.feed.book_resyncs}; alerts sent {s.alerts_sent}"
        )


def _next_daily(now_ns: int, hhmm: str | None) -> int:
    """The next HH:MM UTC after `now_ns` (0: none)."""
    if hhmm is None:
        return 0
    hh, mm = (int(x) for x in hhmm.split(":"))
    now = pd.Timestamp(now_ns, tz="UTC")
    at = now.normalize() + pd.Timedelta(hours=hh, minutes=mm)
    if at <= now:
        at += pd.Timedelta(days=1)
    return int(at.value)
