"""VPIN against a batch computation over volume buckets, by hand, and on the real captures."""

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.test_kit.stubs.data import TestDataStubs

from scalp_nautilus.indicators import VPIN
from scalp_nautilus.indicators.settings import VPINSettings
from scalp_nautilus.indicators.vpin import VPINRegime


def batch_vpin(sizes, sides, bucket, n_buckets):
    """VPIN after each trade, from scratch: trade i occupies [cum_{i-1}, cum_i) of the volume
    axis, bucket b is [b V, (b+1) V), and a bucket's buy/sell volume is the overlap with buys/sells."""
    sizes = np.asarray(sizes, dtype=float)
    cum = np.cumsum(sizes)
    start = cum - sizes
    tol = 1e-9 * bucket
    n_complete = np.floor((cum + tol) / bucket).astype(np.int64)
    edges = np.arange(n_complete[-1] + 1) * bucket
    lo = np.maximum(start[:, None], edges[None, :-1])
    hi = np.minimum(cum[:, None], edges[None, 1:])
    overlap = np.clip(hi - lo, 0.0, None)  # trades x buckets
    buy = (overlap * (np.asarray(sides)[:, None] > 0)).sum(axis=0)
    sell = overlap.sum(axis=0) - buy
    imbalance = np.concatenate([[0.0], np.cumsum(np.abs(buy - sell))])
    volume = np.concatenate([[0.0], np.cumsum(buy + sell)])
    first = np.maximum(n_complete - n_buckets, 0)
    total = volume[n_complete] - volume[first]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (imbalance[n_complete] - imbalance[first]) / total, 0.0)


def feed(vpin, sizes, sides):
    return np.array([vpin.update_raw(float(q), int(s)) for q, s in zip(sizes, sides)])


def test_a_trade_spanning_several_buckets():
    vpin = VPIN(VPINSettings(volume_per_hour=500.0, window_minutes=60.0, n_buckets=50))  # buckets of 10
    assert vpin.bucket_volume == 10.0
    vpin.update_raw(25.0, 1)  # fills two buckets with buys, 5 left open
    assert (vpin.completed, vpin.open_bucket_volume, vpin.value) == (2, 5.0, 1.0)
    vpin.update_raw(5.0, -1)  # closes the third bucket: 5 buy, 5 sell
    assert vpin.completed == 3 and vpin.value == pytest.approx(20.0 / 30.0)
    vpin.update_raw(12.0, -1)  # a sell bucket, 2 open
    assert vpin.completed == 4 and vpin.value == pytest.approx(30.0 / 40.0)
    assert not vpin.initialized


def test_only_the_last_n_buckets_count():
    vpin = VPIN(VPINSettings(volume_per_hour=20.0, window_minutes=60.0, n_buckets=2))  # buckets of 10
    vpin.update_raw(10.0, 1)  # bucket 1: all buy
    assert vpin.value == 1.0 and not vpin.initialized
    vpin.update_raw(5.0, 1)
    vpin.update_raw(5.0, -1)  # bucket 2: balanced
    assert vpin.initialized and vpin.value == pytest.approx((10.0 + 0.0) / 20.0)
    vpin.update_raw(2.5, 1)
    vpin.update_raw(7.5, -1)  # bucket 3: |2.5 - 7.5| = 5; bucket 1 leaves the window
    assert vpin.value == pytest.approx((0.0 + 5.0) / 20.0)


def test_huge_trade_is_cut_to_the_window_without_looping():
    vpin = VPIN(VPINSettings(volume_per_hour=50.0, window_minutes=60.0, n_buckets=50))
    vpin.update_raw(0.5, -1)
    vpin.update_raw(1e15 + 0.25, 1)
    assert vpin.value == 1.0 and vpin.initialized
    assert vpin.completed == math.floor(1e15 + 0.75)
    assert vpin.open_bucket_volume == pytest.approx(math.fmod(1e15 + 0.75, 1.0), abs=1e-6)


