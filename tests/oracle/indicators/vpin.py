"""Volume-synchronised probability of informed trading.

Easley, D., López de Prado, M. and O'Hara, M. (2012), "Flow Toxicity and Liquidity in a
High-Frequency World", Review of Financial Studies 25(5), 1457-1493.

Trades fill buckets of fixed volume V; a trade larger than the room left in the current bucket is
split across as many buckets as it spans. Over the last N completed buckets

    VPIN = Σ |V_buy - V_sell| / Σ (V_buy + V_sell)   in [0, 1].

The paper sizes V as a day's expected volume / 50 and splits each bucket with bulk volume
classification; here V = the expected volume of the window / N (DESIGN 3.1) and each trade's side
comes from the venue's aggressor flag or Lee-Ready (the `FeaturePipeline` classifies first).
"""

from __future__ import annotations

import logging
import math
from enum import IntEnum

import numpy as np

from nautilus_trader.indicators.base import Indicator
from nautilus_trader.model.data import TradeTick

from scalp_nautilus.skips import SkipCounter
from tests.oracle.indicators.lee_ready import AGGRESSOR_TO_SIDE
from tests.oracle.indicators.rolling_quantile import THRESHOLD_MODES
from tests.oracle.indicators.rolling_quantile import RollingQuantiles
from tests.oracle.indicators.warm_state import WarmState

log = logging.getLogger(__name__)


class VPINRegime(IntEnum):
    LOW = 0
    MEDIUM = 1
    HIGH = 2
    EXTREME = 3


