"""OUZScore: parameter recovery on an exactly simulated OU process (tolerances from the OLS
standard errors), the fit against an independent least-squares solve, a hand-worked z / gate /
decay sequence, and bad input."""

import math

import numpy as np
import pytest

from scalp_nautilus.indicators import OUZScore
from scalp_nautilus.indicators.settings import OUSettings

S = 1_000_000_000


def simulate_ou(theta, mu, sigma, n, seed):
    """Exact discretisation with unit step: X' = mu + phi (X - mu) + eps, started from the stationary law."""
    rng = np.random.default_rng(seed)
    phi = math.exp(-theta)
    sd_eq = sigma / math.sqrt(2 * theta)
    x = np.empty(n)
    x[0] = mu + sd_eq * rng.standard_normal()
    eps = rng.standard_normal(n - 1) * sd_eq * math.sqrt(1 - phi * phi)
    for i in range(1, n):
        x[i] = mu + phi * (x[i - 1] - mu) + eps[i - 1]
    return x


def fit_once(x, hurst=0.3):
    ou = OUZScore(OUSettings(window=len(x), min_points=len(x), refit_every=len(x)))
    for v in x:
        ou.update_raw(float(v), hurst)
    return ou


def lstsq_fit(x):
    """Oracle: ordinary least squares of dX on [1, X] by numpy's solver, then the module doc's formulas."""
    level, dx = x[:-1], np.diff(x)
    design = np.column_stack([np.ones_like(level), level])
    (a, b), *_ = np.linalg.lstsq(design, dx, rcond=None)
    resid = dx - design @ np.array([a, b])
    s_e = math.sqrt(resid @ resid / (len(dx) - 2))
    phi = 1 + b
    return -math.log(phi), -a / b, s_e / math.sqrt(1 - phi * phi)


def test_recovers_theta_mu_sigma_within_ols_standard_errors():
    theta, mu, sigma, n, seeds = 0.1, 100.0, 0.5, 2_000, 100
    phi = math.exp(-theta)
    sd_eq = sigma / math.sqrt(2 * theta)
    m = n - 1  # regression pairs
    # Asymptotic standard errors of the AR(1) fit (Hamilton 1994, ch. 8; delta method):
    se_phi = math.sqrt((1 - phi**2) / m)
    se = {
        "theta": se_phi / phi,
        "mu": sd_eq * math.sqrt((1 + phi) / ((1 - phi) * m)),
        "sigma": sd_eq * phi * se_phi / (1 - phi**2),  # through 1 / sqrt(1 - phi^2)
        "sigma_diffusion": sigma / math.sqrt(2 * m),  # the phi errors cancel to first order
    }
    truth = {"theta": theta, "mu": mu, "sigma": sd_eq, "sigma_diffusion": sigma}
    # OLS of an AR(1) is biased: E[phi_hat - phi] = -(1 + 3 phi) / m (Kendall 1954)
    kendall = (1 + 3 * phi) / m
    bias = {"theta": kendall / phi, "mu": 0.0, "sigma": -sd_eq * phi * kendall / (1 - phi**2), "sigma_diffusion": 0.0}
    fits = [fit_once(simulate_ou(theta, mu, sigma, n, seed)) for seed in range(seeds)]
    for name in truth:
        est = np.array([getattr(f, name) for f in fits])
        err = est - truth[name]
        assert abs(err.mean() - bias[name]) < 3 * se[name] / math.sqrt(seeds), name
        assert np.abs(err).max() < 4.5 * se[name], name
        assert 0.75 * se[name] < est.std() < 1.3 * se[name], name
    assert all(f.fitted and f.initialized for f in fits)


def test_fit_matches_independent_least_squares():
    x = simulate_ou(0.05, 27_000.0, 3.0, 300, seed=11)  # price-sized level: centring matters
    ou = OUZScore(OUSettings(window=120, min_points=60, refit_every=30))
    for v in x:
        ou.update_raw(float(v), 0.3)
    # fits at samples 60, 90, ..., 300: the last one used samples 181..300
    assert ou.fits == 9
    theta, mu, sd_eq = lstsq_fit(x[-120:])
    assert ou.theta == pytest.approx(theta, rel=1e-9)
    assert ou.mu == pytest.approx(mu, rel=1e-12)
    assert ou.sigma == pytest.approx(sd_eq, rel=1e-9)
    assert ou.z == pytest.approx((x[-1] - mu) / sd_eq, rel=1e-8)


