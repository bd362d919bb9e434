"""The deflated Sharpe ratio against Bailey and López de Prado's (2014) worked example, and its
limits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import kurtosis
from scipy.stats import skew

from scalp_nautilus.research.sharpe import deflated_sharpe_ratio
from scalp_nautilus.research.sharpe import expected_max_sharpe
from scalp_nautilus.research.sharpe import sharpe_of


def test_the_papers_worked_example():
    """Bailey and López de Prado (2014), section 'A numerical example': the best of N = 100 trials
    has an annualised Sharpe ratio of 2.5 over T = 1,250 daily returns (5 years) with skewness -3
    and kurtosis 10, the trials' annualised ratios have variance 1/2. Then SR0 is 0.1132 a day and
    DSR = 0.9004."""
    days = 250
    sr0 = expected_max_sharpe(100, 0.5 / days)
    assert sr0 * math.sqrt(days) == pytest.approx(1.7894, abs=5e-4)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = deflated_sharpe_ratio(2.5 / math.sqrt(days), 1250, -3.0, 10.0, 100, 0.5 / days)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_limits():
    # one trial: nothing to deflate, the probabilistic Sharpe ratio against 0
    assert expected_max_sharpe(1, 0.3) == 0.0
    assert deflated_sharpe_ratio(0.0, 100, 0.0, 3.0, 1, 0.0) == pytest.approx(0.5)
    # more trials, a higher bar
    assert expected_max_sharpe(1000, 0.01) > expected_max_sharpe(10, 0.01) > 0
    assert math.isnan(deflated_sharpe_ratio(0.1, 1, 0.0, 3.0, 5, 0.01))
    r = np.random.default_rng(0).standard_t(5, 500)
    sr, sk, ku = sharpe_of(r)
    assert sr == pytest.approx(r.mean() / r.std(ddof=1)) and sk == pytest.approx(skew(r))
    assert ku == pytest.approx(kurtosis(r) + 3.0)
    assert all(math.isnan(v) for v in sharpe_of(np.ones(10)))
