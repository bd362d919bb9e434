"""Files in the layout of Binance's public archive (data.binance.vision), for tests and benchmarks.

`write_archive_zip` writes one zipped CSV and its ``.CHECKSUM`` (``<sha256>  <name>``) under a
folder in the archive's URL layout; `synth_trades` / `synth_book_tickers` build a realistic day of
BTCUSDT futures rows with numpy and pyarrow (text made by pyarrow's CSV writer, not per row), so a
week of files can be made in minutes.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC
from datetime import date
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from scalp_nautilus.data.binance_archive import ArchiveFile

TRADES_HEADER = b"id,price,qty,quote_qty,time,is_buyer_maker\n"
BOOK_TICKER_HEADER = b"update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time\n"
KLINE_HEADER = (
    b"open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n"
)
FUNDING_HEADER = b"calc_time,funding_interval_hours,last_funding_rate\n"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def write_archive_zip(root: Path, file: ArchiveFile, text: bytes, compresslevel: int = 1) -> Path:
    """`text` as `file`'s zip under `root` (the archive's layout), with its CHECKSUM; the zip's path."""
    path = root / file.url_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as z:
        z.writestr(file.name.removesuffix(".zip") + ".csv", text)
    Path(f"{path}.CHECKSUM").write_text(f"{sha256(path)}  {file.name}\n")
    return path


def day_start_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def _fixed_decimal(units: np.ndarray, scale: int) -> pa.Array:
    """decimal128(20, scale) values units x 10^-scale (units >= 0), made without Python objects."""
    words = np.zeros(2 * len(units), dtype=np.int64)
    words[0::2] = units
    return pa.Array.from_buffers(pa.decimal128(20, scale), len(units), [None, pa.py_buffer(words)])


def _csv(columns: dict[str, pa.Array], header: bytes | None) -> bytes:
    out = io.BytesIO()
    if header:
        out.write(header)
    pacsv.write_csv(
        pa.table(columns),
        out,
        write_options=pacsv.WriteOptions(include_header=False, quoting_style="none", batch_size=1 << 16),
    )
    return out.getvalue()


def synth_trades(
    day: date, n: int, seed: int, first_id: int = 4_000_000_000, header: bool = True, span_ms: tuple[int, int] = (0, 86_400_000)
) -> bytes:
    """`n` BTCUSDT-like futures trades over `span_ms` of `day`: ids consecutive, times sorted (ms),
    prices a random walk on the 0.10 tick around 42,000, sizes on the 0.001 lot."""
    rng = np.random.default_rng(seed)
    t0 = day_start_ms(day)
    ticks = 420_000 + np.cumsum(rng.integers(-1, 2, n))  # 0.10 ticks
    lots = np.maximum(1, rng.geometric(0.05, n))  # 0.001 BTC
    return _csv(
        {
            "id": pa.array(first_id + np.arange(n, dtype=np.int64)),
            "price": _fixed_decimal(ticks * 10, 2),
            "qty": _fixed_decimal(lots, 3),
            "quote_qty": _fixed_decimal(ticks * lots, 4),
            "time": pa.array(t0 + np.sort(rng.integers(*span_ms, n))),
            "is_buyer_maker": pa.array(rng.random(n) < 0.5),
        },
        TRADES_HEADER if header else None,
    )


def synth_book_tickers(
    day: date,
    n: int,
    seed: int,
    first_id: int = 3_000_000_000_000,
    header: bool = True,
    span_ms: tuple[int, int] = (0, 86_400_000),
) -> bytes:
    """`n` bookTicker rows over `span_ms` of `day`: update ids increasing with gaps (from
    `first_id`), a one-tick spread around the same walk as `synth_trades`, sizes on the 0.001 lot."""
    rng = np.random.default_rng(seed + 1)
    t0 = day_start_ms(day)
    ticks = 420_000 + np.cumsum(rng.integers(-1, 2, n))
    time = t0 + np.sort(rng.integers(*span_ms, n))
    return _csv(
        {
            "update_id": pa.array(first_id + np.cumsum(rng.integers(1, 50, n))),
            "best_bid_price": _fixed_decimal(ticks * 10, 2),
            "best_bid_qty": _fixed_decimal(rng.integers(1, 20_000, n), 3),
            "best_ask_price": _fixed_decimal((ticks + 1) * 10, 2),
            "best_ask_qty": _fixed_decimal(rng.integers(1, 20_000, n), 3),
            "transaction_time": pa.array(time),
            "event_time": pa.array(time + rng.integers(0, 5, n)),
        },
        BOOK_TICKER_HEADER if header else None,
    )


