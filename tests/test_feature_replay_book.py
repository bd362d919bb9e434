"""The feature replay's numba L2 book (`scalp_nautilus.feature_replay.book`) against Nautilus's own
`OrderBook` as the oracle: the same deltas, written to Parquet by Nautilus's catalog and read back
as raw columns, must give, batch by batch, the very snapshot `BookSnapshotBuilder.from_book` takes
of the Nautilus book (prices, sizes, counts, band notional: bit for bit, no tolerance).

The random stream mixes what real feeds do and what a book must survive: CLEAR + snapshot, adds
on existing levels, updates of missing levels, deletes of missing levels, crossed books, one-sided
and empty books, levels far from the touch, band edges landing exactly on a level, and many deltas
per batch. The real captures go through it in `test_streaming.py` (replay rows == backtest rows).
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import BookOrder
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.enums import BookAction
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import RecordFlag
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity
from nautilus_trader.serialization.arrow.serializer import ArrowSerializer

from scalp_nautilus.book import BookSnapshotBuilder
from scalp_nautilus.feature_replay.book import ReplayBook
from scalp_nautilus.feature_replay.book import fixed_to_float

IID = InstrumentId.from_str("BTCUSDT-PERP.SIM")
F_LAST = int(RecordFlag.F_LAST)


def _delta(action, side, price, size, flags, seq, pp=2, sp=3):
    order = BookOrder(side, Price(price, pp), Quantity(size, sp), 0)
    return OrderBookDelta(IID, action, order, flags, seq, seq, seq)


def _random_stream(rng: np.random.Generator, n_batches: int, pp: int = 2, sp: int = 3) -> list[OrderBookDelta]:
    tick = 10.0**-pp
    deltas, seq, mid = [], 1, 30_000.0
    levels: dict[OrderSide, set[float]] = {OrderSide.BUY: set(), OrderSide.SELL: set()}

    def delta(action, side, price=0.0, size=0.0):
        if action == BookAction.CLEAR:
            levels[OrderSide.BUY].clear()
            levels[OrderSide.SELL].clear()
        elif action == BookAction.DELETE:
            levels[side].discard(price)
        else:
            levels[side].add(price)
        return _delta(action, side, price, size, 0, seq, pp, sp)

    for b in range(n_batches):
        batch = []
        if b % 400 == 0:  # CLEAR and a fresh snapshot (an outage's recovery)
            batch.append(delta(BookAction.CLEAR, OrderSide.NO_ORDER_SIDE))
            for k in range(1, 60):
                batch.append(delta(BookAction.ADD, OrderSide.BUY, round(mid - k * tick * 3, pp), 0.5 + k))
                batch.append(delta(BookAction.ADD, OrderSide.SELL, round(mid + k * tick * 3, pp), 0.5 + k))
        mid += rng.normal(0, 2) * tick
        # the venue removes what the move crossed, except now and then (a crossed book for a batch)
        if rng.random() > 0.02:
            batch += [delta(BookAction.DELETE, OrderSide.BUY, p) for p in sorted(levels[OrderSide.BUY]) if p >= mid]
            batch += [delta(BookAction.DELETE, OrderSide.SELL, p) for p in sorted(levels[OrderSide.SELL]) if p <= mid]
        for _ in range(int(rng.integers(1, 40))):
            side = OrderSide.BUY if rng.random() < 0.5 else OrderSide.SELL
            sign = -1 if side == OrderSide.BUY else 1
            offset = rng.integers(0, 20_000) if rng.random() < 0.03 else rng.geometric(0.15)
            price = round(mid + sign * offset * tick, pp)
            if price <= 0:
                continue
            r = rng.random()
            if r < 0.25:  # sometimes a level that is not there
                batch.append(delta(BookAction.DELETE, side, price))
            else:  # an ADD on a level that exists, an UPDATE of one that does not: both happen
                action = BookAction.ADD if r < 0.45 else BookAction.UPDATE
                size = round(float(rng.exponential(2.0)) + 10.0**-sp, sp)
                batch.append(delta(action, side, price, size))
        if b % 97 == 5:  # one side empty
            batch += [delta(BookAction.CLEAR, OrderSide.NO_ORDER_SIDE)]
            batch += [delta(BookAction.ADD, OrderSide.BUY, round(mid, pp), 1.0)]
        if not batch:
            continue
        last = batch[-1]
        batch[-1] = OrderBookDelta(IID, last.action, last.order, F_LAST, seq, seq, seq)
        deltas += batch
        seq += 1
    return deltas


def _snapshots_nautilus(deltas, builder: BookSnapshotBuilder):
    book = OrderBook(IID, BookType.L2_MBP)
    out = []
    for d in deltas:
        book.apply_delta(d)
        if d.flags & F_LAST:
            out.append(builder.from_book(book, d.ts_event, d.ts_init, d.sequence))
    return out


def _snapshots_replay(deltas, builder: BookSnapshotBuilder, chunk: int, pp: int, sp: int, band_bps: float):
    table = ArrowSerializer.serialize_batch(deltas, OrderBookDelta)
    book = ReplayBook(builder.depth, pp, sp, band_bps)
    out = []
    for batch in table.to_batches(max_chunksize=chunk):
        tops = book.apply(batch, "test")
        for b, i in enumerate(tops.row.tolist()):
            ts_event = batch.column("ts_event")[i].as_py()
            out.append(
                builder.from_tops(tops, b, ts_event, batch.column("ts_init")[i].as_py(), batch.column("sequence")[i].as_py())
            )
    return out


def _same(a, b) -> bool:
    arrays = ("bid_prices", "bid_sizes", "ask_prices", "ask_sizes")
    if any(not np.array_equal(getattr(a, f), getattr(b, f)) for f in arrays):
        return False
    scalars = ("n_bids", "n_asks", "ts_event", "ts_init", "sequence", "is_valid")
    if any(getattr(a, f) != getattr(b, f) for f in scalars):
        return False
    for f in ("bid_band_notional", "ask_band_notional", "mid", "spread"):
        x, y = getattr(a, f), getattr(b, f)
        if not (x == y or (math.isnan(x) and math.isnan(y))):
            return False
    return True


@pytest.mark.parametrize(("pp", "sp", "chunk"), [(2, 3, 137), (1, 3, 5000), (4, 0, 1)])
def test_replay_book_equals_nautilus_book_batch_by_batch(pp, sp, chunk):
    rng = np.random.default_rng(pp * 10 + sp)
    deltas = _random_stream(rng, 1500, pp, sp)
    kwargs = {"depth": 10, "price_precision": pp, "size_precision": sp, "tick_size": 10.0**-pp, "band_refresh_ns": 0}
    expected = _snapshots_nautilus(deltas, BookSnapshotBuilder(**kwargs))
    got = _snapshots_replay(deltas, BookSnapshotBuilder(**kwargs), chunk, pp, sp, 10.0)
    assert len(got) == len(expected) > 1000
    bad = [i for i, (a, b) in enumerate(zip(expected, got, strict=True)) if not _same(a, b)]
    assert not bad, f"{len(bad)} snapshots differ, first at batch {bad[0]}: {expected[bad[0]]} vs {got[bad[0]]}"
    # the stream reached what it is meant to: crossed, one-sided and thin books, band reads
    assert sum(not s.is_valid and s.n_bids and s.n_asks for s in expected) > 0
    assert sum(s.n_asks == 0 for s in expected) > 0
    assert sum(math.isfinite(s.bid_band_notional) for s in expected) > 500


def test_band_edge_on_a_level_counts_it_like_nautilus():
    """A level exactly at the band's edge is inside the band on both sides (Nautilus's crossing
    rule: a sell at the edge takes a bid at the edge)."""
    # mid 100.00, 10 bps: edges 99.90 and 100.10, levels placed exactly there
    deltas = [
        _delta(BookAction.ADD, OrderSide.BUY, 99.95, 1.0, 0, 1),
        _delta(BookAction.ADD, OrderSide.BUY, 99.90, 2.0, 0, 1),
        _delta(BookAction.ADD, OrderSide.BUY, 99.89, 4.0, 0, 1),
        _delta(BookAction.ADD, OrderSide.SELL, 100.05, 1.0, 0, 1),
        _delta(BookAction.ADD, OrderSide.SELL, 100.10, 8.0, 0, 1),
        _delta(BookAction.ADD, OrderSide.SELL, 100.11, 16.0, F_LAST, 1),
    ]
    kwargs = {"depth": 2, "price_precision": 2, "size_precision": 3, "tick_size": 0.01, "band_refresh_ns": 0}
    (expected,) = _snapshots_nautilus(deltas, BookSnapshotBuilder(**kwargs))
    (got,) = _snapshots_replay(deltas, BookSnapshotBuilder(**kwargs), 100, 2, 3, 10.0)
    assert _same(expected, got)
    assert got.bid_band_notional == pytest.approx(3.0 * 100.0) and got.ask_band_notional == pytest.approx(9.0 * 100.0)


def test_fixed_point_floats_are_nautilus_floats():
    """Raw → float as Nautilus's `float(Price)` / `float(Quantity)`, over prices whose raw exceeds
    64 bits and awkward decimals; a raw off the precision's grid is refused."""
    rng = np.random.default_rng(3)
    for pp in (0, 1, 2, 5, 8):
        values = np.round(rng.uniform(0.0, 2_000_000.0, 5000), pp)
        prices = [Price(v, pp) for v in values] + [Price(0.1, pp), Price(10.0**-pp, pp)]
        raws = [p.raw for p in prices]
        column = pa.array([r.to_bytes(16, "little", signed=True) for r in raws], pa.binary(16))
        ticks, floats = fixed_to_float(column, pp)
        assert floats.tolist() == [float(p) for p in prices]
        assert ticks.tolist() == [r // 10 ** (16 - pp) for r in raws]
    off_grid = pa.array([(10**14 + 1).to_bytes(16, "little", signed=True)], pa.binary(16))
    with pytest.raises(ValueError, match="not a multiple"):
        fixed_to_float(off_grid, 2)


def test_a_delta_the_book_cannot_reproduce_stops_with_the_file_named():
    deltas = [_delta(BookAction.ADD, OrderSide.BUY, 100.0, 1.0, F_LAST, 1)]
    table = ArrowSerializer.serialize_batch(deltas, OrderBookDelta)
    zero = pa.array([(0).to_bytes(16, "little")], pa.binary(16))
    table = table.set_column(table.schema.get_field_index("size"), table.schema.field("size"), zero)
    with pytest.raises(ValueError, match=r"some\.parquet: delta 0"):
        ReplayBook(10, 2, 3, 10.0).apply(table.to_batches()[0], "some.parquet")
