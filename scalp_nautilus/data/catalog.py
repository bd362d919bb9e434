"""Writing importer output into a Nautilus `ParquetDataCatalog`.

The catalog stores one directory per data type and instrument, with files named by their
``ts_init`` span; spans in a directory must be disjoint and data inside a file non-decreasing in
``ts_init``. `CatalogWriter` streams objects in bounded chunks (memory stays flat on long
captures), cuts chunks only between distinct timestamps (so consecutive files never share an
instant), and refuses to write over market data already in the catalog unless asked to replace
it. Funding updates are the exception: a settled history (years, one row per interval) and a
capture's per-second updates for the same instrument legitimately overlap, so they are merged
(union, exact duplicates dropped) instead. A capture's invalid spans are stored beside its data
(`write_capture`, `scalp_nautilus.data.spans`).
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from nautilus_trader.core.datetime import unix_nanos_to_iso8601
from nautilus_trader.model.data import BookOrder
from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.data import MarkPriceUpdate
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.enums import BookAction
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.identifiers import TradeId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import FIXED_PRECISION
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.persistence.funcs import class_to_filename
from nautilus_trader.persistence.funcs import urisafe_identifier
from nautilus_trader.serialization.arrow.serializer import ArrowSerializer

from scalp_nautilus.data import DEFAULT_CATALOG
from scalp_nautilus.data.spans import InvalidSpans
from scalp_nautilus.data.spans import add_invalid_spans
from scalp_nautilus.data.spans import read_invalid_spans
from scalp_nautilus.errors import InputError

log = logging.getLogger(__name__)

CATALOG_DATA_TYPES = (OrderBookDelta, TradeTick, QuoteTick, FundingRateUpdate, MarkPriceUpdate)


class CatalogOverlapError(InputError):
    pass


def _iso(ns: int) -> str:
    return pd.Timestamp(ns, unit="ns", tz="UTC").isoformat()


class CatalogWriter:
    """Buffered, chunked writer for one import run.

    Parameters
    ----------
    path : str | Path
        The catalog folder (created if missing).
    replace : bool
        Delete existing files of the same type and instrument that overlap the new data (whole
        files) instead of failing on the overlap.
    chunk_rows : int
        Objects per Parquet file (per type and instrument).
    """

    def __init__(self, path: str | Path = DEFAULT_CATALOG, replace: bool = False, chunk_rows: int = 250_000) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.catalog = ParquetDataCatalog(str(self.path))
        self.replace = replace
        self.chunk_rows = chunk_rows
        self.counts: Counter = Counter()  # objects written per (type name, instrument id)
        self.spans: dict[tuple[str, str], tuple[int, int]] = {}
        self._buffers: dict[tuple[type, str], list] = {}
        self._existing: dict[tuple[type, str], list[tuple[int, int]]] = {}
        self._sinks: list[ArrowCatalogSink] = []

    def write_instrument(self, instrument: Instrument) -> None:
        existing = [i for i in self.catalog.instruments() if i.id == instrument.id]
        if existing and existing[0] != instrument:
            log.info("replacing the catalog's definition of %s", instrument.id)
        if not existing or existing[0] != instrument:
            self.catalog.write_data([instrument], skip_disjoint_check=True)
        self.counts[(type(instrument).__name__, instrument.id.value)] += 1

    def add(self, obj) -> None:
        key = (type(obj), obj.instrument_id.value)
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = []
        buf.append(obj)
        if len(buf) >= self.chunk_rows:
            self._flush(key, final=False)

    def extend(self, objs: Iterable) -> None:
        for obj in objs:
            self.add(obj)

    def sink(self, cls: type, instrument: Instrument, rows_per_group: int = 100_000) -> ArrowCatalogSink:
        """A streaming writer of Arrow batches of `cls` (in Nautilus's layout) for `instrument`,
        closed with this writer."""
        sink = ArrowCatalogSink(self, cls, instrument, rows_per_group)
        self._sinks.append(sink)
        return sink

    def close(self) -> Counter:
        for key in list(self._buffers):
            self._flush(key, final=True)
        for sink in self._sinks:
            sink.close()
        return self.counts

    def record_span(self, cls: type, ident: str, start: int, end: int, rows: int) -> None:
        key = (cls.__name__, ident)
        self.counts[key] += rows
        prev = self.spans.get(key)
        self.spans[key] = (prev[0] if prev else start, end)

    def _flush(self, key: tuple[type, str], final: bool) -> None:
        buf = self._buffers[key]
        if not buf:
            return
        cut = len(buf)
        if not final:
            # Keep the last instant together: the next file must start strictly later.
            last = buf[-1].ts_init
            while cut > 0 and buf[cut - 1].ts_init == last:
                cut -= 1
            if cut == 0:
                return
        chunk, self._buffers[key] = buf[:cut], buf[cut:]
        cls, ident = key
        start, end = chunk[0].ts_init, chunk[-1].ts_init
        if cls is FundingRateUpdate:
            chunk = self._merge_funding(chunk, ident)
        else:
            self.check_overlap(cls, ident, start, end)
        self.catalog.write_data(chunk)
        self.record_span(cls, ident, start, end, len(chunk))

    def _merge_funding(self, chunk: list, ident: str) -> list:
        existing = (
            self.catalog.funding_rates(instrument_ids=[ident]) if self.catalog.get_intervals(FundingRateUpdate, ident) else []
        )
        if not existing:
            return chunk

        def key(u):
            # Nautilus 1.231 reads `rate` back from Parquet as a str, while fresh objects hold a Decimal.
            return (u.ts_init, u.ts_event, Decimal(str(u.rate)), u.next_funding_ns, u.interval)

        merged = {key(u): u for u in existing}
        added = sum(1 for u in chunk if key(u) not in merged)
        merged.update((key(u), u) for u in chunk)
        self.catalog.delete_data_range(FundingRateUpdate, ident)
        log.info("merged %d new funding updates into %d already in the catalog for %s", added, len(existing), ident)
        return sorted(merged.values(), key=key)

    def check_overlap(self, cls: type, ident: str, start: int, end: int) -> None:
        """Refuse (or, replacing, delete the files of) data of `cls` for `ident` already in the
        catalog between `start` and `end` (ns, inclusive)."""
        key = (cls, ident)
        if key not in self._existing:
            self._existing[key] = self.catalog.get_intervals(cls, ident)
        clashes = [(a, b) for a, b in self._existing[key] if a <= end and start <= b]
        if not clashes:
            return
        if not self.replace:
            a, b = clashes[0]
            raise CatalogOverlapError(
                f"{self.path}: the catalog already holds {cls.__name__} for {ident} from {_iso(a)} to {_iso(b)}, "
                f"overlapping this import ({_iso(start)} onwards); import into another catalog or pass --replace",
            )
        # Whole files go: deleting a file's exact span removes it without splitting, which
        # Nautilus 1.231 cannot do for every type (no Arrow decoder for MarkPriceUpdate).
        for a, b in clashes:
            log.info("replacing %s %s: removing the file %s -> %s", cls.__name__, ident, _iso(a), _iso(b))
            self.catalog.delete_data_range(cls, ident, a, b)
        self._existing[key] = self.catalog.get_intervals(cls, ident)

    def summary(self) -> str:
        lines = [f"catalog {self.path.resolve()}"]
        for (name, ident), (a, b) in sorted(self.spans.items()):
            lines.append(f"  {name:<18} {ident:<24} {self.counts[(name, ident)]:>10,}  {_iso(a)} -> {_iso(b)}")
        return "\n".join(lines)


# ---------------------------------------------------------------------- Arrow batches in Nautilus's layout


@functools.cache
def _stub_schema(cls: type) -> pa.Schema:
    iid, one, unit = InstrumentId.from_str("X.Y"), Price(1, 0), Quantity(1, 0)
    stubs = {
        TradeTick: lambda: TradeTick(iid, one, unit, AggressorSide.BUYER, TradeId("1"), 0, 0),
        QuoteTick: lambda: QuoteTick(iid, one, one, unit, unit, 0, 0),
        OrderBookDelta: lambda: OrderBookDelta(iid, BookAction.ADD, BookOrder(OrderSide.BUY, one, unit, 0), 0, 0, 0, 0),
    }
    return ArrowSerializer.serialize_batch([stubs[cls]()], data_cls=cls).schema


def nautilus_schema(cls: type, instrument: Instrument) -> pa.Schema:
    """The Arrow schema Nautilus's own serializer writes for `cls` (TradeTick, QuoteTick,
    OrderBookDelta), with `instrument`'s id and precisions in its metadata."""
    return _stub_schema(cls).with_metadata(
        {
            b"instrument_id": instrument.id.value.encode(),
            b"price_precision": str(instrument.price_precision).encode(),
            b"size_precision": str(instrument.size_precision).encode(),
        }
    )


