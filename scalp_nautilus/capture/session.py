"""One recorded symbol: its WebSocket connection (aiohttp), reconnects with backoff, the capture
writer, and what the heartbeat reports. Venue specifics (URL, subscription, sequence checks,
snapshots) live in the subclasses (`record.binance`, `record.bybit`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from pathlib import Path

import aiohttp

from scalp_nautilus.aio_tasks import TaskSet
from scalp_nautilus.capture.settings import CaptureSettings
from scalp_nautilus.capture.settings import VenueSettings
from scalp_nautilus.capture.writer import CaptureWriter

log = logging.getLogger(__name__)

_MS = 1_000_000


class Session:
    """Records one symbol of one venue until `stop` is set. Counters: `messages` (per stream, whole
    run), `reconnects`, `gaps`, `snapshots`; `window` the heartbeat's per-stream counts and lags;
    `clock_behind_ns` (below)."""

    def __init__(self, settings: CaptureSettings, venue: VenueSettings, symbol: str, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.venue = venue
        self.symbol = symbol
        self.http = http
        self.name = f"{venue.venue} {symbol}"
        self.folder = Path(settings.out_dir) / venue.venue / symbol
        self.writer = CaptureWriter(self.folder, symbol, settings.rotate_s, settings.flush_s, settings.compress_level)
        self.messages: Counter = Counter()
        self.reconnects = 0
        self.gaps = 0
        self.snapshots = 0
        self.connected = asyncio.Event()
        self.window: Counter = Counter()
        self._lag_sum_ms = 0.0
        self._lag_n = 0
        self._lag_max_ms = float("-inf")
        # The most the local clock has been seen behind the exchange (event time after receive
        # time); never decreasing, so imports of consecutive files shift time by a non-decreasing
        # offset and their spans cannot overlap.
        self.clock_behind_ns = 0
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._tasks = TaskSet(self.name, log)

    # ------------------------------------------------------------------ venue specifics

    def url(self) -> str:
        raise NotImplementedError

    async def on_connect(self, ws: aiohttp.ClientWebSocketResponse, reconnect: bool) -> None:
        """Subscribe (when the URL does not) and reset the sequence state."""

    def on_message(self, recv_ns: int, text: str) -> None:
        raise NotImplementedError

    def on_rotate(self, now_ns: int) -> None:
        """A new file was opened: give it its own snapshot, so each file imports on its own."""

    # ------------------------------------------------------------------ running

    async def run(self, stop: asyncio.Event) -> None:
        rc = self.settings.reconnect
        wait = rc.initial_s
        first = True
        while not stop.is_set():
            started = time.monotonic()
            try:
                async with self.http.ws_connect(self.url(), heartbeat=rc.ping_s, max_msg_size=0, autoping=True) as ws:
                    self._ws = ws
                    if not first:
                        self.reconnects += 1
                        now = time.time_ns()
                        self.writer.event("reconnects", now)
                        log.warning("%s: reconnected (reconnect %d)", self.name, self.reconnects)
                    await self.on_connect(ws, reconnect=not first)
                    first = False
                    self.connected.set()
                    async for msg in ws:
                        recv_ns = time.time_ns()
                        if msg.type is aiohttp.WSMsgType.TEXT:
                            self.tick(recv_ns)
                            self.on_message(recv_ns, msg.data)
                        elif msg.type is aiohttp.WSMsgType.BINARY:
                            self.tick(recv_ns)
                            self.on_message(recv_ns, msg.data.decode())
                        elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                            break
                reason = f"closed by the server (code {ws.close_code})" if ws.close_code else "connection lost"
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                self._ws = None
                self.connected.clear()
                self.cancel_tasks()
            if stop.is_set():
                break
            if time.monotonic() - started >= rc.stable_s:
                wait = rc.initial_s
            log.warning("%s: WebSocket %s; reconnecting in %.1f s", self.name, reason, wait)
            with contextlib.suppress(TimeoutError):  # the back-off elapsed without a stop
                await asyncio.wait_for(stop.wait(), wait)
            wait = min(wait * 2, rc.max_s)

    def tick(self, now_ns: int) -> None:
        """Rotation and flushing (called on every message and by the capturer's clock)."""
        if self.writer.due(now_ns):
            self.writer.open(now_ns)
            self.on_rotate(now_ns)
        else:
            self.writer.maybe_flush(now_ns)

    def close(self) -> None:
        self.cancel_tasks()
        self.writer.close()

    def spawn(self, coro) -> asyncio.Task:
        return self._tasks.spawn(coro)

    def cancel_tasks(self) -> None:
        self._tasks.cancel()

    # ------------------------------------------------------------------ bookkeeping

    def record(self, recv_ns: int, stream: str, text: str, event_ms: int | None) -> None:
        self.writer.write(recv_ns, stream, text)
        self.messages[stream] += 1
        self.window[stream] += 1
        if event_ms:
            ahead_ns = event_ms * _MS - recv_ns
            if ahead_ns > self.clock_behind_ns:
                self.clock_behind_ns = ahead_ns
                self.writer.note("clock_behind_ns", ahead_ns)
            lag = -ahead_ns / _MS
            self._lag_sum_ms += lag
            self._lag_n += 1
            self._lag_max_ms = max(self._lag_max_ms, lag)

    def unreadable(self, recv_ns: int, text: str, exc: Exception) -> None:
        """A message that is not JSON: kept as received (the importer counts and skips it), logged."""
        log.warning("%s: unreadable message written as received (%s): %.80r", self.name, exc, text)
        self.record(recv_ns, "<unreadable>", text, None)

    def gap(self, recv_ns: int, reason: str) -> None:
        self.gaps += 1
        self.writer.event("gaps", recv_ns, reason=reason)
        log.warning("%s: sequence gap (%s): taking a fresh snapshot", self.name, reason)

    def heartbeat(self, period_s: float) -> str:
        """One line about the last period (and resets its counts)."""
        total = sum(self.window.values())
        streams = ", ".join(f"{k} {v}" for k, v in sorted(self.window.items())) or "none"
        lag = f"lag ms mean {self._lag_sum_ms / self._lag_n:.0f} max {self._lag_max_ms:.0f}" if self._lag_n else "lag n/a"
        line = (
            f"{self.name}: {total} messages in {period_s:.0f} s ({streams}); {lag}; gaps {self.gaps}, "
            f"reconnects {self.reconnects}, snapshots {self.snapshots}; "
            f"{'connected' if self.connected.is_set() else 'DISCONNECTED'}; "
            f"file {self.writer.path.name if self.writer.path else '-'}"
        )
        self.window = Counter()
        self._lag_sum_ms, self._lag_n, self._lag_max_ms = 0.0, 0, float("-inf")
        return line
