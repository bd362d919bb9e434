"""Funding payments on perpetual positions, booked by the strategy itself.

Nautilus 1.231's backtest exchange carries funding data but never charges or pays it, so a backtest
without this ledger overstates carry trades and ignores the cost of holding through a settlement.

At each settlement time T the position pays ``notional x rate``: longs pay shorts when the rate is
positive. The notional is the instrument's own `notional_value(|position|, mark)`, which gives the
quote-currency value of a linear contract and the base-currency value of an inverse one (COIN-M:
contracts x 100 USD / mark, in BTC), so both settle in their settlement currency as on Binance.

The settled rate is the last rate published *for* T (Binance's mark-price stream names the next
funding time with every update; the update stamped just after T still names T), or a settled
history record stamped at T. The mark is the last mark at or before T.
"""

from __future__ import annotations

from dataclasses import dataclass

from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity


@dataclass(frozen=True)
class FundingPayment:
    ts_ns: int  # the settlement time
    rate: float
    mark: float
    position: float  # signed, instrument size units (contracts for inverse)
    amount: float  # settlement currency; negative = paid
    currency: str


class FundingLedger:
    """Tracks rates and marks for one instrument and books a payment at each settlement."""

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.currency = instrument.get_settlement_currency().code
        self.payments: list[FundingPayment] = []
        self._rates: dict[int, float] = {}  # settlement time -> latest rate published for it
        self._mark = 0.0
        self._mark_ts = 0
        self._settled: set[int] = set()

    @property
    def total(self) -> float:
        return sum(p.amount for p in self.payments)

    @property
    def pending(self) -> list[int]:
        """Settlement times with a rate but no booking yet, earliest first."""
        return sorted(t for t in self._rates if t not in self._settled)

    def on_rate(self, rate: float, ts_ns: int, next_funding_ns: int | None) -> None:
        """A funding update: `next_funding_ns` names the settlement it is for; a settled record
        (no next funding time) is for its own time."""
        target = ts_ns if next_funding_ns is None else next_funding_ns
        if target not in self._settled:
            self._rates[target] = rate

    def on_mark(self, mark: float, ts_ns: int) -> None:
        if mark > 0 and ts_ns >= self._mark_ts:
            self._mark, self._mark_ts = mark, ts_ns

    def settle(self, settlement_ns: int, position: float, mark: float | None = None) -> FundingPayment | None:
        """Book the payment for `settlement_ns` on the signed `position` held at that time.

        Returns None when no rate is known for it (nothing to book) or it was booked already.
        """
        if settlement_ns in self._settled or settlement_ns not in self._rates:
            return None
        self._settled.add(settlement_ns)
        rate = self._rates.pop(settlement_ns)
        mark = self._mark if mark is None else mark
        if position == 0.0 or mark <= 0.0:
            return None
        inst = self.instrument
        notional = inst.notional_value(
            Quantity(abs(position), inst.size_precision), Price(mark, 9),  # the mark is finer than the tick
        ).as_double()
        amount = -notional * rate if position > 0 else notional * rate
        payment = FundingPayment(settlement_ns, rate, mark, position, amount, self.currency)
        self.payments.append(payment)
        return payment
