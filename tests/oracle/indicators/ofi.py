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
"""

from __future__ import annotations

import logging
import math

import numpy as np
from numba import njit

from nautilus_trader.indicators.base import Indicator

from scalp_nautilus.skips import SkipCounter
from tests.oracle.book import BookSnapshot
from tests.oracle.indicators.rolling_zscore import RollingZScore
from tests.oracle.indicators.warm_state import WarmState
from tests.oracle.indicators.warm_state import to_plain

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


class OrderFlowImbalance(WarmState, Indicator):
    """`value`: OFI of the latest snapshot against the one before (size units); `z`: its z-score.

    Parameters
    ----------
    levels : int
        Book levels per side summed (K >= 1; levels beyond the snapshot's depth count as missing).
    zscore_window : int
        Updates in the z-score window; `initialized` when it is full.
    min_std : float
        Floor on OFI's standard deviation for the z-score, in size units.
    """

    # Slots: on a Python subclass of a Cython type an attribute costs ~60 ns via __dict__, ~30 here.
    __slots__ = (
        "levels",
        "zscore",
        "skips",
        "_prev",
        "value",
        "z",
    )
    _STATE = ("value", "z")
    _CHILDREN = ("zscore",)

    def __init__(self, levels: int = 5, zscore_window: int = 100, min_std: float = 1e-9) -> None:
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        super().__init__(params=[levels, zscore_window, min_std])
        self.levels = levels
        self.zscore = RollingZScore(zscore_window, min_std)
        self.skips = SkipCounter(type(self).__name__, log)
        self._reset()

    def _reset(self) -> None:
        self._prev: tuple | None = None
        self.value = 0.0
        self.z = 0.0
        self.zscore.reset()
        self.skips.clear()

    def state(self) -> dict:
        return {**super().state(), "prev": None if self._prev is None else to_plain(self._prev)}

    def restore(self, state: dict) -> None:
        super().restore(state)
        prev = state["prev"]
        self._prev = (
            None
            if prev is None
            else (
                np.array(prev[0]),
                np.array(prev[1]),
                int(prev[2]),
                np.array(prev[3]),
                np.array(prev[4]),
                int(prev[5]),
            )
        )

    def handle_book(self, snapshot: BookSnapshot) -> None:
        if not snapshot.is_valid:
            # OFI across an empty, one-sided or crossed book measures the outage, not the flow.
            self.skips("invalid book: OFI restarts at the next valid one")
            self._prev = None
            return
        self.update_raw(
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
        """Feed one snapshot's levels (best-first; the arrays are kept, not copied, until the next
        call, so do not modify them). The first snapshot only sets the reference."""
        current = (bid_prices, bid_sizes, n_bids, ask_prices, ask_sizes, n_asks)
        prev = self._prev
        self._prev = current
        if prev is None:
            return self.value
        ofi = multilevel_ofi(*current, *prev, min(self.levels, len(bid_prices), len(prev[0])))
        if not math.isfinite(ofi):
            self.skips("non-finite OFI (NaN or infinite sizes) skipped", ofi)
            return self.value
        self.value = ofi
        self.z = self.zscore.update_raw(ofi)
        if not self.has_inputs:
            self._set_has_inputs(True)
        if not self.initialized and self.zscore.initialized:
            self._set_initialized(True)
        return ofi