class VPIN(WarmState, Indicator):
    """VPIN over the last `n_buckets` volume buckets; `value` in [0, 1].

    Parameters
    ----------
    window_volume : float
        Expected volume traded over the whole window, in the instrument's size units (base
        currency for linear, contracts for inverse); each bucket holds window_volume / n_buckets.
    n_buckets : int
        Completed buckets in the window (>= 1); `initialized` once that many have completed.
    thresholds : tuple of 3 floats
        Regime bounds: LOW below the first, MEDIUM below the second, HIGH up to and including the
        third, EXTREME above it.
    multipliers : tuple of 4 floats
        Position-size multiplier per regime (EXTREME 0.0: no new positions; exits stay allowed).
    threshold_mode : "fixed" or "quantile"
        `quantile`: the regime bounds are the `threshold_quantiles` of the last `quantile_history`
        VPIN values (one per trade that completes a bucket, once VPIN is initialized: VPIN only
        changes then), re-read each time;
        `thresholds` apply until `quantile_min` values are held.
    """

    _STATE = (
        "_imbalance",
        "_volume",
        "_head",
        "_buy",
        "_sell",
        "completed",
        "value",
        "regime",
        "multiplier",
        "thresholds",
    )
    _CHILDREN = ("history",)
    # Slots: on a Python subclass of a Cython type an attribute costs ~60 ns via __dict__, ~30 here.
    __slots__ = (
        "window_volume",
        "n_buckets",
        "bucket_volume",
        "multipliers",
        "skips",
        "_tolerance",
        "fixed_thresholds",
        "threshold_mode",
        *_STATE,
        *_CHILDREN,
    )

    def __init__(
        self,
        window_volume: float,
        n_buckets: int = 50,
        thresholds: tuple[float, float, float] = (0.3, 0.5, 0.7),
        multipliers: tuple[float, float, float, float] = (1.0, 0.5, 0.25, 0.0),
        threshold_mode: str = "fixed",
        threshold_quantiles: tuple[float, float, float] = (0.5, 0.75, 0.95),
        quantile_history: int = 500,
        quantile_min: int = 50,
    ) -> None:
        if not 0.0 < window_volume < math.inf:
            raise ValueError(f"window_volume must be a positive finite volume, got {window_volume}")
        if n_buckets < 1:
            raise ValueError(f"n_buckets must be >= 1, got {n_buckets}")
        if len(thresholds) != 3 or list(thresholds) != sorted(thresholds):
            raise ValueError(f"thresholds must be 3 increasing values, got {thresholds}")
        if len(multipliers) != 4:
            raise ValueError(f"multipliers must be 4 values (one per regime), got {multipliers}")
        if threshold_mode not in THRESHOLD_MODES:
            raise ValueError(f"threshold_mode must be one of {THRESHOLD_MODES}, got {threshold_mode!r}")
        params = [window_volume, n_buckets, tuple(thresholds), tuple(multipliers)]
        if threshold_mode == "quantile":  # fixed mode keeps its old parameters (saved states stay valid)
            params += [threshold_mode, tuple(threshold_quantiles), quantile_history, quantile_min]
        super().__init__(params=params)
        self.window_volume = window_volume
        self.n_buckets = n_buckets
        self.bucket_volume = window_volume / n_buckets
        self.fixed_thresholds = tuple(thresholds)
        self.thresholds = self.fixed_thresholds  # the bounds in use
        self.threshold_mode = threshold_mode
        self.history = RollingQuantiles(quantile_history, tuple(threshold_quantiles), quantile_min)
        self.multipliers = tuple(multipliers)
        # Closing a bucket within this much of full avoids slivers from float rounding.
        self._tolerance = 1e-9 * self.bucket_volume
        self._imbalance = np.zeros(n_buckets)  # |V_buy - V_sell| per completed bucket (ring)
        self._volume = np.zeros(n_buckets)  # V_buy + V_sell per completed bucket (ring)
        self.skips = SkipCounter(type(self).__name__, log)
        self._reset()

    def _reset(self) -> None:
        self._imbalance[:] = 0.0
        self._volume[:] = 0.0
        self._head = 0
        self._buy = 0.0  # the open bucket
        self._sell = 0.0
        self.completed = 0  # buckets completed since reset (all of them, not just the window)
        self.value = 0.0
        self.regime = VPINRegime.LOW
        self.multiplier = self.multipliers[0]
        self.thresholds = self.fixed_thresholds
        self.history.reset()
        self.skips.clear()

    def handle_trade_tick(self, tick: TradeTick) -> None:
        """Venue-flagged trades only; trades without an aggressor side need a classifier
        (`FeaturePipeline` runs Lee-Ready first and calls `update_raw`)."""
        self.update_raw(float(tick.size), AGGRESSOR_TO_SIDE[tick.aggressor_side])

    def update_raw(self, size: float, side: int) -> float:
        """Add a trade of `size` (instrument units) with `side` +1 (buy) or -1 (sell)."""
        if not 0.0 < size < math.inf:
            self.skips("trade with non-positive or non-finite size skipped", size)
            return self.value
        if side != 1 and side != -1:
            self.skips("trade without a side skipped (classify it first)", side)
            return self.value
        if not self.has_inputs:
            self._set_has_inputs(True)
        volume = self.bucket_volume
        room = volume - self._buy - self._sell
        if size < room - self._tolerance:
            if side > 0:
                self._buy += size
            else:
                self._sell += size
            return self.value
        # The trade fills the open bucket, then whole buckets, then starts a new one. Only the
        # last n_buckets whole ones can stay in the window, so a huge trade is cut to those
        # (fmod is exact, so the remainder is the one the uncut trade would leave).
        remaining = size - room
        whole = math.floor((remaining + self._tolerance) / volume)
        if whole > self.n_buckets:
            self.completed += whole - self.n_buckets
            remaining = self.n_buckets * volume + math.fmod(remaining, volume)
            whole = self.n_buckets
        if side > 0:
            self._close(self._buy + room, self._sell)
        else:
            self._close(self._buy, self._sell + room)
        for _ in range(whole):
            self._close(volume if side > 0 else 0.0, 0.0 if side > 0 else volume)
        remaining = max(remaining - whole * volume, 0.0)
        if remaining <= self._tolerance:
            remaining = 0.0
        self._buy, self._sell = (remaining, 0.0) if side > 0 else (0.0, remaining)
        self._update_value()
        return self.value

    def _close(self, buy: float, sell: float) -> None:
        self._imbalance[self._head] = abs(buy - sell)
        self._volume[self._head] = buy + sell
        self._head = (self._head + 1) % self.n_buckets
        self.completed += 1

    def _update_value(self) -> None:
        total = self._volume.sum()  # unfilled ring slots are zero
        self.value = min(float(self._imbalance.sum() / total), 1.0) if total > 0.0 else 0.0
        if self.threshold_mode == "quantile" and self.initialized:
            # only warm values: a window still filling up reads the first buckets' noise
            self.history.add(self.value)
            if self.history.ready:
                self.thresholds = self.history.quantiles()
        low, medium, high = self.thresholds
        v = self.value
        self.regime = (
            VPINRegime.LOW
            if v < low
            else VPINRegime.MEDIUM
            if v < medium
            else VPINRegime.HIGH
            if v <= high
            else VPINRegime.EXTREME
        )
        self.multiplier = self.multipliers[self.regime]
        if not self.initialized and self.completed >= self.n_buckets:
            self._set_initialized(True)

    @property
    def open_bucket_volume(self) -> float:
        return self._buy + self._sell
