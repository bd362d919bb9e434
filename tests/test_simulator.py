"""The synthetic default market: reproducible, realistic enough to exercise every feature."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.data import MarkPriceUpdate
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.enums import RecordFlag

from scalp_nautilus.data.simulator import MarketSimulator
from scalp_nautilus.data.simulator import SimulationParams

_S = 1_000_000_000


@pytest.fixture(scope="module")
def hour():
    sim = MarketSimulator(SimulationParams())
    return sim, list(sim.events())


def test_reproducible_and_seeded():
    a = [(type(e).__name__, e.ts_init, str(e)) for e in MarketSimulator(SimulationParams(minutes=2)).events()]
    b = [(type(e).__name__, e.ts_init, str(e)) for e in MarketSimulator(SimulationParams(minutes=2)).events()]
    c = [(type(e).__name__, e.ts_init, str(e)) for e in MarketSimulator(SimulationParams(minutes=2, seed=8)).events()]
    assert a == b and a != c


def test_book_replay_is_consistent(hour):
    sim, events = hour
    book = OrderBook(sim.instrument.id, BookType.L2_MBP)
    mids, batches = [], 0
    last_ts = 0
    for e in events:
        assert e.ts_init >= last_ts and e.ts_init >= e.ts_event
        last_ts = e.ts_init
        if isinstance(e, OrderBookDelta):
            book.apply_delta(e)
            if e.flags & RecordFlag.F_LAST:
                batches += 1
                bid, ask = book.best_bid_price(), book.best_ask_price()
                assert bid is not None and ask is not None and bid < ask
                mids.append(e.ts_event)
    assert (mids[-1] - mids[0]) / _S >= 3590 and batches > 20_000  # at least an hour of L2 batches


def test_trades_walk_the_book_from_the_touch(hour):
    sim, events = hour
    book = OrderBook(sim.instrument.id, BookType.L2_MBP)
    at_touch = first_fills = 0
    prev = None
    for e in events:
        if isinstance(e, OrderBookDelta):
            book.apply_delta(e)
        elif isinstance(e, TradeTick):
            new_order = prev is None or prev.ts_event != e.ts_event
            if new_order:
                first_fills += 1
                touch = book.best_ask_price() if e.aggressor_side == AggressorSide.BUYER else book.best_bid_price()
                at_touch += e.price == touch
        prev = e if isinstance(e, TradeTick) else prev
    assert first_fills > 3_000 and at_touch == first_fills
    sides = [e.aggressor_side for e in events if isinstance(e, TradeTick)]
    assert 0.3 < sides.count(AggressorSide.BUYER) / len(sides) < 0.7


def test_regimes_show_in_the_mid(hour):
    """Lo-MacKinlay variance ratio of 1 s mid changes at 60 s, pooled over the spans of each kind
    (each span demeaned, so a constant drift alone would not count): trending spans have
    persistent returns (VR > 1, momentum), mean-reverting spans anti-persistent ones (VR < 1)."""
    sim, events = hour
    book = OrderBook(sim.instrument.id, BookType.L2_MBP)
    ts, mid = [], []
    for e in events:
        if isinstance(e, OrderBookDelta):
            book.apply_delta(e)
            if e.flags & RecordFlag.F_LAST:
                ts.append(e.ts_event)
                mid.append((book.best_bid_price().as_double() + book.best_ask_price().as_double()) / 2)
    ts, mid = np.array(ts), np.array(mid)
    seconds = np.arange(ts[0], ts[-1], _S)
    mid_1s = mid[np.searchsorted(ts, seconds, side="right") - 1]
    kinds = {r for _, r in sim.regime_log}
    assert "mean_reverting" in kinds and kinds & {"trend_up", "trend_down"}
    q = 60
    pooled = {"mean_reverting": [[], []], "trend": [[], []]}
    bounds = [t for t, _ in sim.regime_log] + [ts[-1]]
    for (start, regime), end in zip(sim.regime_log, bounds[1:]):
        seg = mid_1s[(seconds >= start) & (seconds < end)]
        if len(seg) <= 2 * q:
            continue
        r1 = np.diff(seg)
        mu = r1.mean()
        rq = seg[q:] - seg[:-q]
        acc = pooled["mean_reverting" if regime == "mean_reverting" else "trend"]
        acc[0].extend((r1 - mu) ** 2)
        acc[1].extend((rq - q * mu) ** 2)
    vr = {k: np.mean(v[1]) / (q * np.mean(v[0])) for k, v in pooled.items() if v[0]}
    print(f"\nvariance ratio VR(60): {vr}")
    assert vr["trend"] > 1.5 and vr["mean_reverting"] < 0.7


def test_toxic_bursts_are_one_sided_and_active(hour):
    sim, events = hour
    assert sim.burst_log
    trades = [e for e in events if isinstance(e, TradeTick)]
    t = np.array([e.ts_event for e in trades])
    signed = np.array([e.size.as_double() * (1 if e.aggressor_side == AggressorSide.BUYER else -1) for e in trades])
    inside = np.zeros(len(t), bool)
    for a, b in sim.burst_log:
        inside |= (t >= a) & (t < b)
    burst_seconds = sum(b - a for a, b in sim.burst_log) / _S
    calm_seconds = (t[-1] - t[0]) / _S - burst_seconds
    # order imbalance |buy - sell| / total per burst, and volume per second, against calm periods
    imb_burst = np.mean(
        [
            abs(signed[(t >= a) & (t < b)].sum()) / np.abs(signed[(t >= a) & (t < b)]).sum()
            for a, b in sim.burst_log
            if ((t >= a) & (t < b)).sum() > 5
        ]
    )
    assert imb_burst > 0.5
    assert np.abs(signed[inside]).sum() / burst_seconds > 3 * np.abs(signed[~inside]).sum() / calm_seconds


def test_funding_history_and_mark_prices(hour):
    sim, events = hour
    funding = [e for e in events if isinstance(e, FundingRateUpdate)]
    settled = [f for f in funding if f.next_funding_ns is None]
    assert len(settled) >= 30
    rates = np.array([float(f.rate) for f in settled])
    p = sim.p
    assert np.any(np.abs(rates - p.funding_mean) > 4 * p.funding_std)  # an occasional outlier
    marks = [e for e in events if isinstance(e, MarkPriceUpdate)]
    assert len(marks) == 3600
    # the span crosses a settlement: next_funding_ns rolls over within it
    assert len({f.next_funding_ns for f in funding if f.ts_event > settled[-1].ts_event}) == 2
    assert all(isinstance(f.rate, Decimal) for f in funding)
