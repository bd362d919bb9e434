"""Research at month scale (issue 21 part 6): `features` and `research edge` over N days of
top-of-book data, with the wall time and peak RSS of every stage.

The days are BTCUSDT USD-M archive files synthesised by `bench_archive.make_data` (2.6 M trades and
11 M bookTicker rows a day, deterministic per day), imported into a fresh catalog
(`import_archive`), replayed into feature rows (`scalp-nautilus features`, one row per top-of-book
update) and read by `scalp-nautilus research edge` (its rows reduced while reading:
`edge.Reduction`). Each stage runs in its own process, so its peak RSS is its own.

`--synth-features` writes the feature rows directly (recorder schema, one row per bookTicker row
of the synthesised days, moving values in every column research reads) instead of replaying the
catalog: it measures `research edge` alone, when the replay is not wanted or not available.

    python bench/bench_month.py --days 1 [7 30] [--scratch /tmp/scalp_bench_month] [--archive-dir DIR]
        [--sample-ms 200 | --sample-ms MS_1 MS_7 ...] [--boot 500] [--synth-features] [--keep]
    python bench/bench_month.py --research-only DAY.parquet --days 1 7 30 --sample-ms 5000 35000 150000

`--research-only FILE` runs `research edge` alone over a day's feature file given N times (N of
`--days`): the same rows and work as N days, with one day on disk (a month of feature rows is tens
of GB).

`--archive-dir` reuses synthesised zips (bench_archive's `--data-dir`: the same files); everything
else is written under `--scratch` and deleted at the end unless `--keep`. Check `df -h` first: a
day takes about 0.26 GB of zips, 0.29 GB of catalog and several GB of feature rows.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from bench_archive import FIRST_DAY
from bench_archive import make_data

INSTRUMENT = "BTCUSDT-PERP.BINANCE"
DAY_NS = 86_400 * 10**9


def stage_import(archive: Path, days: int, catalog: Path) -> dict:
    from scalp_nautilus.data.binance_archive import archive_spec
    from scalp_nautilus.data.binance_archive import find_files
    from scalp_nautilus.data.binance_archive import import_archive

    files = find_files(archive, "um", "BTCUSDT", ["trades", "bookTicker"], FIRST_DAY, FIRST_DAY + timedelta(days=days - 1))
    result = import_archive(files, archive_spec("um", "BTCUSDT").to_instrument(), catalog)
    return {"rows": sum(s.imported for s in result.stats.values())}


def stage_features(catalog: Path, out: Path) -> dict:
    from scalp_nautilus.cli import main

    if main(["features", "--catalog", str(catalog), "--instrument", INSTRUMENT, "--out", str(out)]):
        raise SystemExit("features failed")
    import pyarrow.parquet as pq

    return {"rows": pq.ParquetFile(out).metadata.num_rows}


def stage_synth_features(days: int, rows_per_day: int, out: Path) -> dict:
    """Recorder-schema rows, one per bookTicker row: a mid on the 0.10 tick, signals that move."""
    import numpy as np

    from scalp_nautilus.feature_recorder import FeatureRecorder
    from scalp_nautilus.feature_table import COLUMNS
    from tests.support.archive_files import day_start_ms

    chunk = 1 << 20
    with FeatureRecorder(out) as recorder:
        for day in range(days):
            rng = np.random.default_rng(day)
            t0 = day_start_ms(FIRST_DAY + timedelta(days=day)) * 1_000_000
            ts = t0 + np.sort(rng.integers(0, DAY_NS, rows_per_day))
            ticks = 420_000 + np.cumsum(rng.integers(-1, 2, rows_per_day))
            for a in range(0, rows_per_day, chunk):
                n = min(chunk, rows_per_day - a)
                kinds = {int: np.int64, float: np.float64, bool: bool, str: object}
                cols: dict = {c.name: np.zeros(n, kinds[c.kind]) for c in COLUMNS}
                cols["cold"][:] = ""
                for c in COLUMNS:
                    if c.kind is float:
                        cols[c.name] = rng.normal(0, 1, n)
                cols.update(
                    ts_event=ts[a : a + n],
                    mid=(ticks[a : a + n] + 0.5) / 10.0,
                    book_valid=np.ones(n, bool),
                    warm=np.ones(n, bool),
                    hurst=rng.uniform(0.3, 0.7, n),
                    vpin=rng.uniform(0, 1, n),
                    vpin_regime=rng.integers(0, 4, n),
                    parkinson_vol=rng.uniform(1e-4, 2e-4, n),
                    realized_vol=rng.uniform(1e-4, 2e-4, n),
                    spread_bps=np.full(n, 0.1 / 42_000 * 1e4),
                    depth_imbalance=rng.uniform(0, 1, n),
                    ensemble_confidence=rng.uniform(0, 1, n),
                    ou_active=rng.random(n) < 0.5,
                    trade_side=rng.choice(np.array([-1, 1]), n),
                    funding_z=np.zeros(n),
                    update_id=np.arange(a, a + n) + day * rows_per_day,
                )
                recorder.record_columns(cols)
    return {"rows": recorder.rows}


def stage_research(features: list[Path], out: Path, sample_ms: float, boot: int) -> dict:
    from scalp_nautilus.cli import main

    argv = ["research", "edge", "--features", *map(str, features), "--out", str(out)]
    argv += ["--sample-ms", str(sample_ms), "--boot", str(boot), "--max-boot", str(boot)]
    if main(argv):
        raise SystemExit("research edge failed")
    import pandas as pd

    return {"rows": int(pd.read_csv(out / "edge.csv")["n"].max())}


def child(args) -> None:
    scratch = args.scratch / f"{args.days}d"
    t0, c0 = time.perf_counter(), time.process_time()
    if args.child == "import":
        out = stage_import(args.archive_dir, args.days, scratch / "catalog")
    elif args.child == "features":
        out = stage_features(scratch / "catalog", scratch / "features.parquet")
    elif args.child == "synth-features":
        out = stage_synth_features(args.days, args.book_tickers, scratch / "features.parquet")
    else:
        files = [args.research_only] * args.days if args.research_only else [scratch / "features.parquet"]
        out = stage_research(files, scratch / "research", args.sample_ms, args.boot)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out.update(wall=time.perf_counter() - t0, cpu=time.process_time() - c0, peak_kb=peak_kb)
    print(json.dumps(out))


def size_gb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e9 if path.is_dir() else path.stat().st_size / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", nargs="+", type=int, default=[1])
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/scalp_bench_month"))
    ap.add_argument("--archive-dir", type=Path, help="synthesised zips to reuse (default: under --scratch)")
    ap.add_argument("--trades", type=int, default=2_600_000, help="trades a day")
    ap.add_argument("--book-tickers", type=int, default=11_000_000, help="bookTicker rows a day")
    ap.add_argument(
        "--sample-ms",
        nargs="+",
        type=float,
        default=[200.0],
        help="research edge's --sample-ms: one value, or one per --days (e.g. 5000 35000 to keep the sampled rows equal)",
    )
    ap.add_argument("--boot", type=int, default=500, help="research edge's --boot and --max-boot")
    ap.add_argument("--synth-features", action="store_true", help="write the feature rows instead of replaying the catalog")
    ap.add_argument(
        "--research-only",
        type=Path,
        metavar="FEATURES",
        help="only research edge, over this (a day's) feature file given N times for each N of --days",
    )
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--child-days", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.archive_dir = args.archive_dir or args.scratch / "archive"
    if args.child:
        args.days, args.sample_ms = args.child_days, args.sample_ms[0]
        child(args)
        return
    print(f"{shutil.disk_usage(args.scratch.parent).free / 1e9:.0f} GB free under {args.scratch.parent}", flush=True)
    stages = ["synth-features", "research"] if args.synth_features else ["import", "features", "research"]
    stages = ["research"] if args.research_only else stages
    if stages[0] == "import":
        print(f"synthesising {max(args.days)} day(s) of archive zips into {args.archive_dir}", flush=True)
        make_data(args.archive_dir, max(args.days), args.trades, args.book_tickers)
    print(f"{'days':>4} {'stage':<15} {'rows':>13} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12} {'output GB':>10}", flush=True)
    results = []
    try:
        for days in args.days:
            for stage in stages:
                cmd = [sys.executable, __file__, "--child", stage, "--child-days", str(days), "--scratch", str(args.scratch)]
                cmd += ["--archive-dir", str(args.archive_dir), "--book-tickers", str(args.book_tickers)]
                cmd += ["--research-only", str(args.research_only)] if args.research_only else []
                sample_ms = args.sample_ms[args.days.index(days)] if len(args.sample_ms) > 1 else args.sample_ms[0]
                cmd += ["--sample-ms", str(sample_ms), "--boot", str(args.boot)]
                (args.scratch / f"{days}d").mkdir(parents=True, exist_ok=True)
                run = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if run.returncode:
                    print(f"{days:>4} {stage:<15} failed:\n{run.stderr[-3000:]}", flush=True)
                    break
                r = json.loads(run.stdout.strip().splitlines()[-1])
                output = {"import": "catalog", "research": "research"}.get(stage, "features.parquet")
                r.update(days=days, stage=stage, output_gb=size_gb(args.scratch / f"{days}d" / output))
                results.append(r)
                print(
                    f"{days:>4} {stage:<15} {r['rows']:>13,} {r['wall']:>8.1f} {r['cpu']:>8.1f} {r['peak_kb'] / 1024:>12.0f} "
                    f"{r['output_gb']:>10.2f}",
                    flush=True,
                )
            if not args.keep:
                shutil.rmtree(args.scratch / f"{days}d", ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(args.scratch / f"{days}d", ignore_errors=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
