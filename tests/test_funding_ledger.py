"""FundingLedger and the funding adapter, on hand-worked numbers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nautilus_trader.adapters.binance.futures.types import BinanceFuturesMarkPriceUpdate
from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.data import MarkPriceUpdate
from nautilus_trader.model.objects import Price

from scalp_nautilus.data.simulator import SIM_SPEC
from scalp_nautilus.indicators.funding_feed import SettlementSchedule
from scalp_nautilus.indicators.funding_feed import funding_input
from scalp_nautilus.instruments import resolve_spec
from scalp_nautilus.strategy.funding import FundingLedger

S = 1_000_000_000
T1 = 1_700_006_400 * S  # an 8 h grid point
T2 = T1 + 8 * 3600 * S
LINEAR = SIM_SPEC.to_instrument()


class Fed(FundingLedger):
    """The ledger fed as the strategy feeds it: each rate through the settlement schedule first."""

    def __init__(self, instrument, *args) -> None:
        super().__init__(instrument, *args)
        self.schedule = SettlementSchedule()

    def on_rate(self, rate, ts_ns, next_funding_ns):
        return super().on_rate(self.schedule.on_rate(rate, ts_ns, next_funding_ns))


def test_a_long_pays_positive_funding_at_the_mark_held_at_the_settlement():
    ledger = Fed(LINEAR)
    ledger.on_mark(40_000.0, T1 - 2 * S)
    ledger.on_rate(0.0001, T1 - 2 * S, T1)
    ledger.on_mark(40_100.0, T1 - S)  # the last mark stamped before T1
    ledger.on_rate(0.00012, T1 - S, T1)
    ledger.record(T1, 0.5, fallback_mark=0.0)
    ledger.on_mark(41_000.0, T1 + S // 2)  # after T1: not the settlement's mark
    ledger.on_rate(0.00015, T1 + 10_000_000, T1)  # Binance: stamped after T1, still names T1 -> the settled rate
    assert ledger.book(T1 + 20_000_000) == []  # not final until a later settlement is named
    ledger.on_rate(0.00003, T1 + S, T2)
    [p] = ledger.book(T1 + S)
    # 0.5 BTC x 40,100 USDT x 0.00015 = 3.0075 USDT paid by the long
    assert (p.ts_ns, p.rate, p.mark, p.position, p.currency) == (T1, 0.00015, 40_100.0, 0.5, "USDT")
    assert p.amount == pytest.approx(-3.0075, abs=1e-9)
    # a second settlement, short, negative rate: the short pays
    ledger.on_mark(39_000.0, T2 - S)
    ledger.on_rate(-0.0002, T2 - S, T2)
    ledger.record(T2, -0.25, fallback_mark=0.0)
    [q] = ledger.book(T2 + 60 * S)  # no later rate: booked after the 60 s grace
    assert q.amount == pytest.approx(-0.25 * 39_000.0 * 0.0002, abs=1e-9)  # -1.95
    assert ledger.total == pytest.approx(-3.0075 - 1.95, abs=1e-9)
    assert ledger.pending == []


def test_a_mark_stamped_before_the_settlement_counts_even_when_it_arrives_after_it():
    ledger = Fed(LINEAR)
    ledger.on_rate(0.0001, T1 - 5 * S, T1)
    ledger.on_mark(40_000.0, T1 - 5 * S)
    ledger.record(T1, 1.0, fallback_mark=0.0)
    ledger.on_mark(40_200.0, T1 - S)  # late arrival, exchange time before T1
    ledger.on_rate(0.0001, T1 + S, T2)
    [p] = ledger.book(T1 + S)
    assert p.mark == 40_200.0 and p.amount == pytest.approx(-4.02)


def test_settled_records_flat_positions_and_the_fallback_mark():
    ledger = Fed(LINEAR)
    assert ledger.on_rate(0.0003, T1, None) == T1  # a settled record is final for its own time
    ledger.record(T1, -2.0, fallback_mark=30_000.0)  # no mark stream: the mid
    [p] = ledger.book(T1)
    assert p.amount == pytest.approx(2.0 * 30_000.0 * 0.0003)  # the short receives 18 USDT
    assert ledger.on_rate(0.0009, T1, None) is None  # booked already
    ledger.on_rate(0.0001, T2, None)
    ledger.record(T2, 0.0, fallback_mark=30_000.0)
    assert ledger.book(T2) == [] and ledger.pending == []  # flat: nothing to pay


def test_end_of_run_books_what_was_recorded():
    ledger = Fed(LINEAR)
    ledger.on_mark(40_000.0, T1 - S)
    ledger.on_rate(0.0001, T1 - S, T1)
    ledger.record(T1, 1.0, fallback_mark=0.0)
    assert ledger.book(T1 + S) == []
    [p] = ledger.book(T1 + S, final_only=False)
    assert p.amount == pytest.approx(-4.0)


def test_inverse_contracts_pay_in_the_base_currency():
    inverse = resolve_spec("BINANCE", "BTCUSD_PERP").to_instrument()
    ledger = Fed(inverse)
    ledger.on_rate(0.0001, T1, None)
    ledger.on_mark(50_000.0, T1 - S)
    ledger.record(T1, 10.0, fallback_mark=0.0)  # 10 contracts of 100 USD
    [p] = ledger.book(T1)
    # 10 x 100 USD / 50,000 = 0.02 BTC of notional, x 0.0001
    assert p.currency == "BTC" and p.amount == pytest.approx(-0.02 * 0.0001, abs=1e-15)


def test_funding_input_reads_all_three_feeds():
    iid = LINEAR.id
    update = FundingRateUpdate(iid, "0.00012", 5, 6, next_funding_ns=T1)  # a catalog hands back a str
    assert funding_input(update) == type(funding_input(update))(5, 0.00012, T1, None)
    settled = FundingRateUpdate(iid, Decimal("-0.0001"), T1, T1)
    assert funding_input(settled).next_funding_ns is None and funding_input(settled).rate == -0.0001
    mark = MarkPriceUpdate(iid, Price.from_str("40000.5"), 7, 8)
    assert (funding_input(mark).rate, funding_input(mark).mark) == (None, 40_000.5)
    binance = BinanceFuturesMarkPriceUpdate(
        iid,
        Price.from_str("40001.0"),
        Price.from_str("40000.0"),
        Price.from_str("40000.0"),
        Decimal("0.0001"),
        T1,
        9,
        10,
    )
    x = funding_input(binance)
    assert (x.ts_event, x.rate, x.next_funding_ns, x.mark) == (9, 0.0001, T1, 40_001.0)
    with pytest.raises(TypeError, match="not a funding or mark price update"):
        funding_input(object())
