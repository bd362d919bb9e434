"""Streaming a catalog through a `BacktestEngine` in bounded memory, funding data included.

Nautilus 1.231's `BacktestNode` streams (`chunk_size`) through one Rust `DataBackendSession` that
decodes only the types it knows natively (deltas, trades, quotes, bars, mark prices);
`FundingRateUpdate` is not one of them, so the session treats it as a custom type and stops with
"custom data type 'FundingRateUpdate' is not registered with an Arrow schema containing ts_init"
(`ParquetDataCatalog._nautilus_data_cls_to_data_type` has no entry for it, and registering a
custom class would hand the engine `CustomData` wrappers instead of funding updates).

`StreamingBacktestNode` instead gives the engine one generator per data config
(`BacktestEngine.add_data_iterator`, the engine's own low-level streaming API). Each reads its
files in time order (a directory's files hold disjoint ``ts_init`` spans, each written in
``ts_init`` order by `CatalogWriter`), record batch by record batch, decoded by the Arrow
deserializer the catalog's own queries use. Nothing is sorted: a Rust session's query ends in
``ORDER BY ts_init``, which over a directory sorts the whole catalog in memory (peak RSS grew with
the data: 1.9 GB for 8 simulated hours against 0.7 GB for one) and, with a time filter, reorders
the deltas of one batch (equal ``ts_init``) differently from whole loading. Mark prices, which
1.231 has no Arrow decoder for, go through a Rust session per file (one file sorted at a time).

The engine's iterator merges the streams by ``ts_init``, ties going to the stream added first: the
data configs' order, which is also the order whole loading leaves equal timestamps in (its stable
sort of the configs' data concatenated). So a streamed run replays exactly the event sequence of
a whole-loaded one, holding at most one chunk per stream.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nautilus_trader.backtest.config import BacktestDataConfig
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.backtest.node import BacktestNode
from nautilus_trader.core.nautilus_pyo3 import DataBackendSession
from nautilus_trader.core.nautilus_pyo3 import drop_cvec_pycapsule
from nautilus_trader.model.data import MarkPriceUpdate
from nautilus_trader.model.data import capsule_to_list
from nautilus_trader.model.data import pyo3_list_to_data_list
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.serialization.arrow.serializer import ArrowSerializer

from scalp_nautilus.config import parse_utc
from scalp_nautilus.errors import InputError


def _ns(value) -> int | None:
    return None if value is None else parse_utc(value).value


def _identifiers(config: BacktestDataConfig) -> list[str] | None:
    return [str(config.instrument_id)] if config.instrument_id else None


def _native_chunks(catalog: ParquetDataCatalog, config: BacktestDataConfig, chunk_size: int) -> Iterator[list]:
    """One Rust session per file, in time order: chunks of at most `chunk_size` objects, one file
    (`CatalogWriter.chunk_rows` objects) sorted at a time."""
    for file in _files(catalog, config):
        session = catalog.backend_session(
            data_cls=config.data_type,
            identifiers=_identifiers(config),
            start=config.start_time,
            end=config.end_time,
            session=DataBackendSession(chunk_size=chunk_size),
            files=[file],
        )
        for chunk in session.to_query_result():
            if isinstance(chunk, list):
                yield pyo3_list_to_data_list(chunk)
            else:
                data = capsule_to_list(chunk)
                drop_cvec_pycapsule(chunk)  # the capsule's destructor is a no-op: give the Vec back
                yield data


def _files(catalog: ParquetDataCatalog, config: BacktestDataConfig) -> list[str]:
    """The config's files in time order (a directory's files hold disjoint ``ts_init`` spans and
    are named by them in fixed-width ISO form, so the name order is the time order)."""
    cls = config.data_type
    files = catalog.filter_files(
        cls,
        catalog.get_file_list_from_data_cls(cls),
        _identifiers(config),
        config.start_time,
        config.end_time,
    )
    return sorted(files, key=lambda f: f.rsplit("/", 1)[-1])


def _filesystem(catalog: ParquetDataCatalog):
    """What pyarrow reads the catalog's files through: the local disk directly, else its fsspec filesystem."""
    return None if catalog.fs_protocol == "file" else catalog.fs


