"""RollingZScore against numpy over the same window, including inputs where naive sums fail."""

import json
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from scalp_nautilus.indicators import RollingZScore


def exact_z(values: np.ndarray, window: int, min_std: float) -> np.ndarray:
    """Exact rational mean and variance: an oracle free of the rounding the test is about."""
    exact = [Fraction(float(v)) for v in values]
    out = np.empty(len(values))
    for i in range(len(values)):
        w = exact[max(0, i - window + 1) : i + 1]
        mean = sum(w) / len(w)
        var = sum((v - mean) ** 2 for v in w) / (len(w) - 1) if len(w) > 1 else Fraction(0)
        out[i] = float(exact[i] - mean) / max(math.sqrt(var), min_std)
    return out


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(1).normal(0, 1, 2_000),
        # large offset, tiny spread: E[x^2] - E[x]^2 would cancel to noise here
        1e9 + np.random.default_rng(2).normal(0, 1e-3, 2_000),
        # near-constant with rare jumps
        np.where(np.random.default_rng(3).random(2_000) < 0.01, 5.0, 1.0) + 1e-9 * np.arange(2_000),
    ],
    ids=["normal", "large_offset", "near_constant"],
)
def test_matches_numpy_window(values):
    window, min_std = 50, 1e-15
    z = RollingZScore(window, min_std=min_std)
    got = np.array([z.update_raw(v) for v in values])
    want = exact_z(values, window, min_std)
    np.testing.assert_allclose(got[1:], want[1:], rtol=1e-7, atol=1e-7)
    w = [Fraction(float(v)) for v in values[-window:]]
    mean = sum(w) / window
    assert z.mean == pytest.approx(float(mean), rel=1e-15)
    assert z.variance == pytest.approx(float(sum((v - mean) ** 2 for v in w) / (window - 1)), rel=1e-9)


def test_long_stream_does_not_drift():
    rng = np.random.default_rng(4)
    values = 1e6 + np.cumsum(rng.normal(0, 10, 200_000))
    z = RollingZScore(100)
    for v in values:
        z.update_raw(v)
    w = values[-100:]
    assert z.variance == pytest.approx(w.var(ddof=1), rel=1e-9)


def test_min_std_floor_and_constant_input():
    z = RollingZScore(10, min_std=0.5)
    for _ in range(20):
        assert z.update_raw(3.0) == 0.0
    assert z.std == 0.5
    assert z.update_raw(4.0) == pytest.approx((4.0 - (3.0 * 9 + 4.0) / 10) / max(0.5, np.std([3.0] * 9 + [4.0], ddof=1)))


def test_warmup_and_nan_skip():
    z = RollingZScore(5)
    for i in range(4):
        z.update_raw(float(i))
        assert not z.initialized
    before = z.value
    assert z.update_raw(float("nan")) == before
    assert z.skipped == 1 and z.count == 4
    z.update_raw(4.0)
    assert z.initialized


def test_state_round_trip_through_json():
    rng = np.random.default_rng(5)
    a = RollingZScore(30)
    for v in rng.normal(size=77):
        a.update_raw(v)
    b = RollingZScore(30)
    b.restore(json.loads(json.dumps(a.state())))
    assert b.initialized and b.mean == pytest.approx(a.mean) and b.variance == pytest.approx(a.variance)
    nxt = rng.normal(size=10)
    np.testing.assert_allclose([a.update_raw(v) for v in nxt], [b.update_raw(v) for v in nxt], rtol=1e-12)
    with pytest.raises(ValueError, match="window"):
        RollingZScore(31).restore(a.state())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=3, max_size=120), st.integers(2, 20))
def test_property_matches_exact_oracle(values, window):
    arr = np.array(values)
    z = RollingZScore(window, min_std=1e-6)
    got = np.array([z.update_raw(v) for v in arr])
    want = exact_z(arr, window, 1e-6)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert np.isfinite(got).all()
