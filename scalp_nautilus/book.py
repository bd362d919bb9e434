"""The one view of the order book that every book feature reads, and the builder that takes it.

A `BookSnapshot` is taken once per delta batch (the delta carrying ``F_LAST``) and handed to every
book indicator, so nobody walks the Nautilus book twice per update. Levels are best-first; sides
with fewer than `depth` levels are padded with price 0.0 and size 0.0, and `n_bids` / `n_asks` say
how many levels are real. Prices are in quote currency, sizes in the instrument's size units
(contracts for inverse perpetuals).

Levels available (`BookSnapshotBuilder.levels`, `BookSnapshot.levels`): how many levels a side the
data can show at all. A full L2 feed shows every level (`EVERY_LEVEL`; the builder reads `depth` of
them); a top-of-book feed (a best bid/ask, DESIGN §8) shows one. A missing level of a thin book is a
fact (size 0); a level beyond `levels` is unknown: the builder never reads past it, the band
notional (which counts every level near the mid) is not measured (NaN), and every feature value
computed from deeper levels is unavailable (NaN in the row: `scalp_nautilus.features`), never 0.
`BookSnapshotBuilder.from_quote` takes the one-level snapshot of a top-of-book feed (a Nautilus
`QuoteTick`: Binance's bookTicker), the top-of-book mode's book (`scalp_nautilus.top_of_book`).

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
from numba.extending import register_jitable

from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.objects import FIXED_PRECISION
from nautilus_trader.model.objects import PRICE_MAX
from nautilus_trader.model.objects import PRICE_MIN
from nautilus_trader.model.objects import Price

from scalp_nautilus.feature_table import EVERY_LEVEL
from scalp_nautilus.skips import SkipCounter

if TYPE_CHECKING:
    from scalp_nautilus.feature_replay.book import BookTops

log = logging.getLogger(__name__)


@register_jitable
def band_sides(bid_known: bool, ask_known: bool, bid_ts: int, ask_ts: int, ts_event: int, refresh_ns: int) -> tuple[bool, bool]:
    """Which sides' band notional to read on a valid book: both when either is unknown (the first
    valid book, or after an outage); afterwards only the staler side, and only once it is
    `refresh_ns` old, so no batch pays for two walks of the band. Plain Python for `from_book`,
    compiled in the feature replay's kernel."""
    if not (bid_known and ask_known):
        return True, True
    if ts_event - min(bid_ts, ask_ts) >= refresh_ns:
        return bid_ts <= ask_ts, bid_ts > ask_ts
    return False, False


