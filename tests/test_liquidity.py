"""LiquidityMetrics against direct numpy evaluations (Kyle's λ against numpy.linalg.lstsq), with
edge cases by hand and a real-data run."""

import math

import numpy as np
import pandas as pd
import pytest

from scalp_nautilus.book import BookSnapshotBuilder
from scalp_nautilus.indicators import LiquidityMetrics
from scalp_nautilus.indicators.liquidity import KyleLambda
from scalp_nautilus.indicators.settings import LiquiditySettings
from tests.support.captures import replay

S = 1_000_000_000
BUILDER = BookSnapshotBuilder(depth=10, price_precision=2, size_precision=3, tick_size=0.01)


def vwap(prices, sizes, size):
    """VWAP of `size` over the levels by cumulative sums; beyond them, at the last price."""
    before = np.concatenate([[0.0], np.cumsum(sizes)[:-1]])
    take = np.clip(size - before, 0.0, sizes)
    short = size - take.sum()
    return (take @ prices + short * prices[-1]) / size, short > 1e-12


def oracle_book(bp, bq, ap, aq, levels, size, scale):
    mid = (bp[0] + ap[0]) / 2
    b, a = bq[:levels].sum(), aq[:levels].sum()
    weights = lambda p: 1.0 / (1.0 + np.abs(p - mid) / mid * 1e4 / scale)  # noqa: E731
    weighted = bq[:levels] @ weights(bp[:levels]) + aq[:levels] @ weights(ap[:levels])
    buy, buy_capped = vwap(ap, aq, size)
    sell, sell_capped = vwap(bp, bq, size)
    return {
        "spread_bps": (ap[0] - bp[0]) / mid * 1e4,
        "imbalance": b / (b + a),
        "depth": b + a,
        "weighted_depth": weighted,
        "slippage_buy_bps": (buy - mid) / mid * 1e4,
        "slippage_sell_bps": (mid - sell) / mid * 1e4,
        "slippage_capped": buy_capped or sell_capped,
    }


def random_book(rng, depth=10):
    mid = 100 + rng.normal()
    nb, na = rng.integers(1, depth + 1, 2)
    bp = np.round(mid - 0.01 - np.cumsum(rng.integers(1, 4, nb)) * 0.01, 2)
    ap = np.round(mid + 0.01 + np.cumsum(rng.integers(1, 4, na)) * 0.01, 2)
    bq = np.round(rng.lognormal(0, 1, nb), 3) + 0.001
    aq = np.round(rng.lognormal(0, 1, na), 3) + 0.001
    return bp, bq, ap, aq


@pytest.mark.parametrize("levels, size", [(10, 1.0), (3, 5.0), (1, 0.01), (10, 1e9)])
def test_book_metrics_against_numpy(levels, size):
    rng = np.random.default_rng(levels)
    liq = LiquidityMetrics(LiquiditySettings(levels=levels, slippage_size=size), distance_scale_bps=2.0)
    for i in range(300):
        bp, bq, ap, aq = random_book(rng)
        liq.handle_book(BUILDER.from_levels(np.c_[bp, bq], np.c_[ap, aq], ts_event=i))
        expected = oracle_book(bp, bq, ap, aq, levels, size, 2.0)
        for name, value in expected.items():
            assert getattr(liq, name) == pytest.approx(value, rel=1e-12, abs=1e-9), name


def test_resilience_and_depth_shock_against_an_ewma():
    rng = np.random.default_rng(2)
    depth = np.exp(rng.normal(0, 0.4, 500)) * 10
    depth[200:205] *= 0.2  # a liquidity withdrawal
    liq = LiquidityMetrics(LiquiditySettings(levels=1, ewma_alpha=0.05))
    got = []
    for i, d in enumerate(depth):
        liq.update_raw(np.array([99.99]), np.array([d / 2]), 1, np.array([100.01]), np.array([d / 2]), 1, i)
        got.append((liq.value, liq.depth_shock))
    # the EWMA *before* each update (pandas' recursive form, seeded with the first depth)
    before = pd.Series(depth).ewm(alpha=0.05, adjust=False).mean().shift(1).fillna(depth[0]).to_numpy()
    np.testing.assert_allclose([g[0] for g in got], np.minimum(depth / before, 2) / 2, rtol=1e-12)
    np.testing.assert_array_equal([g[1] for g in got], depth < 0.7 * before)
    assert all(g[1] for g in got[200:205])


