"""FundingArbDetector: hand-worked z / direction / expected and annualised return at 8 h and 1 h,
settlement detection from a 1 s current-rate stream (synthetic and the real 2023-04 capture through
Nautilus's own Binance parser), archive history continued live, bad input."""

import math
import statistics
from datetime import UTC
from datetime import datetime
from decimal import Decimal

import pytest

from nautilus_trader.adapters.binance.futures.types import BinanceFuturesMarkPriceUpdate
from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Price

from scalp_nautilus.data.binance_capture import BinanceCaptureImporter
from scalp_nautilus.indicators import FundingArbDetector
from scalp_nautilus.indicators.settings import FundingSettings
from tests.support.captures import capture_mark_prices

IID = InstrumentId.from_str("BTCUSDT-PERP.BINANCE")
S = 1_000_000_000
H = 3_600 * S
T0 = 1_680_566_400 * S  # 2023-04-04 00:00 UTC, on the funding grid

# 29 settled rates cycling 0.9, 1.0, 1.1 bp (ten, ten and nine of them), then a 3 bp settlement.
BASE = [1e-4 + 1e-5 * ((i % 3) - 1) for i in range(29)]


def settled(rate, ts):
    """An archive record: one per settlement, stamped at it, no next funding time."""
    return FundingRateUpdate(IID, Decimal(repr(rate)), ts, ts)


def feed_history(det, rates, interval_ns, start=T0):
    for i, r in enumerate(rates):
        det.handle_funding(settled(r, start + i * interval_ns))


def test_hand_worked_opportunity_8h():
    det = FundingArbDetector()
    feed_history(det, BASE + [3e-4], 8 * H)
    # sum 28.9 bp + 3 bp = 31.9 bp over 30: mean 1.063333 bp; squared deviations
    # 10 (0.9 - 1.06333)^2 + 10 (1.0 - 1.06333)^2 + 9 (1.1 - 1.06333)^2 + (3 - 1.06333)^2 = 4.069667 bp^2,
    # / 29 -> sd 0.374611 bp; z = 1.936667 / 0.374611 = 5.16981
    opp = det.opportunity
    assert det.initialized and det.history == 30
    assert det.value == pytest.approx(5.16981, rel=1e-5) == opp.z
    assert opp.direction == -1  # funding rich: short the perpetual, collect it
    assert opp.mean == pytest.approx(1.063333e-4, rel=1e-6)
    assert opp.expected_return == pytest.approx(0.968333e-4, rel=1e-6)  # (3 - 1.06333) / 2 bp
    assert opp.interval_ns == 8 * H and opp.intervals_per_year == 1095.75
    assert opp.annualized_bps == pytest.approx(0.968333e-4 * 1e4 * 1095.75, rel=1e-6)  # 1061.05 bp
    assert opp.settlement_ns == T0 + 29 * 8 * H and opp.rate == 3e-4
    # the same against the statistics module
    rates = BASE + [3e-4]
    assert opp.z == pytest.approx((3e-4 - statistics.mean(rates)) / statistics.stdev(rates), rel=1e-9)


def test_one_hour_interval_from_the_data():
    det = FundingArbDetector()
    feed_history(det, BASE + [3e-4], H)
    opp = det.opportunity
    assert opp.interval_ns == H and opp.intervals_per_year == 8766.0
    assert opp.annualized_bps == pytest.approx(0.968333e-4 * 1e4 * 8766, rel=1e-6)  # 8488.41 bp


def test_negative_dislocation_goes_long():
    det = FundingArbDetector()
    feed_history(det, BASE + [-1e-4], 8 * H)
    rates = BASE + [-1e-4]
    assert det.value == pytest.approx((-1e-4 - statistics.mean(rates)) / statistics.stdev(rates), rel=1e-9)
    assert det.value == pytest.approx(-5.16898, rel=1e-5)
    assert det.opportunity.direction == 1
    assert det.opportunity.expected_return == pytest.approx((statistics.mean(rates) + 1e-4) / 2, rel=1e-9)


def test_none_below_threshold_or_with_short_history():
    det = FundingArbDetector()
    feed_history(det, BASE + [1.2e-4], 8 * H)
    assert det.value == pytest.approx(2.20994, rel=1e-5)  # (1.2 - 1.00333) / 0.0889918 bp
    assert det.opportunity is None
    short = FundingArbDetector()
    feed_history(short, BASE[:28] + [3e-4], 8 * H)  # 29 settlements
    assert not short.initialized and short.value == 0.0 and short.opportunity is None
    assert short.history == 29
    for threshold, found in ((5.1698, True), (5.1699, False)):  # z = 5.16981 must exceed it
        det = FundingArbDetector(FundingSettings(z_threshold=threshold))
        feed_history(det, BASE + [3e-4], 8 * H)
        assert (det.opportunity is not None) == found


def test_flat_history_at_the_clamp():
    det = FundingArbDetector()
    feed_history(det, [1e-4] * 40, 8 * H)
    assert det.value == 0.0 and det.opportunity is None
    det.handle_funding(settled(1.05e-4, T0 + 40 * 8 * H))
    # 40 x 1 bp and 1.05 bp: mean 1.00122 bp, sd 0.0078 bp is under the 0.01 bp floor: z = 0.04878 / 0.01 = 4.88
    rates = [1e-4] * 40 + [1.05e-4]
    std = max(statistics.stdev(rates), 1e-6)
    assert det.value == pytest.approx((1.05e-4 - statistics.mean(rates)) / std, rel=1e-9)
    assert det.value == pytest.approx(4.878, rel=1e-3) and det.opportunity is not None


