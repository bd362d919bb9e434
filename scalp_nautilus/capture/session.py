"""One recorded symbol: its WebSocket connection (aiohttp), reconnects with backoff, the capture
writer, the watchdog, and what the heartbeat reports. Venue specifics (URL, subscription and its
confirmation, sequence checks, snapshots) live in the subclasses (`capture.binance`,
`capture.bybit`).

Start and later. Until a session is *ready* (its subscription confirmed and, with a book stream,
its first usable book snapshot written) anything that keeps it from recording is a start error
(`StartFailed`, one line): the connection cannot be opened or is lost, the venue refuses or does
not confirm the subscription, nothing arrives for `watchdog.silence_s` (on the connection, or on
its book stream), no usable snapshot within `watchdog.snapshot_s`. Once ready, the same
conditions raise alerts instead: a connection down for `watchdog.disconnected_s`, a feed silent for
`watchdog.silence_s` (then it reconnects), a snapshot late by `watchdog.snapshot_s`; reconnects
back off from `reconnect.initial_s` doubling to `max_s`.

Per message the session only stamps the receive time, checks the rotation time, finds the stream
and the few numbers it needs with a byte scan (`capture.scan`) and hands the bytes to the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import aiohttp

from scalp_nautilus.aio_tasks import TaskSet
from scalp_nautilus.capture.settings import CaptureSettings
from scalp_nautilus.capture.settings import VenueSettings
from scalp_nautilus.capture.writer import CaptureWriter
from scalp_nautilus.errors import InputError
from scalp_nautilus.units import NS_PER_S

log = logging.getLogger(__name__)

_MS = 1_000_000
_MESSAGE = (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY)

Alert = Callable[..., object]  # Alerts.send(key, title, body, level)


class StartFailed(InputError):
    """The capture cannot start: the message (one line) says what is wrong."""


class Session:
    """Records one symbol of one venue until `stop` is set. Counters: `messages` (per stream, whole
    run, up to the last heartbeat: `message_count` is the total), `reconnects`, `gaps`, `snapshots`;
    `window` the heartbeat's per-stream counts and lags; `clock_behind_ns` (below). `on_error`
    receives a failure of a task the session spawned."""

    def __init__(
        self,
        settings: CaptureSettings,
        venue: VenueSettings,
        symbol: str,
        http: aiohttp.ClientSession,
        alert: Alert,
        on_error: Callable[[asyncio.Task, BaseException], None] | None = None,
    ) -> None:
        self.settings = settings
        self.venue = venue
        self.symbol = symbol
        self.http = http
        self.alert = alert
        self.name = f"{venue.venue} {symbol}"
        self.folder = Path(settings.out_dir) / venue.venue / symbol
        self.writer = CaptureWriter(
            self.folder, symbol, settings.rotate_s, settings.flush_s, settings.level, settings.compression
        )
        self.messages: Counter = Counter()
        self.reconnects = 0
        self.gaps = 0
        self.snapshots = 0
        self.control = 0  # the venue's replies to our requests (not written)
        self.ready = False
        self.connected = asyncio.Event()
        self.window: Counter = Counter()
        self._lag_sum_ns = 0
        self._lag_n = 0
        self._lag_max_ns = -(2**63)
        # The most the local clock has been seen behind the exchange (event time after receive
        # time); never decreasing, so imports of consecutive files shift time by a non-decreasing
        # offset and their spans cannot overlap.
        self.clock_behind_ns = 0
        # Watchdog times (time.time_ns(): the receive stamps' clock).
        self.last_recv_ns = 0  # the last message
        self.book_recv_ns = 0  # the last message of the book stream
        self.subscribed_ns = 0  # the subscription was sent
        self.confirmed = False  # the venue confirmed it
        self.snapshot_asked_ns = 0  # a usable book snapshot is awaited since (0: none awaited)
        self.snapshot_error = ""  # why the last snapshot request failed
        self.disconnected_ns = 0  # the connection is down since (0: connected or never connected)
        self._ws: aiohttp.ClientWebSocketResponse[Literal[False]] | None = None
        self._closing = ""  # why we close the connection ourselves
        self._tasks = TaskSet(self.name, log, on_error)

    # ------------------------------------------------------------------ venue specifics

    def url(self) -> str:
        raise NotImplementedError

    async def on_connect(self, ws: aiohttp.ClientWebSocketResponse[Literal[False]], reconnect: bool) -> None:
        """Subscribe and reset the sequence state."""

    def on_message(self, recv_ns: int, data: bytes) -> None:
        raise NotImplementedError

    def on_rotate(self, now_ns: int) -> None:
        """A new file was opened: give it its own snapshot, so each file imports on its own."""

    @property
    def topics(self) -> list[str]:
        """What the session subscribes to (for messages)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ running

    async def run(self, stop: asyncio.Event) -> None:
        rc = self.settings.reconnect
        wait = rc.initial_s
        while not stop.is_set():
            started = time.monotonic()
            url = self.url()
            try:
                async with self.http.ws_connect(url, heartbeat=rc.ping_s, max_msg_size=0, autoping=True, decode_text=False) as ws:
                    self._ws = ws
                    now = time.time_ns()
                    if self.disconnected_ns:
                        self.reconnects += 1
                        self.writer.event("reconnects", now)
                        log.warning(
                            "%s: reconnected (reconnect %d) after %.1f s",
                            self.name,
                            self.reconnects,
                            (now - self.disconnected_ns) / NS_PER_S,
                        )
                    self.disconnected_ns = 0
                    self.last_recv_ns = self.book_recv_ns = self.subscribed_ns = now
                    self.confirmed = False
                    await self.on_connect(ws, reconnect=self.reconnects > 0 or self.ready)
                    self.connected.set()
                    await self._receive(ws)
                reason = self._closing or (f"closed by the server (code {ws.close_code})" if ws.close_code else "connection lost")
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                self._ws = None
                self._closing = ""
                self.connected.clear()
                self.cancel_tasks()
                if not self.disconnected_ns:
                    self.disconnected_ns = time.time_ns()
            if stop.is_set():
                break
            if not self.ready:
                raise StartFailed(f"{self.name}: {url}: {reason}")
            if time.monotonic() - started >= rc.stable_s:
                wait = rc.initial_s
            log.warning("%s: WebSocket %s; reconnecting in %.1f s", self.name, reason, wait)
            with contextlib.suppress(TimeoutError):  # the back-off elapsed without a stop
                await asyncio.wait_for(stop.wait(), wait)
            wait = min(wait * 2, rc.max_s)

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse[Literal[False]]) -> None:
        writer = self.writer
        on_message = self.on_message
        clock = time.time_ns
        async for msg in ws:
            recv_ns = clock()
            if msg.type in _MESSAGE:
                if recv_ns >= writer.period_end_ns:
                    self.rotate(recv_ns)
                self.last_recv_ns = recv_ns
                on_message(recv_ns, msg.data)
            else:
                break

    def tick(self, now_ns: int) -> None:
        """The clock's call: rotation during silence, and the flush."""
        if self.writer.path is None:  # files open with the first message
            return
        if now_ns >= self.writer.period_end_ns:
            self.rotate(now_ns)
        else:
            self.writer.maybe_flush(now_ns)

    def rotate(self, now_ns: int) -> None:
        """Open the next file once the period is over and the file holds its snapshot (a file
        closed before its snapshot could not be imported on its own); after a whole period more
        without one, rotate anyway and say so."""
        w = self.writer
        if w.path is not None and self.venue.book_stream is not None and not w.has_book:
            if now_ns < w.period_end_ns + w.rotate_ns:
                return
            log.warning("%s: %s closed without a usable book snapshot (none came in a whole period)", self.name, w.path.name)
            self.alert(f"no_snapshot:{self.name}", f"{self.name}: a file without a book snapshot", f"{w.path.name}", "warning")
        w.open(now_ns)
        self.on_file()
        self.on_rotate(now_ns)

    def on_file(self) -> None:
        """A file was opened (the venue's per-file state resets here)."""

    def close(self) -> None:
        self.cancel_tasks()
        self.writer.close()

    def spawn(self, coro) -> asyncio.Task:
        return self._tasks.spawn(coro)

    def cancel_tasks(self) -> None:
        self._tasks.cancel()

    def reconnect(self, reason: str) -> None:
        """Close the connection ourselves (the run loop reconnects)."""
        ws = self._ws
        if ws is not None and not ws.closed:
            self._closing = reason
            self.spawn(ws.close())

    # ------------------------------------------------------------------ the watchdog

    def watch(self, now_ns: int) -> None:
        """The clock's check (see the module doc): raises `StartFailed` before the session is
        ready, alerts after."""
        wd = self.settings.watchdog
        silence_ns, snapshot_ns = round(wd.silence_s * NS_PER_S), round(wd.snapshot_s * NS_PER_S)
        if self._ws is None:
            if self.ready and self.disconnected_ns and now_ns - self.disconnected_ns > wd.disconnected_s * NS_PER_S:
                self.alert(
                    f"disconnected:{self.name}",
                    f"{self.name}: disconnected",
                    f"no connection to {self.url()} for {(now_ns - self.disconnected_ns) / NS_PER_S:.0f} s",
                    "warning",
                )
            return
        problem = ""
        if not self.confirmed and now_ns - self.subscribed_ns > silence_ns:
            problem = f"the venue did not confirm the subscription to {', '.join(self.topics)} in {wd.silence_s:g} s"
        elif now_ns - self.last_recv_ns > silence_ns:
            problem = f"no message from {self.url()} in {wd.silence_s:g} s"
        elif self.venue.book_stream is not None and now_ns - self.book_recv_ns > silence_ns:
            problem = f"no message on its book stream {self.book_topic} in {wd.silence_s:g} s (is that depth served?)"
        elif self.snapshot_asked_ns and now_ns - self.snapshot_asked_ns > snapshot_ns:
            why = f" (last failure: {self.snapshot_error})" if self.snapshot_error else ""
            problem = f"no usable book snapshot in {wd.snapshot_s:g} s{why}"
            if self.ready:
                self.alert(f"no_snapshot:{self.name}", f"{self.name}: no book snapshot", problem, "warning")
                return
        if not problem:
            return
        if not self.ready:
            raise StartFailed(f"{self.name}: {problem}")
        self.alert(f"silent:{self.name}", f"{self.name}: feed silent", problem, "warning")
        self.reconnect(f"reconnecting: {problem}")

    @property
    def book_topic(self) -> str:
        raise NotImplementedError

    def became_ready(self) -> None:
        if not self.ready:
            self.ready = True
            log.info("%s: recording (subscription confirmed%s)", self.name, ", book synced" if self.venue.book_stream else "")

    # ------------------------------------------------------------------ bookkeeping

    @property
    def message_count(self) -> int:
        return sum(self.messages.values()) + sum(self.window.values())

    def record(self, recv_ns: int, stream: bytes, data: bytes, event_ms: int | None) -> None:
        self.writer.write(recv_ns, stream, data)
        self.window[stream] += 1
        if event_ms:
            lag_ns = recv_ns - event_ms * _MS
            if -lag_ns > self.clock_behind_ns:
                self.clock_behind_ns = -lag_ns
                self.writer.note("clock_behind_ns", -lag_ns)
            self._lag_sum_ns += lag_ns
            self._lag_n += 1
            if lag_ns > self._lag_max_ns:
                self._lag_max_ns = lag_ns

    def unreadable(self, recv_ns: int, data: bytes, why: str) -> None:
        """A message of no known shape: kept as received (the importer counts and skips it), logged."""
        log.warning("%s: unreadable message written as received (%s): %.80r", self.name, why, data)
        self.record(recv_ns, b"<unreadable>", data, None)

    def gap(self, recv_ns: int, reason: str) -> None:
        self.gaps += 1
        self.writer.event("gaps", recv_ns, reason=reason)
        log.warning("%s: sequence gap (%s): taking a fresh snapshot", self.name, reason)

    def heartbeat(self, period_s: float) -> str:
        """One line about the last period (and resets its counts)."""
        total = sum(self.window.values())
        streams = ", ".join(f"{k.decode()} {v}" for k, v in sorted(self.window.items())) or "none"
        lag = (
            f"lag ms mean {self._lag_sum_ns / self._lag_n / _MS:.0f} max {self._lag_max_ns / _MS:.0f}"
            if self._lag_n
            else "lag n/a"
        )
        line = (
            f"{self.name}: {total} messages in {period_s:.0f} s ({streams}); {lag}; gaps {self.gaps}, "
            f"reconnects {self.reconnects}, snapshots {self.snapshots}; "
            f"{'connected' if self.connected.is_set() else 'DISCONNECTED'}; "
            f"file {self.writer.path.name if self.writer.path else '-'}"
        )
        self.messages.update(self.window)
        self.window = Counter()
        self._lag_sum_ns, self._lag_n, self._lag_max_ns = 0, 0, -(2**63)
        return line
