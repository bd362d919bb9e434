"""What the backtest report prints and writes (issue 15, defects 7, 8 and 10): prices and
quantities at the instrument's precision, money at the settlement currency's, and no annualised
Sharpe ratio from a run too short to carry one. Expected texts are worked out by hand."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from scalp_nautilus.backtest.report import MIN_SHARPE_RETURNS
from scalp_nautilus.backtest.report import per_trip
from scalp_nautilus.backtest.report import sharpe
from scalp_nautilus.backtest.report import summary
from scalp_nautilus.backtest.report import trip_net_bps
from scalp_nautilus.backtest.report import write_reports
from scalp_nautilus.data.simulator import SIM_SPEC
from scalp_nautilus.strategy.funding import FundingPayment
from scalp_nautilus.strategy.records import RoundTrip
from scalp_nautilus.strategy.records import StrategyReport
from scalp_nautilus.strategy.records import Timeline

S = 1_000_000_000
T0 = 1_700_000_000 * S
INSTRUMENT = SIM_SPEC.to_instrument()  # BTCUSDT-PERP.SIM: price precision 2, size precision 3, USDT


def timeline(seconds: int, seed: int = 1) -> pd.DataFrame:
    """1 s samples of a random-walk equity around 10,000."""
    tl = Timeline(S)
    equity = 10_000.0 + np.cumsum(np.random.default_rng(seed).normal(0.0, 0.5, seconds))
    for i, e in enumerate(equity):
        tl.add(T0 + i * S, 42_000.05, float(e), 0.0, 0.2, 0.0, 0.5, 1.0)
    return tl.frame()


def report(currency: str, trips: list[RoundTrip], funding: list[FundingPayment], seconds: int) -> StrategyReport:
    return StrategyReport(
        instrument_id=str(INSTRUMENT.id),
        currency=currency,
        outcomes={"taken": len(trips)},
        round_trips=trips,
        funding=funding,
        timeline=timeline(seconds),
    )


def outcome(tmp_path, rep: StrategyReport, seconds: int) -> SimpleNamespace:
    result = SimpleNamespace(backtest_start=T0, backtest_end=T0 + seconds * S, iterations=1000, total_orders=2)
    empty = pd.DataFrame()
    return SimpleNamespace(
        result=result,
        instrument=INSTRUMENT,
        reports_dir=tmp_path,
        fills=empty,
        positions=empty,
        account=empty,
        wall_seconds=1.0,
        starting_balance=10_000.0,
        data_span=(T0, T0 + seconds * S),
        strategies=[rep],
    )


def test_prices_and_quantities_are_written_at_the_instruments_precision(tmp_path):
    # Float arithmetic on ticks: 42186.7 and 0.3 as Nautilus's averages and sums hand them over.
    trip = RoundTrip(
        T0,
        T0 + 60 * S,
        1,
        0.1 + 0.2,
        42186.6 + 0.1,
        42190.0 + 0.1 + 0.2,
        1.234 + 0.000000001,
        0.5 + 0.1 + 0.2,
        "momentum",
        "stop",
    )
    payment = FundingPayment(T0 + 30 * S, 0.0001, 42188.15 + 0.1 + 0.2, 0.1 + 0.2, -(0.1 + 0.2) * 0.0001, "USDT")
    rep = report("USDT", [trip], [payment], 120)
    write_reports(outcome(tmp_path, rep, 120), plots=False)
    trips = (tmp_path / "round_trips.csv").read_text()
    assert "0.30000000000000004" not in trips and "42190.299999999996" not in trips, trips
    row = pd.read_csv(tmp_path / "round_trips.csv").iloc[0]
    assert (row["quantity"], row["avg_px_open"], row["avg_px_close"]) == (0.3, 42186.7, 42190.3)
    assert (row["realized_pnl"], row["commissions"]) == (1.234, 0.8)  # USDT: 8 decimals
    funding = pd.read_csv(tmp_path / "funding.csv").iloc[0]
    assert (funding["mark"], funding["position"], funding["amount"]) == (42188.45, 0.3, -0.00003)
    mids = pd.read_csv(tmp_path / "timeline.csv")["mid"]
    assert (mids == 42000.05).all()


def test_coin_settled_pnl_prints_at_the_settlement_currencys_precision(tmp_path):
    # The held-out ETHUSD COIN-M round trip of the issue: -0.0000946 ETH net, hand-checked; here
    # 0.0000100 of it is fees, so trading (before fees) is -0.0000846.
    trip = RoundTrip(T0, T0 + 60 * S, -1, 10.0, 3000.0, 3001.0, -0.0000946, 0.0000100, "momentum", "time_stop")
    rep = report("ETH", [trip], [], 120)
    text = summary(outcome(tmp_path, rep, 120))
    assert "trading -0.00008460   fees -0.00001000   funding +0.00000000   net -0.00009460" in text, text


def test_a_short_run_prints_no_annualised_sharpe(tmp_path):
    """A one-hour run printed -429.59: 60 one-minute returns annualised by sqrt(525,960)."""
    equity = timeline(3600).set_index("ts")["equity"]
    # 22:13:20 to 23:13:19: 61 minutes touched, 60 returns
    assert len(equity.resample("1min").last().pct_change().dropna()) == 60
    assert math.isnan(sharpe(equity))
    text = summary(outcome(tmp_path, report("USDT", [], [], 3600), 3600))
    line = next(x for x in text.splitlines() if "Sharpe" in x)
    assert f"Sharpe n/a (60 one-minute returns; annualising needs {MIN_SHARPE_RETURNS:,}, a day)" in line, line


def _trip(i: int, net: float, notional: float = 4_000.0) -> RoundTrip:
    """A trip whose net (after fees) is `net` USDT on `notional` of entry."""
    return RoundTrip(
        T0 + i * 60 * S, T0 + i * 60 * S + 30 * S, 1, 0.1, 40_000.0, 40_000.0, net, 0.4, "momentum", "stop", notional
    )


def test_per_trip_net_bps_with_funding_and_intervals_by_hand():
    """Each trip's net in bps of its own notional (funding booked while it was open counted), the
    median's interval from the order statistics of a binomial(n, 1/2) (n = 25: the 8th and 18th),
    the mean's near the i.i.d. closed form, and nothing from fewer than 20 trips."""
    rng = np.random.default_rng(4)
    nets = rng.normal(-0.5, 2.0, 200)
    notionals = rng.uniform(1_000.0, 9_000.0, 200)
    trips = [_trip(i, n, a) for i, (n, a) in enumerate(zip(nets, notionals))]
    pay = FundingPayment(T0 + 10 * S, 0.0001, 40_000.0, 0.1, -0.4, "USDT")  # inside the first trip
    rep = report("USDT", trips, [pay], 60 * 201)
    bps = trip_net_bps(rep)
    expected = nets / notionals * 1e4
    expected[0] = (nets[0] - 0.4) / notionals[0] * 1e4
    np.testing.assert_allclose(bps, expected, rtol=1e-12)
    first = per_trip(bps[:25])
    s = np.sort(expected[:25])
    assert (first["median"], first["median_lo"], first["median_hi"]) == (float(np.median(s)), s[7], s[17])
    stats = per_trip(bps)
    half = 1.96 * expected.std(ddof=1) / math.sqrt(200)  # trips drawn independently
    assert stats["mean_lo"] < expected.mean() < stats["mean_hi"]
    assert (stats["mean_hi"] - stats["mean_lo"]) / 2 == pytest.approx(half, rel=0.15)
    few = per_trip(bps[:19])
    assert few["n"] == 19 and np.isfinite(few["mean"]) and math.isnan(few["mean_lo"]) and math.isnan(few["median_lo"])


