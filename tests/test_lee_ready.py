"""LeeReadyClassifier: the rules by hand, a vectorised numpy oracle, and the real captures'
aggressor flags."""

import logging

import numpy as np
import pytest

from nautilus_trader.model.enums import AggressorSide

from scalp_nautilus.indicators import LeeReadyClassifier
from scalp_nautilus.indicators.lee_ready import Method
from scalp_nautilus.indicators.settings import ClassifierSettings
from tests.support.captures import replay


def test_quote_rule_uses_the_mid_strictly_before_the_trade():
    lr = LeeReadyClassifier()
    lr.update_quote(10, 100.0)
    lr.update_quote(20, 101.0)  # stamped at the trade's time: may already contain it
    assert lr.update_raw(100.5, ts_event=20) == 1  # against 100.0: above the mid
    assert lr.update_raw(100.5, ts_event=21) == -1  # against 101.0: below
    assert lr.update_raw(99.0, ts_event=21) == -1
    assert lr.counts[Method.QUOTE] == 3 and lr.method == Method.QUOTE


def test_trades_at_the_mid_use_the_tick_rule():
    lr = LeeReadyClassifier()
    lr.update_quote(0, 100.0)
    assert (lr.update_raw(100.0, 1), lr.method) == (1, Method.DEFAULT)  # no price history: buy
    lr.update_quote(1, 100.2)
    assert (lr.update_raw(100.2, 2), lr.method) == (1, Method.TICK)  # uptick
    lr.update_quote(2, 100.1)
    assert (lr.update_raw(100.1, 3), lr.method) == (-1, Method.TICK)  # downtick
    assert (lr.update_raw(100.1, 4), lr.method) == (-1, Method.TICK)  # zero tick: last direction
    lr.update_quote(4, 99.0)
    assert lr.update_raw(100.1, 5) == 1  # quote rule again, above the mid
    lr.update_quote(5, 100.1)
    # zero tick after a quote-rule trade: still the last *tick* direction (down), not the last side
    assert (lr.update_raw(100.1, 6), lr.method) == (-1, Method.TICK)
    assert lr.counts == [0, 1, 4, 1]


def test_no_quote_yet_falls_back_to_the_tick_rule():
    lr = LeeReadyClassifier()
    assert (lr.update_raw(50.0, 1), lr.method) == (1, Method.DEFAULT)
    assert (lr.update_raw(49.0, 2), lr.method) == (-1, Method.TICK)
    assert (lr.update_raw(49.0, 3), lr.method) == (-1, Method.TICK)


def test_venue_side_first_and_agreement():
    lr = LeeReadyClassifier()
    lr.update_quote(0, 100.0)
    assert (lr.update_raw(101.0, 1, venue_side=-1), lr.method) == (-1, Method.VENUE)
    assert lr.update_raw(99.0, 2, venue_side=-1) == -1
    assert (lr.compared, lr.agreed, lr.agreement) == (2, 1, 0.5)
    ignoring = LeeReadyClassifier(ClassifierSettings(ignore_venue=True))
    ignoring.update_quote(0, 100.0)
    assert (ignoring.update_raw(101.0, 1, venue_side=-1), ignoring.method) == (1, Method.QUOTE)
    assert ignoring.agreement == 0.0


def test_unusable_prices_are_counted_and_change_nothing():
    lr = LeeReadyClassifier()
    lr.update_quote(0, 100.0)
    lr.update_raw(101.0, 1)
    for bad in (float("nan"), 0.0, -5.0, float("inf")):
        assert lr.update_raw(bad, 2) == 0
    lr.update_quote(3, float("nan"))
    assert lr.update_raw(99.0, 4) == -1  # the NaN quote was not kept
    assert lr.skips.total == 5 and lr.value == -1
    assert sum(lr.counts) == 2


