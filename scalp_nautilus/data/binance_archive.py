"""Binance's public data archive (data.binance.vision) into the catalog, without a Python object per row.

The archive publishes, per market (``um``: USDT-M futures, ``cm``: COIN-M futures, ``spot``), symbol
and day (or month), one zipped CSV per data type, with a ``.CHECKSUM`` (SHA-256) beside it:

- ``trades``: ``id,price,qty,quote_qty,time,is_buyer_maker`` (spot adds ``is_best_match``);
- ``aggTrades``: ``agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker``
  (spot adds ``is_best_match``);
- ``bookTicker`` (futures): ``update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,
  transaction_time,event_time``;
- ``fundingRate`` (futures, monthly): ``calc_time,funding_interval_hours,last_funding_rate``;
- ``markPriceKlines`` / ``premiumIndexKlines`` (futures, per interval): the 12 kline columns.

What each becomes:

- trades (or aggTrades: one or the other, both are `TradeTick`s) -> `TradeTick`: the aggressor is
  the seller when ``is_buyer_maker`` is true (the buyer's order rested), else the buyer; the trade
  id is the row's id.
- bookTicker -> `QuoteTick`, Nautilus's own top-of-book type: every consumer of a best bid/ask
  (the backtest's matching engine on an L1 book, `subscribe_quote_ticks`, the data engine's
  bars) already speaks it, and it carries exactly the row's four numbers. The update id has no
  field in it; it is used here to order the rows and drop repeats.
- fundingRate -> settled `FundingRateUpdate`s through `funding_history` (the existing funding path,
  merged with what the catalog holds); markPriceKlines -> one `MarkPriceUpdate` per kline, its
  close stamped at its close time (the last mark at or before each settlement is the one the
  funding ledger takes). premiumIndexKlines are downloaded and verified only: no Nautilus type
  and no consumer takes them.

Time: ``ts_event`` is the exchange's transaction time (``time``, ``transaction_time``); the archive
holds no receive time, so ``ts_init = ts_event`` for every stream (a trade and the quote change it
caused can share an instant; their order is then the engine's, trades before quotes at an equal
``ts_init`` in this project's backtests and replay, not the exchange's).
Timestamps are milliseconds, or microseconds in newer spot files: told apart by magnitude, file by
file; a file that mixes them is an error (`ArchiveError`).

Rows: both header variants are read (the oldest files have none). A row that cannot be read (a
wrong field count, a value that is not a number, a non-positive price) is *malformed*; a row whose
id does not exceed the last imported row's is a *duplicate* (equal) or *out of order* (smaller), as
is a row whose time goes back; all are counted, logged and skipped. Prices and sizes with more decimals
than the instrument's precision are rounded as Nautilus's ``Price(float, precision)`` rounds them
(counted as *rounded*).

Speed: the zip is inflated in a background thread (zlib releases the GIL) in bounded chunks;
pyarrow parses each chunk (prices and sizes as float64, which Nautilus's own ``Price(float,
precision)`` starts from too); one numba pass checks the rows, rounds the values to integer ticks
exactly as Nautilus does and drops repeats; the ticks x 10^(16 - precision) are Nautilus's
fixed-point raws (`catalog.fixed_from_ticks`). The catalog's Parquet columns are thus built without
a Python object per row and written by `ArrowCatalogSink` in Nautilus's own layout. Memory is a
few chunks whatever the span. A chunk pyarrow refuses (a value that is not a number) is read line
by line instead, to find and skip the bad rows.
"""

from __future__ import annotations

import calendar
import logging
import math
import queue
import re
import threading
import zipfile
import zlib
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import timedelta
from pathlib import Path

import numba as nb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from nautilus_trader.model.data import MarkPriceUpdate
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price

from scalp_nautilus.data.catalog import DEFAULT_CATALOG
from scalp_nautilus.data.catalog import ArrowCatalogSink
from scalp_nautilus.data.catalog import CatalogWriter
from scalp_nautilus.data.catalog import fixed_from_ticks
from scalp_nautilus.data.funding_history import parse_settlements
from scalp_nautilus.data.funding_history import to_updates
from scalp_nautilus.errors import InputError
from scalp_nautilus.instruments import ContractSpec
from scalp_nautilus.instruments import resolve_spec

log = logging.getLogger(__name__)