RAW_DECIMAL = pa.decimal128(38, FIXED_PRECISION)


def fixed_from_decimal(values: pa.Array) -> pa.FixedSizeBinaryArray:
    """Nautilus's fixed-point raws (a little-endian 128-bit integer: the value x 10^FIXED_PRECISION)
    of exact decimals (no nulls). A decimal is a little-endian 128-bit integer at its scale, so
    the raw is that integer x 10^(FIXED_PRECISION - scale): `fixed_from_ticks` when the integers
    fit 64 bits, else pyarrow's cast to scale FIXED_PRECISION (the same bytes, slower)."""
    if values.null_count:
        raise ValueError("fixed-point values cannot be null")
    scale = values.type.scale
    words = np.frombuffer(values.buffers()[1], dtype=np.int64)[2 * values.offset : 2 * (values.offset + len(values))]
    lo, hi = words[0::2], words[1::2]
    if scale <= FIXED_PRECISION and np.array_equal(hi, lo >> 63) and (lo.size == 0 or lo.min() >= 0):
        return fixed_from_ticks(lo, scale)
    raw = values.cast(RAW_DECIMAL)
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(raw), [None, raw.buffers()[1]], offset=raw.offset)


def fixed_from_ticks(ticks: np.ndarray, precision: int) -> pa.FixedSizeBinaryArray:
    """Raws of integer counts of 10^-precision (ticks >= 0): ticks x 10^(FIXED_PRECISION - precision),
    exact. 10^k = 5^k x 2^k: when ticks x 5^k fits 63 bits the product is a shift of it, else the
    64 x 64-bit product is formed from 32-bit halves."""
    a = np.ascontiguousarray(ticks, dtype=np.int64)
    if a.size and a.min() < 0:
        raise ValueError("negative fixed-point ticks")
    k = FIXED_PRECISION - precision
    words = np.empty(2 * len(a), dtype=np.uint64)
    if a.size == 0 or int(a.max()) <= (2**63 - 1) // 5**k:
        m = (a * np.int64(5**k)).view(np.uint64)
        words[0::2] = m << np.uint64(k)
        words[1::2] = m >> np.uint64(64 - k) if k else 0
    else:
        u = a.view(np.uint64)
        unit = 10**k
        m32, s32 = np.uint64(0xFFFFFFFF), np.uint64(32)
        b_lo, b_hi = np.uint64(unit & 0xFFFFFFFF), np.uint64(unit >> 32)
        a_lo, a_hi = u & m32, u >> s32
        p0, p1, p2, p3 = a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi
        mid = (p0 >> s32) + (p1 & m32) + (p2 & m32)
        words[0::2] = (p0 & m32) | (mid << s32)
        words[1::2] = p3 + (p1 >> s32) + (p2 >> s32) + (mid >> s32)
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(a), [None, pa.py_buffer(words)])


