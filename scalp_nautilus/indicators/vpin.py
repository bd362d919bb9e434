"""Volume-synchronised probability of informed trading.

Easley, D., López de Prado, M. and O'Hara, M. (2012), "Flow Toxicity and Liquidity in a
High-Frequency World", Review of Financial Studies 25(5), 1457-1493.

Trades fill buckets of fixed volume V; a trade larger than the room left in the current bucket is
split across as many buckets as it spans. Over the last N completed buckets

    VPIN = Σ |V_buy - V_sell| / Σ (V_buy + V_sell)   in [0, 1].

The paper sizes V as a day's expected volume / 50 and splits each bucket with bulk volume
classification; here V = the expected volume of the window / N (DESIGN 3.1) and each trade's side
comes from the venue's aggressor flag or Lee-Ready (the `FeaturePipeline` classifies first).

The state is compiled (`scalp_nautilus.indicators.compiled`): `vpin_trade` is the one update, run
by `VPIN.update_raw` and by the pipeline's batch kernel.
"""

from __future__ import annotations

import logging
import math
from enum import IntEnum

import numpy as np
from numba import njit

from nautilus_trader.model.data import TradeTick

from scalp_nautilus.indicators.compiled import HAS_INPUTS
from scalp_nautilus.indicators.compiled import INITIALIZED
from scalp_nautilus.indicators.compiled import CompiledIndicator
from scalp_nautilus.indicators.compiled import pairwise_sum
from scalp_nautilus.indicators.compiled import quantiles_linear
from scalp_nautilus.indicators.lee_ready import AGGRESSOR_TO_SIDE
from scalp_nautilus.indicators.settings import VPINSettings
from scalp_nautilus.indicators.settings import checked
from scalp_nautilus.skips import SkipCounter

log = logging.getLogger(__name__)


class VPINRegime(IntEnum):
    LOW = 0
    MEDIUM = 1
    HIGH = 2
    EXTREME = 3


# float slots: parameters, then the open bucket and the outputs, then the rings
(_BUCKET, _TOL, _FIX0, _FIX1, _FIX2, _MUL0, _MUL1, _MUL2, _MUL3, _Q0, _Q1, _Q2) = range(12)
(_THR0, _THR1, _THR2, _BUY, _SELL, VALUE, MULTIPLIER) = range(12, 19)
_FLOATS = 19  # then |V_buy - V_sell| per bucket (n_buckets), V_buy + V_sell (n_buckets), history
# int slots
(_NB, _QUANTILE, _QH, _QMIN, _HEAD, COMPLETED, REGIME, _H_HEAD, _H_COUNT, _SKIP_SIZE, _SKIP_SIDE) = range(2, 13)
_INTS = 13
SKIPS = {
    _SKIP_SIZE: "trade with non-positive or non-finite size skipped",
    _SKIP_SIDE: "trade without a side skipped (classify it first)",
}


@njit(cache=True)
def _close(s, n, buy, sell):
    nb = n[_NB]
    head = n[_HEAD]
    s[_FLOATS + head] = abs(buy - sell)
    s[_FLOATS + nb + head] = buy + sell
    n[_HEAD] = (head + 1) % nb
    n[COMPLETED] += 1


@njit(cache=True)
def _update_value(s, n):
    nb = n[_NB]
    total = pairwise_sum(s, _FLOATS + nb, nb)  # unfilled ring slots are zero
    value = min(pairwise_sum(s, _FLOATS, nb) / total, 1.0) if total > 0.0 else 0.0
    s[VALUE] = value
    if n[_QUANTILE] and n[INITIALIZED]:
        # only warm values: a window still filling up reads the first buckets' noise
        qh = n[_QH]
        base = _FLOATS + 2 * nb
        s[base + n[_H_HEAD]] = value
        n[_H_HEAD] = (n[_H_HEAD] + 1) % qh
        n[_H_COUNT] = min(n[_H_COUNT] + 1, qh)
        if n[_H_COUNT] >= n[_QMIN]:
            quantiles_linear(s[base : base + n[_H_COUNT]], s[_Q0 : _Q2 + 1], s[_THR0 : _THR2 + 1])
    if value < s[_THR0]:
        regime = 0
    elif value < s[_THR1]:
        regime = 1
    elif value <= s[_THR2]:
        regime = 2
    else:
        regime = 3
    n[REGIME] = regime
    s[MULTIPLIER] = s[_MUL0 + regime]
    if not n[INITIALIZED] and n[COMPLETED] >= nb:
        n[INITIALIZED] = 1


@njit(cache=True)
def vpin_trade(s, n, size, side):
    """Add a trade of `size` (instrument units) with `side` +1 (buy) or -1 (sell)."""
    if not 0.0 < size < math.inf:
        n[_SKIP_SIZE] += 1
        return
    if side != 1 and side != -1:
        n[_SKIP_SIDE] += 1
        return
    n[HAS_INPUTS] = 1
    volume = s[_BUCKET]
    tolerance = s[_TOL]
    nb = n[_NB]
    room = volume - s[_BUY] - s[_SELL]
    if size < room - tolerance:
        if side > 0:
            s[_BUY] += size
        else:
            s[_SELL] += size
        return
    # The trade fills the open bucket, then whole buckets, then starts a new one. Only the last
    # n_buckets whole ones can stay in the window, so a huge trade is cut to those (fmod is exact,
    # so the remainder is the one the uncut trade would leave).
    remaining = size - room
    whole = math.floor((remaining + tolerance) / volume)
    if whole > nb:
        n[COMPLETED] += whole - nb
        remaining = nb * volume + np.fmod(remaining, volume)
        whole = nb
    if side > 0:
        _close(s, n, s[_BUY] + room, s[_SELL])
    else:
        _close(s, n, s[_BUY], s[_SELL] + room)
    for _ in range(whole):
        _close(s, n, volume if side > 0 else 0.0, 0.0 if side > 0 else volume)
    remaining = max(remaining - whole * volume, 0.0)
    if remaining <= tolerance:
        remaining = 0.0
    s[_BUY] = remaining if side > 0 else 0.0
    s[_SELL] = 0.0 if side > 0 else remaining
    _update_value(s, n)


