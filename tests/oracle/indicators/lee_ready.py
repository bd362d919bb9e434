"""Trade direction: the venue's aggressor flag first, Lee-Ready (1991) when there is none.

Lee, C. M. C. and Ready, M. J. (1991), "Inferring Trade Direction from Intraday Data",
Journal of Finance 46(2), 733-746. Quote rule: a trade above the mid prevailing *before* it is a
buy, below it a sell. At the mid, the tick rule: above the last different trade price a buy, below
it a sell, so a zero tick keeps the previous tick's direction. With no history at all: buy.

"Before the trade" is taken literally on exchange time: the quote used is the newest book whose
``ts_event`` is strictly earlier than the trade's. Binance stamps a depth batch with the time of
its last change, so a batch stamped at or after the trade may already contain the trade's own
effect on the book; the quote history below keeps the few batches needed to step back past it.

Sides are +1 (buy) and -1 (sell); a venue side of 0 means "not given".
"""

from __future__ import annotations

import logging
import math
from collections import deque
from enum import IntEnum

from nautilus_trader.indicators.base import Indicator
from nautilus_trader.model.data import TradeTick

from scalp_nautilus.skips import SkipCounter
from tests.oracle.book import BookSnapshot
from tests.oracle.indicators.warm_state import WarmState

log = logging.getLogger(__name__)

# Nautilus AggressorSide values (NO_AGGRESSOR=0, BUYER=1, SELLER=2) as +1/-1/0.
AGGRESSOR_TO_SIDE = (0, 1, -1)


class Method(IntEnum):
    VENUE = 0  # the venue's aggressor flag
    QUOTE = 1  # Lee-Ready quote rule
    TICK = 2  # tick rule (trade at the mid, or no quote yet)
    DEFAULT = 3  # no quote and no price change yet: buy


