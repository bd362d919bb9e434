"""The shared captures imported into catalogs once per test session (for the scale tests).

Each capture of ../shared/data/binance-futures goes into its own temporary catalog; the two
captures without a markPrice stream also get the funding history of the website export, so every
catalog replays funding (history before the capture, or the capture's own per-second updates).
`SPOT` is the 34.2-hour NEXOUSDT capture of ../shared/data/binance-spot (a spot pair: no funding).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from scalp_nautilus.data.binance_capture import BinanceCaptureImporter
from scalp_nautilus.data.catalog import write_to_catalog
from scalp_nautilus.data.funding_history import read_settlements
from scalp_nautilus.data.funding_history import to_updates

HISTORY = {  # capture -> (funding export, time zone of its Time column)
    "usdm_2024_07": ("binance_web_export_BTCUSDT_perpetual.csv", "Europe/London"),
    "cm_2024_08": ("binance_web_export_BTCUSD_CM_perpetual.csv", "Europe/London"),
}


SPOT = "spot_nexousdt_2024_07"
SPOT_FILES = ["spot_nexousdt_20240723.dat.gz", "spot_nexousdt_20240724.dat.gz", "spot_nexousdt_20240725.dat.gz"]


@dataclass(frozen=True)
class CaptureCatalog:
    name: str
    path: Path
    instrument_id: str
    inverse: bool


@pytest.fixture(scope="session")
def capture_catalog(tmp_path_factory, capture_paths, shared_data):
    made: dict[str, CaptureCatalog] = {}

    def get(name: str) -> CaptureCatalog:
        if name not in made:
            path = tmp_path_factory.mktemp(name) / "catalog"
            files = [shared_data / "binance-spot" / f for f in SPOT_FILES] if name == SPOT else capture_paths(name)
            importer = BinanceCaptureImporter(files)
            write_to_catalog(importer.events(), importer.instrument, path)
            inst = importer.instrument
            if name in HISTORY:
                file, tz = HISTORY[name]
                settlements = read_settlements(shared_data / "funding" / file, tz=tz)
                write_to_catalog(to_updates(settlements, inst.id), inst, path)
            made[name] = CaptureCatalog(name, path, inst.id.value, bool(inst.is_inverse))
        return made[name]

    return get


def strategy_overrides(cat: CaptureCatalog) -> dict:
    """strategy.yaml's changes (dotted keys) calibrating it to the capture: VPIN's volume from its
    own trades, a short Hurst window and VPIN window so that minutes of data hold trades."""
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    trades = ParquetDataCatalog(str(cat.path)).trade_ticks([cat.instrument_id])
    hours = (trades[-1].ts_event - trades[0].ts_event) / 3.6e12
    per_hour = sum(float(t.size) for t in trades) / hours
    if cat.name == SPOT:  # ~550 trades an hour: a VPIN window of 30 minutes holds some
        return {"vpin.volume_per_hour": per_hour, "vpin.window_minutes": 30.0, "orders.base_size": 50.0}
    return {
        "vpin.volume_per_hour": per_hour,
        "vpin.window_minutes": 2.0,
        "hurst.window": 64,
        "orders.base_size": 10.0 if cat.inverse else 0.05,
    }


def run_capture_backtest(cat: CaptureCatalog, out: Path, chunk_size: int | None, **changes):
    """`run_backtest` through the config files written to `out` (backtest.yaml, strategy.yaml),
    with the feature recorder on (`out/features.parquet`); returns the outcome."""
    from scalp_nautilus.backtest.runner import run_backtest
    from scalp_nautilus.backtest.settings import load_backtest_settings
    from tests.support.configs import write_config

    out.mkdir(parents=True, exist_ok=True)
    config = write_config(
        out,
        strategy=strategy_overrides(cat),
        catalog=str(cat.path),
        instrument_id=cat.instrument_id,
        reports_dir=str(out / "reports"),
        plots=False,
        chunk_size=chunk_size,
        **{"venue.name": "BINANCE", "venue.starting_balances": ["1 BTC" if cat.inverse else "10000 USDT"]},
        **changes,
    )
    settings = load_backtest_settings(config, None, {"record_features": str(out / "features.parquet")})
    return run_backtest(settings)
