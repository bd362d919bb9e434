"""The legs of a round trip: the entry, the take-profit, the protective stop and the exit order.

Each leg is one object with one enum state and the transitions it allows (`Leg.TRANSITIONS`); a
transition outside them is a bug and raises `LegError` naming the leg, the states and why. The
order logic (`scalp_nautilus.strategy.execution.Execution`) moves the legs; the position state the
decision reads (`PositionState`) is derived from them, never stored beside them.

State diagrams (``->`` a transition, what causes it after the colon):

Entry (`EntryLeg`)::

    IDLE -> SENT        : a taker entry goes out (an IOC limit through the touch)
    IDLE -> RESTING     : a maker entry is posted (a post-only limit at the touch), or re-posted
    SENT -> IDLE        : the IOC closed (filled, partly filled and the rest cancelled, rejected)
    RESTING -> CANCELING: its TTL ran out, the signal went, the touch moved (a reprice), it partly
                          filled, or the feed went silent: its cancel is requested
    RESTING -> RESTING  : a cancel the venue refused for an order not being cancelled (the kill switch's)
    CANCELING -> RESTING: the venue refused the cancel: the next batch reviews the order again
    RESTING, CANCELING -> IDLE: the order closed (filled, refused, cancelled); a reprice then posts again

Take-profit (`TakeProfitLeg`; the decision watches its price only in WATCHING)::

    NONE -> WATCHING    : exits placed with a taker take-profit (the decision sends an IOC limit)
    NONE -> WAITING     : exits placed with a maker take-profit, posted once no order of ours is in flight
    WAITING -> RESTING  : posted (a reduce-only post-only limit at its price)
    WATCHING -> RESTING : re-posted after a refusal (the maker take-profit again)
    RESTING, LEFTOVER -> CANCELING: another exit asked for its cancel (it goes out once the cancel
                          is confirmed)
    CANCELING -> RESTING: the venue refused the cancel: it rests on, the exit goes out anyway
    RESTING, CANCELING, LEFTOVER -> WATCHING: refused by the venue (it would have crossed): the
                          decision's taker take-profit takes over
    RESTING, CANCELING, LEFTOVER -> WAITING / NONE: closed otherwise (filled, cancelled)
    RESTING, CANCELING -> LEFTOVER: the position closed with it still at the venue (cancelled at the
                          next batch if the venue has not closed it)
    any -> WATCHING / WAITING / NONE: exits placed again (a fill changed the position), unless an
                          order of it is at the venue; the position closed: NONE

Protective stop (`StopLeg`: the strategy's stop and time stop the decision watches, and the
reduce-only stop-market order resting at the exchange)::

    NONE -> ADOPTED     : a position taken over at start; no stop until the volatility is known
    NONE, ADOPTED, ARMED -> ARMED: exits placed around the position's average entry price
    ARMED -> PLACED     : the exchange stop is submitted for the position's size
    PLACED -> PLACED    : re-placed for a new size (the old one cancelled), or exits placed again
    PLACED -> ARMED     : the stop order closed (filled, refused, cancelled, expired)
    any -> NONE         : the position closed (a stop still at the venue is cancelled at the next batch)

Exit (`ExitLeg`: the reduce-only order that closes the position)::

    IDLE -> SENT        : an exit goes out (market; a taker take-profit as an IOC limit at its price)
    IDLE -> AWAITING_CANCEL: an exit waits for the resting take-profit's cancel
    AWAITING_CANCEL -> IDLE: the cancel answered (confirmed or refused: the exit then goes out,
                          IDLE -> SENT), the take-profit filled meanwhile, or the position closed
    SENT -> IDLE        : the exit order closed

Issue 26's follow-ups, each in one place: the exits are counted once per round trip, by the reason
`ExitLeg` holds when it closes (the exchange stop's fill included, `Execution._on_stop_event`: the
report's exits line); entries refused while halted are told apart from `closed` (`Execution`'s
`Trading.HALTED`); a closed position's exchange stop is cancelled by the strategy's timer as well as
at the next batch (`Execution.cancel_leftovers`), after a stale-feed exit, a kill-switch or a manual
flatten alike.
"""

from __future__ import annotations

import math
from collections import Counter
from enum import Enum
from typing import ClassVar

