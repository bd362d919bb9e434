"""End to end through the config files and the command line: the simulated default market and a
real imported capture, the reports, the feature recorder, and determinism."""

from __future__ import annotations

import math
import re

import pandas as pd
import pyarrow.parquet as pq
import pytest

from scalp_nautilus.cli import main
from scalp_nautilus.features import FeatureSnapshot
from tests.config_files import write_config

# warm-up within the first two minutes (VPIN over 1 minute of volume, the shortest Hurst window)
FAST = {"vpin": {"window_minutes": 1.0}, "hurst": {"window": 64}}
REPORT_FILES = (
    "fills.csv",
    "positions.csv",
    "account.csv",
    "round_trips.csv",
    "funding.csv",
    "decisions.csv",
    "timeline.csv",
    "summary.txt",
    "equity.png",
    "trades.png",
    "features.png",
)
RECORDED = (  # the list of recorder columns
    [
        "ts_event",
        "mid",
        "ofi",
        "ofi_z",
        "vpin",
        "vpin_regime",
        "cvd",
        "cvd_divergence",
        "hurst",
        "ou_z",
        "ou_active",
        "parkinson_vol",
        "realized_vol",
        "blend_vol",
        "spread_bps",
        "depth_imbalance",
        "resilience",
        "kyle_lambda",
        "regime_multiplier",
        "funding_z",
    ]
    + [f"lob_{i}" for i in range(21)]
    + ["lstm_direction", "lstm_confidence", "ensemble_direction", "ensemble_confidence"]
)


def assert_traded_and_flat(reports):
    for name in REPORT_FILES:
        assert (reports / name).stat().st_size > 0, name
    fills = pd.read_csv(reports / "fills.csv")
    tags = fills["tags"].astype(str)
    assert tags.str.contains("entry:").any() and tags.str.contains("exit:").any()
    # IOC entries: filled, or partly filled and the rest cancelled
    assert set(fills["status"]) <= {"FILLED", "CANCELED"} and (fills["filled_qty"] > 0).all()
    positions = pd.read_csv(reports / "positions.csv")
    assert len(positions) > 0 and positions["ts_closed"].notna().all()  # nothing open at the end
    trips = pd.read_csv(reports / "round_trips.csv")
    assert len(trips) >= 1 and (trips["ts_closed"] > trips["ts_opened"]).all()
    assert pd.read_csv(reports / "timeline.csv")["position"].iloc[-1] == 0.0
    # the account moved by the round trips' P&L after fees (funding is outside Nautilus's account)
    account = pd.read_csv(reports / "account.csv")
    assert account["total"].iloc[-1] - account["total"].iloc[0] == pytest.approx(trips["realized_pnl"].sum(), abs=1e-6)
    return fills, trips


@pytest.mark.slow
def test_simulated_default_end_to_end_deterministic_with_features(tmp_path, capsys):
    catalog = tmp_path / "cat"
    assert main(["data", "simulate", "--catalog", str(catalog), "--minutes", "10"]) == 0
    runs = []
    for k in (1, 2):
        reports = tmp_path / f"rep{k}"
        config = write_config(tmp_path, catalog=str(catalog), reports_dir=str(reports), **{"strategy.config": FAST})
        extra = ["--record-features", str(tmp_path / "features.parquet")] if k == 1 else []
        capsys.readouterr()
        assert main(["backtest", "--config", str(config), *extra]) == 0
        out = capsys.readouterr().out
        assert "round trips" in out and "P&L (USDT)" in out
        runs.append((reports, out))
    (first, out1), (second, out2) = runs
    fills, _ = assert_traded_and_flat(first)

    # identical on a second run: every figure of the summary, the round trips, the fills (minus
    # Nautilus's random event ids)
    def strip(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.startswith(("events", "reports"))]

    assert strip(out1) == strip(out2)
    assert (first / "round_trips.csv").read_bytes() == (second / "round_trips.csv").read_bytes()
    fills2 = pd.read_csv(second / "fills.csv")
    assert fills.drop(columns=["init_id"]).equals(fills2.drop(columns=["init_id"]))
    # the recorder: one row per book batch, every FeatureSnapshot field a named column
    table = pq.read_table(tmp_path / "features.parquet")
    batches = int(re.search(r"([\d,]+) book batches", out1).group(1).replace(",", ""))
    assert table.num_rows == batches
    assert table.column_names == list(FeatureSnapshot._fields) and set(RECORDED) <= set(table.column_names)