BASE_URL = "https://data.binance.vision"
MARKETS = {"um": "futures/um", "cm": "futures/cm", "spot": "spot"}
KLINE_KINDS = ("markPriceKlines", "premiumIndexKlines")
KINDS = ("trades", "aggTrades", "bookTicker", "fundingRate", *KLINE_KINDS)
IMPORTED_KINDS = ("trades", "aggTrades", "bookTicker", "fundingRate", "markPriceKlines")
FUTURES_ONLY = ("bookTicker", "fundingRate", *KLINE_KINDS)
MONTHLY_ONLY = ("fundingRate",)
DEFAULT_KINDS = ("trades", "bookTicker", "fundingRate", "markPriceKlines")
MARK_PRECISION = 8  # Binance prints mark prices with 8 decimals whatever the tick
CHUNK_BYTES = 16 << 20

_MS_RANGE = (10**11, 10**14)  # 1973 .. 5138 in ms
_US_RANGE = (10**14, 10**17)


class ArchiveError(InputError):
    """An archive file that cannot be imported (mixed timestamp units, an unknown layout, ...)."""


# ---------------------------------------------------------------------- the archive's layout


@dataclass(frozen=True, order=True)
class ArchiveFile:
    """One zip of the archive: `start` is its first day (a month's first day for monthly files)."""

    start: date
    kind: str
    market: str
    symbol: str
    period: str  # "daily" or "monthly"
    interval: str = ""  # klines only, e.g. "1m"

    @property
    def end(self) -> date:
        """The day after the file's last day."""
        if self.period == "daily":
            return self.start + timedelta(days=1)
        return self.start + timedelta(days=calendar.monthrange(self.start.year, self.start.month)[1])

    @property
    def name(self) -> str:
        stamp = self.start.isoformat() if self.period == "daily" else self.start.isoformat()[:7]
        return f"{self.symbol}-{self.interval or self.kind}-{stamp}.zip"

    @property
    def url_path(self) -> str:
        """The path under the base URL, also the file's place in a local mirror."""
        interval = f"{self.interval}/" if self.interval else ""
        return f"data/{MARKETS[self.market]}/{self.period}/{self.kind}/{self.symbol}/{interval}{self.name}"


def check_request(market: str, kinds: Iterable[str]) -> None:
    if market not in MARKETS:
        raise ArchiveError(f"unknown market {market!r}: one of {', '.join(MARKETS)}")
    for kind in kinds:
        if kind not in KINDS:
            raise ArchiveError(f"unknown archive data type {kind!r}: one of {', '.join(KINDS)}")
        if market == "spot" and kind in FUTURES_ONLY:
            raise ArchiveError(f"the archive has no {kind} for spot")


def archive_files(
    market: str,
    symbol: str,
    kinds: Iterable[str],
    start: date,
    end: date,
    period: str = "auto",
    interval: str = "1m",
) -> list[ArchiveFile]:
    """The files covering the days `start`..`end` (inclusive). ``auto``: a monthly file for each
    calendar month wholly inside the span, daily files for the rest; ``fundingRate`` is published
    monthly only (its rows outside the span are left out at import)."""
    kinds = list(kinds)
    check_request(market, kinds)
    if end < start:
        raise ArchiveError(f"--to {end} is before --from {start}")
    out = []
    symbol = symbol.upper()
    for kind in kinds:
        kline = interval if kind in KLINE_KINDS else ""
        mode = "monthly" if kind in MONTHLY_ONLY else period
        day = start
        while day <= end:
            month_start = day.replace(day=1)
            month_end = month_start + timedelta(days=calendar.monthrange(day.year, day.month)[1] - 1)
            whole = day == month_start and month_end <= end
            if mode == "monthly" or (mode == "auto" and whole):
                out.append(ArchiveFile(month_start, kind, market, symbol, "monthly", kline))
                day = month_end + timedelta(days=1)
            else:
                out.append(ArchiveFile(day, kind, market, symbol, "daily", kline))
                day += timedelta(days=1)
    return sorted(out)


def daily_files(monthly: ArchiveFile) -> list[ArchiveFile]:
    """The daily files of a monthly one (the fallback when a month is not published yet)."""
    days = (monthly.end - monthly.start).days
    return [
        ArchiveFile(monthly.start + timedelta(days=i), monthly.kind, monthly.market, monthly.symbol, "daily", monthly.interval)
        for i in range(days)
    ]


