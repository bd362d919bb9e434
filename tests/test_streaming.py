"""Streamed backtests (`chunk_size`) and the engine-free feature replay (`scalp-nautilus
features`) give exactly what a whole-loaded backtest gives, funding included.

Oracle: the same run with the catalog loaded whole (Nautilus's own one-shot path). On every shared
capture (funding from the capture's mark-price stream or from the funding history), with a chunk
far smaller than the data so that every type, funding included, is cut into many chunks: the
fills, round trips, funding payments, decisions, timeline, the recorder's rows and the summary's
P&L must be identical; and the feature replay's rows bit-identical to the recorder's.
"""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from scalp_nautilus.backtest.settings import check_strategy_config
from scalp_nautilus.cli import main
from scalp_nautilus.config import read_yaml
from scalp_nautilus.feature_replay.replay import replay_features
from tests.capture_catalogs import capture_catalog  # noqa: F401 (fixture)
from tests.capture_catalogs import run_capture_backtest

CAPTURE_NAMES = ["usdm_2023_04", "usdm_2024_07", "usdm_2024_08", "cm_2024_08"]
CONFIG_PATH = "scalp_nautilus.strategy:ScalpStrategyConfig"
SAME_BYTES = ("round_trips.csv", "funding.csv", "decisions.csv", "timeline.csv")


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.parametrize("name", CAPTURE_NAMES)
def test_streamed_backtest_and_feature_replay_equal_whole_loading(name, capture_catalog, tmp_path):  # noqa: F811
    cat = capture_catalog(name)
    whole = run_capture_backtest(cat, tmp_path / "whole", chunk_size=None)
    streamed = run_capture_backtest(cat, tmp_path / "streamed", chunk_size=257)
    a, b = tmp_path / "whole" / "reports", tmp_path / "streamed" / "reports"
    for f in SAME_BYTES:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    # init_id is a random UUID; a run without orders writes an empty file
    fills_a, fills_b = (_fills(d) for d in (a, b))
    assert fills_a.equals(fills_b)
    rows_a, rows_b = (pq.read_table(d.parent / "features.parquet") for d in (a, b))
    assert rows_a.num_rows == whole.strategies[0].batches > 1000
    assert rows_a.equals(rows_b)
    assert whole.result.total_events == streamed.result.total_events
    # the feature replay, from the command line with the backtest's strategy.yaml
    out = tmp_path / "replayed.parquet"
    assert (
        main(
            [
                "features",
                "--catalog",
                str(cat.path),
                "--instrument",
                cat.instrument_id,
                "--config",
                str(tmp_path / "whole" / "strategy.yaml"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert pq.read_table(out).equals(rows_a)

    def strip(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.startswith(("events", "reports"))]

    assert strip(whole.summary()) == strip(streamed.summary())


def _fills(reports) -> pd.DataFrame:
    if not (reports / "fills.csv").read_text().strip():
        return pd.DataFrame()
    return pd.read_csv(reports / "fills.csv").drop(columns=["init_id"], errors="ignore")


@pytest.mark.real_data
@pytest.mark.slow
def test_streamed_run_keeps_the_configured_span(capture_catalog, tmp_path):  # noqa: F811
    """`start`/`end` cut the stream where whole loading cuts it (including funding history)."""
    cat = capture_catalog("usdm_2024_07")
    span = {"start": "2024-07-18T23:58:00Z", "end": "2024-07-19T00:01:30Z"}
    whole = run_capture_backtest(cat, tmp_path / "whole", chunk_size=None, **span)
    streamed = run_capture_backtest(cat, tmp_path / "streamed", chunk_size=1000, **span)
    rows_a, rows_b = (pq.read_table(tmp_path / d / "features.parquet") for d in ("whole", "streamed"))
    assert rows_a.equals(rows_b) and rows_a.num_rows > 100
    ts = rows_a.column("ts_event").to_numpy()
    assert ts.min() >= pd.Timestamp(span["start"]).value - 2e9 and ts.max() <= pd.Timestamp(span["end"]).value
    assert whole.result.total_events == streamed.result.total_events
    # the feature replay over the same span: the same rows, cut where the backtest cuts
    strategy_yaml = tmp_path / "whole" / "strategy.yaml"
    config = check_strategy_config(read_yaml(strategy_yaml), CONFIG_PATH, cat.instrument_id, str(strategy_yaml))
    replayed = replay_features(cat.path, cat.instrument_id, config, tmp_path / "replayed.parquet", **span, chunk_size=997)
    assert pq.read_table(replayed.path).equals(rows_a)
