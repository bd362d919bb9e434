"""Multi-level order-flow imbalance between consecutive book snapshots.

Cont, R., Kukanov, A. and Stoikov, S. (2014), "The Price Impact of Order Book Events", Journal of
Financial Econometrics 12(1), 47-88 (best level); multi-level: Xu, K., Gould, M. D. and Howison,
S. D. (2019), "Multi-Level Order-Flow Imbalance in a Limit Order Book", Market Microstructure and
Liquidity 4(3-4).

Per level k < K, between the previous snapshot (') and this one:

    bid:  e_b = q_b          if p_b > p_b'  (the level moved up: all of it is new demand)
              = q_b - q_b'   if p_b = p_b'
              = -q_b'        if p_b < p_b'  (it moved down: the old demand left)
    ask mirrored (a lower ask is new supply), and OFI = Σ_k (e_b,k - e_a,k),

in the instrument's size units; positive OFI is net buying pressure. A level missing from a thin
side counts as a bid at -inf / an ask at +inf with size 0, so a level that disappears contributes
its whole previous size. `z` is the z-score of OFI over the last `zscore_window` updates.

The state is compiled (`scalp_nautilus.indicators.compiled`): `ofi_book` is the one update, run
by the class and by the pipeline's batch kernel.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from numba import njit

from scalp_nautilus.book import BookSnapshot
from scalp_nautilus.indicators.compiled import HAS_INPUTS
from scalp_nautilus.indicators.compiled import INITIALIZED
from scalp_nautilus.indicators.compiled import CompiledIndicator
from scalp_nautilus.indicators.rolling_zscore import COUNT
from scalp_nautilus.indicators.rolling_zscore import STATE_SIZE
from scalp_nautilus.indicators.rolling_zscore import push
from scalp_nautilus.indicators.settings import OFISettings
from scalp_nautilus.indicators.settings import checked
from scalp_nautilus.skips import SkipCounter

log = logging.getLogger(__name__)


@njit(cache=True)
def multilevel_ofi(bp, bq, nb, ap, aq, na, bp0, bq0, nb0, ap0, aq0, na0, levels):
    total = 0.0
    for k in range(levels):
        p, q = (bp[k], bq[k]) if k < nb else (-math.inf, 0.0)
        p0, q0 = (bp0[k], bq0[k]) if k < nb0 else (-math.inf, 0.0)
        if p > p0:
            total += q
        elif p == p0:
            total += q - q0
        else:
            total -= q0
        p, q = (ap[k], aq[k]) if k < na else (math.inf, 0.0)
        p0, q0 = (ap0[k], aq0[k]) if k < na0 else (math.inf, 0.0)
        if p < p0:
            total -= q
        elif p == p0:
            total -= q - q0
        else:
            total += q0
    return total


# float slots, then the z-score's state and ring (zscore_window), then the previous snapshot's
# bid prices, bid sizes, ask prices, ask sizes (levels each)
(_MIN_STD, VALUE, Z) = range(3)
_FLOATS = 3
(_LEVELS, _ZW, _HAS_PREV, _PREV_NB, _PREV_NA, _PREV_DEPTH, _SKIP_INVALID, _SKIP_NONFINITE) = range(2, 10)
_INTS = 10
SKIPS = {
    _SKIP_INVALID: "invalid book: OFI restarts at the next valid one",
    _SKIP_NONFINITE: "non-finite OFI (NaN or infinite sizes) skipped",
}


@njit(cache=True)
def ofi_book(s, n, valid, bp, bq, nb, ap, aq, na):
    """Feed one snapshot's levels (best-first); the first valid one only sets the reference."""
    if not valid:
        # OFI across an empty, one-sided or crossed book measures the outage, not the flow.
        n[_SKIP_INVALID] += 1
        n[_HAS_PREV] = 0
        return
    levels = n[_LEVELS]
    zw = n[_ZW]
    prev = _FLOATS + STATE_SIZE + zw
    depth = bp.shape[0]
    ofi = 0.0
    had_prev = n[_HAS_PREV]
    if had_prev:
        ofi = multilevel_ofi(
            bp,
            bq,
            nb,
            ap,
            aq,
            na,
            s[prev : prev + levels],
            s[prev + levels : prev + 2 * levels],
            n[_PREV_NB],
            s[prev + 2 * levels : prev + 3 * levels],
            s[prev + 3 * levels : prev + 4 * levels],
            n[_PREV_NA],
            min(levels, depth, n[_PREV_DEPTH]),
        )
    kept = min(levels, depth)
    s[prev : prev + kept] = bp[:kept]
    s[prev + levels : prev + levels + kept] = bq[:kept]
    s[prev + 2 * levels : prev + 2 * levels + kept] = ap[:kept]
    s[prev + 3 * levels : prev + 3 * levels + kept] = aq[:kept]
    n[_PREV_NB], n[_PREV_NA], n[_PREV_DEPTH], n[_HAS_PREV] = nb, na, depth, 1
    if not had_prev:
        return
    if not math.isfinite(ofi):
        n[_SKIP_NONFINITE] += 1
        return
    s[VALUE] = ofi
    z = s[_FLOATS : _FLOATS + STATE_SIZE]
    s[Z] = push(z, s[_FLOATS + STATE_SIZE : prev], ofi, s[_MIN_STD])
    n[HAS_INPUTS] = 1
    if not n[INITIALIZED] and z[COUNT] >= zw:
        n[INITIALIZED] = 1


