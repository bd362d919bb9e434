"""Per-update cost of the feature pipeline on the real Binance captures.

For each capture the events are loaded first; then the deltas are applied to a Nautilus
`OrderBook` (not timed: in a strategy the data engine does that before the callback) and, at each
batch's last delta, one `BookSnapshotBuilder.from_book` + `FeaturePipeline.on_book` is timed, as
is each `FeaturePipeline.on_trade_tick`. Reported in microseconds per book batch (builder +
indicators, and each part alone) and per trade, p50 / p90 / p99 / max.

    PYTHONPATH=. python bench/bench_features.py [--depth 10] [--repeat 3] [--captures usdm_2024_08]

The machine is shared, so each capture is replayed `--repeat` times; the table is the pass with
the lowest p99 per batch (the least disturbed by other processes), and the p99 of every pass is
printed beside it. Mind the load average printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.enums import BookType

from scalp_nautilus.book import BookSnapshotBuilder
from scalp_nautilus.features import FeaturePipeline
from scalp_nautilus.indicators import VPIN
from scalp_nautilus.indicators.settings import VPINSettings
from scalp_nautilus.models import LSTMPredictor
from tests.support.captures import F_LAST
from tests.support.captures import load
from tests.support.shared_data import CAPTURES
from tests.support.shared_data import shared_data_dir


def run(capture, depth: int, limit: int | None = None, lstm: LSTMPredictor | None = None) -> dict[str, np.ndarray]:
    """Per-event timings; `lstm` replaces the pipeline's default predictor (the fallback)."""
    book = OrderBook(capture.instrument.id, BookType.L2_MBP)
    builder = BookSnapshotBuilder.for_instrument(capture.instrument, depth=depth)
    pipeline = FeaturePipeline(
        VPIN(VPINSettings(volume_per_hour=capture.volume_per_second() * 60, window_minutes=60.0)), lstm=lstm
    )
    clock = time.perf_counter_ns
    apply, built, on_book, on_trade = [], [], [], []
    batch_start = None
    for event in capture.events[:limit]:
        if isinstance(event, OrderBookDelta):
            t = clock()
            book.apply_delta(event)
            batch_start = t if batch_start is None else batch_start
            if not event.flags & F_LAST:
                continue
            t0 = clock()
            snapshot = builder.from_book(book, event.ts_event, event.ts_init, event.sequence)
            t1 = clock()
            pipeline.on_book(snapshot)
            t2 = clock()
            apply.append(t0 - batch_start)
            built.append(t1 - t0)
            on_book.append(t2 - t1)
            batch_start = None
        else:
            t0 = clock()
            pipeline.on_trade_tick(event)
            on_trade.append(clock() - t0)
    us = {k: np.array(v) / 1e3 for k, v in (("apply", apply), ("builder", built), ("indicators", on_book), ("trade", on_trade))}
    us["batch"] = us["builder"] + us["indicators"]
    return us


def line(label: str, values: np.ndarray) -> str:
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return f"  {label:<38s} p50 {p50:7.1f}   p90 {p90:7.1f}   p99 {p99:7.1f}   max {values.max():8.1f}   (n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depth", type=int, default=10, help="snapshot levels per side")
    parser.add_argument("--repeat", type=int, default=3, help="passes per capture")
    parser.add_argument("--captures", nargs="*", default=list(CAPTURES), choices=list(CAPTURES))
    args = parser.parse_args()
    data = shared_data_dir()
    if data is None:
        sys.exit("real exchange data not found: set SCALP_SHARED_DATA or place it in ../shared/data")
    captures = [load(name, tuple(data / "binance-futures" / f for f in CAPTURES[name])) for name in args.captures]
    run(captures[0], args.depth, limit=20_000)  # numba dispatch and caches warm before timing
    print(f"depth {args.depth}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; microseconds")
    for capture in captures:
        passes = [run(capture, args.depth) for _ in range(args.repeat)]
        p99s = [np.percentile(us["batch"], 99) for us in passes]
        us = passes[int(np.argmin(p99s))]
        print(f"{capture.name} ({capture.instrument.id}); p99 per batch of each pass: " + ", ".join(f"{p:.1f}" for p in p99s))
        print(line("per book batch: builder + indicators", us["batch"]))
        print(line("  builder (from_book) alone", us["builder"]))
        print(line("  indicators (on_book) alone", us["indicators"]))
        print(line("per trade (on_trade_tick)", us["trade"]))
        print(line("[Nautilus apply_delta, whole batch]", us["apply"]))


if __name__ == "__main__":
    main()