def data_bounds(config: BacktestDataConfig) -> tuple[int, int] | None:
    """First and last ``ts_init`` a config replays (from the ``ts_init`` column of its first and
    last files only), or None when it holds nothing in its span."""
    catalog = BacktestNode.load_catalog(config)
    files = _files(catalog, config)
    if not files:
        return None
    start, end = _ns(config.start_time), _ns(config.end_time)
    fs = _filesystem(catalog)
    firsts, lasts = (
        _kept(pq.read_table(f, columns=["ts_init"], filesystem=fs).column("ts_init").to_numpy(), start, end)
        for f in (files[0], files[-1])
    )
    if not len(firsts) or not len(lasts):
        return None
    return int(firsts.min()), int(lasts.max())


def _kept(ts, start: int | None, end: int | None):
    if start is not None:
        ts = ts[ts >= start]
    if end is not None:
        ts = ts[ts <= end]
    return ts


def arrow_batches(
    config: BacktestDataConfig, chunk_size: int, columns: list[str] | None = None
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """The config's files in time order, each read in record batches of at most `chunk_size` rows
    in written order, kept to the config's span: (file, batch) pairs, empty batches skipped.
    `columns`: only these (``ts_init`` among them), all by default."""
    catalog = BacktestNode.load_catalog(config)
    start, end = _ns(config.start_time), _ns(config.end_time)
    fs = _filesystem(catalog)
    for file in _files(catalog, config):
        for read in pq.ParquetFile(file, filesystem=fs).iter_batches(batch_size=chunk_size, columns=columns):
            batch = read
            if start is not None:
                batch = batch.filter(pc.greater_equal(batch.column("ts_init"), start))
            if end is not None:
                batch = batch.filter(pc.less_equal(batch.column("ts_init"), end))
            if batch.num_rows:
                yield file, batch


def _arrow_chunks(config: BacktestDataConfig, chunk_size: int) -> Iterator[list]:
    """`arrow_batches` decoded by the Arrow deserializer the catalog's own queries use."""
    cls = config.data_type
    for _, batch in arrow_batches(config, chunk_size):
        data = ArrowSerializer.deserialize(data_cls=cls, batch=batch)
        if type(data[0]) is not cls:  # Rust-decoded (book, trade, quote): to Cython objects
            data = cls.from_pyo3_list(data)  # type: ignore[attr-defined]  # Nautilus's data classes have it
        yield data


def data_chunks(config: BacktestDataConfig, chunk_size: int) -> Iterator[list]:
    """One data config's objects in ``ts_init`` order, `chunk_size` at a time."""
    if config.data_type is MarkPriceUpdate:
        return _native_chunks(BacktestNode.load_catalog(config), config, chunk_size)
    return _arrow_chunks(config, chunk_size)


@contextmanager
def old_objects_frozen() -> Iterator[None]:
    """Python's cyclic collector left out of the objects alive before a run (`gc.freeze`):
    hundreds of thousands once Nautilus, numba and pyarrow are imported, which every full
    collection, triggered by the run's own allocations, would scan for nothing (in the feature
    replay of the simulated hour 0.15-0.2 s of CPU, a seventh of it; in the backtest 0.25-0.4 s
    of CPU a 10 minutes of data, measured). New objects are collected as usual; at the end every
    object is collectable again (a freeze of the caller's is undone too)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class StreamingBacktestNode(BacktestNode):
    """A `BacktestNode` whose streamed runs (`chunk_size` set) accept every catalog type."""

    def _run_streaming(
        self,
        run_config_id: str,
        engine: BacktestEngine,
        data_configs: list[BacktestDataConfig],
        chunk_size: int,
        start: str | int | None = None,
        end: str | int | None = None,
    ) -> None:
        # Without preloaded data the engine would run its clocks from 1970 to 2100: give it the span
        # whole loading would take, the first and last event of any type.
        bounds = [b for b in map(data_bounds, data_configs) if b]
        if not bounds:
            raise InputError(f"run {run_config_id}: the catalog holds no data for its data configs")
        for i, config in enumerate(data_configs):
            engine.add_data_iterator(f"{i}:{config.data_type.__name__}", data_chunks(config, chunk_size))
        engine.run(
            start=start if start is not None else min(a for a, _ in bounds),
            end=end if end is not None else max(b for _, b in bounds),
            run_config_id=run_config_id,
        )