def test_summary_labels_both_figures_and_warns_when_cold_blocks_most_decisions(tmp_path):
    trips = [_trip(i, 2.0 if i % 2 else -3.0, 4_000.0 if i % 2 else 1_000.0) for i in range(24)]
    rep = report("USDT", trips, [], 60 * 25)
    text = summary(outcome(tmp_path, rep, 60 * 25))
    # notional-weighted: (12 x 2 - 12 x 3) / (12 x 5000) = -2 bps; per trip: (+5 - 30) / 2 = -12.5 bps
    assert "notional-weighted (all trips' sums over their notional): gross" in text and "net -2.00" in text
    assert "per trip        net bps of each trip's entry notional: mean -12.50 [" in text
    assert "median -12.50 [-30.00, +5.00] over 24 trips" in text and "WARNING" not in text
    cold = StrategyReport(str(INSTRUMENT.id), "USDT", {"warm_up": 900, "cold": 60, "no_signal": 40}, [], [], timeline(60))
    assert "WARNING" in summary(outcome(tmp_path, cold, 60))
    assert "`cold` blocked 60.0% of the flat decisions (60 of 100)" in summary(outcome(tmp_path, cold, 60))
    fine = StrategyReport(str(INSTRUMENT.id), "USDT", {"cold": 50, "no_signal": 50}, [], [], timeline(60))
    assert "WARNING" not in summary(outcome(tmp_path, fine, 60))  # half is not more than half
