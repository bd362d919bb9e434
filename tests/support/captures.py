"""Replaying the real captures through a Nautilus book, the snapshot builder and the pipeline.

Importing a capture takes ~1 s, so `load` keeps each one (the tests' `capture` fixture and the
benchmarks share it).
"""

from __future__ import annotations

import functools
import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from nautilus_trader.adapters.binance.futures.schemas.market import BinanceFuturesMarkPriceMsg
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.enums import RecordFlag
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import CryptoPerpetual

from scalp_nautilus.book import BookSnapshot
from scalp_nautilus.book import BookSnapshotBuilder
from scalp_nautilus.data.binance_capture import BinanceCaptureImporter
from scalp_nautilus.feature_recorder import FeatureRecorder
from scalp_nautilus.features import FeaturePipeline
from scalp_nautilus.indicators import VPIN
from scalp_nautilus.indicators.settings import VPINSettings
from scalp_nautilus.models import LSTMPredictor

F_LAST = int(RecordFlag.F_LAST)


@dataclass(frozen=True)
class Capture:
    name: str
    instrument: CryptoPerpetual
    events: tuple  # OrderBookDelta / TradeTick / mark price / funding, in ts_init order

    @property
    def trades(self) -> list[TradeTick]:
        return [e for e in self.events if isinstance(e, TradeTick)]

    def volume_per_second(self) -> float:
        trades = self.trades
        span = (trades[-1].ts_event - trades[0].ts_event) / 1e9
        return sum(float(t.size) for t in trades) / span


@functools.cache
def load(name: str, paths: tuple[Path, ...]) -> Capture:
    importer = BinanceCaptureImporter(paths)
    events = tuple(e for e in importer.events() if isinstance(e, (OrderBookDelta, TradeTick)))
    return Capture(name, importer.instrument, events)


def replay(capture: Capture, builder: BookSnapshotBuilder | None = None) -> Iterator[tuple[str, object, OrderBook]]:
    """Yields ("book", BookSnapshot, book) after each delta batch and ("trade", TradeTick, book)."""
    book = OrderBook(capture.instrument.id, BookType.L2_MBP)
    builder = builder or BookSnapshotBuilder.for_instrument(capture.instrument)
    for event in capture.events:
        if isinstance(event, OrderBookDelta):
            book.apply_delta(event)
            if event.flags & F_LAST:
                snapshot: BookSnapshot = builder.from_book(book, event.ts_event, event.ts_init, event.sequence)
                yield "book", snapshot, book
        else:
            yield "trade", event, book


def pipeline_for(capture: Capture, lstm: LSTMPredictor | None = None) -> FeaturePipeline:
    """The pipeline as the tests run it on a capture: VPIN's window is a minute of its volume."""
    return FeaturePipeline(VPIN(VPINSettings(volume_per_hour=capture.volume_per_second() * 60, window_minutes=60.0)), lstm=lstm)


def record(capture: Capture, path: Path, lstm: LSTMPredictor | None = None) -> Path:
    """Replay the capture through the pipeline into a feature recording (one row per book batch),
    as the backtest's feature recorder writes it: the LSTM's training data."""
    pipeline = pipeline_for(capture, lstm)
    with FeatureRecorder(path) as recorder:
        for kind, item, _ in replay(capture):
            if kind == "book":
                recorder.record(pipeline.on_book(item))
            else:
                pipeline.on_trade_tick(item)
    return path


def capture_mark_prices(paths, instrument_id: InstrumentId):
    """The capture's markPrice@1s messages through Nautilus's own Binance parser: what a live node gets."""
    decoder = msgspec.json.Decoder(BinanceFuturesMarkPriceMsg)
    out = []
    for path in paths:
        with gzip.open(path, "rb") as fh:
            for line in fh:
                if b"markPriceUpdate" in line:
                    recv_us, payload = line.split(b" ", 1)
                    msg = decoder.decode(payload)
                    out.append(msg.data.parse_to_binance_futures_mark_price_update(instrument_id, int(recv_us) * 1_000))
    return out
