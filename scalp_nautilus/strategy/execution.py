"""`Execution`: the order logic of one `ScalpStrategy` instance, testable without an engine.

It turns decisions into orders, places the exits around an entry, and follows the order and
position events, through the legs of a round trip (`scalp_nautilus.strategy.legs`: entry,
take-profit, protective stop, exit order; each one enum state with its allowed transitions, and the
state diagrams). The position state the decision reads (`Execution.state`, a `PositionState`) is
derived from the legs, the latch and the trading gate. How the entry and the take-profit go to
market is a policy chosen by the config (`scalp_nautilus.strategy.policies`). The strategy routes
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
known. Cancelled at the next book batch after the close (before any decision of that batch), or by
the strategy's timer a second after the close when no batch comes (a silent feed), if the venue
has not closed it by then: Nautilus's matching engine cancels a closed position's reduce-only
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

import math
from collections import Counter
from enum import Enum
from typing import Protocol

from nautilus_trader.common.factories import OrderFactory
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import OrderType
from nautilus_trader.model.enums import TimeInForce
from nautilus_trader.model.enums import TriggerType
from nautilus_trader.model.events import OrderCancelRejected
from nautilus_trader.model.events import OrderDenied
from nautilus_trader.model.events import OrderEvent
from nautilus_trader.model.events import OrderExpired
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.events import OrderRejected
from nautilus_trader.model.events import PositionClosed
from nautilus_trader.model.identifiers import ClientOrderId
from nautilus_trader.model.identifiers import PositionId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price
from nautilus_trader.model.orders import Order
from nautilus_trader.model.position import Position

from scalp_nautilus.features import FeatureSnapshot
from scalp_nautilus.indicators.funding_feed import SettlementSchedule
from scalp_nautilus.strategy.decision import ENTER
from scalp_nautilus.strategy.decision import EXIT
from scalp_nautilus.strategy.decision import Decision
from scalp_nautilus.strategy.decision import DecisionParams
from scalp_nautilus.strategy.decision import PositionState
from scalp_nautilus.strategy.decision import exit_distances
from scalp_nautilus.strategy.legs import EntryLeg
from scalp_nautilus.strategy.legs import EntryState
from scalp_nautilus.strategy.legs import ExitLeg
from scalp_nautilus.strategy.legs import StopLeg
from scalp_nautilus.strategy.legs import StopState
from scalp_nautilus.strategy.legs import TakeProfitLeg
from scalp_nautilus.strategy.policies import MakerTakeProfitPolicy
from scalp_nautilus.strategy.policies import entry_policy
from scalp_nautilus.strategy.policies import take_profit_policy
from scalp_nautilus.strategy.records import RoundTrip
from scalp_nautilus.strategy.settings import ScalpStrategyConfig
from scalp_nautilus.units import NS_PER_S

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


class Trading(Enum):
    """The entry gate: OPEN, CLOSED past `orders.flatten_at`, or HALTED by the kill switch (both: no
    entries, the decision exits what is open; an entry refused while halted is counted `halted`)."""

    OPEN = "open"
    CLOSED = "closed"
    HALTED = "halted"


class Latch:
    """One order of ours in flight at a time: `holder` (an entry, an exit, a take-profit whose cancel
    an exit waits for, or an adopted order); after the venue rejects one, no order until
    `pause_until_ns` of exchange time (`orders.reject_pause_s`)."""

    def __init__(self) -> None:
        self.holder: ClientOrderId | None = None
        self.pause_until_ns = 0  # 0: no pause

    @property
    def held(self) -> bool:
        return self.holder is not None or self.pause_until_ns != 0

    def hold(self, client_order_id: ClientOrderId) -> None:
        self.holder = client_order_id


class Execution:
    """Orders, the latch and the legs of one strategy instance (see the module doc).

    Inputs, in the strategy's order: `adopt` at start, `on_batch` on every book batch (before the
    decision), `act` with a decision, `on_order_event`, `on_position` (opened or changed) and
    `on_position_closed`. `state` is what the decision reads.
    """

    def __init__(
        self,
        config: ScalpStrategyConfig,
        instrument: Instrument,
        params: DecisionParams,
        port: OrderPort,
        schedule: SettlementSchedule | None = None,
    ) -> None:
        o = config.orders
        self.instrument = instrument
        self.params = params
        self.port = port
        self._schedule = schedule  # the funding settlement schedule (next settlement for the decision)
        self.entry_policy = entry_policy(config, instrument)
        self.take_profit_policy = take_profit_policy(config, instrument)
        self._cooldown_ns = round(o.cooldown_s * NS_PER_S)
        self._reject_pause_ns = round(o.reject_pause_s * NS_PER_S)
        self._reject_pause_s = o.reject_pause_s
        self._stop_k = config.exits.exchange_stop_k
        self._stop_trigger = _TRIGGER[config.exits.exchange_stop_trigger]
        self._tick = float(instrument.price_increment)
        self.counts: Counter = Counter()
        self.entry_leg = EntryLeg(self.counts)
        self.take_profit_leg = TakeProfitLeg(self.counts, self.take_profit_policy.rests)
        self.stop_leg = StopLeg()
        self.exit_leg = ExitLeg()
        self.latch = Latch()
        self.trading = Trading.OPEN
        self._leftovers: list[Order] = []  # a closed position's orders, cancelled at the next batch if still open
        self._ts = -1  # exchange time of the latest book batch (-1: none yet)
        self._bid = math.nan  # the latest batch's touch
        self._ask = math.nan

    # ------------------------------------------------------------------ what the decision and the reports read

    @property
    def state(self) -> PositionState:
        """The position state the decision reads, derived from the legs."""
        stop = self.stop_leg
        return PositionState(
            side=stop.side,
            stop_price=stop.price,
            take_profit_price=self.take_profit_leg.watched_price,
            time_stop_ns=stop.time_stop_ns,
            order_pending=self.latch.held,
            cooldown_until_ns=self.entry_leg.cooldown_until_ns,
            closed=self.trading is not Trading.OPEN,
            halted=self.trading is Trading.HALTED,
            next_funding_ns=self._schedule.next_settlement_ns if self._schedule is not None else 0,
        )

    @property
    def side(self) -> int:
        """+1 long, -1 short, 0 flat (`state.side`, without building the whole state)."""
        return self.stop_leg.side

    @property
    def plan(self) -> Decision | None:
        """The entry decision behind the open position (or the entry in flight)."""
        return self.entry_leg.plan

    @property
    def pending(self) -> ClientOrderId | None:
        """The order holding the latch."""
        return self.latch.holder

    @property
    def exit_reason(self) -> str:
        return self.exit_leg.reason

    @property
    def take_profit(self) -> Order | None:
        """The maker take-profit at the venue, if any."""
        return self.take_profit_leg.order

    @property
    def stop_order(self) -> Order | None:
        """The protective stop placed last, if any."""
        return self.stop_leg.order

    # ------------------------------------------------------------------ state the strategy sets

    def close_trading(self) -> None:
        """Past `orders.flatten_at`: no entries; the decision exits what is open."""
        self.trading = Trading.CLOSED

    def halt_trading(self) -> None:
        """The kill switch: no entries (counted `halted`); the decision exits what is open."""
        self.trading = Trading.HALTED

    def open_trading(self) -> None:
        """The operator cleared the kill switch's halt: entries again (the strategy closes trading
        again past `orders.flatten_at`)."""
        self.trading = Trading.OPEN

    def cancel_working(self) -> None:
        """The kill switch: cancel the orders that hold the latch; the protective stop goes once flat,
        a resting take-profit with the exit that closes the position."""
        for order in self._working_orders():
            self.port.cancel(order)

    def cancel_leftovers(self) -> None:
        """Cancel a closed position's exchange stop and take-profit if the venue still holds them:
        at the next book batch, or by the strategy's timer a second after the close when no batch
        comes (a silent feed); not at the close itself, where Nautilus's matching engine and most
        venues cancel them, and a cancel of ours only comes back refused."""
        for order in self._leftovers:
            if not order.is_closed:
                self.port.cancel(order)
        self._leftovers = []

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
            self.latch.hold(orders[0].client_order_id)
            self.port.warn(f"adopted {len(orders)} open order(s) of {self.instrument.id}: no new order until they close")
        position = self.port.position()
        if position is not None:
            self.stop_leg.adopt(1 if position.is_long else -1)
            self.port.warn(
                f"adopted position {position.signed_qty} {self.instrument.id} @ {position.avg_px_open}: "
                "exits from the first book update"
            )

    def _plan_adopted(self, row: FeatureSnapshot) -> None:
        stop = self.stop_leg
        position = self.port.position()
        if position is None:
            stop.arm(stop.side, stop.price, stop.time_stop_ns)  # gone before its exits: nothing to plan
            return
        p = self.params
        time_stop = stop.time_stop_ns or (row.ts_event + p.time_stop_ns if p.time_stop_ns else 0)
        if not (row.book_valid and row.blend_vol > 0.0):
            stop.adopted_time_stop(time_stop)
            return
        distance, take_profit = exit_distances(row.mid, row.blend_vol, p)
        quantity = position.quantity.as_double()
        self.entry_leg.plan = Decision(ENTER, ADOPTED, stop.side, quantity, ADOPTED, 0.0, distance, take_profit, time_stop)
        self._place_exits(stop.side, position.avg_px_open)
        self._protect()

    # ------------------------------------------------------------------ book batches and decisions

    def on_batch(self, row: FeatureSnapshot, best_bid: float, best_ask: float, signal: Decision | None = None) -> None:
        """A book batch, before its decision: a closed position's leftovers are cancelled, the pause
        after a rejection ends on exchange time, an adopted position gets its exits, and a resting
        maker entry is reviewed against `signal`, the decision as if no order were in flight
        (`unlatched`)."""
        self._ts = row.ts_event
        self._bid, self._ask = best_bid, best_ask
        if self._leftovers:
            self.cancel_leftovers()
        if self.latch.pause_until_ns and row.ts_event >= self.latch.pause_until_ns:
            self.latch.pause_until_ns = 0
        if self.stop_leg.state is StopState.ADOPTED:
            self._plan_adopted(row)
        if self.entry_leg.resting:
            self._review(signal)

    def unlatched(self) -> PositionState | None:
        """The state to ask the decision whether a resting maker entry's signal still holds (None: no
        maker entry rests, no need to ask)."""
        if not self.entry_leg.resting:
            return None
        return self.state._replace(order_pending=False)

    def _review(self, signal: Decision | None) -> None:
        leg = self.entry_leg
        order, plan = leg.order, leg.plan
        assert order is not None and plan is not None  # a resting entry has both
        if not order.is_open:
            return  # not accepted yet: nothing to cancel
        if order.filled_qty.as_double() > 0.0:  # partly filled and its cancel was refused: again
            self._cancel_entry("partial")
            return
        why = self.entry_policy.review(order, plan, signal, self._ts - leg.posted_ns, self._bid, self._ask)
        if why:
            self._cancel_entry(why, signal if why == "reprice" else None)

    def _cancel_entry(self, reason: str, repost: Decision | None = None) -> None:
        self.entry_leg.canceling(reason, repost)
        assert self.entry_leg.order is not None
        self.port.cancel(self.entry_leg.order)

    def on_stale_feed(self) -> None:
        """The feed went silent: a resting maker entry is withdrawn (no batch reviews it)."""
        if self.entry_leg.resting:
            self._cancel_entry("stale_feed")

    def act(self, decision: Decision) -> None:
        if decision.action == ENTER:
            self._enter(decision)
        elif decision.action != 0:
            self._exit(decision)

    def _enter(self, d: Decision) -> None:
        order = self.entry_policy.order(self.port.order_factory, d, self._bid, self._ask)
        if order is None:
            return
        if self.entry_policy.rests:
            self.entry_leg.posted(order, d, self._ts)
        else:
            self.entry_leg.sent(order, d)
        self.latch.hold(order.client_order_id)
        self.port.submit(order)

    def _exit(self, d: Decision) -> None:
        take_profit = self.take_profit_leg.order
        if take_profit is not None:  # cancel the resting take-profit first (see the module doc)
            if self.exit_leg.after is None:
                self.exit_leg.awaiting_cancel(d)
                self.take_profit_leg.canceling()
                self.latch.hold(take_profit.client_order_id)
                self.port.cancel(take_profit)
            return
        self._send_exit(d)

    def _send_exit(self, d: Decision) -> None:
        position = self.port.position()
        if position is None:  # closed under us (e.g. a reduce-only fill raced the decision)
            self.stop_leg.flat()
            self.take_profit_leg.flat()
            return
        price = self.take_profit_leg.price
        tag = f"exit:{d.outcome}"
        if d.outcome == "take_profit" and price:  # never worse than its price
            order = self.take_profit_policy.exit_order(self.port.order_factory, position, price, tag)
        else:
            order = self.port.order_factory.market(
                instrument_id=position.instrument_id,
                order_side=OrderSide.SELL if position.is_long else OrderSide.BUY,
                quantity=position.quantity,
                time_in_force=TimeInForce.IOC,
                reduce_only=True,
                tags=[tag],
            )
        self.exit_leg.sent(order, d.outcome)
        self.latch.hold(order.client_order_id)
        self.port.submit(order, position.id)

    # ------------------------------------------------------------------ events

    def on_order_event(self, event: OrderEvent) -> None:
        cid = event.client_order_id
        if isinstance(event, OrderCancelRejected):
            self._on_cancel_rejected(event)
        elif self.stop_leg.owns(cid):
            self._on_stop_event(event)
        else:
            if self.take_profit_leg.owns(cid):
                self._on_take_profit_event(event)
            if cid == self.latch.holder:
                self._on_latched_event(event)

    def _on_latched_event(self, event: OrderEvent) -> None:
        """An event of the order holding the latch."""
        order = self.port.order(event.client_order_id)
        if order is None:
            return
        entry = self.entry_leg
        if entry.owns(order.client_order_id) and entry.resting and isinstance(event, OrderFilled) and order.is_open:
            self.counts["partial_fills"] += 1  # keep what filled, cancel the rest
            self._cancel_entry("partial")
            return
        if not order.is_closed:
            return
        refused = _refused(event, order)
        if entry.owns(order.client_order_id) and self._entry_closed(order, refused):
            return
        if self.exit_leg.owns(order.client_order_id):
            self.exit_leg.order_closed()
        self._release(event, refused)

    def _release(self, event: OrderEvent, refused: bool) -> None:
        """The order holding the latch closed: the latch passes to an adopted order still open,
        holds for the pause after a rejection, or is free; then what waited for it goes out."""
        self.latch.holder = None
        others = self._working_orders()
        if others:  # adopted orders: the latch moves to the next one
            self.latch.hold(others[0].client_order_id)
            return
        if isinstance(event, OrderRejected) and not refused and self._reject_pause_ns and self._ts >= 0:
            self.latch.pause_until_ns = self._ts + self._reject_pause_ns
            self.port.warn(f"{event.client_order_id} rejected ({event.reason}): no new order for {self._reject_pause_s} s")
            return
        after = self.exit_leg.take_after()
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
        """Open orders that hold the latch: all but the take-profit and the protective stop."""
        take_profit = self.take_profit_leg.order
        skip = take_profit.client_order_id if take_profit is not None else None
        return [o for o in self.port.open_orders() if o.client_order_id != skip and not is_exchange_stop(o)]

    def _on_cancel_rejected(self, event: OrderCancelRejected) -> None:
        """A cancel the venue refused. Usually the order filled meanwhile (its fill follows); if it
        is still open: a resting entry is reviewed again on the next batch, and an exit waiting for
        the take-profit's cancel goes out now (reduce-only: it cannot add to the position)."""
        self.port.warn(f"cancel of {event.client_order_id} rejected ({event.reason})")
        cid = event.client_order_id
        if self.entry_leg.owns(cid) and self.entry_leg.state in (EntryState.RESTING, EntryState.CANCELING):
            self.entry_leg.cancel_refused()
        elif self.take_profit_leg.owns(cid) and self.exit_leg.after is not None:
            after = self.exit_leg.take_after()
            assert after is not None
            self.take_profit_leg.cancel_refused()
            self._send_exit(after)  # the take-profit rests on; cancelled when the position closes

    def _entry_closed(self, order: Order, refused: bool) -> bool:
        """The entry order closed: True when a maker entry's reprice took over the latch."""
        leg = self.entry_leg
        maker = leg.state is not EntryState.SENT
        repost = leg.closed()
        if not maker:
            return False
        filled = order.filled_qty.as_double() > 0.0
        self.counts["maker_filled"] += filled
        self.counts["post_only_refusals"] += refused
        if filled:
            return False
        if repost is not None and self.stop_leg.side == 0:
            self.counts["reprices"] += 1
            self.latch.holder = None
            self._enter(repost)  # latches on the new order: the latch never drops
            return leg.order is not None
        leg.plan = None  # nothing filled: no position to plan exits for
        return False

    def _on_take_profit_event(self, event: OrderEvent) -> None:
        order = self.port.order(event.client_order_id)
        if isinstance(event, OrderFilled):
            self.exit_leg.closed_by("take_profit")
            self.take_profit_leg.filled()
        if order is None or not order.is_closed:
            return
        # refused: the price already passed, the decision's taker take-profit takes over
        self.take_profit_leg.closed(_refused(event, order), in_position=self.stop_leg.side != 0)

    def on_position(self, event) -> None:
        """Opened or changed: stops from the entry plan, placed around the position's average entry price."""
        if self.entry_leg.plan is None:
            return
        self._place_exits(1 if event.signed_qty > 0 else -1, event.avg_px_open)
        self._protect()

    # ------------------------------------------------------------------ the protective stop at the exchange

    def _protect(self) -> None:
        """Place (or re-size) the protective stop when a position with a plan is open and no order
        of ours is in flight (an entry still filling would change its size)."""
        plan = self.entry_leg.plan
        if not self._stop_k or self.latch.holder is not None or plan is None:
            return
        position = self.port.position()
        if position is None:
            return
        stop = self.stop_leg
        if stop.state is StopState.PLACED and stop.order is not None:
            if stop.order.quantity == position.quantity:
                return  # in flight or resting, for this size
            self.port.cancel(stop.order)  # the position's size changed: a new stop for the new size
        side = 1 if position.is_long else -1
        trigger = position.avg_px_open - side * self._stop_k * plan.stop_distance
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
        stop.placed(order)
        self.port.submit(order, position.id)

    def _on_stop_event(self, event: OrderEvent) -> None:
        if isinstance(event, OrderFilled):
            self.exit_leg.closed_by(EXCHANGE_STOP)
        elif isinstance(event, (OrderRejected, OrderDenied)):
            self.stop_leg.refused()
            if self.port.position() is None:
                return
            self.port.error(f"exchange stop {event.client_order_id} refused ({event.reason}): closing the position at market")
            if self.latch.holder is None:  # else an exit is already in flight
                self.act(Decision(EXIT, "stop_rejected"))
            return
        order = self.port.order(event.client_order_id)
        if order is not None and order.is_closed and self.stop_leg.state is StopState.PLACED:
            self.stop_leg.order_closed()  # filled, cancelled or expired: none at the venue now

    def _place_exits(self, side: int, entry: float) -> None:
        """The plan's stop, take-profit and time stop around the position's average entry price
        (a maker take-profit rests at the venue instead of being watched by the decision)."""
        plan = self.entry_leg.plan
        assert plan is not None
        take_profit = 0.0
        if plan.take_profit_distance:
            ticks = (entry + side * plan.take_profit_distance) / self._tick
            lots = math.ceil(ticks - 1e-9) if side > 0 else math.floor(ticks + 1e-9)
            take_profit = round(lots * self._tick, self.instrument.price_precision)
        self.take_profit_leg.place(take_profit)
        self.stop_leg.arm(side, entry - side * plan.stop_distance, plan.time_stop_ns)
        self._place_take_profit()

    def _place_take_profit(self) -> None:
        """Post the maker take-profit once the entry is complete (no order of ours in flight)."""
        policy = self.take_profit_policy
        leg = self.take_profit_leg
        if not (isinstance(policy, MakerTakeProfitPolicy) and leg.due and self.latch.holder is None):
            return
        position = self.port.position()
        if position is None:
            return
        order = policy.resting_order(self.port.order_factory, position, leg.price)
        leg.posted(order)
        self.port.submit(order, position.id)

    def on_position_closed(self, event: PositionClosed, commissions: float) -> RoundTrip:
        """The round trip of a closed position (`commissions` in the settlement currency); flat
        again, the protective stop and a resting take-profit cancelled at the next batch."""
        stop = self.stop_leg.position_closed()
        if stop is not None:
            self._leftovers.append(stop)
        plan = self.entry_leg.plan
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
            self.exit_leg.position_closed(),
            self.instrument.notional_value(
                event.peak_qty, Price(event.avg_px_open, self.instrument.price_precision + 2), use_quote_for_inverse=False
            ).as_double(),
        )
        self.entry_leg.plan = None
        take_profit = self.take_profit_leg.order
        if take_profit is not None and take_profit.is_open:  # closed by another exit's race
            self._leftovers.append(take_profit)
        self.take_profit_leg.position_closed()
        self.entry_leg.cooldown_until_ns = event.ts_closed + self._cooldown_ns
        return trip


def _refused(event: OrderEvent, order: Order) -> bool:
    """A post-only order the venue refused because it would have taken liquidity: rejected with
    `due_post_only` (Nautilus's simulated venue, Binance's REST and WebSocket), or expired unfilled
    (Binance's GTX expiry)."""
    if not order.is_post_only or order.filled_qty.as_double() > 0.0:
        return False
    return (isinstance(event, OrderRejected) and event.due_post_only) or isinstance(event, OrderExpired)
