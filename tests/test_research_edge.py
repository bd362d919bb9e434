"""The research edge table against independent oracles: ICs against scipy's spearmanr on the same
rows (forward returns rebuilt with pandas' merge_asof) and per UTC day, blocks never shorter than
the horizon, the family's adjusted p-values, the SPA test on a planted edge, deciles and hit rates
by hand, costs by hand, bad input, and the command on a real capture."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import spearmanr

from scalp_nautilus.cli import main
from scalp_nautilus.feature_recorder import SCHEMA
from scalp_nautilus.features import FeatureSnapshot
from scalp_nautilus.research.edge import NOT_ENOUGH
from scalp_nautilus.research.edge import Costs
from scalp_nautilus.research.edge import deciles
from scalp_nautilus.research.edge import edge_table
from scalp_nautilus.research.edge import hit_rate
from scalp_nautilus.research.edge import load_features
from scalp_nautilus.research.edge import spearman
from scalp_nautilus.research.edge import summary_lines
from scalp_nautilus.research.intervals import BootstrapSettings
from scalp_nautilus.research.intervals import adjust
from tests.support.captures import load
from tests.support.captures import record

S = 1_000_000_000
QUICK = BootstrapSettings(min_reps=200, max_reps=200)


def features_file(path, n: int, step_ms: float = 100.0, seed: int = 0, cold_rows: int = 0, **columns) -> str:
    """A recorder-schema file of `n` rows every `step_ms`: a random-walk mid, an ofi_z that leads the
    mid's next step (so it has a true positive IC), every other column at its default."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 1, n)
    ofi_z = np.r_[steps[1:], 0.0] + rng.normal(0, 1, n)  # the next step plus noise
    mid = 100.0 * np.exp(np.cumsum(steps) * 1e-4)
    defaults = dict(zip(FeatureSnapshot._fields, [0] * len(FeatureSnapshot._fields)))
    data = {name: np.full(n, defaults[name]) for name in FeatureSnapshot._fields}
    data.update(
        ts_event=(np.arange(n) * step_ms * 1e6).astype(np.int64),
        mid=mid,
        book_valid=np.ones(n, bool),
        ofi_z=ofi_z,
        warm=np.arange(n) >= cold_rows,
        cold=np.where(np.arange(n) < cold_rows, "vpin,ofi,cvd", ""),
        depth_imbalance=np.full(n, 0.5),
    )
    data.update(columns)
    table = pa.table({f.name: pa.array(data[f.name], type=f.type) for f in SCHEMA if f.name in data}, schema=SCHEMA)
    pq.write_table(table, path)
    return str(path)


def oracle_forward(df: pd.DataFrame, horizon_s: float) -> np.ndarray:
    """Forward return in bps with pandas: the mid of the last row at or before t + h (NaN past the end)."""
    target = pd.DataFrame({"t": df["ts_event"] + round(horizon_s * S)})
    right = df[["ts_event", "mid"]].rename(columns={"ts_event": "t", "mid": "future"})
    merged = pd.merge_asof(target, right, on="t", direction="backward")
    out = 1e4 * (merged["future"].to_numpy() / df["mid"].to_numpy() - 1.0)
    out[df["ts_event"].to_numpy() + round(horizon_s * S) > df["ts_event"].iloc[-1]] = np.nan
    return out


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(1)
    x = rng.integers(-3, 4, 500).astype(float)  # heavy ties
    y = x + rng.normal(0, 3, 500)
    y[::7] = 0.0
    assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert math.isnan(spearman(np.ones(10), np.arange(10.0)))


