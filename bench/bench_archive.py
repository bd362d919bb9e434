"""Import throughput and peak memory of the Binance archive import, for a synthesised day and week.

A day is BTCUSDT USDT-M futures at a realistic size: 2.6 M trades (issue 21's typical day) and
11 M bookTicker rows (the shared captures' rate: 44,205 / 52,260 / 66,089 bookTickers over 8.6 /
8.0 / 5.8 minutes, about 130 a second). The files are written once into `--data-dir` in the
archive's layout (zips with CHECKSUMs, made by `tests.support.archive_files`) and reused.

Each import runs in its own process (`--child`), so its peak RSS is its own; the baseline is a
process that only imports the modules. Rows per second count every CSV row read (trades +
bookTicker), over the wall time of `import_archive` into a fresh catalog.

    python bench/bench_archive.py [--days 1 7] [--data-dir /tmp/scalp_bench_archive] [--repeat 1]
        [--trades 2600000] [--book-tickers 11000000]

Throughput on a shared machine is noisy: compare the day and the week of one run (the ratio is
what says whether memory and speed stay flat), and re-measure on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from datetime import timedelta
from pathlib import Path

FIRST_DAY = date(2024, 1, 1)


def make_data(root: Path, days: int, trades: int, tickers: int) -> None:
    from scalp_nautilus.data.binance_archive import ArchiveFile
    from tests.support.archive_files import write_synth_day

    for i in range(days):
        day = FIRST_DAY + timedelta(days=i)
        for kind, n, first in (
            ("trades", trades, 4_000_000_000 + i * trades),
            ("bookTicker", tickers, 3 * 10**12 + i * 50 * tickers),
        ):
            target = root / ArchiveFile(day, kind, "um", "BTCUSDT", "daily").url_path
            marker = target.with_name(target.name + f".{n}.done")
            if marker.exists():
                continue
            t0 = time.perf_counter()
            write_synth_day(root, day, kind, n, seed=i, first_id=first)
            marker.touch()
            print(f"  wrote {target.name} ({n:,} rows) in {time.perf_counter() - t0:.0f} s", flush=True)


def child(root: Path, days: int) -> None:
    from scalp_nautilus.data.binance_archive import archive_spec
    from scalp_nautilus.data.binance_archive import find_files
    from scalp_nautilus.data.binance_archive import import_archive

    last = FIRST_DAY + timedelta(days=days - 1)
    files = find_files(root, "um", "BTCUSDT", ["trades", "bookTicker"], FIRST_DAY, last)
    instrument = archive_spec("um", "BTCUSDT").to_instrument()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        result = import_archive(files, instrument, Path(tmp) / "catalog")
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        parquet = sum(f.stat().st_size for f in (Path(tmp) / "catalog").rglob("*.parquet"))
    rows = {kind: s.rows for kind, s in result.stats.items()}
    imported = sum(s.imported for s in result.stats.values())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "rows": rows,
                "imported": imported,
                "wall": wall,
                "cpu": cpu,
                "rss_before_kb": before,
                "peak_kb": peak,
                "parquet": parquet,
            }
        )
    )


def baseline_kb() -> int:
    code = "import resource, scalp_nautilus.data.binance_archive; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", nargs="+", type=int, default=[1, 7])
    ap.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "scalp_bench_archive")
    ap.add_argument("--trades", type=int, default=2_600_000, help="trades a day")
    ap.add_argument("--book-tickers", type=int, default=11_000_000, help="bookTicker rows a day")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--clean", action="store_true", help="delete the synthesised files afterwards")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.data_dir, args.child)
        return
    print(f"synthesising {max(args.days)} day(s) into {args.data_dir} (kept for later runs)", flush=True)
    make_data(args.data_dir, max(args.days), args.trades, args.book_tickers)
    base = baseline_kb()
    print(f"baseline process (modules imported): {base / 1024:.0f} MB peak RSS")
    widths = {"span": -6, "rows": 12, "wall s": 8, "CPU s": 7, "rows/s": 11, "CPU rows/s": 11, "peak RSS MB": 12}
    print(" ".join(f"{k:<{-w}}" if w < 0 else f"{k:>{w}}" for k, w in {**widths, "above base": 11, "Parquet MB": 11}.items()))
    results = {}
    for days in args.days:
        for _ in range(args.repeat):
            command = [sys.executable, __file__, "--child", str(days), "--data-dir", str(args.data_dir)]
            out = subprocess.run(command, check=False, capture_output=True, text=True)
            if out.returncode:
                sys.exit(out.stderr)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            n = sum(r["rows"].values())
            results.setdefault(days, []).append(r)
            print(
                f"{days:>2} d   {n:>12,} {r['wall']:>8.1f} {r['cpu']:>7.1f} {n / r['wall']:>11,.0f} {n / r['cpu']:>11,.0f} "
                f"{r['peak_kb'] / 1024:>12.0f} {(r['peak_kb'] - base) / 1024:>11.0f} {r['parquet'] / 1e6:>11.0f}",
                flush=True,
            )
    if len(args.days) > 1:
        lo, hi = min(args.days), max(args.days)
        a, b = results[lo][-1], results[hi][-1]
        rate = (sum(b["rows"].values()) / b["wall"]) / (sum(a["rows"].values()) / a["wall"])
        print(f"{hi} d / {lo} d: peak RSS x{b['peak_kb'] / a['peak_kb']:.2f}, rows/s x{rate:.2f}")
    if args.clean:
        shutil.rmtree(args.data_dir)


if __name__ == "__main__":
    main()