from nautilus_trader.model.identifiers import ClientOrderId
from nautilus_trader.model.orders import Order

from scalp_nautilus.strategy.decision import Decision


class LegError(RuntimeError):
    """A leg was asked for a transition its diagram does not allow: a bug in the order logic."""


class Leg:
    """One enum state and the transitions it allows (`TRANSITIONS`: state -> allowed next states)."""

    TRANSITIONS: ClassVar[dict]

    def __init__(self, state: Enum) -> None:
        self.state = state

    def _to(self, state: Enum, why: str) -> None:
        if state not in self.TRANSITIONS[self.state]:
            raise LegError(f"{type(self).__name__}: {self.state.name} -> {state.name} is not allowed ({why})")
        self.state = state


# ---------------------------------------------------------------------------------------- entry


class EntryState(Enum):
    IDLE = "idle"
    SENT = "sent"  # a taker entry in flight
    RESTING = "resting"  # a maker entry posted, reviewed on every batch
    CANCELING = "canceling"  # a maker entry whose cancel was requested


class EntryLeg(Leg):
    """The entry order, the decision behind it (`plan`, kept with the position it opened) and the
    cooldown before the next one."""

    TRANSITIONS: ClassVar[dict] = {
        EntryState.IDLE: {EntryState.SENT, EntryState.RESTING},
        EntryState.SENT: {EntryState.IDLE},
        EntryState.RESTING: {EntryState.CANCELING, EntryState.RESTING, EntryState.IDLE},
        EntryState.CANCELING: {EntryState.RESTING, EntryState.IDLE},
    }

    def __init__(self, counts: Counter) -> None:
        super().__init__(EntryState.IDLE)
        self.counts = counts
        self.plan: Decision | None = None  # the entry decision behind the open position
        self.order: Order | None = None
        self.posted_ns = 0  # exchange time a maker entry was posted (its TTL counts from it)
        self.cancel_reason = ""  # why a resting entry is being cancelled
        self.repost: Decision | None = None  # the entry to post once a reprice's cancel is confirmed
        self.cooldown_until_ns = 0  # no entry before this (exchange time)

    def owns(self, cid: ClientOrderId) -> bool:
        return self.order is not None and self.order.client_order_id == cid

    @property
    def resting(self) -> bool:
        """A maker entry rests and nobody asked for its cancel: it is reviewed on each batch."""
        return self.state is EntryState.RESTING

    def sent(self, order: Order, plan: Decision) -> None:
        self._to(EntryState.SENT, "taker entry")
        self.order, self.plan = order, plan

    def posted(self, order: Order, plan: Decision, now_ns: int) -> None:
        self._to(EntryState.RESTING, "maker entry posted")
        self.order, self.plan, self.posted_ns = order, plan, now_ns
        self.counts["maker_posted"] += 1

    def canceling(self, reason: str, repost: Decision | None = None) -> None:
        """Its cancel is requested; counted by reason (a reprice is counted when it posts again)."""
        self._to(EntryState.CANCELING, reason)
        self.cancel_reason, self.repost = reason, repost
        if reason not in ("reprice", "partial"):
            self.counts[f"cancel_{reason}"] += 1

    def cancel_refused(self) -> None:
        self._to(EntryState.RESTING, "cancel refused")
        self.cancel_reason, self.repost = "", None

    def closed(self) -> Decision | None:
        """The entry order closed; returns the decision a reprice posts again, if any."""
        self._to(EntryState.IDLE, "entry order closed")
        self.order = None
        repost, self.repost, self.cancel_reason = self.repost, None, ""
        return repost


# ---------------------------------------------------------------------------------------- take-profit


class TakeProfitState(Enum):
    NONE = "none"
    WATCHING = "watching"  # the decision sends a taker take-profit when the touch reaches the price
    WAITING = "waiting"  # a maker take-profit to post once no order of ours is in flight
    RESTING = "resting"  # a maker take-profit at the venue
    CANCELING = "canceling"  # its cancel requested by another exit
    LEFTOVER = "leftover"  # the position closed with it at the venue


_TP = TakeProfitState
_TP_PLACED = {_TP.WATCHING, _TP.WAITING, _TP.NONE}
_TP_CLOSED = {_TP.WATCHING, _TP.WAITING, _TP.NONE}