class VPIN(CompiledIndicator):
    """VPIN over the last `n_buckets` volume buckets; `value` in [0, 1].

    Parameters
    ----------
    settings : VPINSettings
        Its window: `window_volume` (expected volume over the window, instrument size units: base
        currency for linear, contracts for inverse) in `n_buckets` buckets, `initialized` once that
        many have completed. Regimes: LOW below the first threshold, MEDIUM below the second, HIGH
        up to and including the third, EXTREME above it; each with its position-size multiplier
        (EXTREME 0.0: no new positions; exits stay allowed). `threshold_mode` `quantile`: the
        bounds are the `threshold_quantiles` of the last `quantile_history` VPIN values (one per
        trade that completes a bucket, once VPIN is initialized: VPIN only changes then), re-read
        each time; `thresholds` apply until `quantile_min` values are held.
    """

    def __init__(self, settings: VPINSettings) -> None:
        settings = checked(settings)
        window_volume, n_buckets, threshold_mode = settings.window_volume, settings.n_buckets, settings.threshold_mode
        thresholds, multipliers, threshold_quantiles = settings.thresholds, settings.multipliers, settings.threshold_quantiles
        quantile_history, quantile_min = settings.quantile_history, settings.quantile_min
        params = [window_volume, n_buckets, tuple(thresholds), tuple(multipliers)]
        if threshold_mode == "quantile":  # fixed mode keeps its old parameters
            params += [threshold_mode, tuple(threshold_quantiles), quantile_history, quantile_min]
        super().__init__(params=params)
        self.settings = settings
        self.window_volume = window_volume
        self.n_buckets = n_buckets
        self.bucket_volume = window_volume / n_buckets
        self.fixed_thresholds = tuple(float(x) for x in thresholds)
        self.threshold_mode = threshold_mode
        self.threshold_quantiles = tuple(float(q) for q in threshold_quantiles)
        self.multipliers = tuple(float(m) for m in multipliers)
        self.quantile_min = quantile_min if threshold_mode == "quantile" else 1
        self.skips = SkipCounter(type(self).__name__, log)
        history = quantile_history if threshold_mode == "quantile" else 0
        self._allocate(_FLOATS + 2 * n_buckets + history, _INTS)
        self._reset()

    def _reset(self) -> None:
        s, n = self._s, self._n
        s[:] = 0.0
        n[:] = 0
        # Closing a bucket within this much of full avoids slivers from float rounding.
        s[_BUCKET], s[_TOL] = self.bucket_volume, 1e-9 * self.bucket_volume
        s[_FIX0 : _FIX2 + 1] = self.fixed_thresholds
        s[_THR0 : _THR2 + 1] = self.fixed_thresholds
        s[_MUL0 : _MUL3 + 1] = self.multipliers
        s[_Q0 : _Q2 + 1] = self.threshold_quantiles
        s[MULTIPLIER] = self.multipliers[0]
        n[_NB] = self.n_buckets
        n[_QUANTILE] = self.threshold_mode == "quantile"
        n[_QH] = max(len(s) - _FLOATS - 2 * self.n_buckets, 1)
        n[_QMIN] = self.quantile_min
        self.skips.clear()

    def handle_trade_tick(self, tick: TradeTick) -> None:
        """Venue-flagged trades only; trades without an aggressor side need a classifier
        (`FeaturePipeline` runs Lee-Ready first and calls `update_raw`)."""
        self.update_raw(float(tick.size), AGGRESSOR_TO_SIDE[tick.aggressor_side])

    def update_raw(self, size: float, side: int) -> float:
        """Add a trade of `size` (instrument units) with `side` +1 (buy) or -1 (sell)."""
        vpin_trade(self._s, self._n, size, side)
        self.skips.sync(self._n, SKIPS)
        return self.value

    @property
    def value(self) -> float:
        return float(self._s[VALUE])

    @property
    def multiplier(self) -> float:
        return float(self._s[MULTIPLIER])

    @property
    def regime(self) -> VPINRegime:
        return VPINRegime(int(self._n[REGIME]))

    @property
    def completed(self) -> int:
        """Buckets completed since reset (all of them, not just the window)."""
        return int(self._n[COMPLETED])

    @property
    def thresholds(self) -> tuple[float, float, float]:
        """The regime bounds in use."""
        low, medium, high = self._s[_THR0 : _THR2 + 1].tolist()
        return low, medium, high

    @property
    def history(self) -> np.ndarray:
        """The warm VPIN values held for the quantile thresholds (ring order)."""
        count = int(self._n[_H_COUNT])
        return self._s[_FLOATS + 2 * self.n_buckets :][:count].copy()

    @property
    def open_bucket_volume(self) -> float:
        return float(self._s[_BUY] + self._s[_SELL])