def test_ic_against_scipy_on_the_same_rows(tmp_path):
    path = features_file(tmp_path / "f.parquet", 6000, step_ms=50.0, seed=3, cold=np.full(6000, "hurst,vpin"))
    data = load_features([path])
    result = edge_table(data, horizons=(1, 5), boot=BootstrapSettings(min_reps=2000), sample_ms=0)  # every row
    edge = result.table
    raw = pd.read_parquet(path)
    for h in (1, 5):
        y = oracle_forward(raw, h)
        ok = np.isfinite(y)
        expected = spearmanr(raw["ofi_z"].to_numpy()[ok], y[ok]).statistic
        row = edge[(edge.signal == "ofi_z") & (edge.horizon_s == h) & (edge.subset == "all")].iloc[0]
        assert row.n == ok.sum()
        assert row.ic == pytest.approx(expected, abs=1e-12)
        assert row.ic_lo < row.ic < row.ic_hi and row.ic_mc_err <= 0.005 and row.reps >= 2000
        # blocks never shorter than the horizon: 1 s and 5 s of 50 ms rows are 20 and 100 rows
        assert row.block_rows >= 20 * h and result.blocks[h] == row.block_rows
    # ofi_z leads the next step by construction: at 1 s (20 rows) the IC is clearly positive
    one = edge[(edge.signal == "ofi_z") & (edge.horizon_s == 1) & (edge.subset == "all")].iloc[0]
    assert one.ic_lo > 0 and one.p_adj < 0.05 and one.verdict == "IC > 0"
    # the family: every all-rows test with a p-value, adjusted together
    family = edge[(edge.subset == "all") & edge.p.notna()]
    np.testing.assert_allclose(family.p_adj, adjust(family.p.to_numpy()), rtol=1e-12)