def test_z_gate_and_decay_hand_worked():
    x = simulate_ou(0.2, 50.0, 1.0, 50, seed=5)
    ou = OUZScore(OUSettings(window=50, min_points=50, refit_every=10_000))  # one fit, then frozen
    for v in x:
        ou.update_raw(float(v), 0.3)
    mu, sd = ou.mu, ou.sigma
    assert (mu, sd) == pytest.approx(lstsq_fit(x)[1:], rel=1e-9)
    steps = [
        # (z of the sample, H, expected signal after it)
        (-2.5, 0.3, 1.0),  # below the mean beyond 2 sd: buy
        (0.0, 0.3, 0.93),  # inside: decays
        (1.0, 0.3, 0.93**2),
        (2.0, 0.3, 0.93**3),  # |z| = 2 is not beyond the threshold
        (2.5, 0.3, -1.0),  # above: sell
        (2.5, 0.5, 0.0),  # gate shut (H >= 0.4): no view at all
        (-3.0, 0.4, 0.0),  # the gate is open below 0.4 only
        (-3.0, 0.0, 0.0),  # H = 0 is outside 0 < H
        (-3.0, math.nan, 0.0),
        (-3.0, 0.39, 1.0),
        (0.5, 0.39, 0.93),
    ]
    for z, h, signal in steps:
        ou.update_raw(mu + z * sd, h)
        assert ou.z == pytest.approx(z, abs=1e-9)
        assert ou.active == (0 < h < 0.4)
        assert ou.value == pytest.approx(signal, rel=1e-12)


def test_mid_path_samples_bar_closes_and_passes_hurst():
    x = simulate_ou(0.1, 100.0, 0.2, 120, seed=8)
    by_sample = OUZScore()
    by_time = OUZScore()
    for i, v in enumerate(x):
        by_sample.update_raw(float(v), 0.2)
        by_time.update_mid(float(v) + 0.05, i * S + S // 3, 0.2)  # overwritten by the close below
        by_time.update_mid(float(v), i * S + S // 2, 0.2)
    by_time.update_mid(100.0, 120 * S, 0.2)
    assert by_time.fits == by_sample.fits == 2
    assert (by_time.mu, by_time.sigma, by_time.z, by_time.value) == (by_sample.mu, by_sample.sigma, by_sample.z, by_sample.value)


def test_warmup_not_mean_reverting_and_constant_input():
    ou = OUZScore()
    for i in range(49):
        ou.update_raw(100.0 + math.sin(i), 0.3)
        assert not ou.initialized and ou.z == 0.0 and ou.value == 0.0
    trend = OUZScore()
    for i in range(200):
        trend.update_raw(100.0 * 1.001**i, 0.3)  # explosive: phi > 1
    assert trend.rejected_fits == 4 and trend.fits == 0
    assert not trend.fitted and trend.z == 0.0 and trend.value == 0.0 and not trend.active
    flat = OUZScore()
    for _ in range(200):
        flat.update_raw(100.0, 0.3)
    assert flat.rejected_fits == 4 and not flat.initialized
    assert (flat.z, flat.value, flat.theta, flat.sigma) == (0.0, 0.0, 0.0, 0.0)


def test_bad_input_and_settings():
    x = simulate_ou(0.1, 100.0, 0.2, 80, seed=9)
    clean, dirty = OUZScore(), OUZScore()
    for v in x:
        clean.update_raw(float(v), 0.3)
        dirty.update_raw(float(v), 0.3)
        dirty.update_raw(math.nan, 0.3)
        dirty.update_raw(math.inf, 0.3)
    assert dirty.skips.counts == {"non-finite sample skipped": 160}  # through SkipCounter (issue 22)
    assert (dirty.mu, dirty.z, dirty.value) == (clean.mu, clean.z, clean.value)
    assert all(math.isfinite(v) for v in (dirty.theta, dirty.mu, dirty.sigma, dirty.z, dirty.value))
    for kwargs in ({"min_points": 3}, {"window": 40, "min_points": 50}, {"refit_every": 0}, {"z_threshold": 0.0}, {"decay": 1.5}):
        with pytest.raises(ValueError):
            OUZScore(OUSettings(**kwargs))


def test_outage_restarts_the_window():
    x = simulate_ou(0.1, 100.0, 0.2, 60, seed=10)
    ou = OUZScore(max_carry=10)
    for i, v in enumerate(x):
        ou.update_mid(float(v), i * S, 0.3)
    ou.update_mid(100.0, 60 * S, 0.3)
    assert ou.initialized and ou.fitted
    ou.update_mid(100.0, 200 * S, 0.3)
    assert ou.bars.gaps == 1
    assert not ou.initialized and not ou.fitted and ou.value == 0.0
