"""The summary's equity-curve statistics on hand-worked series."""

from __future__ import annotations

import math
import statistics

import pandas as pd
import pytest

from scalp_nautilus.backtest.report import max_drawdown
from scalp_nautilus.backtest.report import sharpe


def test_max_drawdown_is_the_largest_fall_from_a_running_peak():
    equity = pd.Series([100.0, 110.0, 105.0, 120.0, 90.0, 95.0, 118.0, 100.0])
    assert max_drawdown(equity) == (30.0, 0.25)  # 120 -> 90
    assert max_drawdown(pd.Series([1.0, 2.0, 3.0])) == (0.0, 0.0)
    assert max_drawdown(pd.Series([], dtype=float)) == (0.0, 0.0)


def test_sharpe_on_one_minute_returns_annualised():
    # 1 s samples; only each minute's last sample counts
    minutes = [100.0, 101.0, 100.5, 102.0, 101.0, 103.0, 102.5, 104.0, 103.0, 105.0, 104.5, 106.0]
    index, values = [], []
    for m, v in enumerate(minutes):
        for s in range(0, 60, 20):
            index.append(pd.Timestamp("2024-01-01T00:00:00Z") + pd.Timedelta(minutes=m, seconds=s))
            values.append(v if s == 40 else v - 50.0)  # noise inside the minute, the last sample is v
    returns = [b / a - 1 for a, b in zip(minutes, minutes[1:])]
    expected = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(365.25 * 24 * 60)
    equity = pd.Series(values, index=pd.DatetimeIndex(index))
    assert sharpe(equity, minimum=len(returns)) == pytest.approx(expected, rel=1e-12)
    assert math.isnan(sharpe(equity))  # the summary's default needs a day of returns


def test_sharpe_needs_enough_returns_that_vary():
    short = pd.Series([1.0, 1.1, 1.2], index=pd.date_range("2024-01-01", periods=3, freq="1min", tz="UTC"))
    assert math.isnan(sharpe(short, minimum=10))
    flat = pd.Series([1.0] * 20, index=pd.date_range("2024-01-01", periods=20, freq="1min", tz="UTC"))
    assert math.isnan(sharpe(flat, minimum=10))
