"""Funding payments on perpetual positions, booked by the strategy itself.

Nautilus 1.231's backtest exchange carries funding data but never charges or pays it, so a backtest
without this ledger overstates carry trades and ignores the cost of holding through a settlement.

At each settlement time T the position held at T pays ``notional x rate``: longs pay shorts when
the rate is positive. The notional is the instrument's own `notional_value(|position|, mark)`,
which gives the quote-currency value of a linear contract and the base-currency value of an
inverse one (COIN-M: contracts x 100 USD / mark, in BTC), so both settle in their settlement
currency as on Binance.

- The rate is the last one published *for* T. Binance's mark-price stream names the next funding
  time with every update, and the update stamped just after T still names T (on the 2023-04-05
  capture the settled 0.00002760 arrives at 00:00:00.010), so T's rate is final once an update
  names a later settlement, or `grace` after T when none comes. A settled-history record
  (`next_funding_ns` None) is final at once, for its own time.
- The mark is the last one stamped at or before T (exchange time: a mark stamped before T may
  arrive after T's instant, and still counts); without any mark, the caller's fallback (the mid).
- The position is the one held at T: the strategy records it at T (a clock alert), `record`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.data import MarkPriceUpdate
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FundingPayment:
    ts_ns: int  # the settlement time
    rate: float
    mark: float
    position: float  # signed, instrument size units (contracts for inverse)
    amount: float  # settlement currency; negative = paid
    currency: str


@dataclass(frozen=True, slots=True)
class FundingInput:
    """One funding observation, whatever object it came in: see `funding_input`."""

    ts_event: int
    rate: float | None  # None: a mark price only
    next_funding_ns: int | None  # None: a settled record (for a rate) or unknown
    mark: float | None  # None: no mark in this object


def funding_input(obj) -> FundingInput:
    """The one adapter from Nautilus's `FundingRateUpdate` / `MarkPriceUpdate` and Binance's
    `BinanceFuturesMarkPriceUpdate` (custom data: rate, mark and next funding time in one) to
    the ledger's inputs. Nautilus 1.231 hands a catalog's `FundingRateUpdate.rate` back as a str,
    hence float()."""
    if isinstance(obj, FundingRateUpdate):
        return FundingInput(obj.ts_event, float(obj.rate), obj.next_funding_ns or None, None)
    if isinstance(obj, MarkPriceUpdate):
        return FundingInput(obj.ts_event, None, None, float(obj.value))
    rate = getattr(obj, "funding_rate", None)
    mark = getattr(obj, "mark", None)
    if rate is None or mark is None or not hasattr(obj, "next_funding_ns"):
        raise TypeError(f"not a funding or mark price update: {type(obj).__name__}")
    return FundingInput(obj.ts_event, float(rate), obj.next_funding_ns or None, float(mark))


@dataclass(slots=True)
class _Settlement:
    rate: float | None = None
    final: bool = False
    position: float | None = None  # None until recorded at T
    mark: float = 0.0  # last mark stamped <= T
    mark_ts: int = -1
    fallback_mark: float = 0.0


class FundingLedger:
    """Rates, marks and positions at each settlement of one instrument, and the payments booked."""

    def __init__(self, instrument: Instrument, grace_ns: int = 60_000_000_000) -> None:
        self.instrument = instrument
        self.currency = instrument.get_settlement_currency().code
        self.grace_ns = grace_ns
        self.payments: list[FundingPayment] = []
        self._open: dict[int, _Settlement] = {}  # settlement time -> state until booked
        self._done: set[int] = set()
        self._latest_named = 0  # latest settlement time named by a rate stream
        self._mark = 0.0
        self._mark_ts = -1

    @property
    def total(self) -> float:
        return sum(p.amount for p in self.payments)

    @property
    def pending(self) -> list[int]:
        """Settlement times seen but not booked yet, earliest first."""
        return sorted(self._open)

    def on_rate(self, rate: float, ts_ns: int, next_funding_ns: int | None) -> int | None:
        """A funding rate. Returns the settlement time it is for (None if that one is booked)."""
        target = ts_ns if next_funding_ns is None else next_funding_ns
        if target in self._done:
            return None
        s = self._settlement(target)
        if next_funding_ns is None:
            s.rate, s.final = rate, True
            return target
        if not s.final:
            s.rate = rate
        if target > self._latest_named:
            # a stream that names a later settlement has published the last rate of the earlier ones
            for t, other in self._open.items():
                if t < target and other.rate is not None:
                    other.final = True
            self._latest_named = target
        return target

    def on_mark(self, mark: float, ts_ns: int) -> None:
        if not mark > 0.0:
            return
        if ts_ns >= self._mark_ts:
            self._mark, self._mark_ts = mark, ts_ns
        for t, s in self._open.items():
            if s.mark_ts <= ts_ns <= t:
                s.mark, s.mark_ts = mark, ts_ns

    def record(self, settlement_ns: int, position: float, fallback_mark: float) -> None:
        """The signed `position` held at `settlement_ns` (called at that instant, or at once for a
        settlement learnt after it); `fallback_mark` is used when no mark stamped <= T is known."""
        if settlement_ns in self._done:
            return
        s = self._settlement(settlement_ns)
        s.position = position
        s.fallback_mark = fallback_mark

    def book(self, now_ns: int, final_only: bool = True) -> list[FundingPayment]:
        """Book every recorded settlement whose rate is final (or `grace` old); with `final_only`
        False (the end of a run) every recorded one with a rate. Returns the new payments."""
        new = []
        for t in sorted(self._open):
            s = self._open[t]
            if s.position is None or s.rate is None:
                continue
            if final_only and not (s.final or now_ns >= t + self.grace_ns):
                continue
            if not s.final:
                log.warning("funding at %d booked with the last rate published for it (%g): no later rate came", t, s.rate)
            del self._open[t]
            self._done.add(t)
            payment = self._payment(t, s)
            if payment is not None:
                self.payments.append(payment)
                new.append(payment)
        return new

    def _settlement(self, t: int) -> _Settlement:
        s = self._open.get(t)
        if s is None:
            s = self._open[t] = _Settlement()
            if 0 <= self._mark_ts <= t:  # the latest mark so far is the last one before T
                s.mark, s.mark_ts = self._mark, self._mark_ts
        return s

    def _payment(self, t: int, s: _Settlement) -> FundingPayment | None:
        mark = s.mark if s.mark > 0.0 else s.fallback_mark
        if s.position is None or s.rate is None or s.position == 0.0 or not mark > 0.0:
            return None
        inst = self.instrument
        notional = inst.notional_value(
            Quantity(abs(s.position), inst.size_precision),
            Price(mark, 9),  # the mark is finer than the tick
        ).as_double()
        amount = -notional * s.rate if s.position > 0 else notional * s.rate
        return FundingPayment(t, s.rate, mark, s.position, amount, self.currency)