def test_thinning_keeps_the_last_row_of_each_interval(tmp_path):
    path = features_file(tmp_path / "f.parquet", 3000, step_ms=50.0, seed=4)
    data = load_features([path])
    edge = edge_table(data, horizons=(5,), boot=QUICK, sample_ms=200.0).table
    raw = pd.read_parquet(path)
    y = oracle_forward(raw, 5)
    last = raw.groupby(raw["ts_event"] // 200_000_000).tail(1).index.to_numpy()  # 4 rows of 50 ms per 200 ms
    keep = last[np.isfinite(y[last])]
    row = edge[(edge.signal == "ofi_z") & (edge.subset == "all")].iloc[0]
    assert row.n == len(keep)
    assert row.ic == pytest.approx(spearmanr(raw["ofi_z"].to_numpy()[keep], y[keep]).statistic, abs=1e-12)


def test_ic_per_utc_day_and_a_sign_that_flips(tmp_path):
    """Two UTC days: ofi_z leads the mid for 24 minutes before midnight and the reverse, more weakly,
    for 16 minutes after. Pooled, the IC is positive and its interval excludes 0; per day it is +
    then -, so it holds pooled only. (With a reversal as strong as the lead, the IC's level shift
    makes Politis-White choose ~400-row blocks and the pooled interval straddles 0.)"""
    n, k = 24_000, 14_400
    rng = np.random.default_rng(8)
    steps = rng.normal(0, 1, n)
    lead = np.r_[steps[1:], 0.0]
    ofi_z = np.where(np.arange(n) < k, lead, -0.3 * lead) + rng.normal(0, 1, n)
    ts = (86_400 * S - k * 100_000_000 + np.arange(n) * 100_000_000).astype(np.int64)
    cold = np.full(n, "hurst,vpin")  # no band subsets: only the pooled test
    path = features_file(tmp_path / "f.parquet", n, step_ms=100.0, seed=8, ts_event=ts, ofi_z=ofi_z, cold=cold)
    raw = pd.read_parquet(path)
    edge = edge_table(load_features([path]), horizons=(1,), boot=QUICK, sample_ms=0).table
    row = edge[(edge.signal == "ofi_z") & (edge.subset == "all")].iloc[0]
    y = oracle_forward(raw, 1)
    by_day = {}
    for day in (0, 1):
        on = ((raw["ts_event"] // (86_400 * S)).to_numpy() == day) & np.isfinite(y)
        by_day[day] = spearmanr(raw["ofi_z"][on], y[on]).statistic
    assert row.days == 2 and row.days_agree == 1
    got = dict(item.split(":") for item in row.ic_by_day.split())
    assert float(got["1970-01-01"]) == pytest.approx(by_day[0], abs=5e-4)
    assert float(got["1970-01-02"]) == pytest.approx(by_day[1], abs=5e-4)
    assert by_day[0] > 0 > by_day[1] and row.ic_lo > 0
    assert row.verdict == "IC > 0 pooled only: the sign agrees on 1 of 2 days"


def test_spa_finds_a_planted_edge_and_not_one_eaten_by_costs(tmp_path):
    path = features_file(tmp_path / "f.parquet", 12_000, step_ms=100.0, seed=9)
    data = load_features([path])
    free = edge_table(data, horizons=(1, 5), costs=Costs(0.0, 0.0), boot=QUICK, sample_ms=200.0)
    dear = edge_table(data, horizons=(1, 5), costs=Costs(50.0, 50.0), boot=QUICK, sample_ms=200.0)
    assert free.spa["maker_maker"] is not None and free.spa["maker_maker"].p < 0.01
    assert dear.spa["maker_maker"] is not None and dear.spa["maker_maker"].p > 0.5
    assert free.spa["maker_maker"].block >= max(free.blocks.values())
    lines = summary_lines(free)
    assert any("best edge after maker/maker costs" in line and "SPA p-value" in line for line in lines)


def test_deciles_hit_rate_and_costs_by_hand():
    x = np.random.default_rng(2).permutation(1000).astype(float)  # 0..999
    y = 2.0 * x  # top decile: x >= 899.1 -> 900..999, mean y 1899; bottom: x <= 99.9 -> 0..99, mean 99
    top, bottom, n_top, n_bottom = deciles(x, y)
    assert (top, bottom, n_top, n_bottom) == (1899.0, 99.0, 100, 100)
    assert math.isnan(deciles(np.ones(50), y[:50])[0])
    hits, n = hit_rate(np.array([1.0, -1.0, 1.0, 0.0, -2.0]), np.array([2.0, 1.0, 0.5, 1.0, 0.0]))
    assert (hits, n) == (2 / 3, 3)
    costs = Costs(maker_bps=2.0, taker_bps=5.0).round_trips(spread_bps=0.4)
    assert costs == {"taker_taker": 10.4, "maker_taker": 7.2, "maker_maker": 4.0}


def test_edge_after_costs_is_half_the_spread_minus_the_round_trip(tmp_path):
    path = features_file(tmp_path / "f.parquet", 4000, step_ms=100.0, seed=5, spread_bps=np.full(4000, 0.2))
    edge = edge_table(load_features([path]), horizons=(10,), boot=QUICK, sample_ms=0, costs=Costs(1.0, 4.0)).table
    row = edge[(edge.signal == "ofi_z") & (edge.subset == "all")].iloc[0]
    assert row.mean_spread_bps == pytest.approx(0.2)
    assert row.edge_taker_taker_bps == pytest.approx(row.decile_spread_bps / 2 - (8.0 + 0.2))
    assert row.edge_maker_taker_bps == pytest.approx(row.decile_spread_bps / 2 - (5.0 + 0.1))
    assert row.edge_maker_maker_bps == pytest.approx(row.decile_spread_bps / 2 - 2.0)


def test_bad_input_gives_errors_or_not_enough_data_and_never_nan_in_files(tmp_path):
    short = features_file(tmp_path / "short.parquet", 200, step_ms=100.0)  # 20 s: no 30 s or 60 s horizon
    out = tmp_path / "out"
    assert main(["research", "edge", "--features", short, "--out", str(out), "--boot", "20", "--max-boot", "20"]) == 0
    edge = pd.read_csv(out / "edge.csv", keep_default_na=False)
    text = (out / "edge.csv").read_text() + (out / "claims.csv").read_text()
    assert "nan" not in text.lower() and "inf" not in text.lower()
    long_h = edge[(edge.horizon_s.astype(float) >= 30) & (edge.subset == "all")]
    assert len(long_h) and long_h.verdict.str.startswith(f"{NOT_ENOUGH} (").all() and (long_h.ic == "").all()
    claims = pd.read_csv(out / "claims.csv", keep_default_na=False)
    assert set(claims.verdict) <= {"holds", "does not hold", "holds pooled only", "borderline", NOT_ENOUGH}
    # every "not enough data" says what is missing
    assert (claims[claims.verdict == NOT_ENOUGH].note != "").all()
    # all rows cold: every signal that needs a warm indicator says so
    cold = features_file(tmp_path / "cold.parquet", 2000, cold_rows=2000)
    edge = edge_table(load_features([cold]), horizons=(1,), boot=QUICK).table
    assert (edge[edge.signal.isin(["ofi_z", "cvd_z"])].verdict == f"{NOT_ENOUGH} (0 rows, need 30)").all()
    # funding z steps once per settlement: two values in a file are no sample of 30 settlements
    step = features_file(tmp_path / "funding.parquet", 3000, funding_z=np.r_[np.full(1500, 1.5), np.full(1500, -0.5)])
    edge = edge_table(load_features([step]), horizons=(1,), boot=QUICK).table
    row = edge[(edge.signal == "funding_z") & (edge.subset == "all")].iloc[0]
    assert row.verdict == f"{NOT_ENOUGH} (2 distinct values, need 30)" and math.isnan(row.ic)
    # missing columns, NaN, no file: a clear error naming the file
    pq.write_table(pa.table({"ts_event": np.arange(3), "mid": np.ones(3)}), tmp_path / "bare.parquet")
    with pytest.raises(ValueError, match=r"bare.parquet: lacks columns \['book_valid', 'cold'\]"):
        load_features([tmp_path / "bare.parquet"])
    bad = features_file(tmp_path / "nan.parquet", 100, ofi_z=np.r_[np.nan, np.zeros(99)])
    with pytest.raises(ValueError, match=r"nan\.parquet: column ofi_z holds NaN or inf"):
        load_features([bad])
    assert main(["research", "edge", "--features", str(tmp_path / "none.parquet"), "--out", str(out)]) == 1


@pytest.mark.real_data
@pytest.mark.slow
def test_edge_command_on_a_real_capture(capture_paths, tmp_path, capsys):
    path = record(load("usdm_2024_08", tuple(capture_paths("usdm_2024_08"))), tmp_path / "f.parquet")
    out = tmp_path / "out"
    assert main(["research", "edge", "--features", str(path), "--out", str(out), "--boot", "500", "--max-boot", "500"]) == 0
    printed = capsys.readouterr().out
    assert "claim ofi_r2" in printed and "edge after taker/taker" in printed
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3 and "http://" not in html and "https://" not in html
    edge = pd.read_csv(out / "edge.csv")
    raw = load_features([path])
    row = edge[(edge.signal == "depth_imbalance") & (edge.horizon_s == 5) & (edge.subset == "all")].iloc[0]
    # the same IC again with scipy on the rows the table used: thinned to 200 ms, liquidity warm
    frame = pd.read_parquet(path)
    frame = frame[frame.book_valid & (frame.mid > 0)].reset_index(drop=True)
    y = oracle_forward(frame, 5)
    last = frame.groupby(frame["ts_event"] // 200_000_000).tail(1).index.to_numpy()
    warm = ~frame["cold"].str.split(",").apply(lambda t: "liquidity" in t).to_numpy()
    use = last[warm[last] & np.isfinite(y[last])]
    assert row.n == len(use) and len(raw) == len(frame)
    assert row.ic == pytest.approx(spearmanr(frame["depth_imbalance"].to_numpy()[use], y[use]).statistic, abs=1e-6)
    print("\n" + printed)
