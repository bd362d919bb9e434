"""Recording one Bybit linear symbol: ``orderbook.<depth>``, ``publicTrade`` and ``tickers`` on the
public v5 WebSocket, and the capturer's own check of the book's ``u`` chain.

Bybit sends a book snapshot on every subscription, so a snapshot needs no REST call: after a
reconnect the subscription brings one, and after a gap the capturer sees itself (``u`` not the
previous + 1, `UpdateChain`, the importer's and live client's rule) or at the start of a rotated
file it unsubscribes and subscribes the book again. Every message with a ``topic`` is written as
received; Bybit's replies to requests (``op``: subscribe, pong) are not market data and are only
counted, but a refused subscription (``success: false``) is an error at start and an alert later.
Bybit closes a connection that sends nothing for 10 minutes and asks clients to send
``{"op": "ping"}`` every 20 s, which `ping_s` does.
"""

from __future__ import annotations

import asyncio
import logging

import orjson

from scalp_nautilus.capture.scan import int_after
from scalp_nautilus.capture.scan import str_after
from scalp_nautilus.capture.session import Connection
from scalp_nautilus.capture.session import Session
from scalp_nautilus.capture.session import StartFailed
from scalp_nautilus.data.bybit_sync import UpdateChain
from scalp_nautilus.data.bybit_sync import Verdict

log = logging.getLogger(__name__)

RESUBSCRIBE_WAIT_S = 5.0
_TOPIC = b'{"topic":"'


class BybitSession(Session):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._topics = [f"{s}.{self.symbol}" for s in self.venue.resolved_streams]
        book = [t for t in self._topics if t.startswith("orderbook.")]
        self._book_topic = book[0] if book else None
        self._book = self._book_topic.encode() if self._book_topic else None
        self.chain = UpdateChain()
        self._resubscribing = False

    @property
    def topics(self) -> list[str]:
        return self._topics

    @property
    def book_topic(self) -> str:
        return self._book_topic or ""

    def url(self) -> str:
        return self.venue.ws

    @property
    def snapshot_pending(self) -> bool:
        return self._resubscribing and self._ws is not None  # (a reconnect's subscription brings one)

    def on_connect(self, ws: Connection, reconnect: bool) -> None:
        self.chain = UpdateChain()  # the subscription's snapshot starts the chain
        self._resubscribing = False
        ws.send(orjson.dumps({"op": "subscribe", "args": self._topics}).decode())
        self.spawn(self._ping(ws))

    async def _ping(self, ws: Connection) -> None:
        while not ws.closed:
            await asyncio.sleep(self.settings.reconnect.ping_s)
            ws.send('{"op":"ping"}')

    def on_message(self, recv_ns: int, data: bytes) -> None:
        found = str_after(data, _TOPIC) if data.startswith(_TOPIC) else None
        if found is None:
            self._other(recv_ns, data)
            return
        topic, end = found
        self.record(recv_ns, topic.rsplit(b".", 1)[0], data, int_after(data, b'"ts":', end))
        if topic != self._book:
            return
        self.book_recv_ns = recv_ns
        snapshot = data.startswith(b'"type":"snapshot"', end + 1)
        if snapshot:
            self.snapshots += 1
            self.writer.event("snapshots", recv_ns, reason="subscription")
            self.writer.has_book = True
            self._resubscribing = False
            self.snapshot_asked_ns = 0
            if self.confirmed:
                self.became_ready()
        verdict = self.chain.update(int_after(data, b'"u":', end), snapshot)
        if verdict is Verdict.GAP:
            self.gap(recv_ns, self.chain.gap_reason)
            self._resubscribe()

    def _other(self, recv_ns: int, data: bytes) -> None:
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            self.unreadable(recv_ns, data, str(exc))
            return
        if not isinstance(msg, dict):
            self.unreadable(recv_ns, data, "not a JSON object")
            return
        if msg.get("topic"):  # a market message laid out differently: still written as received
            self.record(recv_ns, str(msg["topic"]).rsplit(".", 1)[0].encode(), data, msg.get("ts"))
            return
        self.control += 1
        op = msg.get("op")
        if msg.get("success") is False:
            refusal = f"the venue refused the subscription to {', '.join(self._topics)}: {msg.get('ret_msg', '')}"
            if not self.ready:
                raise StartFailed(f"{self.name}: {refusal}")
            log.warning("%s: Bybit refused a request: %.200r", self.name, data)
            self.alert(f"refused:{self.name}", f"{self.name}: request refused", refusal, "failure")
            return
        if op == "subscribe" and not self.confirmed:
            self.confirmed = True
            if self._book_topic is None or self.writer.has_book:
                self.became_ready()
            else:
                self.snapshot_asked_ns = self.snapshot_asked_ns or recv_ns

    def on_rotate(self, now_ns: int) -> None:
        if self.chain.synced:
            self._resubscribe()

    def _resubscribe(self) -> None:
        """Ask for a fresh book snapshot: unsubscribe and subscribe the book topic again."""
        if self._ws is None or self._resubscribing or self._book_topic is None:
            return
        self._resubscribing = True
        ws = self._ws
        topic = self._book_topic

        async def resubscribe() -> None:
            # Asked again while no snapshot comes (a lost request); a reconnect cancels this task.
            while self._resubscribing and not ws.closed:
                ws.send(orjson.dumps({"op": "unsubscribe", "args": [topic]}).decode())
                ws.send(orjson.dumps({"op": "subscribe", "args": [topic]}).decode())
                await asyncio.sleep(RESUBSCRIBE_WAIT_S)
                if self._resubscribing:
                    log.warning("%s: no book snapshot %.0f s after re-subscribing; asking again", self.name, RESUBSCRIBE_WAIT_S)

        self.spawn(resubscribe())
