"""Entry and take-profit policies: how an order leg goes to market, chosen once from the config
(`orders.entry`, `exits.take_profit_order`), named like hftbacktest's models.

- `TakerEntryPolicy` (``taker``): an IOC limit `orders.entry_slippage_bps` through the touch.
- `MakerEntryPolicy` (``maker``): a post-only limit joining the touch (a buy at the best bid),
  reviewed on every batch while it rests: cancelled after `orders.maker_ttl_ms`, or when the signal
  is gone, or re-posted by its `TouchRepricePolicy` when the touch moved `orders.reprice_ticks` away.
- `TakerTakeProfitPolicy` (``taker``): the decision watches the price and sends a reduce-only IOC
  limit at it when the exit side's touch reaches it.
- `MakerTakeProfitPolicy` (``maker``): a reduce-only post-only limit resting at the price from the
  entry's completion on.

Prices are on the tick grid; a take-profit is a limit at its own price so it never fills worse.
"""

from __future__ import annotations

from typing import Protocol

from nautilus_trader.common.factories import OrderFactory
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import TimeInForce
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.orders import Order
from nautilus_trader.model.position import Position

from scalp_nautilus.strategy.decision import ENTER
from scalp_nautilus.strategy.decision import Decision
from scalp_nautilus.strategy.settings import ScalpStrategyConfig


def _side(buy: bool) -> OrderSide:
    return OrderSide.BUY if buy else OrderSide.SELL


class EntryPolicy(Protocol):
    rests: bool  # the order rests at the venue and is reviewed on every batch

    def order(self, factory: OrderFactory, d: Decision, bid: float, ask: float) -> Order | None:
        """The entry order for decision `d` at the touch (None: no valid touch)."""
        ...

    def review(self, order: Order, plan: Decision, signal: Decision | None, age_ns: int, bid: float, ask: float) -> str:
        """Why a resting entry must be cancelled now ("" keeps it): ``ttl``, ``signal`` or ``reprice``."""
        ...


class TakerEntryPolicy:
    """``taker``: an IOC limit `slippage_bps` through the touch; it never rests."""

    rests = False

    def __init__(self, instrument: Instrument, slippage_bps: float) -> None:
        self.instrument = instrument
        self.slippage = slippage_bps * 1e-4

    def order(self, factory: OrderFactory, d: Decision, bid: float, ask: float) -> Order | None:
        inst = self.instrument
        buy = d.direction > 0
        touch = ask if buy else bid
        if not touch > 0.0:  # the decision saw a valid book; this is the same book
            return None
        return factory.limit(
            instrument_id=inst.id,
            order_side=_side(buy),
            quantity=inst.make_qty(d.size),
            price=inst.make_price(touch * (1.0 + self.slippage if buy else 1.0 - self.slippage)),
            time_in_force=TimeInForce.IOC,
            tags=[f"entry:{d.kind}"],
        )

    def review(self, order: Order, plan: Decision, signal: Decision | None, age_ns: int, bid: float, ask: float) -> str:
        return ""


class TouchRepricePolicy:
    """A resting entry is re-posted when the touch moved `ticks` away from it (a buy's bid rose above it)."""

    def __init__(self, ticks: int, tick: float) -> None:
        self.distance = (ticks - 0.5) * tick  # >= `ticks` ticks, float-safe

    def due(self, price: float, direction: int, bid: float, ask: float) -> bool:
        away = bid - price if direction > 0 else price - ask
        return away >= self.distance


class MakerEntryPolicy:
    """``maker``: a post-only limit joining the touch, cancelled after `ttl_ns` or when the signal
    is gone, re-posted by `reprice`."""

    rests = True

    def __init__(self, instrument: Instrument, ttl_ns: int, reprice: TouchRepricePolicy) -> None:
        self.instrument = instrument
        self.ttl_ns = ttl_ns
        self.reprice = reprice

    def order(self, factory: OrderFactory, d: Decision, bid: float, ask: float) -> Order | None:
        inst = self.instrument
        buy = d.direction > 0
        touch = bid if buy else ask
        if not touch > 0.0:
            return None
        return factory.limit(
            instrument_id=inst.id,
            order_side=_side(buy),
            quantity=inst.make_qty(d.size),
            price=inst.make_price(touch),
            time_in_force=TimeInForce.GTC,
            post_only=True,
            tags=[f"entry:{d.kind}"],
        )

    def review(self, order: Order, plan: Decision, signal: Decision | None, age_ns: int, bid: float, ask: float) -> str:
        if age_ns >= self.ttl_ns:
            return "ttl"
        if signal is None or signal.action != ENTER or signal.direction != plan.direction:
            return "signal"
        if self.reprice.due(order.price.as_double(), plan.direction, bid, ask):
            return "reprice"
        return ""


class TakerTakeProfitPolicy:
    """``taker``: the decision watches the price; the exit is a reduce-only IOC limit at it (what it
    cannot take stays in the position, and the decision tries again)."""

    rests = False

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument

    def exit_order(self, factory: OrderFactory, position: Position, price: float, tag: str) -> Order:
        return factory.limit(
            instrument_id=position.instrument_id,
            order_side=_side(not position.is_long),
            quantity=position.quantity,
            price=self.instrument.make_price(price),
            time_in_force=TimeInForce.IOC,
            reduce_only=True,
            tags=[tag],
        )


class MakerTakeProfitPolicy(TakerTakeProfitPolicy):
    """``maker``: a reduce-only post-only limit resting at the price; refused (it would have
    crossed), the taker take-profit takes over."""

    rests = True

    def resting_order(self, factory: OrderFactory, position: Position, price: float) -> Order:
        inst = self.instrument
        return factory.limit(
            instrument_id=inst.id,
            order_side=_side(not position.is_long),
            quantity=position.quantity,
            price=inst.make_price(price),
            time_in_force=TimeInForce.GTC,
            post_only=True,
            reduce_only=True,
            tags=["exit:take_profit"],
        )


def entry_policy(config: ScalpStrategyConfig, instrument: Instrument) -> TakerEntryPolicy | MakerEntryPolicy:
    """The entry policy `orders.entry` names."""
    o = config.orders
    if o.entry == "maker":
        reprice = TouchRepricePolicy(o.reprice_ticks, float(instrument.price_increment))
        return MakerEntryPolicy(instrument, round(o.maker_ttl_ms * 1_000_000), reprice)
    return TakerEntryPolicy(instrument, o.entry_slippage_bps)


def take_profit_policy(config: ScalpStrategyConfig, instrument: Instrument) -> TakerTakeProfitPolicy | MakerTakeProfitPolicy:
    """The take-profit policy `exits.take_profit_order` names."""
    cls = MakerTakeProfitPolicy if config.exits.take_profit_order == "maker" else TakerTakeProfitPolicy
    return cls(instrument)
