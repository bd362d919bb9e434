"""`research.intervals` against closed forms: arch's block-bootstrap interval of the mean of an AR(1)
series against its long-run variance, the Monte Carlo error of a bound against the spread of the
bound over seeds, the p-value against the interval, the block sums against a direct resample, and
the Benjamini-Hochberg adjustment against a direct implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import lfilter
from scipy.stats import norm

from scalp_nautilus.research.intervals import BORDERLINE
from scalp_nautilus.research.intervals import BootstrapSettings
from scalp_nautilus.research.intervals import Interval
from scalp_nautilus.research.intervals import _block_sums
from scalp_nautilus.research.intervals import _bootstrap
from scalp_nautilus.research.intervals import adjust
from scalp_nautilus.research.intervals import block_length
from scalp_nautilus.research.intervals import correlation_statistic
from scalp_nautilus.research.intervals import interval
from scalp_nautilus.research.intervals import joint_intervals
from scalp_nautilus.research.intervals import mean_statistic


def ar1(n: int, phi: float, mu: float, rng: np.random.Generator) -> np.ndarray:
    """x_t = mu + phi (x_{t-1} - mu) + e_t, e ~ N(0, 1), started in its stationary law."""
    e = rng.standard_normal(n)
    e[0] /= math.sqrt(1.0 - phi * phi)
    return mu + lfilter([1.0], [1.0, -phi], e)


def test_interval_of_an_ar1_mean_against_its_long_run_variance():
    """The mean of an AR(1) series with phi = 0.5 has the long-run standard error
    sigma / (1 - phi) / sqrt(n) (Hamilton 1994, 7.2): the 95% interval's half-width is 1.96 of
    those. An i.i.d. bootstrap would give half of it (sigma_x = 1.15 against 2); the block
    bootstrap must find the dependence, and cover the known mean."""
    rng = np.random.default_rng(0)
    n, phi, mu = 5000, 0.5, 3.0
    closed = 1.959964 / (1.0 - phi) / math.sqrt(n)
    halves, covered = [], 0
    for seed in range(12):
        x = ar1(n, phi, mu, rng)
        block = block_length(x)
        iv = interval(mean_statistic(x, null=mu), block, BootstrapSettings(min_reps=1000, max_reps=1000, seed=seed))
        assert iv is not None and iv.reps == 1000
        halves.append((iv.hi - iv.lo) / 2.0)
        covered += iv.lo < mu < iv.hi
    assert np.mean(halves) == pytest.approx(closed, rel=0.10)
    assert covered >= 10  # 12 x 95% = 11.4 expected


def test_block_length_from_the_data_and_never_shorter_than_the_horizon():
    rng = np.random.default_rng(1)
    white, persistent = rng.standard_normal(4000), ar1(4000, 0.9, 0.0, rng)
    assert block_length(white) < 5 < block_length(persistent)
    assert block_length(white, min_block=60) == 60  # a 60-unit horizon: blocks at least that long
    assert block_length(np.column_stack([white, persistent])) == block_length(persistent)  # the longest column
    assert block_length(np.ones(100), min_block=3) == 3  # constant: nothing to measure


def test_block_sums_equal_a_direct_resample():
    rng = np.random.default_rng(2)
    cols = rng.standard_normal((500, 3))
    prefix = np.vstack([np.zeros((1, 3)), np.cumsum(cols, axis=0)])
    for method in ("stationary", "circular"):
        bs = _bootstrap(method, 7.0, 500, np.random.default_rng(3))
        for _ in range(20):
            idx = bs.update_indices()
            np.testing.assert_allclose(_block_sums(prefix, idx), cols[idx].sum(axis=0), rtol=1e-12, atol=1e-9)


def test_resamples_added_until_the_mc_error_is_below_target_and_it_matches_the_spread_over_seeds():
    """The MC error of a bound (95% half-width) predicts how far the bound moves with the seed: over
    10 seeds the bounds stay within about 2 x the error, and the error is at most the target."""
    rng = np.random.default_rng(4)
    x = ar1(3000, 0.3, 0.0, rng)
    settings = BootstrapSettings(min_reps=500, max_reps=64_000, mc_target=0.004)
    block = block_length(x)
    runs = [interval(mean_statistic(x), block, BootstrapSettings(**{**settings.__dict__, "seed": s})) for s in range(10)]
    assert all(r is not None and r.mc_error <= 0.004 and r.reps > 500 for r in runs)
    lows = np.array([r.lo for r in runs])
    assert lows.max() - lows.min() <= 2 * 2 * 0.004
    # same seed, same interval
    assert interval(mean_statistic(x), block, BootstrapSettings(**{**settings.__dict__, "seed": 3})) == runs[3]
    capped = interval(mean_statistic(x), block, BootstrapSettings(min_reps=200, max_reps=200, mc_target=1e-6))
    assert capped is not None and capped.reps == 200 and capped.mc_error > 1e-6  # reported as it is


def test_p_value_against_the_closed_form_of_an_iid_mean_and_borderline():
    """On i.i.d. data the bootstrap standard error of a mean is s / sqrt(n): the p-value is
    2 Phi(-|mean| sqrt(n) / s) up to its Monte Carlo error."""
    rng = np.random.default_rng(5)
    for shift in (0.0, 0.04, 0.07, 0.1):
        x = rng.standard_normal(1000) + shift
        iv = interval(mean_statistic(x), 1.0, BootstrapSettings(min_reps=2000, max_reps=2000))
        assert iv is not None
        closed = 2.0 * norm.sf(abs(x.mean()) * math.sqrt(len(x)) / x.std(ddof=1))
        assert iv.p == pytest.approx(closed, abs=max(2.0 * iv.p_mc, 1e-9))
        if iv.p < 0.01:
            assert iv.lo > 0 or iv.hi < 0
    near = Interval(lo=0.003, hi=0.2, mc_lo=0.004, mc_hi=0.004, p=0.04, p_mc=0.01, reps=2000, block=1.0)
    assert near.side(0.0) == BORDERLINE
    assert Interval(0.01, 0.2, 0.004, 0.004, 0.01, 0.01, 2000, 1.0).side(0.0) == "above"
    assert Interval(-0.2, 0.2, 0.004, 0.004, 0.9, 0.01, 2000, 1.0).side(0.0) == "straddles"


def test_joint_intervals_share_resamples_and_refuse_short_samples():
    rng = np.random.default_rng(6)
    x = rng.standard_normal(1000)
    y = 0.5 * x + rng.standard_normal(1000)
    first_half = np.arange(1000) < 500
    stats = [correlation_statistic(x, y), correlation_statistic(x, y, use=first_half), None]
    settings = BootstrapSettings(min_reps=300, max_reps=300)
    both = joint_intervals(stats, 1000, 5.0, settings)
    assert both[2] is None and both[0] is not None and both[1] is not None
    assert both[0] == interval(stats[0], 5.0, settings)  # the first statistic alone: the same resamples
    assert both[0].lo < np.corrcoef(x, y)[0, 1] < both[0].hi
    assert stats[1].estimate == pytest.approx(np.corrcoef(x[:500], y[:500])[0, 1])
    assert joint_intervals(stats[:1], 1000, 400.0, settings) == [None]  # fewer than 3 blocks


def direct_bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg (1995) by hand: the i-th smallest p times m / i, made monotone from the top."""
    m = len(p)
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    monotone = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(monotone, 1.0)
    return out


def test_adjusted_p_values_against_a_direct_implementation():
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216])
    np.testing.assert_allclose(adjust(p), direct_bh(p), rtol=1e-12)
    # the worked family of Benjamini and Hochberg (1995, section 4): 15 p-values, at q = 0.05 the
    # first four are rejected
    bh = np.array(
        [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.324, 0.4262, 0.5719, 0.6528, 0.759, 1.0]
    )
    assert (adjust(bh) <= 0.05).sum() == 4
    np.testing.assert_allclose(adjust(bh), direct_bh(bh), rtol=1e-12)
    with_nan = adjust(np.array([0.01, np.nan, 0.02]))
    assert math.isnan(with_nan[1]) and with_nan[0] == pytest.approx(0.02) and with_nan[2] == pytest.approx(0.02)


def test_block_length_capped_at_the_root_of_the_sample():
    few = np.random.default_rng(4).normal(0, 1, 25)  # Politis-White reads 9 here: noise
    assert block_length(few) <= 5.0
    assert block_length(few, min_block=12) == 12  # a horizon still wins
