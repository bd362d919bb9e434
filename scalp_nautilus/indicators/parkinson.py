"""Parkinson range volatility, close-to-close realized volatility, their blend, and stop prices.

Parkinson (1980): for a driftless Brownian log price, E[ln(H/L)^2] = 4 ln 2 sigma^2 per bar, so

    sigma_P  = sqrt( sum ln(H_i / L_i)^2 / (4 n ln 2) )       over the last n bars
    sigma_RV = sqrt( sum ln(C_i / C_{i-1})^2 / n )              over the last n close-to-close returns

are both estimates of the per-bar standard deviation of log returns (dimensionless: 1e-4 is
1 bp per bar). The realized one uses no mean (over 1 s bars the drift is noise). Parkinson's
variance estimate is about 4.9 times as efficient as the close-to-close one for a continuous
path (Var 0.407 sigma^4 / n against 2 sigma^4 / n), but a range seen through discrete updates
misses the extremes between them and reads low: sigma_P^2 falls short by about 15%, 28% and 46%
with 64, 16 and 4 evenly spaced observations per bar (tests/test_parkinson.py; Broadie, Glasserman
& Kou 1997 predict the first two). A real mid is worse off: it moves by whole ticks, at 1 s
mostly once a bar or not at all, and a bar holding one jump has ln(H/L)^2 = r^2, 1/(4 ln 2) of
what the diffusion normalisation assumes. On the 2023-04 BTCUSDT capture (400 bars, every
snapshot) sigma_P / sigma_RV = 0.62, close to that jump limit of 0.60. The blend, `value`, is
(w_P sigma_P + w_RV sigma_RV) / (w_P + w_RV).

Bars are `MidBars` of the mid on event time (default 1 s, n = 60); `update_raw` takes bars directly.

`stop_price(entry, side, k)` puts the stop k blended sigmas away in price units:
entry * (1 - k sigma) below a long (entry BUY), entry * (1 + k sigma) above a short. sigma is per
bar, so the stop is sized for a move over one bar's horizon; `stop_distance` scales it to a longer
horizon by sqrt(bars) (the strategy's stops use that: 2 sigma of one 1 s bar is under 1 bp on BTC).
k is an exit rule (`exits.stop_k`), not part of the estimate: the indicator does not hold it, so
changing it keeps the warm state.

The state is compiled (`scalp_nautilus.indicators.compiled`): `parkinson_bar` is the one update,
run by the class and by the pipeline's batch kernel.
"""

from __future__ import annotations

import logging
import math

from numba import njit

from nautilus_trader.model.enums import OrderSide

from scalp_nautilus.indicators.compiled import HAS_INPUTS
from scalp_nautilus.indicators.compiled import INITIALIZED
from scalp_nautilus.indicators.compiled import pairwise_sum
from scalp_nautilus.indicators.mid_bars import MAX_CARRY
from scalp_nautilus.indicators.mid_bars import OUT
from scalp_nautilus.indicators.mid_bars import OUT_COUNT
from scalp_nautilus.indicators.mid_bars import OUT_GAP
from scalp_nautilus.indicators.mid_bars import MidBarIndicator
from scalp_nautilus.indicators.mid_bars import MidBars
from scalp_nautilus.indicators.settings import ParkinsonSettings
from scalp_nautilus.indicators.settings import checked
from scalp_nautilus.indicators.settings import ns
from scalp_nautilus.skips import SkipCounter

log = logging.getLogger(__name__)

_FOUR_LN2 = 4.0 * math.log(2.0)

# float slots, then ln(H/L)^2 per bar and ln(C/C_prev)^2 per bar (rings of `window`)
(_W_PARKINSON, _W_REALIZED, _CLOSE, PARKINSON, REALIZED, VALUE) = range(6)
_FLOATS = 6
(_WINDOW, _N_RANGE, _N_RET, _HEAD_RANGE, _HEAD_RET, _SKIP_BAR) = range(2, 8)
_INTS = 8
SKIPS = {_SKIP_BAR: "bar with non-positive prices or low <= close <= high violated skipped"}


def stop_distance(entry: float, sigma: float, k: float, horizon_bars: float = 1.0) -> float:
    """Stop distance in price units: k sigmas of a move over `horizon_bars` bars (sigma per bar,
    random-walk scaling sqrt(horizon_bars)) from `entry`."""
    return entry * k * sigma * math.sqrt(horizon_bars)


@njit(cache=True)
def parkinson_restart(s, n):
    s[_FLOATS:] = 0.0
    n[_N_RANGE] = n[_N_RET] = n[_HEAD_RANGE] = n[_HEAD_RET] = 0
    s[_CLOSE] = math.nan
    s[PARKINSON] = s[REALIZED] = s[VALUE] = 0.0
    n[INITIALIZED] = 0


