"""MicrostructureRegime against a direct numpy evaluation, with the bounds by hand."""

import numpy as np
import pytest

from scalp_nautilus.book import BookSnapshotBuilder
from scalp_nautilus.indicators import MicrostructureRegime
from scalp_nautilus.indicators.regime import AxisState
from scalp_nautilus.indicators.settings import RegimeSettings

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


def test_one_tick_is_tight_whatever_its_bps():
    """NEXOUSDT-like: a tick of 0.001 on a mid of 1.2 is 8.3 bps, above the 5 bps bound; one tick is
    still the tightest spread the venue allows, so it is GOOD; two ticks go by the bps bounds."""
    builder = BookSnapshotBuilder(depth=5, price_precision=3, size_precision=1, tick_size=0.001)
    regime = MicrostructureRegime()
    bids = [(1.200 - 0.001 * k, 1e5) for k in range(10)]
    one_tick = builder.from_levels(bids, [(1.201 + 0.001 * k, 1e5) for k in range(10)], ts_event=0)
    assert one_tick.tick_size == 0.001 and one_tick.spread_bps > 5.0
    regime.handle_book(one_tick)
    assert regime.spread_state == AxisState.GOOD
    two_ticks = builder.from_levels(bids, [(1.202 + 0.001 * k, 1e5) for k in range(10)], ts_event=1)
    regime.handle_book(two_ticks)  # 16.7 bps: between 5 and 20
    assert regime.spread_state == AxisState.NORMAL
    # without a tick (update_raw alone) the bps bounds decide, as before
    regime.update_raw(2, one_tick.spread_bps, 1e6)
    assert regime.spread_state == AxisState.NORMAL


def _quantile_regime(history=30, minimum=5):
    return MicrostructureRegime(
        RegimeSettings(
            threshold_mode="quantile",
            quantiles=(0.2, 0.8),
            quantile_history=history,
            quantile_min=minimum,
            quantile_sample_s=S / 1e9,
        )
    )


@pytest.mark.parametrize("ticks", [1, 3])
def test_constant_spread_in_ticks_never_spreads_over_three_labels(ticks):
    """The issue's ETHUSDT case: a spread constant in ticks while the mid drifts by 10 %. In bps
    its quantiles split it by price level; in ticks one tick is always TIGHT, and a wider constant
    spread is NORMAL once its own (equal) quantiles are the bounds."""
    rng = np.random.default_rng(2)
    tick, mid = 0.01, 3400.0
    regime, old = _quantile_regime(), _quantile_regime()
    states, old_states = [], []
    for i in range(3000):
        mid *= 1.0 + 3e-5 * rng.standard_normal()
        spread_bps = 1e4 * ticks * tick / mid
        regime.update_raw(i * S // 10, spread_bps, 5e5, ticks)
        old.update_raw(i * S // 10, spread_bps, 5e5)  # the bps-only behaviour
        states.append(regime.spread_state)
        old_states.append(old.spread_state)
    settled = states[200:]  # past the first activity window and quantile_min samples
    expected = AxisState.GOOD if ticks == 1 else AxisState.NORMAL
    assert set(settled) == {expected}
    assert len(set(states)) <= 2
    if ticks == 1:
        assert set(states) == {AxisState.GOOD}
    else:
        assert regime.spread_tight_ticks == regime.spread_wide_ticks == ticks
    assert len(set(old_states[200:])) == 3  # what the bps quantiles made of the same spread


def test_quantile_bounds_in_ticks_are_numpy_quantiles_of_sampled_ticks():
    rng = np.random.default_rng(4)
    regime = _quantile_regime()
    sampled, next_sample, t, mid = [], 0, 0, 100.0
    for _ in range(4000):
        t += int(rng.exponential(0.05) * S)
        mid += 0.01 * rng.standard_normal()
        ticks = int(rng.choice([1, 2, 3, 5, 8], p=[0.4, 0.25, 0.15, 0.1, 0.1]))
        spread_bps = 1e4 * ticks * 0.01 / mid
        regime.update_raw(t, spread_bps, 5e5, ticks)
        if t >= next_sample:
            next_sample = t + S
            if t >= 5 * S:
                sampled.append(ticks)
        if len(sampled) >= 5:
            low, high = np.quantile(sampled[-30:], [0.2, 0.8])
            assert (regime.spread_tight_ticks, regime.spread_wide_ticks) == (low, high)
            expected = AxisState.GOOD if ticks <= 1 or ticks < low else AxisState.POOR if ticks > high else AxisState.NORMAL
        else:
            assert np.isnan(regime.spread_tight_ticks)
            expected = AxisState.GOOD if ticks <= 1 or spread_bps < 5 else AxisState.POOR if spread_bps > 20 else AxisState.NORMAL
        assert regime.spread_state == expected
        assert regime.spread_tight_bps == 5.0  # the bps bounds stay the fixed ones
    copy = _quantile_regime()
    copy.restore(regime.state())
    for i in range(50):
        args = (t + i * S, 2.0, 5e5, int(rng.choice([1, 2, 9])))
        assert copy.update_raw(*args) == regime.update_raw(*args) and copy.spread_state == regime.spread_state
