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
- trades, read from the same columns, with the numbers `on_trade_tick` would take from a
  `TradeTick`; funding rates (few) decoded as Nautilus objects to `on_funding`; quotes and mark
  prices feed no feature (the mark only prices funding payments);
- each record batch's book batches, with the trades stamped before each, go through one compiled
  call (`FeaturePipeline.replay_chunk`: the snapshot builder's band logic, the pipeline's batch
  kernel, the row), which stops only where Python must act (a funding update due, the next chunk
  of trades); the rows go to the recorder column by column. With an LSTM model active, torch
  predicts per batch: the batches then go one by one through `BookSnapshotBuilder.from_tops` and
  `FeaturePipeline.on_book`;
- in the top-of-book mode (`book.mode`, `scalp_nautilus.top_of_book`: a catalog with quotes and no
  deltas) each quote is a one-level book batch (`quote_tops`), as `ScalpStrategy.on_quote_tick`
  makes it, and the same compiled call runs on those;
- a book batch whose exchange time lies inside one of the catalog's invalid spans
  (`scalp_nautilus.data.spans`) updates the features but records no row, as the strategy's gate
  takes no decision there (`ReplayResult.span_rows` counts them); the file's metadata keeps the spans.

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
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.objects import FIXED_PRECISION

from scalp_nautilus.backtest.runner import catalog_instrument
from scalp_nautilus.backtest.runner import data_configs
from scalp_nautilus.backtest.settings import BacktestSettings
from scalp_nautilus.backtest.streaming import arrow_batches
from scalp_nautilus.backtest.streaming import data_chunks
from scalp_nautilus.backtest.streaming import old_objects_frozen
from scalp_nautilus.data.spans import InvalidSpans
from scalp_nautilus.data.spans import read_invalid_spans
from scalp_nautilus.feature_recorder import FeatureRecorder
from scalp_nautilus.feature_replay.book import DELTA_COLUMNS
from scalp_nautilus.feature_replay.book import QUOTE_COLUMNS
from scalp_nautilus.feature_replay.book import ReplayBook
from scalp_nautilus.feature_replay.book import fixed_to_float
from scalp_nautilus.feature_replay.book import quote_tops
from scalp_nautilus.features import BUILDER_FLOATS
from scalp_nautilus.features import BUILDER_INTS
from scalp_nautilus.features import BUILDER_INVERSE
from scalp_nautilus.features import BUILDER_LEVELS
from scalp_nautilus.features import BUILDER_MULTIPLIER
from scalp_nautilus.features import BUILDER_REFRESH_NS
from scalp_nautilus.features import BUILT
from scalp_nautilus.features import SKIP_CROSSED
from scalp_nautilus.features import SKIP_EMPTY
from scalp_nautilus.features import SKIP_ONE_SIDED
from scalp_nautilus.indicators.lee_ready import AGGRESSOR_TO_SIDE
from scalp_nautilus.strategy.settings import ScalpStrategyConfig
from scalp_nautilus.strategy.settings import build_builder
from scalp_nautilus.strategy.settings import build_pipeline
from scalp_nautilus.top_of_book import L2
from scalp_nautilus.top_of_book import TOP_OF_BOOK
from scalp_nautilus.top_of_book import resolve

_NEVER = 2**63 - 1  # after every timestamp (int64, as the kernel takes it)
_TRADE_COLUMNS = ["price", "size", "aggressor_side", "ts_event", "ts_init"]  # not the trade ids (strings)
_SIDES = np.array(AGGRESSOR_TO_SIDE, dtype=np.int64)  # by the aggressor_side column's enum value


def builder_state(builder) -> tuple[np.ndarray, np.ndarray, float]:
    """The snapshot builder's band state as `FeaturePipeline.replay_chunk` takes it (floats, ints,
    tick size), as `BookSnapshotBuilder` keeps it in Python (see `features._band`)."""
    bs = np.zeros(BUILDER_FLOATS)
    bn = np.zeros(BUILDER_INTS, dtype=np.int64)
    bs[BUILDER_MULTIPLIER], bn[BUILDER_INVERSE], bn[BUILDER_REFRESH_NS], bn[BUILDER_LEVELS] = (
        builder.multiplier,
        builder.inverse,
        builder.band_refresh_ns,
        builder.levels,
    )
    return bs, bn, builder.tick_size


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


