"""The replay venue's exchange: one USDT-M account, its orders, and the fill model. No network and
no wire format: an API module (`binance_api`, `bybit_api`) turns requests into calls here (an
order request in the core's names: symbol, side BUY/SELL, type LIMIT/MARKET, quantity, price,
timeInForce GTC/IOC/FOK/GTX, reduceOnly, newClientOrderId) and its JSON module the results into
that API's messages.

Fill model (every number is a field of `ExchangeSettings`):
- Marketable orders take liquidity from the venue's replayed book at the moment they are matched
  (`latency_ms` of wall time after they arrive), walking it level by level from the touch: a LIMIT
  order up to its price, a MARKET order through the whole book. Each level gives at most its size
  minus what our earlier fills already took from it (reset when the stream updates that level).
  The recorded market never reacts to our orders: prices do not move because we traded.
- IOC: the rest expires. FOK: all or nothing. GTX (post-only): refused if it would take on arrival,
  expired unfilled if the book crosses it by the time it is matched (`latency_ms`), else it
  rests like GTC. A resting order fills in full at its own price (maker) when a replayed trade
  prints through it (a buy: a trade below its price; a sell: above) or the opposite touch crosses
  it. Trades at exactly its price follow `queue_model` (`scalp_nautilus.live.venue.queue`: `none`,
  `risk_averse`, `prob`, after hftbacktest's queue models).
- Fees: `fees` (`scalp_nautilus.fees.FeeSchedule`; a rate left null: the regular tier of the
  contract's venue, `scalp_nautilus.fees.VENUE_FEES`), the taker or maker rate times the fill's
  notional, in USDT. No funding is charged.
- Account: one-way mode (position side BOTH), cross margin with `leverage`; an order that would
  raise the initial margin (notional / leverage) above the wallet balance is refused, as are
  reduce-only orders that would not reduce (a reduce-only order larger than the position fills
  up to the position and the rest expires).
- Conditional (algo) orders, STOP_MARKET and TAKE_PROFIT_MARKET (`new_conditional`): they rest
  outside the book until their trigger price is reached by the mark price (`workingType`
  MARK_PRICE) or the last replayed trade (CONTRACT_PRICE, the default), checked after every
  replayed message (`trigger`): a stop sells when the price is at or below its trigger (buys at or
  above), a take-profit the other way round. A triggered order becomes a MARKET order with the same
  client id, matched like any other (reduce-only, or `closePosition`: the whole position at that
  moment). One that would trigger at once is refused (`Reason.WOULD_TRIGGER`), as Binance does.
- Refusals carry a `Reason` in no API's terms; each API module translates it into its own error
  code and message (Binance's codes in `binance_json`, Bybit's retCodes in `bybit_json`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from decimal import InvalidOperation
from enum import StrEnum
from typing import Annotated
from typing import Literal

import msgspec
from msgspec import Meta

from scalp_nautilus.fees import BINANCE_USDM
from scalp_nautilus.fees import FeeSchedule
from scalp_nautilus.fees import venue_fees
from scalp_nautilus.instruments import ContractSpec
from scalp_nautilus.live.venue.capture_feed import VenueBook
from scalp_nautilus.live.venue.queue import QueuePosition
from scalp_nautilus.live.venue.queue import queue_model

BUY, SELL = "BUY", "SELL"
_BID, _ASK = 0, 1


class ExchangeSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The modelling assumptions of the replay venue's exchange (see the module doc)."""

    balance: float = 10_000.0  # starting USDT wallet
    leverage: int = 20  # initial leverage per symbol
    # Commission rates (fractions of notional); null: the regular tier of the contract's venue
    fees: FeeSchedule = msgspec.field(default_factory=FeeSchedule)
    latency_ms: float = 0.0  # wall time between an order's arrival and its matching
    liquidity_consumption: bool = True  # our fills use up the level they take until it updates
    queue_model: Literal["none", "risk_averse", "prob"] = "none"  # resting orders at their price (`queue.QUEUE_MODELS`)
    queue_power: Annotated[float, Meta(gt=0.0)] = 3.0  # n of the `prob` model's p = back^n / (back^n + front^n)
    position: float = 0.0  # starting position (size units, signed): an open position to reconcile
    entry_price: float | None = None  # its entry price; None: the capture snapshot's mid


