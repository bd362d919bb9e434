"""Per-update cost of the statistical indicators on real snapshots, and numba's compile time.

Snapshots come from the 2023-04 BTCUSDT capture replayed through Nautilus's OrderBook
(`tests.support.capture_book`; every `--every`-th delta batch). Each indicator is timed
alone, call by call, on the same snapshots; the funding detector on the capture's 514 markPrice updates through
Nautilus's Binance parser. The numba figures come from fresh interpreters: one with an empty
NUMBA_CACHE_DIR (compiles), then one reusing it (loads the cache).

    PYTHONPATH=. python bench/bench_stats.py [--every 4]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nautilus_trader.model.identifiers import InstrumentId

ROOT = Path(__file__).resolve().parents[1]

from scalp_nautilus.indicators import FundingArbDetector  # noqa: E402
from scalp_nautilus.indicators import HurstExponent  # noqa: E402
from scalp_nautilus.indicators import LOBFeatureVector  # noqa: E402
from scalp_nautilus.indicators import OUZScore  # noqa: E402
from scalp_nautilus.indicators import ParkinsonVolatility  # noqa: E402
from tests.support.capture_book import replay_snapshots  # noqa: E402
from tests.support.captures import capture_mark_prices  # noqa: E402
from tests.support.shared_data import CAPTURES  # noqa: E402
from tests.support.shared_data import shared_data_dir  # noqa: E402

COMPILE_PROBE = """
import time
t0 = time.perf_counter()
import numpy as np
from scalp_nautilus.indicators.hurst import block_sizes, hurst_rs
t1 = time.perf_counter()
hurst_rs(np.random.default_rng(0).normal(size=128), block_sizes(128), np.zeros(4), 0.0)
t2 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f}")
"""


def timed(calls) -> np.ndarray:
    clock = time.perf_counter_ns
    out = np.empty(len(calls))
    for i, call in enumerate(calls):
        t = clock()
        call()
        out[i] = clock() - t
    return out / 1e3


def row(name: str, us: np.ndarray) -> str:
    p50, p99 = np.percentile(us, [50, 99])
    return f"{name:<22}{len(us):>8,}{p50:>9.1f}{p99:>9.1f}{us.mean():>9.1f}{us.max():>10.1f}"


def compile_times() -> list[tuple[str, float, float]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = []
    with tempfile.TemporaryDirectory() as cache:
        env["NUMBA_CACHE_DIR"] = cache
        for label in ("cold (empty cache)", "warm (cached)"):
            res = subprocess.run([sys.executable, "-c", COMPILE_PROBE], env=env, capture_output=True, text=True, check=True)
            imp, first = map(float, res.stdout.split())
            out.append((label, imp, first))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--every", type=int, default=4, help="read a snapshot every N delta batches")
    args = parser.parse_args()
    data = shared_data_dir()
    if data is None:
        sys.exit("real exchange data not found: set SCALP_SHARED_DATA")
    paths = tuple(data / "binance-futures" / f for f in CAPTURES["usdm_2023_04"])
    t = time.perf_counter()
    snaps = [s for s in replay_snapshots(paths, every=args.every) if s.is_valid]
    span = (snaps[-1].ts_event - snaps[0].ts_event) / 1e9
    print(
        f"{len(snaps):,} snapshots over {span:.0f} s of the 2023-04 capture (every {args.every} batches; "
        f"replay {time.perf_counter() - t:.1f} s)\n"
    )

    from scalp_nautilus.indicators.hurst import block_sizes
    from scalp_nautilus.indicators.hurst import hurst_rs

    x, sizes, zeros = np.random.default_rng(1).normal(size=128), block_sizes(128), np.zeros(4)
    hurst_rs(x, sizes, zeros, 0.0)  # the first call loads (or compiles) the kernels: timed apart below
    hurst, ou, park, lob = HurstExponent(), OUZScore(), ParkinsonVolatility(), LOBFeatureVector()
    results = [
        ("HurstExponent", timed([lambda s=s: hurst.handle_book(s) for s in snaps])),
        ("OUZScore", timed([lambda s=s: ou.handle_book(s, 0.3) for s in snaps])),
        ("ParkinsonVolatility", timed([lambda s=s: park.handle_book(s) for s in snaps])),
        ("LOBFeatureVector", timed([lambda s=s: lob.handle_book(s) for s in snaps])),
    ]
    funding = FundingArbDetector()
    marks = capture_mark_prices(paths, InstrumentId.from_str("BTCUSDT-PERP.BINANCE"))
    results.append(("FundingArbDetector", timed([lambda m=m: funding.handle_funding(m) for m in marks])))
    print(f"{'per update (us)':<22}{'calls':>8}{'p50':>9}{'p99':>9}{'mean':>9}{'max':>10}")
    for name, us in results:
        print(row(name, us))
    print(
        f"(bars closed {hurst.bars.closed}, Hurst estimates {hurst.bars.closed - hurst.window}, "
        f"OU fits {ou.fits}, LOB warm {lob.initialized}, funding settlements {funding.settlements})\n"
    )

    print(row("hurst_rs kernel (n=128)", timed([lambda: hurst_rs(x, sizes, zeros, 0.0)] * 10_000)), "\n")

    print(f"{'numba (hurst kernels)':<22}{'import s':>10}{'first call s':>14}")
    for label, imp, first in compile_times():
        print(f"{label:<22}{imp:>10.3f}{first:>14.3f}")


if __name__ == "__main__":
    main()