@pytest.mark.parametrize(
    "value, regime, multiplier",
    [
        (0.0, VPINRegime.LOW, 1.0),
        (0.2999, VPINRegime.LOW, 1.0),
        (0.3, VPINRegime.MEDIUM, 0.5),
        (0.5, VPINRegime.HIGH, 0.25),
        (0.7, VPINRegime.HIGH, 0.25),
        (0.7001, VPINRegime.EXTREME, 0.0),
        (1.0, VPINRegime.EXTREME, 0.0),
    ],
)
def test_regime_bounds(value, regime, multiplier):
    # one bucket of 10 000 with buy volume (1 + value) / 2 of it gives VPIN = value exactly
    vpin = VPIN(VPINSettings(volume_per_hour=10_000.0, window_minutes=60.0, n_buckets=1))
    buy = 5_000.0 * (1.0 + value)
    if buy > 0:
        vpin.update_raw(buy, 1)
    if buy < 10_000.0:
        vpin.update_raw(10_000.0 - buy, -1)
    assert vpin.value == pytest.approx(value, abs=1e-12)
    assert (vpin.regime, vpin.multiplier) == (regime, multiplier)


def test_unusable_trades_are_counted():
    vpin = VPIN(VPINSettings(volume_per_hour=10.0, window_minutes=60.0, n_buckets=2))
    for size, side in ((float("nan"), 1), (0.0, 1), (-1.0, -1), (float("inf"), 1), (1.0, 0)):
        vpin.update_raw(size, side)
    tick = TestDataStubs.trade_tick(aggressor_side=AggressorSide.NO_AGGRESSOR)
    vpin.handle_trade_tick(tick)
    assert vpin.skips.total == 6 and vpin.open_bucket_volume == 0.0 and not vpin.has_inputs
    with pytest.raises(ValueError):
        VPIN(VPINSettings(volume_per_hour=0.0, window_minutes=60.0))


@pytest.mark.parametrize("seed, n_buckets", [(0, 50), (1, 5), (2, 1)])
def test_against_the_batch_computation(seed, n_buckets):
    rng = np.random.default_rng(seed)
    # lognormal sizes on a 0.001 lot: most trades are small, some span many buckets
    sizes = np.maximum(np.round(rng.lognormal(-1.0, 1.5, 4000), 3), 0.001)
    sides = rng.choice([-1, 1], 4000, p=[0.4, 0.6])
    window = sizes.sum() / 20
    vpin = VPIN(VPINSettings(volume_per_hour=window, window_minutes=60.0, n_buckets=n_buckets))
    got = feed(vpin, sizes, sides)
    np.testing.assert_allclose(got, batch_vpin(sizes, sides, window / n_buckets, n_buckets), rtol=1e-9, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    trades=st.lists(
        st.tuples(st.floats(1e-6, 1e4, allow_nan=False), st.sampled_from([-1, 1])),
        min_size=1,
        max_size=200,
    ),
    bucket=st.floats(0.01, 100.0),
    n_buckets=st.integers(1, 60),
)
@pytest.mark.slow
def test_property_bounded_and_equal_to_the_batch(trades, bucket, n_buckets):
    sizes, sides = zip(*trades)
    vpin = VPIN(VPINSettings(volume_per_hour=bucket * n_buckets, window_minutes=60.0, n_buckets=n_buckets))
    got = feed(vpin, sizes, sides)
    assert np.all((got >= 0.0) & (got <= 1.0))
    np.testing.assert_allclose(got, batch_vpin(sizes, sides, vpin.bucket_volume, n_buckets), rtol=1e-6, atol=1e-9)


@pytest.mark.real_data
@pytest.mark.parametrize("window_s", [60, 300])
def test_real_capture_vpin_bounded_and_regimes(capture, window_s):
    """Buckets of 1/50 of the capture's average volume over `window_s` seconds, sides from
    Binance's aggressor flag; VPIN after every trade once the 50 buckets are full."""
    vpin = VPIN(VPINSettings(volume_per_hour=capture.volume_per_second() * window_s, window_minutes=60.0))
    values = []
    for tick in capture.trades:
        vpin.handle_trade_tick(tick)
        assert 0.0 <= vpin.value <= 1.0
        if vpin.initialized:
            values.append((vpin.value, vpin.regime))
    assert values, "the window never filled"
    counts = Counter(r for _, r in values)
    share = {r.name: f"{counts[r] / len(values):.0%}" for r in VPINRegime}
    v = np.array([x for x, _ in values])
    print(
        f"\n{capture.name} window {window_s}s (bucket {vpin.bucket_volume:.4g}): {len(values)} trades after "
        f"warm-up, VPIN median {np.median(v):.3f} [{v.min():.3f}, {v.max():.3f}], regimes {share}"
    )
