"""The oracle's feature rows of a catalog: Nautilus's own objects and `OrderBook`, the oracle's
builder and pipeline (`tests.oracle`), fed in the engine's order (``ts_init``, equal times in the
data configs' order), as the strategy's callbacks would see them. Independent of the product's
replay (no `ReplayBook`, no compiled pipeline)."""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.enums import RecordFlag
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from scalp_nautilus.backtest.runner import catalog_instrument
from scalp_nautilus.backtest.runner import data_configs
from scalp_nautilus.backtest.settings import BacktestSettings
from scalp_nautilus.backtest.streaming import data_chunks
from tests.oracle.build import build_builder
from tests.oracle.build import build_pipeline

F_LAST = int(RecordFlag.F_LAST)


def _keyed(config, rank: int) -> Iterator[tuple]:
    for n, event in enumerate(e for chunk in data_chunks(config, 100_000) for e in chunk):
        yield event.ts_init, rank, n, event


def _events(configs) -> Iterator[object]:
    streams = [_keyed(c, i) for i, c in enumerate(configs) if c.data_type in (OrderBookDelta, TradeTick, FundingRateUpdate)]
    for *_, event in heapq.merge(*streams):
        yield event


def oracle_rows(catalog_path, instrument_id: str, config, start: str | None = None, end: str | None = None) -> list[tuple]:
    """One row (a `FeatureSnapshot` of the oracle) per book batch."""
    return nautilus_rows(catalog_path, instrument_id, lambda i: (build_builder(config, i), build_pipeline(config)), start, end)


def nautilus_rows(catalog_path, instrument_id: str, build, start: str | None = None, end: str | None = None) -> list[tuple]:
    """The rows of the builder and pipeline `build(instrument)` returns, fed through Nautilus's own
    objects and `OrderBook` in the engine's order."""
    settings = BacktestSettings(catalog=str(catalog_path), instrument_id=instrument_id, start=start, end=end)
    catalog = ParquetDataCatalog(str(catalog_path))
    instrument = catalog_instrument(catalog, instrument_id)
    builder, pipeline = build(instrument)
    book = OrderBook(instrument.id, BookType.L2_MBP)
    rows = []
    for event in _events(data_configs(settings, catalog, instrument.id)):
        if isinstance(event, OrderBookDelta):
            book.apply_delta(event)
            if event.flags & F_LAST:
                snapshot = builder.from_book(book, event.ts_event, event.ts_init, event.sequence)
                rows.append(pipeline.on_book(snapshot))
        elif isinstance(event, TradeTick):
            pipeline.on_trade_tick(event)
        else:
            pipeline.on_funding(event)
    return rows