class OrderFlowImbalance(CompiledIndicator):
    """`value`: OFI of the latest snapshot against the one before (size units); `z`: its z-score.

    Parameters
    ----------
    settings : OFISettings
        `levels` per side summed (K; levels beyond the snapshot's depth count as missing) and
        `zscore_window` updates in the z-score window (`initialized` when it is full).
    min_std : float
        Floor on OFI's standard deviation for the z-score, in size units.
    """

    def __init__(self, settings: OFISettings | None = None, *, min_std: float = 1e-9) -> None:
        settings = checked(settings or OFISettings())
        levels, zscore_window = settings.levels, settings.zscore_window
        if not min_std > 0:
            raise ValueError(f"min_std must be > 0, got {min_std}")
        super().__init__(params=[levels, zscore_window, min_std])
        self.settings = settings
        self.levels = levels
        self.zscore_window = zscore_window
        self.min_std = min_std
        self.skips = SkipCounter(type(self).__name__, log)
        self._allocate(_FLOATS + STATE_SIZE + zscore_window + 4 * levels, _INTS)
        self._reset()

    def _reset(self) -> None:
        self._s[:] = 0.0
        self._n[:] = 0
        self._s[_MIN_STD] = self.min_std
        self._n[_LEVELS] = self.levels
        self._n[_ZW] = self.zscore_window
        self.skips.clear()

    def handle_book(self, snapshot: BookSnapshot) -> None:
        self._book(
            snapshot.is_valid,
            snapshot.bid_prices,
            snapshot.bid_sizes,
            snapshot.n_bids,
            snapshot.ask_prices,
            snapshot.ask_sizes,
            snapshot.n_asks,
        )

    def update_raw(
        self,
        bid_prices: np.ndarray,
        bid_sizes: np.ndarray,
        n_bids: int,
        ask_prices: np.ndarray,
        ask_sizes: np.ndarray,
        n_asks: int,
    ) -> float:
        """Feed one snapshot's levels (best-first). The first snapshot only sets the reference."""
        self._book(True, bid_prices, bid_sizes, n_bids, ask_prices, ask_sizes, n_asks)
        return self.value

    def _book(self, valid, bp, bq, nb, ap, aq, na) -> None:
        bp, bq, ap, aq = (np.asarray(x, dtype=np.float64) for x in (bp, bq, ap, aq))
        ofi_book(self._s, self._n, valid, bp, bq, nb, ap, aq, na)
        self.skips.sync(self._n, SKIPS)

    @property
    def value(self) -> float:
        return float(self._s[VALUE])

    @property
    def z(self) -> float:
        return float(self._s[Z])
