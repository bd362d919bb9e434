"""The deflated Sharpe ratio: how likely a Sharpe ratio is to be above zero once the number of
strategies tried to find it is accounted for.

Bailey, D. H. and López de Prado, M. (2014), "The Deflated Sharpe Ratio: Correcting for Selection
Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio Management 40(5): 94-107.

- The best of N independent trials whose Sharpe ratios vary with variance V[SR] is expected to
  reach, by luck alone, SR0 = sqrt(V) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e))), g the
  Euler-Mascheroni constant (their eq. 9, after the false strategy theorem).
- DSR = Phi((SR - SR0) sqrt(T - 1) / sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2)): the
  probabilistic Sharpe ratio (Bailey and López de Prado 2012) of the observed SR against SR0, with
  T returns of that skewness and (non-excess) kurtosis.

Units: every Sharpe ratio here is per period of the returns it came from (per round trip, per
day), not annualised; V[SR] is over the trials' ratios in the same unit.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import kurtosis
from scipy.stats import norm
from scipy.stats import skew

EULER_GAMMA = 0.5772156649015329


def expected_max_sharpe(n_trials: int, var_trials: float) -> float:
    """SR0: the Sharpe ratio the best of `n_trials` reaches by luck (0 for a single trial)."""
    if n_trials < 2 or not var_trials > 0:
        return 0.0
    return math.sqrt(var_trials) * (
        (1.0 - EULER_GAMMA) * norm.ppf(1.0 - 1.0 / n_trials) + EULER_GAMMA * norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    )


def deflated_sharpe_ratio(sr: float, t: int, skewness: float, kurt: float, n_trials: int, var_trials: float) -> float:
    """DSR of a per-period Sharpe ratio `sr` from `t` returns; NaN when undefined."""
    if t < 2 or not math.isfinite(sr):
        return math.nan
    denominator = 1.0 - skewness * sr + (kurt - 1.0) / 4.0 * sr * sr
    if not denominator > 0:
        return math.nan
    return float(norm.cdf((sr - expected_max_sharpe(n_trials, var_trials)) * math.sqrt(t - 1) / math.sqrt(denominator)))


def sharpe_of(returns: np.ndarray) -> tuple[float, float, float]:
    """(per-period Sharpe ratio, skewness, non-excess kurtosis) of `returns`; NaNs when they do not vary."""
    r = np.asarray(returns, np.float64)
    r = r[np.isfinite(r)]
    if len(r) < 2 or not r.std(ddof=1) > 0:
        return math.nan, math.nan, math.nan
    return float(r.mean() / r.std(ddof=1)), float(skew(r)), float(kurtosis(r, fisher=False))
