"""Shared fixtures: where the real exchange captures live, and the test tiers.

The captures sit in ``../shared/data`` next to the project (never copied into it);
``SCALP_SHARED_DATA`` points elsewhere. Under CI (``CI`` set to anything but empty, ``0``,
``false``, ``no`` or ``off``) a missing data folder fails the run instead of skipping, so the
real-data tests cannot pass by running nothing.

Tiers: ``real_data`` marks every test that reads the captures (enforced below: a test reaching
the ``shared_data`` fixture without it fails the collection), ``slow`` anything over a few
seconds. ``pytest -m "not slow"`` is the quick tier; CI runs everything.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def in_ci(environ: Mapping[str, str] = os.environ) -> bool:
    """`CI` as CI services set it (`true`, `1`); `false`, `0`, `no`, `off` or empty mean no."""
    return environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


def shared_data_dir(environ: Mapping[str, str] = os.environ, root: Path = ROOT) -> Path | None:
    """`SCALP_SHARED_DATA`, else `../shared/data` beside the project; None when neither holds the captures."""
    for c in (environ.get("SCALP_SHARED_DATA"), root.parent / "shared" / "data"):
        if c and (Path(c) / "binance-futures").is_dir():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        msg = "real exchange data not found: set SCALP_SHARED_DATA or place it in ../shared/data"
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def unmarked_real_data(items: Iterable[pytest.Item]) -> list[str]:
    """Tests that read the captures (through the `shared_data` fixture) but lack `real_data`."""
    return [
        item.nodeid
        for item in items
        if "shared_data" in getattr(item, "fixturenames", ()) and item.get_closest_marker("real_data") is None
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = unmarked_real_data(items)
    if unmarked:
        raise pytest.UsageError(
            "these tests read the exchange captures but are not marked @pytest.mark.real_data:\n  " + "\n  ".join(unmarked)
        )


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
