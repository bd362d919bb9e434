"""Microstructure regime: how much of the normal size the book can take right now.

After Kirilenko, A., Kyle, A. S., Samadi, M. and Tuzun, T. (2017), "The Flash Crash:
High-Frequency Trading in an Electronic Market", Journal of Finance 72(3): liquidity is
withdrawn through wider spreads, thinner books and bursts or droughts of activity.

Three axes, each mapped to a factor, and multiplier = clamp(product, 0.2, 1.0) (DESIGN 3.11):
- spread in bps of the mid: TIGHT below 5 (1.0), WIDE above 20 (0.4), NORMAL between (0.7); a
  spread of one tick (the venue's minimum) is TIGHT whatever it is in bps: on a low-priced
  instrument one tick can exceed 5 bps, and it cannot be tighter;
- depth, the notional (quote currency) resting within the builder's band of the mid (10 bps) on
  both sides: THICK above 100k (1.0), THIN below 10k (0.4), NORMAL between (0.7);
- activity, book updates per second over the last 5 s of exchange time: ACTIVE above 10 (1.0),
  QUIET below 1 (0.5), NORMAL between (0.7).
The thresholds are per instrument (a 100k book is thin for BTC, thick for a small alt). In
`quantile` mode each axis's two bounds are the (low, high) `quantiles` of its own last
`quantile_history` values, sampled once per `quantile_sample_ns` of event time (spread: GOOD below
the low quantile, POOR above the high; depth and activity: POOR below the low, GOOD above the
high); the fixed bounds apply until `quantile_min` samples are held. The spread's history is
kept in ticks when the book snapshot carries the instrument's tick: ETHUSDT's spread is one tick on
99.8 % of its rows, and in bps that one tick moves with the mid, so quantiles of the bps split one
constant spread into tight, normal and wide by price level. In ticks a constant spread has equal
quantiles and one label (TIGHT at one tick, else NORMAL).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from enum import IntEnum

from nautilus_trader.indicators.base import Indicator

from scalp_nautilus.skips import SkipCounter
from tests.oracle.book import BookSnapshot
from tests.oracle.indicators.rolling_quantile import THRESHOLD_MODES
from tests.oracle.indicators.rolling_quantile import RollingQuantiles
from tests.oracle.indicators.warm_state import WarmState

log = logging.getLogger(__name__)


class AxisState(IntEnum):
    GOOD = 0  # tight spread / thick book / active market
    NORMAL = 1
    POOR = 2  # wide spread / thin book / quiet market


class MicrostructureRegime(WarmState, Indicator):
    """`value`: the size multiplier in [min_multiplier, max_multiplier].

    Parameters
    ----------
    spread_tight_bps, spread_wide_bps : float
        Spread bounds in basis points of the mid.
    depth_thick, depth_thin : float
        Band-notional bounds in quote currency.
    activity_active, activity_quiet : float
        Book-update rate bounds, per second.
    activity_window_ns : int
        Window of the update rate; `initialized` once it has elapsed since the first update.
    spread_factors, depth_factors, activity_factors : tuple of 3 floats
        Factor for GOOD, NORMAL, POOR on each axis.
    min_multiplier, max_multiplier : float
        Clamp of the product.
    """

    _STATE = (
        "_updates",
        "_first_ts",
        "spread_state",
        "depth_state",
        "activity_state",
        "activity_rate",
        "depth_notional",
        "value",
        "_next_sample",
        "spread_tight_bps",
        "spread_wide_bps",
        "depth_thick",
        "depth_thin",
        "activity_active",
        "activity_quiet",
        "spread_tight_ticks",
        "spread_wide_ticks",
    )
    _CHILDREN = ("spread_history", "depth_history", "activity_history")
    # Slots: on a Python subclass of a Cython type an attribute costs ~60 ns via __dict__, ~30 here.
    __slots__ = (
        "activity_window_ns",
        "spread_factors",
        "depth_factors",
        "activity_factors",
        "min_multiplier",
        "max_multiplier",
        "skips",
        "threshold_mode",
        "quantile_sample_ns",
        "_fixed",
        *_STATE,
        *_CHILDREN,
    )

    def __init__(
        self,
        spread_tight_bps: float = 5.0,
        spread_wide_bps: float = 20.0,
        depth_thick: float = 100_000.0,
        depth_thin: float = 10_000.0,
        activity_active: float = 10.0,
        activity_quiet: float = 1.0,
        activity_window_ns: int = 5_000_000_000,
        spread_factors: tuple[float, float, float] = (1.0, 0.7, 0.4),
        depth_factors: tuple[float, float, float] = (1.0, 0.7, 0.4),
        activity_factors: tuple[float, float, float] = (1.0, 0.7, 0.5),
        min_multiplier: float = 0.2,
        max_multiplier: float = 1.0,
        threshold_mode: str = "fixed",
        quantiles: tuple[float, float] = (0.2, 0.8),
        quantile_history: int = 1800,
        quantile_min: int = 60,
        quantile_sample_ns: int = 1_000_000_000,
    ) -> None:
        if not spread_tight_bps <= spread_wide_bps:
            raise ValueError(f"spread_tight_bps {spread_tight_bps} > spread_wide_bps {spread_wide_bps}")
        if not depth_thin <= depth_thick:
            raise ValueError(f"depth_thin {depth_thin} > depth_thick {depth_thick}")
        if not activity_quiet <= activity_active:
            raise ValueError(f"activity_quiet {activity_quiet} > activity_active {activity_active}")
        if activity_window_ns <= 0:
            raise ValueError(f"activity_window_ns must be > 0, got {activity_window_ns}")
        if not 0.0 <= min_multiplier <= max_multiplier:
            raise ValueError(f"need 0 <= min_multiplier <= max_multiplier, got {min_multiplier}, {max_multiplier}")
        if threshold_mode not in THRESHOLD_MODES:
            raise ValueError(f"threshold_mode must be one of {THRESHOLD_MODES}, got {threshold_mode!r}")
        if quantile_sample_ns <= 0:
            raise ValueError(f"quantile_sample_ns must be > 0, got {quantile_sample_ns}")
        params = [
            spread_tight_bps,
            spread_wide_bps,
            depth_thick,
            depth_thin,
            activity_active,
            activity_quiet,
            activity_window_ns,
            spread_factors,
            depth_factors,
            activity_factors,
            min_multiplier,
            max_multiplier,
        ]
        if threshold_mode == "quantile":  # fixed mode keeps its old parameters (saved states stay valid)
            params += [threshold_mode, tuple(quantiles), quantile_history, quantile_min, quantile_sample_ns]
        super().__init__(params=params)
        self.threshold_mode = threshold_mode
        self.quantile_sample_ns = quantile_sample_ns
        self._fixed = (spread_tight_bps, spread_wide_bps, depth_thick, depth_thin, activity_active, activity_quiet)
        self.spread_history = RollingQuantiles(quantile_history, tuple(quantiles), quantile_min)
        self.depth_history = RollingQuantiles(quantile_history, tuple(quantiles), quantile_min)
        self.activity_history = RollingQuantiles(quantile_history, tuple(quantiles), quantile_min)
        self.spread_tight_bps = spread_tight_bps
        self.spread_wide_bps = spread_wide_bps
        self.depth_thick = depth_thick
        self.depth_thin = depth_thin
        self.activity_active = activity_active
        self.activity_quiet = activity_quiet
        self.activity_window_ns = activity_window_ns
        self.spread_factors = tuple(spread_factors)
        self.depth_factors = tuple(depth_factors)
        self.activity_factors = tuple(activity_factors)
        self.min_multiplier = min_multiplier
        self.max_multiplier = max_multiplier
        self._updates: deque[int] = deque()
        self.skips = SkipCounter(type(self).__name__, log)
        self._reset()

    def _reset(self) -> None:
        self._updates.clear()
        self._first_ts: int | None = None
        self.spread_state = AxisState.NORMAL
        self.depth_state = AxisState.NORMAL
        self.activity_state = AxisState.NORMAL
        self.activity_rate = 0.0
        self.depth_notional = 0.0
        self.value = self.max_multiplier
        (
            self.spread_tight_bps,
            self.spread_wide_bps,
            self.depth_thick,
            self.depth_thin,
            self.activity_active,
            self.activity_quiet,
        ) = self._fixed
        # quantile-mode spread bounds in ticks: NaN until the history in ticks is ready
        self.spread_tight_ticks = self.spread_wide_ticks = math.nan
        self._next_sample = 0
        for history in (self.spread_history, self.depth_history, self.activity_history):
            history.reset()
        self.skips.clear()

    def handle_book(self, snapshot: BookSnapshot) -> None:
        if not snapshot.is_valid:
            self.skips("invalid book skipped")
            return
        self.update_raw(
            snapshot.ts_event,
            1e4 * snapshot.spread / snapshot.mid,
            snapshot.bid_band_notional + snapshot.ask_band_notional,
            round(snapshot.spread / snapshot.tick_size) if snapshot.tick_size > 0 else math.nan,
        )

    def update_raw(self, ts_event: int, spread_bps: float, depth_notional: float, spread_ticks: float = math.nan) -> float:
        """One book update at `ts_event` (ns) with its spread (bps and, NaN when the tick is
        unknown, whole ticks) and band notional (quote currency)."""
        if not (0.0 <= spread_bps < math.inf and 0.0 <= depth_notional < math.inf):
            self.skips("update with a negative or non-finite spread or depth skipped", (spread_bps, depth_notional))
            return self.value
        updates = self._updates
        if self._first_ts is None:
            self._first_ts = ts_event
            self._set_has_inputs(True)
        if updates and ts_event < updates[-1]:
            ts_event = updates[-1]  # keep the window ordered when feeds interleave
        updates.append(ts_event)
        horizon = ts_event - self.activity_window_ns
        while updates[0] <= horizon:
            updates.popleft()
        self.activity_rate = len(updates) * 1e9 / self.activity_window_ns

        self.depth_notional = depth_notional
        if self.threshold_mode == "quantile" and ts_event >= self._next_sample:
            self._sample(ts_event, spread_bps, spread_ticks)
        if spread_ticks <= 1.0:  # False for NaN
            spread = self.spread_state = _GOOD
        elif not (math.isnan(spread_ticks) or math.isnan(self.spread_tight_ticks)):
            spread = self.spread_state = _state(spread_ticks, self.spread_tight_ticks, self.spread_wide_ticks, False)
        else:
            spread = self.spread_state = _state(spread_bps, self.spread_tight_bps, self.spread_wide_bps, False)
        depth = self.depth_state = _state(depth_notional, self.depth_thick, self.depth_thin, True)
        activity = self.activity_state = _state(self.activity_rate, self.activity_active, self.activity_quiet, True)
        product = self.spread_factors[spread] * self.depth_factors[depth] * self.activity_factors[activity]
        self.value = min(max(product, self.min_multiplier), self.max_multiplier)
        if not self.initialized and ts_event - self._first_ts >= self.activity_window_ns:
            self._set_initialized(True)
        return self.value

    def _sample(self, ts_event: int, spread_bps: float, spread_ticks: float) -> None:
        """Add this update's three axis values to their histories (once the activity window has
        elapsed: a rate over a partial window reads low) and take the bounds from their quantiles.
        The spread goes in ticks when they are known (the snapshot's tick is the instrument's, so
        one run never mixes the two units), else in bps."""
        self._next_sample = ts_event + self.quantile_sample_ns
        if self._first_ts is None or ts_event - self._first_ts < self.activity_window_ns:
            return
        in_ticks = not math.isnan(spread_ticks)
        self.spread_history.add(spread_ticks if in_ticks else spread_bps)
        self.depth_history.add(self.depth_notional)
        self.activity_history.add(self.activity_rate)
        if self.spread_history.ready:
            if in_ticks:
                self.spread_tight_ticks, self.spread_wide_ticks = self.spread_history.quantiles()
            else:
                self.spread_tight_bps, self.spread_wide_bps = self.spread_history.quantiles()
            self.depth_thin, self.depth_thick = self.depth_history.quantiles()
            self.activity_quiet, self.activity_active = self.activity_history.quantiles()


_GOOD, _NORMAL, _POOR = AxisState.GOOD, AxisState.NORMAL, AxisState.POOR


def _state(x: float, good: float, poor: float, higher_is_better: bool) -> AxisState:
    """GOOD strictly beyond `good`, POOR strictly beyond `poor`, NORMAL between (bounds included)."""
    if higher_is_better:
        return _GOOD if x > good else _POOR if x < poor else _NORMAL
    return _GOOD if x < good else _POOR if x > poor else _NORMAL
