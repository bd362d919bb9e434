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

The state is compiled (`scalp_nautilus.indicators.compiled`): `classify` and `add_quote` are the
one implementation, run by the class's methods and by the pipeline's batch kernel.
"""

from __future__ import annotations

import logging
import math
from enum import IntEnum

from numba import njit

from nautilus_trader.model.data import TradeTick

from scalp_nautilus.book import BookSnapshot
from scalp_nautilus.indicators.compiled import HAS_INPUTS
from scalp_nautilus.indicators.compiled import INITIALIZED
from scalp_nautilus.indicators.compiled import CompiledIndicator
from scalp_nautilus.indicators.settings import ClassifierSettings
from scalp_nautilus.indicators.settings import checked
from scalp_nautilus.skips import SkipCounter

log = logging.getLogger(__name__)

# Nautilus AggressorSide values (NO_AGGRESSOR=0, BUYER=1, SELLER=2) as +1/-1/0.
AGGRESSOR_TO_SIDE = (0, 1, -1)


class Method(IntEnum):
    VENUE = 0  # the venue's aggressor flag
    QUOTE = 1  # Lee-Ready quote rule
    TICK = 2  # tick rule (trade at the mid, or no quote yet)
    DEFAULT = 3  # no quote and no price change yet: buy


_VENUE, _QUOTE, _TICK, _DEFAULT = 0, 1, 2, 3
# float slots, then the quote history's mids (ring)
_TICK_SHARE, _LAST_PRICE = range(2)
_FLOATS = 2
# int slots, then the quote history's exchange times (ring)
(_IGNORE, _WARN_MIN, _QH, _Q_HEAD, _Q_COUNT, _TICK_SIDE, COUNTS) = range(2, 9)
(COMPARED, AGREED, QUOTE_AFTER_TRADE, WARNED, METHOD, VALUE, _SKIP_PRICE, _SKIP_MID) = range(13, 21)
_INTS = 21
SKIPS = {_SKIP_PRICE: "trade with non-positive or non-finite price skipped", _SKIP_MID: "non-positive or NaN mid ignored"}


@njit(cache=True)
def add_quote(s, n, ts_event, mid):
    """Record the mid of a valid book at `ts_event` (ns)."""
    if not mid > 0.0:  # also false for NaN
        n[_SKIP_MID] += 1
        return
    head = n[_Q_HEAD]
    s[_FLOATS + head] = mid
    n[_INTS + head] = ts_event
    n[_Q_HEAD] = (head + 1) % n[_QH]
    n[_Q_COUNT] = min(n[_Q_COUNT] + 1, n[_QH])


@njit(cache=True)
def _mid_before(s, n, ts_event):
    count = n[_Q_COUNT]
    if count == 0:
        return 0.0
    qh = n[_QH]
    for k in range(count):
        j = (n[_Q_HEAD] - 1 - k) % qh
        if n[_INTS + j] < ts_event:
            return s[_FLOATS + j]
    n[QUOTE_AFTER_TRADE] += 1
    return s[_FLOATS + (n[_Q_HEAD] - count) % qh]


@njit(cache=True)
def classify(s, n, price, ts_event, venue_side):
    """Classify a trade at `price` (quote currency) at `ts_event` (ns); returns +1/-1, or 0 when
    the price is unusable (counted, state untouched)."""
    if not 0.0 < price < math.inf:  # also false for NaN
        n[_SKIP_PRICE] += 1
        return 0
    last = s[_LAST_PRICE]
    mid = _mid_before(s, n, ts_event)
    if mid > 0.0 and price != mid:
        side, method = (1 if price > mid else -1), _QUOTE
    elif price != last and last > 0.0:
        # Tick rule against the last *different* price, so a zero tick keeps the last direction.
        side, method = (1 if price > last else -1), _TICK
    elif n[_TICK_SIDE] != 0:
        side, method = n[_TICK_SIDE], _TICK
    else:
        side, method = 1, _DEFAULT
    if venue_side != 0:
        n[COMPARED] += 1
        n[AGREED] += side == venue_side
        if not n[_IGNORE]:
            side, method = venue_side, _VENUE
    if price != last:
        if last > 0.0:
            n[_TICK_SIDE] = 1 if price > last else -1
        s[_LAST_PRICE] = price
    n[COUNTS + method] += 1
    n[METHOD] = method
    n[VALUE] = side
    n[HAS_INPUTS] = 1
    n[INITIALIZED] = 1
    if not n[WARNED] and method != _VENUE:
        lee_ready = n[COUNTS + _QUOTE] + n[COUNTS + _TICK] + n[COUNTS + _DEFAULT]
        if lee_ready >= n[_WARN_MIN] and n[COUNTS + _TICK] / lee_ready > s[_TICK_SHARE]:
            n[WARNED] = 1
    return side


class LeeReadyClassifier(CompiledIndicator):
    """Classifies each trade as a buy (+1) or a sell (-1); `value` is the latest side.

    Parameters
    ----------
    settings : ClassifierSettings
        `ignore_venue`: classify every trade with Lee-Ready even when the venue gives the aggressor
        side (for venues whose flag is unreliable, and to measure Lee-Ready against the flag).
        `tick_share_warning`: log a warning once when the tick rule decides more than this share
        of the Lee-Ready classifications (quote, tick and default): the quote rule is the reliable part.
    warn_min_trades : int
        Lee-Ready classifications needed before that share is judged.
    quote_history : int
        Book mids kept to find the one strictly before each trade (>= 1).
    """

    def __init__(
        self, settings: ClassifierSettings | None = None, *, warn_min_trades: int = 1000, quote_history: int = 16
    ) -> None:
        settings = checked(settings or ClassifierSettings())
        ignore_venue, tick_share_warning = settings.ignore_venue, settings.tick_share_warning
        if quote_history < 1:
            raise ValueError(f"quote_history must be >= 1, got {quote_history}")
        super().__init__(params=[ignore_venue, tick_share_warning, warn_min_trades, quote_history])
        self.settings = settings
        self.ignore_venue = ignore_venue
        self.tick_share_warning = tick_share_warning
        self.warn_min_trades = warn_min_trades
        self.quote_history = quote_history
        self.skips = SkipCounter(type(self).__name__, log)
        self._allocate(_FLOATS + quote_history, _INTS + quote_history)
        self._reset()

    def _reset(self) -> None:
        self._s[:] = 0.0
        self._n[:] = 0
        self._s[_TICK_SHARE] = self.tick_share_warning
        self._n[_IGNORE] = self.ignore_venue
        self._n[_WARN_MIN] = self.warn_min_trades
        self._n[_QH] = self.quote_history
        self._n[METHOD] = _DEFAULT
        self._warned = False
        self.skips.clear()

    # ---------------------------------------------------------------- inputs

    def handle_book(self, snapshot: BookSnapshot) -> None:
        if snapshot.is_valid:
            self.update_quote(snapshot.ts_event, snapshot.mid)

    def update_quote(self, ts_event: int, mid: float) -> None:
        """Record the mid of a valid book at `ts_event` (ns)."""
        add_quote(self._s, self._n, ts_event, mid)
        self.sync()

    def handle_trade_tick(self, tick: TradeTick) -> None:
        self.update_raw(float(tick.price), tick.ts_event, AGGRESSOR_TO_SIDE[tick.aggressor_side])

    def update_raw(self, price: float, ts_event: int, venue_side: int = 0) -> int:
        """Classify a trade at `price` (quote currency) at `ts_event` (ns); returns +1/-1, or 0 when
        the price is unusable (counted, state untouched)."""
        side = classify(self._s, self._n, price, ts_event, venue_side)
        self.sync()
        return side

    def sync(self) -> None:
        """Log what the compiled updates counted since the last call (skips, the tick-share warning)."""
        self.skips.sync(self._n, SKIPS)
        if self._n[WARNED] and not self._warned:
            self._warned = True
            log.warning(
                "LeeReadyClassifier: the tick rule decided %.0f%% of %d Lee-Ready classifications "
                "(threshold %.0f%%): quotes are missing or trades print at the mid; sides are less reliable",
                100 * self.tick_share,
                self.lee_ready_count,
                100 * self.tick_share_warning,
            )

    def restore(self, state: dict) -> None:
        super().restore(state)
        self._warned = bool(self._n[WARNED])

    # ---------------------------------------------------------------- diagnostics

    @property
    def value(self) -> int:
        return int(self._n[VALUE])

    @property
    def method(self) -> Method:
        return Method(int(self._n[METHOD]))

    @property
    def counts(self) -> list[int]:
        """Classifications per `Method`."""
        return self._n[COUNTS : COUNTS + 4].tolist()

    @property
    def compared(self) -> int:
        """Trades with a venue side, also classified by Lee-Ready."""
        return int(self._n[COMPARED])

    @property
    def agreed(self) -> int:
        return int(self._n[AGREED])

    @property
    def quote_after_trade(self) -> int:
        """Trades with no book strictly before them: the oldest kept was used."""
        return int(self._n[QUOTE_AFTER_TRADE])

    @property
    def agreement(self) -> float:
        """Share of trades with a venue side where Lee-Ready gives the same side (0 if none)."""
        return self.agreed / self.compared if self.compared else 0.0

    @property
    def lee_ready_count(self) -> int:
        counts = self.counts
        return counts[Method.QUOTE] + counts[Method.TICK] + counts[Method.DEFAULT]

    @property
    def tick_share(self) -> float:
        """Share of Lee-Ready classifications decided by the tick rule (0 if none)."""
        n = self.lee_ready_count
        return self.counts[Method.TICK] / n if n else 0.0