_NAME = re.compile(r"^(?P<symbol>[A-Z0-9_]+)-(?P<tag>[A-Za-z0-9]+)-(?P<stamp>\d{4}-\d{2}(?:-\d{2})?)\.zip$")


def find_files(
    folder: str | Path,
    market: str,
    symbol: str,
    kinds: Iterable[str],
    start: date | None = None,
    end: date | None = None,
) -> list[tuple[ArchiveFile, Path]]:
    """Archive zips under `folder` (the archive's own layout, or all in one folder) for `symbol`,
    `kinds` and the days `start`..`end`. A kline file says its kind only through its folders
    (``markPriceKlines/BTCUSDT/1m/``): in a flat folder it is taken as the one kline kind asked
    for, and skipped when several are. Daily files inside a monthly file of the same kind are
    dropped (the month holds them)."""
    kinds = list(kinds)
    check_request(market, kinds)
    symbol = symbol.upper()
    kline_kinds = [k for k in kinds if k in KLINE_KINDS]
    found: list[tuple[ArchiveFile, Path]] = []
    for path in sorted(Path(folder).rglob("*.zip")):
        m = _NAME.match(path.name)
        if not m or m["symbol"] != symbol:
            continue
        parts = set(path.parent.parts)
        other_markets = {"um", "cm"} - {market} if market != "spot" else {"futures"}
        if parts & other_markets:
            continue
        tag, stamp = m["tag"], m["stamp"]
        if tag in KINDS:
            kind, interval = tag, ""
        else:
            named = [k for k in KLINE_KINDS if k in parts]
            if named:
                kind = named[0]
            elif len(kline_kinds) == 1:
                kind = kline_kinds[0]
            else:
                log.warning("%s: a kline file outside the archive's folders; its kind is unknown: skipped", path)
                continue
            interval = tag
        if kind not in kinds:
            continue
        period = "daily" if len(stamp) == 10 else "monthly"
        first = date.fromisoformat(stamp if period == "daily" else f"{stamp}-01")
        f = ArchiveFile(first, kind, market, symbol, period, interval)
        if (start is None or f.end > start) and (end is None or f.start <= end):
            found.append((f, path))
    months = {(f.kind, f.interval, f.start) for f, _ in found if f.period == "monthly"}
    kept = [(f, p) for f, p in found if f.period == "monthly" or (f.kind, f.interval, f.start.replace(day=1)) not in months]
    if len(kept) < len(found):
        log.info("%d daily files skipped: the monthly file of their month is there", len(found) - len(kept))
    return sorted(kept, key=lambda fp: fp[0])


# ---------------------------------------------------------------------- reading a zipped CSV


