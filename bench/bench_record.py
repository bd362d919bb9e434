"""Cost of `scalp-nautilus record` against the replay venue, next to the real feeds' rates.

1. The real feeds: messages per second of each shared Binance futures capture (by receive time):
   mean, 99th percentile and peak of 1-second buckets, and the peak 100-ms bucket x 10 (bursts).
2. The command line: wall time of ``scalp-nautilus --help`` and ``record --help`` (median of runs).
3. The recorder: ``scalp-nautilus record`` in its own process (as a user runs it) records from the
   replay venue (``replay-venue``, another process) at three message rates: the capture's own pace
   (``real``), a target rate in messages per second (the venue's ``--speed`` set to target / the
   capture's mean rate), and ``max`` (``--speed 10000``: as fast as the venue sends, which is then
   the bottleneck). Measured over a window from the recorder's first sidecar update with messages
   to its last: messages recorded per second of wall time, the recorder's CPU time over the same
   span (``/proc/<pid>/task/*/schedstat``, nanoseconds, every thread) per message and as a share of
   one core, its peak RSS (``VmHWM``), and the compressed bytes per message, scaled to bytes per day
   at the capture's mean real rate.

The machine is shared (2 cores, other developers' tests running): CPU time per message is the
steadier figure; wall-clock rates vary with the load. ``--pythonpath A,B,...`` runs the recorder from
other checkouts (e.g. older commits extracted with ``git archive``), each at each rate, interleaved,
for before/after figures measured in one run of this script (a checkout that refuses an option, such
as ``compression`` before it existed, is reported as not measured); the venue always runs from this
checkout. ``--floor [aiohttp,picows,socket]`` adds bare clients that discard every message (see
`FLOORS`): what receiving alone costs.

    PYTHONPATH=. python bench/bench_record.py [--capture usdm_2024_08] [--rates real,5000,max] [--window-s 40]
        [--compression gzip,zstd] [--streams depth@0ms,trade,...] [--pythonpath DIR,DIR] [--floor [aiohttp,picows,socket]]
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import msgspec
import yaml

from tests.support.live import free_port
from tests.support.live import start_venue_process
from tests.support.shared_data import CAPTURES
from tests.support.shared_data import PROJECT_ROOT
from tests.support.shared_data import shared_data_dir

_S = 1_000_000_000
DAY_S = 86_400


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


def help_times(pythonpath: Path, runs: int) -> dict[str, float]:
    """Median wall seconds of `scalp-nautilus --help` and `record --help` (a fresh interpreter each)."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    out = {}
    for label, args in (("--help", ["--help"]), ("record --help", ["record", "--help"])):
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            # From the checkout's folder: `-m` puts the working directory first on the path.
            subprocess.run(
                [sys.executable, "-m", "scalp_nautilus.cli", *args],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
                cwd=pythonpath,
            )
            times.append(time.perf_counter() - t0)
        out[label] = statistics.median(times)
    return out


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of `pid`, ns (first field of each thread's schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that just ended
    return total


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# The floors: what receiving alone costs, subscribing to the same streams and discarding every
# message; each writes its count every 0.2 s. `aiohttp`: uvloop + aiohttp's WebSocket client (the
# recorder's until this run's change); `picows`: uvloop + picows (Cython frame parser, a callback per
# frame); `socket`: no event loop and no WebSocket library, a blocking socket read and a walk over
# the frame headers in Python (what one process wake-up costs: the kernel's part and a few
# Python lines).
FLOORS = {
    "aiohttp": """
import asyncio, sys, time, aiohttp, uvloop, json
url, streams, out = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
async def main():
    n, last = 0, 0.0
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url, max_msg_size=0, decode_text=False) as ws:
            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": streams, "id": 1}))
            async for msg in ws:
                n += 1
                now = time.monotonic()
                if now - last > 0.2:
                    last = now
                    with open(out, "w") as fh:
                        fh.write(str(n))
uvloop.run(main())
""",
    "picows": """
import sys, time, json, uvloop
from picows import ws_connect, WSListener, WSMsgType
url, streams, out = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
class Listener(WSListener):
    n, last = 0, 0.0
    def on_ws_connected(self, transport):
        transport.send(WSMsgType.TEXT, json.dumps({"method": "SUBSCRIBE", "params": streams, "id": 1}).encode())
    def on_ws_frame(self, transport, frame):
        frame.get_payload_as_bytes()
        self.n += 1
        now = time.monotonic()
        if now - self.last > 0.2:
            self.last = now
            with open(out, "w") as fh:
                fh.write(str(self.n))
async def main():
    transport, _ = await ws_connect(Listener, url, max_frame_size=1 << 30)
    await transport.wait_disconnected()
uvloop.run(main())
""",
    "socket": """
import base64, json, os, socket, struct, sys, time
from urllib.parse import urlsplit
url, streams, out = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
u = urlsplit(url)
s = socket.create_connection((u.hostname, u.port))
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(f"GET {u.path} HTTP/1.1\\r\\nHost: {u.hostname}:{u.port}\\r\\nUpgrade: websocket\\r\\n"
          f"Connection: Upgrade\\r\\nSec-WebSocket-Key: {key}\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n".encode())
data = b""
while b"\\r\\n\\r\\n" not in data:
    data += s.recv(4096)
data = bytearray(data[data.index(b"\\r\\n\\r\\n") + 4:])
payload = json.dumps({"method": "SUBSCRIBE", "params": streams, "id": 1}).encode()
mask = os.urandom(4)
head = bytes([0x81, 0xFE]) + struct.pack(">H", len(payload)) if len(payload) >= 126 else bytes([0x81, 0x80 | len(payload)])
s.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
n, last, chunk = 0, 0.0, bytearray(1 << 20)
while k := s.recv_into(chunk):
    data += chunk[:k]
    i = 0
    while len(data) - i >= 2:
        size, head = data[i + 1] & 0x7F, 2
        if size == 126:
            if len(data) - i < 4:
                break
            size, head = struct.unpack_from(">H", data, i + 2)[0], 4
        elif size == 127:
            if len(data) - i < 10:
                break
            size, head = struct.unpack_from(">Q", data, i + 2)[0], 10
        if len(data) - i < head + size:
            break
        i += head + size
        n += 1
    del data[:i]
    now = time.monotonic()
    if now - last > 0.2:
        last = now
        with open(out, "w") as fh:
            fh.write(str(n))
""",
}


def floor(client: str, port: int, symbol: str, streams: list[str], out: Path, window_s: float) -> dict:
    """A bare client's CPU per message over the same kind of window as `record`."""
    count = out / "count"
    names = ",".join(f"{symbol.lower()}@{s}" for s in streams)
    proc = subprocess.Popen([sys.executable, "-c", FLOORS[client], f"ws://127.0.0.1:{port}/stream", names, str(count)])
    try:
        return sample(proc, lambda: int(count.read_text() or 0) if count.exists() else 0, window_s)
    finally:
        proc.terminate()
        proc.wait(30)


def sample(proc: subprocess.Popen, messages, window_s: float) -> dict:
    """Sample (wall, CPU, messages) of `proc` whenever its message count changes, from the first
    message until `window_s` later or 3 s without a change."""
    first = last = None
    last_change = time.monotonic()
    seen = -1
    while True:
        time.sleep(0.05)
        if proc.poll() is not None:
            raise RuntimeError(f"the measured process exited ({proc.returncode})")
        try:
            n = messages()
        except (ValueError, OSError, msgspec.DecodeError, KeyError):
            continue
        sample = (time.perf_counter(), cpu_ns(proc.pid), n)
        if n and n != seen:
            seen = n
            last_change = time.monotonic()
            if first is None:
                first = sample
            last = sample
        if first is not None and (last[0] - first[0] >= window_s or time.monotonic() - last_change > 3.0):
            break
        if first is None and time.monotonic() - last_change > 120:
            raise RuntimeError("no message in 120 s")
    rss = peak_rss_mb(proc.pid)
    assert first is not None and last is not None
    wall, n, cpu = last[0] - first[0], last[2] - first[2], (last[1] - first[1]) / 1e9
    return {
        "messages": n,
        "rate": n / wall if wall > 0 else float("nan"),
        "cpu_share": cpu / wall if wall > 0 else float("nan"),
        "cpu_us": 1e6 * cpu / n if n else float("nan"),
        "rss_mb": rss,
    }


def record(pythonpath: Path, port: int, symbol: str, streams: list[str], out: Path, compression: str, window_s: float) -> dict:
    """Run `scalp-nautilus record` against the venue on `port`; sample its sidecar and CPU until
    `window_s` after the first messages, or until the feed stops for 3 s."""
    settings = {
        "out_dir": str(out / "captures"),
        "heartbeat_s": 3600.0,
        "venues": [
            {
                "venue": "binance-coinm" if symbol.endswith("_PERP") else "binance-usdm",
                "symbols": [symbol],
                "streams": streams,
                "base_url_http": f"http://127.0.0.1:{port}",
                "base_url_ws": f"ws://127.0.0.1:{port}",
                "depth_path": "/fapi/v1/depth",
            }
        ],
        "disk": {"warn_free_gb": 0.0, "min_free_gb": 0.0},
    }
    if compression != "gzip":  # the key does not exist before zstd was added: older checkouts refuse it
        settings["compression"] = compression
    config = out / "record.yaml"
    config.write_text(yaml.safe_dump(settings))
    log = open(out / "record.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "scalp_nautilus.cli", "record", "--config", str(config)],
        env={**os.environ, "PYTHONPATH": str(pythonpath)},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=out,
    )
    folder = out / "captures" / settings["venues"][0]["venue"] / symbol

    def lines() -> int:
        sides = sorted(folder.glob("*.json")) if folder.is_dir() else []
        return sum(msgspec.json.decode(side.read_bytes())["lines"] for side in sides)

    try:
        r = sample(proc, lines, window_s)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    files = [p for p in folder.iterdir() if not p.name.endswith(".json")]
    size = sum(p.stat().st_size for p in files)
    total = lines()
    return {**r, "bytes_per_msg": size / total if total else float("nan"), "exit": proc.returncode}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=shared_data_dir())
    ap.add_argument("--capture", default="usdm_2024_08", help="the capture the venue serves")
    ap.add_argument("--rates", default="real,5000,max", help="real, max or messages per second")
    ap.add_argument("--window-s", type=float, default=40.0, help="measurement window per rate (at most)")
    ap.add_argument("--compression", default="gzip", help="comma-separated: gzip, zstd")
    ap.add_argument("--streams", default="depth@0ms,trade,bookTicker,markPrice@1s", help="the recorder's streams")
    ap.add_argument(
        "--pythonpath",
        default=str(PROJECT_ROOT),
        help="comma-separated checkouts the recorder runs from, each measured in turn at each rate (before/after in one run)",
    )
    ap.add_argument("--help-runs", type=int, default=5)
    ap.add_argument(
        "--floor",
        nargs="?",
        const=",".join(FLOORS),
        default="",
        help=f"also measure bare clients that discard every message: some of {', '.join(FLOORS)} (all without a value)",
    )
    args = ap.parse_args()
    checkouts = [Path(p) for p in args.pythonpath.split(",")]
    floors = [f for f in args.floor.split(",") if f]
    for f in floors:
        if f not in FLOORS:
            ap.error(f"--floor {f}: not one of {', '.join(FLOORS)}")

    print("real feeds (messages per second by receive time; streams: depth@0ms, trade, bookTicker, markPrice)")
    print(f"  {'capture':<14} {'messages':>9} {'mean':>7} {'p99 1s':>7} {'peak 1s':>8} {'peak 100ms x10':>15}")
    rates = {}
    for name in CAPTURES:
        r = rates[name] = feed_rates([args.data / "binance-futures" / f for f in CAPTURES[name]])
        print(f"  {name:<14} {r['messages']:>9,} {r['mean']:>7,.0f} {r['p99']:>7,} {r['peak_1s']:>8,} {r['peak_100ms_x10']:>15,}")

    for checkout in checkouts:
        print(f"\ncommand line from {checkout} (median wall s of {args.help_runs} runs)")
        for label, seconds in help_times(checkout, args.help_runs).items():
            print(f"  scalp-nautilus {label:<14} {seconds:6.2f} s")

    mean = rates[args.capture]["mean"]
    files = [str(args.data / "binance-futures" / f) for f in CAPTURES[args.capture]]
    symbol = "BTCUSD_PERP" if args.capture.startswith("cm") else "BTCUSDT"
    streams = args.streams.split(",")
    print(
        f"\nrecorder against the replay venue serving {args.capture} (mean {mean:.0f} msg/s as captured); "
        f"streams {','.join(streams)}; window <= {args.window_s:g} s; checkouts: "
        + ", ".join(f"[{i}] {c}" for i, c in enumerate(checkouts))
    )
    print(
        f"  {'rate':>6} {'speed':>7} {'run':>11} {'recorded':>9} {'msg/s':>8} {'CPU share':>10} {'CPU us/msg':>11} "
        f"{'peak RSS MB':>12} {'B/msg':>6} {'GB/day':>7}"
    )
    # The venue starts its replay once the depth stream is subscribed (its default also waits for
    # Nautilus's aggTrade, which the recorder does not ask for by default).
    venue_config = Path(tempfile.mkdtemp()) / "replay_venue.yaml"
    base = yaml.safe_load((PROJECT_ROOT / "configs" / "replay_venue.yaml").read_text())
    venue_config.write_text(yaml.safe_dump({**base, "start": {**base["start"], "streams": ["depth"]}}))
    for rate in args.rates.split(","):
        speed = 1.0 if rate == "real" else 10_000.0 if rate == "max" else float(rate) / mean
        # Interleaved: every run of a rate in a row, so the machine's load falls on them alike.
        runs = [
            (f"[{i}] {codec}", checkout, codec) for codec in args.compression.split(",") for i, checkout in enumerate(checkouts)
        ]
        runs += [(f"{client} floor", None, client) for client in floors]
        for label, checkout, what in runs:
            port = free_port()
            venue = start_venue_process(files, speed, port, config=str(venue_config))
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    if checkout is None:
                        r = floor(what, port, symbol, streams, Path(tmp), args.window_s)
                    else:
                        r = record(checkout, port, symbol, streams, Path(tmp), what, args.window_s)
            except RuntimeError as exc:  # e.g. an older checkout refusing `compression: zstd`
                print(f"  {rate:>6} {speed:>7.4g} {label:>11} not measured: {exc}", flush=True)
                continue
            finally:
                venue.terminate()
                venue.wait(10)
            line = (
                f"  {rate:>6} {speed:>7.4g} {label:>11} {r['messages']:>9,} {r['rate']:>8,.0f} {r['cpu_share']:>10.1%} "
                f"{r['cpu_us']:>11.1f} {r['rss_mb']:>12.0f}"
            )
            if checkout is not None:
                line += f" {r['bytes_per_msg']:>6.1f} {r['bytes_per_msg'] * mean * DAY_S / 1e9:>7.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
