"""The 21-float limit-order-book feature vector fed to the LSTM (DESIGN.md feature 10).

Book state as in Cao, Chen & Hull (2009) and Cont, Stoikov & Talreja (2010), with the technical
indicators of the DeepLOB-style models on 1 s mid bars. The layout is `LOB_FEATURE_NAMES`; the
LSTM and its model file store that tuple and must refuse a file whose layout differs.

    0-4    bid size, levels 0-4 (instrument size units; 0 for a missing level)
    5-9    ask size, levels 0-4
    10-14  imbalance (b - a) / (b + a) per level, in [-1, 1] (0 where both are missing)
    15     spread, best ask - best bid (quote currency, rounded to 12 significant digits of the price)
    16     RSI(14) of bar closes as Nautilus's RelativeStrengthIndex: EMA-averaged gains, in [0, 1]
    17,18  EMA(12), EMA(26) of bar closes as Nautilus's ExponentialMovingAverage (quote currency)
    19     ATR(14) of the bars as Nautilus's AverageTrueRange: simple average of true ranges
    20     Bollinger band width (upper - lower) / middle as Nautilus's BollingerBands(20, 2): the
           typical price (H + L + C) / 3 with a population standard deviation; dimensionless

Every element is z-scored over the last `zscore_window` values of its own. The book elements (0-15)
change with every snapshot and are z-scored per snapshot, together, by one `RollingZScores` bank
(one kernel call for the sixteen series); the bar elements
(16-20) change once per bar and are z-scored per closed bar, once their indicator is warm: fed per
snapshot, a window of 100 would hold about three seconds of one repeated value and its z-score
would measure nothing but the last bar boundary. `value` is the z-scored vector, a fresh array
per update; it is all zeros until every element is warm and whenever the book is stale: the
snapshot's exchange time is more than `stale_ns` older than its receive time (or than `now_ns`
given to `at`). `raw` holds the unscaled features.

Bars are `MidBars` of the mid (default 1 s); an outage restarts the bar indicators and their
z-scores, so the vector is zero again until they are warm.

The state is compiled (`scalp_nautilus.indicators.compiled`): `lob_book` / `lob_bars` are the one
update, run by the class and by the pipeline's batch kernel. RSI, EMA, ATR and the Bollinger bands
are Nautilus 1.231's own formulas (`indicators/momentum.pyx`, `averages.pyx`, `volatility.pyx`,
`core/stats.pyx`) step for step, summing in the same order, so they give Nautilus's numbers
(tests/test_lob_vector.py checks them against Nautilus's indicators); the warm state is therefore
exact, where Nautilus's Cython indicators could only be replayed.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from numba import njit

from scalp_nautilus.book import BookSnapshot
from scalp_nautilus.feature_table import LOB_FEATURE_NAMES  # noqa: F401 (the layout, declared with the row)
from scalp_nautilus.feature_table import LOB_LEVELS
from scalp_nautilus.feature_table import N_LOB_FEATURES
from scalp_nautilus.indicators.compiled import HAS_INPUTS
from scalp_nautilus.indicators.compiled import INITIALIZED
from scalp_nautilus.indicators.mid_bars import MAX_CARRY
from scalp_nautilus.indicators.mid_bars import OUT
from scalp_nautilus.indicators.mid_bars import OUT_COUNT
from scalp_nautilus.indicators.mid_bars import OUT_GAP
from scalp_nautilus.indicators.mid_bars import MidBarIndicator
from scalp_nautilus.indicators.mid_bars import MidBars
from scalp_nautilus.indicators.mid_bars import bars_update
from scalp_nautilus.indicators.rolling_zscore import COUNT
from scalp_nautilus.indicators.rolling_zscore import STATE_SIZE
from scalp_nautilus.indicators.rolling_zscore import push
from scalp_nautilus.indicators.settings import LOBSettings
from scalp_nautilus.indicators.settings import checked
from scalp_nautilus.indicators.settings import ns

log = logging.getLogger(__name__)

_N_BOOK = 3 * LOB_LEVELS + 1  # elements refreshed per snapshot; the rest per bar
_N_BAR = N_LOB_FEATURES - _N_BOOK

# float slots: parameters and the bar indicators' scalars, then the raw vector, the z-scored
# vector, the vector as last read (`value`), the z-scores (state + ring of zscore_window, book
# elements then bar elements), the ATR's true ranges (ring) and the Bollinger typical prices (ring)
(_MIN_STD, _BB_K, _ALPHA_FAST, _ALPHA_SLOW, _ALPHA_RSI, _RSI_LAST, _RSI, _GAIN, _LOSS) = range(9)
(_EMA_FAST, _EMA_SLOW, _ATR_PREV, _ATR, _BB_UPPER, _BB_MIDDLE, _BB_LOWER) = range(9, 16)
RAW = 16
_Z = RAW + N_LOB_FEATURES
VALUE = _Z + N_LOB_FEATURES
_ZSCORES = VALUE + N_LOB_FEATURES
# int slots
(_ZW, _STALE_NS, _RSI_P, _FAST_P, _SLOW_P, _ATR_P, _BB_P) = range(2, 9)
(_RSI_COUNT, _FAST_COUNT, _SLOW_COUNT, _ATR_COUNT, _ATR_HEAD, _BB_COUNT, _BB_HEAD) = range(9, 16)
(TS_EVENT, INVALID_BOOKS, STALE_READS) = range(16, 19)
_INTS = 19


@njit(cache=True)
def _spread(best_bid, best_ask):
    """best_ask - best_bid, rounded to 12 significant digits of the price.

    The prices are decimals, but their difference in binary floating point carries about 1e-16 of
    the price in rounding (1e-11 on BTC), different for each pair of prices a tick apart. Over a
    window of one-tick spreads that noise is the only variation and a z-score would blow it up to
    +-1; rounded, every one-tick spread is the same float and its z-score is 0.
    """
    quantum = math.pow(10.0, float(math.floor(math.log10(best_ask)) - 12))
    return np.rint((best_ask - best_bid) / quantum) * quantum


@njit(cache=True)
def _ema(s, n, slot, count, alpha, x):
    # Nautilus's ExponentialMovingAverage.update_raw: seeded with the first value
    if n[count] == 0:
        s[slot] = x
    s[slot] = s[alpha] * x + ((1.0 - s[alpha]) * s[slot])
    n[count] += 1


@njit(cache=True)
def _rsi(s, n, x):
    # Nautilus's RelativeStrengthIndex.update_raw (its gain and loss EMAs advance together)
    if n[_RSI_COUNT] == 0:
        s[_RSI_LAST] = x
    gain = x - s[_RSI_LAST]
    c = n[_RSI_COUNT]
    if gain > 0:
        _ema(s, n, _GAIN, _RSI_COUNT, _ALPHA_RSI, gain)
        n[_RSI_COUNT] = c
        _ema(s, n, _LOSS, _RSI_COUNT, _ALPHA_RSI, 0.0)
    elif gain < 0:
        _ema(s, n, _LOSS, _RSI_COUNT, _ALPHA_RSI, -gain)
        n[_RSI_COUNT] = c
        _ema(s, n, _GAIN, _RSI_COUNT, _ALPHA_RSI, 0.0)
    else:
        _ema(s, n, _GAIN, _RSI_COUNT, _ALPHA_RSI, 0.0)
        n[_RSI_COUNT] = c
        _ema(s, n, _LOSS, _RSI_COUNT, _ALPHA_RSI, 0.0)
    if s[_LOSS] == 0:
        s[_RSI] = 1.0
    else:
        rs = s[_GAIN] / s[_LOSS]
        s[_RSI] = 1.0 - (1.0 / (1.0 + rs))
    s[_RSI_LAST] = x


@njit(cache=True)
def _ring_mean(s, base, head, count, period):
    # Nautilus's fast_mean over its deque: oldest first, summed in order
    length = min(count, period)
    first = head - length if count < period else head
    total = 0.0
    for i in range(length):
        total += s[base + (first + i) % period]
    return total / length


@njit(cache=True)
def _bar_indicators(s, n, atr_ring, bb_ring, high, low, close):
    _rsi(s, n, close)
    _ema(s, n, _EMA_FAST, _FAST_COUNT, _ALPHA_FAST, close)
    _ema(s, n, _EMA_SLOW, _SLOW_COUNT, _ALPHA_SLOW, close)
    # AverageTrueRange(use_previous=True) over a SimpleMovingAverage
    if n[_ATR_COUNT] == 0:
        s[_ATR_PREV] = close
    prev = s[_ATR_PREV]
    tr = (high if high > prev else prev) - (prev if prev < low else low)
    s[_ATR_PREV] = close
    period = n[_ATR_P]
    s[atr_ring + n[_ATR_HEAD]] = tr
    n[_ATR_HEAD] = (n[_ATR_HEAD] + 1) % period
    n[_ATR_COUNT] += 1
    s[_ATR] = _ring_mean(s, atr_ring, n[_ATR_HEAD], n[_ATR_COUNT], period)
    # BollingerBands(period, k): SMA of the typical price, population std (fast_std_with_mean)
    typical = (high + low + close) / 3.0
    period = n[_BB_P]
    s[bb_ring + n[_BB_HEAD]] = typical
    n[_BB_HEAD] = (n[_BB_HEAD] + 1) % period
    n[_BB_COUNT] += 1
    mean = _ring_mean(s, bb_ring, n[_BB_HEAD], n[_BB_COUNT], period)
    length = min(n[_BB_COUNT], period)
    first = n[_BB_HEAD] - length if n[_BB_COUNT] < period else n[_BB_HEAD]
    total = 0.0
    for i in range(length):
        v = s[bb_ring + (first + i) % period] - mean
        total += v * v
    std = math.sqrt(total / length)
    s[_BB_UPPER] = mean + (s[_BB_K] * std)
    s[_BB_MIDDLE] = mean
    s[_BB_LOWER] = mean - (s[_BB_K] * std)


@njit(cache=True)
def lob_restart(s, n):
    """An outage: the bar indicators and their z-scores start again."""
    zw = n[_ZW]
    size = STATE_SIZE + zw
    for slot in (_RSI_LAST, _RSI, _GAIN, _LOSS, _EMA_FAST, _EMA_SLOW, _ATR_PREV, _ATR, _BB_UPPER, _BB_MIDDLE, _BB_LOWER):
        s[slot] = 0.0
    for slot in (_RSI_COUNT, _FAST_COUNT, _SLOW_COUNT, _ATR_COUNT, _ATR_HEAD, _BB_COUNT, _BB_HEAD):
        n[slot] = 0
    bars = _ZSCORES + _N_BOOK * size
    s[bars : bars + _N_BAR * size + n[_ATR_P] + n[_BB_P]] = 0.0
    s[RAW + _N_BOOK : RAW + N_LOB_FEATURES] = 0.0
    s[_Z + _N_BOOK : _Z + N_LOB_FEATURES] = 0.0
    n[INITIALIZED] = 0


@njit(cache=True)
def lob_bars(s, n, bs, bn):
    """The bars the last `bars_update` closed feed the bar elements (16-20); an outage restarts them."""
    m = bn[MAX_CARRY] + 1
    zw = n[_ZW]
    size = STATE_SIZE + zw
    bars = _ZSCORES + _N_BOOK * size
    atr_ring = bars + _N_BAR * size
    bb_ring = atr_ring + n[_ATR_P]
    for k in range(bn[OUT_COUNT]):
        _bar_indicators(s, n, atr_ring, bb_ring, bs[OUT + k], bs[OUT + m + k], bs[OUT + 2 * m + k])
        width = (s[_BB_UPPER] - s[_BB_LOWER]) / s[_BB_MIDDLE]
        for j in range(_N_BAR):
            if j == 0:
                v, ready = s[_RSI], n[_RSI_COUNT] >= n[_RSI_P]
            elif j == 1:
                v, ready = s[_EMA_FAST], n[_FAST_COUNT] >= n[_FAST_P]
            elif j == 2:
                v, ready = s[_EMA_SLOW], n[_SLOW_COUNT] >= n[_SLOW_P]
            elif j == 3:
                v, ready = s[_ATR], n[_ATR_COUNT] >= n[_ATR_P]
            else:
                v, ready = width, n[_BB_COUNT] >= n[_BB_P]
            if ready:
                i = _N_BOOK + j
                z = bars + j * size
                s[RAW + i] = v
                s[_Z + i] = push(s[z : z + STATE_SIZE], s[z + STATE_SIZE : z + size], v, s[_MIN_STD])
    if bn[OUT_GAP]:
        lob_restart(s, n)


@njit(cache=True)
def lob_check(n, bq, aq, best_bid, best_ask):
    """A book the vector can use: five levels a side, 0 < bid < ask, sizes >= 0 and finite; else counted."""
    ok = bq.shape[0] >= LOB_LEVELS and aq.shape[0] >= LOB_LEVELS and 0.0 < best_bid < best_ask and math.isfinite(best_ask)
    if ok:
        total = 0.0
        for k in range(LOB_LEVELS):
            if bq[k] < 0.0 or aq[k] < 0.0:
                ok = False
            total += bq[k]
        for k in range(LOB_LEVELS):
            total += aq[k]
        ok = ok and math.isfinite(total)
    if not ok:
        n[INVALID_BOOKS] += 1
    return ok


@njit(cache=True)
def lob_at(s, n, now_ns):
    """The vector as seen at `now_ns` into `value`: zeros if the book is stale or not every element is warm."""
    if now_ns - n[TS_EVENT] > n[_STALE_NS]:
        n[STALE_READS] += 1
        s[VALUE : VALUE + N_LOB_FEATURES] = 0.0
    elif not n[INITIALIZED]:
        s[VALUE : VALUE + N_LOB_FEATURES] = 0.0
    else:
        s[VALUE : VALUE + N_LOB_FEATURES] = s[_Z : _Z + N_LOB_FEATURES]


@njit(cache=True)
def lob_book(s, n, bq, aq, best_bid, best_ask, ts_event, ts_now):
    """The book elements (0-15) of a book `lob_check` accepted, then the vector as seen at `ts_now`."""
    n[HAS_INPUTS] = 1
    for k in range(LOB_LEVELS):
        x, y = bq[k], aq[k]
        s[RAW + k] = x
        s[RAW + LOB_LEVELS + k] = y
        s[RAW + 2 * LOB_LEVELS + k] = (x - y) / (x + y) if x + y > 0.0 else 0.0
    s[RAW + 3 * LOB_LEVELS] = _spread(best_bid, best_ask)
    zw = n[_ZW]
    size = STATE_SIZE + zw
    warm = True
    for i in range(N_LOB_FEATURES):
        z = _ZSCORES + i * size
        if i < _N_BOOK:
            s[_Z + i] = push(s[z : z + STATE_SIZE], s[z + STATE_SIZE : z + size], s[RAW + i], s[_MIN_STD])
        warm = warm and s[z + COUNT] >= zw
    n[TS_EVENT] = ts_event
    if not n[INITIALIZED] and warm:
        n[INITIALIZED] = 1
    lob_at(s, n, ts_now)


class LOBFeatureVector(MidBarIndicator):
    """Z-scored book and bar features in the order of `LOB_FEATURE_NAMES`.

    Parameters
    ----------
    settings : LOBSettings
        `zscore_window` values in each element's z-score window; a book older than `stale_s`
        gives the zero vector; the periods (in bars of `bar_s`) of the bar indicators and the
        Bollinger multiple.
    min_std : float
        Floor of every element's z-score standard deviation (its own units). Default 1e-12.
    max_carry :
        Outage rule of the bars (see `MidBars`). Default 10.
    """

    _consume = staticmethod(lob_bars)

    def __init__(self, settings: LOBSettings | None = None, *, min_std: float = 1e-12, max_carry: int = 10) -> None:
        lob = settings = checked(settings or LOBSettings())
        zscore_window, stale_ns, bb_k, bar_ns = lob.zscore_window, ns(lob.stale_s), lob.bb_k, ns(lob.bar_s)
        rsi_period, ema_fast, ema_slow, atr_period, bb_period = (
            lob.rsi_period,
            lob.ema_fast,
            lob.ema_slow,
            lob.atr_period,
            lob.bb_period,
        )
        if not min_std > 0:
            raise ValueError(f"min_std must be > 0, got {min_std}")
        periods = (rsi_period, ema_fast, ema_slow, atr_period, bb_period)
        params = [zscore_window, stale_ns, *periods, bb_k, min_std, bar_ns, max_carry]
        super().__init__(params=params)
        self.settings = settings
        self.zscore_window = zscore_window
        self.stale_ns = stale_ns
        self.periods = periods
        self.bb_k = bb_k
        self.min_std = min_std
        self.bars = MidBars(bar_ns=bar_ns, max_carry=max_carry)
        self._allocate(_ZSCORES + N_LOB_FEATURES * (STATE_SIZE + zscore_window) + atr_period + bb_period, _INTS)
        self._reset()

    def _reset(self) -> None:
        s, n = self._s, self._n
        s[:] = 0.0
        n[:] = 0
        rsi, fast, slow, _, _ = self.periods
        s[_MIN_STD], s[_BB_K] = self.min_std, self.bb_k
        s[_ALPHA_FAST], s[_ALPHA_SLOW], s[_ALPHA_RSI] = 2.0 / (fast + 1.0), 2.0 / (slow + 1.0), 2.0 / (rsi + 1.0)
        n[_ZW], n[_STALE_NS] = self.zscore_window, self.stale_ns
        n[_RSI_P], n[_FAST_P], n[_SLOW_P], n[_ATR_P], n[_BB_P] = self.periods
        self.bars.reset()

    def handle_book(self, snapshot: BookSnapshot) -> None:
        """Update from one snapshot; staleness is judged against the snapshot's own receive time."""
        if not snapshot.is_valid:
            self._n[INVALID_BOOKS] += 1
            return
        self.update_raw(
            snapshot.bid_sizes,
            snapshot.ask_sizes,
            float(snapshot.bid_prices[0]),
            float(snapshot.ask_prices[0]),
            snapshot.ts_event,
            snapshot.ts_init,
        )

    def update_raw(
        self,
        bid_sizes: np.ndarray,
        ask_sizes: np.ndarray,
        best_bid: float,
        best_ask: float,
        ts_event: int,
        ts_now: int | None = None,
    ) -> None:
        """Update from plain values: sizes best level first (at least 5; missing levels 0), prices in quote currency.

        `ts_event` is the book's exchange time (ns), `ts_now` the time it is used at (defaults to
        `ts_event`). A crossed or non-positive book or a negative/non-finite size is counted in
        `invalid_books` and skipped.
        """
        bq = np.asarray(bid_sizes, dtype=np.float64)
        aq = np.asarray(ask_sizes, dtype=np.float64)
        if not lob_check(self._n, bq, aq, best_bid, best_ask):
            return
        bars = self.bars
        bars_update(bars._s, bars._n, 0.5 * (best_bid + best_ask), ts_event)  # may close bars: elements 16-20
        lob_bars(self._s, self._n, bars._s, bars._n)
        lob_book(self._s, self._n, bq, aq, best_bid, best_ask, ts_event, ts_event if ts_now is None else ts_now)

    def at(self, now_ns: int) -> np.ndarray:
        """The z-scored vector as seen at `now_ns`: zeros if the book is stale or not every element is warm."""
        lob_at(self._s, self._n, now_ns)
        return self.value

    @property
    def value(self) -> np.ndarray:
        """The z-scored vector as last read (a copy)."""
        return self._s[VALUE : VALUE + N_LOB_FEATURES].copy()

    @property
    def raw(self) -> np.ndarray:
        """The unscaled features (a view)."""
        return self._s[RAW : RAW + N_LOB_FEATURES]

    @property
    def ts_event(self) -> int:
        """Exchange time of the latest book."""
        return int(self._n[TS_EVENT])

    @property
    def invalid_books(self) -> int:
        return int(self._n[INVALID_BOOKS])

    @property
    def stale_reads(self) -> int:
        """`at` calls (and updates) that found the book stale."""
        return int(self._n[STALE_READS])