def _inflated(path: Path, chunk_bytes: int) -> Iterator[bytes]:
    """The zip's one member, inflated in a background thread, in blocks of about `chunk_bytes`."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(f"{path}: not a readable zip ({exc})") from None
    members = [i for i in archive.infolist() if not i.is_dir()]
    if len(members) != 1:
        archive.close()
        raise ArchiveError(f"{path}: expected one CSV in the zip, found {len(members)}")
    blocks: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item) -> None:
        while not stop.is_set():
            try:
                blocks.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def pump() -> None:
        try:
            with archive.open(members[0]) as fh:
                while not stop.is_set() and (block := fh.read(chunk_bytes)):
                    put(block)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            put(ArchiveError(f"{path}: cannot inflate ({exc})"))
        finally:
            put(None)

    thread = threading.Thread(target=pump, name=f"inflate {path.name}", daemon=True)
    thread.start()
    try:
        while (item := blocks.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()
        archive.close()


def csv_chunks(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[int, bytes]]:
    """``(byte offset, whole lines)`` of the zipped CSV, in order."""
    pending = b""
    offset = 0
    for block in _inflated(path, chunk_bytes):
        data = pending + block if pending else block
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            pending = data
            continue
        pending = data[cut:]
        yield offset, data[:cut] if cut < len(data) else data
        offset += cut
    if pending.strip():
        yield offset, pending + b"\n"


# ---------------------------------------------------------------------- one kind's columns


@dataclass(frozen=True)
class _Field:
    position: int
    name: str
    kind: str  # "int", "price", "size", "bool", "float"


@dataclass(frozen=True)
class _Layout:
    fields: tuple[_Field, ...]
    widths: tuple[int, ...]  # accepted field counts
    key: str  # the field that orders rows and finds repeats


def _trades(time: int, widths: tuple[int, ...]) -> _Layout:
    """trades and aggTrades: id, price, size first; the time and is_buyer_maker at `time`, `time` + 1."""
    fields = (_Field(0, "id", "int"), _Field(1, "price", "price"), _Field(2, "qty", "size"))
    return _Layout((*fields, _Field(time, "time", "int"), _Field(time + 1, "m", "bool")), widths, "id")


_TRADE = _trades(4, (6, 7))  # spot adds is_best_match
_AGG_TRADE = _trades(5, (7, 8))
_BOOK_TICKER = _Layout(
    (
        _Field(0, "id", "int"),
        _Field(1, "bid", "price"),
        _Field(2, "bid_qty", "size"),
        _Field(3, "ask", "price"),
        _Field(4, "ask_qty", "size"),
        _Field(5, "time", "int"),  # transaction_time; event_time (6) is neither read nor imported
    ),
    (7,),
    "id",
)
_KLINE = _Layout((_Field(4, "close", "float"), _Field(6, "time", "int")), (12,), "time")
LAYOUTS = {"trades": _TRADE, "aggTrades": _AGG_TRADE, "bookTicker": _BOOK_TICKER, "markPriceKlines": _KLINE}


_ARROW_TYPES = {"int": pa.int64(), "bool": pa.bool_(), "float": pa.float64(), "price": pa.float64(), "size": pa.float64()}
_MAX_TICKS = float(2**63 - 1024)  # the largest float below 2^63
# Counters of `_accept_rows`.
_MALFORMED, _OUTSIDE, _DUPLICATE, _BACKWARDS, _ROUNDED, _GAPS, _MISSING = range(7)


@nb.njit(cache=True)
def nautilus_ticks(value: float, scale: float) -> float:
    """``Price(value, precision)``'s rounding to ticks (scale = 10^precision): value x scale in
    float64, rounded half away from zero. pyarrow reads a decimal string to the float64 Python's
    ``float`` gives (correctly rounded), so a row's ticks are those of ``Price(float(text), p)``."""
    y = value * scale
    f = math.floor(y)
    return f + 1.0 if y - f >= 0.5 else f


@nb.njit(cache=True)
def _accept_rows(
    key, ts, values, scales, zero_ok, valid, lo, hi, last, count_gaps, ticks, keep, counts
):  # pragma: no cover - numba
    """One pass over a chunk's rows in file order. A row is kept when its time is a valid UNIX
    time (`valid`), every value rounds to a usable number of ticks (positive, or zero where
    `zero_ok`, and finite), its time lies in [lo, hi), its key exceeds the last kept row's and its
    time does not precede it. `last` = (key, time) of the last kept row, updated; `ticks` gets
    each value's ticks; `counts` adds up the skips, the rounded values of kept rows and the id gaps."""
    last_key, last_ts = last[0], last[1]
    for i in range(len(key)):
        if not valid[i]:
            counts[_MALFORMED] += 1
            continue
        usable = True
        rounded = 0
        for c in range(values.shape[0]):
            y = values[c, i] * scales[c]
            t = nautilus_ticks(values[c, i], scales[c])
            if not ((t >= 0.0 if zero_ok[c] else t > 0.0) and t <= _MAX_TICKS):  # NaN fails both
                usable = False
                break
            # A value printed at the precision lies within float64's relative error of a whole tick.
            if abs(y - t) > 1e-9 + abs(y) * 1e-12:
                rounded += 1
            ticks[c, i] = np.int64(t)
        if not usable:
            counts[_MALFORMED] += 1
            continue
        if ts[i] < lo or ts[i] >= hi:
            counts[_OUTSIDE] += 1
            continue
        if key[i] <= last_key:
            counts[_DUPLICATE if key[i] == last_key else _BACKWARDS] += 1
            continue
        if ts[i] < last_ts:
            counts[_BACKWARDS] += 1
            continue
        if count_gaps and last_key >= 0 and key[i] > last_key + 1:
            counts[_GAPS] += 1
            counts[_MISSING] += key[i] - last_key - 1
        counts[_ROUNDED] += rounded
        last_key, last_ts = key[i], ts[i]
        keep[i] = True
    last[0], last[1] = last_key, last_ts


