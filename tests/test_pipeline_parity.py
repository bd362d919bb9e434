"""The recorded rows are the contract (DESIGN §8): the feature pipeline gives, column by column, the
rows the pipeline gave before it was compiled (issue 22).

Oracle: `tests.oracle`, a verbatim copy of the Python pipeline, builder and indicators as they were,
fed Nautilus's own objects through Nautilus's `OrderBook` in the engine's order
(`tests.oracle.replay`). Under test: the product's engine-free replay (`replay_features`: the
numba book, the compiled pipeline, the recorder), on every shared capture (Binance USD-M 2023 and
2024, COIN-M, the 34-hour NEXOUSDT spot capture) and on the simulator; the backtest's own rows
equal the replay's (`tests/test_streaming.py`, `tests/test_scale_data.py`). Every column must be
bit-identical; `NOT_BIT_IDENTICAL` lists any exception with its reason (none today).
"""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from scalp_nautilus.backtest.settings import check_strategy_config
from scalp_nautilus.config import merge
from scalp_nautilus.config import nest
from scalp_nautilus.feature_replay.replay import replay_features
from scalp_nautilus.features import FeatureSnapshot
from tests.capture_catalogs import SPOT
from tests.capture_catalogs import capture_catalog  # noqa: F401 (fixture)
from tests.capture_catalogs import strategy_overrides
from tests.oracle.compare import column_differences
from tests.oracle.replay import oracle_rows

CONFIG_PATH = "scalp_nautilus.strategy:ScalpStrategyConfig"
NOT_BIT_IDENTICAL: dict[str, str] = {}
# Every code path of the thresholds: VPIN's and the regime's quantile modes, Anis-Lloyd's Hurst.
QUANTILES = {
    "vpin.threshold_mode": "quantile",
    "vpin.quantile_min": 5,
    "regime.threshold_mode": "quantile",
    "regime.quantile_min": 10,
    "regime.quantile_history": 120,
    "hurst.anis_lloyd": True,
}


def strategy_config(instrument_id: str, **overrides):
    import yaml

    from tests.support.configs import ROOT

    raw = merge(yaml.safe_load((ROOT / "configs" / "strategy.yaml").read_text()), nest(overrides))
    return check_strategy_config(raw, CONFIG_PATH, instrument_id, "parity test")


def assert_parity(catalog, instrument_id: str, config, out, **span) -> int:
    replayed = replay_features(catalog, instrument_id, config, out, chunk_size=4_999, **span)
    expected = oracle_rows(catalog, instrument_id, config, **span)
    differences = column_differences(expected, FeatureSnapshot._fields, pq.read_table(replayed.path))
    assert {k: v for k, v in differences.items() if k not in NOT_BIT_IDENTICAL} == {}
    return len(expected)


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.parametrize("name", ["usdm_2023_04", "usdm_2024_07", "usdm_2024_08", "cm_2024_08", SPOT])
def test_replay_rows_equal_the_oracle_on_every_capture(name, capture_catalog, tmp_path):  # noqa: F811
    cat = capture_catalog(name)
    config = strategy_config(cat.instrument_id, **strategy_overrides(cat))
    assert assert_parity(cat.path, cat.instrument_id, config, tmp_path / "rows.parquet") > 5_000


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.parametrize("name", ["usdm_2023_04", "cm_2024_08"])
def test_replay_rows_equal_the_oracle_in_quantile_mode(name, capture_catalog, tmp_path):  # noqa: F811
    cat = capture_catalog(name)
    config = strategy_config(cat.instrument_id, **strategy_overrides(cat), **QUANTILES)
    assert assert_parity(cat.path, cat.instrument_id, config, tmp_path / "rows.parquet") > 5_000


@pytest.mark.slow
def test_replay_rows_equal_the_oracle_on_the_simulator(tmp_path):
    """The real-intensity simulator (`data simulate --profile btcusdt`), a few minutes of it."""
    from scalp_nautilus.cli import main

    catalog = tmp_path / "catalog"
    assert main(["data", "simulate", "--profile", "btcusdt", "--minutes", "3", "--catalog", str(catalog)]) == 0
    config = strategy_config("BTCUSDT-PERP.SIM", **{"vpin.volume_per_hour": 14_000.0, "vpin.window_minutes": 1.0})
    assert assert_parity(catalog, "BTCUSDT-PERP.SIM", config, tmp_path / "rows.parquet") > 3_000
