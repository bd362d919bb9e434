"""`research funding`: the funding claims on settled funding history.

The bars' London times against the answer key; the detector's z against a direct numpy rolling
z; the funding leg's P&L against hand computation (linear and inverse); the claims on a
constructed history; and the command on the shared history. (The intervals are the research
package's, tested against closed forms in tests/test_research_intervals.py.)"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scalp_nautilus import cli
from scalp_nautilus.research.funding_claims import Detection
from scalp_nautilus.research.funding_claims import FundingSeries
from scalp_nautilus.research.funding_claims import FundingSettings
from scalp_nautilus.research.funding_claims import detect
from scalp_nautilus.research.funding_claims import funding_claims
from scalp_nautilus.research.funding_claims import leg_pnl
from scalp_nautilus.research.funding_claims import read_bars
from scalp_nautilus.research.funding_claims import read_history
from scalp_nautilus.research.intervals import BootstrapSettings

H8 = 8 * 3_600 * 1_000_000_000
T0 = 1_672_531_200 * 1_000_000_000  # 2023-01-01 00:00 UTC


def numpy_z(rate: np.ndarray, window: int = 90, warm: int = 30, min_std: float = 1e-6) -> np.ndarray:
    """DESIGN 3.12 / 3.14 directly: z of each rate against the last `window` rates (itself
    included), sample standard deviation floored at `min_std`, NaN before `warm` rates."""
    z = np.full(len(rate), np.nan)
    for i in range(warm - 1, len(rate)):
        w = rate[max(0, i - window + 1) : i + 1]
        z[i] = (rate[i] - w.mean()) / max(w.std(ddof=1), min_std)
    return z


def series(rate, price, inverse=False, spot=None) -> FundingSeries:
    n = len(rate)
    return FundingSeries(
        "v", "S", inverse, "test", T0 + H8 * np.arange(n, dtype=np.int64), np.asarray(rate, float), np.asarray(price, float),
        np.asarray(spot if spot is not None else price, float),
    )  # fmt: skip


def test_detector_signals_on_a_spike_take_the_receiving_side():
    rng = np.random.default_rng(3)
    rate = 1e-4 + 1e-5 * rng.standard_normal(200)
    rate[120], rate[150] = 8e-4, -6e-4
    det = detect(series(rate, np.full(200, 100.0)))
    np.testing.assert_allclose(det.z, numpy_z(rate), rtol=1e-9, atol=1e-12, equal_nan=True)
    assert np.flatnonzero(det.direction).tolist() == np.flatnonzero(np.abs(numpy_z(rate)) > 3).tolist()
    assert det.direction[120] == -1 and det.direction[150] == 1  # short collects a high rate, long a negative one


def test_funding_leg_by_hand_linear_and_inverse():
    rate = np.array([0.0, 0.001, 0.002, -0.001, 0.0005])
    price = np.array([100.0, 102.0, 99.0, 101.0, 100.0])
    spot = np.array([100.0, 101.0, 100.0, 100.0, 100.0])
    det = Detection(np.zeros(5), np.array([-1, 0, 1, 0, -1]))  # the last has no settlement after it
    pnl, short = leg_pnl(series(rate, price, spot=spot), det, hold=1, round_trip_bps=10.0)
    assert pnl.index.tolist() == [0, 2] and short == 1
    # Short at 100, collects 0.1% of 102 notional at the next settlement, leaves at 102.
    # Long at 99 pays the next rate (-0.001: receives it) on 101 of notional.
    np.testing.assert_allclose(pnl.funding, [1e4 * 0.001 * 102 / 100, 1e4 * 0.001 * 101 / 99])
    np.testing.assert_allclose(pnl.price, [1e4 * -(102 / 100 - 1), 1e4 * (101 / 99 - 1)])
    np.testing.assert_allclose(pnl.net, pnl.funding + pnl.price - 10.0)
    np.testing.assert_allclose(pnl.hedged_price, [1e4 * (-(0.02) + 0.01), 1e4 * ((101 / 99 - 1) - 0.0)])
    # Inverse: in the coin, per coin of entry notional; a long pays a positive rate.
    inv, _ = leg_pnl(series(rate, price, inverse=True), det, hold=2, round_trip_bps=0.0)
    assert inv.index.tolist() == [0, 2]
    np.testing.assert_allclose(inv.funding[0], 1e4 * (0.001 * 100 / 102 + 0.002 * 100 / 99))
    np.testing.assert_allclose(inv.price[0], 1e4 * -(1 - 100 / 99))
    np.testing.assert_allclose(inv.funding[1], 1e4 * -(-0.001 * 99 / 101 + 0.0005 * 99 / 100))
    # A missing settlement inside the hold: no P&L for that signal.
    gappy = series(rate, price)
    gappy.ts = gappy.ts.copy()
    gappy.ts[1] += H8
    skipped, short = leg_pnl(gappy, det, hold=1, round_trip_bps=10.0)
    assert skipped.index.tolist() == [2] and short == 2


@pytest.mark.slow
def test_claims_on_a_constructed_history():
    """Flat prices: the leg's net is its funding minus fees, known in closed form."""
    rng = np.random.default_rng(5)
    rate = 1e-4 + 1e-5 * rng.standard_normal(400)
    spikes = np.arange(60, 400, 15)
    rate[spikes] = 1e-3
    rate[spikes + 1] = 5e-4  # the next settlement's rate is what a signal collects
    result = funding_claims(
        [series(rate, np.full(400, 50.0))], FundingSettings(boot=BootstrapSettings(300, 300, method="circular"))
    )
    by_id = {c.id: c for c in result.claims}
    leg = by_id["funding_leg_net[v]"]
    signals = result.signals
    assert len(signals) > 5
    collected = -signals["direction"].to_numpy() * rate[(signals["ts"].to_numpy() - T0) // H8 + 1]
    np.testing.assert_allclose(signals["net_bps"], 1e4 * collected - 10.0)
    assert math.isclose(leg.value, float(signals["net_bps"].mean()))
    z3 = by_id["funding_z3[v]"]
    warm = np.isfinite(numpy_z(rate))
    assert z3.value == pytest.approx(np.mean(np.abs(numpy_z(rate)[warm]) > 3))


@pytest.mark.real_data
def test_bars_times_match_the_answer_key(shared_data):
    """The bars file's London wall times land on the UTC grid exactly as the answer key places
    them, for every perpetual; so do the website exports'."""
    key = pd.read_csv(shared_data / "funding" / "funding_rates_utc.csv")
    for s in read_bars(shared_data / "funding" / "binance_bybit_okx_8h_bars_funding.csv"):
        symbol = s.symbol.replace("CM", "(coin-margined)")
        k = key[(key["exchange"] == s.venue) & (key["symbol"] == symbol)].sort_values("funding_time_ms")
        assert (s.ts // 1_000_000).tolist() == k["funding_time_ms"].tolist(), s.name
        np.testing.assert_allclose(s.rate, k["funding_rate"], rtol=0, atol=1e-12)
        assert np.isfinite(s.open).all() and np.isfinite(s.spot_open).all()
    for file, exchange in (("BTCUSDT_perpetual", "binance-usdm"), ("BTCUSD_CM_perpetual", "binance-coinm")):
        h = read_history(shared_data / "funding" / f"binance_web_export_{file}.csv", "Europe/London")
        k = key[key["exchange"] == exchange].sort_values("funding_time_ms")
        assert (h.ts // 1_000_000).tolist() == k["funding_time_ms"].tolist()
        np.testing.assert_allclose(h.rate, k["funding_rate"], rtol=0, atol=1e-12)


def test_research_funding_without_input_is_one_line(tmp_path, capsys):
    assert cli.main(["research", "funding", "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err == "error: research funding needs --bars and/or --history\n"


@pytest.mark.real_data
@pytest.mark.slow
def test_research_funding_on_the_shared_history(shared_data, tmp_path, capsys):
    funding = shared_data / "funding"
    argv = ["research", "funding", "--bars", str(funding / "binance_bybit_okx_8h_bars_funding.csv"), "--out", str(tmp_path)]
    argv += ["--history", str(funding / "binance_web_export_BTCUSDT_perpetual.csv"), "--boot", "500", "--max-boot", "500"]
    assert cli.main(argv) == 0
    claims = pd.read_csv(tmp_path / "claims.csv")
    counts = pd.read_csv(tmp_path / "funding_counts.csv")
    signals = pd.read_csv(tmp_path / "funding_signals.csv")
    ids = set(claims["id"])
    for venue in ("binance", "bybit", "okx", "pooled"):
        assert {f"funding_z3[{venue}]", f"funding_leg_net[{venue}]", f"funding_hedged_net[{venue}]"} <= ids
    assert (claims["n"] > 0).all()  # claims on real rows
    # The counts are the detector's, which is the numpy rolling z on every series.
    bars = {s.name: s for s in read_bars(funding / "binance_bybit_okx_8h_bars_funding.csv")}
    for row in counts[counts["source"] != "binance_web_export_BTCUSDT_perpetual.csv"].itertuples():
        z = numpy_z(bars[f"{row.venue} {row.symbol}"].rate)
        assert row.z_above_3 == int((np.abs(z[np.isfinite(z)]) > 3).sum()), row
    z3 = claims.set_index("id").loc["funding_z3[pooled]"]
    assert (
        z3["n"] == 1613 and counts.loc[counts["source"] != "binance_web_export_BTCUSDT_perpetual.csv", "warm"].sum() == 12 * 1613
    )
    leg = claims.set_index("id").loc["funding_leg_net[pooled]"]
    assert leg["value"] == pytest.approx(signals["net_bps"].mean())
    assert "funding_leg_net[pooled]" in capsys.readouterr().out