def mark_update(rate, ts, next_funding):
    return BinanceFuturesMarkPriceUpdate(
        IID,
        Price.from_str("30000.0"),
        Price.from_str("30000.0"),
        Price.from_str("30000.0"),
        Decimal(rate),
        next_funding,
        ts,
        ts,
    )


@pytest.mark.parametrize("kind", ["binance", "funding_rate_update"])
def test_current_rate_stream_counts_each_settlement_once(kind):
    det = FundingArbDetector()
    published = {}
    for second in range(3 * 3_600 + 30):
        ts = T0 + second * S
        next_funding = T0 + (second // 3_600 + 1) * H  # hourly funding, rolls over on the hour
        rate = f"0.000{10 + second // 600:02d}"  # changes every 10 minutes
        published[next_funding] = float(rate)
        if kind == "binance":
            det.handle_funding(mark_update(rate, ts, next_funding))
        else:
            det.handle_funding(FundingRateUpdate(IID, Decimal(rate), ts, ts, next_funding_ns=next_funding))
    assert det.schedule.settlements == 3  # 10,830 updates, three roll-overs
    assert det.schedule.last_settlement_ns == T0 + 3 * H
    assert det.schedule.settled_rate == published[T0 + 3 * H]  # the last rate published for that settlement
    assert det.schedule.interval_ns == H
    assert det.schedule.next_funding_ns == T0 + 4 * H and det.schedule.current_rate == published[T0 + 4 * H]


def archive_rates(shared_data, before_ms):
    """Binance BTCUSDT settlements from the UTC answer key, oldest first, before `before_ms`."""
    rows = []
    with open(shared_data / "funding" / "funding_rates_utc.csv") as fh:
        next(fh)
        for line in fh:
            exchange, symbol, _, ms, rate, _ = line.strip().split(",")
            if exchange == "binance" and symbol == "BTCUSDT" and int(ms) < before_ms:
                rows.append((int(ms), float(rate)))
    return sorted(rows)


SETTLEMENT = int(datetime(2023, 4, 5, tzinfo=UTC).timestamp()) * S


@pytest.mark.real_data
def test_real_capture_records_the_settlement_once(capture_paths, shared_data):
    updates = capture_mark_prices(capture_paths("usdm_2023_04"), IID)
    assert len(updates) == 514
    det = FundingArbDetector()
    for u in updates:
        det.handle_funding(u)
    assert det.schedule.settlements == 1
    assert det.schedule.settled_rate == 0.0000276 and det.schedule.last_settlement_ns == SETTLEMENT
    assert det.schedule.interval_ns == 8 * H and det.schedule.next_funding_ns == SETTLEMENT + 8 * H
    assert det.schedule.current_rate == float(updates[-1].funding_rate)
    assert det.history == 1 and not det.initialized and det.opportunity is None

    # continued from an archive: 90 days of settlements before, then the live stream
    history = archive_rates(shared_data, SETTLEMENT // 1_000_000)[-60:]
    assert history[-1][0] * 1_000_000 == SETTLEMENT - 8 * H
    live = FundingArbDetector()
    for ms, rate in history:
        live.handle_funding(settled(rate, ms * 1_000_000))
    for u in updates:
        live.handle_funding(u)
    rates = [r for _, r in history] + [0.0000276]
    assert live.history == 61 and live.schedule.settlements == 61 and live.schedule.duplicates == 0
    assert live.schedule.interval_ns == 8 * H
    z = (0.0000276 - statistics.mean(rates)) / statistics.stdev(rates)
    assert live.value == pytest.approx(z, rel=1e-9)
    assert (live.opportunity is None) == (abs(z) <= 3)


@pytest.mark.real_data
def test_real_capture_through_the_importer(capture_paths):
    updates = [e for e in BinanceCaptureImporter(capture_paths("usdm_2023_04")).events() if isinstance(e, FundingRateUpdate)]
    assert len(updates) == 514
    det = FundingArbDetector()
    for u in updates:
        det.handle_funding(u)
    schedule = det.schedule
    assert schedule.settlements == 1 and schedule.settled_rate == 0.0000276 and schedule.last_settlement_ns == SETTLEMENT


def test_per_tick_records_without_settlement_times_are_refused():
    det = FundingArbDetector()
    for second in range(600):
        det.handle_funding(settled(1e-4 + 1e-7 * second, T0 + second * S))
    # the first record cannot be told from a settlement; all later ones are 1 s apart
    assert det.schedule.settlements == 1 and det.schedule.ticker_like == 599


def test_bad_input():
    det = FundingArbDetector()
    feed_history(det, BASE, 8 * H)
    det.update_raw(math.nan, T0 + 29 * 8 * H)
    det.update_raw(math.inf, T0 + 29 * 8 * H)
    assert det.schedule.invalid == 2 and det.history == 29
    det.handle_funding(settled(2e-4, T0 + 28 * 8 * H))  # the last settlement again
    det.handle_funding(settled(2e-4, T0 + 10 * 8 * H))  # an old one
    assert det.schedule.duplicates == 2 and det.schedule.ticker_like == 0 and det.history == 29
    det.handle_funding(settled(2e-4, T0 + 29 * 8 * H))  # the next one is still accepted
    assert det.history == 30
    stream = FundingArbDetector()
    stream.update_raw(1e-4, T0, T0 + H)
    stream.update_raw(1e-4, T0 + S, T0)  # next funding time going backwards
    assert stream.schedule.backwards == 1 and stream.schedule.next_funding_ns == T0 + H
    with pytest.raises(TypeError):
        det.handle_funding(object())
    for kwargs in ({"min_history": 1}, {"window": 20}, {"z_threshold": 0}):
        with pytest.raises(ValueError):
            FundingArbDetector(FundingSettings(**kwargs))
    with pytest.raises(ValueError):
        FundingArbDetector(min_interval_ns=0)