def test_tick_share_warning_is_logged_once(caplog):
    lr = LeeReadyClassifier(warn_min_trades=50)
    with caplog.at_level(logging.WARNING):
        for i in range(200):
            price = 100.0 + 0.1 * (i % 2)
            lr.update_quote(2 * i, price)
            lr.update_raw(price, 2 * i + 1)  # every trade at the mid
    assert lr.tick_share > 0.4
    assert sum("tick rule decided" in r.message for r in caplog.records) == 1


def oracle_sides(quote_ts, quote_mid, trade_ts, trade_px):
    """Lee-Ready over whole arrays: mid = newest quote stamped strictly before each trade; at the
    mid (or with no quote), the sign of the last non-zero price change; no change yet: buy."""
    k = np.searchsorted(quote_ts, trade_ts, side="left") - 1
    mid = np.where(k >= 0, quote_mid[np.maximum(k, 0)], np.nan)
    ticks = np.sign(np.diff(trade_px, prepend=trade_px[0]))
    nonzero = np.where(ticks != 0, np.arange(len(ticks)), -1)
    last_tick = np.maximum.accumulate(nonzero)
    tick_side = np.where(last_tick >= 0, ticks[np.maximum(last_tick, 0)], 1.0)
    quote_side = np.sign(trade_px - mid)
    return np.where(np.isnan(mid) | (quote_side == 0), tick_side, quote_side).astype(int)


@pytest.mark.parametrize("seed", range(5))
def test_against_a_vectorised_oracle(seed):
    rng = np.random.default_rng(seed)
    n = 3000
    ts = np.cumsum(rng.integers(1, 5, 2 * n))  # strictly increasing event times
    is_quote = rng.random(2 * n) < 0.5
    is_quote[0] = seed % 2 == 0  # some runs start with trades before any quote
    # a few price levels on a 0.5 grid, mids on a 0.25 grid: trades at the mid are common
    mids = 100 + 0.25 * np.cumsum(rng.integers(-1, 2, 2 * n))
    prices = np.round((mids + rng.choice([-0.25, 0.0, 0.25], 2 * n)) * 2) / 2
    lr = LeeReadyClassifier()
    got = []
    for t, quote, mid, price in zip(ts, is_quote, mids, prices):
        if quote:
            lr.update_quote(int(t), float(mid))
        else:
            got.append(lr.update_raw(float(price), int(t)))
    expected = oracle_sides(ts[is_quote], mids[is_quote], ts[~is_quote], prices[~is_quote])
    np.testing.assert_array_equal(got, expected)
    assert lr.counts[Method.TICK] > 100 and lr.counts[Method.QUOTE] > 100


@pytest.mark.real_data
def test_real_capture_agreement_with_the_venue_flag(capture):
    """Lee-Ready (ignoring the flag) against Binance's aggressor side on every trade."""
    strict = LeeReadyClassifier(ClassifierSettings(ignore_venue=True))
    latest = LeeReadyClassifier(ClassifierSettings(ignore_venue=True), quote_history=1)  # the newest mid, whatever its stamp
    buys = 0
    for kind, item, _ in replay(capture):
        if kind == "book":
            strict.handle_book(item)
            latest.handle_book(item)
        else:
            strict.handle_trade_tick(item)
            latest.handle_trade_tick(item)
            buys += item.aggressor_side == AggressorSide.BUYER
    n = strict.compared
    base = max(buys, n - buys) / n  # always guessing the majority side
    print(
        f"\n{capture.name}: Lee-Ready agrees with Binance's flag on {strict.agreement:.2%} of {n} trades "
        f"(newest mid regardless of stamp: {latest.agreement:.2%}; majority-side guess {base:.2%}); "
        f"methods quote/tick/default {strict.counts[1:]}, tick share {strict.tick_share:.2%}, "
        f"trades with no book stamped before them {strict.quote_after_trade}"
    )
    assert n == len(capture.trades)
    assert strict.agreement > base + 0.2
    assert strict.agreement > 0.75
