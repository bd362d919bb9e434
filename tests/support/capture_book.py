"""Real `BookSnapshot`s for tests and benchmarks, taken from a Nautilus `OrderBook` replaying a capture.

Stands in for the strategy's snapshot builder (issue 3) and is independent of it: the capture's
deltas go through Nautilus's own L2 book, and at the end of a batch (``F_LAST``) the top levels are
read with ``book.bids()`` / ``book.asks()``. Those materialise every level of a ~5,000-level book
(about 2.6 ms a call here), so only every `every`-th batch is read.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.enums import RecordFlag

from scalp_nautilus.book import BookSnapshot
from scalp_nautilus.data.binance_capture import BinanceCaptureImporter

_F_LAST = int(RecordFlag.F_LAST)


def _side(levels, depth: int) -> tuple[np.ndarray, np.ndarray, int]:
    prices = np.zeros(depth)
    sizes = np.zeros(depth)
    for i, level in enumerate(levels[:depth]):
        prices[i] = level.price.as_double()
        sizes[i] = level.size()
    return prices, sizes, min(len(levels), depth)


@lru_cache(maxsize=4)
def replay_snapshots(paths: tuple[Path, ...], every: int = 8, depth: int = 5) -> list[BookSnapshot]:
    """One snapshot per `every` delta batches of the capture made of `paths`, in order."""
    importer = BinanceCaptureImporter(paths)
    book = OrderBook(importer.instrument.id, BookType.L2_MBP)
    snapshots = []
    batch = 0
    for event in importer.events():
        if type(event) is not OrderBookDelta:
            continue
        book.apply_delta(event)
        if not event.flags & _F_LAST:
            continue
        batch += 1
        if batch % every:
            continue
        bp, bs, nb = _side(book.bids(), depth)
        ap, as_, na = _side(book.asks(), depth)
        snapshots.append(BookSnapshot(bp, bs, ap, as_, nb, na, event.ts_event, event.ts_init, event.sequence))
    return snapshots
