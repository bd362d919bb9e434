"""BookSnapshotBuilder against the Nautilus book's own full sides (bids()/asks()), on synthetic
edits (CLEAR, deletes inside and outside the top N, thin, one-sided, crossed books) and at every
batch of the real captures."""

import math

import numpy as np
import pytest

from nautilus_trader.core import nautilus_pyo3 as pyo3
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import BookOrder
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity

from scalp_nautilus.book import BookSnapshot
from scalp_nautilus.book import BookSnapshotBuilder
from tests.support.captures import F_LAST

IID = InstrumentId.from_str("TEST-PERP.BINANCE")
DEPTH = 5


def put(book: OrderBook, side: OrderSide, price: float, size: float, ts: int = 1) -> None:
    """Binance-style level replacement: size 0 removes the level."""
    book.update(BookOrder(side, Price(price, 1), Quantity(size, 3), 0), ts)


def full_sides(book: OrderBook, depth: int) -> tuple[list, list]:
    bids = [(float(level.price), level.size()) for level in book.bids()[:depth]]
    asks = [(float(level.price), level.size()) for level in book.asks()[:depth]]
    return bids, asks


def assert_matches(snap: BookSnapshot, bids: list, asks: list, depth: int) -> None:
    assert snap.n_bids == len(bids) and snap.n_asks == len(asks)
    for prices, sizes, levels in ((snap.bid_prices, snap.bid_sizes, bids), (snap.ask_prices, snap.ask_sizes, asks)):
        expected = np.zeros((2, depth))
        expected[:, : len(levels)] = np.array(levels).T if levels else 0.0
        np.testing.assert_array_equal(prices, expected[0])
        np.testing.assert_allclose(sizes, expected[1], rtol=0, atol=1e-9)


def builder(**kwargs) -> BookSnapshotBuilder:
    return BookSnapshotBuilder(depth=DEPTH, price_precision=1, size_precision=3, tick_size=0.1, **kwargs)


def test_random_edits_match_the_full_sides():
    """Inserts and deletes in and beyond the top N, touch moves, sweeps, CLEARs, thin and empty
    sides: after every edit the builder's view is the top N of bids()/asks()."""
    rng = np.random.default_rng(7)
    book = OrderBook(IID, BookType.L2_MBP)
    b = builder()
    mid = 1000.0
    for step in range(3000):
        r = rng.random()
        if r < 0.005:
            book.clear(step)
        elif r < 0.02:
            # a sweep: the touch and several levels behind it vanish at once
            side = OrderSide.BUY if rng.random() < 0.5 else OrderSide.SELL
            for k in range(int(rng.integers(3, 15))):
                put(book, side, round(mid - 0.05 - 0.1 * k if side == OrderSide.BUY else mid + 0.05 + 0.1 * k, 1), 0.0)
        else:
            side = OrderSide.BUY if rng.random() < 0.5 else OrderSide.SELL
            # mostly near the touch, sometimes deep (outside any top N), sometimes sparse far away
            dist = rng.choice([rng.integers(0, 8), rng.integers(8, 60), rng.integers(60, 3000)], p=[0.6, 0.3, 0.1])
            price = round(mid - 0.05 - 0.1 * dist, 1) if side == OrderSide.BUY else round(mid + 0.05 + 0.1 * dist, 1)
            size = 0.0 if rng.random() < 0.35 else round(float(rng.uniform(0.001, 5)), 3)
            put(book, side, price, size, step)
        mid += 0.1 * rng.integers(-1, 2) * (rng.random() < 0.05)
        snap = b.from_book(book, step, step)
        assert_matches(snap, *full_sides(book, DEPTH), DEPTH)
    assert b.widenings > 0  # the adaptive band was exercised, not just the whole-side path


def test_thin_side_refilled_deep_is_read_again():
    book = OrderBook(IID, BookType.L2_MBP)
    b = builder()
    put(book, OrderSide.BUY, 99.9, 1.0)
    put(book, OrderSide.SELL, 100.1, 1.0)
    assert_matches(b.from_book(book, 1, 1), *full_sides(book, DEPTH), DEPTH)
    for k in range(500):  # now a deep book
        put(book, OrderSide.BUY, 99.8 - 0.1 * k, 0.5 + k)
        put(book, OrderSide.SELL, 100.2 + 0.1 * k, 0.5 + k)
    assert_matches(b.from_book(book, 2, 2), *full_sides(book, DEPTH), DEPTH)
    put(book, OrderSide.BUY, 99.9, 0.0)  # delete the touch: refill from deeper levels
    put(book, OrderSide.BUY, 99.8, 0.0)
    assert_matches(b.from_book(book, 3, 3), *full_sides(book, DEPTH), DEPTH)