@dataclass
class StreamStats:
    """What the import of one kind saw; every skipped row is counted here."""

    files: int = 0
    rows: int = 0
    imported: int = 0
    malformed: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    outside_range: int = 0
    rounded: int = 0
    id_gaps: int = 0
    ids_missing: int = 0
    crossed: int = 0
    units: dict[str, int] = field(default_factory=dict)  # files per timestamp unit
    first_ns: int | None = None
    last_ns: int | None = None

    def line(self, kind: str) -> str:
        span = ""
        if self.first_ns is not None and self.last_ns is not None:
            span = f"  {pd.Timestamp(self.first_ns, tz='UTC')} -> {pd.Timestamp(self.last_ns, tz='UTC')}"
        extra = f", id gaps {self.id_gaps:,} ({self.ids_missing:,} ids missing)" if kind in ("trades", "aggTrades") else ""
        extra += f", crossed (kept) {self.crossed:,}" if kind == "bookTicker" else ""
        units = ", ".join(f"{u} {n}" for u, n in sorted(self.units.items()))
        return (
            f"{kind:<16} files {self.files} ({units or '-'}), rows {self.rows:,}: imported {self.imported:,}, "
            f"malformed {self.malformed:,}, duplicates {self.duplicates:,}, out of order {self.out_of_order:,}, "
            f"outside the span {self.outside_range:,}, rounded {self.rounded:,}{extra}{span}"
        )


@dataclass
class _State:
    """What carries over from one chunk (and file) of a stream to the next."""

    last_key: int = -1
    last_ts: int = -1
    unit: str = ""  # of the current file


class _ChunkReader:
    """Parses chunks of one kind's CSV into typed columns (named by `_Layout`), counting what it drops."""

    def __init__(self, kind: str, layout: _Layout, price_precision: int, size_precision: int, stats: StreamStats) -> None:
        self.kind = kind
        self.layout = layout
        self.stats = stats
        self.pp, self.sp = price_precision, size_precision
        self.types = {f.name: _ARROW_TYPES[f.kind] for f in layout.fields}
        self.width = 0  # the file's field count
        self.where = ""
        self._bad_rows = 0

    def start_file(self, first_line: bytes, where: str) -> bool:
        """Look at a file's first line: returns whether it is a header."""
        self.where = where
        fields = first_line.rstrip(b"\r\n").split(b",")
        self.width = len(fields)
        if self.width not in self.layout.widths:
            widths = " or ".join(map(str, self.layout.widths))
            raise ArchiveError(f"{where}: {self.width} fields in the first line, a {self.kind} file has {widths}")
        return not fields[0].strip().lstrip(b"-").isdigit()

    def read(self, data: bytes, where: str) -> pa.Table:
        names = [f"c{i}" for i in range(self.width)]
        wanted = {f"c{f.position}": f for f in self.layout.fields}
        self._bad_rows = 0
        try:
            table = pacsv.read_csv(
                pa.py_buffer(data),
                read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 20),
                parse_options=pacsv.ParseOptions(invalid_row_handler=self._invalid_row),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: self.types[f.name] for c, f in wanted.items()}, include_columns=list(wanted)
                ),
            )
        except pa.ArrowInvalid as exc:
            log.warning("%s: %s: reading this chunk line by line", where, exc)
            return self._read_lines(data, where)
        self.stats.malformed += self._bad_rows
        self.stats.rows += self._bad_rows + len(table)
        table = table.rename_columns([wanted[c].name for c in table.column_names])
        return self._drop_nulls(table)

    def _invalid_row(self, row) -> str:
        self._bad_rows += 1
        if self.stats.malformed + self._bad_rows <= 10:
            log.warning("%s: malformed row skipped (%d fields): %.80r", self.where, row.actual_columns, row.text)
        return "skip"

    def _drop_nulls(self, table: pa.Table) -> pa.Table:
        valid = None
        for column in table.columns:
            if column.null_count:
                ok = pc.is_valid(column)
                valid = ok if valid is None else pc.and_(valid, ok)
        if valid is None:
            return table
        bad = len(table) - pc.sum(valid).as_py()
        self.stats.malformed += bad
        log.warning("%s: %d rows with an empty field skipped", self.where, bad)
        return table.filter(valid)

    def _read_lines(self, data: bytes, where: str) -> pa.Table:
        """The slow reading of a chunk pyarrow refused: each line on its own; bad lines are
        counted and skipped."""
        columns: dict[str, list] = {f.name: [] for f in self.layout.fields}
        for lineno, raw in enumerate(data.split(b"\n"), start=1):
            text = raw.decode("utf-8", "replace").strip()
            if not text:
                continue
            parts = text.split(",")
            self.stats.rows += 1
            try:
                if len(parts) != self.width:
                    raise ValueError(f"{len(parts)} fields")
                values = [_value(f, parts[f.position].strip()) for f in self.layout.fields]
            except ValueError as exc:
                self.stats.malformed += 1
                if self.stats.malformed <= 10:
                    log.warning("%s, its line %d: malformed row skipped (%s): %.80r", where, lineno, exc, text)
                continue
            for f, v in zip(self.layout.fields, values):
                columns[f.name].append(v)
        return pa.table({name: pa.array(values, type=self.types[name]) for name, values in columns.items()})


