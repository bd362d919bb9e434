"""Recording one Bybit linear symbol: ``orderbook.<depth>``, ``publicTrade`` and ``tickers`` on the
public v5 WebSocket, and the capturer's own check of the book's ``u`` chain.

Bybit sends a book snapshot on every subscription, so a snapshot needs no REST call: after a
reconnect the subscription brings one, and after a gap the capturer sees itself (``u`` not the
previous + 1, `UpdateChain`, the importer's and live client's rule) or at the start of a rotated
file it unsubscribes and subscribes the book again. Every message with a ``topic`` is written as
received; Bybit's replies to requests (``op``: subscribe, pong) are not market data and are only
counted. Bybit closes a connection that sends nothing for 10 minutes and asks clients to send
``{"op": "ping"}`` every 20 s, which `ping_s` does.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec

from scalp_nautilus.capture.session import Session
from scalp_nautilus.data.bybit_sync import UpdateChain
from scalp_nautilus.data.bybit_sync import Verdict

log = logging.getLogger(__name__)

RESUBSCRIBE_WAIT_S = 5.0


class _BookData(msgspec.Struct):
    u: int | None = None


class _Message(msgspec.Struct):
    topic: str = ""
    type: str = ""
    ts: int | None = None
    op: str = ""
    success: bool | None = None
    ret_msg: str = ""


class _BookMessage(msgspec.Struct):
    data: _BookData


class BybitSession(Session):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.topics = [f"{s}.{self.symbol}" for s in self.venue.resolved_streams]
        book = [t for t in self.topics if t.startswith("orderbook.")]
        self.book_topic = book[0] if book else None
        self.chain = UpdateChain()
        self.control = 0  # replies to our requests (not written)
        self._decode = msgspec.json.Decoder(_Message).decode
        self._decode_book = msgspec.json.Decoder(_BookMessage).decode
        self._resubscribing = False

    def url(self) -> str:
        return self.venue.ws

    async def on_connect(self, ws, reconnect: bool) -> None:
        self.chain = UpdateChain()  # the subscription's snapshot starts the chain
        self._resubscribing = False
        await ws.send_str(msgspec.json.encode({"op": "subscribe", "args": self.topics}).decode())
        self.spawn(self._ping(ws))

    async def _ping(self, ws) -> None:
        while not ws.closed:
            await asyncio.sleep(self.settings.reconnect.ping_s)
            await ws.send_str('{"op":"ping"}')

    def on_message(self, recv_ns: int, text: str) -> None:
        try:
            msg = self._decode(text)
        except msgspec.DecodeError as exc:
            self.unreadable(recv_ns, text, exc)
            return
        if not msg.topic:
            self.control += 1
            if msg.success is False:
                log.warning("%s: Bybit refused a request: %s", self.name, text[:200])
            return
        self.record(recv_ns, msg.topic.rsplit(".", 1)[0], text, msg.ts)
        if msg.topic != self.book_topic:
            return
        snapshot = msg.type == "snapshot"
        if snapshot:
            self.snapshots += 1
            self.writer.event("snapshots", recv_ns, reason="subscription")
            self._resubscribing = False
        verdict = self.chain.update(self._decode_book(text).data.u, snapshot)
        if verdict is Verdict.GAP:
            self.gap(recv_ns, self.chain.gap_reason)
            self._resubscribe()

    def on_rotate(self, now_ns: int) -> None:
        if self.chain.synced:
            self._resubscribe()

    def _resubscribe(self) -> None:
        """Ask for a fresh book snapshot: unsubscribe and subscribe the book topic again."""
        if self._ws is None or self._resubscribing or self.book_topic is None:
            return
        self._resubscribing = True
        ws = self._ws

        async def resubscribe() -> None:
            # Asked again while no snapshot comes (a lost request); a reconnect cancels this task.
            while self._resubscribing and not ws.closed:
                await ws.send_str(msgspec.json.encode({"op": "unsubscribe", "args": [self.book_topic]}).decode())
                await ws.send_str(msgspec.json.encode({"op": "subscribe", "args": [self.book_topic]}).decode())
                await asyncio.sleep(RESUBSCRIBE_WAIT_S)
                if self._resubscribing:
                    log.warning("%s: no book snapshot %.0f s after re-subscribing; asking again", self.name, RESUBSCRIBE_WAIT_S)

        self.spawn(resubscribe())