def _trade_columns(
    configs: list[BacktestDataConfig], chunk_size: int, price_precision: int, size_precision: int, mode: str = L2
) -> Iterator[tuple]:
    """The trades, a record batch at a time, as columns: (ts_init, price, size, side, ts_event),
    the numbers `on_trade_tick` passes to `on_trade`. The ts_init column is the replay's order key:
    a trade goes before a book batch stamped later. At an equal stamp the engine feeds the deltas
    first and the trades before the quotes (`CATALOG_DATA_TYPES` order), so in the top-of-book mode
    the key is one nanosecond earlier (it only orders; the features read ts_event)."""
    tie = 1 if mode == TOP_OF_BOOK else 0
    for config in configs:
        if config.data_type is not TradeTick:
            continue
        for _, batch in arrow_batches(config, chunk_size, _TRADE_COLUMNS):
            _, price = fixed_to_float(batch.column("price"), price_precision)
            _, size = fixed_to_float(batch.column("size"), size_precision)
            side = _SIDES[batch.column("aggressor_side").to_numpy()]
            yield batch.column("ts_init").to_numpy() - tie, price, size, side, batch.column("ts_event").to_numpy()


class _Trades:
    """The trade columns in chunks, with a look-ahead of one chunk (whether more are to come)."""

    _EMPTY = (np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))

    def __init__(self, chunks: Iterator[tuple]) -> None:
        self._chunks = chunks
        self.columns = next(chunks, self._EMPTY)
        self._next = next(chunks, None)
        self.at = 0
        self.read = len(self.columns[0])

    @property
    def more(self) -> bool:
        return self._next is not None

    def refill(self) -> bool:
        """Move to the next chunk once this one is fed; False when there is none."""
        if self._next is None or self.at < len(self.columns[0]):
            return False
        self.columns, self._next, self.at = self._next, next(self._chunks, None), 0
        self.read += len(self.columns[0])
        return True


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
    mode = resolve(config.book.mode, catalog, instrument_id)
    config = msgspec.structs.replace(config, book=msgspec.structs.replace(config.book, mode=mode))
    builder = build_builder(config, instrument)
    pipeline = build_pipeline(config)
    configs = data_configs(settings, catalog, instrument.id, mode=mode)
    events = span_rows = 0
    store = settings.catalog_store
    spans = InvalidSpans(read_invalid_spans(store.location, instrument_id, store.storage_options))
    started = time.perf_counter()
    trades = _Trades(_trade_columns(configs, chunk_size, instrument.price_precision, instrument.size_precision, mode))
    funding_configs = [c for c in configs if c.data_type is FundingRateUpdate]
    funding = (e for c in funding_configs for chunk in data_chunks(c, chunk_size) for e in chunk)
    update = next(funding, None)
    fed_funding = 0
    state = builder_state(builder)
    f_columns, i_columns = pipeline.row_columns
    unavailable = pipeline.unavailable(builder.levels)
    with old_objects_frozen(), FeatureRecorder(out, invalid_spans=spans.spans, unavailable=unavailable) as recorder:
        for file, tops, ts_inits, ts_events, sequences, read_rows in _book_batches(configs, mode, builder, chunk_size):
            events += read_rows
            rows = tops.row
            # column-major: each column goes to the recorder as it lies (Arrow takes it without a copy)
            out_f = np.empty((len(rows), len(f_columns)), order="F")
            out_i = np.empty((len(rows), len(i_columns)), dtype=np.int64, order="F")
            read = np.zeros((len(rows), 2), dtype=np.bool_)
            b = 0
            while b < len(rows):
                stop = update.ts_init if update is not None else _NEVER
                if pipeline.lstm.active:  # torch per batch: the Python path
                    b = _python_chunk(pipeline, builder, tops, ts_events, ts_inits, sequences, b, trades, stop, out_f, out_i)
                else:
                    b, trades.at = pipeline.replay_chunk(
                        state,
                        tops,
                        ts_events,
                        ts_inits,
                        sequences,
                        b,
                        trades.columns,
                        trades.at,
                        trades.more,
                        stop,
                        out_f,
                        out_i,
                        read,
                    )
                if b == len(rows) or trades.refill():
                    continue
                # a funding update is due before batch b: the trades up to it first (a trade goes
                # first at an equal time), then the update
                assert update is not None
                while True:
                    trades.at = pipeline.trades_until(trades.columns, trades.at, update.ts_init)
                    if not trades.refill():
                        break
                pipeline.on_funding(update)
                fed_funding += 1
                update = next(funding, None)
            _check_band_edges(builder, tops, out_f, f_columns, read, file)
            if spans:  # the strategy's gate: no row from inside an invalid span (the features still saw it)
                keep = ~spans.inside_each(ts_events)
                span_rows += len(keep) - int(keep.sum())
                out_f, out_i = out_f[keep], out_i[keep]
            columns: dict[str, np.ndarray | list] = {c.name: out_f[:, j] for j, c in enumerate(f_columns)}
            for j, c in enumerate(i_columns):
                values = out_i[:, j]
                columns[c.name] = pipeline.cold_names(values) if c.kind is str else values
            recorder.record_columns(columns)
        # the events after the last book batch, as the engine would feed them
        while True:
            pipeline.trades_until(trades.columns, trades.at, _NEVER)
            trades.at = len(trades.columns[0])
            if not trades.refill():
                break
        for late in [update, *funding] if update is not None else []:
            pipeline.on_funding(late)
            fed_funding += 1
    _builder_skips(builder, state[1])
    events += trades.read + fed_funding
    return ReplayResult(Path(out), recorder.rows, events, time.perf_counter() - started, span_rows)