def catalog_file_name(start_ns: int, end_ns: int) -> str:
    """The name Nautilus's catalog gives a file holding ``ts_init`` from `start_ns` to `end_ns`."""
    a, b = (unix_nanos_to_iso8601(t).replace(":", "-").replace(".", "-") for t in (start_ns, end_ns))
    return f"{a}_{b}.parquet"


class ArrowCatalogSink:
    """Record batches of one type and instrument into catalog files, streamed (one row group at a
    time), one file per `end_file()`; the batches' ``ts_init`` must not decrease.

    A file is written under a hidden name and renamed to its ``ts_init`` span once closed, so a
    failed import leaves no half file where the catalog would read it (`abort` deletes it). Files
    never share an instant: rows of the instant that ends a file and is continued by the next
    batch stay in the file they started.
    """

    def __init__(self, owner: CatalogWriter, cls: type, instrument: Instrument, rows_per_group: int) -> None:
        self.owner = owner
        self.cls = cls
        self.ident = instrument.id.value
        self.schema = nautilus_schema(cls, instrument)
        self.rows_per_group = rows_per_group
        self.folder = owner.path / "data" / class_to_filename(cls) / urisafe_identifier(self.ident)
        self._writer: pq.ParquetWriter | None = None
        self._tmp: Path | None = None
        self._start = self._end = -1
        self._rows = 0
        self._roll = False
        self._dictionary = [f.name for f in self.schema if f.type != pa.string() and not f.name.startswith("ts_")]

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        ts = batch.column("ts_init").to_numpy()
        if self._roll and self._writer is not None:
            # Rows at the closing file's last instant stay with it.
            head = int(np.searchsorted(ts, self._end, side="right"))
            if head:
                log.warning(
                    "%s %s: %d rows share the last instant (%s) of the file before: kept in its catalog file",
                    self.cls.__name__,
                    self.ident,
                    head,
                    _iso(self._end),
                )
                self._write(batch.slice(0, head), ts[:head])
                batch, ts = batch.slice(head), ts[head:]
            if batch.num_rows == 0:
                return
            self._finish()
        self._roll = False
        self._write(batch, ts)

    def end_file(self) -> None:
        """The next batch that starts a new instant starts a new file."""
        self._roll = True

    def close(self) -> None:
        if self._writer is not None:
            self._finish()

    def abort(self) -> None:
        """Drop what the current source file wrote (an import that failed half way); the files
        before it are kept."""
        if self._roll:
            self.close()  # the open file holds only the files before: complete
        elif self._writer is not None:
            self._writer.close()
            self._writer = None
            if self._tmp is not None:
                self._tmp.unlink(missing_ok=True)

    def _write(self, batch: pa.RecordBatch, ts: np.ndarray) -> None:
        first, last = int(ts[0]), int(ts[-1])
        if self._writer is None:
            self.owner.check_overlap(self.cls, self.ident, first, first)
            self.folder.mkdir(parents=True, exist_ok=True)
            self._tmp = self.folder / f".{first}.parquet.partial"
            # Statistics on the timestamps only: they are what a query prunes row groups by.
            stats = ["ts_event", "ts_init"]
            self._writer = pq.ParquetWriter(self._tmp, self.schema, use_dictionary=self._dictionary, write_statistics=stats)
            self._start, self._rows = first, 0
        self._writer.write_batch(batch.cast(self.schema) if batch.schema != self.schema else batch, self.rows_per_group)
        self._end = last
        self._rows += batch.num_rows

    def _finish(self) -> None:
        assert self._writer is not None and self._tmp is not None
        self._writer.close()
        self._writer = None
        try:
            self.owner.check_overlap(self.cls, self.ident, self._start, self._end)
        except CatalogOverlapError:
            self._tmp.unlink(missing_ok=True)
            raise
        self._tmp.rename(self.folder / catalog_file_name(self._start, self._end))
        self.owner.record_span(self.cls, self.ident, self._start, self._end, self._rows)