@pytest.mark.parametrize(
    "bids, asks, reason",
    [
        ([], [], "empty book"),
        ([(99.9, 1.0)], [], "one-sided book"),
        ([], [(100.1, 1.0)], "one-sided book"),
        ([(100.2, 1.0)], [(100.1, 1.0)], "crossed or locked book"),
        ([(100.1, 1.0)], [(100.1, 2.0)], "crossed or locked book"),
    ],
)
def test_unusable_books_are_flagged_and_counted(bids, asks, reason):
    book = OrderBook(IID, BookType.L2_MBP)
    for price, size in bids:
        put(book, OrderSide.BUY, price, size)
    for price, size in asks:
        put(book, OrderSide.SELL, price, size)
    b = builder()
    for _ in range(3):
        snap = b.from_book(book, 1, 1)
        assert not snap.is_valid
        assert math.isnan(snap.mid) and math.isnan(snap.spread)
        assert_matches(snap, *full_sides(book, DEPTH), DEPTH)
    assert b.skips.counts == {reason: 3}
    assert b.from_levels(bids, asks, 1).is_valid is False


@pytest.mark.parametrize("inverse, multiplier", [(False, 1.0), (True, 100.0)])
def test_band_notional_against_all_levels(inverse, multiplier):
    rng = np.random.default_rng(3)
    book = OrderBook(IID, BookType.L2_MBP)
    rows = {OrderSide.BUY: [], OrderSide.SELL: []}
    for k in range(400):
        for side, price in ((OrderSide.BUY, 999.9 - 0.1 * k), (OrderSide.SELL, 1000.1 + 0.1 * k)):
            size = round(float(rng.uniform(0.001, 3)), 3)
            put(book, side, round(price, 1), size)
            rows[side].append((round(price, 1), size))
    b = builder(band_bps=10.0, inverse=inverse, multiplier=multiplier)
    snap = b.from_book(book, 1, 1)
    mid = 1000.0
    bids, asks = np.array(rows[OrderSide.BUY]), np.array(rows[OrderSide.SELL])
    in_bid = bids[:, 1][bids[:, 0] >= mid * (1 - 1e-3) - 1e-9].sum()
    in_ask = asks[:, 1][asks[:, 0] <= mid * (1 + 1e-3) + 1e-9].sum()
    value = (lambda q: q * multiplier) if inverse else (lambda q: q * mid)
    assert snap.bid_band_notional == pytest.approx(value(in_bid), rel=1e-12)
    assert snap.ask_band_notional == pytest.approx(value(in_ask), rel=1e-12)
    from_rows = b.from_levels(bids, asks, 1)
    assert from_rows.bid_band_notional == pytest.approx(snap.bid_band_notional, rel=1e-12)
    assert from_rows.ask_band_notional == pytest.approx(snap.ask_band_notional, rel=1e-12)


def test_band_notional_is_refreshed_one_side_at_a_time():
    book = OrderBook(IID, BookType.L2_MBP)
    put(book, OrderSide.BUY, 99.9, 1.0)
    put(book, OrderSide.SELL, 100.1, 2.0)
    b = builder(band_refresh_ns=100)
    first = b.from_book(book, 0, 0)
    assert (first.bid_band_notional, first.ask_band_notional) == pytest.approx((99.9 + 0.1, 200.0))
    put(book, OrderSide.BUY, 99.9, 3.0)
    put(book, OrderSide.SELL, 100.1, 4.0)
    held = b.from_book(book, 50, 50)  # not due: both carried
    assert (held.bid_band_notional, held.ask_band_notional) == (first.bid_band_notional, first.ask_band_notional)
    one = b.from_book(book, 100, 100)  # both due: only one side (bids, the staler on a tie) re-read
    assert (one.bid_band_notional, one.ask_band_notional) == pytest.approx((300.0, 200.0))
    other = b.from_book(book, 101, 101)
    assert (other.bid_band_notional, other.ask_band_notional) == pytest.approx((300.0, 400.0))
    book.clear(102)
    assert not b.from_book(book, 102, 102).is_valid
    put(book, OrderSide.BUY, 99.9, 5.0)
    put(book, OrderSide.SELL, 100.1, 6.0)
    after = b.from_book(book, 103, 103)  # nothing from before the outage is carried
    assert (after.bid_band_notional, after.ask_band_notional) == pytest.approx((500.0, 600.0))


