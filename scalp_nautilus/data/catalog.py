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

import logging
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import pandas as pd

from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.data import MarkPriceUpdate
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.persistence.funcs import class_to_filename

from scalp_nautilus.data import DEFAULT_CATALOG
from scalp_nautilus.data.spans import InvalidSpans
from scalp_nautilus.data.spans import add_invalid_spans
from scalp_nautilus.data.spans import read_invalid_spans

log = logging.getLogger(__name__)

CATALOG_DATA_TYPES = (OrderBookDelta, TradeTick, QuoteTick, FundingRateUpdate, MarkPriceUpdate)


class CatalogOverlapError(ValueError):
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

    def close(self) -> Counter:
        for key in list(self._buffers):
            self._flush(key, final=True)
        return self.counts

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
            self._check_overlap(cls, ident, start, end)
        self.catalog.write_data(chunk)
        span_key = (cls.__name__, ident)
        self.counts[span_key] += len(chunk)
        prev = self.spans.get(span_key)
        self.spans[span_key] = (prev[0] if prev else start, end)

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

    def _check_overlap(self, cls: type, ident: str, start: int, end: int) -> None:
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