def write_to_catalog(
    events: Iterable,
    instrument: Instrument,
    path: str | Path = DEFAULT_CATALOG,
    replace: bool = False,
) -> CatalogWriter:
    """Write one instrument's definition and its data (any iterable in ts_init order)."""
    writer = CatalogWriter(path, replace=replace)
    writer.write_instrument(instrument)
    writer.extend(events)
    writer.close()
    return writer


def write_capture(importer, path: str | Path = DEFAULT_CATALOG, replace: bool = False) -> CatalogWriter:
    """A capture importer's data (`BinanceCaptureImporter`, `BybitCaptureImporter`) into the catalog,
    and the invalid spans it found beside it (`scalp_nautilus.data.spans`)."""
    writer = write_to_catalog(importer.events(), importer.instrument, path, replace)
    iid = importer.instrument.id.value
    written = writer.spans.get((OrderBookDelta.__name__, iid))
    add_invalid_spans(path, iid, importer.stats.invalid_spans_ns, written if replace else None)
    return writer


def describe_catalog(path: str | Path = DEFAULT_CATALOG) -> str:
    """Instruments, and per data type and instrument: rows (from Parquet metadata) and time span."""
    import pyarrow.parquet as pq

    root = Path(path)
    if not (root / "data").is_dir():
        return f"{root}: no catalog data"
    catalog = ParquetDataCatalog(str(root))
    lines = [f"catalog {root.resolve()}"]
    for inst in catalog.instruments():
        lines.append(f"  instrument {inst.id}  ({type(inst).__name__}, tick {inst.price_increment}, lot {inst.size_increment})")
        for cls in CATALOG_DATA_TYPES:
            spans = catalog.get_intervals(cls, inst.id.value)
            if not spans:
                continue
            folder = root / "data" / class_to_filename(cls) / inst.id.value
            rows = sum(pq.ParquetFile(f).metadata.num_rows for f in folder.glob("*.parquet"))
            lines.append(f"    {cls.__name__:<18} {rows:>10,} rows  {_iso(spans[0][0])} -> {_iso(spans[-1][1])}")
        invalid = InvalidSpans(read_invalid_spans(root, inst.id.value))
        if invalid:
            lines.append(
                f"    invalid spans  {len(invalid)} ({invalid.seconds:.3f} s)  "
                "the book not to be trusted: skipped by backtests, replays, research"
            )
    return "\n".join(lines)