@pytest.mark.real_data
@pytest.mark.slow
def test_real_capture_end_to_end(capture_paths, tmp_path, capsys):
    """The 2023-04 BTCUSDT capture imported, then backtested through the config files; VPIN and
    sizes calibrated for real BTCUSDT (~15,000 BTC an hour) in the backtest config's overrides, and
    the short Hurst window so that the 8.6 minutes hold several trades."""
    catalog = tmp_path / "cat"
    assert main(["data", "import-binance", *map(str, capture_paths("usdm_2023_04")), "--catalog", str(catalog)]) == 0
    reports = tmp_path / "rep"
    config = write_config(
        tmp_path,
        catalog=str(catalog),
        instrument_id="BTCUSDT-PERP.BINANCE",
        reports_dir=str(reports),
        **{
            "venue.name": "BINANCE",
            "strategy.config": {
                "vpin": {"volume_per_hour": 15_000.0, "window_minutes": 2.0},
                "orders": {"base_size": 0.05},
                "hurst": {"window": 64},
            },
        },
    )
    capsys.readouterr()
    assert main(["backtest", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "BTCUSDT-PERP.BINANCE" in out
    _, trips = assert_traded_and_flat(reports)
    assert len(trips) >= 2 and "stop" in set(trips["exit_reason"])


def test_model_file_from_the_strategy_yaml_is_loaded_and_used(tmp_path, caplog):
    """`lstm.model_path` in strategy.yaml reaches the predictor: a model whose network always calls
    "up" (zero weights, up-biased head) must show in the recorded features as an active LSTM with a
    direction of P(up) - P(down), predicted at the configured cadence."""
    from tests.test_lstm import constant_model

    model = tmp_path / "up.pt"
    constant_model(model, seq_len=50, horizon=5)
    catalog = tmp_path / "cat"
    assert main(["data", "simulate", "--catalog", str(catalog), "--minutes", "6"]) == 0
    config = write_config(
        tmp_path,
        catalog=str(catalog),
        reports_dir=str(tmp_path / "rep"),
        strategy={"lstm.model_path": str(model), "lstm.cadence_ms": 250.0},
        **{"strategy.config": FAST},
    )
    assert main(["backtest", "--config", str(config), "--record-features", str(tmp_path / "f.parquet")]) == 0
    rows = pd.read_parquet(tmp_path / "f.parquet", columns=["ts_event", "lstm_active", "lstm_direction"])
    active = rows[rows["lstm_active"]]
    predicted = active[active.index >= active["lstm_direction"].ne(0.0).idxmax()]  # from the first full sequence
    assert len(predicted) > 100 and len(predicted) > 0.5 * len(active)
    e5 = math.exp(5.0)
    assert predicted["lstm_direction"].to_numpy() == pytest.approx((e5 - 1) / (e5 + 2))


@pytest.mark.slow
def test_default_simulated_run_books_no_losing_take_profit_and_maker_runs_report_markouts(tmp_path, capsys):
    """The README's default run (60 simulated minutes, configs/backtest.yaml) and the maker example
    (configs/backtest_maker.yaml) on the same market. Take-profits sit beyond the round trip's fees
    plus the spread and go out as limits at their price: none nets below zero after its fees.
    Maker entries are post-only, so every entry fill is a maker fill (none crossed the spread); the
    reports carry the markouts and the execution counts."""
    catalog = tmp_path / "cat"
    assert main(["data", "simulate", "--catalog", str(catalog)]) == 0
    outs = {}
    for base in ("backtest.yaml", "backtest_maker.yaml"):
        reports = tmp_path / base.removesuffix(".yaml")
        config = write_config(tmp_path, base=base, catalog=str(catalog), reports_dir=str(reports), plots=False)
        capsys.readouterr()
        assert main(["backtest", "--config", str(config)]) == 0
        outs[base] = capsys.readouterr().out
        trips = pd.read_csv(reports / "round_trips.csv")
        take_profits = trips[trips["exit_reason"] == "take_profit"]
        assert len(take_profits) >= 3, base
        assert (take_profits["realized_pnl"] >= 0.0).all(), take_profits
        fills = pd.read_csv(reports / "fills.csv")
        per_fill = pd.read_csv(reports / "markouts.csv")
        assert {"markout_1s_bps", "markout_5s_bps", "markout_30s_bps"} <= set(fills.columns)
        assert per_fill["markout_1s_bps"].notna().mean() > 0.9  # all but fills in the last second
        assert "break-even" in outs[base] and "markouts (bps" in outs[base]
    taker, maker = outs["backtest.yaml"], outs["backtest_maker.yaml"]
    assert "break-even      10.00 bps" in taker and "break-even      4.00 bps" in maker
    assert re.search(r"maker fill ratio \d+/\d+ \(\d+%\)", maker)
    per_fill = pd.read_csv(tmp_path / "backtest_maker" / "markouts.csv")
    entries = per_fill[per_fill["tag"].str.startswith("entry:")]
    assert len(entries) > 0 and (entries["liquidity"] == "MAKER").all()