class Reason(StrEnum):
    """Why the exchange refuses a request, in no API's terms: each API module maps a reason to its
    own error code and message (`binance_json.BINANCE_ERRORS`, `bybit_json.BYBIT_ERRORS`)."""

    UNKNOWN_SYMBOL = "unknown symbol"
    BAD_PARAMETER = "missing or malformed parameter"
    ORDER_TYPE = "order type"
    POSITION_SIDE = "position side"
    DUPLICATE_ID = "duplicate client order id"
    QTY_STEP = "quantity off the size step"
    QTY_NOT_POSITIVE = "quantity not positive"
    QTY_TOO_SMALL = "quantity below the minimum"
    QTY_TOO_LARGE = "quantity above the maximum"
    TIME_IN_FORCE = "time in force"
    PRICE_TICK = "price off the tick"
    PRICE_TOO_LOW = "price below the minimum"
    REDUCE_ONLY = "reduce-only would not reduce"
    NOTIONAL_TOO_SMALL = "notional below the minimum"
    MARGIN = "insufficient margin"
    POST_ONLY = "post-only would take"
    UNKNOWN_ORDER = "unknown or closed order"
    WOULD_TRIGGER = "conditional order would trigger at once"
    CLOSE_POSITION_QTY = "conditional order with both or neither of quantity and closePosition"