def _value(f: _Field, text: str) -> int | float | bool:
    if f.kind == "int":
        return int(text)
    if f.kind == "bool":
        lowered = text.lower()
        if lowered not in ("true", "false", "1", "0"):
            raise ValueError(f"{text!r} is not a boolean")
        return lowered in ("true", "1")
    return float(text)


# ---------------------------------------------------------------------- streams


class _Stream:
    """One kind's rows from a sequence of files: validated, ordered, deduplicated, converted."""

    def __init__(self, kind: str, instrument: Instrument, stats: StreamStats, window: tuple[int, int] | None) -> None:
        self.kind = kind
        self.layout = LAYOUTS[kind]
        self.stats = stats
        self.window = window
        self.reader = _ChunkReader(kind, self.layout, instrument.price_precision, instrument.size_precision, stats)
        self.state = _State()

    def columns(self, path: Path, chunk_bytes: int) -> Iterator[dict[str, np.ndarray]]:
        """The file's accepted rows, chunk by chunk, as numpy columns: prices and sizes as int64
        counts of their precision's unit, times as ``ts`` in ns."""
        self.stats.files += 1
        self.state.unit = ""
        for offset, chunk in csv_chunks(path, chunk_bytes):
            data = chunk
            where = f"{path.name} (bytes {offset:,}+)"
            if offset == 0:
                end = data.find(b"\n") + 1
                if self.reader.start_file(data[:end], path.name):
                    data = data[end:]
            table = self.reader.read(data, where)
            accepted = self._accept(table, where)
            if accepted is not None:
                yield accepted

    def _accept(self, table: pa.Table, where: str) -> dict[str, np.ndarray] | None:
        n = len(table)
        if n == 0:
            return None
        layout = self.layout
        cols = {f.name: table.column(f.name).combine_chunks().to_numpy(zero_copy_only=False) for f in layout.fields}
        valid = np.ones(n, dtype=np.bool_)
        ts = cols["time"] * np.int64(self._unit(cols["time"], valid, where))
        numeric = [f for f in layout.fields if f.kind in ("price", "size", "float")]
        values = np.stack([cols[f.name] for f in numeric]).astype(np.float64, copy=False)
        # A kline's close stays a float (a mark price): its ticks at MARK_PRECISION are only checked.
        precisions = {"price": self.reader.pp, "size": self.reader.sp, "float": MARK_PRECISION}
        scales = np.array([float(10 ** precisions[f.kind]) for f in numeric])
        zero_ok = np.array([f.kind == "size" and self.kind == "bookTicker" for f in numeric])
        lo, hi = self.window if self.window is not None else (np.iinfo(np.int64).min, np.iinfo(np.int64).max)
        ticks = np.empty((len(numeric), n), dtype=np.int64)
        keep = np.zeros(n, dtype=np.bool_)
        counts = np.zeros(7, dtype=np.int64)
        last = np.array([self.state.last_key, self.state.last_ts], dtype=np.int64)
        gaps = self.kind in ("trades", "aggTrades")
        _accept_rows(cols[layout.key], ts, values, scales, zero_ok, valid, lo, hi, last, gaps, ticks, keep, counts)
        self.state.last_key, self.state.last_ts = int(last[0]), int(last[1])
        st = self.stats
        st.malformed += int(counts[_MALFORMED])
        st.outside_range += int(counts[_OUTSIDE])
        st.duplicates += int(counts[_DUPLICATE])
        st.out_of_order += int(counts[_BACKWARDS])
        st.rounded += int(counts[_ROUNDED]) if all(f.kind != "float" for f in numeric) else 0
        st.id_gaps += int(counts[_GAPS])
        st.ids_missing += int(counts[_MISSING])
        skipped = int(counts[_DUPLICATE] + counts[_BACKWARDS])
        if skipped and st.duplicates + st.out_of_order - skipped < 10:
            log.warning("%s: %d duplicate and %d out-of-order rows skipped", where, counts[_DUPLICATE], counts[_BACKWARDS])
        for c, f in enumerate(numeric):
            if f.kind != "float":
                cols[f.name] = ticks[c]
        cols["ts"] = ts
        if not keep.all():
            if not keep.any():
                return None
            cols = {name: column[keep] for name, column in cols.items()}
        st.imported += len(cols["ts"])
        st.first_ns = int(cols["ts"][0]) if st.first_ns is None else st.first_ns
        st.last_ns = int(cols["ts"][-1])
        return cols

    def _unit(self, t: np.ndarray, valid: np.ndarray, where: str) -> int:
        """ns per unit of this file's timestamps; rows of neither magnitude are not `valid`."""
        ms = (t >= _MS_RANGE[0]) & (t < _MS_RANGE[1])
        us = (t >= _US_RANGE[0]) & (t < _US_RANGE[1])
        valid &= ms | us
        seen = {u for u, hit in (("ms", ms.any()), ("us", us.any())) if hit}
        if self.state.unit:
            seen.add(self.state.unit)
        if len(seen) > 1:
            raise ArchiveError(f"{where}: timestamps in both milliseconds and microseconds in one file")
        if seen and not self.state.unit:
            self.state.unit = seen.pop()
            self.stats.units[self.state.unit] = self.stats.units.get(self.state.unit, 0) + 1
        return 1_000 if self.state.unit == "us" else 1_000_000