def _book_batches(configs: list[BacktestDataConfig], mode: str, builder, chunk_size: int) -> Iterator[tuple]:
    """The book batches a record batch at a time: (file, tops, ts_init, ts_event, sequence of each
    batch, events read), from the deltas through `ReplayBook`, or in the top-of-book mode from the
    quotes (`quote_tops`)."""
    if mode == TOP_OF_BOOK:
        for config in (c for c in configs if c.data_type is QuoteTick):
            for file, batch in arrow_batches(config, chunk_size, QUOTE_COLUMNS):
                ts_inits = batch.column("ts_init").to_numpy()
                tops = quote_tops(batch, builder.depth, builder.price_precision, builder.size_precision)
                yield file, tops, ts_inits, batch.column("ts_event").to_numpy(), np.zeros(len(ts_inits), np.uint64), len(ts_inits)
        return
    book = ReplayBook(builder.depth, builder.price_precision, builder.size_precision, builder.band_bps)
    for config in (c for c in configs if c.data_type is OrderBookDelta):
        for file, batch in arrow_batches(config, chunk_size, DELTA_COLUMNS):
            tops = book.apply(batch, file)
            rows = tops.row
            ts_inits = batch.column("ts_init").to_numpy()[rows]
            ts_events = batch.column("ts_event").to_numpy()[rows]
            yield file, tops, ts_inits, ts_events, batch.column("sequence").to_numpy()[rows], batch.num_rows


def _python_chunk(pipeline, builder, tops, ts_events, ts_inits, sequences, b0, trades: _Trades, stop, out_f, out_i) -> int:
    """`replay_chunk` through the Python path (an LSTM model predicts per batch)."""
    on_trade = pipeline.on_trade
    for b in range(b0, len(ts_inits)):
        ts = int(ts_inits[b])
        if ts > stop:
            return b
        ts_init, price, size, side, ts_event = trades.columns
        while trades.at < len(ts_init) and ts_init[trades.at] < ts:
            t = trades.at
            on_trade(float(price[t]), float(size[t]), int(side[t]), int(ts_event[t]))
            trades.at += 1
        if trades.at == len(ts_init) and trades.more:
            return b
        pipeline.on_book(builder.from_tops(tops, b, int(ts_events[b]), ts, int(sequences[b])))
        out_f[b] = pipeline._row_f
        out_i[b] = pipeline._row_i
    return len(ts_inits)


def _check_band_edges(builder, tops, out_f, f_columns, read, where: str) -> None:
    """The band edges the numba book used, against Nautilus's own `Price` rounding, wherever a
    band was read (once a second or so): a difference cannot pass silently."""
    mid = out_f[:, next(j for j, c in enumerate(f_columns) if c.name == "mid")]
    for b, side in zip(*np.nonzero(read)):
        edge = builder.band_edge(float(mid[b]), int(side))
        if edge.raw != int(tops.band_edge[b, side]) * 10 ** (FIXED_PRECISION - builder.price_precision):
            raise RuntimeError(f"{where}: replay book's band edge {tops.band_edge[b, side]} differs from Price's {edge}")


def _builder_skips(builder, bn: np.ndarray) -> None:
    builder.built += int(bn[BUILT])
    for slot, reason in (
        (SKIP_EMPTY, "empty book"),
        (SKIP_ONE_SIDED, "one-sided book"),
        (SKIP_CROSSED, "crossed or locked book"),
    ):
        if bn[slot]:
            builder.skips(reason, count=int(bn[slot]))
