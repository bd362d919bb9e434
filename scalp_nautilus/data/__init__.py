"""Importers, the catalog writer, the simulator, the Tardis download."""

from pathlib import Path

DEFAULT_CATALOG = Path("catalog")  # the default Parquet catalog (here, without importing Nautilus: the command line's default)
