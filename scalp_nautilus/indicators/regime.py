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
A book that shows no depth (a top of book: the band notional is NaN, `scalp_nautilus.book`) has no
depth axis: its state is UNAVAILABLE (-1) and the multiplier is that of the other two axes (DESIGN
§8: nothing pretends a one-level book is a deep one).
The thresholds are per instrument (a 100k book is thin for BTC, thick for a small alt). In
`quantile` mode each axis's two bounds are the (low, high) `quantiles` of its own last
`quantile_history` values, sampled once per `quantile_sample_ns` of event time (spread: GOOD below
the low quantile, POOR above the high; depth and activity: POOR below the low, GOOD above the
high); the fixed bounds apply until `quantile_min` samples are held. The spread's history is
kept in ticks when the book snapshot carries the instrument's tick: ETHUSDT's spread is one tick on
99.8 % of its rows, and in bps that one tick moves with the mid, so quantiles of the bps split one
constant spread into tight, normal and wide by price level. In ticks a constant spread has equal
quantiles and one label (TIGHT at one tick, else NORMAL).

The activity window keeps the update times of the last `activity_window_ns` in a ring of
`activity_capacity`; more updates than that inside one window (more than 1,600 a second with the
defaults) drop the oldest and are counted, so the rate then reads low.

The state is compiled (`scalp_nautilus.indicators.compiled`): `regime_update` is the one update,
run by the class and by the pipeline's batch kernel.
"""

from __future__ import annotations

import logging
import math
from enum import IntEnum

import numpy as np
from numba import njit

from scalp_nautilus.book import BookSnapshot
from scalp_nautilus.indicators.compiled import HAS_INPUTS
from scalp_nautilus.indicators.compiled import INITIALIZED
from scalp_nautilus.indicators.compiled import CompiledIndicator
from scalp_nautilus.indicators.compiled import quantiles_linear
from scalp_nautilus.indicators.settings import RegimeSettings
from scalp_nautilus.indicators.settings import checked
from scalp_nautilus.indicators.settings import ns
from scalp_nautilus.skips import SkipCounter

log = logging.getLogger(__name__)


class AxisState(IntEnum):
    UNAVAILABLE = -1  # the depth axis of a book that shows no depth (a top of book)
    GOOD = 0  # tight spread / thick book / active market
    NORMAL = 1
    POOR = 2  # wide spread / thin book / quiet market


_UNAVAILABLE, _GOOD, _NORMAL, _POOR = -1, 0, 1, 2
# float slots: the bounds in use, the fixed bounds, the factors (spread, depth, activity: good,
# normal, poor), the clamp, the quantile levels, the outputs; then the three histories
(_SPREAD_TIGHT, _SPREAD_WIDE, _DEPTH_THICK, _DEPTH_THIN, _ACTIVE, _QUIET) = range(6)
_FIXED = 6
_FACTORS = 12
(_MIN_MULT, _MAX_MULT, _Q_LOW, _Q_HIGH, VALUE, ACTIVITY_RATE, DEPTH_NOTIONAL, _TIGHT_TICKS, _WIDE_TICKS) = range(21, 30)
_FLOATS = 30
# int slots, then the update times (ring of activity_capacity)
(_WINDOW_NS, _QUANTILE, _QH, _QMIN, _SAMPLE_NS, _FIRST_TS, _STARTED) = range(2, 9)
(SPREAD_STATE, DEPTH_STATE, ACTIVITY_STATE, _NEXT_SAMPLE, _H_HEAD, _H_COUNT) = range(9, 15)
(_U_HEAD, _U_COUNT, _U_CAP, SKIP_INVALID, _SKIP_VALUES, _SKIP_OVERFLOW) = range(15, 21)
_INTS = 21
SKIPS = {
    SKIP_INVALID: "invalid book skipped",
    _SKIP_VALUES: "update with a negative or non-finite spread or depth skipped",
    _SKIP_OVERFLOW: "more book updates in the activity window than its capacity: the oldest dropped",
}


@njit(cache=True)
def _state(x, good, poor, higher_is_better):
    """GOOD strictly beyond `good`, POOR strictly beyond `poor`, NORMAL between (bounds included)."""
    if higher_is_better:
        return _GOOD if x > good else _POOR if x < poor else _NORMAL
    return _GOOD if x < good else _POOR if x > poor else _NORMAL


@njit(cache=True)
def spread_ticks(spread, tick_size):
    """The spread in whole ticks (NaN when the tick is unknown)."""
    return np.rint(spread / tick_size) if tick_size > 0 else np.nan


@njit(cache=True)
def _sample(s, n, ts_event, spread_bps, spread_ticks):
    """Add this update's three axis values to their histories (once the activity window has
    elapsed: a rate over a partial window reads low) and take the bounds from their quantiles.
    The spread goes in ticks when they are known (the snapshot's tick is the instrument's, so
    one run never mixes the two units), else in bps."""
    n[_NEXT_SAMPLE] = ts_event + n[_SAMPLE_NS]
    if ts_event - n[_FIRST_TS] < n[_WINDOW_NS]:
        return
    qh = n[_QH]
    head = n[_H_HEAD]
    in_ticks = not math.isnan(spread_ticks)
    s[_FLOATS + head] = spread_ticks if in_ticks else spread_bps
    s[_FLOATS + qh + head] = s[DEPTH_NOTIONAL]  # NaN without depth: its bounds are then never read
    s[_FLOATS + 2 * qh + head] = s[ACTIVITY_RATE]
    n[_H_HEAD] = (head + 1) % qh
    n[_H_COUNT] = count = min(n[_H_COUNT] + 1, qh)
    if count >= n[_QMIN]:
        levels = s[_Q_LOW : _Q_HIGH + 1]
        out = np.empty(2)
        quantiles_linear(s[_FLOATS : _FLOATS + count], levels, out)
        if in_ticks:
            s[_TIGHT_TICKS], s[_WIDE_TICKS] = out[0], out[1]
        else:
            s[_SPREAD_TIGHT], s[_SPREAD_WIDE] = out[0], out[1]
        if not math.isnan(s[DEPTH_NOTIONAL]):
            quantiles_linear(s[_FLOATS + qh : _FLOATS + qh + count], levels, out)
            s[_DEPTH_THIN], s[_DEPTH_THICK] = out[0], out[1]
        quantiles_linear(s[_FLOATS + 2 * qh : _FLOATS + 2 * qh + count], levels, out)
        s[_QUIET], s[_ACTIVE] = out[0], out[1]


@njit(cache=True)
def regime_update(s, n, ts_event, spread_bps, depth_notional, spread_ticks):
    """One book update at `ts_event` (ns) with its spread (bps and, NaN when the tick is unknown,
    whole ticks) and band notional (quote currency; NaN: the book shows no depth)."""
    if not (0.0 <= spread_bps < math.inf and (0.0 <= depth_notional < math.inf or math.isnan(depth_notional))):
        n[_SKIP_VALUES] += 1
        return
    if not n[_STARTED]:
        n[_STARTED] = 1
        n[_FIRST_TS] = ts_event
        n[HAS_INPUTS] = 1
    cap = n[_U_CAP]
    count = n[_U_COUNT]
    head = n[_U_HEAD]
    if count and ts_event < n[_INTS + (head - 1) % cap]:
        ts_event = n[_INTS + (head - 1) % cap]  # keep the window ordered when feeds interleave
    if count == cap:
        n[_SKIP_OVERFLOW] += 1
        count -= 1
    n[_INTS + head] = ts_event
    n[_U_HEAD] = head = (head + 1) % cap
    count += 1
    horizon = ts_event - n[_WINDOW_NS]
    while n[_INTS + (head - count) % cap] <= horizon:
        count -= 1
    n[_U_COUNT] = count
    s[ACTIVITY_RATE] = count * 1e9 / n[_WINDOW_NS]
    s[DEPTH_NOTIONAL] = depth_notional
    if n[_QUANTILE] and ts_event >= n[_NEXT_SAMPLE]:
        _sample(s, n, ts_event, spread_bps, spread_ticks)
    if spread_ticks <= 1.0:  # False for NaN
        spread = _GOOD
    elif not (math.isnan(spread_ticks) or math.isnan(s[_TIGHT_TICKS])):
        spread = _state(spread_ticks, s[_TIGHT_TICKS], s[_WIDE_TICKS], False)
    else:
        spread = _state(spread_bps, s[_SPREAD_TIGHT], s[_SPREAD_WIDE], False)
    if math.isnan(depth_notional):
        depth, depth_factor = _UNAVAILABLE, 1.0
    else:
        depth = _state(depth_notional, s[_DEPTH_THICK], s[_DEPTH_THIN], True)
        depth_factor = s[_FACTORS + 3 + depth]
    activity = _state(s[ACTIVITY_RATE], s[_ACTIVE], s[_QUIET], True)
    n[SPREAD_STATE], n[DEPTH_STATE], n[ACTIVITY_STATE] = spread, depth, activity
    product = s[_FACTORS + spread] * depth_factor * s[_FACTORS + 6 + activity]
    s[VALUE] = min(max(product, s[_MIN_MULT]), s[_MAX_MULT])
    if not n[INITIALIZED] and ts_event - n[_FIRST_TS] >= n[_WINDOW_NS]:
        n[INITIALIZED] = 1


class MicrostructureRegime(CompiledIndicator):
    """`value`: the size multiplier in [min_multiplier, max_multiplier].

    Parameters
    ----------
    settings : RegimeSettings
        The bounds of each axis (spread in bps of the mid, band notional in quote currency,
        book-update rate per second over `activity_window_s`: `initialized` once it has elapsed
        since the first update), each axis's factors for GOOD, NORMAL, POOR, the clamp of their
        product, and the quantile mode.
    activity_capacity : int
        Most update times held in the activity window (see the module doc).
    """

    def __init__(self, settings: RegimeSettings | None = None, *, activity_capacity: int = 8192) -> None:
        r = settings = checked(settings or RegimeSettings())
        if activity_capacity < 1:
            raise ValueError(f"activity_capacity must be >= 1, got {activity_capacity}")
        quantile_mode = r.threshold_mode == "quantile"
        self._fixed = (r.spread_tight_bps, r.spread_wide_bps, r.depth_thick, r.depth_thin, r.activity_active, r.activity_quiet)
        self.activity_window_ns = ns(r.activity_window_s)
        self.quantile_sample_ns = ns(r.quantile_sample_s)
        factors = (r.spread_factors, r.depth_factors, r.activity_factors)
        params = [*self._fixed, self.activity_window_ns, *factors, r.min_multiplier, r.max_multiplier]
        if quantile_mode:  # fixed mode keeps its old parameters
            params += [r.threshold_mode, tuple(r.quantiles), r.quantile_history, r.quantile_min, self.quantile_sample_ns]
        super().__init__(params=params)
        self.settings = settings
        self.threshold_mode = r.threshold_mode
        self.quantiles = tuple(float(q) for q in r.quantiles)
        self.quantile_history = r.quantile_history
        self.quantile_min = r.quantile_min
        self.spread_factors, self.depth_factors, self.activity_factors = (tuple(f) for f in factors)
        self.min_multiplier = r.min_multiplier
        self.max_multiplier = r.max_multiplier
        self.activity_capacity = activity_capacity
        self.skips = SkipCounter(type(self).__name__, log)
        history = r.quantile_history if quantile_mode else 1
        self._allocate(_FLOATS + 3 * history, _INTS + activity_capacity)
        self._reset()

    def _reset(self) -> None:
        s, n = self._s, self._n
        s[:] = 0.0
        n[:] = 0
        s[_SPREAD_TIGHT : _QUIET + 1] = self._fixed
        s[_FIXED : _FIXED + 6] = self._fixed
        s[_FACTORS : _FACTORS + 9] = (*self.spread_factors, *self.depth_factors, *self.activity_factors)
        s[_MIN_MULT], s[_MAX_MULT] = self.min_multiplier, self.max_multiplier
        s[_Q_LOW], s[_Q_HIGH] = self.quantiles
        s[VALUE] = self.max_multiplier
        # quantile-mode spread bounds in ticks: NaN until the history in ticks is ready
        s[_TIGHT_TICKS] = s[_WIDE_TICKS] = math.nan
        n[_WINDOW_NS] = self.activity_window_ns
        n[_QUANTILE] = self.threshold_mode == "quantile"
        n[_QH] = (len(s) - _FLOATS) // 3
        n[_QMIN] = self.quantile_min if self.threshold_mode == "quantile" else 1
        n[_SAMPLE_NS] = self.quantile_sample_ns
        n[SPREAD_STATE] = n[DEPTH_STATE] = n[ACTIVITY_STATE] = _NORMAL
        n[_U_CAP] = self.activity_capacity
        self.skips.clear()

    def handle_book(self, snapshot: BookSnapshot) -> None:
        if not snapshot.is_valid:
            self._n[SKIP_INVALID] += 1
            self.skips.sync(self._n, SKIPS)
            return
        self.update_raw(
            snapshot.ts_event,
            1e4 * snapshot.spread / snapshot.mid,
            snapshot.bid_band_notional + snapshot.ask_band_notional,
            spread_ticks(snapshot.spread, snapshot.tick_size),
        )

    def update_raw(self, ts_event: int, spread_bps: float, depth_notional: float, spread_ticks: float = math.nan) -> float:
        """One book update at `ts_event` (ns) with its spread (bps and, NaN when the tick is
        unknown, whole ticks) and band notional (quote currency)."""
        regime_update(self._s, self._n, ts_event, spread_bps, depth_notional, spread_ticks)
        self.skips.sync(self._n, SKIPS)
        return self.value

    @property
    def value(self) -> float:
        return float(self._s[VALUE])

    @property
    def activity_rate(self) -> float:
        """Book updates per second over the window."""
        return float(self._s[ACTIVITY_RATE])

    @property
    def depth_notional(self) -> float:
        return float(self._s[DEPTH_NOTIONAL])

    @property
    def spread_state(self) -> AxisState:
        return AxisState(int(self._n[SPREAD_STATE]))

    @property
    def depth_state(self) -> AxisState:
        return AxisState(int(self._n[DEPTH_STATE]))

    @property
    def activity_state(self) -> AxisState:
        return AxisState(int(self._n[ACTIVITY_STATE]))

    @property
    def updates(self) -> int:
        """Book updates in the activity window."""
        return int(self._n[_U_COUNT])

    @property
    def spread_tight_bps(self) -> float:
        return float(self._s[_SPREAD_TIGHT])

    @property
    def spread_wide_bps(self) -> float:
        return float(self._s[_SPREAD_WIDE])

    @property
    def depth_thick(self) -> float:
        return float(self._s[_DEPTH_THICK])

    @property
    def depth_thin(self) -> float:
        return float(self._s[_DEPTH_THIN])

    @property
    def activity_active(self) -> float:
        return float(self._s[_ACTIVE])

    @property
    def activity_quiet(self) -> float:
        return float(self._s[_QUIET])

    @property
    def spread_tight_ticks(self) -> float:
        return float(self._s[_TIGHT_TICKS])

    @property
    def spread_wide_ticks(self) -> float:
        return float(self._s[_WIDE_TICKS])
