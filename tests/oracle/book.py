"""The one view of the order book that every book feature reads, and the builder that takes it.

A `BookSnapshot` is taken once per delta batch (the delta carrying ``F_LAST``) and handed to every
book indicator, so nobody walks the Nautilus book twice per update. Levels are best-first; sides
with fewer than `depth` levels are padded with price 0.0 and size 0.0, and `n_bids` / `n_asks` say
how many levels are real. Prices are in quote currency, sizes in the instrument's size units
(contracts for inverse perpetuals).

`BookSnapshotBuilder.from_book` reads the top levels from Nautilus's own managed book, which the
data engine has already updated from the deltas, without materialising whole sides:
`OrderBook.bids()` / `asks()` build every level (2-4 ms on the real 5,000-level Binance books),
and mirroring the book in Python costs ~0.8 µs per delta just to read the delta's fields, while a
Binance batch carries up to 600 deltas at p99. Instead each side is read with
`OrderBook.get_all_crossed_levels`, which stops at a price bound, so its cost is the number of
levels it returns (~0.1 µs each). The bound is adapted per side so that it usually returns just
over `depth` levels; when it returns fewer, it is widened, and a side found thinner than `depth`
is read whole (cheap, since it is thin).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING

import numpy as np

from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.objects import FIXED_PRECISION
from nautilus_trader.model.objects import PRICE_MAX
from nautilus_trader.model.objects import PRICE_MIN
from nautilus_trader.model.objects import Price

from scalp_nautilus.skips import SkipCounter

if TYPE_CHECKING:
    from scalp_nautilus.feature_replay.book import BookTops

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BookSnapshot:
    """Top-of-book view for one batch. `bid_band_notional` / `ask_band_notional`: resting notional
    (quote currency) within the builder's `band_bps` of the mid, counting every level, not just the
    top `depth`. `tick_size`: the instrument's price increment (NaN: unknown), so that a feature can
    read the spread in ticks."""

    bid_prices: np.ndarray
    bid_sizes: np.ndarray
    ask_prices: np.ndarray
    ask_sizes: np.ndarray
    n_bids: int
    n_asks: int
    ts_event: int
    ts_init: int
    sequence: int = 0
    tick_size: float = math.nan
    bid_band_notional: float = math.nan  # NaN: not measured
    ask_band_notional: float = math.nan
    # Derived once here because every indicator reads them (as Python floats, which are cheaper
    # to compute with than numpy scalars).
    best_bid: float = field(init=False)
    best_ask: float = field(init=False)
    is_valid: bool = field(init=False)
    mid: float = field(init=False)
    spread: float = field(init=False)

    def __post_init__(self) -> None:
        self.best_bid = float(self.bid_prices[0]) if self.n_bids > 0 else math.nan
        self.best_ask = float(self.ask_prices[0]) if self.n_asks > 0 else math.nan
        # Both sides present and not crossed (nor locked): the only books features may use.
        self.is_valid = self.n_bids > 0 and self.n_asks > 0 and self.best_bid < self.best_ask
        self.mid = 0.5 * (self.best_bid + self.best_ask) if self.is_valid else math.nan
        self.spread = self.best_ask - self.best_bid if self.is_valid else math.nan

    @property
    def depth(self) -> int:
        return len(self.bid_prices)

    @property
    def spread_bps(self) -> float:
        return 1e4 * self.spread / self.mid if self.is_valid else math.nan


class _Side:
    """Per-side reading state: the order that crosses this side, how far past the touch to read
    for the top levels, and the last band notional read."""

    __slots__ = ("crossing_order", "sign", "unbounded", "reach", "notional", "notional_ts")

    def __init__(self, crossing_order: OrderSide, sign: float, unbounded: Price, reach: float) -> None:
        self.crossing_order = crossing_order  # a SELL crosses the bids, a BUY the asks
        self.sign = sign  # direction away from the touch: -1 for bids, +1 for asks
        self.unbounded = unbounded  # a limit every level of the side crosses
        self.reach = reach  # price distance from the touch to read; inf: read the whole side
        self.notional = math.nan
        self.notional_ts: int | None = None


class BookSnapshotBuilder:
    """Builds `BookSnapshot`s from a Nautilus `OrderBook` (`from_book`) or plain levels (`from_levels`).

    Parameters
    ----------
    depth : int
        Levels per side in the snapshot (>= 1).
    price_precision, size_precision : int
        The instrument's precisions (price bounds are built at `price_precision`).
    tick_size : float
        The instrument's price increment: the first reads reach 2 × depth ticks past the touch,
        and every read at least one tick past the depth-th level.
    band_bps : float
        Half-width around the mid, in basis points, of the band notional (DESIGN 3.11: 10 bps).
    inverse : bool
        Inverse contract (COIN-M): notional = size × `multiplier` (quote currency per contract);
        linear: notional = size × mid × `multiplier`.
    multiplier : float
        Contract multiplier (100 USD per BTCUSD_PERP contract; 1 for linear perpetuals).
    band_refresh_ns : int
        `from_book` re-reads each side's band notional once it is this old (event time), one side
        per batch at most, and carries it between reads: Nautilus walks every level of the band
        for it (~350 levels a side, 3-6 µs on BTCUSDT), and the regime only compares it with
        thresholds an order of magnitude apart. 0 reads one side on every batch.
    max_widenings : int
        Times a read that returned too few levels is retried twice as far before the side is
        read whole.
    """

    def __init__(
        self,
        depth: int = 10,
        price_precision: int = 2,
        size_precision: int = 3,
        tick_size: float = 0.1,
        band_bps: float = 10.0,
        inverse: bool = False,
        multiplier: float = 1.0,
        band_refresh_ns: int = 1_000_000_000,
        max_widenings: int = 6,
    ) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if not tick_size > 0:
            raise ValueError(f"tick_size must be > 0, got {tick_size}")
        if not band_bps > 0:
            raise ValueError(f"band_bps must be > 0, got {band_bps}")
        if not multiplier > 0:
            raise ValueError(f"multiplier must be > 0, got {multiplier}")
        self.depth = depth
        self.price_precision = price_precision
        self.size_precision = size_precision
        self.tick_size = tick_size
        self.band_bps = band_bps
        self.inverse = inverse
        self.multiplier = multiplier
        self.band_refresh_ns = band_refresh_ns
        self.max_widenings = max_widenings
        initial_reach = 2.0 * depth * tick_size
        self._bids = _Side(OrderSide.SELL, -1.0, Price(PRICE_MIN, price_precision), initial_reach)
        self._asks = _Side(OrderSide.BUY, 1.0, Price(PRICE_MAX, price_precision), initial_reach)
        self._pad = [0.0] * depth
        self.skips = SkipCounter(type(self).__name__, log)
        self.built = 0
        self.widenings = 0  # diagnostics: reads that fell short of `depth` levels and were retried

    @classmethod
    def for_instrument(cls, instrument, **kwargs) -> BookSnapshotBuilder:
        """Precisions, tick, inverse flag and multiplier from a Nautilus instrument."""
        return cls(
            price_precision=instrument.price_precision,
            size_precision=instrument.size_precision,
            tick_size=float(instrument.price_increment),
            inverse=bool(instrument.is_inverse),
            multiplier=float(instrument.multiplier),
            **kwargs,
        )

    # ---------------------------------------------------------------- from a Nautilus book

    def from_book(self, book: OrderBook, ts_event: int, ts_init: int, sequence: int = 0) -> BookSnapshot:
        """Snapshot of `book`'s top `depth` levels per side plus the band notional."""
        bid = book.best_bid_price()
        ask = book.best_ask_price()
        bp, bq, nb = self._read_side(book, self._bids, bid)
        ap, aq, na = self._read_side(book, self._asks, ask)
        snap = BookSnapshot(bp, bq, ap, aq, nb, na, ts_event, ts_init, sequence, self.tick_size)

        def band_quantity(side: _Side) -> float:
            return book.get_quantity_for_price(self._band_edge(snap.mid, side), side.crossing_order)

        return self._finish(snap, band_quantity)

    def from_tops(self, tops: BookTops, b: int, ts_event: int, ts_init: int, sequence: int = 0) -> BookSnapshot:
        """Snapshot of batch `b` of what the feature replay's `ReplayBook` read: the same snapshot
        `from_book` takes of a Nautilus book in the same state."""
        n_bids, n_asks = tops.n[b].tolist()
        snap = BookSnapshot(
            tops.bid_px[b],
            tops.bid_qty[b],
            tops.ask_px[b],
            tops.ask_qty[b],
            n_bids,
            n_asks,
            ts_event,
            ts_init,
            sequence,
            self.tick_size,
        )

        def band_quantity(side: _Side) -> float:
            i = 0 if side is self._bids else 1
            edge = self._band_edge(snap.mid, side)
            if edge.raw != int(tops.band_edge[b, i]) * 10 ** (FIXED_PRECISION - self.price_precision):
                raise RuntimeError(f"replay book's band edge {tops.band_edge[b, i]} differs from Price's {edge}")
            return float(tops.band_quantity[b, i])

        return self._finish(snap, band_quantity)

    def _finish(self, snap: BookSnapshot, band_quantity: Callable[[_Side], float]) -> BookSnapshot:
        self._check(snap)
        if snap.is_valid:
            self._refresh_band(snap, band_quantity)
            snap.bid_band_notional = self._bids.notional
            snap.ask_band_notional = self._asks.notional
        else:
            # after an outage nothing read before it may be carried: the next valid book reads both
            self._bids.notional_ts = self._asks.notional_ts = None
        return snap

    def _refresh_band(self, snap: BookSnapshot, band_quantity: Callable[[_Side], float]) -> None:
        # Both sides on the first valid book; afterwards only the staler side, and only once it
        # is `band_refresh_ns` old, so no batch pays for two walks of the band.
        bids, asks = self._bids, self._asks
        sides: tuple[_Side, ...]
        if bids.notional_ts is None or asks.notional_ts is None:
            sides = (bids, asks)
        elif snap.ts_event - min(bids.notional_ts, asks.notional_ts) >= self.band_refresh_ns:
            sides = (bids,) if bids.notional_ts <= asks.notional_ts else (asks,)
        else:
            return
        for side in sides:
            side.notional = self._notional(band_quantity(side), snap.mid)
            side.notional_ts = snap.ts_event

    def _read_side(self, book: OrderBook, side: _Side, best: Price | None) -> tuple[np.ndarray, np.ndarray, int]:
        depth = self.depth
        if best is None:
            return np.zeros(depth), np.zeros(depth), 0
        levels = self._crossed_levels(book, side, float(best))[:depth]
        n = len(levels)
        # float() on Price/Quantity is ~2x cheaper than as_double() and returns the same double.
        prices = [float(p) for p, _ in levels]
        sizes = [float(q) for _, q in levels]
        # Next time read past the depth-th level with a margin: a read that falls short is retried
        # from the touch (~2 µs wasted), while each extra level read costs ~0.1 µs. This margin
        # retried on 2% of the BTCUSDT batches (a 1.1x, 1-tick margin: 12%). A side thinner than
        # `depth` is read whole again.
        if n < depth:
            side.reach = math.inf
            pad = self._pad[: depth - n]
            prices += pad
            sizes += pad
        else:
            side.reach = 1.5 * abs(prices[-1] - prices[0]) + 2.0 * self.tick_size
        return np.array(prices), np.array(sizes), n

    def _crossed_levels(self, book: OrderBook, side: _Side, best: float) -> list:
        reach = side.reach
        for _ in range(self.max_widenings):
            if math.isinf(reach):
                break
            limit = Price(best + side.sign * reach, self.price_precision)
            levels = book.get_all_crossed_levels(side.crossing_order, limit, self.size_precision)
            if len(levels) >= self.depth:
                return levels
            reach *= 2.0
            self.widenings += 1
        return book.get_all_crossed_levels(side.crossing_order, side.unbounded, self.size_precision)

    # ---------------------------------------------------------------- from plain numbers

    def from_levels(
        self,
        bids: np.ndarray | list,
        asks: np.ndarray | list,
        ts_event: int,
        ts_init: int | None = None,
        sequence: int = 0,
    ) -> BookSnapshot:
        """Snapshot from (price, size) rows in any order (all levels, for the band notional).

        Rows with a non-finite or non-positive price or size are dropped and counted.
        """
        bp, bq, nb, bid_rows = self._side_from_rows(bids, descending=True)
        ap, aq, na, ask_rows = self._side_from_rows(asks, descending=False)
        snap = BookSnapshot(bp, bq, ap, aq, nb, na, ts_event, ts_event if ts_init is None else ts_init, sequence, self.tick_size)
        self._check(snap)
        if snap.is_valid:
            lo = float(self._band_edge(snap.mid, self._bids))
            hi = float(self._band_edge(snap.mid, self._asks))
            snap.bid_band_notional = self._notional(float(bid_rows[bid_rows[:, 0] >= lo, 1].sum()), snap.mid)
            snap.ask_band_notional = self._notional(float(ask_rows[ask_rows[:, 0] <= hi, 1].sum()), snap.mid)
        return snap

    def _side_from_rows(self, rows, descending: bool) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
        rows = np.asarray(rows, dtype=float).reshape(-1, 2)
        good = np.isfinite(rows).all(axis=1) & (rows[:, 0] > 0) & (rows[:, 1] > 0)
        if not good.all():
            bad = int((~good).sum())
            self.skips("level with non-finite or non-positive price or size dropped", bad, count=bad)
            rows = rows[good]
        order = np.argsort(-rows[:, 0] if descending else rows[:, 0], kind="stable")
        rows = rows[order]
        n = min(len(rows), self.depth)
        prices = np.zeros(self.depth)
        sizes = np.zeros(self.depth)
        prices[:n] = rows[:n, 0]
        sizes[:n] = rows[:n, 1]
        return prices, sizes, n, rows

    # ---------------------------------------------------------------- shared

    def _band_edge(self, mid: float, side: _Side) -> Price:
        """The band's far edge on `side`, at the instrument's price precision."""
        return Price(mid * (1.0 + side.sign * 1e-4 * self.band_bps), self.price_precision)

    def _notional(self, size: float, mid: float) -> float:
        # Linear notional is valued at the mid rather than level by level: inside a 10 bps band
        # that is off by at most 0.1%, and it saves Nautilus a second, 5x slower walk of the band.
        return size * self.multiplier if self.inverse else size * mid * self.multiplier

    def _check(self, snap: BookSnapshot) -> None:
        self.built += 1
        if snap.is_valid:
            return
        if snap.n_bids == 0 and snap.n_asks == 0:
            self.skips("empty book")
        elif snap.n_bids == 0 or snap.n_asks == 0:
            self.skips("one-sided book")
        else:
            self.skips("crossed or locked book", f"bid {snap.best_bid} >= ask {snap.best_ask}")
