"""Binance's rules for keeping a local futures order book in step with its diff stream: the one
implementation, shared by the capture importer and the live data client.

https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/How-to-manage-a-local-order-book-correctly

Diffs are buffered until a REST snapshot (``lastUpdateId``) arrives; buffered diffs with
``u < lastUpdateId`` are dropped; the first diff applied must have ``U <= lastUpdateId <= u``, or
``pu == lastUpdateId`` (the snapshot ended exactly where that diff's predecessor did: Binance's
text predates ``pu``, but the chain says the same); afterwards every diff's ``pu`` must equal the
previous diff's ``u``. Spot streams carry no ``pu`` (`BookSync(spot=True)`): there each diff's ``U`` must be the previous
diff's ``u`` + 1, diffs with ``u <= lastUpdateId`` are dropped and the first applied one has
``U <= lastUpdateId + 1 <= u``. A broken chain is a gap: the
book is out of sync until the next usable snapshot, and the diff that revealed the gap is buffered
for it. A snapshot older than the oldest buffered diff (``U > lastUpdateId``) cannot be used: the
updates in between are missing, and a newer snapshot is needed.

`BookSync` only judges; its caller applies, clears and requests snapshots. A diff is anything with
integer ``U``, ``u`` and ``pu`` attributes (the importer's own record, or Nautilus's
`BinanceOrderBookData` in the live client).
"""

from __future__ import annotations

from collections import deque
from enum import Enum
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from nautilus_trader.model.data import OrderBookDelta
    from nautilus_trader.model.identifiers import InstrumentId

# Nautilus is imported by the two functions that make its objects, not here: the capturer judges
# the chain with `BookSync` and runs without Nautilus (a smaller, faster-starting process).


class Sync(Enum):
    WAITING_SNAPSHOT = 0  # buffering diffs
    WAITING_FIRST_DIFF = 1  # snapshot applied; the next diff must bracket lastUpdateId
    SYNCED = 2


class Verdict(Enum):
    APPLY = 0  # in sequence: apply it
    BUFFERED = 1  # kept until a snapshot
    STALE = 2  # older than the snapshot: drop it
    GAP = 3  # the chain broke here: the book is out of sync (the diff is buffered)


class BookSync:
    """The sync state of one book. `max_buffered` bounds the diffs kept while waiting for a
    snapshot; the oldest are dropped beyond it (counted in `overflowed`)."""

    def __init__(self, max_buffered: int = 100_000, spot: bool = False) -> None:
        self.max_buffered = max_buffered
        # Spot ids: the snapshot's lastUpdateId is the last update it holds, and the chain is U = u + 1.
        self._next = 1 if spot else 0
        self.spot = spot
        self.state = Sync.WAITING_SNAPSHOT
        self.buffer: deque[Any] = deque()
        self.snapshot_id = 0
        self.chain_u: int | None = None
        self.overflowed = 0
        self.gap_reason = ""

    @property
    def synced(self) -> bool:
        return self.state is not Sync.WAITING_SNAPSHOT

    def diff(self, diff) -> Verdict:
        """Judge the next diff of the stream (in arrival order)."""
        if self.state is Sync.WAITING_SNAPSHOT:
            self.buffer.append(diff)
            if len(self.buffer) > self.max_buffered:
                self.buffer.popleft()
                self.overflowed += 1
            return Verdict.BUFFERED
        if self.state is Sync.WAITING_FIRST_DIFF:
            if diff.u < self.snapshot_id + self._next:
                return Verdict.STALE
            if diff.U > self.snapshot_id + self._next and (self.spot or diff.pu != self.snapshot_id):
                return self._gap(diff, f"first diff after snapshot {self.snapshot_id} starts at U={diff.U}")
        elif self.spot:
            if self.chain_u is None or diff.U != self.chain_u + 1:  # synced means chain_u is set
                return self._gap(diff, f"U={diff.U} but the previous diff ended at u={self.chain_u}")
        elif diff.pu != self.chain_u:
            return self._gap(diff, f"pu={diff.pu} but the previous diff ended at u={self.chain_u}")
        self.state = Sync.SYNCED
        self.chain_u = diff.u
        return Verdict.APPLY

    def snapshot(self, last_update_id: int) -> tuple[bool, int, list]:
        """Take a snapshot: (usable, buffered diffs dropped as older, buffered diffs to feed to
        `diff` again, in order). An unusable snapshot leaves the state and the buffer as they were."""
        dropped = 0
        while self.buffer and self.buffer[0].u < last_update_id + self._next:
            self.buffer.popleft()
            dropped += 1
        first = self.buffer[0] if self.buffer else None
        # Futures: a first diff right after the snapshot (pu == lastUpdateId) is usable, as `diff` says.
        if first is not None and first.U > last_update_id + self._next and (self.spot or first.pu != last_update_id):
            return False, dropped, []
        self.state = Sync.WAITING_FIRST_DIFF
        self.snapshot_id = last_update_id
        self.chain_u = None
        replay, self.buffer = list(self.buffer), deque()
        return True, dropped, replay

    def invalidate(self, reason: str) -> None:
        """Out of sync for a reason outside the stream (a reconnect): wait for a new snapshot;
        diffs buffered so far belong to the old connection and are discarded."""
        self.state = Sync.WAITING_SNAPSHOT
        self.chain_u = None
        self.buffer.clear()
        self.gap_reason = reason

    def _gap(self, diff, why: str) -> Verdict:
        self.state = Sync.WAITING_SNAPSHOT
        self.chain_u = None
        self.buffer.append(diff)
        self.gap_reason = why
        return Verdict.GAP