@njit(cache=True)
def parkinson_bar(s, n, high, low, close):
    """Add one bar (prices > 0 with low <= close <= high)."""
    if not (0.0 < low <= close <= high and math.isfinite(high)):
        n[_SKIP_BAR] += 1
        return
    n[HAS_INPUTS] = 1
    window = n[_WINDOW]
    r = math.log(high / low)
    s[_FLOATS + n[_HEAD_RANGE]] = r * r
    n[_HEAD_RANGE] = (n[_HEAD_RANGE] + 1) % window
    n[_N_RANGE] = min(n[_N_RANGE] + 1, window)
    prev = s[_CLOSE]
    s[_CLOSE] = close
    if prev == prev:
        c = math.log(close / prev)
        s[_FLOATS + window + n[_HEAD_RET]] = c * c
        n[_HEAD_RET] = (n[_HEAD_RET] + 1) % window
        n[_N_RET] = min(n[_N_RET] + 1, window)
    # 60 floats per bar: summing the ring again is cheaper than guarding running sums from drift.
    s[PARKINSON] = math.sqrt(pairwise_sum(s, _FLOATS, window) / (_FOUR_LN2 * n[_N_RANGE]))
    if n[_N_RET]:
        s[REALIZED] = math.sqrt(pairwise_sum(s, _FLOATS + window, window) / n[_N_RET])
    s[VALUE] = s[_W_PARKINSON] * s[PARKINSON] + s[_W_REALIZED] * s[REALIZED]
    if not n[INITIALIZED] and n[_N_RET] == window:
        n[INITIALIZED] = 1


@njit(cache=True)
def parkinson_bars(s, n, bs, bn):
    """The bars the last `bars_update` closed; an outage restarts."""
    m = bn[MAX_CARRY] + 1
    for k in range(bn[OUT_COUNT]):
        parkinson_bar(s, n, bs[OUT + k], bs[OUT + m + k], bs[OUT + 2 * m + k])
    if bn[OUT_GAP]:
        parkinson_restart(s, n)


class ParkinsonVolatility(MidBarIndicator):
    """Per-bar log-return volatility of the mid: Parkinson, close-to-close and their blend.

    Parameters
    ----------
    settings : ParkinsonSettings
        `window` bars (of `bar_s`) in both estimates and the blend weights.
    max_carry :
        Outage rule of the bars (see `MidBars`). Default 10.
    """

    _consume = staticmethod(parkinson_bars)

    def __init__(self, settings: ParkinsonSettings | None = None, *, max_carry: int = 10) -> None:
        p = settings = checked(settings or ParkinsonSettings())
        window, weight_parkinson, weight_realized, bar_ns = p.window, p.weight_parkinson, p.weight_realized, ns(p.bar_s)
        super().__init__(params=[window, weight_parkinson, weight_realized, bar_ns, max_carry])
        self.settings = settings
        self.window = window
        total = weight_parkinson + weight_realized
        self.weight_parkinson = weight_parkinson / total
        self.weight_realized = weight_realized / total
        self.skips = SkipCounter(type(self).__name__, log)
        self.bars = MidBars(bar_ns=bar_ns, max_carry=max_carry)
        self._allocate(_FLOATS + 2 * window, _INTS)
        self._reset()

    def _reset(self) -> None:
        s, n = self._s, self._n
        s[:] = 0.0
        n[:] = 0
        s[_W_PARKINSON], s[_W_REALIZED] = self.weight_parkinson, self.weight_realized
        n[_WINDOW] = self.window
        parkinson_restart(s, n)
        self.bars.reset()
        self.skips.clear()

    def update_raw(self, high: float, low: float, close: float) -> None:
        """Add one bar (prices > 0 with low <= close <= high); anything else is counted and skipped."""
        parkinson_bar(self._s, self._n, high, low, close)
        self.skips.sync(self._n, SKIPS)

    @property
    def value(self) -> float:
        return float(self._s[VALUE])

    @property
    def parkinson(self) -> float:
        return float(self._s[PARKINSON])

    @property
    def realized(self) -> float:
        return float(self._s[REALIZED])

    def stop_price(self, entry: float, side: OrderSide, k: float) -> float:
        """Stop for a position entered at `entry` by an order of `side`: k blended sigmas away (price units).

        Before the window is warm there is no volatility to size a stop with: raises ValueError.
        """
        if not self.initialized:
            raise ValueError("no volatility estimate yet (window not warm): cannot size a stop")
        if not (entry > 0.0 and math.isfinite(entry)):
            raise ValueError(f"entry price must be finite and > 0, got {entry}")
        distance = stop_distance(entry, self.value, k)
        if side == OrderSide.BUY:
            return entry - distance
        if side == OrderSide.SELL:
            return entry + distance
        raise ValueError(f"side must be OrderSide.BUY or OrderSide.SELL, got {side!r}")
