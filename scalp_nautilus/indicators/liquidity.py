"""Liquidity of the visible book and the price impact of order flow.

Kyle, A. S. (1985), "Continuous Auctions and Insider Trading", Econometrica 53(6), 1315-1335:
price impact λ, the slope of price changes on signed order flow. Foucault, T., Pagano, M. and
Röell, A. (2013), "Market Liquidity: Theory, Evidence, and Policy", Oxford University Press:
spread, depth, imbalance, the cost of a given size, and resilience (how fast depth refills).

Per valid snapshot, over the top `levels` levels per side (sizes in instrument units):
- spread (quote currency) and spread in bps of the mid;
- depth imbalance b / (b + a), b and a the bid and ask sizes, in [0, 1] (0.5: balanced);
- inverse-distance-weighted depth Σ q / (1 + d / `distance_scale_bps`), d the level's distance from
  the mid in bps, both sides: size near the touch counts fully, size 10 scales away ~1/11;
- VWAP slippage, in bps of the mid, of a market order of `slippage_size` walking all the snapshot's
  levels (buy: VWAP above the mid; sell: below). A size beyond the visible levels is priced at the
  last visible level, which understates the cost; it is counted and `slippage_capped` is set;
- resilience = min(depth / EWMA(depth), 2) / 2 in [0, 1] (0.5: depth at its average), with depth =
  b + a and the EWMA (α = `ewma_alpha`) taken *before* this update, so a sudden loss of depth
  shows fully; `depth_shock` when depth < `shock_ratio` × that EWMA.
Kyle's λ (`KyleLambda`): OLS slope, with intercept, of Δmid (quote currency) on net signed trade
volume (size units) over intervals of `lambda_interval_ns`, using the last `lambda_window` ones.

The state is compiled (`scalp_nautilus.indicators.compiled`): `liquidity_book`, `liquidity_trade`
and Kyle's `kyle_mid` / `kyle_trade` are the one implementation, run by the classes and by the
pipeline's batch kernel.
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
from scalp_nautilus.indicators.hurst import ols_slope
from scalp_nautilus.indicators.lee_ready import AGGRESSOR_TO_SIDE
from scalp_nautilus.indicators.settings import LiquiditySettings
from scalp_nautilus.indicators.settings import checked
from scalp_nautilus.skips import SkipCounter
from scalp_nautilus.units import NS_PER_S

log = logging.getLogger(__name__)


@njit(cache=True)
def _walk(prices, sizes, n, size):
    """VWAP of `size` taken from the first `n` levels, and whether it ran past them."""
    remaining = size
    cost = 0.0
    for k in range(n):
        take = min(remaining, sizes[k])
        cost += take * prices[k]
        remaining -= take
        if remaining <= 0.0:
            return cost / size, False
    return (cost + remaining * prices[n - 1]) / size, True


@njit(cache=True)
def book_liquidity(bp, bq, nb, ap, aq, na, mid, levels, size, scale_bps):
    """Bid depth, ask depth, weighted depth, buy and sell slippage (bps), and the capped flags."""
    bid_depth = 0.0
    ask_depth = 0.0
    weighted = 0.0
    for k in range(min(levels, nb)):
        bid_depth += bq[k]
        weighted += bq[k] / (1.0 + 1e4 * (mid - bp[k]) / mid / scale_bps)
    for k in range(min(levels, na)):
        ask_depth += aq[k]
        weighted += aq[k] / (1.0 + 1e4 * (ap[k] - mid) / mid / scale_bps)
    buy, buy_capped = _walk(ap, aq, na, size)
    sell, sell_capped = _walk(bp, bq, nb, size)
    return (
        bid_depth,
        ask_depth,
        weighted,
        1e4 * (buy - mid) / mid,
        1e4 * (mid - sell) / mid,
        buy_capped,
        sell_capped,
    )


# Kyle's λ: float slots, then the x and y rings (window each); int slots
(_K_FLOW, _K_START_MID, _K_MID, K_VALUE) = range(4)
_K_FLOATS = 4
(_K_INTERVAL_NS, _K_WINDOW, _K_MIN, _K_HEAD, K_POINTS, _K_INTERVAL, _K_STARTED) = range(2, 9)
_K_INTS = 9


@njit(cache=True)
def _kyle_add(s, n, x, y):
    window = n[_K_WINDOW]
    head = n[_K_HEAD]
    s[_K_FLOATS + head] = x
    s[_K_FLOATS + window + head] = y
    n[_K_HEAD] = (head + 1) % window
    n[K_POINTS] = min(n[K_POINTS] + 1, window)


@njit(cache=True)
def _kyle_advance(s, n, ts_event):
    interval = ts_event // n[_K_INTERVAL_NS]
    if not n[_K_STARTED]:
        n[_K_STARTED] = 1
        n[_K_INTERVAL] = interval
        return
    if interval <= n[_K_INTERVAL]:
        return
    if not math.isnan(s[_K_START_MID]):
        _kyle_add(s, n, s[_K_FLOW], s[_K_MID] - s[_K_START_MID])
        for _ in range(min(interval - n[_K_INTERVAL] - 1, n[_K_WINDOW])):
            _kyle_add(s, n, 0.0, 0.0)
        points = n[K_POINTS]
        if points >= n[_K_MIN]:
            window = n[_K_WINDOW]
            slope = ols_slope(s[_K_FLOATS : _K_FLOATS + points], s[_K_FLOATS + window : _K_FLOATS + window + points])
            if not math.isnan(slope):  # no flow variation in the window: keep the last estimate
                s[K_VALUE] = slope
                n[INITIALIZED] = 1
    n[_K_INTERVAL] = interval
    s[_K_FLOW] = 0.0
    s[_K_START_MID] = s[_K_MID]


@njit(cache=True)
def kyle_mid(s, n, ts_event, mid):
    _kyle_advance(s, n, ts_event)
    s[_K_MID] = mid
    if math.isnan(s[_K_START_MID]):
        s[_K_START_MID] = mid


@njit(cache=True)
def kyle_trade(s, n, ts_event, signed_size):
    _kyle_advance(s, n, ts_event)
    s[_K_FLOW] += signed_size


class KyleLambda(CompiledIndicator):
    """Kyle's λ from fixed intervals of exchange time; `value` in quote currency per size unit.

    An interval's point is (net signed volume traded in it, mid at its end - mid at its start),
    the mid being the last one seen. Intervals without trades or book changes are points (0, 0):
    no flow, no move. Points need a mid at both ends. Events stamped before the open interval
    (feeds interleave streams) count in the open one. The fit is redone as each interval closes.
    """

    def __init__(self, interval_ns: int = 1_000_000_000, window: int = 120, min_points: int = 30) -> None:
        if interval_ns <= 0:
            raise ValueError(f"interval_ns must be > 0, got {interval_ns}")
        if not 3 <= min_points <= window:
            raise ValueError(f"need 3 <= min_points <= window, got {min_points}, {window}")
        super().__init__(params=[interval_ns, window, min_points])
        self.interval_ns = interval_ns
        self.window = window
        self.min_points = min_points
        self._allocate(_K_FLOATS + 2 * window, _K_INTS)
        self._reset()

    def _reset(self) -> None:
        self._s[:] = 0.0
        self._n[:] = 0
        self._s[_K_START_MID] = self._s[_K_MID] = math.nan
        self._n[_K_INTERVAL_NS] = self.interval_ns
        self._n[_K_WINDOW] = self.window
        self._n[_K_MIN] = self.min_points

    def update_mid(self, ts_event: int, mid: float) -> None:
        kyle_mid(self._s, self._n, ts_event, mid)

    def update_trade(self, ts_event: int, signed_size: float) -> None:
        kyle_trade(self._s, self._n, ts_event, signed_size)

    @property
    def value(self) -> float:
        return float(self._s[K_VALUE])

    @property
    def points(self) -> int:
        """Points in the window."""
        return int(self._n[K_POINTS])


# LiquidityMetrics: float slots; int slots
(_SIZE, _SCALE, _ALPHA, _SHOCK, _EWMA, SPREAD, SPREAD_BPS, IMBALANCE, DEPTH, WEIGHTED, SLIP_BUY, SLIP_SELL, VALUE) = range(13)
_FLOATS = 13
(_LEVELS, _WARMUP, _UPDATES, SLIP_CAPPED, DEPTH_SHOCK) = range(2, 7)
(_SKIP_INVALID, _SKIP_BOOK, _SKIP_SIZES, _SKIP_CAPPED, _SKIP_TRADE, _SKIP_SIDE) = range(7, 13)
_INTS = 13
SKIPS = {
    _SKIP_INVALID: "invalid book skipped",
    _SKIP_BOOK: "empty, one-sided or crossed book skipped",
    _SKIP_SIZES: "book with zero or non-finite sizes skipped",
    _SKIP_CAPPED: "slippage size beyond the visible levels: slippage understated",
    _SKIP_TRADE: "trade with non-finite size skipped",
    _SKIP_SIDE: "trade without a side skipped (classify it first)",
}


@njit(cache=True)
def liquidity_book(s, n, ks, kn, valid, bp, bq, nb, ap, aq, na, ts_event):
    """One book (`valid`: both sides, not crossed): levels best-first (prices in quote currency,
    sizes > 0), `ts_event` in ns; `ks` / `kn` Kyle's λ state."""
    if not valid:
        n[_SKIP_INVALID] += 1
        return
    if nb < 1 or na < 1 or not bp[0] < ap[0]:
        n[_SKIP_BOOK] += 1
        return
    bid, ask = bp[0], ap[0]
    mid = 0.5 * (bid + ask)
    bid_depth, ask_depth, weighted, slip_buy, slip_sell, buy_capped, sell_capped = book_liquidity(
        bp, bq, nb, ap, aq, na, mid, n[_LEVELS], s[_SIZE], s[_SCALE]
    )
    depth = bid_depth + ask_depth
    if not (depth > 0.0 and math.isfinite(depth) and math.isfinite(weighted)):
        n[_SKIP_SIZES] += 1
        return
    s[SPREAD] = ask - bid
    s[SPREAD_BPS] = 1e4 * s[SPREAD] / mid
    s[IMBALANCE] = bid_depth / depth
    s[DEPTH] = depth
    s[WEIGHTED] = weighted
    s[SLIP_BUY] = slip_buy
    s[SLIP_SELL] = slip_sell
    capped = buy_capped or sell_capped
    n[SLIP_CAPPED] = capped
    if capped:
        n[_SKIP_CAPPED] += 1
    ewma = depth if math.isnan(s[_EWMA]) else s[_EWMA]
    s[VALUE] = min(depth / ewma, 2.0) / 2.0
    n[DEPTH_SHOCK] = depth < s[_SHOCK] * ewma
    s[_EWMA] = ewma + s[_ALPHA] * (depth - ewma)
    n[_UPDATES] += 1
    kyle_mid(ks, kn, ts_event, mid)
    n[HAS_INPUTS] = 1
    if not n[INITIALIZED] and n[_UPDATES] >= n[_WARMUP] and kn[INITIALIZED]:
        n[INITIALIZED] = 1