class LeeReadyClassifier(WarmState, Indicator):
    """Classifies each trade as a buy (+1) or a sell (-1); `value` is the latest side.

    Parameters
    ----------
    ignore_venue : bool
        Classify every trade with Lee-Ready even when the venue gives the aggressor side (for
        venues whose flag is unreliable, and to measure Lee-Ready against the flag).
    tick_share_warning : float
        Log a warning once when the tick rule decides more than this share of the Lee-Ready
        classifications (quote, tick and default): the quote rule is the reliable part.
    warn_min_trades : int
        Lee-Ready classifications needed before that share is judged.
    quote_history : int
        Book mids kept to find the one strictly before each trade (>= 1).
    """

    # Slots: on a Python subclass of a Cython type an attribute costs ~60 ns via __dict__, ~30 here.
    __slots__ = (
        "ignore_venue",
        "tick_share_warning",
        "warn_min_trades",
        "skips",
        "_quotes",
        "_last_price",
        "_tick_side",
        "_warned",
        "counts",
        "compared",
        "agreed",
        "quote_after_trade",
        "method",
        "value",
    )
    _STATE = (
        "_quotes",
        "_last_price",
        "_tick_side",
        "counts",
        "compared",
        "agreed",
        "quote_after_trade",
        "_warned",
        "method",
        "value",
    )

    def __init__(
        self,
        ignore_venue: bool = False,
        tick_share_warning: float = 0.4,
        warn_min_trades: int = 1000,
        quote_history: int = 16,
    ) -> None:
        if not 0.0 <= tick_share_warning <= 1.0:
            raise ValueError(f"tick_share_warning must be in [0, 1], got {tick_share_warning}")
        if quote_history < 1:
            raise ValueError(f"quote_history must be >= 1, got {quote_history}")
        super().__init__(params=[ignore_venue, tick_share_warning, warn_min_trades, quote_history])
        self.ignore_venue = ignore_venue
        self.tick_share_warning = tick_share_warning
        self.warn_min_trades = warn_min_trades
        self._quotes: deque[tuple[int, float]] = deque(maxlen=quote_history)
        self.skips = SkipCounter(type(self).__name__, log)
        self._reset()

    def _reset(self) -> None:
        self._quotes.clear()
        self._last_price = 0.0  # 0: no trade yet
        self._tick_side = 0  # direction of the last non-zero tick; 0: none yet
        self.counts = [0, 0, 0, 0]  # per Method
        self.compared = 0  # trades with a venue side, also classified by Lee-Ready
        self.agreed = 0
        self.quote_after_trade = 0  # no book strictly before the trade: the oldest kept was used
        self._warned = False
        self.method = Method.DEFAULT
        self.value = 0
        self.skips.clear()

    # ---------------------------------------------------------------- inputs

    def handle_book(self, snapshot: BookSnapshot) -> None:
        if snapshot.is_valid:
            self.update_quote(snapshot.ts_event, snapshot.mid)

    def update_quote(self, ts_event: int, mid: float) -> None:
        """Record the mid of a valid book at `ts_event` (ns)."""
        if not mid > 0.0:  # also false for NaN
            self.skips("non-positive or NaN mid ignored", mid)
            return
        self._quotes.append((ts_event, mid))

    def handle_trade_tick(self, tick: TradeTick) -> None:
        self.update_raw(float(tick.price), tick.ts_event, AGGRESSOR_TO_SIDE[tick.aggressor_side])

    def update_raw(self, price: float, ts_event: int, venue_side: int = 0) -> int:
        """Classify a trade at `price` (quote currency) at `ts_event` (ns); returns +1/-1, or 0 when
        the price is unusable (counted, state untouched)."""
        if not 0.0 < price < math.inf:  # also false for NaN
            self.skips("trade with non-positive or non-finite price skipped", price)
            return 0
        side, method = self._lee_ready(price, ts_event)
        if venue_side != 0:
            self.compared += 1
            self.agreed += side == venue_side
            if not self.ignore_venue:
                side, method = venue_side, Method.VENUE
        if price != self._last_price:
            if self._last_price > 0.0:
                self._tick_side = 1 if price > self._last_price else -1
            self._last_price = price
        self.counts[method] += 1
        self.method = method
        self.value = side
        if not self.initialized:
            self._set_has_inputs(True)
            self._set_initialized(True)
        if not self._warned and method != Method.VENUE:
            self._check_tick_share()
        return side

    # ---------------------------------------------------------------- rules

    def _lee_ready(self, price: float, ts_event: int) -> tuple[int, Method]:
        mid = self._mid_before(ts_event)
        if mid > 0.0 and price != mid:
            return (1 if price > mid else -1), Method.QUOTE
        # Tick rule against the last *different* price, so a zero tick keeps the last direction.
        if price != self._last_price and self._last_price > 0.0:
            return (1 if price > self._last_price else -1), Method.TICK
        if self._tick_side != 0:
            return self._tick_side, Method.TICK
        return 1, Method.DEFAULT

    def _mid_before(self, ts_event: int) -> float:
        quotes = self._quotes
        if not quotes:
            return 0.0
        for i in range(len(quotes) - 1, -1, -1):
            ts, mid = quotes[i]
            if ts < ts_event:
                return mid
        self.quote_after_trade += 1
        return quotes[0][1]

    # ---------------------------------------------------------------- diagnostics

    @property
    def agreement(self) -> float:
        """Share of trades with a venue side where Lee-Ready gives the same side (0 if none)."""
        return self.agreed / self.compared if self.compared else 0.0

    @property
    def lee_ready_count(self) -> int:
        return self.counts[Method.QUOTE] + self.counts[Method.TICK] + self.counts[Method.DEFAULT]

    @property
    def tick_share(self) -> float:
        """Share of Lee-Ready classifications decided by the tick rule (0 if none)."""
        n = self.lee_ready_count
        return self.counts[Method.TICK] / n if n else 0.0

    def _check_tick_share(self) -> None:
        if self.lee_ready_count >= self.warn_min_trades and self.tick_share > self.tick_share_warning:
            self._warned = True
            log.warning(
                "LeeReadyClassifier: the tick rule decided %.0f%% of %d Lee-Ready classifications "
                "(threshold %.0f%%): quotes are missing or trades print at the mid; sides are less reliable",
                100 * self.tick_share,
                self.lee_ready_count,
                100 * self.tick_share_warning,
            )
