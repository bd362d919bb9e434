"""Where the real exchange captures live: ``SCALP_SHARED_DATA``, else ``../shared/data`` beside the
project checkout. They are never copied into the project."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# The captures of shared/data/binance-futures; a pair of files is one continuous capture.
CAPTURES = {
    "usdm_2023_04": ["usdm_btcusdt_20230404.dat.gz", "usdm_btcusdt_20230405.dat.gz"],
    "usdm_2024_07": ["usdm_btcusdt_20240718.gz", "usdm_btcusdt_20240719.gz"],
    "usdm_2024_08": ["usdm_btcusdt_20240808.gz"],
    "cm_2024_08": ["cm_btcusd_perp_20240808.gz", "cm_btcusd_perp_20240809.gz"],
}


def shared_data_dir() -> Path | None:
    for candidate in (os.environ.get("SCALP_SHARED_DATA"), PROJECT_ROOT.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "binance-futures").is_dir():
            return Path(candidate)
    return None


def capture_files(name: str, data: Path | None = None) -> list[Path]:
    """The files of one capture of `CAPTURES`, in order."""
    data = data or shared_data_dir()
    if data is None:
        raise FileNotFoundError("real exchange data not found: set SCALP_SHARED_DATA or place it in ../shared/data")
    return [data / "binance-futures" / f for f in CAPTURES[name]]
