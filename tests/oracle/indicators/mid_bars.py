"""Fixed-length bars of the mid price on exchange event time: the one bar builder of the package.

`HurstExponent` and `OUZScore` sample the bar close (the last mid before each boundary),
`ParkinsonVolatility` uses the bar's high, low and close, and `LOBFeatureVector` feeds them to
Nautilus's RSI, EMA, ATR and Bollinger indicators. Each owns one `MidBars`; a pipeline that wants a
single builder can call their bar-level ``update_raw`` instead.

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
"""

from __future__ import annotations

import math
from collections.abc import Callable

from nautilus_trader.indicators.base import Indicator

from tests.oracle.book import BookSnapshot
from tests.oracle.indicators.warm_state import WarmState

SECOND_NS = 1_000_000_000


class MidBars(WarmState):
    """Build ``bar_ns`` bars of the mid; call ``on_bar(high, low, close)`` as each one closes.

    Parameters
    ----------
    on_bar : Callable[[float, float, float], None]
        Receives each closed bar (prices in quote currency).
    on_gap : Callable[[], None]
        Called when more than `max_carry` bars in a row had no update; the series restarts.
    bar_ns : int
        Bar length in nanoseconds (> 0), default 1 s.
    max_carry : int
        Most empty bars carried forward as flat bars (>= 0).
    """

    __slots__ = (
        "on_bar",
        "on_gap",
        "bar_ns",
        "max_carry",
        "_bar",
        "_high",
        "_low",
        "_close",
        "invalid",
        "late",
        "carried",
        "gaps",
        "closed",
        "_bridge",
        "bridged",
    )
    _STATE = ("_bar", "_high", "_low", "_close", "invalid", "late", "carried", "gaps", "closed", "bridged")

    def __init__(
        self,
        on_bar: Callable[[float, float, float], None],
        on_gap: Callable[[], None],
        bar_ns: int = SECOND_NS,
        max_carry: int = 10,
    ) -> None:
        if bar_ns <= 0:
            raise ValueError(f"bar_ns must be > 0, got {bar_ns}")
        if max_carry < 0:
            raise ValueError(f"max_carry must be >= 0, got {max_carry}")
        self.on_bar = on_bar
        self.on_gap = on_gap
        self.bar_ns = int(bar_ns)
        self.max_carry = int(max_carry)
        self.reset()

    def reset(self) -> None:
        self._bar = -1  # index of the open bar; -1: none yet
        self._high = self._low = self._close = 0.0
        self.invalid = self.late = self.carried = self.gaps = self.closed = self.bridged = 0
        self._bridge = False

    def bridge(self) -> None:
        """Join the next bar to the open one whatever the silence between them (see the module doc)."""
        self._bridge = self._bar >= 0

    def update(self, mid: float, ts_ns: int) -> bool:
        """Add the mid observed at `ts_ns`; closed bars are emitted first. False if `mid` was skipped."""
        if not (mid > 0.0 and math.isfinite(mid)):
            self.invalid += 1
            return False
        bar = ts_ns // self.bar_ns
        if self._bar < 0:
            self._open(bar, mid)
            return True
        if bar > self._bar:
            close = self._close
            self.closed += 1
            self.on_bar(self._high, self._low, close)
            empty = bar - self._bar - 1
            bridge, self._bridge = self._bridge, False
            if empty > self.max_carry and bridge:
                self.bridged += 1
                empty = 0
            elif empty > self.max_carry:
                self.gaps += 1
                self.on_gap()
                self._open(bar, mid)
                return True
            for _ in range(empty):
                self.carried += 1
                self.closed += 1
                self.on_bar(close, close, close)
            self._open(bar, close)
        elif bar < self._bar:
            self.late += 1
        else:
            self._bridge = False  # the feed resumed within the open bar: nothing to join
        if mid > self._high:
            self._high = mid
        elif mid < self._low:
            self._low = mid
        self._close = mid
        return True

    def _open(self, bar: int, price: float) -> None:
        self._bar = bar
        self._high = self._low = self._close = price


class MidBarIndicator(WarmState, Indicator):
    """Base of the indicators that read only the mid through their `bars` (a `MidBars`)."""

    bars: MidBars

    def handle_book(self, snapshot: BookSnapshot) -> None:
        """Feed the snapshot's mid at its exchange time; empty or crossed books are counted in `bars.invalid`."""
        self.bars.update(snapshot.mid, snapshot.ts_event)

    def update_mid(self, mid: float, ts_ns: int) -> None:
        """Feed a mid (quote currency) observed at `ts_ns` (ns, event time)."""
        self.bars.update(mid, ts_ns)
