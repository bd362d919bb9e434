"""Bybit's order-book update chain: the one implementation, shared by the live data client
(`scalp_nautilus.live.bybit`), the capture importer (`data.bybit_capture`) and the capturer.

Bybit numbers each message of a book subscription with ``u``, one more than the previous; a
snapshot, or ``u == 1`` (Bybit restarted the service), starts the numbering again
(https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook).
"""

from __future__ import annotations

from enum import Enum


class Verdict(Enum):
    APPLY = 0  # the next update of the chain
    SNAPSHOT = 1  # a snapshot (or u == 1): the chain starts here; apply it
    DROP = 2  # out of sync, waiting for a snapshot
    GAP = 3  # the chain broke here: out of sync from now on (the batch is not applied)


class UpdateChain:
    """The ``u`` chain of one book subscription. Only judges; the caller applies, clears and asks
    for snapshots. `gap_reason` says why the last break happened."""

    def __init__(self) -> None:
        self.synced = False
        self.last_u: int | None = None  # None while synced: a snapshot without levels carried no u
        self.gap_reason = ""

    def update(self, u: int | None, snapshot: bool) -> Verdict:
        """Judge the next batch (in arrival order): its update id and whether it is a snapshot."""
        if snapshot or u == 1:
            self.synced = True
            self.last_u = u
            return Verdict.SNAPSHOT
        if not self.synced:
            return Verdict.DROP
        if self.last_u is not None and u != self.last_u + 1:
            self.synced = False
            self.gap_reason = f"u={u} after u={self.last_u}"
            self.last_u = None
            return Verdict.GAP
        self.last_u = u
        return Verdict.APPLY
