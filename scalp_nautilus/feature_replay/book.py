"""The feature replay's L2 book: a catalog's raw delta columns applied in numba, one top-of-book
read per batch, with no Nautilus object made per delta.

`replay_features` used to decode every delta into a Nautilus `OrderBookDelta` and apply it to a
Nautilus `OrderBook` from a Python loop (~1.3 µs a delta, most of the replay's time beside the
features). This module reads the Arrow columns as numpy arrays and applies a whole chunk in one
compiled call, which writes, at each delta carrying ``F_LAST``, what `BookSnapshotBuilder` reads
from a Nautilus book: the top `depth` levels of each side and the resting size inside the band
(`get_quantity_for_price` at the band's edge). The builder's own logic (padding, validity, band
refresh, notional) then runs unchanged on those numbers (`BookSnapshotBuilder.from_tops`).

It reproduces Nautilus 1.231's L2_MBP book bit for bit (tested against it, delta by delta, and
through the replay's rows on every shared capture):

- ADD and UPDATE set the level's size (UPDATE of a missing level adds it); DELETE removes the
  level when present; CLEAR empties both sides. No sequence check; a crossed book is kept as is.
- Prices and sizes are Nautilus's fixed-point raws (128-bit, `FIXED_PRECISION` 16); their floats
  are `float(raw) / 1e16`, the rounding Nautilus's own conversion does (`fixed_to_float`).
- The band quantity sums levels best first from 0.0, as Nautilus's ladder does, so the same
  floats add in the same order. The band's edge is rounded like `Price(value, precision)` (half
  away from zero at the price precision); the builder checks each edge it uses against
  `Price` itself, so a difference cannot pass silently.

Deltas this book cannot reproduce with certainty (a zero size on ADD/UPDATE, which Nautilus's
constructors refuse; a side other than buy/sell on a level action) stop the replay with an error
naming the file; the importers of this project never write them.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
import pyarrow as pa

from nautilus_trader.model.objects import FIXED_PRECISION

ADD, UPDATE, DELETE, CLEAR = 1, 2, 3, 4
BUY, SELL = 1, 2
F_LAST = 128
DELTA_COLUMNS = ["action", "side", "price", "size", "flags", "sequence", "ts_event", "ts_init"]  # no order ids
_TWO64 = 2.0**64


@nb.njit(cache=True)
def _fixed(words, unit, odd, two_k, limit, ticks, floats):
    """Raw i = words[2i] + 2^64 words[2i+1] (signed): its count of `unit`s in ticks[i], exact,
    and `float(raw) / 1e16` in floats[i]. The float of the raw is within a fraction of a tick of
    it; the low 64 bits then pin the count exactly (another candidate would lie 2^64 / unit
    ticks away). raw = (ticks × 5^k) × 2^k, whose int64 → float64 conversion rounds to nearest
    like Nautilus's 128-bit one, and the power of two scales exactly; a count past `limit` would
    overflow that product. Returns (index of the first raw that is no whole number of units or
    -1, whether a count passed `limit`)."""
    big = False
    for i in range(ticks.shape[0]):
        lo = words[2 * i]
        approx = (np.float64(np.int64(words[2 * i + 1])) * _TWO64 + np.float64(lo)) / unit
        t = np.int64(np.rint(approx))
        if not (abs(approx - t) < 0.25 and np.uint64(t) * np.uint64(unit) == lo):
            return i, big
        ticks[i] = t
        if abs(t) < limit:
            floats[i] = np.float64(t * odd) * two_k / 1e16
        else:
            big = True
    return -1, big


def fixed_to_float(column: pa.Array | pa.ChunkedArray, precision: int) -> tuple[np.ndarray, np.ndarray]:
    """(ticks, floats) of a fixed-size-binary(16) column of Nautilus raws at `precision`: the
    int64 counts of 10^-precision (exact; ValueError for a raw that is not a whole number of
    them) and the floats Nautilus makes of the raws."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    words = np.frombuffer(column.buffers()[1], dtype=np.uint64)[2 * column.offset : 2 * (column.offset + len(column))]
    k = FIXED_PRECISION - precision
    ticks, floats = np.empty(len(column), dtype=np.int64), np.empty(len(column))
    bad, big = _fixed(words, np.uint64(10**k), np.int64(5**k), float(2**k), (2**63 - 1) // 5**k, ticks, floats)
    if bad >= 0:
        raw = int(words[2 * bad]) + (int(words[2 * bad + 1].view(np.int64)) << 64)
        raise ValueError(f"fixed-point value {raw} is not a multiple of 1e-{precision}")
    if big:  # exact in Python's integers
        floats = np.array([float(int(t) * 10**k) / 1e16 for t in ticks.tolist()])
    return ticks, floats


@nb.njit(cache=True)
def _round_half_away(x: float) -> float:
    r = math.floor(x)
    return r + 1.0 if x - r >= 0.5 else r


@nb.njit(cache=True)
def _find(keys, n, key):
    """Index of the first of keys[:n] (ascending) that is >= key."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


@nb.njit(cache=True)
def _set(keys, px, qty, n, key, price, size):
    """Set a level (keys ascending, the best level last); returns the side's new length. Levels
    move one place from the end down to the new one: close to the touch, which is where most
    updates land, that is a few."""
    i = _find(keys, n, key)
    if i < n and keys[i] == key:
        qty[i] = size
        return n
    for j in range(n, i, -1):
        keys[j] = keys[j - 1]
        px[j] = px[j - 1]
        qty[j] = qty[j - 1]
    keys[i], px[i], qty[i] = key, price, size
    return n + 1


@nb.njit(cache=True)
def _remove(keys, px, qty, n, key):
    i = _find(keys, n, key)
    if i == n or keys[i] != key:
        return n
    for j in range(i, n - 1):
        keys[j] = keys[j + 1]
        px[j] = px[j + 1]
        qty[j] = qty[j + 1]
    return n - 1


@nb.njit(cache=True)
def _top(px, qty, n, depth, out_px, out_qty):
    m = min(n, depth)
    for j in range(m):
        out_px[j] = px[n - 1 - j]
        out_qty[j] = qty[n - 1 - j]
    return m


@nb.njit(cache=True)
def _band_quantity(keys, qty, n, edge_key):
    """Size of the levels at or better than `edge_key`, best first (the key orders best last)."""
    total = 0.0
    j = n - 1
    while j >= 0 and keys[j] >= edge_key:
        total += qty[j]
        j -= 1
    return total


@nb.njit(cache=True)
def _apply_chunk(
    action, side, ticks, price, size, flags,
    bid_keys, bid_px, bid_qty, ask_keys, ask_px, ask_qty, lengths,
    depth, price_scale, band_bps,
    out_row, out_bid_px, out_bid_qty, out_ask_px, out_ask_qty, out_n, out_band_qty, out_band_edge,
):  # fmt: skip
    nbid, nask = lengths[0], lengths[1]
    rows = 0
    for i in range(len(action)):
        a = action[i]
        if a == CLEAR:
            nbid = 0
            nask = 0
        elif side[i] == BUY:
            if a == DELETE:
                nbid = _remove(bid_keys, bid_px, bid_qty, nbid, ticks[i])
            else:
                nbid = _set(bid_keys, bid_px, bid_qty, nbid, ticks[i], price[i], size[i])
        elif a == DELETE:
            nask = _remove(ask_keys, ask_px, ask_qty, nask, -ticks[i])
        else:
            nask = _set(ask_keys, ask_px, ask_qty, nask, -ticks[i], price[i], size[i])
        if flags[i] & F_LAST:
            b = rows
            out_row[b] = i
            out_n[b, 0] = _top(bid_px, bid_qty, nbid, depth, out_bid_px[b], out_bid_qty[b])
            out_n[b, 1] = _top(ask_px, ask_qty, nask, depth, out_ask_px[b], out_ask_qty[b])
            if nbid > 0 and nask > 0 and bid_px[nbid - 1] < ask_px[nask - 1]:
                # the builder's band edges: Price(mid * (1 ∓ 1e-4 × band_bps), precision)
                mid = 0.5 * (bid_px[nbid - 1] + ask_px[nask - 1])
                lo = _round_half_away(mid * (1.0 + (-1.0 * 1e-4) * band_bps) * price_scale)
                hi = _round_half_away(mid * (1.0 + (1.0 * 1e-4) * band_bps) * price_scale)
                out_band_edge[b, 0] = np.int64(lo)
                out_band_edge[b, 1] = np.int64(hi)
                out_band_qty[b, 0] = _band_quantity(bid_keys, bid_qty, nbid, np.int64(lo))
                out_band_qty[b, 1] = _band_quantity(ask_keys, ask_qty, nask, -np.int64(hi))
            rows += 1
    lengths[0], lengths[1] = nbid, nask
    return rows


class BookTops:
    """What one chunk's batches read from the book: for batch b (the delta at `row[b]` of the
    chunk carried ``F_LAST``), the top `depth` levels of each side (best first, zero-padded),
    the number of real levels `n[b] = (bids, asks)`, and on a valid book the band's edges in ticks
    and the size inside each (`band_edge[b]`, `band_quantity[b]`: bids, asks)."""

    __slots__ = ("row", "bid_px", "bid_qty", "ask_px", "ask_qty", "n", "band_quantity", "band_edge")

    def __init__(self, rows: int, depth: int) -> None:
        self.row = np.empty(rows, dtype=np.int64)
        self.bid_px = np.zeros((rows, depth))
        self.bid_qty = np.zeros((rows, depth))
        self.ask_px = np.zeros((rows, depth))
        self.ask_qty = np.zeros((rows, depth))
        self.n = np.zeros((rows, 2), dtype=np.int64)
        self.band_quantity = np.full((rows, 2), np.nan)
        self.band_edge = np.zeros((rows, 2), dtype=np.int64)

    def truncate(self, rows: int) -> BookTops:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name)[:rows])
        return self


QUOTE_COLUMNS = ["bid_price", "ask_price", "bid_size", "ask_size", "ts_event", "ts_init"]


def quote_tops(batch: pa.RecordBatch, depth: int, price_precision: int, size_precision: int) -> BookTops:
    """A record batch of `QuoteTick`s as book batches of one level a side (the top-of-book mode):
    the numbers `ScalpStrategy.on_quote_tick` reads from each tick, a side of size 0 missing, no
    band (`BookSnapshotBuilder.from_quote`)."""
    tops = BookTops(batch.num_rows, depth)
    tops.row[:] = np.arange(batch.num_rows)
    for px, qty, side, n in (("bid_price", "bid_size", "bid", 0), ("ask_price", "ask_size", "ask", 1)):
        _, price = fixed_to_float(batch.column(px), price_precision)
        _, size = fixed_to_float(batch.column(qty), size_precision)
        shown = (price > 0.0) & (size > 0.0)
        getattr(tops, f"{side}_px")[:, 0] = np.where(shown, price, 0.0)
        getattr(tops, f"{side}_qty")[:, 0] = np.where(shown, size, 0.0)
        tops.n[:, n] = shown
    return tops


class ReplayBook:
    """An L2 book for `price_precision` / `size_precision`, read as `depth` levels a side and a
    band of `band_bps` around the mid at each batch (see the module's doc)."""

    def __init__(self, depth: int, price_precision: int, size_precision: int, band_bps: float) -> None:
        self.depth = depth
        self.price_precision = price_precision
        self.size_precision = size_precision
        self.band_bps = band_bps
        self._price_scale = float(10**price_precision)
        self._lengths = np.zeros(2, dtype=np.int64)
        self._sides = [self._empty(1024), self._empty(1024)]

    @staticmethod
    def _empty(capacity: int) -> list[np.ndarray]:
        return [np.zeros(capacity, dtype=np.int64), np.zeros(capacity), np.zeros(capacity)]

    def _reserve(self, extra: int) -> None:
        for s in (0, 1):
            need = int(self._lengths[s]) + extra
            if need > len(self._sides[s][0]):
                grown = self._empty(max(need, 2 * len(self._sides[s][0])))
                for old, new in zip(self._sides[s], grown, strict=True):
                    new[: len(old)] = old
                self._sides[s] = grown

    def apply(self, batch: pa.RecordBatch, where: str = "") -> BookTops:
        """Apply a record batch of `OrderBookDelta` rows; the tops of the batches it ends."""
        action = batch.column("action").to_numpy()
        side = batch.column("side").to_numpy()
        flags = batch.column("flags").to_numpy()
        ticks, price = fixed_to_float(batch.column("price"), self.price_precision)
        size_ticks, size = fixed_to_float(batch.column("size"), self.size_precision)
        level = action != CLEAR
        bad = level & ((side != BUY) & (side != SELL)) | ((action == ADD) | (action == UPDATE)) & (size_ticks <= 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"{where}: delta {i} of a record batch (action {action[i]}, side {side[i]}, size {size[i]}) "
                "is not one the replay's book reproduces Nautilus's handling of (a level action needs a "
                "buy or sell side and a positive size)"
            )
        self._reserve(int(level.sum()))
        tops = BookTops(int(np.count_nonzero(flags & F_LAST)), self.depth)
        (bk, bp, bq), (ak, ap, aq) = self._sides
        rows = _apply_chunk(
            action, side, ticks, price, size, flags,
            bk, bp, bq, ak, ap, aq, self._lengths,
            self.depth, self._price_scale, self.band_bps,
            tops.row, tops.bid_px, tops.bid_qty, tops.ask_px, tops.ask_qty, tops.n, tops.band_quantity, tops.band_edge,
        )  # fmt: skip
        return tops.truncate(rows)
