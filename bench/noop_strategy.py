"""The benchmark's baseline: a strategy subscribed to the same data as ScalpStrategy that does nothing
with it, so its wall time is the engine's own replay (book maintenance, matching, message bus)."""

from __future__ import annotations

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.strategy import Strategy


class NoOpConfig(StrategyConfig, frozen=True):
    instrument_id: InstrumentId


class NoOpStrategy(Strategy):
    def on_start(self) -> None:
        iid = self.config.instrument_id
        self.subscribe_order_book_deltas(iid, BookType.L2_MBP, managed=True)
        self.subscribe_trade_ticks(iid)
        self.subscribe_funding_rates(iid)
        self.subscribe_mark_prices(iid)

    def on_order_book_deltas(self, deltas) -> None:
        pass

    def on_trade_tick(self, tick) -> None:
        pass

    def on_stop(self) -> None:
        pass