def _trade_batch(cols: dict[str, np.ndarray], instrument: Instrument, sink: ArrowCatalogSink) -> pa.RecordBatch:
    stamps = pa.array(cols["ts"].astype(np.uint64))
    return pa.RecordBatch.from_arrays(
        [
            fixed_from_ticks(cols["price"], instrument.price_precision),
            fixed_from_ticks(cols["qty"], instrument.size_precision),
            pa.array(np.where(cols["m"], 2, 1).astype(np.uint8)),  # AggressorSide: BUYER 1, SELLER 2
            pc.cast(pa.array(cols["id"]), pa.string()),
            stamps,
            stamps,
        ],
        schema=sink.schema,
    )


def _quote_batch(cols: dict[str, np.ndarray], instrument: Instrument, sink: ArrowCatalogSink) -> pa.RecordBatch:
    stamps = pa.array(cols["ts"].astype(np.uint64))
    pp, sp = instrument.price_precision, instrument.size_precision
    return pa.RecordBatch.from_arrays(
        [
            fixed_from_ticks(cols["bid"], pp),
            fixed_from_ticks(cols["ask"], pp),
            fixed_from_ticks(cols["bid_qty"], sp),
            fixed_from_ticks(cols["ask_qty"], sp),
            stamps,
            stamps,
        ],
        schema=sink.schema,
    )


# ---------------------------------------------------------------------- the import


@dataclass
class ArchiveImport:
    """The outcome of one import: per kind what was read, imported and skipped, and the catalog."""

    instrument: Instrument
    stats: dict[str, StreamStats]
    writer: CatalogWriter

    def summary(self) -> str:
        lines = [f"Binance archive -> {self.instrument.id}"]
        lines += [f"  {s.line(kind)}" for kind, s in self.stats.items()]
        return "\n".join(lines) + "\n" + self.writer.summary()


def archive_spec(market: str, symbol: str, exchange_info: str | Path | None = None, sample: Path | None = None) -> ContractSpec:
    """The contract of `symbol` on `market` (`resolve_spec`; `sample`, a trades or bookTicker zip,
    gives printed precisions for a symbol that is not tabulated)."""
    price = size = None
    if sample is not None:
        for _, data in csv_chunks(sample, 1 << 16):
            rows = [r.split(b",") for r in data.split(b"\n")[:2] if r]
            row = rows[1] if len(rows) > 1 and not rows[0][0].strip().isdigit() else rows[0]
            price, size = row[1].decode().strip(), row[2].decode().strip()
            break
    return resolve_spec("BINANCE", symbol.upper(), exchange_info, price, size, spot=market == "spot")


