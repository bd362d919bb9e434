"""Feature replay without the engine: a catalog's deltas, trades and funding straight into the
strategy's own `BookSnapshotBuilder` and `FeaturePipeline`, rows into the `FeatureRecorder`.

`backtest --record-features` computes the same rows inside Nautilus's `BacktestNode`, paying for
the matching engine, the message bus, the data engine's delta buffering and the strategy's
decisions on every event. Training and research only need the rows, so this replays exactly what
the strategy's data callbacks see, in the engine's order:

- the data configs of the backtest (`scalp_nautilus.backtest.runner.data_configs`: same span, same
  funding history), read in bounded chunks by the streamed backtest's readers;
- merged by ``ts_init``, equal timestamps in the configs' order (deltas, trades, quotes, funding,
  mark prices), as the engine's data iterator merges them;
- each delta applied to an L2 `OrderBook` (what the data engine's managed book does); at a delta
  carrying ``F_LAST`` (the end of the exchange message the data engine buffers to) one snapshot from
  the book with that delta's ``ts_event`` / ``ts_init`` / sequence (those of the `OrderBookDeltas`
  the strategy receives), one pipeline row, recorded;
- trades to `FeaturePipeline.on_trade_tick`, funding rates to `on_funding`; quotes and mark prices
  feed no feature (the mark only prices funding payments).

Its rows are bit-identical to the backtest's (tested on every shared capture).
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

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
from scalp_nautilus.recorder import FeatureRecorder
from scalp_nautilus.strategy.config import ScalpStrategyConfig
from scalp_nautilus.strategy.config import build_builder
from scalp_nautilus.strategy.config import build_pipeline

_F_LAST = int(RecordFlag.F_LAST)
_FED = (OrderBookDelta, TradeTick, FundingRateUpdate)  # the types a feature reads
_NEVER = 2**64


@dataclass(frozen=True)
class ReplayResult:
    path: Path
    rows: int  # book batches = recorded rows
    events: int  # deltas, trades and funding updates replayed
    wall_seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.wall_seconds if self.wall_seconds > 0 else float("nan")


def _streams(settings: BacktestSettings, catalog: ParquetDataCatalog, instrument, chunk_size: int):
    """The deltas' chunks, and the other fed types' events (trades, funding) merged by ``ts_init``
    with ties in the configs' order (`heapq.merge` is stable across its inputs)."""
    deltas, others = iter(()), []
    for config in data_configs(settings, catalog, instrument.id):
        if config.data_type is OrderBookDelta:
            deltas = data_chunks(config, chunk_size)
        elif config.data_type in _FED:
            others.append(e for chunk in data_chunks(config, chunk_size) for e in chunk)
    return deltas, heapq.merge(*others, key=lambda e: e.ts_init)


def replay_features(
    catalog_path: str | Path,
    instrument_id: str,
    config: ScalpStrategyConfig,
    out: str | Path,
    start: str | None = None,
    end: str | None = None,
    chunk_size: int = 100_000,
    funding_history_days: float | None = None,
) -> ReplayResult:
    """Replay `catalog_path`'s `instrument_id` between `start` and `end` through `config`'s builder
    and pipeline into the Parquet file `out` (one row per book batch). The funding history read
    before the book data is the backtest's (`funding_history_days`, default the backtest's)."""
    settings = BacktestSettings(catalog=str(catalog_path), instrument_id=instrument_id, start=start, end=end)
    if funding_history_days is not None:
        settings = msgspec.structs.replace(settings, funding_history_days=funding_history_days)
    catalog = ParquetDataCatalog(str(catalog_path))
    instrument = catalog_instrument(catalog, instrument_id)
    book = OrderBook(instrument.id, BookType.L2_MBP)
    builder = build_builder(config, instrument)
    pipeline = build_pipeline(config)
    on_book, on_trade, on_funding = pipeline.on_book, pipeline.on_trade_tick, pipeline.on_funding
    apply, snapshot = book.apply_delta, builder.from_book
    events = 0
    started = time.perf_counter()
    delta_chunks, others = _streams(settings, catalog, instrument, chunk_size)

    def feed(e) -> None:
        if type(e) is TradeTick:
            on_trade(e)
        else:
            on_funding(e)

    # Deltas are ~95% of the events: a two-way merge against the few others, instead of a heap
    # step per event. A delta goes before another event at the same ts_init (the deltas' data
    # config comes first, as in the engine's merge).
    other = next(others, None)
    other_ts = other.ts_init if other is not None else _NEVER
    with FeatureRecorder(out) as recorder:
        record = recorder.record
        for chunk in delta_chunks:
            events += len(chunk)
            for e in chunk:
                ts = e.ts_init
                while other_ts < ts:
                    feed(other)
                    events += 1
                    other = next(others, None)
                    other_ts = other.ts_init if other is not None else _NEVER
                apply(e)
                if e.flags & _F_LAST:
                    record(on_book(snapshot(book, e.ts_event, ts, e.sequence)))
        while other is not None:
            feed(other)
            events += 1
            other = next(others, None)
    return ReplayResult(Path(out), recorder.rows, events, time.perf_counter() - started)
