"""The 21-float limit-order-book feature vector fed to the LSTM (DESIGN.md feature 10).

Book state as in Cao, Chen & Hull (2009) and Cont, Stoikov & Talreja (2010), with the technical
indicators of the DeepLOB-style models on 1 s mid bars. The layout is `LOB_FEATURE_NAMES`; the
LSTM and its model file store that tuple and must refuse a file whose layout differs.

    0-4    bid size, levels 0-4 (instrument size units; 0 for a missing level)
    5-9    ask size, levels 0-4
    10-14  imbalance (b - a) / (b + a) per level, in [-1, 1] (0 where both are missing)
    15     spread, best ask - best bid (quote currency, rounded to 12 significant digits of the price)
    16     RSI(14) of bar closes: Nautilus's RelativeStrengthIndex, EMA-averaged gains, in [0, 1]
    17,18  EMA(12), EMA(26) of bar closes (quote currency)
    19     ATR(14) of the bars: Nautilus's AverageTrueRange, simple average of true ranges
    20     Bollinger band width (upper - lower) / middle: Nautilus's BollingerBands(20, 2) on the
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

Warm state: Nautilus's RSI, EMA, ATR and Bollinger indicators keep their state in Cython, out of
reach, so the vector keeps the bars since its last restart (at most `replay_bars`) and a restore
replays them into fresh ones. ATR (simple average) and the bands (a window) come back exact; the
exponential averages (EMA, and RSI's averages of gains and losses) exactly when the bars since the
restart are all kept, else from `replay_bars` bars back, where the default leaves less than 1e-15
of the slowest one's starting value in it.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from nautilus_trader.indicators.averages import ExponentialMovingAverage
from nautilus_trader.indicators.base import Indicator
from nautilus_trader.indicators.momentum import RelativeStrengthIndex
from nautilus_trader.indicators.volatility import AverageTrueRange
from nautilus_trader.indicators.volatility import BollingerBands

from tests.oracle.book import BookSnapshot
from tests.oracle.indicators.mid_bars import SECOND_NS
from tests.oracle.indicators.mid_bars import MidBars
from tests.oracle.indicators.rolling_zscore import RollingZScore
from tests.oracle.indicators.rolling_zscore import RollingZScores
from tests.oracle.indicators.warm_state import WarmState

LOB_LEVELS = 5
LOB_FEATURE_NAMES: tuple[str, ...] = (
    *(f"bid_size_{k}" for k in range(LOB_LEVELS)),
    *(f"ask_size_{k}" for k in range(LOB_LEVELS)),
    *(f"imbalance_{k}" for k in range(LOB_LEVELS)),
    "spread",
    "rsi",
    "ema_fast",
    "ema_slow",
    "atr",
    "bollinger_width",
)
N_LOB_FEATURES = len(LOB_FEATURE_NAMES)
_N_BOOK = 3 * LOB_LEVELS + 1  # elements refreshed per snapshot; the rest per bar


def _spread(best_bid: float, best_ask: float) -> float:
    """best_ask - best_bid, rounded to 12 significant digits of the price.

    The prices are decimals, but their difference in binary floating point carries about 1e-16 of
    the price in rounding (1e-11 on BTC), different for each pair of prices a tick apart. Over a
    window of one-tick spreads that noise is the only variation and a z-score would blow it up to
    +-1; rounded, every one-tick spread is the same float and its z-score is 0.
    """
    quantum = 10.0 ** (math.floor(math.log10(best_ask)) - 12)
    return round((best_ask - best_bid) / quantum) * quantum


def replay_length(*periods: int, residual: float = 1e-15) -> int:
    """Bars to replay so that an EMA of the longest period keeps less than `residual` of its start
    (weight (1 - 2/(n+1))^k after k bars), and at least every window once."""
    alpha = 2.0 / (max(periods) + 1)
    return max(*periods, math.ceil(math.log(residual) / math.log(1.0 - alpha)))


class LOBFeatureVector(WarmState, Indicator):
    """Z-scored book and bar features in the order of `LOB_FEATURE_NAMES`.

    Parameters
    ----------
    zscore_window : int
        Values in each element's z-score window. Default 100.
    stale_ns : int
        A book older than this (ns) gives the zero vector. Default 2 s.
    rsi_period, ema_fast, ema_slow, atr_period, bb_period, bb_k :
        Periods (in bars) of Nautilus's indicators and the Bollinger multiple. Defaults 14, 12, 26,
        14, 20, 2.0.
    min_std : float
        Floor of every element's z-score standard deviation (its own units). Default 1e-12.
    bar_ns, max_carry :
        Bar length and outage rule (see `MidBars`). Defaults 1 s, 10.
    """

    _STATE = ("raw", "_z", "ts_event", "invalid_books", "stale_reads", "value", "_history")
    _CHILDREN = ("bars", "_book_z")

    def __init__(
        self,
        zscore_window: int = 100,
        stale_ns: int = 2 * SECOND_NS,
        rsi_period: int = 14,
        ema_fast: int = 12,
        ema_slow: int = 26,
        atr_period: int = 14,
        bb_period: int = 20,
        bb_k: float = 2.0,
        min_std: float = 1e-12,
        bar_ns: int = SECOND_NS,
        max_carry: int = 10,
    ) -> None:
        if stale_ns <= 0:
            raise ValueError(f"stale_ns must be > 0, got {stale_ns}")
        params = [
            zscore_window,
            stale_ns,
            rsi_period,
            ema_fast,
            ema_slow,
            atr_period,
            bb_period,
            bb_k,
            min_std,
            bar_ns,
            max_carry,
        ]
        super().__init__(params=params)
        self.stale_ns = stale_ns
        self._book_z = RollingZScores(_N_BOOK, zscore_window, min_std)
        self._bar_z = [RollingZScore(zscore_window, min_std) for _ in range(N_LOB_FEATURES - _N_BOOK)]
        self._rsi = RelativeStrengthIndex(rsi_period)
        self._ema_fast = ExponentialMovingAverage(ema_fast)
        self._ema_slow = ExponentialMovingAverage(ema_slow)
        self._atr = AverageTrueRange(atr_period)
        self._bb = BollingerBands(bb_period, bb_k)
        self._bar_indicators = (self._rsi, self._ema_fast, self._ema_slow, self._atr, self._bb)
        self._history: deque[tuple[float, float, float]] = deque(
            maxlen=replay_length(rsi_period, ema_fast, ema_slow, atr_period, bb_period),
        )  # bars since the last restart, for `restore`
        self.raw = np.zeros(N_LOB_FEATURES)
        self._z = np.zeros(N_LOB_FEATURES)
        self.bars = MidBars(self._on_bar, self._restart_bars, bar_ns, max_carry)
        self._reset()

    def _reset(self) -> None:
        self.bars.reset()
        self._book_z.reset()
        self._restart_bars()
        self.raw[:] = 0.0
        self._z[:] = 0.0
        self.ts_event = 0  # exchange time of the latest book
        self.invalid_books = 0
        self.stale_reads = 0  # `at` calls that found the book stale
        self.value = np.zeros(N_LOB_FEATURES)

    def _restart_bars(self) -> None:
        self._history.clear()
        for ind in self._bar_indicators:
            ind.reset()
        for z in self._bar_z:
            z.reset()
        self.raw[_N_BOOK:] = 0.0
        self._z[_N_BOOK:] = 0.0
        self._set_initialized(False)

    def handle_book(self, snapshot: BookSnapshot) -> None:
        """Update from one snapshot; staleness is judged against the snapshot's own receive time."""
        if not snapshot.is_valid:
            self.invalid_books += 1
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
        # Five floats each: plain Python is several times cheaper than numpy at this size.
        b = np.asarray(bid_sizes, dtype=np.float64)[:LOB_LEVELS].tolist()
        a = np.asarray(ask_sizes, dtype=np.float64)[:LOB_LEVELS].tolist()
        # min() rejects negative sizes, sum() any NaN or infinity.
        if not (
            len(b) == len(a) == LOB_LEVELS
            and 0.0 < best_bid < best_ask
            and math.isfinite(best_ask)
            and min(b) >= 0.0
            and min(a) >= 0.0
            and math.isfinite(sum(b) + sum(a))
        ):
            self.invalid_books += 1
            return
        if not self.has_inputs:
            self._set_has_inputs(True)
        self.bars.update(0.5 * (best_bid + best_ask), ts_event)  # may close bars: updates elements 16-20
        book = b + a
        book += [(x - y) / (x + y) if x + y > 0.0 else 0.0 for x, y in zip(b, a)]
        book.append(_spread(best_bid, best_ask))
        self.raw[:_N_BOOK] = book
        self._z[:_N_BOOK] = self._book_z.update_raw(self.raw[:_N_BOOK])
        self.ts_event = ts_event
        if not self.initialized and self._book_z.initialized and all(z.initialized for z in self._bar_z):
            self._set_initialized(True)
        self.value = self.at(ts_event if ts_now is None else ts_now)

    def at(self, now_ns: int) -> np.ndarray:
        """The z-scored vector as seen at `now_ns`: zeros if the book is stale or not every element is warm."""
        if now_ns - self.ts_event > self.stale_ns:
            self.stale_reads += 1
            return np.zeros(N_LOB_FEATURES)
        if not self.initialized:
            return np.zeros(N_LOB_FEATURES)
        return self._z.copy()

    def _on_bar(self, high: float, low: float, close: float) -> None:
        self._history.append((high, low, close))
        self._feed_bar_indicators(high, low, close)
        bb = self._bb
        width = (bb.upper - bb.lower) / bb.middle
        values = (self._rsi.value, self._ema_fast.value, self._ema_slow.value, self._atr.value, width)
        for j, (ind, v) in enumerate(zip(self._bar_indicators, values)):
            if ind.initialized:
                i = _N_BOOK + j
                self.raw[i] = v
                self._z[i] = self._bar_z[j].update_raw(v)

    def _feed_bar_indicators(self, high: float, low: float, close: float) -> None:
        self._rsi.update_raw(close)
        self._ema_fast.update_raw(close)
        self._ema_slow.update_raw(close)
        self._atr.update_raw(high, low, close)
        self._bb.update_raw(high, low, close)

    def state(self) -> dict:
        return {**super().state(), "bar_z": [z.state() for z in self._bar_z]}

    def restore(self, state: dict) -> None:
        super().restore(state)
        for z, saved in zip(self._bar_z, state["bar_z"], strict=True):
            z.restore(saved)
        for ind in self._bar_indicators:
            ind.reset()
        for bar in self._history:
            self._feed_bar_indicators(*bar)
