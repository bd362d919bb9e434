"""CumulativeVolumeDelta against a direct numpy evaluation over the same buckets, by hand, and on
the real captures."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from nautilus_trader.model.enums import AggressorSide

from scalp_nautilus.indicators import CumulativeVolumeDelta
from scalp_nautilus.indicators.settings import CVDSettings

S = 1_000_000_000


def oracle(trades, now_bucket, window):
    """(CVD, divergence) when the open bucket is `now_bucket`: buckets from the first trade's up
    to now_bucket - 1 are closed; the window is the last `window` of them."""
    px, q, side, ts = (np.array(c) for c in zip(*trades))
    k = ts // S - ts[0] // S
    now = now_bucket - ts[0] // S
    closed = k < now
    signed = np.bincount(k[closed], weights=(side * q)[closed], minlength=now)
    count = np.bincount(k[closed], minlength=now)
    price_sum = np.bincount(k[closed], weights=px[closed], minlength=now)
    mean_price = np.full(now, np.nan)
    mean_price[count > 0] = price_sum[count > 0] / count[count > 0]
    for i in range(1, now):  # no trade in a bucket: the last trade price carries
        if np.isnan(mean_price[i]):
            mean_price[i] = mean_price[i - 1]
    open_signed = (side * q)[k == now].sum()
    s, p = signed[-window:], mean_price[-window:]
    cvd = s.sum() + open_signed
    if now < window:
        return cvd, 0.0
    c = np.cumsum(s)
    h = window // 2
    gross, span = np.abs(s).sum(), p.max() - p.min()
    if gross == 0 or span == 0:
        return cvd, 0.0
    d_flow = (c[h:].mean() - c[:h].mean()) / gross
    d_price = (p[h:].mean() - p[:h].mean()) / span
    if d_flow * d_price >= 0:
        return cvd, 0.0
    return cvd, math.copysign(math.sqrt(abs(d_flow * d_price)), d_flow)


def test_divergence_by_hand():
    cvd = CumulativeVolumeDelta(CVDSettings(bucket_s=S / 1e9, window=4))
    for i, price in enumerate((104.0, 103.0, 102.0, 101.0)):  # buyers every second, price falling
        cvd.update_raw(price, 1.0, 1, i * S)
    assert not cvd.initialized and cvd.divergence == 0.0
    cvd.advance(4 * S)
    # CVD 1,2,3,4: halves 1.5 -> 3.5, /4 gross = +0.5; price 103.5 -> 101.5, /3 range = -2/3
    assert cvd.initialized and cvd.value == 4.0
    assert cvd.divergence == pytest.approx(math.sqrt(0.5 * 2 / 3))
    for i, price in enumerate((101.0, 102.0, 103.0, 104.0)):  # buyers and a rising price: agreement
        cvd.update_raw(price, 1.0, 1, (5 + i) * S)
    cvd.advance(9 * S)
    assert cvd.divergence == 0.0


def test_quiet_time_and_gaps_close_buckets():
    cvd = CumulativeVolumeDelta(CVDSettings(bucket_s=S / 1e9, window=3))
    cvd.update_raw(100.0, 2.0, 1, 0)
    cvd.update_raw(100.0, 0.5, -1, S // 2)
    assert cvd.value == 1.5
    cvd.advance(2 * S)  # bucket 0 and the empty bucket 1 closed
    assert cvd.value == 1.5 and cvd.closed == 2
    cvd.advance(10**6 * S)  # a long outage: the open bucket, then at most `window` empty ones
    assert cvd.closed == 2 + 1 + 3 and cvd.value == 0.0 and cvd.divergence == 0.0
    cvd.update_raw(100.0, 1.0, -1, 5 * S)  # stamped before the open bucket: counts in it
    assert cvd.value == -1.0


def test_unusable_trades_are_counted():
    cvd = CumulativeVolumeDelta()
    for price, size, side in ((float("nan"), 1.0, 1), (100.0, 0.0, 1), (100.0, float("inf"), 1), (100.0, 1.0, 0)):
        cvd.update_raw(price, size, side, 0)
    assert cvd.skips.total == 4 and not cvd.has_inputs and cvd.value == 0.0


@pytest.mark.parametrize("seed, window", [(0, 60), (1, 7), (2, 2)])
def test_against_the_numpy_oracle(seed, window):
    rng = np.random.default_rng(seed)
    n = 1500
    ts = np.sort(rng.integers(0, 200 * S, n)) + 17 * S
    ts[n // 2 :] += 30 * S  # a quiet half-minute
    px = 100 + np.cumsum(rng.normal(0, 0.05, n))
    q = np.round(rng.lognormal(0, 1, n), 3) + 0.001
    side = rng.choice([-1, 1], n)
    cvd = CumulativeVolumeDelta(CVDSettings(bucket_s=S / 1e9, window=window))
    trades = []
    for i in range(n):
        trades.append((px[i], q[i], side[i], int(ts[i])))
        cvd.update_raw(float(px[i]), float(q[i]), int(side[i]), int(ts[i]))
        if i % 7 == 0 or i == n - 1:
            value, divergence = oracle(trades, int(ts[i]) // S, window)
            assert cvd.value == pytest.approx(value, abs=1e-9)
            assert cvd.divergence == pytest.approx(divergence, abs=1e-12)
    assert cvd.initialized


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(1.0, 1e6), st.floats(1e-6, 1e6), st.sampled_from([-1, 1])), min_size=5, max_size=120))
def test_property_divergence_is_bounded(trades):
    cvd = CumulativeVolumeDelta(CVDSettings(bucket_s=S / 1e9, window=4))
    for i, (price, size, side) in enumerate(trades):
        cvd.update_raw(price, size, side, i * S // 2)
        assert -1.0 <= cvd.divergence <= 1.0
        assert math.isfinite(cvd.value)


@pytest.mark.real_data
def test_real_capture_cvd_matches_the_oracle(capture):
    cvd = CumulativeVolumeDelta()
    trades, divergences = [], []
    for i, tick in enumerate(capture.trades):
        side = 1 if tick.aggressor_side == AggressorSide.BUYER else -1
        trades.append((float(tick.price), float(tick.size), side, tick.ts_event))
        cvd.handle_trade_tick(tick)
        if cvd.initialized:
            divergences.append(cvd.divergence)
        if i % 500 == 0:
            value, divergence = oracle(trades, tick.ts_event // S, 60)
            assert cvd.value == pytest.approx(value, rel=1e-9, abs=1e-9)
            assert cvd.divergence == pytest.approx(divergence, abs=1e-12)
    d = np.abs(divergences)
    assert d.max() <= 1.0
    print(
        f"\n{capture.name}: CVD divergence non-zero on {np.mean(d > 0):.0%} of trades after warm-up, "
        f"> 0.3 on {np.mean(d > 0.3):.1%}; max {d.max():.2f}"
    )


def test_cvd_z_against_numpy_over_closed_buckets():
    """`z` is the windowed CVD at each bucket close, z-scored over the last 100 closes."""
    rng = np.random.default_rng(11)
    cvd = CumulativeVolumeDelta(CVDSettings(bucket_s=S / 1e9, window=10, zscore_window=20))
    per_bucket = []
    for b in range(120):
        signed = 0.0
        for k in range(int(rng.integers(1, 5))):
            side = 1 if rng.random() < 0.5 + 0.3 * np.sin(b / 9) else -1
            size = float(rng.uniform(0.1, 2.0))
            cvd.update_raw(100.0, size, side, b * S + k)
            signed += side * size
        per_bucket.append(signed)
    cvd.advance(120 * S)  # close the last bucket
    windowed = [sum(per_bucket[max(0, i - 9) : i + 1]) for i in range(120)]
    last = np.array(windowed[-20:])
    assert cvd.z == pytest.approx((last[-1] - last.mean()) / last.std(ddof=1), rel=1e-9)