class Rejected(Exception):
    """A request the exchange refuses: the reason, and a detail for the message (e.g. the minimum)."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason}{': ' + detail if detail else ''}")
        self.reason = reason
        self.detail = detail


@dataclass
class VenueOrder:
    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    tif: str
    qty: float
    price: float  # 0 for MARKET
    reduce_only: bool
    time_ms: int
    status: str = "NEW"
    executed: float = 0.0
    cum_quote: float = 0.0
    update_ms: int = 0

    @property
    def open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    @property
    def avg_price(self) -> float:
        return self.cum_quote / self.executed if self.executed else 0.0


CONDITIONAL_TYPES = ("STOP_MARKET", "TAKE_PROFIT_MARKET")
MARK_PRICE, CONTRACT_PRICE = "MARK_PRICE", "CONTRACT_PRICE"


@dataclass
class ConditionalOrder:
    """An algo order resting outside the book until its trigger (see the module doc)."""

    algo_id: int
    client_id: str
    symbol: str
    side: str
    type: str  # STOP_MARKET / TAKE_PROFIT_MARKET
    qty: float  # 0 with close_position
    trigger_price: float
    working_type: str  # MARK_PRICE / CONTRACT_PRICE
    reduce_only: bool
    close_position: bool
    time_ms: int
    status: str = "NEW"  # NEW -> TRIGGERED -> FINISHED, or CANCELED / EXPIRED
    update_ms: int = 0
    trigger_ms: int = 0
    order: VenueOrder | None = None  # the MARKET order it became

    @property
    def open(self) -> bool:
        return self.status == "NEW"

    def reached(self, price: float) -> bool:
        """Whether `price` is at or through the trigger."""
        if price <= 0.0:
            return False
        stop = self.type == "STOP_MARKET"
        if self.side == SELL:
            return price <= self.trigger_price if stop else price >= self.trigger_price
        return price >= self.trigger_price if stop else price <= self.trigger_price


@dataclass(frozen=True)
class Fill:
    trade_id: int
    order: VenueOrder
    price: float
    qty: float
    commission: float
    realized_pnl: float
    maker: bool
    time_ms: int


@dataclass
class Exchange:
    spec: ContractSpec
    settings: ExchangeSettings
    book: VenueBook
    position: float = 0.0
    entry_price: float = 0.0
    wallet: float = 0.0
    realized: float = 0.0  # accumulated realized P&L (Binance's "cr")
    mark: float = 0.0
    last_price: float = 0.0  # the last replayed trade's price (CONTRACT_PRICE triggers)
    orders: dict[int, VenueOrder] = field(default_factory=dict)
    conditionals: dict[int, ConditionalOrder] = field(default_factory=dict)
    resting: dict[int, VenueOrder] = field(default_factory=dict)  # matched on arrival, left on the book (GTC)
    queue: dict[int, QueuePosition] = field(default_factory=dict)  # resting orders' places (`queue_model`)
    fills: list[Fill] = field(default_factory=list)
    rejected: list[tuple[str, int, str]] = field(default_factory=list)  # (client order id, the API's code, msg)
    _next_order_id: int = 8_000_000_000
    _next_trade_id: int = 900_000_000
    _next_algo_id: int = 4_000_000_000

    def __post_init__(self) -> None:
        self.wallet = self.settings.balance
        self.queue_model = queue_model(self.settings.queue_model, self.settings.queue_power)
        self.fees = self.settings.fees.over(venue_fees(self.spec.venue, self.spec.inverse) or BINANCE_USDM)  # what it charges
        self.tick = Decimal(self.spec.tick_size)
        self.step = Decimal(self.spec.step_size)
        self.min_qty = float(self.spec.min_quantity or self.spec.step_size)
        self.max_qty = float(self.spec.max_quantity) if self.spec.max_quantity else math.inf
        self.min_notional = float(self.spec.min_notional) if self.spec.min_notional else 0.0
        self.lot = float(self.step)

    def open_position(self, qty: float, price: float) -> None:
        """Start with a position (the account as a previous session left it)."""
        self.position = qty
        self.entry_price = price if qty else 0.0
        self.mark = price

    # ---------------------------------------------------------------- orders

    def by_client_id(self, client_order_id: str) -> VenueOrder | None:
        for o in self.orders.values():
            if o.client_order_id == client_order_id:
                return o
        return None

    def conditional_by_client_id(self, client_id: str) -> ConditionalOrder | None:
        for c in self.conditionals.values():
            if c.client_id == client_id:
                return c
        return None

    def _check_new_client_id(self, cid: str) -> None:
        """A client id is used once, by a plain or a conditional order."""
        if self.by_client_id(cid) is not None or self.conditional_by_client_id(cid) is not None:
            raise Rejected(Reason.DUPLICATE_ID)

    def _symbol_side_type(self, p: dict[str, str], types: tuple[str, ...]) -> tuple[str, str]:
        """The checks every new order passes first: symbol, side, type, one-way position side."""
        if p.get("symbol") != self.spec.raw_symbol:
            raise Rejected(Reason.UNKNOWN_SYMBOL)
        side, kind = p.get("side"), p.get("type")
        if side not in (BUY, SELL):
            raise Rejected(Reason.BAD_PARAMETER, "side")
        if kind not in types:
            raise Rejected(Reason.ORDER_TYPE)
        if p.get("positionSide", "BOTH") != "BOTH":
            raise Rejected(Reason.POSITION_SIDE)
        return side, kind

    def new_order(self, p: dict[str, str], now_ms: int) -> VenueOrder:
        """Validate a new-order request (the core's names, see the module doc); Rejected if refused."""
        side, kind = self._symbol_side_type(p, ("LIMIT", "MARKET"))
        cid = p.get("newClientOrderId") or f"replay-{self._next_order_id}"
        self._check_new_client_id(cid)
        qty = self._decimal(p.get("quantity"), self.step, Reason.QTY_STEP)
        if qty < self.min_qty:
            raise Rejected(Reason.QTY_NOT_POSITIVE if qty <= 0 else Reason.QTY_TOO_SMALL)
        if qty > self.max_qty:
            raise Rejected(Reason.QTY_TOO_LARGE)
        tif = p.get("timeInForce", "GTC")
        price = 0.0
        if kind == "LIMIT":
            if tif not in ("GTC", "IOC", "FOK", "GTX"):
                raise Rejected(Reason.TIME_IN_FORCE)
            price = self._decimal(p.get("price"), self.tick, Reason.PRICE_TICK)
            if price <= 0:
                raise Rejected(Reason.PRICE_TOO_LOW)
        reduce_only = str(p.get("reduceOnly", "false")).lower() == "true"
        direction = 1 if side == BUY else -1
        if reduce_only and not (self.position and (self.position > 0) != (direction > 0)):
            raise Rejected(Reason.REDUCE_ONLY)
        reference = price or (self.book.best_ask() if side == BUY else self.book.best_bid())
        if not reduce_only and self.min_notional and qty * reference < self.min_notional - 1e-9:
            raise Rejected(Reason.NOTIONAL_TOO_SMALL, self.spec.min_notional or "")
        if not reduce_only:
            exposure = abs(self.position + direction * qty) * reference
            if exposure > abs(self.position) * reference and exposure / self.settings.leverage > self.wallet:
                raise Rejected(Reason.MARGIN)
        if tif == "GTX" and self._crosses(side, price):
            raise Rejected(Reason.POST_ONLY)
        order = VenueOrder(
            self._next_order_id,
            cid,
            self.spec.raw_symbol,
            side,
            kind,
            tif if kind == "LIMIT" else "GTC",
            qty,
            price,
            reduce_only,
            now_ms,
            update_ms=now_ms,
        )
        self._next_order_id += 1
        self.orders[order.order_id] = order
        return order

    def new_conditional(self, p: dict[str, str], now_ms: int) -> ConditionalOrder:
        """Validate a new algo order (Binance's `POST /fapi/v1/algoOrder` parameters); Rejected if refused."""
        side, kind = self._symbol_side_type(p, CONDITIONAL_TYPES if p.get("algoType") == "CONDITIONAL" else ())
        working = p.get("workingType", CONTRACT_PRICE)
        if working not in (MARK_PRICE, CONTRACT_PRICE):
            raise Rejected(Reason.BAD_PARAMETER, "workingType")
        cid = p.get("clientAlgoId") or f"replay-algo-{self._next_algo_id}"
        self._check_new_client_id(cid)
        close = str(p.get("closePosition", "false")).lower() == "true"
        reduce_only = str(p.get("reduceOnly", "false")).lower() == "true"
        if close == ("quantity" in p) or (close and reduce_only):
            raise Rejected(Reason.CLOSE_POSITION_QTY)
        qty = 0.0
        if not close:
            qty = self._decimal(p.get("quantity"), self.step, Reason.QTY_STEP)
            if qty < self.min_qty:
                raise Rejected(Reason.QTY_TOO_SMALL)
        trigger = self._decimal(p.get("triggerPrice"), self.tick, Reason.PRICE_TICK)
        if trigger <= 0:
            raise Rejected(Reason.PRICE_TOO_LOW)
        order = ConditionalOrder(
            self._next_algo_id,
            cid,
            self.spec.raw_symbol,
            side,
            kind,
            qty,
            trigger,
            working,
            reduce_only,
            close,
            now_ms,
            update_ms=now_ms,
        )
        if order.reached(self._trigger_reference(working)):
            raise Rejected(Reason.WOULD_TRIGGER)
        self._next_algo_id += 1
        self.conditionals[order.algo_id] = order
        return order

    def _trigger_reference(self, working_type: str) -> float:
        return self.mark if working_type == MARK_PRICE else self.last_price

    def cancel_conditional(self, order: ConditionalOrder, now_ms: int) -> None:
        if not order.open:
            raise Rejected(Reason.UNKNOWN_ORDER)
        order.status = "CANCELED"
        order.update_ms = now_ms

    def trigger(self, now_ms: int) -> list[ConditionalOrder]:
        """After each replayed message: the conditional orders whose trigger the mark or last price
        reached become MARKET orders (status TRIGGERED, `order` set; match them with `match`)."""
        triggered = []
        for c in self.conditionals.values():
            if not c.open or not c.reached(self._trigger_reference(c.working_type)):
                continue
            c.status = "TRIGGERED"
            c.trigger_ms = c.update_ms = now_ms
            qty = c.qty if not c.close_position else abs(self.position)
            # Its type stays the conditional's (Binance reports a triggered stop as STOP_MARKET); it
            # is matched as a market order.
            order = VenueOrder(
                self._next_order_id,
                c.client_id,
                c.symbol,
                c.side,
                c.type,
                "GTC",
                qty or c.qty,
                0.0,
                c.reduce_only or c.close_position,
                now_ms,
                update_ms=now_ms,
            )
            self._next_order_id += 1
            self.orders[order.order_id] = order
            c.order = order
            triggered.append(c)
        return triggered

    def finish(self, c: ConditionalOrder, now_ms: int) -> None:
        """A triggered order's market order was matched (filled, or expired with nothing to reduce)."""
        c.status = "FINISHED"
        c.update_ms = now_ms

    def _decimal(self, text: str | None, unit: Decimal, reason: Reason) -> float:
        if text is None:
            raise Rejected(Reason.BAD_PARAMETER)
        try:
            value = Decimal(text)
        except (TypeError, InvalidOperation):
            raise Rejected(Reason.BAD_PARAMETER) from None
        if not value.is_finite() or value % unit != 0:
            raise Rejected(reason)
        return float(value)

    def _crosses(self, side: str, price: float) -> bool:
        if side == BUY:
            return bool(self.book.asks) and price >= self.book.best_ask()
        return bool(self.book.bids) and price <= self.book.best_bid()

    def match(self, order: VenueOrder, now_ms: int) -> list[Fill]:
        """Take liquidity for a newly accepted (or amended) order's open quantity; expire or rest the
        rest (see the module doc)."""
        if order.tif == "GTX" and self._crosses(order.side, order.price):
            # Accepted on arrival, but the book moved before matching: post-only never takes.
            order.status = "EXPIRED"
            order.update_ms = now_ms
            return []
        want = order.qty - order.executed
        if order.reduce_only:  # at most the position; nothing when it no longer reduces (a triggered stop's)
            reduces = self.position and (self.position > 0) != (order.side == BUY)
            want = min(want, abs(self.position)) if reduces else 0.0
        side = _ASK if order.side == BUY else _BID
        takes = []
        taken = 0.0
        for price, level_size in self.book.levels(side, 10_000):
            if order.type == "LIMIT" and (price > order.price if order.side == BUY else price < order.price):
                break
            size = self.book.available(side, price) if self.settings.liquidity_consumption else level_size
            take = min(size, want - taken)
            if take > 0:
                take = _round(take, self.spec.size_precision)
                takes.append((price, take))
                taken += take
            if taken >= want - 1e-12:
                break
        if order.tif == "FOK" and taken < order.qty - 1e-12:
            takes = []
        fills = [self._fill(order, price, qty, maker=False, now_ms=now_ms) for price, qty in takes if qty > 0]
        if order.open:
            if order.tif in ("IOC", "FOK") or order.type != "LIMIT" or (order.reduce_only and taken >= want):
                order.status = "EXPIRED"
                order.update_ms = now_ms
            else:
                self.resting[order.order_id] = order
                place = self.queue_model.arrive(self._level(order))
                if place is not None:
                    self.queue[order.order_id] = place
        return fills

    def _level(self, order: VenueOrder) -> float:
        """Displayed size at the order's price on its own side."""
        return (self.book.bids if order.side == BUY else self.book.asks).get(order.price, 0.0)

    def _fill(self, order: VenueOrder, price: float, qty: float, maker: bool, now_ms: int) -> Fill:
        if self.settings.liquidity_consumption and not maker:
            self.book.consume(_ASK if order.side == BUY else _BID, price, qty)
        direction = 1 if order.side == BUY else -1
        rate = self.fees.rate(maker)
        commission = qty * price * rate
        pnl = self._trade(direction, qty, price)
        self.wallet += pnl - commission
        order.executed = _round(order.executed + qty, self.spec.size_precision)
        order.cum_quote += qty * price
        order.status = "FILLED" if order.executed >= order.qty - 1e-12 else "PARTIALLY_FILLED"
        order.update_ms = now_ms
        fill = Fill(self._next_trade_id, order, price, qty, commission, pnl, maker, now_ms)
        self._next_trade_id += 1
        self.fills.append(fill)
        return fill

    def _trade(self, direction: int, qty: float, price: float) -> float:
        """Move the one-way position; returns the realized P&L of the part that reduced it."""
        pos = self.position
        pnl = 0.0
        if pos == 0 or (pos > 0) == (direction > 0):
            total = abs(pos) + qty
            self.entry_price = (abs(pos) * self.entry_price + qty * price) / total
            self.position = _round(pos + direction * qty, self.spec.size_precision)
            return pnl
        closing = min(qty, abs(pos))
        pnl = closing * (price - self.entry_price) * (1 if pos > 0 else -1)
        self.realized += pnl
        self.position = _round(pos + direction * closing, self.spec.size_precision)
        rest = qty - closing
        if self.position == 0:
            self.entry_price = 0.0
        if rest > 1e-12:
            self.position = _round(direction * rest, self.spec.size_precision)
            self.entry_price = price
        return pnl

    def cancel(self, order: VenueOrder, now_ms: int) -> None:
        if not order.open:
            raise Rejected(Reason.UNKNOWN_ORDER)
        order.status = "CANCELED"
        order.update_ms = now_ms
        self.resting.pop(order.order_id, None)
        self.queue.pop(order.order_id, None)

    def amend(self, order: VenueOrder, now_ms: int, qty: str | None = None, price: str | None = None) -> list[Fill]:
        """Change an open LIMIT order's quantity and / or price (Bybit's amend). The new quantity must
        stay above what is filled; a new price that crosses the book takes liquidity as a new order
        would (a post-only order is refused instead, unchanged). Returns its fills."""
        if not order.open:
            raise Rejected(Reason.UNKNOWN_ORDER)
        if order.type != "LIMIT":
            raise Rejected(Reason.ORDER_TYPE)
        new_qty = order.qty if qty is None else self._decimal(qty, self.step, Reason.QTY_STEP)
        new_price = order.price if price is None else self._decimal(price, self.tick, Reason.PRICE_TICK)
        if new_qty <= order.executed:
            raise Rejected(Reason.QTY_TOO_SMALL)
        if new_qty > self.max_qty:
            raise Rejected(Reason.QTY_TOO_LARGE)
        if new_price <= 0:
            raise Rejected(Reason.PRICE_TOO_LOW)
        if order.tif == "GTX" and self._crosses(order.side, new_price):
            raise Rejected(Reason.POST_ONLY)
        order.qty, order.price, order.update_ms = new_qty, new_price, now_ms
        # Matched again as it now stands; resting again, it queues behind the level's displayed size.
        self.resting.pop(order.order_id, None)
        self.queue.pop(order.order_id, None)
        return self.match(order, now_ms)

    def on_market(
        self, now_ms: int, trade: tuple[float, float] | None = None, seller_aggressor: bool | None = None
    ) -> list[Fill]:
        """After each replayed message: resting orders the market went through fill in full at
        their price; at their price the queue model decides (`trade` is (price, size) of a replayed
        trade, if it was one, `seller_aggressor` its side: Binance's `m`; None: unknown, counted
        against either side)."""
        fills = []
        for order in list(self.resting.values()):
            buy = order.side == BUY
            leaves = _round(order.qty - order.executed, self.spec.size_precision)
            if buy:
                hit = (trade is not None and trade[0] < order.price) or (self.book.asks and self.book.best_ask() <= order.price)
            else:
                hit = (trade is not None and trade[0] > order.price) or (self.book.bids and self.book.best_bid() >= order.price)
            take = leaves if hit else self._queue_fill(order, trade, seller_aggressor, leaves)
            if take > 0.0:
                fills.append(self._fill(order, order.price, take, maker=True, now_ms=now_ms))
            if not order.open:
                del self.resting[order.order_id]
                self.queue.pop(order.order_id, None)
        return fills

    def _queue_fill(self, order: VenueOrder, trade, seller_aggressor: bool | None, leaves: float) -> float:
        q = self.queue.get(order.order_id)
        if q is None:
            return 0.0
        level = self._level(order)
        if level != q.level:
            self.queue_model.depth(q, level)
        ours = seller_aggressor is None or seller_aggressor == (order.side == BUY)  # a sell hits our bid
        if trade is not None and trade[0] == order.price and ours:
            q.trade(trade[1])
        return _round(min(q.executed(self.lot), leaves), self.spec.size_precision)

    @property
    def unrealized(self) -> float:
        return self.position * (self.mark - self.entry_price) if self.position else 0.0

    @property
    def initial_margin(self) -> float:
        return abs(self.position) * self.mark / self.settings.leverage

    @property
    def available(self) -> float:
        return self.wallet + self.unrealized - self.initial_margin


def _round(x: float, decimals: int) -> float:
    return round(x, decimals)
