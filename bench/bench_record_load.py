"""Load test of `scalp-nautilus record`: N symbols at once in one process, from the replay venue.

The venue serves one symbol per instance, so N copies of a shared capture are made with the symbol
renamed (``BTCUSDT`` -> ``BTCAUSDT``, ``BTCBUSDT``, ...), and one process hosts N venues (one port
each, their tick and lot sizes given, as for any symbol the contract table lacks). One
``scalp-nautilus record`` process records all N (one connection and one folder per symbol).
Reported over a window: messages recorded per second (all symbols), the recorder's CPU time per
message and share of one core (``/proc/<pid>/task/*/schedstat``), its peak RSS; then, after a
SIGTERM, its exit code, and each folder imported on its own (gaps, snapshots, trades).

    python bench/bench_record_load.py [--symbols 10] [--speed 1] [--window-s 60] [--compression gzip] [--pythonpath DIR]
"""

from __future__ import annotations

import argparse
import gzip
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import msgspec
import yaml
from bench_record import sample  # bench/ is on the path when this runs as a script

from tests.support.shared_data import CAPTURES
from tests.support.shared_data import PROJECT_ROOT
from tests.support.shared_data import shared_data_dir

VENUES = """
import asyncio, sys, msgspec
from scalp_nautilus.live.venue.settings import ReplayVenueSettings
from scalp_nautilus.live.venue.thread import make_venue
files, speed = sys.argv[1].split(","), float(sys.argv[2])
async def main():
    venues = []
    for f in files:
        settings = msgspec.convert(
            {"captures": [f], "port": 0, "speed": speed, "tick_size": "0.1", "step_size": "0.001",
             "start": {"streams": ["depth"], "timeout_s": 120.0}},
            ReplayVenueSettings,
        )
        venue = make_venue(settings)
        await venue.start()
        venues.append(venue)
    print(" ".join(str(v.port) for v in venues), flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def renamed_copies(source: Path, n: int, out: Path) -> list[tuple[str, Path]]:
    copies = []
    data = gzip.decompress(source.read_bytes())
    for i in range(n):
        symbol = f"BTC{chr(65 + i)}USDT"
        path = out / f"{symbol.lower()}.gz"
        path.write_bytes(gzip.compress(data.replace(b"BTCUSDT", symbol.encode()).replace(b"btcusdt", symbol.lower().encode()), 1))
        copies.append((symbol, path))
    return copies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=shared_data_dir())
    ap.add_argument("--capture", default="usdm_2024_08")
    ap.add_argument("--symbols", type=int, default=10)
    ap.add_argument("--speed", type=float, default=1.0, help="each venue's replay speed (1: the capture's own pace)")
    ap.add_argument("--window-s", type=float, default=60.0)
    ap.add_argument("--compression", default="gzip")
    ap.add_argument("--pythonpath", type=Path, default=PROJECT_ROOT, help="the recorder's checkout")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        copies = renamed_copies(args.data / "binance-futures" / CAPTURES[args.capture][0], args.symbols, tmp)
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        venues = subprocess.Popen(
            [sys.executable, "-c", VENUES, ",".join(str(p) for _, p in copies), str(args.speed)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            ports = [int(p) for p in venues.stdout.readline().split()]
            config = tmp / "record.yaml"
            config.write_text(
                yaml.safe_dump(
                    {
                        "out_dir": str(tmp / "captures"),
                        "compression": args.compression,
                        "venues": [
                            {
                                "venue": "binance-usdm",
                                "symbols": [symbol],
                                "base_url_http": f"http://127.0.0.1:{port}",
                                "base_url_ws": f"ws://127.0.0.1:{port}",
                            }
                            for (symbol, _), port in zip(copies, ports, strict=True)
                        ],
                        "disk": {"warn_free_gb": 0.0, "min_free_gb": 0.0},
                    }
                )
            )
            log = open(tmp / "record.log", "wb")  # noqa: SIM115 (closed below)
            recorder = subprocess.Popen(
                [sys.executable, "-m", "scalp_nautilus.cli", "record", "--config", str(config)],
                env={**env, "PYTHONPATH": str(args.pythonpath)},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=tmp,
            )

            def lines() -> int:
                return sum(msgspec.json.decode(p.read_bytes())["lines"] for p in (tmp / "captures").rglob("*.json"))

            try:
                r = sample(recorder, lines, args.window_s)
            finally:
                recorder.send_signal(signal.SIGTERM)
                code = recorder.wait(60)
                log.close()
        finally:
            venues.terminate()
            venues.wait(10)
        print(
            f"{args.symbols} symbols from {args.capture} at speed {args.speed:g} ({args.compression}): "
            f"{r['messages']:,} messages in the window, {r['rate']:,.0f} msg/s, CPU {r['cpu_share']:.1%} of a core, "
            f"{r['cpu_us']:.1f} CPU us/msg, peak RSS {r['rss_mb']:.0f} MB; exit {code} after SIGTERM"
        )
        import logging

        from scalp_nautilus.capture.writer import capture_files
        from scalp_nautilus.capture.writer import read_sidecar
        from scalp_nautilus.data.binance_capture import BinanceCaptureImporter

        logging.disable(logging.WARNING)  # the renamed symbols' inferred-spec warning, ten times

        for symbol, _ in copies:
            files = capture_files(tmp / "captures" / "binance-usdm" / symbol)
            imp = BinanceCaptureImporter(files, symbol=symbol)
            trades = sum(1 for e in imp.events() if type(e).__name__ == "TradeTick")
            closed = all((read_sidecar(f) or {}).get("closed") for f in files)
            s = imp.stats
            print(
                f"  {symbol}: {len(files)} file(s) closed {closed}; lines {s.lines:,}, snapshots applied "
                f"{s.snapshots_applied}, sequence gaps {s.sequence_gaps}, trades {trades:,}, truncated {s.truncated_files}"
            )


if __name__ == "__main__":
    main()
