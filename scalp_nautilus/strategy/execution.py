"""`Execution`: the order logic of one `ScalpStrategy` instance, testable without an engine.

It owns the position state the decision reads (`PositionState`), turns decisions into orders,
places the exits around an entry, and follows the order and position events. The strategy routes
to it; everything it needs from a node goes through an `OrderPort` (the strategy in a node, a fake
in the unit tests).

Orders: entries are IOC limits `orders.entry_slippage_bps` through the touch, exits reduce-only
IOC market orders; tags name the purpose (``entry:<signal set>``, ``exit:<reason>``) so Nautilus's
fills report carries them. While an order of ours is in flight no other is sent (the latch); after
the venue rejects one, the latch holds for `orders.reject_pause_s` more of exchange time.

Adoption (live): orders and a position that Nautilus reconciled at start and assigned to the
strategy are taken over: an open order holds the latch until it closes, and a position gets exits
as if it had been entered at its average price: a time stop from the first book batch, stop and
take-profit once the volatility is known (at once with a restored state).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Protocol

from nautilus_trader.common.factories import OrderFactory
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import TimeInForce
from nautilus_trader.model.events import OrderRejected
from nautilus_trader.model.identifiers import ClientOrderId
from nautilus_trader.model.identifiers import PositionId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.orders import Order
from nautilus_trader.model.position import Position

from scalp_nautilus.features import FeatureSnapshot
from scalp_nautilus.strategy.config import ScalpStrategyConfig
from scalp_nautilus.strategy.decision import ENTER
from scalp_nautilus.strategy.decision import FLAT
from scalp_nautilus.strategy.decision import Decision
from scalp_nautilus.strategy.decision import DecisionParams
from scalp_nautilus.strategy.decision import PositionState
from scalp_nautilus.strategy.decision import exit_distances
from scalp_nautilus.strategy.records import RoundTrip

_S = 1_000_000_000
ADOPTED = "adopted"  # the signal set of a position taken over at start


class OrderPort(Protocol):
    """What `Execution` needs from a node: the strategy's order factory, its orders and position
    in the cache, and the order commands. All scoped to the strategy and its instrument."""

    order_factory: OrderFactory

    def submit(self, order: Order, position_id: PositionId | None = None) -> None: ...

    def cancel(self, order: Order) -> None: ...

    def order(self, client_order_id: ClientOrderId) -> Order | None: ...

    def open_orders(self) -> list[Order]: ...

    def position(self) -> Position | None: ...

    def warn(self, message: str) -> None: ...


class Execution:
    """Orders, the latch and the position state of one strategy instance (see the module doc).

    Inputs, in the strategy's order: `adopt` at start, `on_batch` on every book batch (before the
    decision), `act` with a decision, `on_order_event`, `on_position` (opened or changed) and
    `on_position_closed`. `state` is what the decision reads.
    """

    def __init__(self, config: ScalpStrategyConfig, instrument: Instrument, params: DecisionParams, port: OrderPort) -> None:
        o = config.orders
        self.instrument = instrument
        self.params = params
        self.port = port
        self._slippage = o.entry_slippage_bps * 1e-4
        self._cooldown_ns = round(o.cooldown_s * _S)
        self._reject_pause_ns = round(o.reject_pause_s * _S)
        self._reject_pause_s = o.reject_pause_s
        self.state: PositionState = FLAT
        self.pending: ClientOrderId | None = None  # the latch
        self.plan: Decision | None = None  # the entry decision behind the open position
        self.exit_reason = ""
        self.adopting = False  # a position taken over at start still waits for its exits
        self._pause_until_ns = 0  # after a rejection: the latch holds until this exchange time
        self._ts = -1  # exchange time of the latest book batch (-1: none yet)
        self._bid = math.nan  # the latest batch's touch
        self._ask = math.nan

    # ------------------------------------------------------------------ state the strategy sets

    def close_trading(self) -> None:
        """Past `orders.flatten_at`: no entries; the decision exits what is open."""
        self.state = dataclasses.replace(self.state, closed=True)

    def set_next_funding(self, ts_ns: int) -> None:
        if ts_ns != self.state.next_funding_ns:
            self.state = dataclasses.replace(self.state, next_funding_ns=ts_ns)

    # ------------------------------------------------------------------ adoption

    def adopt(self) -> None:
        """Take over what reconciliation assigned to this strategy (see the module doc)."""
        orders = self.port.open_orders()
        if orders:
            self._latch(orders[0].client_order_id)
            self.port.warn(f"adopted {len(orders)} open order(s) of {self.instrument.id}: no new order until they close")
        position = self.port.position()
        if position is not None:
            side = 1 if position.is_long else -1
            # No stop until the volatility is known: a price no mid can cross.
            self.state = dataclasses.replace(self.state, side=side, stop_price=0.0 if side > 0 else math.inf)
            self.adopting = True
            self.port.warn(f"adopted position {position.signed_qty} {self.instrument.id} @ {position.avg_px_open}: "
                           "exits from the first book update")

    def _plan_adopted(self, row: FeatureSnapshot) -> None:
        position = self.port.position()
        if position is None:
            self.adopting = False
            return
        p = self.params
        time_stop = self.state.time_stop_ns or (row.ts_event + p.time_stop_ns if p.time_stop_ns else 0)
        if not (row.book_valid and row.blend_vol > 0.0):
            self.state = dataclasses.replace(self.state, time_stop_ns=time_stop)
            return
        side = self.state.side
        stop, take_profit = exit_distances(row.mid, row.blend_vol, p)
        self.plan = Decision(ENTER, ADOPTED, side, position.quantity.as_double(), ADOPTED, 0.0, stop, take_profit, time_stop)
        self._place_exits(side, position.avg_px_open)
        self.adopting = False

    # ------------------------------------------------------------------ book batches and decisions

    def on_batch(self, row: FeatureSnapshot, best_bid: float, best_ask: float) -> None:
        """A book batch, before its decision: the pause after a rejection ends on exchange time,
        and an adopted position gets its exits."""
        self._ts = row.ts_event
        self._bid, self._ask = best_bid, best_ask
        if self._pause_until_ns and row.ts_event >= self._pause_until_ns:
            self._pause_until_ns = 0
            self.state = dataclasses.replace(self.state, order_pending=False)
        if self.adopting:
            self._plan_adopted(row)

    def act(self, decision: Decision) -> None:
        if decision.action == ENTER:
            self._enter(decision)
        elif decision.action != 0:
            self._exit(decision)

    def _enter(self, d: Decision) -> None:
        inst = self.instrument
        buy = d.direction > 0
        touch = self._ask if buy else self._bid
        if not touch > 0.0:  # the decision saw a valid book; this is the same book
            return
        limit = inst.make_price(touch * (1.0 + self._slippage if buy else 1.0 - self._slippage))
        order = self.port.order_factory.limit(
            instrument_id=inst.id,
            order_side=OrderSide.BUY if buy else OrderSide.SELL,
            quantity=inst.make_qty(d.size),
            price=limit,
            time_in_force=TimeInForce.IOC,
            tags=[f"entry:{d.kind}"],
        )
        self.plan = d
        self._latch(order.client_order_id)
        self.port.submit(order)

    def _exit(self, d: Decision) -> None:
        position = self.port.position()
        if position is None:  # closed under us (e.g. a reduce-only fill raced the decision)
            self.state = self._flat(self.state.cooldown_until_ns)
            return
        order = self.port.order_factory.market(
            instrument_id=position.instrument_id,
            order_side=OrderSide.SELL if position.is_long else OrderSide.BUY,
            quantity=position.quantity,
            time_in_force=TimeInForce.IOC,
            reduce_only=True,
            tags=[f"exit:{d.outcome}"],
        )
        self.exit_reason = d.outcome
        self._latch(order.client_order_id)
        self.port.submit(order, position.id)

    def _latch(self, client_order_id: ClientOrderId) -> None:
        self.pending = client_order_id
        self.state = dataclasses.replace(self.state, order_pending=True)

    # ------------------------------------------------------------------ events

    def on_order_event(self, event) -> None:
        if event.client_order_id != self.pending:
            return
        order = self.port.order(event.client_order_id)
        if order is None or not order.is_closed:
            return
        self.pending = None
        others = self.port.open_orders()
        if others:  # adopted orders: the latch moves to the next one
            self._latch(others[0].client_order_id)
        elif isinstance(event, OrderRejected) and self._reject_pause_ns and self._ts >= 0:
            self._pause_until_ns = self._ts + self._reject_pause_ns
            self.port.warn(f"{event.client_order_id} rejected ({event.reason}): no new order for {self._reject_pause_s} s")
        else:
            self.state = dataclasses.replace(self.state, order_pending=False)

    def on_position(self, event) -> None:
        """Opened or changed: stops from the entry plan, placed around the position's average entry price."""
        if self.plan is None:
            return
        self._place_exits(1 if event.signed_qty > 0 else -1, event.avg_px_open)

    def _place_exits(self, side: int, entry: float) -> None:
        """The plan's stop, take-profit and time stop around the position's average entry price."""
        plan = self.plan
        self.state = dataclasses.replace(
            self.state,
            side=side,
            stop_price=entry - side * plan.stop_distance,
            take_profit_price=entry + side * plan.take_profit_distance if plan.take_profit_distance else 0.0,
            time_stop_ns=plan.time_stop_ns,
        )

    def on_position_closed(self, event, commissions: float) -> RoundTrip:
        """The round trip of a closed position (`commissions` in the settlement currency); flat again."""
        plan = self.plan
        trip = RoundTrip(
            event.ts_opened, event.ts_closed, 1 if event.entry == OrderSide.BUY else -1, float(event.peak_qty),
            event.avg_px_open, event.avg_px_close, event.realized_pnl.as_double(), commissions,
            plan.kind if plan else "", self.exit_reason,
        )
        self.plan = None
        self.exit_reason = ""
        self.state = self._flat(event.ts_closed + self._cooldown_ns)
        return trip

    def _flat(self, cooldown_until_ns: int) -> PositionState:
        """No position; the latch, trading hours and funding clock carry over."""
        s = self.state
        return dataclasses.replace(
            FLAT, order_pending=s.order_pending, closed=s.closed, cooldown_until_ns=cooldown_until_ns,
            next_funding_ns=s.next_funding_ns,
        )
