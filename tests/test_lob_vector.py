"""LOBFeatureVector: layout, values against a numpy recomputation on the real 2023-04 capture (book
features per snapshot; RSI/EMA/ATR/Bollinger in numpy with Nautilus's conventions, checked against
Nautilus's own indicators), staleness, bad input and outages."""

import math
from dataclasses import replace

import numpy as np
import pytest

from nautilus_trader.indicators.averages import ExponentialMovingAverage
from nautilus_trader.indicators.momentum import RelativeStrengthIndex
from nautilus_trader.indicators.volatility import AverageTrueRange
from nautilus_trader.indicators.volatility import BollingerBands

from scalp_nautilus.book import BookSnapshot
from scalp_nautilus.indicators import LOB_FEATURE_NAMES
from scalp_nautilus.indicators import LOBFeatureVector
from tests.support.capture_book import replay_snapshots

S = 1_000_000_000
WINDOW = 100


def test_layout_is_the_documented_order():
    assert LOB_FEATURE_NAMES == (
        "bid_size_0",
        "bid_size_1",
        "bid_size_2",
        "bid_size_3",
        "bid_size_4",
        "ask_size_0",
        "ask_size_1",
        "ask_size_2",
        "ask_size_3",
        "ask_size_4",
        "imbalance_0",
        "imbalance_1",
        "imbalance_2",
        "imbalance_3",
        "imbalance_4",
        "spread",
        "rsi",
        "ema_fast",
        "ema_slow",
        "atr",
        "bollinger_width",
    )


# ---------------------------------------------------------------- numpy oracle


def rolling_z(values: np.ndarray) -> np.ndarray:
    """z of each value against the last WINDOW values (itself included), sample std floored at 1e-12.

    Deviations are taken from the newest value first, so a window of equal values is exactly flat.
    """
    out = np.zeros(len(values))
    for i in range(len(values)):
        w = values[max(0, i - WINDOW + 1) : i + 1] - values[i]
        std = w.std(ddof=1) if len(w) > 1 else 0.0
        out[i] = -w.mean() / max(std, 1e-12)
    return out


def ema(x, period):
    """Nautilus's EMA: alpha = 2 / (period + 1), seeded with the first value."""
    alpha = 2.0 / (period + 1)
    out = np.empty(len(x))
    value = x[0]
    for i, v in enumerate(x):
        value = alpha * v + (1 - alpha) * value
        out[i] = value
    return out


def rsi(close, period=14):
    """Nautilus's RSI: EMA-averaged gains and losses (the first change is 0), scaled to [0, 1]."""
    change = np.diff(close, prepend=close[0])
    gain, loss = ema(np.maximum(change, 0), period), ema(np.maximum(-change, 0), period)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(loss == 0, 1.0, 1 - 1 / (1 + gain / loss))


def atr(high, low, close, period=14):
    """Nautilus's ATR: simple average of true ranges, the first bar against its own close."""
    prev = np.concatenate([[close[0]], close[:-1]])
    tr = np.maximum(prev, high) - np.minimum(low, prev)
    return np.array([tr[max(0, i - period + 1) : i + 1].mean() for i in range(len(tr))])


def bollinger_width(high, low, close, period=20, k=2.0):
    """Nautilus's Bollinger bands on the typical price, population std: (upper - lower) / middle."""
    tp = (high + low + close) / 3
    out = np.empty(len(tp))
    for i in range(len(tp)):
        w = tp[max(0, i - period + 1) : i + 1]
        out[i] = 2 * k * w.std() / w.mean()
    return out


def mid_bars(ts, mid):
    """Second bars opening at the previous close, silent seconds flat; one bar per whole second."""
    sec = ts // S
    first, last = sec[0], sec[-1]
    assert np.diff(np.unique(sec)).max() <= 11, "the oracle does not model outages"
    bars, close = [], None
    for s in range(first, last):
        points = ([close] if close is not None else []) + list(mid[sec == s])
        bars.append((max(points), min(points), points[-1]))
        close = points[-1]
    return np.array(bars), sec - first  # bars closed before snapshot i = its second's offset


def oracle_vectors(snaps):
    bid = np.array([s.bid_sizes[:5] for s in snaps])
    ask = np.array([s.ask_sizes[:5] for s in snaps])
    best_bid = np.array([s.bid_prices[0] for s in snaps])
    best_ask = np.array([s.ask_prices[0] for s in snaps])
    total = bid + ask
    imbalance = np.where(total > 0, (bid - ask) / np.where(total > 0, total, 1), 0.0)
    spread = np.round((best_ask - best_bid) / 1e-8) * 1e-8  # prices ~3e4: 12 significant digits
    book = np.column_stack([bid, ask, imbalance, spread])
    book_z = np.column_stack([rolling_z(book[:, j]) for j in range(book.shape[1])])

    bars, closed_before = mid_bars(np.array([s.ts_event for s in snaps]), (best_bid + best_ask) / 2)
    h, lo, c = bars.T
    series = [rsi(c), ema(c, 12), ema(c, 26), atr(h, lo, c), bollinger_width(h, lo, c)]
    warm_from = [14, 12, 26, 14, 20]  # bars an indicator needs before it counts as initialized
    bar_z = []
    for values, warm in zip(series, warm_from):
        z = np.full(len(values), np.nan)
        z[warm - 1 :] = rolling_z(values[warm - 1 :])
        bar_z.append((values, z, warm))

    want = np.zeros((len(snaps), 21))
    for i in range(len(snaps)):
        n_bars = closed_before[i]
        warm = i + 1 >= WINDOW and all(n_bars - (w - 1) >= WINDOW for _, _, w in bar_z)
        if warm:
            want[i, :16] = book_z[i]
            want[i, 16:] = [z[n_bars - 1] for _, z, _ in bar_z]
    raw_last = np.concatenate([book[-1], [v[closed_before[-1] - 1] for v, _, _ in bar_z]])
    return want, raw_last, bars