def snapshot_deltas(
    instrument_id: InstrumentId,
    bids: list,
    asks: list,
    last_update_id: int,
    ts_event: int,
    ts_init: int,
    price_precision: int,
    size_precision: int,
) -> list[OrderBookDelta]:
    """A depth snapshot as one batch: CLEAR, then an ADD per level with a positive price and size
    (levels as ``[price, size]`` strings or numbers), all flagged ``F_SNAPSHOT``, ``F_LAST`` on the
    last, the update id as the sequence."""
    from nautilus_trader.model.data import NULL_ORDER
    from nautilus_trader.model.data import BookOrder
    from nautilus_trader.model.data import OrderBookDelta
    from nautilus_trader.model.enums import BookAction
    from nautilus_trader.model.enums import OrderSide
    from nautilus_trader.model.enums import RecordFlag
    from nautilus_trader.model.objects import Price
    from nautilus_trader.model.objects import Quantity

    f_last, f_snapshot = int(RecordFlag.F_LAST), int(RecordFlag.F_SNAPSHOT)
    levels = [(OrderSide.BUY, float(p), float(q)) for p, q in bids] + [(OrderSide.SELL, float(p), float(q)) for p, q in asks]
    levels = [lv for lv in levels if lv[1] > 0 and lv[2] > 0]
    deltas = [
        OrderBookDelta(
            instrument_id,
            BookAction.CLEAR,
            NULL_ORDER,
            f_snapshot | (0 if levels else f_last),
            last_update_id,
            ts_event,
            ts_init,
        )
    ]
    last = len(levels) - 1
    for i, (side, p, q) in enumerate(levels):
        deltas.append(
            OrderBookDelta(
                instrument_id,
                BookAction.ADD,
                BookOrder(side, Price(p, price_precision), Quantity(q, size_precision), 0),
                f_snapshot | (f_last if i == last else 0),
                last_update_id,
                ts_event,
                ts_init,
            )
        )
    return deltas


def clear_delta(instrument_id: InstrumentId, sequence: int, ts_event: int, ts_init: int) -> OrderBookDelta:
    """The book emptied (one batch): how an out-of-sync book is shown to consumers, so nothing
    mistakes a stale book for a live one."""
    from nautilus_trader.model.data import NULL_ORDER
    from nautilus_trader.model.data import OrderBookDelta
    from nautilus_trader.model.enums import BookAction
    from nautilus_trader.model.enums import RecordFlag

    return OrderBookDelta(instrument_id, BookAction.CLEAR, NULL_ORDER, int(RecordFlag.F_LAST), sequence, ts_event, ts_init)
