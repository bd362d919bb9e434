"""MicrostructureRegime against a direct numpy evaluation, with the bounds by hand."""

import numpy as np
import pytest

from scalp_nautilus.book import BookSnapshotBuilder
from scalp_nautilus.indicators import MicrostructureRegime
from scalp_nautilus.indicators.regime import AxisState

S = 1_000_000_000


@pytest.mark.parametrize(
    "spread_bps, depth, rate, expected",
    [
        (1.0, 200_000.0, 20, 1.0),
        (5.0, 200_000.0, 20, 0.7),  # exactly 5 bps is not tight
        (20.0, 100_000.0, 10, 0.7 * 0.7 * 0.7),  # each bound itself is NORMAL
        (20.1, 200_000.0, 20, 0.4),
        (1.0, 9_999.0, 20, 0.4),
        (1.0, 200_000.0, 0.8, 0.5),
        (25.0, 5_000.0, 20, 0.2),  # 0.16 clamped up to 0.2
        (25.0, 5_000.0, 0.8, 0.2),
    ],
)
def test_axes_and_clamp_by_hand(spread_bps, depth, rate, expected):
    regime = MicrostructureRegime()
    n = round(rate * 5)  # updates spread evenly over the 5 s window
    for i in range(n):
        regime.update_raw(int(i * 5 * S / n), spread_bps, depth)
    assert regime.activity_rate == pytest.approx(rate)
    assert regime.value == pytest.approx(expected)


def oracle(ts, spread, depth, window_ns=5 * S):
    count = np.arange(1, len(ts) + 1) - np.searchsorted(ts, ts - window_ns, side="right")
    rate = count * 1e9 / window_ns
    f_spread = np.where(spread < 5, 1.0, np.where(spread > 20, 0.4, 0.7))
    f_depth = np.where(depth > 100_000, 1.0, np.where(depth < 10_000, 0.4, 0.7))
    f_activity = np.where(rate > 10, 1.0, np.where(rate < 1, 0.5, 0.7))
    return np.clip(f_spread * f_depth * f_activity, 0.2, 1.0), rate


def test_against_numpy():
    rng = np.random.default_rng(5)
    n = 5000
    # bursts and droughts of updates
    gaps = np.where(rng.random(n) < 0.9, rng.exponential(0.03 * S, n), rng.exponential(1.5 * S, n)).astype(np.int64)
    ts = np.cumsum(gaps)
    spread = rng.choice([1.0, 5.0, 10.0, 20.0, 30.0], n)
    depth = rng.choice([5e3, 1e4, 5e4, 1e5, 5e5], n)
    regime = MicrostructureRegime()
    got = np.array([regime.update_raw(int(t), s, d) for t, s, d in zip(ts, spread, depth)])
    expected, rate = oracle(ts, spread, depth)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert regime.activity_rate == pytest.approx(rate[-1])
    assert regime.initialized


def test_from_snapshots_and_bad_input():
    builder = BookSnapshotBuilder(depth=5, price_precision=1, size_precision=3, tick_size=0.1)
    regime = MicrostructureRegime()
    rows = [(99.9 - 0.1 * k, 10.0) for k in range(20)], [(100.1 + 0.1 * k, 10.0) for k in range(20)]
    snap = builder.from_levels(*rows, ts_event=0)
    regime.handle_book(snap)
    assert regime.spread_state == AxisState.NORMAL  # 0.2 on a mid of 100: 20 bps, not above 20
    # within 10 bps of 100: only 99.9 and 100.1, 10 each, valued at the mid
    assert regime.depth_notional == pytest.approx(2 * 10.0 * 100.0)
    assert regime.depth_state == AxisState.POOR
    regime.handle_book(builder.from_levels(rows[0], [], ts_event=1))  # one-sided
    regime.update_raw(2, float("nan"), 1e6)
    regime.update_raw(3, 1.0, float("inf"))
    regime.update_raw(4, -1.0, 1e6)
    assert regime.skips.total == 4 and regime.updates == 1