def write_synth_day(root: Path, day: date, kind: str, n: int, seed: int, first_id: int, pieces: int = 16) -> Path:
    """A day of synthetic `kind` rows (trades or bookTicker) as its archive zip and CHECKSUM,
    made and compressed piece by piece (memory: one piece). Ids continue from `first_id`
    (bookTicker ids: at most 50 apart)."""
    file = ArchiveFile(day, kind, "um", "BTCUSDT", "daily")
    path = root / file.url_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z,
        z.open(file.name.removesuffix(".zip") + ".csv", "w") as out,
    ):
        for k in range(pieces):
            m = n // pieces + (k < n % pieces)
            span = (86_400_000 * k // pieces, 86_400_000 * (k + 1) // pieces)
            if kind == "trades":
                text = synth_trades(day, m, seed * 1000 + k, first_id, header=k == 0, span_ms=span)
                first_id += m
            else:
                text = synth_book_tickers(day, m, seed * 1000 + k, first_id, header=k == 0, span_ms=span)
                first_id += 50 * m
            out.write(text)
    Path(f"{path}.CHECKSUM").write_text(f"{sha256(path)}  {file.name}\n")
    return path


class ArchiveServer:
    """A local HTTP server in the archive's URL layout over `root` (127.0.0.1, any free port), with
    range requests, a request log, and one-shot cut responses (`cut[url_path] = n`: the next GET
    sends the full Content-Length but only n bytes, then closes: an interrupted download)."""

    def __init__(self, root: Path) -> None:
        import http.server
        import threading

        self.root = Path(root)
        self.log: list[tuple[str, str | None]] = []  # (path, Range header)
        self.cut: dict[str, int] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                path = self.path.lstrip("/")
                rng = self.headers.get("Range")
                server.log.append((path, rng))
                file = server.root / path
                if not file.is_file():
                    self.send_error(404)
                    return
                body = file.read_bytes()
                start = int(rng.removeprefix("bytes=").split("-")[0]) if rng else 0
                if start >= len(body) and rng:
                    self.send_error(416)
                    return
                self.send_response(206 if rng else 200)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                n = server.cut.pop(path, None)
                self.wfile.write(body[start:] if n is None else body[start : start + n])
                if n is not None:
                    self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ArchiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()

    def gets(self, suffix: str = ".zip") -> list[tuple[str, str | None]]:
        return [(p, r) for p, r in self.log if p.endswith(suffix)]


def capture_messages(paths: list[Path]) -> list[tuple[str, dict]]:
    """``(kind, data)`` of a raw Binance capture's trade, bookTicker and depth messages and its
    REST snapshots (kind "snapshot"), in file order; unreadable lines are left out."""
    import gzip

    import msgspec

    out = []
    for path in paths:
        with gzip.open(path, "rb") as fh:
            try:
                for line in fh:
                    try:
                        msg = msgspec.json.decode(line[line.find(b" ") + 1 :])
                    except msgspec.DecodeError:
                        continue
                    if "lastUpdateId" in msg and "stream" not in msg:
                        out.append(("snapshot", msg))
                        continue
                    data = msg.get("data") or {}
                    kind = data.get("e") or ("bookTicker" if str(msg.get("stream", "")).endswith("@bookTicker") else "")
                    if kind in ("trade", "bookTicker", "depthUpdate"):
                        out.append((kind, data))
            except EOFError:
                pass
    return out


def _by_day(rows: list[tuple[int, str]]) -> dict[date, list[str]]:
    days: dict[date, list[str]] = {}
    for ms, line in rows:
        days.setdefault(datetime.fromtimestamp(ms / 1000, tz=UTC).date(), []).append(line)
    return days


def archive_from_capture(paths: list[Path], root: Path, market: str) -> list[ArchiveFile]:
    """The capture's trades and bookTickers as the archive publishes them: daily zipped CSVs (UTC
    days) with CHECKSUMs under `root`, the first day's files with a header, the others without
    (both variants). Rows keep the capture's order."""
    messages = capture_messages(paths)
    trades = [
        (d["T"], f"{d['t']},{d['p']},{d['q']},{float(d['p']) * float(d['q'])!r},{d['T']},{'true' if d['m'] else 'false'}")
        for k, d in messages
        if k == "trade"
    ]
    tickers = [
        (d["T"], f"{d['u']},{d['b']},{d['B']},{d['a']},{d['A']},{d['T']},{d['E']}") for k, d in messages if k == "bookTicker"
    ]
    symbol = next(d["s"] for k, d in messages if k == "trade")
    written = []
    for kind, rows, header in (("trades", trades, TRADES_HEADER), ("bookTicker", tickers, BOOK_TICKER_HEADER)):
        for i, (day, lines) in enumerate(sorted(_by_day(rows).items())):
            file = ArchiveFile(day, kind, market, symbol, "daily")
            write_archive_zip(root, file, (header if i == 0 else b"") + "".join(f"{x}\n" for x in lines).encode())
            written.append(file)
    return written


L2_HEADER = b"symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty,pu\n"


def l2_rows_of_snapshot(symbol: str, snap: dict, stamp_ms: int) -> list[str]:
    last = snap["lastUpdateId"]
    levels = [("b", p, q) for p, q in snap["bids"]] + [("a", p, q) for p, q in snap["asks"]]
    return [f"{symbol},{stamp_ms},{last},{last},{s},snap,{p},{q},-1" for s, p, q in levels]


def l2_rows_of_diff(d: dict) -> list[str]:
    levels = [("b", p, q) for p, q in d["b"]] + [("a", p, q) for p, q in d["a"]]
    return [f"{d['s']},{d['T']},{d['U']},{d['u']},{s},set,{p},{q},{d['pu']}" for s, p, q in levels]


def l2_archive_from_capture(paths: list[Path], root: Path, snapshot_file: bool = False) -> tuple[list[Path], list[Path]]:
    """The capture's depth stream as Binance's order-book files: per UTC day (of the diffs' ``T``)
    one CSV of ``set`` rows, the first day's opening with the capture's snapshot as a ``snap``
    block, or (`snapshot_file`) with the snapshot in a file of its own. Returns (update files,
    snapshot files)."""
    messages = capture_messages(paths)
    diffs = [d for k, d in messages if k == "depthUpdate"]
    symbol = diffs[0]["s"]
    snaps = [d for k, d in messages if k == "snapshot"]
    days: dict[date, list[str]] = {}
    for d in diffs:
        days.setdefault(datetime.fromtimestamp(d["T"] / 1000, tz=UTC).date(), []).extend(l2_rows_of_diff(d))
    snap_rows = [row for s in snaps for row in l2_rows_of_snapshot(symbol, s, s.get("T") or s.get("E"))]
    root.mkdir(parents=True, exist_ok=True)
    updates, snapshot_files = [], []
    for i, (day, rows) in enumerate(sorted(days.items())):
        path = root / f"{symbol}_T_DEPTH_{day}_depth_update.csv"
        head = snap_rows if i == 0 and not snapshot_file else []
        path.write_text(L2_HEADER.decode() + "".join(f"{r}\n" for r in head + rows))
        updates.append(path)
    if snapshot_file:
        path = root / f"{symbol}_T_DEPTH_{min(days)}_depth_snap.csv"
        path.write_text(L2_HEADER.decode() + "".join(f"{r}\n" for r in snap_rows))
        snapshot_files.append(path)
    return updates, snapshot_files
