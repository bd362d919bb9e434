"""Fixed-length bars of the mid price on exchange event time: the one bar builder of the package.

`HurstExponent` and `OUZScore` sample the bar close (the last mid before each boundary),
`ParkinsonVolatility` uses the bar's high, low and close, and `LOBFeatureVector` feeds them to its
RSI, EMA, ATR and Bollinger bands. Used alone, each owns one `MidBars`; the `FeaturePipeline` gives
them one shared builder, so one outage detector decides for all of them and the warm state holds
one copy.

The state is compiled (`scalp_nautilus.indicators.compiled`): `bars_update` adds a mid and leaves
the bars it closed (and whether an outage followed them) in the builder's output slots, where each
consumer's compiled `*_bars` function reads them; `MidBars.update` also hands them to Python
callbacks.

Time is the snapshot's ``ts_event`` (the exchange's clock), never the receive time, so a backtest
and a live run cut the same bars. A bar covering ``[k * bar_ns, (k + 1) * bar_ns)`` is closed by
the first mid stamped in a later bar.

The mid is a step function: between two book updates it holds its value. So each bar opens at the
previous bar's close and its high/low include that close (the mid really was there at the
boundary), and a bar in which no update arrived is a real, flat bar at the previous close: in an
event-driven L2 feed no update means the book did not change. That holds for short silences only:
an L2 feed of a liquid perpetual changes many times a second, so more than `max_carry` empty bars
in a row are treated as a feed outage, not as a flat market. Flat bars there would fake a spell of
zero volatility followed by one huge return, so the builder calls ``on_gap`` instead (consumers
restart their windows) and the next bar opens afresh at the next mid.

A live node restarting from saved state (`FeaturePipeline.restore`) calls ``bridge``: the hole
the restart left is neither an outage nor a flat market but a known pause, so the first bar after
it follows the last one before it directly (one bar's return spans the pause) and the windows
carry on warm; a pause within `max_carry` bars is carried flat as any silence.

Counters: ``invalid`` (non-finite or non-positive mids, skipped), ``late`` (stamps before the open
bar: folded into it, as the exchange clock may step back a millisecond across streams),
``carried`` (flat bars emitted for silent seconds), ``gaps`` (outages that restarted the series).
The skipped mids and the outages are also reasons of the builder's `skips` (`SkipCounter`), so
that they reach the report's totals and the first of each is logged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
from numba import njit

from scalp_nautilus.book import BookSnapshot
from scalp_nautilus.indicators.compiled import CompiledIndicator
from scalp_nautilus.skips import SkipCounter

log = logging.getLogger(__name__)

SECOND_NS = 1_000_000_000

# float slots: the open bar, then the closed bars of the last update (highs, lows, closes: max_carry + 1 each)
_HIGH, _LOW, _CLOSE = range(3)
OUT = 3
# int slots
(_BAR_NS, MAX_CARRY, _BAR, INVALID, LATE, CARRIED, GAPS, CLOSED, BRIDGED, _BRIDGE, OUT_COUNT, OUT_GAP) = range(2, 14)
_INTS = 14
SKIPS = {
    INVALID: "non-positive or non-finite mid skipped",
    GAPS: "feed outage (more than max_carry silent bars): the bar series restarted",
}


@njit(cache=True)
def _emit(s, n, high, low, close):
    k = n[OUT_COUNT]
    m = n[MAX_CARRY] + 1
    s[OUT + k] = high
    s[OUT + m + k] = low
    s[OUT + 2 * m + k] = close
    n[OUT_COUNT] = k + 1


@njit(cache=True)
def bars_update(s, n, mid, ts_ns):
    """Add the mid observed at `ts_ns`; the bars it closes are left in the output slots. False if
    `mid` was skipped."""
    n[OUT_COUNT] = 0
    n[OUT_GAP] = 0
    if not (mid > 0.0 and math.isfinite(mid)):
        n[INVALID] += 1
        return False
    bar = ts_ns // n[_BAR_NS]
    if n[_BAR] < 0:
        n[_BAR] = bar
        s[_HIGH] = s[_LOW] = s[_CLOSE] = mid
        return True
    if bar > n[_BAR]:
        close = s[_CLOSE]
        n[CLOSED] += 1
        _emit(s, n, s[_HIGH], s[_LOW], close)
        empty = bar - n[_BAR] - 1
        bridge = n[_BRIDGE]
        n[_BRIDGE] = 0
        if empty > n[MAX_CARRY] and bridge:
            n[BRIDGED] += 1
            empty = 0
        elif empty > n[MAX_CARRY]:
            n[GAPS] += 1
            n[OUT_GAP] = 1
            n[_BAR] = bar
            s[_HIGH] = s[_LOW] = s[_CLOSE] = mid
            return True
        for _ in range(empty):
            n[CARRIED] += 1
            n[CLOSED] += 1
            _emit(s, n, close, close, close)
        n[_BAR] = bar
        s[_HIGH] = s[_LOW] = s[_CLOSE] = close
    elif bar < n[_BAR]:
        n[LATE] += 1
    else:
        n[_BRIDGE] = 0  # the feed resumed within the open bar: nothing to join
    if mid > s[_HIGH]:
        s[_HIGH] = mid
    elif mid < s[_LOW]:
        s[_LOW] = mid
    s[_CLOSE] = mid
    return True


class MidBars(CompiledIndicator):
    """Build ``bar_ns`` bars of the mid; call ``on_bar(high, low, close)`` as each one closes.

    Parameters
    ----------
    on_bar : Callable[[float, float, float], None], optional
        Receives each closed bar (prices in quote currency).
    on_gap : Callable[[], None], optional
        Called when more than `max_carry` bars in a row had no update; the series restarts.
    bar_ns : int
        Bar length in nanoseconds (> 0), default 1 s.
    max_carry : int
        Most empty bars carried forward as flat bars (>= 0).
    """

    def __init__(
        self,
        on_bar: Callable[[float, float, float], None] | None = None,
        on_gap: Callable[[], None] | None = None,
        bar_ns: int = SECOND_NS,
        max_carry: int = 10,
    ) -> None:
        if bar_ns <= 0:
            raise ValueError(f"bar_ns must be > 0, got {bar_ns}")
        if max_carry < 0:
            raise ValueError(f"max_carry must be >= 0, got {max_carry}")
        super().__init__(params=[bar_ns, max_carry])
        self.on_bar = on_bar
        self.on_gap = on_gap
        self.bar_ns = int(bar_ns)
        self.max_carry = int(max_carry)
        self.skips = SkipCounter(type(self).__name__, log)
        self._allocate(OUT + 3 * (max_carry + 1), _INTS)
        self._reset()

    def _reset(self) -> None:
        self._s[:] = 0.0
        self._n[:] = 0
        self.skips.clear()
        self._n[_BAR_NS] = self.bar_ns
        self._n[MAX_CARRY] = self.max_carry
        self._n[_BAR] = -1  # index of the open bar; -1: none yet

    def bridge(self) -> None:
        """Join the next bar to the open one whatever the silence between them (see the module doc)."""
        self._n[_BRIDGE] = self._n[_BAR] >= 0

    def update(self, mid: float, ts_ns: int) -> bool:
        """Add the mid observed at `ts_ns`; closed bars are emitted first. False if `mid` was skipped."""
        added = bars_update(self._s, self._n, mid, ts_ns)
        self.skips.sync(self._n, SKIPS)
        if self.on_bar is not None:
            for high, low, close in self.closed_bars():
                self.on_bar(high, low, close)
        if self._n[OUT_GAP] and self.on_gap is not None:
            self.on_gap()
        return bool(added)

    def closed_bars(self) -> list[tuple[float, float, float]]:
        """The bars the last update closed, oldest first."""
        k, m = int(self._n[OUT_COUNT]), self.max_carry + 1
        out = self._s[OUT:]
        return list(zip(out[:k].tolist(), out[m : m + k].tolist(), out[2 * m : 2 * m + k].tolist()))

    @property
    def invalid(self) -> int:
        """Non-finite or non-positive mids, skipped."""
        return int(self._n[INVALID])

    @property
    def late(self) -> int:
        """Stamps before the open bar, folded into it."""
        return int(self._n[LATE])

    @property
    def carried(self) -> int:
        """Flat bars emitted for silent bars."""
        return int(self._n[CARRIED])

    @property
    def gaps(self) -> int:
        """Outages that restarted the series."""
        return int(self._n[GAPS])

    @property
    def closed(self) -> int:
        return int(self._n[CLOSED])

    @property
    def bridged(self) -> int:
        return int(self._n[BRIDGED])


class MidBarIndicator(CompiledIndicator):
    """Base of the indicators that read only the mid through their `bars` (a `MidBars`): their
    compiled `_consume(s, n, bars_s, bars_n)` takes the bars (and the outage) each update closed."""

    bars: MidBars

    @staticmethod
    def _consume(s: np.ndarray, n: np.ndarray, bs: np.ndarray, bn: np.ndarray) -> None:
        raise NotImplementedError

    def handle_book(self, snapshot: BookSnapshot) -> None:
        """Feed the snapshot's mid at its exchange time; empty or crossed books are counted in `bars.invalid`."""
        self.update_mid(snapshot.mid, snapshot.ts_event)

    def update_mid(self, mid: float, ts_ns: int) -> None:
        """Feed a mid (quote currency) observed at `ts_ns` (ns, event time)."""
        bars = self.bars
        bars_update(bars._s, bars._n, mid, ts_ns)
        bars.skips.sync(bars._n, SKIPS)
        self._consume(self._s, self._n, bars._s, bars._n)

    def state(self) -> dict:
        return {**super().state(), "bars": self.bars.state()}

    def restore(self, state: dict) -> None:
        self.bars.restore(state["bars"])
        super().restore(state)
