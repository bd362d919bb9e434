"""`Execution`: the order logic of one `ScalpStrategy` instance, testable without an engine.

It owns the position state the decision reads (`PositionState`), turns decisions into orders,
places the exits around an entry, and follows the order and position events. The strategy routes
to it; everything it needs from a node goes through an `OrderPort` (the strategy in a node, a fake
in the unit tests).

Orders; tags name the purpose (``entry:<signal set>``, ``exit:<reason>``) so Nautilus's fills
report carries them. While an entry or exit of ours is in flight no other is sent (the latch);
after the venue rejects one, the latch holds for `orders.reject_pause_s` more of exchange time.
- `orders.entry: taker`: an IOC limit `orders.entry_slippage_bps` through the touch.
- `orders.entry: maker`: a post-only limit at the touch (a buy joins the best bid). On each book
  batch while it rests: after `orders.maker_ttl_ms` it is cancelled; when the decision no longer
  gives the same entry it is cancelled (`signal`); when the touch moved `orders.reprice_ticks` away
  it is cancelled and, once the venue confirms the cancel, posted again at the new touch with the
  current decision's size and exits. One order at a time: the latch holds through the reprice,
  and the new order is only sent after the old one is closed. A partial fill keeps what filled
  (the exits are placed around it) and cancels the rest. A post-only order the venue refuses
  (it would have crossed) is counted (`post_only_refusals`) and is no error: no pause follows. The
  feed watchdog withdraws a resting entry (no batch would review it); a refused cancel is tried again.
- Exits are reduce-only IOC market orders, except the take-profit, a limit at its price (on the
  tick grid, rounded away from the entry) so that it never books a loss after the fees its floor
  covers: a taker take-profit (`exits.take_profit_order: taker`) is a reduce-only IOC limit sent when
  the exit side's touch reaches the price (what it cannot take stays in the position, and the
  decision tries again); a maker take-profit (`maker`) is a reduce-only post-only limit at the price,
  posted when the entry is complete and resting until it fills. It does not hold the latch; any
  other exit (stop, time stop, flatten, stale feed: all market) first cancels it and goes out when
  the venue confirmed the cancel, for what is then left of the position. A refused maker
  take-profit falls back to the decision's taker take-profit.

The protective stop at the exchange (`exits.exchange_stop_k`, 0: none): once an entry has filled
and no order of ours is in flight, a reduce-only STOP_MARKET order for the whole position rests at
the venue, `exchange_stop_k` x the plan's stop distance from the average entry price, triggered by
the venue's mark or last price (`exits.exchange_stop_trigger`); Nautilus's Binance adapter sends it
to the conditional (algo) order endpoint. It is re-placed when the position's size changes,
cancelled once the position is closed, and placed for an adopted position as soon as its exits are
known. Cancelled at the next book batch after the close (before any decision of that batch) if the
venue has not closed it by then: Nautilus's matching engine cancels a closed position's reduce-only
orders itself at the closing fill (a live venue may or may not), and a cancel sent at the close
only came back refused ("not found"), twice logged as a warning per round trip. A reduce-only order left
open for that one batch cannot open a position. A resting maker take-profit is treated the same.
If the venue rejects the stop (or Nautilus denies it), the position is closed at market
(`stop_rejected`) and the reason logged. It does not hold the latch: it is not an order in flight.
A position the stop closed is a round trip with exit reason ``exchange_stop``.

Adoption (live): orders and a position that Nautilus reconciled at start and assigned to the
strategy are taken over: an open order holds the latch until it closes, and a position gets exits
as if it had been entered at its average price: a time stop from the first book batch, stop and
take-profit once the volatility is known (at once with a restored state). Exchange stops found
open at start belong to the session that placed them: they are cancelled (a flat account is left
with none; an adopted position gets a fresh one).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from typing import Protocol

from nautilus_trader.common.factories import OrderFactory
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import OrderType
from nautilus_trader.model.enums import TimeInForce
from nautilus_trader.model.enums import TriggerType
from nautilus_trader.model.events import OrderCancelRejected
from nautilus_trader.model.events import OrderDenied
from nautilus_trader.model.events import OrderExpired
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.events import OrderRejected
from nautilus_trader.model.identifiers import ClientOrderId
from nautilus_trader.model.identifiers import PositionId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price
from nautilus_trader.model.orders import Order
from nautilus_trader.model.position import Position

from scalp_nautilus.features import FeatureSnapshot
from scalp_nautilus.strategy.decision import ENTER
from scalp_nautilus.strategy.decision import EXIT
from scalp_nautilus.strategy.decision import FLAT
from scalp_nautilus.strategy.decision import Decision
from scalp_nautilus.strategy.decision import DecisionParams
from scalp_nautilus.strategy.decision import PositionState
from scalp_nautilus.strategy.decision import exit_distances
from scalp_nautilus.strategy.records import RoundTrip
from scalp_nautilus.strategy.settings import ScalpStrategyConfig

_S = 1_000_000_000
ADOPTED = "adopted"  # the signal set of a position taken over at start
EXCHANGE_STOP = "exchange_stop"  # the protective stop's tag and the exit reason of a position it closed
_TRIGGER = {"mark": TriggerType.MARK_PRICE, "last": TriggerType.LAST_PRICE}


def is_exchange_stop(order: Order) -> bool:
    """The protective stop (ours, or one reconciled from a previous session: tags do not survive)."""
    return order.order_type == OrderType.STOP_MARKET and order.is_reduce_only


# `Execution.counts` keys, in report order
COUNTS = (
    "maker_posted",
    "maker_filled",
    "post_only_refusals",
    "reprices",
    "cancel_ttl",
    "cancel_signal",
    "cancel_stale_feed",
    "partial_fills",
    "tp_posted",
    "tp_filled",
    "tp_refusals",
)


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

    def error(self, message: str) -> None: ...


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
        self._stop_k = config.exits.exchange_stop_k
        self._stop_trigger = _TRIGGER[config.exits.exchange_stop_trigger]
        self.stop_order: Order | None = None  # the protective stop we placed last
        self._leftovers: list[Order] = []  # a closed position's exit orders, cancelled at the next batch if still open
        self.maker_entry = o.entry == "maker"
        self.maker_take_profit = config.exits.take_profit_order == "maker"
        self._ttl_ns = round(o.maker_ttl_ms * 1_000_000)
        self._tick = float(instrument.price_increment)
        self._reprice_distance = (o.reprice_ticks - 0.5) * self._tick  # >= reprice_ticks ticks, float-safe
        self.counts: Counter = Counter()
        self.state: PositionState = FLAT
        self.pending: ClientOrderId | None = None  # the latch
        self.plan: Decision | None = None  # the entry decision behind the open position
        self.exit_reason = ""
        self.adopting = False  # a position taken over at start still waits for its exits
        self._pause_until_ns = 0  # after a rejection: the latch holds until this exchange time
        self._ts = -1  # exchange time of the latest book batch (-1: none yet)
        self._bid = math.nan  # the latest batch's touch
        self._ask = math.nan
        self.resting: Order | None = None  # a maker entry posted and not closed yet
        self._rested_at = 0  # exchange time it was posted
        self._canceling = ""  # why the resting entry is being cancelled ("" : it is not)
        self._repost: Decision | None = None  # the entry to post once the cancel is confirmed
        self.take_profit: Order | None = None  # a maker take-profit resting at the venue
        self._take_profit_price = 0.0  # the plan's take-profit price (maker: not in `state`)
        self._exit_after: Decision | None = None  # an exit waiting for the take-profit's cancel

    # ------------------------------------------------------------------ state the strategy sets

    def close_trading(self) -> None:
        """Past `orders.flatten_at`, or the kill switch: no entries; the decision exits what is open."""
        self.state = dataclasses.replace(self.state, closed=True)

    def open_trading(self) -> None:
        """The operator cleared the kill switch's halt (before `orders.flatten_at`): entries again."""
        self.state = dataclasses.replace(self.state, closed=False)

    def cancel_working(self) -> None:
        """The kill switch: cancel the orders that hold the latch; the protective stop goes once flat,
        a resting take-profit with the exit that closes the position."""
        for order in self._working_orders():
            self.port.cancel(order)

    def set_next_funding(self, ts_ns: int) -> None:
        if ts_ns != self.state.next_funding_ns:
            self.state = dataclasses.replace(self.state, next_funding_ns=ts_ns)

    # ------------------------------------------------------------------ adoption

    def adopt(self) -> None:
        """Take over what reconciliation assigned to this strategy (see the module doc)."""
        stale = [o for o in self.port.open_orders() if is_exchange_stop(o)]
        for order in stale:
            self.port.cancel(order)
        if stale:
            self.port.warn(f"cancelled {len(stale)} exchange stop(s) left by a previous session")
        orders = self._working_orders()
        if orders:
            self._latch(orders[0].client_order_id)
            self.port.warn(f"adopted {len(orders)} open order(s) of {self.instrument.id}: no new order until they close")
        position = self.port.position()
        if position is not None:
            side = 1 if position.is_long else -1
            # No stop until the volatility is known: a price no mid can cross.
            self.state = dataclasses.replace(self.state, side=side, stop_price=0.0 if side > 0 else math.inf)
            self.adopting = True
            self.port.warn(
                f"adopted position {position.signed_qty} {self.instrument.id} @ {position.avg_px_open}: "
                "exits from the first book update"
            )

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
        self._protect()

    # ------------------------------------------------------------------ book batches and decisions

    def on_batch(self, row: FeatureSnapshot, best_bid: float, best_ask: float, signal: Decision | None = None) -> None:
        """A book batch, before its decision: the pause after a rejection ends on exchange time, an
        adopted position gets its exits, and a resting maker entry is reviewed against `signal`,
        the decision as if no order were in flight (`unlatched`)."""
        self._ts = row.ts_event
        self._bid, self._ask = best_bid, best_ask
        if self._leftovers:
            for order in self._leftovers:
                if not order.is_closed:
                    self.port.cancel(order)
            self._leftovers = []
        if self._pause_until_ns and row.ts_event >= self._pause_until_ns:
            self._pause_until_ns = 0
            self.state = dataclasses.replace(self.state, order_pending=False)
        if self.adopting:
            self._plan_adopted(row)
        if self.resting is not None and not self._canceling:
            self._review(signal)

    def unlatched(self) -> PositionState | None:
        """The state to ask the decision whether a resting maker entry's signal still holds (None: no
        maker entry rests, no need to ask)."""
        if self.resting is None or self._canceling:
            return None
        return dataclasses.replace(self.state, order_pending=False)

    def _review(self, signal: Decision | None) -> None:
        order = self.resting
        if not order.is_open:
            return  # not accepted yet: nothing to cancel
        if order.filled_qty.as_double() > 0.0:  # partly filled and its cancel was refused: again
            self._canceling = "partial"
            self.port.cancel(order)
            return
        plan = self.plan
        if self._ts - self._rested_at >= self._ttl_ns:
            self._cancel_entry("ttl")
        elif signal is None or signal.action != ENTER or signal.direction != plan.direction:
            self._cancel_entry("signal")
        elif self._touch_moved(order.price.as_double(), plan.direction):
            self._repost = signal
            self._cancel_entry("reprice")

    def _touch_moved(self, price: float, direction: int) -> bool:
        """The touch went `reprice_ticks` away from a resting entry (a buy's bid rose above it)."""
        away = self._bid - price if direction > 0 else price - self._ask
        return away >= self._reprice_distance

    def _cancel_entry(self, reason: str) -> None:
        self._canceling = reason
        if reason != "reprice":
            self.counts[f"cancel_{reason}"] += 1
        self.port.cancel(self.resting)

    def act(self, decision: Decision) -> None:
        if decision.action == ENTER:
            self._enter(decision)
        elif decision.action != 0:
            self._exit(decision)

    def _enter(self, d: Decision) -> None:
        if self.maker_entry:
            self._post_entry(d)
            return
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

    def _post_entry(self, d: Decision) -> None:
        """A post-only limit joining the touch (see the module doc)."""
        inst = self.instrument
        buy = d.direction > 0
        touch = self._bid if buy else self._ask
        if not touch > 0.0:
            return
        order = self.port.order_factory.limit(
            instrument_id=inst.id,
            order_side=OrderSide.BUY if buy else OrderSide.SELL,
            quantity=inst.make_qty(d.size),
            price=inst.make_price(touch),
            time_in_force=TimeInForce.GTC,
            post_only=True,
            tags=[f"entry:{d.kind}"],
        )
        self.plan = d
        self.resting = order
        self._rested_at = self._ts
        self.counts["maker_posted"] += 1
        self._latch(order.client_order_id)
        self.port.submit(order)

    def _exit(self, d: Decision) -> None:
        if self.take_profit is not None:  # cancel the resting take-profit first (see the module doc)
            if self._exit_after is None:
                self._exit_after = d
                self._latch(self.take_profit.client_order_id)
                self.port.cancel(self.take_profit)
            return
        self._send_exit(d)

    def _send_exit(self, d: Decision) -> None:
        position = self.port.position()
        if position is None:  # closed under us (e.g. a reduce-only fill raced the decision)
            self.state = self._flat(self.state.cooldown_until_ns)
            return
        side = OrderSide.SELL if position.is_long else OrderSide.BUY
        if d.outcome == "take_profit" and self._take_profit_price:  # never worse than its price
            order = self.port.order_factory.limit(
                instrument_id=position.instrument_id,
                order_side=side,
                quantity=position.quantity,
                price=self.instrument.make_price(self._take_profit_price),
                time_in_force=TimeInForce.IOC,
                reduce_only=True,
                tags=[f"exit:{d.outcome}"],
            )
        else:
            order = self.port.order_factory.market(
                instrument_id=position.instrument_id,
                order_side=side,
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
        cid = event.client_order_id
        if isinstance(event, OrderCancelRejected):
            self._on_cancel_rejected(event)
            return
        stop = self.stop_order
        if stop is not None and cid == stop.client_order_id:
            self._on_stop_event(event)
            return
        if self.take_profit is not None and cid == self.take_profit.client_order_id:
            self._on_take_profit_event(event)
        if cid != self.pending:
            return
        order = self.port.order(cid)
        if order is None:
            return
        entry = self.resting is not None and cid == self.resting.client_order_id
        if entry and isinstance(event, OrderFilled) and order.is_open and not self._canceling:
            self.counts["partial_fills"] += 1  # keep what filled, cancel the rest
            self._repost = None
            self._canceling = "partial"
            self.port.cancel(order)
            return
        if not order.is_closed:
            return
        refused = _refused(event, order)
        if entry and self._entry_closed(order, refused):
            return
        self.pending = None
        others = self._working_orders()
        if others:  # adopted orders: the latch moves to the next one
            self._latch(others[0].client_order_id)
            return
        if isinstance(event, OrderRejected) and not refused and self._reject_pause_ns and self._ts >= 0:
            self._pause_until_ns = self._ts + self._reject_pause_ns
            self.port.warn(f"{event.client_order_id} rejected ({event.reason}): no new order for {self._reject_pause_s} s")
            return
        self.state = dataclasses.replace(self.state, order_pending=False)
        after, self._exit_after = self._exit_after, None
        if isinstance(event, OrderFilled):
            # The position event Nautilus publishes after this one places the take-profit (a
            # filled entry) or closes the round trip (a filled take-profit: no exit needed).
            return
        if after is not None and self.port.position() is not None:
            self._exit(after)  # the take-profit is cancelled: now the exit for what is left
        else:
            self._place_take_profit()  # a maker entry completed by the cancel of its rest
            self._protect()

    def _working_orders(self) -> list[Order]:
        """Open orders that hold the latch: all but the resting take-profit and the protective stop."""
        take_profit = self.take_profit.client_order_id if self.take_profit is not None else None
        return [o for o in self.port.open_orders() if o.client_order_id != take_profit and not is_exchange_stop(o)]

    def _on_cancel_rejected(self, event) -> None:
        """A cancel the venue refused. Usually the order filled meanwhile (its fill follows); if it
        is still open: a resting entry is reviewed again on the next batch, and an exit waiting for
        the take-profit's cancel goes out now (reduce-only: it cannot add to the position)."""
        self.port.warn(f"cancel of {event.client_order_id} rejected ({event.reason})")
        cid = event.client_order_id
        if self.resting is not None and cid == self.resting.client_order_id:
            self._canceling = ""
            self._repost = None
        elif self.take_profit is not None and cid == self.take_profit.client_order_id and self._exit_after is not None:
            after, self._exit_after = self._exit_after, None
            self._send_exit(after)  # the take-profit rests on; cancelled when the position closes

    def on_stale_feed(self) -> None:
        """The feed went silent: a resting maker entry is withdrawn (no batch reviews it)."""
        if self.resting is not None and not self._canceling:
            self._cancel_entry("stale_feed")

    def _entry_closed(self, order: Order, refused: bool) -> bool:
        """A maker entry closed: True when a reprice took over the latch."""
        self.resting = None
        self._canceling = ""
        filled = order.filled_qty.as_double() > 0.0
        self.counts["maker_filled"] += filled
        self.counts["post_only_refusals"] += refused
        repost, self._repost = self._repost, None
        if filled:
            return False
        if repost is not None and self.state.side == 0:
            self.counts["reprices"] += 1
            self.pending = None
            self._post_entry(repost)  # latches on the new order: order_pending never drops
            return self.resting is not None
        self.plan = None  # nothing filled: no position to plan exits for
        return False

    def _on_take_profit_event(self, event) -> None:
        order = self.port.order(event.client_order_id)
        if isinstance(event, OrderFilled):
            self.exit_reason = "take_profit"
            self.counts["tp_filled"] += 1
        if order is None or not order.is_closed:
            return
        self.take_profit = None
        if _refused(event, order):  # the price already passed: the decision's taker take-profit takes over
            self.counts["tp_refusals"] += 1
            if self.state.side:
                self.state = dataclasses.replace(self.state, take_profit_price=self._take_profit_price)

    def on_position(self, event) -> None:
        """Opened or changed: stops from the entry plan, placed around the position's average entry price."""
        if self.plan is None:
            return
        self._place_exits(1 if event.signed_qty > 0 else -1, event.avg_px_open)
        self._protect()

    # ------------------------------------------------------------------ the protective stop at the exchange

    def _protect(self) -> None:
        """Place (or re-size) the protective stop when a position with a plan is open and no order
        of ours is in flight (an entry still filling would change its size)."""
        if not self._stop_k or self.pending is not None or self.plan is None:
            return
        position = self.port.position()
        if position is None:
            return
        stop = self.stop_order
        if stop is not None and not stop.is_closed and stop.quantity == position.quantity:
            return  # in flight or resting, for this size
        if stop is not None and not stop.is_closed:
            self.port.cancel(stop)  # the position's size changed: a new stop for the new size
        side = 1 if position.is_long else -1
        trigger = position.avg_px_open - side * self._stop_k * self.plan.stop_distance
        order = self.port.order_factory.stop_market(
            instrument_id=position.instrument_id,
            order_side=OrderSide.SELL if side > 0 else OrderSide.BUY,
            quantity=position.quantity,
            trigger_price=self.instrument.make_price(trigger),
            trigger_type=self._stop_trigger,
            time_in_force=TimeInForce.GTC,
            reduce_only=True,
            tags=[EXCHANGE_STOP],
        )
        self.stop_order = order
        self.port.submit(order, position.id)

    def _on_stop_event(self, event) -> None:
        if isinstance(event, OrderFilled):
            self.exit_reason = EXCHANGE_STOP
        elif isinstance(event, (OrderRejected, OrderDenied)):
            self.stop_order = None
            if self.port.position() is None:
                return
            self.port.error(f"exchange stop {event.client_order_id} refused ({event.reason}): closing the position at market")
            if self.pending is None:  # else an exit is already in flight
                self.act(Decision(EXIT, "stop_rejected"))

    def _place_exits(self, side: int, entry: float) -> None:
        """The plan's stop, take-profit and time stop around the position's average entry price
        (a maker take-profit rests at the venue instead of in the decision's state)."""
        plan = self.plan
        take_profit = 0.0
        if plan.take_profit_distance:
            ticks = (entry + side * plan.take_profit_distance) / self._tick
            lots = math.ceil(ticks - 1e-9) if side > 0 else math.floor(ticks + 1e-9)
            take_profit = round(lots * self._tick, self.instrument.price_precision)
        self._take_profit_price = take_profit
        self.state = dataclasses.replace(
            self.state,
            side=side,
            stop_price=entry - side * plan.stop_distance,
            take_profit_price=0.0 if self.maker_take_profit else take_profit,
            time_stop_ns=plan.time_stop_ns,
        )
        self._place_take_profit()

    def _place_take_profit(self) -> None:
        """Post the maker take-profit once the entry is complete (no order of ours in flight)."""
        if not (self.maker_take_profit and self._take_profit_price and self.take_profit is None and self.pending is None):
            return
        position = self.port.position()
        if position is None:
            return
        long = position.is_long
        inst = self.instrument
        order = self.port.order_factory.limit(
            instrument_id=inst.id,
            order_side=OrderSide.SELL if long else OrderSide.BUY,
            quantity=position.quantity,
            price=inst.make_price(self._take_profit_price),
            time_in_force=TimeInForce.GTC,
            post_only=True,
            reduce_only=True,
            tags=["exit:take_profit"],
        )
        self.take_profit = order
        self.counts["tp_posted"] += 1
        self.port.submit(order, position.id)

    def on_position_closed(self, event, commissions: float) -> RoundTrip:
        """The round trip of a closed position (`commissions` in the settlement currency); flat
        again, and the protective stop cancelled."""
        stop = self.stop_order
        if stop is not None and not stop.is_closed:
            self._leftovers.append(stop)
        self.stop_order = None
        plan = self.plan
        trip = RoundTrip(
            event.ts_opened,
            event.ts_closed,
            1 if event.entry == OrderSide.BUY else -1,
            float(event.peak_qty),
            event.avg_px_open,
            event.avg_px_close,
            event.realized_pnl.as_double(),
            commissions,
            plan.kind if plan else "",
            self.exit_reason,
            self.instrument.notional_value(
                event.peak_qty, Price(event.avg_px_open, self.instrument.price_precision + 2), use_quote_for_inverse=False
            ).as_double(),
        )
        self.plan = None
        self.exit_reason = ""
        self._take_profit_price = 0.0
        self._exit_after = None
        if self.take_profit is not None and self.take_profit.is_open:  # closed by another exit's race
            self._leftovers.append(self.take_profit)
        self.state = self._flat(event.ts_closed + self._cooldown_ns)
        return trip

    def _flat(self, cooldown_until_ns: int) -> PositionState:
        """No position; the latch, trading hours and funding clock carry over."""
        s = self.state
        return dataclasses.replace(
            FLAT,
            order_pending=s.order_pending,
            closed=s.closed,
            cooldown_until_ns=cooldown_until_ns,
            next_funding_ns=s.next_funding_ns,
        )


def _refused(event, order: Order) -> bool:
    """A post-only order the venue refused because it would have taken liquidity: rejected with
    `due_post_only` (Nautilus's simulated venue, Binance's REST and WebSocket), or expired unfilled
    (Binance's GTX expiry)."""
    if not order.is_post_only or order.filled_qty.as_double() > 0.0:
        return False
    return (isinstance(event, OrderRejected) and event.due_post_only) or isinstance(event, OrderExpired)
