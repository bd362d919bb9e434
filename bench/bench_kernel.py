"""The compiled feature update's cost per book batch (issue 22: p99 <= 5 µs a batch).

The feature replay's kernel (`FeaturePipeline.replay_chunk`: the trades stamped before the batch,
the snapshot builder's band logic, the 14 features, the row) is called here one book batch at a
time over a catalog, instead of a record batch at a time, and each call is timed. A call also pays
a fixed cost that a batch of the real replay does not: Python's call into numba (30 arguments
unboxed) and the pipeline's per-call bookkeeping. It is measured by calls that process no batch
(`--empty` of them, interleaved), and its median is subtracted from each call: what remains is
the compiled update of that batch. The fixed cost's own percentiles are printed beside it.

Beside it, per batch, the Python path the strategy takes (`BookSnapshotBuilder.from_tops` +
`FeaturePipeline.on_book`: the snapshot object, the call, the row tuple), on the same batches in a
second pass, without Nautilus's book (which the backtest and live nodes read as well).

Funding updates are not fed (the detector is Python, once per update, not per batch), so the
rows differ from the replay's in the funding columns only; the cost per batch does not depend on
them. Wall clock (`perf_counter_ns`): run it on a quiet machine (the load average is printed).

    PYTHONPATH=. python bench/bench_kernel.py --catalog /tmp/sim1h [--minutes 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import SIM_ID
from bench_scale import _config
from bench_scale import _span


def _percentiles(label: str, ns: np.ndarray) -> str:
    us = ns / 1e3
    p50, p90, p99, p999 = np.percentile(us, [50, 90, 99, 99.9])
    return (
        f"  {label:<46} p50 {p50:6.2f}  p90 {p90:6.2f}  p99 {p99:6.2f}  p99.9 {p999:7.2f}  max {us.max():8.1f} µs"
        f"  (n={len(us):,})"
    )


def trade_args(trades) -> tuple:
    return trades.columns, trades.at, trades.more


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", required=True, help="a catalog of the simulated BTCUSDT-PERP.SIM (bench_scale.py)")
    parser.add_argument("--minutes", type=float, help="only the first N minutes of the catalog (default: all)")
    parser.add_argument("--empty", type=int, default=20_000, help="calls that process no batch (the fixed cost)")
    args = parser.parse_args()

    from scalp_nautilus.backtest.runner import catalog_instrument
    from scalp_nautilus.backtest.runner import data_configs
    from scalp_nautilus.backtest.settings import BacktestSettings
    from scalp_nautilus.backtest.settings import check_strategy_config
    from scalp_nautilus.backtest.settings import load_backtest_settings
    from scalp_nautilus.feature_replay.replay import _book_batches
    from scalp_nautilus.feature_replay.replay import _trade_columns
    from scalp_nautilus.feature_replay.replay import _Trades
    from scalp_nautilus.feature_replay.replay import builder_state
    from scalp_nautilus.indicators.mid_bars import CLOSED
    from scalp_nautilus.strategy.settings import build_builder
    from scalp_nautilus.strategy.settings import build_pipeline
    from scalp_nautilus.top_of_book import L2

    start, end = _span(args.catalog, SIM_ID, args.minutes)
    span = {k: v for k, v in (("start", start), ("end", end)) if v != "-"}
    tmp = Path(tempfile.mkdtemp(prefix="bench_kernel_"))
    settings = load_backtest_settings(_config(tmp, args.catalog, SIM_ID, chunk_size=100_000, **span), None, None)
    config = check_strategy_config(settings.strategy.config, settings.strategy.config_path, SIM_ID, "bench")
    bt = BacktestSettings(catalog=args.catalog, instrument_id=SIM_ID, start=span.get("start"), end=span.get("end"))
    catalog = bt.catalog_store.catalog()
    instrument = catalog_instrument(catalog, SIM_ID)
    configs = data_configs(bt, catalog, instrument.id)

    def fresh():
        builder = build_builder(config, instrument)
        trades = _Trades(_trade_columns(configs, 100_000, instrument.price_precision, instrument.size_precision))
        return builder, build_pipeline(config), builder_state(builder), trades

    clock = time.perf_counter_ns
    # pass 1: the kernel, one batch a call; empty calls interleaved for the fixed cost
    builder, pipeline, state, trades = fresh()
    f_columns, i_columns = pipeline.row_columns
    per_call, empty, closing, fed = [], [], [], []
    closed = pipeline.bars._n[CLOSED : CLOSED + 1]  # the mid bars closed so far (a view)
    every = 0
    for _, tops, ts_inits, ts_events, sequences, _ in _book_batches(configs, L2, builder, 100_000):
        n = len(tops.row)
        out_f = np.empty((n, len(f_columns)), order="F")
        out_i = np.empty((n, len(i_columns)), dtype=np.int64, order="F")
        read = np.zeros((n, 2), dtype=np.bool_)
        every = max(1, n // max(1, args.empty // 20))
        if not per_call:  # numba loads (or compiles) the kernel at its first call: not timed
            pipeline.replay_chunk(state, tops, ts_events, ts_inits, sequences, n, *trade_args(trades), 0, out_f, out_i, read)
        b = 0
        while b < n:
            before, t_before = int(closed[0]), trades.at
            t0 = clock()
            b2, at = pipeline.replay_chunk(
                state, tops, ts_events, ts_inits, sequences, b, *trade_args(trades), int(ts_inits[b]), out_f, out_i, read
            )
            t1 = clock()
            trades.at = at
            if b2 == b:  # the trades ran out before the batch: the next chunk of them
                trades.refill()
                continue
            if b2 - b == 1:  # batches sharing one stamp go in one call: not a batch's cost
                per_call.append(t1 - t0)
                closing.append(int(closed[0]) != before)
                fed.append(at - t_before)
            b = b2
            if b % every == 0:
                t0 = clock()
                pipeline.replay_chunk(state, tops, ts_events, ts_inits, sequences, n, *trade_args(trades), 0, out_f, out_i, read)
                empty.append(clock() - t0)
    calls, fixed = np.array(per_call), np.array(empty)
    kernel = calls - np.median(fixed)
    closing_, fed_ = np.array(closing), np.array(fed)

    # pass 2: the Python path (snapshot object, on_book, the row), the same batches
    builder, pipeline, state, trades = fresh()
    python = []
    for _, tops, ts_inits, ts_events, sequences, _ in _book_batches(configs, L2, builder, 100_000):
        ts_init, price, size, side, ts_event = trades.columns
        for b in range(len(tops.row)):
            ts = int(ts_inits[b])
            t0 = clock()
            while True:
                while trades.at < len(ts_init) and ts_init[trades.at] < ts:
                    t = trades.at
                    pipeline.on_trade(float(price[t]), float(size[t]), int(side[t]), int(ts_event[t]))
                    trades.at += 1
                if trades.at < len(ts_init) or not trades.refill():
                    break
                ts_init, price, size, side, ts_event = trades.columns
            pipeline.on_book(builder.from_tops(tops, b, int(ts_events[b]), ts, int(sequences[b])))
            python.append(clock() - t0)

    print(
        f"{args.catalog} ({start} -> {end}); load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
        f"{len(calls):,} single-batch calls"
    )
    print(_percentiles("compiled update per batch (call - fixed)", kernel))
    print(_percentiles("  batches closing a mid bar (Hurst, OU, Parkinson)", kernel[closing_]))
    print(_percentiles("  the other batches", kernel[~closing_]))
    for lo, hi in ((0, 0), (1, 4), (5, 10**9)):
        pick = ~closing_ & (fed_ >= lo) & (fed_ <= hi)
        print(_percentiles(f"    of them, with {lo}-{hi if hi < 10**9 else 'more'} trades since the last batch", kernel[pick]))
    print(_percentiles("  the call as timed (one batch)", calls))
    print(_percentiles("  the fixed cost (a call without a batch)", fixed))
    print(_percentiles("Python path per batch (trades, snapshot, on_book)", np.array(python)))


if __name__ == "__main__":
    main()