@register_jitable
def band_notional(size: float, mid: float, multiplier: float, inverse: bool) -> float:
    """Quote currency of `size` resting near `mid`. Linear notional is valued at the mid rather than
    level by level: inside a 10 bps band that is off by at most 0.1%, and it saves Nautilus a
    second, 5x slower walk of the band."""
    return size * multiplier if inverse else size * mid * multiplier


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
    levels: int = EVERY_LEVEL  # levels a side the data shows (see the module doc)
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
    levels : int
        Levels a side the data shows (>= 1): 1 for a top-of-book feed (a best bid/ask). Levels
        past it are never read; the snapshots carry it, and the features needing deeper levels
        are unavailable. Default `EVERY_LEVEL`: a full book.
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
        levels: int = EVERY_LEVEL,
    ) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if not 1 <= levels <= EVERY_LEVEL:
            raise ValueError(f"levels must be >= 1, got {levels}")
        if not tick_size > 0:
            raise ValueError(f"tick_size must be > 0, got {tick_size}")
        if not band_bps > 0:
            raise ValueError(f"band_bps must be > 0, got {band_bps}")
        if not multiplier > 0:
            raise ValueError(f"multiplier must be > 0, got {multiplier}")
        self.depth = depth
        self.levels = levels
        shown = min(depth, levels)  # levels a side that the snapshots can hold
        self.price_precision = price_precision
        self.size_precision = size_precision
        self.tick_size = tick_size
        self.band_bps = band_bps
        self.inverse = inverse
        self.multiplier = multiplier
        self.band_refresh_ns = band_refresh_ns
        self.max_widenings = max_widenings
        initial_reach = 2.0 * shown * tick_size
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
        snap = BookSnapshot(bp, bq, ap, aq, nb, na, ts_event, ts_init, sequence, self.tick_size, self.levels)

        def band_quantity(side: _Side) -> float:
            return book.get_quantity_for_price(self._band_edge(snap.mid, side), side.crossing_order)

        return self._finish(snap, band_quantity)

    def from_tops(self, tops: BookTops, b: int, ts_event: int, ts_init: int, sequence: int = 0) -> BookSnapshot:
        """Snapshot of batch `b` of what the feature replay's `ReplayBook` read: the same snapshot
        `from_book` takes of a Nautilus book in the same state."""
        n_bids, n_asks = tops.n[b].tolist()
        bp, bq, n_bids = self._shown(tops.bid_px[b], tops.bid_qty[b], n_bids)
        ap, aq, n_asks = self._shown(tops.ask_px[b], tops.ask_qty[b], n_asks)
        snap = BookSnapshot(bp, bq, ap, aq, n_bids, n_asks, ts_event, ts_init, sequence, self.tick_size, self.levels)

        def band_quantity(side: _Side) -> float:
            i = 0 if side is self._bids else 1
            edge = self._band_edge(snap.mid, side)
            if edge.raw != int(tops.band_edge[b, i]) * 10 ** (FIXED_PRECISION - self.price_precision):
                raise RuntimeError(f"replay book's band edge {tops.band_edge[b, i]} differs from Price's {edge}")
            return float(tops.band_quantity[b, i])

        return self._finish(snap, band_quantity)

    def from_quote(
        self, bid: float, bid_size: float, ask: float, ask_size: float, ts_event: int, ts_init: int, sequence: int = 0
    ) -> BookSnapshot:
        """Snapshot of a best bid and ask (a `QuoteTick`'s fields): one level a side (a side of size
        0 is missing), no band notional. Needs a builder with `levels` 1."""
        if self.levels != 1:
            raise ValueError(f"from_quote takes a top of book: this builder shows {self.levels} levels a side")
        bp, bq, ap, aq = np.zeros(self.depth), np.zeros(self.depth), np.zeros(self.depth), np.zeros(self.depth)
        nb = int(bid_size > 0.0 and bid > 0.0)
        na = int(ask_size > 0.0 and ask > 0.0)
        if nb:
            bp[0], bq[0] = bid, bid_size
        if na:
            ap[0], aq[0] = ask, ask_size
        snap = BookSnapshot(bp, bq, ap, aq, nb, na, ts_event, ts_init, sequence, self.tick_size, 1)
        self._check(snap)
        return snap

    def _finish(self, snap: BookSnapshot, band_quantity: Callable[[_Side], float]) -> BookSnapshot:
        self._check(snap)
        if snap.is_valid and self.levels == EVERY_LEVEL:
            self._refresh_band(snap, band_quantity)
            snap.bid_band_notional = self._bids.notional
            snap.ask_band_notional = self._asks.notional
        else:
            # after an outage nothing read before it may be carried: the next valid book reads both
            self._bids.notional_ts = self._asks.notional_ts = None
        return snap

    def _refresh_band(self, snap: BookSnapshot, band_quantity: Callable[[_Side], float]) -> None:
        bids, asks = self._bids, self._asks
        read = band_sides(
            bids.notional_ts is not None,
            asks.notional_ts is not None,
            bids.notional_ts or 0,
            asks.notional_ts or 0,
            snap.ts_event,
            self.band_refresh_ns,
        )
        for side in (s for s, r in zip((bids, asks), read) if r):
            side.notional = self._notional(band_quantity(side), snap.mid)
            side.notional_ts = snap.ts_event

    def _shown(self, prices: np.ndarray, sizes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, int]:
        """A side as the data shows it: the levels past `levels` dropped (as missing)."""
        if n <= self.levels:
            return prices, sizes, n
        prices, sizes = prices.copy(), sizes.copy()
        prices[self.levels :] = sizes[self.levels :] = 0.0
        return prices, sizes, self.levels

    def _read_side(self, book: OrderBook, side: _Side, best: Price | None) -> tuple[np.ndarray, np.ndarray, int]:
        depth = self.depth
        shown = min(depth, self.levels)
        if best is None:
            return np.zeros(depth), np.zeros(depth), 0
        levels = self._crossed_levels(book, side, float(best))[:shown]
        n = len(levels)
        # float() on Price/Quantity is ~2x cheaper than as_double() and returns the same double.
        prices = [float(p) for p, _ in levels]
        sizes = [float(q) for _, q in levels]
        # Next time read past the last level shown with a margin: a read that falls short is
        # retried from the touch (~2 µs wasted), while each extra level read costs ~0.1 µs. This
        # margin retried on 2% of the BTCUSDT batches (a 1.1x, 1-tick margin: 12%). A side
        # thinner than that is read whole again.
        if n < shown:
            side.reach = math.inf
        else:
            side.reach = 1.5 * abs(prices[-1] - prices[0]) + 2.0 * self.tick_size
        if n < depth:
            pad = self._pad[: depth - n]
            prices += pad
            sizes += pad
        return np.array(prices), np.array(sizes), n

    def _crossed_levels(self, book: OrderBook, side: _Side, best: float) -> list:
        reach = side.reach
        for _ in range(self.max_widenings):
            if math.isinf(reach):
                break
            limit = Price(best + side.sign * reach, self.price_precision)
            levels = book.get_all_crossed_levels(side.crossing_order, limit, self.size_precision)
            if len(levels) >= min(self.depth, self.levels):
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
        ts_init = ts_event if ts_init is None else ts_init
        snap = BookSnapshot(bp, bq, ap, aq, nb, na, ts_event, ts_init, sequence, self.tick_size, self.levels)
        self._check(snap)
        if snap.is_valid and self.levels == EVERY_LEVEL:
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
        n = min(len(rows), self.depth, self.levels)
        prices = np.zeros(self.depth)
        sizes = np.zeros(self.depth)
        prices[:n] = rows[:n, 0]
        sizes[:n] = rows[:n, 1]
        return prices, sizes, n, rows

    # ---------------------------------------------------------------- shared

    def band_edge(self, mid: float, side: int) -> Price:
        """The band's far edge on the bids (`side` 0) or the asks (1)."""
        return self._band_edge(mid, self._asks if side else self._bids)

    def _band_edge(self, mid: float, side: _Side) -> Price:
        """The band's far edge on `side`, at the instrument's price precision."""
        return Price(mid * (1.0 + side.sign * 1e-4 * self.band_bps), self.price_precision)

    def _notional(self, size: float, mid: float) -> float:
        return band_notional(size, mid, self.multiplier, self.inverse)

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
