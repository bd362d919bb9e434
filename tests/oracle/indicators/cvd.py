"""Cumulative volume delta over time buckets, and its divergence from price.

Bouchaud, J.-P., Gefen, Y., Potters, M. and Wyart, M. (2004), "Fluctuations and response in
financial markets: the subtle nature of 'random' price changes", Quantitative Finance 4(2): signed
order flow is persistent and moves prices, so flow and price drifting apart is worth a signal.

Trades are summed into signed-volume buckets of `bucket_ns` of exchange time; the last `window`
closed buckets form the window. `value` is the net signed volume of the window plus the open bucket
(instrument size units; > 0: buyers were the aggressors).

Divergence, computed each time a bucket closes, once the window is full. With c_i the running sum
of signed volume over the window's buckets (oldest first) and p_i each bucket's mean trade price
(carried forward through buckets without trades), and "second half minus first half" of a series
meaning the mean over its newer half minus the mean over its older half:

    dC = halves(c) / Σ|signed volume|    in [-1, 1]   (no pair of running sums is further apart)
    dP = halves(p) / (max p - min p)     in [-1, 1]
    divergence = sign(dC) · sqrt(|dC| · |dP|)  when dC and dP have opposite signs, else 0.

So |divergence| in [0, 1] is the geometric mean of how far flow and price each moved, relative to
their range in the window; it is 0 whenever either is flat, and its sign is the flow's direction
(> 0: buyers accumulating while the price falls).
"""

from __future__ import annotations

import logging
import math

import numpy as np
from numba import njit

from nautilus_trader.indicators.base import Indicator
from nautilus_trader.model.data import TradeTick

from scalp_nautilus.skips import SkipCounter
from tests.oracle.book import BookSnapshot
from tests.oracle.indicators.lee_ready import AGGRESSOR_TO_SIDE
from tests.oracle.indicators.rolling_zscore import RollingZScore
from tests.oracle.indicators.warm_state import WarmState

log = logging.getLogger(__name__)


@njit(cache=True)
def cvd_divergence(signed, price, head):
    """Divergence of the ring buffers `signed` / `price` whose oldest bucket is at `head`."""
    n = len(signed)
    half = n // 2
    running = 0.0
    flow_old = flow_new = price_old = price_new = 0.0
    gross = 0.0
    lo = math.inf
    hi = -math.inf
    for i in range(n):
        j = (head + i) % n
        running += signed[j]
        gross += abs(signed[j])
        p = price[j]
        lo = min(lo, p)
        hi = max(hi, p)
        if i < half:
            flow_old += running
            price_old += p
        else:
            flow_new += running
            price_new += p
    if gross <= 0.0 or hi <= lo:
        return 0.0
    d_flow = (flow_new / (n - half) - flow_old / half) / gross
    d_price = (price_new / (n - half) - price_old / half) / (hi - lo)
    if d_flow * d_price >= 0.0:
        return 0.0
    strength = min(math.sqrt(abs(d_flow) * abs(d_price)), 1.0)
    return strength if d_flow > 0.0 else -strength


