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
"""

from __future__ import annotations

import logging
import math

import numpy as np
from numba import njit

from nautilus_trader.indicators.base import Indicator
from nautilus_trader.model.data import TradeTick

from scalp_nautilus.skips import SkipCounter
from tests.oracle.book import BookSnapshot
from tests.oracle.indicators.hurst import ols_slope
from tests.oracle.indicators.lee_ready import AGGRESSOR_TO_SIDE
from tests.oracle.indicators.warm_state import WarmState

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


class KyleLambda(WarmState):
    """Kyle's λ from fixed intervals of exchange time; `value` in quote currency per size unit.

    An interval's point is (net signed volume traded in it, mid at its end - mid at its start),
    the mid being the last one seen. Intervals without trades or book changes are points (0, 0):
    no flow, no move. Points need a mid at both ends. Events stamped before the open interval
    (feeds interleave streams) count in the open one. The fit is redone as each interval closes.
    """

    __slots__ = (
        "interval_ns",
        "window",
        "min_points",
        "_x",
        "_y",
        "_head",
        "points",
        "_interval",
        "_flow",
        "_start_mid",
        "_mid",
        "value",
        "initialized",
    )
    _STATE = ("_x", "_y", "_head", "points", "_interval", "_flow", "_start_mid", "_mid", "value", "initialized")

    def __init__(self, interval_ns: int = 1_000_000_000, window: int = 120, min_points: int = 30) -> None:
        if interval_ns <= 0:
            raise ValueError(f"interval_ns must be > 0, got {interval_ns}")
        if not 3 <= min_points <= window:
            raise ValueError(f"need 3 <= min_points <= window, got {min_points}, {window}")
        self.interval_ns = interval_ns
        self.window = window
        self.min_points = min_points
        self._x = np.zeros(window)
        self._y = np.zeros(window)
        self.reset()

    def reset(self) -> None:
        self._x[:] = 0.0
        self._y[:] = 0.0
        self._head = 0
        self.points = 0  # points in the window
        self._interval: int | None = None
        self._flow = 0.0
        self._start_mid = math.nan  # mid when the open interval started
        self._mid = math.nan
        self.value = 0.0
        self.initialized = False

    def update_mid(self, ts_event: int, mid: float) -> None:
        self._advance(ts_event)
        self._mid = mid
        if math.isnan(self._start_mid):
            self._start_mid = mid

    def update_trade(self, ts_event: int, signed_size: float) -> None:
        self._advance(ts_event)
        self._flow += signed_size

    def _advance(self, ts_event: int) -> None:
        interval = ts_event // self.interval_ns
        if self._interval is None:
            self._interval = interval
            return
        if interval <= self._interval:
            return
        if not math.isnan(self._start_mid):
            self._add(self._flow, self._mid - self._start_mid)
            for _ in range(min(interval - self._interval - 1, self.window)):
                self._add(0.0, 0.0)
            self._fit()
        self._interval = interval
        self._flow = 0.0
        self._start_mid = self._mid

    def _add(self, x: float, y: float) -> None:
        self._x[self._head] = x
        self._y[self._head] = y
        self._head = (self._head + 1) % self.window
        self.points = min(self.points + 1, self.window)

    def _fit(self) -> None:
        if self.points < self.min_points:
            return
        slope = ols_slope(self._x[: self.points], self._y[: self.points])
        if math.isnan(slope):
            return  # no flow variation in the window: keep the last estimate
        self.value = slope
        self.initialized = True


class LiquidityMetrics(WarmState, Indicator):
    """Book liquidity per snapshot and Kyle's λ; `value` is the resilience in [0, 1].

    Parameters
    ----------
    levels : int
        Levels per side in depth, imbalance and weighted depth (>= 1).
    slippage_size : float
        Order size, in instrument units, whose VWAP slippage is measured (> 0).
    distance_scale_bps : float
        Distance at which a level's weight in the weighted depth has halved (> 0).
    ewma_alpha : float
        Weight of the newest depth in its EWMA, in (0, 1].
    shock_ratio : float
        Depth below this fraction of its EWMA is a depth shock.
    lambda_interval_ns, lambda_window, lambda_min_points :
        Kyle's λ intervals, their number in the fit, and the minimum before it is reported.

    `initialized` once the EWMA has seen 1/α updates and λ has `lambda_min_points` points.
    """

    _STATE = (
        "_ewma",
        "_updates",
        "spread",
        "spread_bps",
        "imbalance",
        "depth",
        "weighted_depth",
        "slippage_buy_bps",
        "slippage_sell_bps",
        "slippage_capped",
        "depth_shock",
        "value",
    )
    _CHILDREN = ("kyle",)
    # Slots: on a Python subclass of a Cython type an attribute costs ~60 ns via __dict__, ~30 here.
    __slots__ = (
        "levels",
        "slippage_size",
        "distance_scale_bps",
        "ewma_alpha",
        "shock_ratio",
        "skips",
        "_ewma_warmup",
        *_STATE,
        *_CHILDREN,
    )

    def __init__(
        self,
        levels: int = 10,
        slippage_size: float = 1.0,
        distance_scale_bps: float = 1.0,
        ewma_alpha: float = 0.05,
        shock_ratio: float = 0.7,
        lambda_interval_ns: int = 1_000_000_000,
        lambda_window: int = 120,
        lambda_min_points: int = 30,
    ) -> None:
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        if not 0.0 < slippage_size < math.inf:
            raise ValueError(f"slippage_size must be positive and finite, got {slippage_size}")
        if not distance_scale_bps > 0.0:
            raise ValueError(f"distance_scale_bps must be > 0, got {distance_scale_bps}")
        if not 0.0 < ewma_alpha <= 1.0:
            raise ValueError(f"ewma_alpha must be in (0, 1], got {ewma_alpha}")
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
        self.levels = levels
        self.slippage_size = slippage_size
        self.distance_scale_bps = distance_scale_bps
        self.ewma_alpha = ewma_alpha
        self.shock_ratio = shock_ratio
        self._ewma_warmup = math.ceil(1.0 / ewma_alpha)
        self.kyle = KyleLambda(lambda_interval_ns, lambda_window, lambda_min_points)
        self.skips = SkipCounter(type(self).__name__, log)
        self._reset()

    def _reset(self) -> None:
        self.kyle.reset()
        self._ewma = math.nan
        self._updates = 0
        self.spread = 0.0
        self.spread_bps = 0.0
        self.imbalance = 0.5
        self.depth = 0.0
        self.weighted_depth = 0.0
        self.slippage_buy_bps = 0.0
        self.slippage_sell_bps = 0.0
        self.slippage_capped = False
        self.depth_shock = False
        self.value = 0.5
        self.skips.clear()

    @property
    def kyle_lambda(self) -> float:
        return self.kyle.value

    # ---------------------------------------------------------------- inputs

    def handle_book(self, snapshot: BookSnapshot) -> None:
        if not snapshot.is_valid:
            self.skips("invalid book skipped")
            return
        self.update_raw(
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
            self.skips("trade without a side skipped (classify it first)")
            return
        self.update_trade_raw(side * float(tick.size), tick.ts_event)

    def update_trade_raw(self, signed_size: float, ts_event: int) -> None:
        """A trade of `signed_size` (size units, > 0 bought by the aggressor) at `ts_event` (ns)."""
        if not math.isfinite(signed_size):
            self.skips("trade with non-finite size skipped", signed_size)
            return
        self.kyle.update_trade(ts_event, signed_size)
        if not self.has_inputs:
            self._set_has_inputs(True)

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
        if n_bids < 1 or n_asks < 1 or not bid_prices[0] < ask_prices[0]:
            self.skips("empty, one-sided or crossed book skipped")
            return self.value
        bid, ask = float(bid_prices[0]), float(ask_prices[0])
        mid = 0.5 * (bid + ask)
        (bid_depth, ask_depth, weighted, slip_buy, slip_sell, buy_capped, sell_capped) = book_liquidity(
            bid_prices,
            bid_sizes,
            n_bids,
            ask_prices,
            ask_sizes,
            n_asks,
            mid,
            self.levels,
            self.slippage_size,
            self.distance_scale_bps,
        )
        depth = bid_depth + ask_depth
        if not (depth > 0.0 and math.isfinite(depth) and math.isfinite(weighted)):
            self.skips("book with zero or non-finite sizes skipped", depth)
            return self.value
        self.spread = ask - bid
        self.spread_bps = 1e4 * self.spread / mid
        self.imbalance = bid_depth / depth
        self.depth = depth
        self.weighted_depth = weighted
        self.slippage_buy_bps = slip_buy
        self.slippage_sell_bps = slip_sell
        self.slippage_capped = buy_capped or sell_capped
        if self.slippage_capped:
            self.skips("slippage size beyond the visible levels: slippage understated", self.slippage_size)
        ewma = depth if math.isnan(self._ewma) else self._ewma
        self.value = min(depth / ewma, 2.0) / 2.0
        self.depth_shock = depth < self.shock_ratio * ewma
        self._ewma = ewma + self.ewma_alpha * (depth - ewma)
        self._updates += 1
        self.kyle.update_mid(ts_event, mid)
        if not self.has_inputs:
            self._set_has_inputs(True)
        if not self.initialized and self._updates >= self._ewma_warmup and self.kyle.initialized:
            self._set_initialized(True)
        return self.value