@pytest.fixture(scope="module")
def capture_snapshots(capture_paths):
    snaps = replay_snapshots(tuple(capture_paths("usdm_2023_04")), every=8)
    return [s for s in snaps if s.is_valid]


@pytest.mark.real_data
@pytest.mark.slow
def test_values_against_numpy_on_real_capture(capture_snapshots):
    snaps = capture_snapshots
    assert len(snaps) > 1_500
    ind = LOBFeatureVector()
    got = np.empty((len(snaps), 21))
    for i, snap in enumerate(snaps):
        ind.handle_book(snap)
        got[i] = ind.value
    want, raw_last, bars = oracle_vectors(snaps)
    warm = np.flatnonzero(want.any(axis=1))
    assert len(warm) > 1_000 and not got[: warm[0]].any()  # zeros until every element is warm
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(ind.raw, raw_last, rtol=1e-12)
    assert ind.invalid_books == 0 and ind.bars.closed == len(bars)

    # the oracle's conventions are Nautilus's: its indicators fed the same bars agree
    h, lo, c = bars.T
    nautilus = [
        RelativeStrengthIndex(14),
        ExponentialMovingAverage(12),
        ExponentialMovingAverage(26),
        AverageTrueRange(14),
        BollingerBands(20, 2.0),
    ]
    for i in range(len(bars)):
        nautilus[0].update_raw(c[i])
        nautilus[1].update_raw(c[i])
        nautilus[2].update_raw(c[i])
        nautilus[3].update_raw(h[i], lo[i], c[i])
        nautilus[4].update_raw(h[i], lo[i], c[i])
    bb = nautilus[4]
    assert [n.value for n in nautilus[:4]] + [(bb.upper - bb.lower) / bb.middle] == pytest.approx(
        [rsi(c)[-1], ema(c, 12)[-1], ema(c, 26)[-1], atr(h, lo, c)[-1], bollinger_width(h, lo, c)[-1]], rel=1e-9
    )


# ---------------------------------------------------------------- synthetic books


def synthetic(seconds=200, per_second=5, seed=0):
    rng = np.random.default_rng(seed)
    mid = 100.0
    for i in range(seconds * per_second):
        mid += rng.choice([-0.05, 0.0, 0.05])
        ts = i * S // per_second
        yield BookSnapshot(
            mid - 0.05 - 0.1 * np.arange(5),
            rng.uniform(0.1, 5, 5),
            mid + 0.05 + 0.1 * np.arange(5),
            rng.uniform(0.1, 5, 5),
            5,
            5,
            ts,
            ts + 1_000_000,
        )


def warmed():
    ind = LOBFeatureVector()
    for snap in synthetic():
        ind.handle_book(snap)
        last = snap
    assert ind.initialized and ind.value.any()
    return ind, last


def test_stale_book_gives_zeros():
    ind, last = warmed()
    fresh = ind.value
    assert np.array_equal(ind.at(last.ts_event + 2 * S), fresh)  # exactly 2 s old: still fresh
    assert not ind.at(last.ts_event + 2 * S + 1).any()
    assert ind.stale_reads == 1
    late = replace(last, ts_event=last.ts_event + S, ts_init=last.ts_event + 3 * S + 1)  # delivered > 2 s late
    ind.handle_book(late)
    assert ind.initialized and not ind.value.any()
    assert ind.value is not fresh and fresh.any()  # a fresh array per update: holders keep their copy


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: replace(s, n_bids=0),
        lambda s: replace(s, ask_prices=s.bid_prices.copy()),  # crossed / locked
        lambda s: replace(s, bid_sizes=np.array([1.0, np.nan, 1.0, 1.0, 1.0])),
        lambda s: replace(s, ask_sizes=np.array([1.0, 1.0, -1.0, 1.0, 1.0])),
        lambda s: replace(s, bid_prices=np.array([0.0, -0.1, -0.2, -0.3, -0.4]), ask_prices=np.array([0.1] * 5)),
        lambda s: replace(s, bid_sizes=np.array([1.0, 1.0])),  # fewer than 5 levels
    ],
    ids=["no_bids", "crossed", "nan_size", "negative_size", "zero_price", "short"],
)
def test_bad_books_are_counted_and_skipped(mutate):
    ind, last = warmed()
    before = (ind.raw.copy(), ind.value.copy())
    ind.handle_book(mutate(replace(last, ts_event=last.ts_event + 1)))
    assert ind.invalid_books == 1
    assert np.array_equal(ind.raw, before[0]) and np.array_equal(ind.value, before[1])


def test_empty_levels_and_constant_book():
    ind = LOBFeatureVector()
    sizes = np.array([2.0, 0.0, 0.0, 0.0, 0.0])  # only one level on each side
    for i in range(1_000):
        ts = i * S // 5
        ind.update_raw(sizes, sizes, 99.95, 100.05, ts)
    assert ind.initialized  # a constant book is warm, just uninformative
    assert np.array_equal(ind.raw[10:15], [0.0] * 5)
    assert abs((100.05 - 99.95) - 0.1) > 1e-15  # the subtraction's float residue ...
    assert ind.raw[15] == pytest.approx(0.1, abs=1e-15)  # ... is rounded away
    assert np.all(np.isfinite(ind.value)) and not ind.value.any()


def test_outage_restarts_bar_features():
    ind, last = warmed()
    ind.handle_book(replace(last, ts_event=last.ts_event + 60 * S, ts_init=last.ts_event + 60 * S))
    assert ind.bars.gaps == 1
    assert not ind.initialized and not ind.value.any()
    assert math.isfinite(ind.raw.sum())