@njit(cache=True)
def liquidity_trade(n, ks, kn, signed_size, ts_event):
    """A trade of `signed_size` (size units, > 0 bought by the aggressor) at `ts_event` (ns)."""
    if not math.isfinite(signed_size):
        n[_SKIP_TRADE] += 1
        return
    kyle_trade(ks, kn, ts_event, signed_size)
    n[HAS_INPUTS] = 1


class LiquidityMetrics(CompiledIndicator):
    """Book liquidity per snapshot and Kyle's λ; `value` is the resilience in [0, 1].

    Parameters
    ----------
    settings : LiquiditySettings
        `levels` per side in depth, imbalance and weighted depth; `slippage_size` (instrument
        units) whose VWAP slippage is measured; `ewma_alpha`, the weight of the newest depth in
        its EWMA; `shock_ratio`: depth below this fraction of its EWMA is a depth shock;
        `lambda_window` Kyle's λ intervals in the fit, `lambda_min_points` before it is reported.
    distance_scale_bps : float
        Distance at which a level's weight in the weighted depth has halved (> 0).
    lambda_interval_ns : int
        Kyle's λ interval. Default 1 s.

    `initialized` once the EWMA has seen 1/α updates and λ has `lambda_min_points` points.
    """

    def __init__(
        self, settings: LiquiditySettings | None = None, *, distance_scale_bps: float = 1.0, lambda_interval_ns: int = NS_PER_S
    ) -> None:
        q = settings = checked(settings or LiquiditySettings())
        levels, slippage_size, ewma_alpha, shock_ratio = q.levels, q.slippage_size, q.ewma_alpha, q.shock_ratio
        lambda_window, lambda_min_points = q.lambda_window, q.lambda_min_points
        if not distance_scale_bps > 0.0:
            raise ValueError(f"distance_scale_bps must be > 0, got {distance_scale_bps}")
        super().__init__(
            params=[
                levels,
                slippage_size,
                distance_scale_bps,
                ewma_alpha,
                shock_ratio,
                lambda_interval_ns,
                lambda_window,
                lambda_min_points,
            ]
        )
        self.settings = settings
        self.levels = levels
        self.slippage_size = slippage_size
        self.distance_scale_bps = distance_scale_bps
        self.ewma_alpha = ewma_alpha
        self.shock_ratio = shock_ratio
        self.kyle = KyleLambda(lambda_interval_ns, lambda_window, lambda_min_points)
        self.skips = SkipCounter(type(self).__name__, log)
        self._allocate(_FLOATS, _INTS)
        self._reset()

    def _reset(self) -> None:
        s, n = self._s, self._n
        s[:] = 0.0
        n[:] = 0
        s[_SIZE], s[_SCALE], s[_ALPHA], s[_SHOCK] = self.slippage_size, self.distance_scale_bps, self.ewma_alpha, self.shock_ratio
        s[_EWMA] = math.nan
        s[IMBALANCE] = s[VALUE] = 0.5
        n[_LEVELS] = self.levels
        n[_WARMUP] = math.ceil(1.0 / self.ewma_alpha)
        self.kyle.reset()
        self.skips.clear()

    def state(self) -> dict:
        return {**super().state(), "kyle": self.kyle.state()}

    def restore(self, state: dict) -> None:
        self.kyle.restore(state["kyle"])
        super().restore(state)

    @property
    def kyle_lambda(self) -> float:
        return self.kyle.value

    # ---------------------------------------------------------------- inputs

    def handle_book(self, snapshot: BookSnapshot) -> None:
        self._book(
            snapshot.is_valid,
            snapshot.bid_prices,
            snapshot.bid_sizes,
            snapshot.n_bids,
            snapshot.ask_prices,
            snapshot.ask_sizes,
            snapshot.n_asks,
            snapshot.ts_event,
        )

    def handle_trade_tick(self, tick: TradeTick) -> None:
        """Venue-flagged trades only (see `VPIN.handle_trade_tick`)."""
        side = AGGRESSOR_TO_SIDE[tick.aggressor_side]
        if side == 0:
            self._n[_SKIP_SIDE] += 1
            self.skips.sync(self._n, SKIPS)
            return
        self.update_trade_raw(side * float(tick.size), tick.ts_event)

    def update_trade_raw(self, signed_size: float, ts_event: int) -> None:
        """A trade of `signed_size` (size units, > 0 bought by the aggressor) at `ts_event` (ns)."""
        liquidity_trade(self._n, self.kyle._s, self.kyle._n, signed_size, ts_event)
        self.skips.sync(self._n, SKIPS)

    def update_raw(
        self,
        bid_prices: np.ndarray,
        bid_sizes: np.ndarray,
        n_bids: int,
        ask_prices: np.ndarray,
        ask_sizes: np.ndarray,
        n_asks: int,
        ts_event: int,
    ) -> float:
        """One valid book: levels best-first (prices in quote currency, sizes > 0), `ts_event` in ns."""
        return self._book(True, bid_prices, bid_sizes, n_bids, ask_prices, ask_sizes, n_asks, ts_event)

    def _book(self, valid, bp, bq, nb, ap, aq, na, ts_event) -> float:
        bp, bq, ap, aq = (np.asarray(x, dtype=np.float64) for x in (bp, bq, ap, aq))
        liquidity_book(self._s, self._n, self.kyle._s, self.kyle._n, valid, bp, bq, nb, ap, aq, na, ts_event)
        self.skips.sync(self._n, SKIPS)
        return self.value

    # ---------------------------------------------------------------- outputs

    @property
    def value(self) -> float:
        return float(self._s[VALUE])

    @property
    def spread(self) -> float:
        return float(self._s[SPREAD])

    @property
    def spread_bps(self) -> float:
        return float(self._s[SPREAD_BPS])

    @property
    def imbalance(self) -> float:
        return float(self._s[IMBALANCE])

    @property
    def depth(self) -> float:
        return float(self._s[DEPTH])

    @property
    def weighted_depth(self) -> float:
        return float(self._s[WEIGHTED])

    @property
    def slippage_buy_bps(self) -> float:
        return float(self._s[SLIP_BUY])

    @property
    def slippage_sell_bps(self) -> float:
        return float(self._s[SLIP_SELL])

    @property
    def slippage_capped(self) -> bool:
        return bool(self._n[SLIP_CAPPED])

    @property
    def depth_shock(self) -> bool:
        return bool(self._n[DEPTH_SHOCK])
