"""Funding payments on perpetual positions, booked by the strategy itself.

Nautilus 1.231's backtest exchange carries funding data but never charges or pays it, so a backtest
without this ledger overstates carry trades and ignores the cost of holding through a settlement.

At each settlement time T the position held at T pays ``notional x rate``: longs pay shorts when
the rate is positive. The notional is the instrument's own `notional_value(|position|, mark)`,
which gives the quote-currency value of a linear contract and the base-currency value of an
inverse one (COIN-M: contracts x 100 USD / mark, in BTC), so both settle in their settlement
currency as on Binance.

- The rate is the last one published *for* T, as the funding feed's settlement schedule reads it
  (`scalp_nautilus.indicators.funding_feed`: the one schedule, shared with the funding-arb
  detector). Binance's mark-price stream names the next funding time with every update, and the
  update stamped just after T still names T (on the 2023-04-05 capture the settled 0.00002760
  arrives at 00:00:00.010), so T's rate is final once an update names a later settlement, or
  `grace` after T when none comes. A settled-history record is final at once, for its own time.
- The mark is the last one stamped at or before T (exchange time: a mark stamped before T may
  arrive after T's instant, and still counts); without any mark, the caller's fallback (the mid).
- The position is the one held at T: the strategy records it at T (a clock alert), `record`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity

from scalp_nautilus.indicators.funding_feed import RateStep

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FundingPayment:
    ts_ns: int  # the settlement time
    rate: float
    mark: float
    position: float  # signed, instrument size units (contracts for inverse)
    amount: float  # settlement currency; negative = paid
    currency: str


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
        self._mark = 0.0
        self._mark_ts = -1

    @property
    def total(self) -> float:
        return sum(p.amount for p in self.payments)

    @property
    def pending(self) -> list[int]:
        """Settlement times seen but not booked yet, earliest first."""
        return sorted(self._open)

    def on_rate(self, step: RateStep | None) -> int | None:
        """A published rate as the settlement schedule read it (None: it skipped the rate). Returns
        the settlement time it is for (None if that one is booked, or the rate was skipped)."""
        if step is None:
            return None
        target = step.settlement_ns
        if target in self._done:
            return None
        s = self._settlement(target)
        if step.final:
            s.rate, s.final = step.rate, True
            return target
        if not s.final:
            s.rate = step.rate
        # a stream that names `target` has published the last rate of every earlier settlement
        for t, other in self._open.items():
            if t < target and other.rate is not None:
                other.final = True
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
