"""`StrategyView`: what a `ScalpStrategy` shows to whoever watches a live node (the heartbeat, the
metrics, the web page, the session report), as plain values: the one read-only way in (DESIGN §8),
so that none of them reads the strategy's internals. Call it on the node's event loop (the
strategy's state changes there); a reader on another thread takes a snapshot built there.

Money in the instrument's settlement currency. Session figures count this process's round trips:
realised = Nautilus's realised P&L of the closed positions (after their fees), fees = their
commissions plus those of the open position, funding = the ledger's booked payments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import order_type_to_str
from nautilus_trader.model.objects import Price

from scalp_nautilus.strategy import risk
from scalp_nautilus.strategy.decision import ENTER
from scalp_nautilus.strategy.decision import EXIT
from scalp_nautilus.strategy.execution import is_exchange_stop
from scalp_nautilus.strategy.records import SavedPosition

_S = 1_000_000_000
_ACTIONS = {ENTER: "enter", EXIT: "exit"}

# The feature values the page shows (FeatureSnapshot fields), in its order.
FEATURES = (
    "mid",
    "spread_bps",
    "vpin",
    "vpin_regime",
    "ofi_z",
    "cvd_z",
    "cvd_divergence",
    "hurst",
    "ou_z",
    "blend_vol",
    "regime_multiplier",
    "depth_imbalance",
    "ensemble_direction",
    "ensemble_confidence",
    "funding_bps",
)


@dataclass(frozen=True)
class PositionView:
    quantity: float  # signed, instrument size units (0: flat)
    avg_px: float  # average entry price (nan: flat)
    unrealized: float  # at the mid
    mid: float


@dataclass(frozen=True)
class PnLView:
    realized: float  # closed round trips, after their fees
    fees: float  # closed round trips and the open position
    funding: float  # booked (received > 0)
    unrealized: float
    round_trips: int
    wins: int

    @property
    def session(self) -> float:
        return self.realized + self.unrealized + self.funding


@dataclass(frozen=True)
class OrderView:
    client_order_id: str
    side: str  # BUY / SELL
    type: str  # LIMIT, MARKET, STOP_MARKET, ...
    quantity: float
    price: float  # limit price (nan: none)
    trigger: float  # trigger price (nan: none)
    status: str
    purpose: str  # its tag: entry:<set>, exit:<reason>, exchange_stop ("" without one)
    exchange_stop: bool


@dataclass(frozen=True)
class LimitView:
    name: str  # a `RiskSettings` field
    limit: float  # 0: off
    used: float  # the current value it is compared with (same unit)


@dataclass(frozen=True)
class DecisionView:
    ts_ns: int  # node clock
    outcome: str  # what was done, or the gate that held the entry
    action: str  # hold / enter / exit
    direction: int
    kind: str  # the entry's signal set
    confidence: float


@dataclass(frozen=True)
class LagView:
    exchange_p50_ms: float  # now - exchange event time, the last `lag.window` batches
    exchange_p99_ms: float
    queue_p50_ms: float  # now - receipt
    queue_p99_ms: float
    session_exchange_p50_ms: float  # the whole session (5 % resolution)
    session_exchange_p99_ms: float
    session_queue_p50_ms: float
    session_queue_p99_ms: float
    worst_ms: float
    engaged: bool  # entries held by the lag guard now
    engagements: int
    limit_ms: float


class StrategyView:
    """Read-only figures of one strategy instance (see the module doc)."""

    def __init__(self, strategy) -> None:
        self._s = strategy

    @property
    def instrument_id(self) -> str:
        return str(self._s.config.instrument_id)

    @property
    def currency(self) -> str:
        instrument = self._s.instrument
        return instrument.get_settlement_currency().code if instrument is not None else ""

    @property
    def running(self) -> bool:
        return bool(self._s.is_running)

    @property
    def started(self) -> bool:
        """Its instrument was found and its pipeline built (else it stopped at start)."""
        return self._s.pipeline is not None

    # ------------------------------------------------------------------ position and P&L

    def position(self) -> PositionView:
        s, p = self._s, self._s._built
        if p is None:
            return PositionView(0.0, math.nan, 0.0, 0.0)
        mid = s._mid()
        position = s.position()
        if position is None:
            return PositionView(0.0, math.nan, 0.0, mid)
        unrealized = position.unrealized_pnl(Price(mid, p.mark_precision)).as_double() if mid else 0.0
        return PositionView(position.signed_qty, position.avg_px_open, unrealized, mid)

    def pnl(self) -> PnLView:
        s = self._s
        trips = s.round_trips
        fees = sum(t.commissions for t in trips)
        p = s._built
        position = s.position() if p is not None else None
        if position is not None:
            fees += sum(m.as_double() for m in position.commissions() if m.currency == p.currency)
        return PnLView(
            realized=sum(t.realized_pnl for t in trips),
            fees=fees,
            funding=s.ledger.total if s.ledger is not None else 0.0,
            unrealized=self.position().unrealized,
            round_trips=len(trips),
            wins=sum(1 for t in trips if t.realized_pnl > 0),
        )

    def curve(self, max_points: int = 600) -> list[tuple[int, float, float, float]]:
        """(ts ns, equity, mid, position) of the sampled timeline, at most `max_points` (evenly thinned)."""
        timeline = self._s.timeline
        n = len(timeline)
        step = max(1, math.ceil(n / max_points))
        ts, mid, equity, position = (timeline.column(c) for c in ("ts", "mid", "equity", "position"))
        return [(ts[i], equity[i], mid[i], position[i]) for i in range(0, n, step)]

    # ------------------------------------------------------------------ orders and the exchange stop

    def orders(self) -> list[OrderView]:
        """Open orders of the strategy, the resting exchange stop included."""
        s = self._s
        if s._built is None:
            return []
        return [_order_view(o) for o in s.open_orders()]

    def exchange_stop(self) -> OrderView | None:
        return next((o for o in self.orders() if o.exchange_stop), None)

    # ------------------------------------------------------------------ decisions and features

    def outcomes(self) -> dict[str, int]:
        return dict(self._s.outcomes)

    def decisions(self, n: int = 50) -> list[DecisionView]:
        recent = list(self._s.recent)[-n:]
        return [
            DecisionView(ts, d.outcome, _ACTIONS.get(d.action, "hold"), d.direction, d.kind, d.confidence)
            for ts, d in reversed(recent)
        ]

    def features(self) -> dict[str, float]:
        """The latest book batch's feature values (`FEATURES`, plus warm and cold); empty before one."""
        row = self._s._row
        if row is None:
            return {}
        out: dict[str, float] = {name: float(getattr(row, name)) for name in FEATURES}
        out["warm"] = float(row.warm)
        out["ts_event_ns"] = float(row.ts_event)
        return out

    def feature_history(self, max_points: int = 300) -> dict[str, list[float]]:
        """The sampled timeline's feature columns (vpin, hurst, regime multiplier) and its times."""
        timeline = self._s.timeline
        n = len(timeline)
        first = max(0, n - max_points)
        return {c: list(timeline.column(c)[first:]) for c in ("ts", "mid", "vpin", "hurst", "regime_multiplier")}

    # ------------------------------------------------------------------ risk, gates, lag

    def halt(self) -> str:
        r = self._s.risk
        return str(r.halt) if r.halted else ""

    def entry_blocks(self) -> dict[str, str]:
        return self._s.entry_blocks

    def limits(self, now_ns: int) -> list[LimitView]:
        s = self._s
        r, cfg = s.risk, s.config.risk
        notional = 0.0
        position = self.position()
        if position.quantity and position.mid:
            notional = abs(position.quantity) * position.mid
        return [
            LimitView(risk.MAX_POSITION_NOTIONAL, cfg.max_position_notional, notional),
            LimitView(risk.DAILY_LOSS, cfg.daily_loss_limit, max(0.0, -r.day_pnl)),
            LimitView(risk.CONSECUTIVE_LOSSES, float(cfg.max_consecutive_losses), float(r.losses_in_row)),
            LimitView(risk.ORDER_RATE, float(cfg.max_orders_per_minute), float(r.orders_in_last_minute(now_ns))),
        ]

    def lag(self) -> LagView:
        g = self._s.lag
        exchange_p50, exchange_p99 = g.exchange.recent_quantiles_ms((0.5, 0.99))
        queue_p50, queue_p99 = g.queue.recent_quantiles_ms((0.5, 0.99))
        return LagView(
            exchange_p50,
            exchange_p99,
            queue_p50,
            queue_p99,
            g.exchange.session.quantile(0.5),
            g.exchange.session.quantile(0.99),
            g.queue.session.quantile(0.5),
            g.queue.session.quantile(0.99),
            g.worst_ns / 1e6,
            g.engaged,
            g.engagements,
            g.max_ns / 1e6,
        )

    def saved_position(self) -> SavedPosition | None:
        """The open position as the state file records it (None: flat)."""
        return self._s.saved_position() if self._s.instrument is not None else None

    def book_age_s(self, now_ns: int) -> float:
        """Since the latest book batch, on the node's clock (nan: none yet)."""
        last = self._s._last_book_ns
        return (now_ns - last) / _S if last else math.nan

    @property
    def batches(self) -> int:
        return self._s.batches

    @property
    def stale_feeds(self) -> int:
        return self._s.stale_feeds


def _order_view(order) -> OrderView:
    price = float(order.price) if order.has_price else math.nan
    trigger = float(order.trigger_price) if order.has_trigger_price else math.nan
    return OrderView(
        client_order_id=order.client_order_id.value,
        side="BUY" if order.side == OrderSide.BUY else "SELL",
        type=order_type_to_str(order.order_type),
        quantity=order.quantity.as_double(),
        price=price,
        trigger=trigger,
        status=order.status_string(),
        purpose=order.tags[0] if order.tags else "",
        exchange_stop=is_exchange_stop(order),
    )
