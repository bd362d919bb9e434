"""Backtest/live parity for the live replay tests (Binance and Bybit): the recorder's rows of a
live run beside those of a backtest over the same capture imported into the catalog."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from scalp_nautilus.cli import main
from scalp_nautilus.features import FeatureSnapshot
from tests.support.configs import write_config
from tests.support.live import STRATEGY


def live_and_backtest_rows(tmp: Path, capture: list[Path], live_file: str = "live.parquet") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The live run's recorder rows (`tmp / live_file`) and a backtest's over `capture` (Binance)
    with the harness's strategy settings."""
    catalog = tmp / "catalog"
    assert main(["data", "import-binance", *map(str, capture), "--catalog", str(catalog)]) == 0
    config = write_config(
        tmp,
        catalog=str(catalog),
        instrument_id="BTCUSDT-PERP.BINANCE",
        reports_dir=str(tmp / "reports"),
        **{"venue.name": "BINANCE", "strategy.config": STRATEGY},
    )
    assert main(["backtest", "--config", str(config), "--record-features", str(tmp / "backtest.parquet")]) == 0
    return pq.read_table(tmp / live_file).to_pandas(), pq.read_table(tmp / "backtest.parquet").to_pandas()


def differing_feature_columns(live: pd.DataFrame, backtest: pd.DataFrame) -> dict[str, int]:
    """Feature columns (all but the event time and update id) not bit-for-bit equal, with the
    number of differing rows (NaN equals NaN)."""
    differing = {}
    for column in (c for c in FeatureSnapshot._fields if c not in ("ts_event", "update_id")):
        a, b = live[column].to_numpy(), backtest[column].to_numpy()
        same = (a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else a == b
        if not same.all():
            differing[column] = int((~same).sum())
    return differing
