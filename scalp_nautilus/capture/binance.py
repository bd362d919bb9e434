"""Recording one Binance symbol (USDT-M, COIN-M or spot): the combined stream, REST depth
snapshots, and the capturer's own check of the diff chain.

- Connection: ``<base_url_ws>/stream``, then a ``SUBSCRIBE`` request for ``<symbol>@<stream>...``
  whose reply (``{"result": null, "id": n}``) confirms it; an error reply refuses it. Every market
  message is written as received (the combined-stream envelope), with its receive time; replies
  are only counted.
- Snapshots: the first depth diff of a connection is buffered by `BookSync` (Binance's rules, the
  importer's own), and only then is ``<base_url_http><depth_path>?symbol=..&limit=..`` requested,
  so the stream already holds the diff that brackets the snapshot; the REST body is written as
  received, as the line without ``stream`` that the importer takes for the snapshot. A snapshot
  older than the buffered diffs is asked for again after `reconnect.snapshot_retry_s`. A fresh
  snapshot is also taken after every reconnect (the chain state is reset), after every gap the
  capturer itself sees in the chain, and at the start of each rotated file; a rotation snapshot
  must reach back to the file's first diff (``U <= lastUpdateId + 1``), as the importer needs
  to read the file on its own, or it is asked for again.
- The chain: futures diffs carry ``pu`` (the previous diff's ``u``); spot diffs do not, their rule
  is ``U`` = previous ``u`` + 1 (`BookSync(spot=True)`, the importer's own).
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import orjson

from scalp_nautilus.capture.scan import int_after
from scalp_nautilus.capture.session import Connection
from scalp_nautilus.capture.session import Session
from scalp_nautilus.capture.session import StartFailed
from scalp_nautilus.data.binance_sync import BookSync
from scalp_nautilus.data.binance_sync import Sync
from scalp_nautilus.data.binance_sync import Verdict

log = logging.getLogger(__name__)

_STREAM = b'{"stream":"'
_SNAPSHOT = b"snapshot"


class _ChainDiff:
    __slots__ = ("U", "pu", "u")

    def __init__(self, U: int, u: int, pu: int | None) -> None:
        self.U, self.u, self.pu = U, u, pu


class BinanceSession(Session):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.spot = self.venue.venue == "binance-spot"
        self.streams = [f"{self.symbol.lower()}@{s}" for s in self.venue.resolved_streams]
        depth = [s for s in self.streams if s.split("@")[1] == "depth"]
        self.depth_stream = depth[0] if depth else None
        self._depth = self.depth_stream.encode() if self.depth_stream else None
        self.sync = BookSync(spot=self.spot)
        self._snapshot_task: asyncio.Task | None = None
        self._snapshot_reason = "start"
        self._request_id = 0
        self._file_first: _ChainDiff | None = None  # the first depth diff of the open file

    @property
    def topics(self) -> list[str]:
        return self.streams

    @property
    def book_topic(self) -> str:
        return self.depth_stream or ""

    def url(self) -> str:
        return f"{self.venue.ws}/stream"

    def on_connect(self, ws: Connection, reconnect: bool) -> None:
        self._snapshot_task = None
        if reconnect:
            self.sync.invalidate("reconnect")
            self._snapshot_reason = "reconnect"
        self._request_id += 1
        ws.send(orjson.dumps({"method": "SUBSCRIBE", "params": self.streams, "id": self._request_id}).decode())

    def on_file(self) -> None:
        self._file_first = None

    @property
    def snapshot_pending(self) -> bool:
        return self._snapshot_task is not None and not self._snapshot_task.done()

    def on_message(self, recv_ns: int, data: bytes) -> None:
        if data.startswith(_STREAM):
            end = data.find(b'"', 11)  # the stream name's closing quote
            if end > 11:
                stream = data[11:end]
                self.record(recv_ns, stream, data, int_after(data, b'"E":', end))
                if stream == self._depth:
                    self.book_recv_ns = recv_ns
                    U, u = int_after(data, b'"U":', end), int_after(data, b'"u":', end)
                    if U is None or u is None:
                        self.unreadable_diff(recv_ns, data)
                        return
                    diff = _ChainDiff(U, u, None if self.spot else int_after(data, b'"pu":', end))
                    if self._file_first is None:
                        self._file_first = diff
                    self._judge(recv_ns, diff)
                return
        self._other(recv_ns, data)

    def unreadable_diff(self, recv_ns: int, data: bytes) -> None:
        """A depth diff whose ids cannot be read: it is written (the importer will break the chain
        there too), and the chain is taken as broken."""
        log.warning("%s: depth diff without readable U/u: %.80r", self.name, data)
        self.sync.invalidate("an unreadable depth diff")
        self._snapshot_reason = "gap"
        self.gap(recv_ns, "an unreadable depth diff")
        self._want_snapshot()

    def _other(self, recv_ns: int, data: bytes) -> None:
        """Not a market message of the expected shape: a reply to our request, or something else."""
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            self.unreadable(recv_ns, data, str(exc))
            return
        if not isinstance(msg, dict):
            self.unreadable(recv_ns, data, "not a JSON object")
            return
        if "stream" in msg:  # a market message laid out differently: still written as received
            data_ = msg.get("data") or {}
            self.record(recv_ns, str(msg["stream"]).encode(), data, data_.get("E") if isinstance(data_, dict) else None)
            return
        if "id" in msg and ("result" in msg or "error" in msg or "code" in msg):
            self.control += 1
            if msg.get("error") is None and "code" not in msg:
                if not self.confirmed:
                    self.confirmed = True
                    self._check_ready()
                return
            err = msg.get("error") or msg
            refusal = f"the venue refused the subscription to {', '.join(self.streams)}: {err.get('msg', err)}"
            if not self.ready:
                raise StartFailed(f"{self.name}: {refusal}")
            self.alert(f"refused:{self.name}", f"{self.name}: subscription refused", refusal, "failure")
            self.reconnect(refusal)
            return
        self.unreadable(recv_ns, data, "neither a stream message nor a reply")

    def _check_ready(self) -> None:
        if self.confirmed and (self.depth_stream is None or self.sync.state is not Sync.WAITING_SNAPSHOT):
            self.became_ready()

    def _judge(self, recv_ns: int, diff: _ChainDiff) -> None:
        verdict = self.sync.diff(diff)
        if verdict is Verdict.BUFFERED:
            self._want_snapshot()
        elif verdict is Verdict.GAP:
            self.gap(recv_ns, self.sync.gap_reason)
            self._snapshot_reason = "gap"
            self._want_snapshot()

    def on_rotate(self, now_ns: int) -> None:
        if self.sync.state is Sync.SYNCED:
            self._snapshot_reason = "rotation"
            self._want_snapshot()

    def _want_snapshot(self) -> None:
        if self._snapshot_task is None or self._snapshot_task.done():
            if not self.snapshot_asked_ns:
                self.snapshot_asked_ns = time.time_ns()
            self._snapshot_task = self.spawn(self._take_snapshot(self._snapshot_reason))

    def _reaches_file_start(self, last_id: int) -> bool:
        """A snapshot taken in sync serves the open file on its own only if it reaches back to the
        file's first diff (the importer drops the diffs it holds and needs the next one to bracket it)."""
        first = self._file_first
        nxt = 1 if self.spot else 0
        return first is None or first.U <= last_id + nxt or (not self.spot and first.pu == last_id)

    async def _take_snapshot(self, reason: str) -> None:
        rc = self.settings.reconnect
        wait = rc.snapshot_retry_s
        params = {"symbol": self.symbol, "limit": str(self.venue.snapshot_limit)}
        url = f"{self.venue.http}{self.venue.depth_endpoint}"
        while True:
            try:
                async with self.http.get(url, params=params, timeout=aiohttp.ClientTimeout(total=rc.http_timeout_s)) as resp:
                    body = await resp.read()
                    recv_ns = time.time_ns()
                    if resp.status != 200:
                        raise _RestError(f"HTTP {resp.status} from {url}: {body[:200].decode(errors='replace')}")
                last_id = orjson.loads(body)["lastUpdateId"]
                if not isinstance(last_id, int):
                    raise _RestError(f"lastUpdateId {last_id!r} is not an update id")
            except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError, KeyError, TypeError, _RestError) as exc:
                self.snapshot_error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, _RestError) else str(exc)
                log.warning("%s: depth snapshot request failed (%s); retrying in %.1f s", self.name, self.snapshot_error, wait)
                await asyncio.sleep(wait)
                wait = min(wait * 2, rc.max_s)
                continue
            # Into the open file even past its period: the clock does not close a file while a
            # snapshot is on its way (`Session.tick`), and the diffs that asked for it are there.
            self.record(recv_ns, _SNAPSHOT, body, None)
            self.snapshots += 1
            if self.sync.state is Sync.SYNCED:
                usable = self._reaches_file_start(last_id)
                self.writer.event("snapshots", recv_ns, last_update_id=last_id, reason=reason, usable=usable)
                if not usable:
                    log.info("%s: snapshot %d does not reach the file's first diff; asking again", self.name, last_id)
                    await asyncio.sleep(rc.snapshot_retry_s)
                    continue
                log.info("%s: snapshot %d written (%s)", self.name, last_id, reason)
                self._snapshot_done()
                return
            usable, _, replay = self.sync.snapshot(last_id)
            self.writer.event("snapshots", recv_ns, last_update_id=last_id, reason=reason, usable=usable)
            if not usable:
                log.warning(
                    "%s: snapshot %d is older than the buffered diffs (first U=%d); asking again in %.1f s",
                    self.name,
                    last_id,
                    self.sync.buffer[0].U,
                    rc.snapshot_retry_s,
                )
                await asyncio.sleep(rc.snapshot_retry_s)
                continue
            log.info(
                "%s: snapshot %d written (%s); %d buffered diffs checked against it", self.name, last_id, reason, len(replay)
            )
            self._snapshot_done()
            self._snapshot_task = None  # a gap among the buffered diffs must be able to ask again
            for diff in replay:
                self._judge(recv_ns, diff)
            return

    def _snapshot_done(self) -> None:
        self.writer.has_book = True
        self.snapshot_asked_ns = 0
        self.snapshot_error = ""
        self._check_ready()


class _RestError(Exception):
    pass