def import_archive(
    files: Iterable[tuple[ArchiveFile, Path]],
    instrument: Instrument,
    catalog: str | Path = DEFAULT_CATALOG,
    replace: bool = False,
    window: tuple[int, int] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> ArchiveImport:
    """Import archive zips (as `find_files` gives them) for `instrument` into the catalog; rows
    outside `window` (ns, [start, end)) are left out. A file that cannot be read stops the import
    with an `ArchiveError` naming it; the files before it stay imported, nothing of it does (but
    rows at the very instant the file before ended, which that file's catalog file took)."""
    by_kind: dict[str, list[tuple[ArchiveFile, Path]]] = {}
    for f, path in sorted(files, key=lambda fp: fp[0]):
        by_kind.setdefault(f.kind, []).append((f, path))
    if "trades" in by_kind and "aggTrades" in by_kind:
        raise ArchiveError("trades and aggTrades both become TradeTicks of one instrument: import one of them")
    skipped = [k for k in by_kind if k not in IMPORTED_KINDS]
    for kind in skipped:
        log.info("%d %s files are not imported (no Nautilus type takes them)", len(by_kind.pop(kind)), kind)
    writer = CatalogWriter(catalog, replace=replace)
    writer.write_instrument(instrument)
    stats: dict[str, StreamStats] = {}
    try:
        for kind, group in by_kind.items():
            stats[kind] = StreamStats()
            if kind == "fundingRate":
                _import_funding(group, instrument, writer, stats[kind], window)
            elif kind == "markPriceKlines":
                _import_marks(group, instrument, writer, stats[kind], window, chunk_bytes)
            else:
                _import_ticks(kind, group, instrument, writer, stats[kind], window, chunk_bytes)
    finally:
        writer.close()
    return ArchiveImport(instrument, stats, writer)


def _import_ticks(
    kind: str,
    group: list[tuple[ArchiveFile, Path]],
    instrument: Instrument,
    writer: CatalogWriter,
    stats: StreamStats,
    window: tuple[int, int] | None,
    chunk_bytes: int,
) -> None:
    quotes = kind == "bookTicker"
    sink = writer.sink(QuoteTick if quotes else TradeTick, instrument)
    stream = _Stream(kind, instrument, stats, window)
    make = _quote_batch if quotes else _trade_batch
    for _, path in group:
        try:
            for cols in stream.columns(path, chunk_bytes):
                if quotes:
                    stats.crossed += int((cols["bid"] >= cols["ask"]).sum())
                sink.write(make(cols, instrument, sink))
        except Exception:
            sink.abort()
            raise
        sink.end_file()


def _import_marks(
    group: list[tuple[ArchiveFile, Path]],
    instrument: Instrument,
    writer: CatalogWriter,
    stats: StreamStats,
    window: tuple[int, int] | None,
    chunk_bytes: int,
) -> None:
    stream = _Stream("markPriceKlines", instrument, stats, window)
    iid = instrument.id
    for _, path in group:
        for cols in stream.columns(path, chunk_bytes):
            marks = zip(cols["close"].tolist(), cols["ts"].tolist())
            writer.extend(MarkPriceUpdate(iid, Price(c, MARK_PRECISION), t, t) for c, t in marks)


def _import_funding(
    group: list[tuple[ArchiveFile, Path]],
    instrument: Instrument,
    writer: CatalogWriter,
    stats: StreamStats,
    window: tuple[int, int] | None,
) -> None:
    for _, path in group:
        stats.files += 1
        text = b"".join(data for _, data in csv_chunks(path)).decode("utf-8")
        settlements = parse_settlements(text, str(path), "UTC", "archive")
        stats.rows += len(settlements)
        if window is not None:
            inside = [s for s in settlements if window[0] <= s.ts_ns < window[1]]
            stats.outside_range += len(settlements) - len(inside)
            settlements = inside
        if settlements:
            fresh = [s for s in settlements if stats.last_ns is None or s.ts_ns > stats.last_ns]
            stats.duplicates += len(settlements) - len(fresh)
            if fresh:
                stats.first_ns = fresh[0].ts_ns if stats.first_ns is None else stats.first_ns
                stats.last_ns = fresh[-1].ts_ns
            stats.imported += len(fresh)
            writer.extend(to_updates(fresh, instrument.id))
