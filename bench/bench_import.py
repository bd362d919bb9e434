"""Import throughput of the Binance capture importer on the real captures.

Prints messages (lines) per second for parsing + book sync + Nautilus object creation, and for the
whole import into a fresh Parquet catalog, as the median and best of several runs in one process.

    python bench/bench_import.py [--repeat 5] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from scalp_nautilus.data.binance_capture import BinanceCaptureImporter
from scalp_nautilus.data.catalog import write_to_catalog
from tests.support.shared_data import CAPTURES
from tests.support.shared_data import shared_data_dir


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--data", type=Path, default=shared_data_dir())
    ap.add_argument("--captures", default="usdm_2023_04,usdm_2024_08,cm_2024_08")
    args = ap.parse_args()
    print(f"{'capture':<14} {'lines':>8} {'objects':>9} {'parse msg/s (median/best)':>28} {'+catalog msg/s (median/best)':>30}")
    for name in args.captures.split(","):
        paths = [args.data / "binance-futures" / f for f in CAPTURES[name]]
        parse, full = [], []
        for _ in range(args.repeat):
            imp = BinanceCaptureImporter(paths)
            t0 = time.perf_counter()
            n_obj = sum(1 for _ in imp.events())
            parse.append(imp.stats.lines / (time.perf_counter() - t0))
            with tempfile.TemporaryDirectory() as tmp:
                imp = BinanceCaptureImporter(paths)
                t0 = time.perf_counter()
                write_to_catalog(imp.events(), imp.instrument, tmp)
                full.append(imp.stats.lines / (time.perf_counter() - t0))
        print(
            f"{name:<14} {imp.stats.lines:>8,} {n_obj:>9,} "
            f"{statistics.median(parse):>14,.0f} / {max(parse):>11,.0f} {statistics.median(full):>16,.0f} / {max(full):>11,.0f}",
        )


if __name__ == "__main__":
    main()