def kyle_oracle(mids, trades, interval_ns, window):
    """(flow, Δmid) per interval from the raw streams, then lstsq on the last `window` points."""
    events = sorted([(t, 0, m) for t, m in mids] + [(t, 1, q) for t, q in trades])
    first = events[0][0] // interval_ns
    last = events[-1][0] // interval_ns
    n = last - first  # closed intervals
    flow = np.zeros(n + 1)
    end_mid = np.full(n + 1, np.nan)
    for t, kind, v in events:
        k = t // interval_ns - first
        if kind == 1:
            flow[k] += v
        else:
            end_mid[k] = v
    end_mid = pd.Series(end_mid).ffill().to_numpy()
    start_mid = np.concatenate([[np.nan], end_mid[:-1]])
    # the first interval's start is its first mid
    first_mid = next(v for t, kind, v in events if kind == 0)
    first_k = next(t // interval_ns - first for t, kind, v in events if kind == 0)
    start_mid[first_k] = first_mid
    x, y = flow[:n], (end_mid - start_mid)[:n]
    ok = ~np.isnan(y)
    x, y = x[ok][-window:], y[ok][-window:]
    coef, *_ = np.linalg.lstsq(np.c_[x, np.ones_like(x)], y, rcond=None)
    return coef[0], len(x)


@pytest.mark.parametrize("seed", range(3))
def test_kyle_lambda_against_lstsq(seed):
    rng = np.random.default_rng(seed)
    true_lambda = 0.03
    kyle = KyleLambda(interval_ns=S, window=120, min_points=30)
    mids, trades = [], []
    mid, t = 1000.0, 5 * S + 123
    while t < 400 * S:
        t += int(rng.exponential(0.15 * S))
        if rng.random() < 0.5:
            q = float(rng.choice([-1, 1]) * rng.lognormal(0, 1))
            trades.append((t, q))
            kyle.update_trade(t, q)
            mid += true_lambda * q
        else:
            mid += rng.normal(0, 0.01)
            mids.append((t, mid))
            kyle.update_mid(t, mid)
        if rng.random() < 0.002:
            t += 30 * S  # a silent stretch: empty intervals are (0, 0) points
    expected, n = kyle_oracle(mids, trades, S, 120)
    assert n == 120 and kyle.points == 120
    assert kyle.value == pytest.approx(expected, rel=1e-9)
    assert kyle.initialized and kyle.value == pytest.approx(true_lambda, rel=0.5)


def test_kyle_lambda_needs_points_and_flow():
    kyle = KyleLambda(interval_ns=S, window=10, min_points=5)
    for i in range(20):  # mids move, nobody trades: the slope is undefined, λ stays unset
        kyle.update_mid(i * S, 100.0 + i)
    assert not kyle.initialized and kyle.value == 0.0
    kyle.update_trade(20 * S, 1.0)  # trades before any mid are not lost: they are in the interval
    assert kyle.points == 10


def test_bad_books_and_trades_are_counted():
    liq = LiquidityMetrics(LiquiditySettings(levels=2))
    liq.handle_book(BUILDER.from_levels([(99.0, 1.0)], [], ts_event=0))  # one-sided
    liq.update_raw(np.array([101.0]), np.array([1.0]), 1, np.array([100.0]), np.array([1.0]), 1, 1)  # crossed
    liq.update_raw(np.array([99.0]), np.array([np.nan]), 1, np.array([100.0]), np.array([1.0]), 1, 2)
    liq.update_trade_raw(float("nan"), 3)
    assert liq.skips.total == 4 and not liq.has_inputs
    assert (liq.value, liq.imbalance, liq.kyle_lambda) == (0.5, 0.5, 0.0)


@pytest.mark.real_data
def test_real_capture_liquidity(capture):
    liq = LiquidityMetrics(LiquiditySettings(slippage_size=1.0 if not capture.instrument.is_inverse else 100.0))
    lambdas = []
    for kind, item, _ in replay(capture):
        if kind == "book":
            liq.handle_book(item)
            for name in (
                "spread_bps",
                "imbalance",
                "weighted_depth",
                "slippage_buy_bps",
                "slippage_sell_bps",
                "value",
                "kyle_lambda",
            ):
                assert math.isfinite(getattr(liq, name)), name
            assert 0.0 <= liq.imbalance <= 1.0 and 0.0 <= liq.value <= 1.0
            assert liq.slippage_buy_bps >= 0.0 and liq.slippage_sell_bps >= 0.0
        else:
            liq.handle_trade_tick(item)
            if liq.kyle.initialized:
                lambdas.append(liq.kyle_lambda)
    lam = np.array(lambdas)
    print(
        f"\n{capture.name}: Kyle's λ median {np.median(lam):.3g} quote per unit of size, positive on "
        f"{np.mean(lam > 0):.0%} of trades after warm-up; slippage capped at the visible depth on "
        f"{liq.skips.counts.get('slippage size beyond the visible levels: slippage understated', 0)} books"
    )
    assert liq.initialized
    assert np.mean(lam > 0) > 0.9  # buying pushes the price up