class TakeProfitLeg(Leg):
    """The take-profit price around the position and, for a maker take-profit, its resting order."""

    TRANSITIONS: ClassVar[dict] = {
        _TP.NONE: _TP_PLACED,
        _TP.WATCHING: _TP_PLACED | {_TP.RESTING},
        _TP.WAITING: _TP_PLACED | {_TP.RESTING},
        _TP.RESTING: _TP_CLOSED | {_TP.RESTING, _TP.CANCELING, _TP.LEFTOVER},
        _TP.CANCELING: _TP_CLOSED | {_TP.RESTING, _TP.LEFTOVER},
        _TP.LEFTOVER: _TP_CLOSED | {_TP.LEFTOVER, _TP.CANCELING},
    }

    def __init__(self, counts: Counter, rests: bool) -> None:
        super().__init__(_TP.NONE)
        self.counts = counts
        self.rests = rests  # maker take-profits (`exits.take_profit_order`)
        self.price = 0.0  # the plan's take-profit price around the position; 0: none
        self.order: Order | None = None

    def owns(self, cid: ClientOrderId) -> bool:
        return self.order is not None and self.order.client_order_id == cid

    @property
    def watched_price(self) -> float:
        """The price the decision's taker take-profit watches (0: none)."""
        return self.price if self.state is _TP.WATCHING else 0.0

    @property
    def due(self) -> bool:
        """A maker take-profit to post (once no order of ours is in flight)."""
        return self.state in (_TP.WAITING, _TP.WATCHING) and self.rests and bool(self.price)

    def place(self, price: float) -> None:
        """Exits placed around the position: the price, and the decision watches it (taker) or it
        waits to be posted (maker); an order still at the venue keeps its state."""
        self.price = price
        if self.order is not None:
            return
        if not price:
            self._to(_TP.NONE, "no take-profit")
        else:
            self._to(_TP.WAITING if self.rests else _TP.WATCHING, "exits placed")

    def posted(self, order: Order) -> None:
        self._to(_TP.RESTING, "maker take-profit posted")
        self.order = order
        self.counts["tp_posted"] += 1

    def canceling(self) -> None:
        self._to(_TP.CANCELING, "an exit asked for its cancel")

    def cancel_refused(self) -> None:
        self._to(_TP.RESTING, "cancel refused: it rests on")

    def filled(self) -> None:
        self.counts["tp_filled"] += 1

    def closed(self, refused: bool, in_position: bool) -> None:
        """Its order closed; refused (it would have crossed) with a position: the decision's taker
        take-profit takes over."""
        self.order = None
        if refused:
            self.counts["tp_refusals"] += 1
        if refused and in_position and self.price:
            self._to(_TP.WATCHING, "refused: taker take-profit")
        else:
            self._to(_TP.WAITING if self.rests and self.price else _TP.NONE, "closed")

    def position_closed(self) -> None:
        """The round trip is over; an order still at the venue is left to its events."""
        self.price = 0.0
        self._to(_TP.LEFTOVER if self.order is not None else _TP.NONE, "position closed")

    def flat(self) -> None:
        """No position after all (closed under us): the decision watches nothing."""
        if self.order is None:
            self._to(_TP.NONE, "no position")


# ---------------------------------------------------------------------------------------- protective stop


class StopState(Enum):
    NONE = "none"  # flat
    ADOPTED = "adopted"  # a position taken over at start, its exits not known yet
    ARMED = "armed"  # the strategy's stop and time stop set; no stop order at the exchange
    PLACED = "placed"  # a stop order at the exchange for the position


