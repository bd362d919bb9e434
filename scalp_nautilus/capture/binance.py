"""Recording one Binance symbol (USDT-M, COIN-M or spot): the combined stream, REST depth
snapshots, and the capturer's own check of the diff chain.

- Connection: ``<base_url_ws>/stream?streams=<symbol>@<stream>/...``: every message is written as
  received (the combined-stream envelope), with its receive time.
- Snapshots: the first depth diff of a connection is buffered by `BookSync` (Binance's rules, the
  importer's own), and only then is ``<base_url_http><depth_path>?symbol=..&limit=..`` requested,
  so the stream already holds the diff that brackets the snapshot; the REST body is written as
  received, as the line without ``stream`` that the importer takes for the snapshot. A snapshot
  older than the buffered diffs is asked for again after `reconnect.snapshot_retry_s`. A fresh
  snapshot is also taken after every reconnect (the chain state is reset) and after every gap the
  capturer itself sees in the chain, and at the start of each rotated file (so a file imports on
  its own; in a folder read as one capture the importer ignores a snapshot taken in sync).
- The chain: futures diffs carry ``pu`` (the previous diff's ``u``); spot diffs do not, their rule
  is ``U`` = previous ``u`` + 1 (`BookSync(spot=True)`, the importer's own).
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import msgspec

from scalp_nautilus.capture.session import Session
from scalp_nautilus.data.binance_sync import BookSync
from scalp_nautilus.data.binance_sync import Sync
from scalp_nautilus.data.binance_sync import Verdict

log = logging.getLogger(__name__)


class _Data(msgspec.Struct):
    E: int | None = None
    U: int | None = None
    u: int | None = None
    pu: int | None = None


class _Envelope(msgspec.Struct):
    stream: str = ""
    data: _Data | None = None


class _Snapshot(msgspec.Struct):
    lastUpdateId: int


class _ChainDiff(msgspec.Struct, array_like=True):
    U: int
    u: int
    pu: int | None


class BinanceSession(Session):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.spot = self.venue.venue == "binance-spot"
        self.streams = [f"{self.symbol.lower()}@{s}" for s in self.venue.resolved_streams]
        depth = [s for s in self.streams if s.split("@")[1] == "depth"]
        self.depth_stream = depth[0] if depth else None
        self.sync = BookSync(spot=self.spot)
        self._decode = msgspec.json.Decoder(_Envelope).decode
        self._snapshot_task: asyncio.Task | None = None
        self._snapshot_reason = "start"

    def url(self) -> str:
        return f"{self.venue.ws}/stream?streams={'/'.join(self.streams)}"

    async def on_connect(self, ws, reconnect: bool) -> None:
        self._snapshot_task = None
        if reconnect:
            self.sync.invalidate("reconnect")
            self._snapshot_reason = "reconnect"

    def on_message(self, recv_ns: int, text: str) -> None:
        try:
            msg = self._decode(text)
        except msgspec.DecodeError as exc:
            self.unreadable(recv_ns, text, exc)
            return
        data = msg.data
        self.record(recv_ns, msg.stream or "<no stream>", text, data.E if data is not None else None)
        if msg.stream == self.depth_stream and data is not None and data.U is not None and data.u is not None:
            self._judge(recv_ns, _ChainDiff(data.U, data.u, data.pu))

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
            self._snapshot_task = self.spawn(self._take_snapshot(self._snapshot_reason))

    async def _take_snapshot(self, reason: str) -> None:
        rc = self.settings.reconnect
        wait = rc.snapshot_retry_s
        params = {"symbol": self.symbol, "limit": str(self.venue.snapshot_limit)}
        url = f"{self.venue.http}{self.venue.depth_endpoint}"
        while True:
            try:
                async with self.http.get(url, params=params, timeout=aiohttp.ClientTimeout(total=rc.http_timeout_s)) as resp:
                    body = await resp.text()
                    recv_ns = time.time_ns()
                    if resp.status != 200:
                        raise _RestError(f"HTTP {resp.status}: {body[:200]}")
                last_id = msgspec.json.decode(body, type=_Snapshot).lastUpdateId
            except (aiohttp.ClientError, TimeoutError, msgspec.DecodeError, _RestError) as exc:
                log.warning("%s: depth snapshot request failed (%s); retrying in %.1f s", self.name, exc, wait)
                await asyncio.sleep(wait)
                wait = min(wait * 2, rc.max_s)
                continue
            self.tick(recv_ns)
            self.record(recv_ns, "snapshot", body, None)
            self.snapshots += 1
            self.writer.event("snapshots", recv_ns, last_update_id=last_id, reason=reason)
            if self.sync.state is Sync.SYNCED:
                log.info("%s: snapshot %d written (%s)", self.name, last_id, reason)
                return
            usable, _, replay = self.sync.snapshot(last_id)
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
            self._snapshot_task = None  # a gap among the buffered diffs must be able to ask again
            for diff in replay:
                self._judge(recv_ns, diff)
            return


class _RestError(Exception):
    pass