class CumulativeVolumeDelta(WarmState, Indicator):
    """Windowed CVD (`value`), its z-score `z` and signed flow/price `divergence` in [-1, 1].

    Parameters
    ----------
    bucket_ns : int
        Bucket length in nanoseconds of exchange time.
    window : int
        Closed buckets in the window (>= 2); `initialized` once that many have closed since the
        first trade.
    zscore_window : int
        Closed buckets over which the windowed CVD is z-scored (`z`, updated as buckets close), so
        the flow is comparable across instruments and volume regimes.
    """

    _STATE = (
        "_signed",
        "_price",
        "_head",
        "_bucket",
        "_open_signed",
        "_open_price_sum",
        "_open_trades",
        "_last_mean",
        "_window_signed",
        "closed",
        "value",
        "divergence",
        "z",
    )
    _CHILDREN = ("_z",)
    # Slots: on a Python subclass of a Cython type an attribute costs ~60 ns via __dict__, ~30 here.
    __slots__ = ("bucket_ns", "window", "skips", *_STATE, *_CHILDREN)

    def __init__(self, bucket_ns: int = 1_000_000_000, window: int = 60, zscore_window: int = 100) -> None:
        if bucket_ns <= 0:
            raise ValueError(f"bucket_ns must be > 0, got {bucket_ns}")
        if window < 2:
            raise ValueError(f"window must be >= 2, got {window}")
        super().__init__(params=[bucket_ns, window, zscore_window])
        self.bucket_ns = bucket_ns
        self.window = window
        self._signed = np.zeros(window)
        self._price = np.zeros(window)
        self.skips = SkipCounter(type(self).__name__, log)
        self._z = RollingZScore(zscore_window)
        self._reset()

    def _reset(self) -> None:
        self._signed[:] = 0.0
        self._price[:] = 0.0
        self._head = 0  # oldest closed bucket, and where the next one is written
        self._bucket: int | None = None  # index of the open bucket; None before the first trade
        self._open_signed = 0.0
        self._open_price_sum = 0.0  # over the open bucket's trades, for their mean price
        self._open_trades = 0
        self._last_mean = 0.0  # the last closed bucket's mean price, carried through empty ones
        self._window_signed = 0.0
        self.closed = 0
        self.value = 0.0
        self.divergence = 0.0
        self.z = 0.0
        self._z.reset()
        self.skips.clear()

    # ---------------------------------------------------------------- inputs

    def handle_book(self, snapshot: BookSnapshot) -> None:
        """Books only move the clock, so quiet buckets close without waiting for a trade."""
        self.advance(snapshot.ts_event)

    def handle_trade_tick(self, tick: TradeTick) -> None:
        """Venue-flagged trades only (see `VPIN.handle_trade_tick`)."""
        self.update_raw(float(tick.price), float(tick.size), AGGRESSOR_TO_SIDE[tick.aggressor_side], tick.ts_event)

    def update_raw(self, price: float, size: float, side: int, ts_event: int) -> float:
        """Add a trade: `price` (quote currency), `size` (size units), `side` +1/-1, `ts_event` (ns).

        A trade stamped before the open bucket (feeds interleave streams) counts in the open one.
        """
        if not (0.0 < price < math.inf and 0.0 < size < math.inf):
            self.skips("trade with non-positive or non-finite price or size skipped", (price, size))
            return self.value
        if side != 1 and side != -1:
            self.skips("trade without a side skipped (classify it first)", side)
            return self.value
        if self._bucket is None:
            self._bucket = ts_event // self.bucket_ns
            self._set_has_inputs(True)
        else:
            self.advance(ts_event)
        signed = side * size
        self._open_signed += signed
        self._open_price_sum += price
        self._open_trades += 1
        self.value = self._window_signed + self._open_signed
        return self.value

    def advance(self, ts_event: int) -> None:
        """Close every bucket that ended at or before `ts_event`."""
        if self._bucket is None:
            return
        bucket = ts_event // self.bucket_ns
        if bucket <= self._bucket:
            return
        # Only the last `window` buckets matter, so a long gap closes at most that many.
        gap = bucket - self._bucket
        self._close(self._open_signed, self._mean_price())
        for _ in range(min(gap - 1, self.window)):
            self._close(0.0, self._last_mean)
        self._bucket = bucket
        self._open_signed = 0.0
        self._open_price_sum = 0.0
        self._open_trades = 0
        self.z = self._z.update_raw(self._window_signed)
        if self.closed >= self.window:
            self.divergence = cvd_divergence(self._signed, self._price, self._head)
            if not self.initialized:
                self._set_initialized(True)
        self.value = self._window_signed

    def _mean_price(self) -> float:
        return self._open_price_sum / self._open_trades if self._open_trades else self._last_mean

    def _close(self, signed: float, price: float) -> None:
        head = self._head
        self._window_signed += signed - self._signed[head]
        self._signed[head] = signed
        self._price[head] = price
        self._last_mean = price
        self._head = (head + 1) % self.window
        self.closed += 1
        if self._head == 0:
            # Re-sum once per window so the running sum's rounding cannot accumulate.
            self._window_signed = float(self._signed.sum())
