"""`scalp-nautilus data download`: Tardis.dev's free datasets, then the Tardis import.

Tardis serves the first day of every month without an API key (``TARDIS_API_KEY`` unlocks the
rest). The network call is confined to `fetch_tardis_files`; everything after it is the ordinary
Tardis import of local files, so it is tested offline.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date
from datetime import timedelta
from pathlib import Path

from scalp_nautilus.data.catalog import CatalogWriter
from scalp_nautilus.data.tardis import import_tardis
from scalp_nautilus.errors import InputError
from scalp_nautilus.errors import RunError

log = logging.getLogger(__name__)


def tardis_file_names(exchange: str, symbol: str, day: str, data_types: list[str]) -> list[str]:
    """The names tardis-dev gives the files (its `default_file_name`), in import order."""
    from tardis_dev import default_file_name

    d = date.fromisoformat(day)
    return [default_file_name(exchange, t, d, symbol.upper(), "csv") for t in data_types]


def fetch_tardis_files(
    exchange: str, symbol: str, day: str, data_types: list[str], download_dir: Path, api_key: str
) -> list[Path]:
    """The only network access: download one day of `data_types` (skipped when already there)."""
    from tardis_dev import download_datasets

    if not api_key and date.fromisoformat(day).day != 1:
        raise InputError(f"{day}: without TARDIS_API_KEY only the first day of a month can be downloaded")
    download_datasets(
        exchange=exchange,
        data_types=data_types,
        symbols=[symbol.upper()],
        from_date=day,
        to_date=(date.fromisoformat(day) + timedelta(days=1)).isoformat(),
        api_key=api_key,
        download_dir=str(download_dir),
    )
    return [download_dir / name for name in tardis_file_names(exchange, symbol, day, data_types)]


def download_and_import(
    exchange: str,
    symbol: str,
    day: str,
    data_types: list[str],
    download_dir: Path,
    catalog: str | Path,
    api_key: str = "",
    replace: bool = False,
) -> tuple[CatalogWriter, Counter]:
    paths = fetch_tardis_files(exchange, symbol, day, data_types, Path(download_dir), api_key)
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise RunError(f"download finished without {', '.join(map(str, missing))}")
    return import_tardis(paths, exchange, symbol, catalog, replace)