class StopLeg(Leg):
    """The protective stop: the side of the position it protects, the strategy's own stop price and
    time stop (the decision exits at market when the mid crosses it), and the reduce-only stop-market
    order resting at the exchange (`exits.exchange_stop_k`)."""

    TRANSITIONS: ClassVar[dict] = {
        StopState.NONE: {StopState.ADOPTED, StopState.ARMED, StopState.NONE},
        StopState.ADOPTED: {StopState.ADOPTED, StopState.ARMED, StopState.NONE},
        StopState.ARMED: {StopState.ARMED, StopState.PLACED, StopState.NONE},
        StopState.PLACED: {StopState.PLACED, StopState.ARMED, StopState.NONE},
    }

    def __init__(self) -> None:
        super().__init__(StopState.NONE)
        self.side = 0  # +1 long, -1 short, 0 flat
        self.price = 0.0  # the strategy's stop
        self.time_stop_ns = 0  # 0: none
        self.order: Order | None = None  # the exchange stop placed last

    def owns(self, cid: ClientOrderId) -> bool:
        return self.order is not None and self.order.client_order_id == cid

    def adopt(self, side: int) -> None:
        """A position taken over at start: no stop until the volatility is known (a price no mid crosses)."""
        self._to(StopState.ADOPTED, "position adopted")
        self.side, self.price = side, 0.0 if side > 0 else math.inf

    def adopted_time_stop(self, time_stop_ns: int) -> None:
        self._to(self.state, "adopted position's time stop")
        self.time_stop_ns = time_stop_ns

    def arm(self, side: int, price: float, time_stop_ns: int) -> None:
        """Exits placed around the position (an exchange stop in place stays)."""
        self._to(StopState.PLACED if self.state is StopState.PLACED else StopState.ARMED, "exits placed")
        self.side, self.price, self.time_stop_ns = side, price, time_stop_ns

    def placed(self, order: Order) -> None:
        self._to(StopState.PLACED, "exchange stop submitted")
        self.order = order

    def order_closed(self) -> None:
        """The exchange stop closed (filled, refused, cancelled, expired): none for the position now."""
        self._to(StopState.ARMED if self.state is not StopState.NONE else StopState.NONE, "stop order closed")

    def refused(self) -> None:
        self.order = None
        self.order_closed()

    def position_closed(self) -> Order | None:
        """Flat: returns the stop order if the venue may still hold it (cancelled at the next batch)."""
        order, self.order = self.order, None
        self.flat()
        return order if order is not None and not order.is_closed else None

    def flat(self) -> None:
        self._to(StopState.NONE, "flat")
        self.side, self.price, self.time_stop_ns = 0, 0.0, 0


# ---------------------------------------------------------------------------------------- exit


class ExitState(Enum):
    IDLE = "idle"
    AWAITING_CANCEL = "awaiting_cancel"  # the exit waits for the resting take-profit's cancel
    SENT = "sent"


class ExitLeg(Leg):
    """The reduce-only order that closes the position, and why the position closed (`reason`)."""

    TRANSITIONS: ClassVar[dict] = {
        ExitState.IDLE: {ExitState.SENT, ExitState.AWAITING_CANCEL},
        ExitState.AWAITING_CANCEL: {ExitState.IDLE},
        ExitState.SENT: {ExitState.IDLE},
    }

    def __init__(self) -> None:
        super().__init__(ExitState.IDLE)
        self.reason = ""  # the round trip's exit reason (the last exit that went out, or filled)
        self.after: Decision | None = None  # the exit waiting for the take-profit's cancel
        self.order: Order | None = None

    def owns(self, cid: ClientOrderId) -> bool:
        return self.order is not None and self.order.client_order_id == cid

    def awaiting_cancel(self, decision: Decision) -> None:
        self._to(ExitState.AWAITING_CANCEL, "take-profit cancel requested")
        self.after = decision

    def take_after(self) -> Decision | None:
        """The exit that waited for the take-profit's cancel, if any (it leaves the leg)."""
        after, self.after = self.after, None
        if after is not None and self.state is ExitState.AWAITING_CANCEL:
            self._to(ExitState.IDLE, "the take-profit's cancel answered")
        return after

    def sent(self, order: Order, reason: str) -> None:
        self._to(ExitState.SENT, reason)
        self.order = order
        self.closed_by(reason)

    def order_closed(self) -> None:
        self._to(ExitState.IDLE, "exit order closed")
        self.order = None

    def closed_by(self, reason: str) -> None:
        """An exit went out or filled for `reason` (a take-profit or exchange stop filling at the venue)."""
        self.reason = reason

    def position_closed(self) -> str:
        """The round trip's exit reason; the leg is ready for the next one (an exit order still in
        flight closes on its own events)."""
        reason, self.reason, self.after = self.reason, "", None
        if self.state is ExitState.AWAITING_CANCEL:
            self._to(ExitState.IDLE, "position closed")
        return reason
