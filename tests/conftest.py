"""Shared fixtures: where the real exchange captures live.

The captures sit in ``../shared/data`` next to the project (never copied into it);
``SCALP_SHARED_DATA`` points elsewhere. Under CI (``CI=true``) a missing data folder fails the
run instead of skipping, so the real-data tests cannot pass by running nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    candidates = [os.environ.get("SCALP_SHARED_DATA"), ROOT.parent / "shared" / "data", "/work/shared/data"]
    for c in candidates:
        if c and (Path(c) / "binance-futures").is_dir():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        msg = "real exchange data not found: set SCALP_SHARED_DATA or place it in ../shared/data"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


# The captures of ../shared/data/binance-futures; a pair of files is one continuous capture.
CAPTURES = {
    "usdm_2023_04": ["usdm_btcusdt_20230404.dat.gz", "usdm_btcusdt_20230405.dat.gz"],
    "usdm_2024_07": ["usdm_btcusdt_20240718.gz", "usdm_btcusdt_20240719.gz"],
    "usdm_2024_08": ["usdm_btcusdt_20240808.gz"],
    "cm_2024_08": ["cm_btcusd_perp_20240808.gz", "cm_btcusd_perp_20240809.gz"],
}


@pytest.fixture(scope="session")
def capture_paths(shared_data):
    def paths(name: str) -> list[Path]:
        return [shared_data / "binance-futures" / f for f in CAPTURES[name]]

    return paths
