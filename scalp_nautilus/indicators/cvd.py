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

The state is compiled (`scalp_nautilus.indicators.compiled`): `cvd_trade` and `cvd_advance` are
the one implementation, run by the class's methods and by the pipeline's batch kernel.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from numba import njit

from nautilus_trader.model.data import TradeTick

from scalp_nautilus.book import BookSnapshot
from scalp_nautilus.indicators.compiled import HAS_INPUTS
from scalp_nautilus.indicators.compiled import INITIALIZED
from scalp_nautilus.indicators.compiled import CompiledIndicator
from scalp_nautilus.indicators.compiled import pairwise_sum
from scalp_nautilus.indicators.lee_ready import AGGRESSOR_TO_SIDE
from scalp_nautilus.indicators.rolling_zscore import STATE_SIZE
from scalp_nautilus.indicators.rolling_zscore import push
from scalp_nautilus.indicators.settings import CVDSettings
from scalp_nautilus.indicators.settings import checked
from scalp_nautilus.indicators.settings import ns
from scalp_nautilus.skips import SkipCounter

log = logging.getLogger(__name__)

# float slots, then the z-score's state and ring (zscore_window), the signed-volume ring and the
# mean-price ring (window each)
(_MIN_STD, _LAST_MEAN, _OPEN_SIGNED, _OPEN_PRICE_SUM, _WINDOW_SIGNED, VALUE, DIVERGENCE, Z) = range(8)
_FLOATS = 8
# int slots
(_BUCKET_NS, _WINDOW, _ZW, _HEAD, _BUCKET, _STARTED, _OPEN_TRADES, CLOSED, _SKIP_VALUES, _SKIP_SIDE) = range(2, 12)
_INTS = 12
SKIPS = {
    _SKIP_VALUES: "trade with non-positive or non-finite price or size skipped",
    _SKIP_SIDE: "trade without a side skipped (classify it first)",
}


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


@njit(cache=True)
def _close(s, n, rings, signed, price):
    window = n[_WINDOW]
    head = n[_HEAD]
    s[_WINDOW_SIGNED] += signed - s[rings + head]
    s[rings + head] = signed
    s[rings + window + head] = price
    s[_LAST_MEAN] = price
    n[_HEAD] = head = (head + 1) % window
    n[CLOSED] += 1
    if head == 0:
        # Re-sum once per window so the running sum's rounding cannot accumulate.
        s[_WINDOW_SIGNED] = pairwise_sum(s, rings, window)


@njit(cache=True)
def cvd_advance(s, n, ts_event):
    """Close every bucket that ended at or before `ts_event` (books only move the clock)."""
    if not n[_STARTED]:
        return
    bucket = ts_event // n[_BUCKET_NS]
    if bucket <= n[_BUCKET]:
        return
    window = n[_WINDOW]
    zw = n[_ZW]
    rings = _FLOATS + STATE_SIZE + zw
    gap = bucket - n[_BUCKET]
    mean = s[_OPEN_PRICE_SUM] / n[_OPEN_TRADES] if n[_OPEN_TRADES] else s[_LAST_MEAN]
    _close(s, n, rings, s[_OPEN_SIGNED], mean)
    # Only the last `window` buckets matter, so a long gap closes at most that many.
    for _ in range(min(gap - 1, window)):
        _close(s, n, rings, 0.0, s[_LAST_MEAN])
    n[_BUCKET] = bucket
    s[_OPEN_SIGNED] = 0.0
    s[_OPEN_PRICE_SUM] = 0.0
    n[_OPEN_TRADES] = 0
    z0 = _FLOATS
    s[Z] = push(s[z0 : z0 + STATE_SIZE], s[z0 + STATE_SIZE : z0 + STATE_SIZE + zw], s[_WINDOW_SIGNED], s[_MIN_STD])
    if n[CLOSED] >= window:
        s[DIVERGENCE] = cvd_divergence(s[rings : rings + window], s[rings + window : rings + 2 * window], n[_HEAD])
        n[INITIALIZED] = 1
    s[VALUE] = s[_WINDOW_SIGNED]


@njit(cache=True)
def cvd_trade(s, n, price, size, side, ts_event):
    """Add a trade: `price` (quote currency), `size` (size units), `side` +1/-1, `ts_event` (ns).
    A trade stamped before the open bucket (feeds interleave streams) counts in the open one."""
    if not (0.0 < price < math.inf and 0.0 < size < math.inf):
        n[_SKIP_VALUES] += 1
        return
    if side != 1 and side != -1:
        n[_SKIP_SIDE] += 1
        return
    if not n[_STARTED]:
        n[_BUCKET] = ts_event // n[_BUCKET_NS]
        n[_STARTED] = 1
        n[HAS_INPUTS] = 1
    else:
        cvd_advance(s, n, ts_event)
    s[_OPEN_SIGNED] += side * size
    s[_OPEN_PRICE_SUM] += price
    n[_OPEN_TRADES] += 1
    s[VALUE] = s[_WINDOW_SIGNED] + s[_OPEN_SIGNED]


class CumulativeVolumeDelta(CompiledIndicator):
    """Windowed CVD (`value`), its z-score `z` and signed flow/price `divergence` in [-1, 1].

    Parameters
    ----------
    settings : CVDSettings
        `bucket_s`: bucket length (exchange time). `window`: closed buckets in the window;
        `initialized` once that many have closed since the first trade. `zscore_window`: closed
        buckets over which the windowed CVD is z-scored (`z`, updated as buckets close), so the
        flow is comparable across instruments and volume regimes.
    """

    def __init__(self, settings: CVDSettings | None = None) -> None:
        settings = checked(settings or CVDSettings())
        bucket_ns, window, zscore_window = ns(settings.bucket_s), settings.window, settings.zscore_window
        super().__init__(params=[bucket_ns, window, zscore_window])
        self.settings = settings
        self.bucket_ns = bucket_ns
        self.window = window
        self.zscore_window = zscore_window
        self.skips = SkipCounter(type(self).__name__, log)
        self._allocate(_FLOATS + STATE_SIZE + zscore_window + 2 * window, _INTS)
        self._reset()

    def _reset(self) -> None:
        self._s[:] = 0.0
        self._n[:] = 0
        self._s[_MIN_STD] = 1e-12
        self._n[_BUCKET_NS] = self.bucket_ns
        self._n[_WINDOW] = self.window
        self._n[_ZW] = self.zscore_window
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
        cvd_trade(self._s, self._n, price, size, side, ts_event)
        self.skips.sync(self._n, SKIPS)
        return self.value

    def advance(self, ts_event: int) -> None:
        """Close every bucket that ended at or before `ts_event`."""
        cvd_advance(self._s, self._n, ts_event)

    @property
    def value(self) -> float:
        return float(self._s[VALUE])

    @property
    def z(self) -> float:
        return float(self._s[Z])

    @property
    def divergence(self) -> float:
        return float(self._s[DIVERGENCE])

    @property
    def closed(self) -> int:
        return int(self._n[CLOSED])

    @property
    def signed(self) -> np.ndarray:
        """Signed volume of the window's buckets (ring order, `head` the oldest)."""
        rings = _FLOATS + STATE_SIZE + self.zscore_window
        return self._s[rings : rings + self.window].copy()