def test_from_levels_sorts_and_drops_bad_rows():
    b = builder()
    bids = [(99.0, 1.0), (99.5, float("nan")), (99.8, 2.0), (99.7, 0.0), (float("inf"), 1.0), (99.6, -1.0), (99.9, 3.0)]
    asks = [(100.3, 1.0), (100.1, 2.0), (-100.0, 1.0)]
    snap = b.from_levels(bids, asks, ts_event=5)
    np.testing.assert_array_equal(snap.bid_prices, [99.9, 99.8, 99.0, 0, 0])
    np.testing.assert_array_equal(snap.bid_sizes, [3.0, 2.0, 1.0, 0, 0])
    np.testing.assert_array_equal(snap.ask_prices, [100.1, 100.3, 0, 0, 0])
    assert (snap.n_bids, snap.n_asks, snap.ts_init) == (3, 2, 5)
    assert snap.mid == pytest.approx(100.0) and snap.spread == pytest.approx(0.2)
    assert b.skips.counts == {"level with non-finite or non-positive price or size dropped": 5}


@pytest.mark.real_data
def test_real_capture_every_batch_matches_the_nautilus_book(capture):
    """At every batch of the capture, the builder (reading the Cython book through bounded
    queries) equals the top N of a separate pyo3 Nautilus book fed the same deltas, read with
    bids(depth)/asks(depth); on every 200th batch also the Cython book's full bids()/asks() and
    the band notional recomputed from them."""
    depth = 10
    b = BookSnapshotBuilder.for_instrument(capture.instrument, depth=depth)
    book = OrderBook(capture.instrument.id, BookType.L2_MBP)
    oracle = pyo3.OrderBook(pyo3.InstrumentId.from_str(str(capture.instrument.id)), pyo3.BookType.L2_MBP)
    deltas = [e for e in capture.events if isinstance(e, OrderBookDelta)]
    batches = 0
    for delta, twin in zip(deltas, OrderBookDelta.to_pyo3_list(deltas)):
        book.apply_delta(delta)
        oracle.apply_delta(twin)
        if not delta.flags & F_LAST:
            continue
        batches += 1
        snap = b.from_book(book, delta.ts_event, delta.ts_init, delta.sequence)
        bids = [(float(lv.price), lv.size()) for lv in oracle.bids(depth)]
        asks = [(float(lv.price), lv.size()) for lv in oracle.asks(depth)]
        assert_matches(snap, bids, asks, depth)
        if batches % 200 == 0 and snap.is_valid:
            assert_matches(snap, *full_sides(book, depth), depth)
            fresh = BookSnapshotBuilder.for_instrument(capture.instrument, depth=depth).from_book(book, 0, 0)
            # the builder's bounds are prices at the instrument's precision
            precision = capture.instrument.price_precision
            lo, hi = (float(Price(snap.mid * (1 + s * 1e-3), precision)) for s in (-1, 1))
            all_bids = np.array([(float(lv.price), lv.size()) for lv in book.bids()])
            all_asks = np.array([(float(lv.price), lv.size()) for lv in book.asks()])
            for got, rows, inside in (
                (fresh.bid_band_notional, all_bids, all_bids[:, 0] >= lo),
                (fresh.ask_band_notional, all_asks, all_asks[:, 0] <= hi),
            ):
                size = rows[inside, 1].sum()
                expected = size * float(capture.instrument.multiplier) * (1 if capture.instrument.is_inverse else snap.mid)
                assert got == pytest.approx(expected, rel=1e-9)
    assert batches > 5000
    print(f"\n{capture.name}: {batches} batches matched; band widenings {b.widenings}, skips {b.skips.counts}")
