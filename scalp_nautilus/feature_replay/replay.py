"""Feature replay without the engine: a catalog's deltas, trades and funding straight into the
strategy's own `BookSnapshotBuilder` and `FeaturePipeline`, rows into the `FeatureRecorder`.

`backtest --record-features` computes the same rows inside Nautilus's `BacktestNode`, paying for
the matching engine, the message bus, the data engine's delta buffering and the strategy's
decisions on every event. Training and research only need the rows, so this replays exactly what
the strategy's data callbacks see, in the engine's order:

- the data configs of the backtest (`scalp_nautilus.backtest.runner.data_configs`: same span, same
  funding history), read in bounded record batches by the streamed backtest's reader
  (`arrow_batches`);
- merged by ``ts_init``, equal timestamps in the configs' order (deltas, trades, quotes, funding,
  mark prices), as the engine's data iterator merges them;
- the deltas applied, a record batch at a time, to the numba L2 book `ReplayBook`, which
  reproduces Nautilus's L2 book (what the data engine's managed book does) from the raw columns
  without making a Nautilus object per delta; at each delta carrying ``F_LAST`` (the end of the
  exchange message the data engine buffers to) one snapshot with that delta's ``ts_event`` /
  ``ts_init`` / sequence (those of the `OrderBookDeltas` the strategy receives), one pipeline row,
  recorded;
- trades, read from the same columns, to `FeaturePipeline.on_trade` with the numbers
  `on_trade_tick` would take from a `TradeTick`; funding rates (few) decoded as Nautilus objects
  to `on_funding`; quotes and mark prices feed no feature (the mark only prices funding payments).

Its rows are bit-identical to the backtest's (tested on every shared capture).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np

from nautilus_trader.backtest.config import BacktestDataConfig
from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.data import TradeTick

from scalp_nautilus.backtest.runner import catalog_instrument
from scalp_nautilus.backtest.runner import data_configs
from scalp_nautilus.backtest.settings import BacktestSettings
from scalp_nautilus.backtest.streaming import arrow_batches
from scalp_nautilus.backtest.streaming import data_chunks
from scalp_nautilus.data.spans import InvalidSpans
from scalp_nautilus.data.spans import read_invalid_spans
from scalp_nautilus.feature_recorder import FeatureRecorder
from scalp_nautilus.feature_replay.book import DELTA_COLUMNS
from scalp_nautilus.feature_replay.book import ReplayBook
from scalp_nautilus.feature_replay.book import fixed_to_float
from scalp_nautilus.indicators.lee_ready import AGGRESSOR_TO_SIDE
from scalp_nautilus.strategy.settings import ScalpStrategyConfig
from scalp_nautilus.strategy.settings import build_builder
from scalp_nautilus.strategy.settings import build_pipeline

_NEVER = 2**64
_TRADE_COLUMNS = ["price", "size", "aggressor_side", "ts_event", "ts_init"]  # not the trade ids (strings)
_SIDES = np.array(AGGRESSOR_TO_SIDE, dtype=np.int64)  # by the aggressor_side column's enum value


@dataclass(frozen=True)
class ReplayResult:
    path: Path
    rows: int  # book batches = recorded rows
    events: int  # deltas, trades and funding updates replayed
    wall_seconds: float
    span_rows: int = 0  # book batches inside the catalog's invalid spans: not recorded (as in the backtest)

    @property
    def events_per_second(self) -> float:
        return self.events / self.wall_seconds if self.wall_seconds > 0 else float("nan")


def _trades(config: BacktestDataConfig, chunk_size: int, price_precision: int, size_precision: int) -> Iterator[tuple]:
    """(ts_init, price, size, side, ts_event) per trade: what `on_trade_tick` passes to `on_trade`."""
    for _, batch in arrow_batches(config, chunk_size, _TRADE_COLUMNS):
        _, price = fixed_to_float(batch.column("price"), price_precision)
        _, size = fixed_to_float(batch.column("size"), size_precision)
        side = _SIDES[batch.column("aggressor_side").to_numpy()]
        columns = (batch.column("ts_init").to_numpy(), price, size, side, batch.column("ts_event").to_numpy())
        yield from zip(*(c.tolist() for c in columns), strict=True)


class _Others:
    """The trades and funding updates, fed to the pipeline in ``ts_init`` order up to a time; a
    trade goes first at an equal time (the trades' data config comes before the funding's)."""

    def __init__(self, configs: list[BacktestDataConfig], chunk_size: int, instrument, pipeline) -> None:
        trades: Iterator[tuple] = iter(())
        funding: Iterator = iter(())
        for config in configs:
            if config.data_type is TradeTick:
                trades = _trades(config, chunk_size, instrument.price_precision, instrument.size_precision)
            elif config.data_type is FundingRateUpdate:
                funding = (e for chunk in data_chunks(config, chunk_size) for e in chunk)
        self._trades, self._funding = trades, funding
        self._on_trade, self._on_funding = pipeline.on_trade, pipeline.on_funding
        self._trade = next(trades, None)
        self._update = next(funding, None)
        self.fed = 0
        self.next_ts = min(self._trade[0] if self._trade else _NEVER, self._update.ts_init if self._update else _NEVER)

    def feed_before(self, ts: int) -> None:
        """Feed every event with ``ts_init`` < `ts` (all of them: `_NEVER`)."""
        trade, update = self._trade, self._update
        trade_ts = trade[0] if trade is not None else _NEVER
        update_ts = update.ts_init if update is not None else _NEVER
        fed = 0
        while True:
            if trade_ts <= update_ts:
                if trade_ts >= ts:
                    break
                self._on_trade(trade[1], trade[2], trade[3], trade[4])  # type: ignore[index]
                trade = next(self._trades, None)
                trade_ts = trade[0] if trade is not None else _NEVER
            else:
                if update_ts >= ts:
                    break
                self._on_funding(update)
                update = next(self._funding, None)
                update_ts = update.ts_init if update is not None else _NEVER
            fed += 1
        self._trade, self._update = trade, update
        self.fed += fed
        self.next_ts = min(trade_ts, update_ts)


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
    catalog = settings.catalog_store.catalog()
    instrument = catalog_instrument(catalog, instrument_id)
    builder = build_builder(config, instrument)
    pipeline = build_pipeline(config)
    book = ReplayBook(builder.depth, builder.price_precision, builder.size_precision, builder.band_bps)
    on_book, from_tops = pipeline.on_book, builder.from_tops
    configs = data_configs(settings, catalog, instrument.id)
    deltas = [c for c in configs if c.data_type is OrderBookDelta]
    events = span_rows = 0
    store = settings.catalog_store
    spans = InvalidSpans(read_invalid_spans(store.location, instrument_id, store.storage_options))
    started = time.perf_counter()
    others = _Others(configs, chunk_size, instrument, pipeline)
    with FeatureRecorder(out, invalid_spans=spans.spans) as recorder:
        record, feed_before = recorder.record, others.feed_before
        for file, batch in (fb for c in deltas for fb in arrow_batches(c, chunk_size, DELTA_COLUMNS)):
            tops = book.apply(batch, file)
            events += batch.num_rows
            rows = tops.row
            ts_inits = batch.column("ts_init").to_numpy()[rows].tolist()
            ts_events = batch.column("ts_event").to_numpy()[rows].tolist()
            sequences = batch.column("sequence").to_numpy()[rows].tolist()
            for b, ts in enumerate(ts_inits):
                # Another event goes before every delta with a later ts_init, so before this
                # batch's snapshot; at an equal ts_init the deltas go first (configs' order).
                if others.next_ts < ts:
                    feed_before(ts)
                row = on_book(from_tops(tops, b, ts_events[b], ts, sequences[b]))
                if spans and spans.inside(ts_events[b]):
                    span_rows += 1  # the strategy's gate: no row from inside an invalid span
                    continue
                record(row)
        feed_before(_NEVER)
    events += others.fed
    return ReplayResult(Path(out), recorder.rows, events, time.perf_counter() - started, span_rows)
