"""Throughput of `scalp-nautilus record` against the replay venue, next to the real feeds' rates.

1. The real feeds: messages per second of each shared Binance futures capture (by receive time):
   mean, 99th percentile and peak of 1-second buckets, and the peak 100-ms bucket x 10 (bursts).
2. The recorder: the replay venue (its own process, `replay-venue --speed 10000`: as fast as it
   can send) serves a capture; the recorder runs in this process and records every stream the
   capture holds plus aggTrade. Reported: messages recorded per second of wall time between the
   first and last message, the recorder's CPU time over the same span (its CPU share of one
   core), and CPU microseconds per message, i.e. the rate one core could sustain. The venue is
   the bottleneck when the recorder's share is below 100 %.

The machine is shared (2 cores, other developers' tests running): CPU time per message is the
steadier figure; wall-clock rates vary with the load.

    python bench/bench_record.py [--captures usdm_2024_08,usdm_2023_04] [--levels 6,1]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import resource
import tempfile
import time
from collections import Counter
from pathlib import Path

import msgspec

from scalp_nautilus.capture.run import MarketCapture
from scalp_nautilus.capture.settings import CaptureSettings
from scalp_nautilus.testing.live import free_port
from scalp_nautilus.testing.live import start_venue_process
from scalp_nautilus.testing.shared_data import CAPTURES
from scalp_nautilus.testing.shared_data import shared_data_dir

_S = 1_000_000_000


def feed_rates(paths: list[Path]) -> dict:
    """1-s and 100-ms bucket counts of the capture's messages by receive time."""
    per_s: Counter = Counter()
    per_100ms: Counter = Counter()
    for path in paths:
        with gzip.open(path, "rb") as fh:
            for line in fh:
                raw = int(line[: line.find(b" ")])
                ns = raw if raw >= 10**17 else raw * 1_000  # 2023 files are in microseconds
                per_s[ns // _S] += 1
                per_100ms[ns // (_S // 10)] += 1
    counts = sorted(per_s.values())
    span = max(per_s) - min(per_s) + 1
    return {
        "messages": sum(counts),
        "mean": sum(counts) / span,
        "p99": counts[int(0.99 * (len(counts) - 1))],
        "peak_1s": counts[-1],
        "peak_100ms_x10": 10 * max(per_100ms.values()),
    }


async def record_from(url_http: str, url_ws: str, symbol: str, out: Path, level: int, idle_s: float = 3.0) -> dict:
    settings = msgspec.convert(
        {
            "out_dir": str(out),
            "compress_level": level,
            "heartbeat_s": 3600.0,
            "venues": [
                {
                    "venue": "binance-coinm" if symbol.endswith("_PERP") else "binance-usdm",
                    "symbols": [symbol],
                    "base_url_http": url_http,
                    "base_url_ws": url_ws,
                    "depth_path": "/fapi/v1/depth",
                }
            ],
            "disk": {"warn_free_gb": 0.0, "min_free_gb": 0.0},
        },
        CaptureSettings,
    )
    recorder = MarketCapture(settings)
    stamps: dict = {}

    async def watch() -> None:
        while not recorder.sessions:
            await asyncio.sleep(0.01)
        session = recorder.sessions[0]
        last_n, last_change = 0, time.monotonic()
        while time.monotonic() - last_change < (idle_s if last_n else 120.0):
            n = sum(session.messages.values())
            if n and not last_n:
                stamps["t0"], stamps["cpu0"], stamps["n0"] = time.perf_counter(), _cpu(), n
            if n != last_n:
                last_n, last_change = n, time.monotonic()
                stamps["t1"], stamps["cpu1"], stamps["n1"] = time.perf_counter(), _cpu(), n
            await asyncio.sleep(0.005)
        recorder.request_stop("bench: the venue went quiet")

    task = asyncio.create_task(watch())
    await recorder.run()
    await task
    wall = stamps["t1"] - stamps["t0"]
    n = stamps["n1"] - stamps["n0"]
    cpu = stamps["cpu1"] - stamps["cpu0"]
    size = sum(p.stat().st_size for p in out.rglob("*.gz"))
    return {
        "messages": stamps["n1"],
        "rate": n / wall,
        "cpu_share": cpu / wall,
        "cpu_us": 1e6 * cpu / n,
        "capacity": n / cpu,
        "bytes": size,
    }


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=shared_data_dir())
    ap.add_argument("--captures", default="usdm_2024_08,usdm_2023_04")
    ap.add_argument("--levels", default="6,1", help="gzip levels to try")
    args = ap.parse_args()

    print(
        "real feeds (messages per second by receive time; the shared captures' streams: depth@0ms, trade, bookTicker, markPrice)"
    )
    print(f"  {'capture':<14} {'messages':>9} {'mean':>7} {'p99 1s':>7} {'peak 1s':>8} {'peak 100ms x10':>15}")
    for name in CAPTURES:
        r = feed_rates([args.data / "binance-futures" / f for f in CAPTURES[name]])
        print(f"  {name:<14} {r['messages']:>9,} {r['mean']:>7,.0f} {r['p99']:>7,} {r['peak_1s']:>8,} {r['peak_100ms_x10']:>15,}")

    print("\nrecorder against the replay venue at --speed 10000 (venue in its own process; shared machine)")
    print(
        f"  {'capture':<14} {'gzip':>4} {'recorded':>9} {'msg/s':>8} {'CPU share':>10} {'CPU us/msg':>11} "
        f"{'msg per CPU s':>14} {'MB':>6}"
    )
    for name in args.captures.split(","):
        files = [str(args.data / "binance-futures" / f) for f in CAPTURES[name]]
        for level in map(int, args.levels.split(",")):
            port = free_port()
            venue = start_venue_process(files, 10000.0, port)
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    symbol = "BTCUSD_PERP" if name.startswith("cm") else "BTCUSDT"
                    r = asyncio.run(record_from(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", symbol, Path(tmp), level))
            finally:
                venue.terminate()
                venue.wait(10)
            print(
                f"  {name:<14} {level:>4} {r['messages']:>9,} {r['rate']:>8,.0f} {r['cpu_share']:>10.0%} "
                f"{r['cpu_us']:>11.1f} {r['capacity']:>14,.0f} {r['bytes'] / 1e6:>6.1f}"
            )


if __name__ == "__main__":
    main()
