"""One recorded symbol: its WebSocket connection (picows), reconnects with backoff, the capture
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
The WebSocket is picows's, not aiohttp's (which still makes the REST calls): picows parses frames in
Cython and calls `_Frames.on_ws_frame` for each one straight from the socket's read callback, while
aiohttp's `async for` put every message through a queue, a future and a task switch. That was most
of the capture's cost per message at the exchanges' real rates, where nearly every message is a
wake-up of its own (bench/bench_record.py, docs/benchmarks.md).

Over wss:// the TLS is picows's default (aiofastnet's), with Python's default SSL context: the
system's CAs, or `SSL_CERT_FILE` (OpenSSL's own variable) for a private CA, and the host name
checked. A certificate not trusted fails the connection like any other (a one-line `StartFailed`
at start); tests/test_capture_websocket.py runs it against a local wss:// server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import cast

import aiohttp
from picows import WSAutoPingStrategy
from picows import WSCloseCode
from picows import WSError
from picows import WSFrame
from picows import WSListener
from picows import WSMsgType
from picows import WSTransport
from picows import ws_connect

from scalp_nautilus.aio_tasks import TaskSet
from scalp_nautilus.capture.settings import CaptureSettings
from scalp_nautilus.capture.settings import VenueSettings
from scalp_nautilus.capture.writer import CaptureWriter
from scalp_nautilus.errors import InputError
from scalp_nautilus.units import NS_PER_S

log = logging.getLogger(__name__)

_MS = 1_000_000
_DATA = (WSMsgType.TEXT.value, WSMsgType.BINARY.value)
_CONTINUATION, _CLOSE = WSMsgType.CONTINUATION.value, WSMsgType.CLOSE.value
_MAX_FRAME = 1 << 26  # picows needs a limit; the venues' messages are kilobytes (REST snapshots do not come this way)

Alert = Callable[..., object]  # Alerts.send(key, title, body, level)


class StartFailed(InputError):
    """The capture cannot start: the message (one line) says what is wrong."""


class Connection:
    """The venue code's handle on the open WebSocket."""

    __slots__ = ("transport",)

    def __init__(self, transport: WSTransport) -> None:
        self.transport = transport

    @property
    def closed(self) -> bool:
        return self.transport.is_disconnected or self.transport.is_close_frame_sent

    def send(self, text: str) -> None:
        """Queue a text message (picows writes it without blocking; nothing is sent once closing)."""
        self.transport.send(WSMsgType.TEXT, text.encode())

    def close(self) -> None:
        if not self.transport.is_disconnected:
            self.transport.send_close(WSCloseCode.OK)
            self.transport.disconnect()


class _Frames(WSListener):
    """Hands each message to its session as it is parsed. An exception from the session (a failed
    write, a start error) ends the connection and is raised again by `Session.run`."""

    def __init__(self, on_data: Callable[[bytes], None]) -> None:
        self.on_data = on_data
        self.error: Exception | None = None
        self.reads = 0  # socket reads that brought whole frames (wake-ups, nearly)
        self.close_code = 0  # the server's CLOSE frame's code, when it sent one
        self._parts: list[bytes] = []  # a message fragmented over several frames

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if self.error is not None:
            return
        try:
            kind = frame.msg_type
            if kind in _DATA:
                if frame.fin:
                    self.on_data(frame.get_payload_as_bytes())
                else:
                    self._parts = [frame.get_payload_as_bytes()]
            elif kind == _CONTINUATION:
                self._parts.append(frame.get_payload_as_bytes())
                if frame.fin:
                    data, self._parts = b"".join(self._parts), []
                    self.on_data(data)
            elif kind == _CLOSE:
                self.close_code = frame.get_close_code().value
                transport.send_close(WSCloseCode.OK)
                transport.disconnect()
        except Exception as exc:  # noqa: BLE001 (raised again by Session.run, outside picows's callback)
            self.error = exc
            transport.disconnect(graceful=False)
            return
        if frame.last_in_buffer:
            self.reads += 1


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
        self._reads_before = 0  # socket reads of the connections before the current one
        self._reads_at_beat = 0
        self._frames: _Frames | None = None
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
        self._ws: Connection | None = None
        self._closing = ""  # why we close the connection ourselves
        self._tasks = TaskSet(self.name, log, on_error)

    # ------------------------------------------------------------------ venue specifics

    def url(self) -> str:
        raise NotImplementedError

    def on_connect(self, ws: Connection, reconnect: bool) -> None:
        """Subscribe and reset the sequence state."""

    def on_message(self, recv_ns: int, data: bytes) -> None:
        raise NotImplementedError

    def on_rotate(self, now_ns: int) -> None:
        """A new file was opened: give it its own snapshot, so each file imports on its own."""

    @property
    def topics(self) -> list[str]:
        """What the session subscribes to (for messages)."""
        raise NotImplementedError

    @property
    def snapshot_pending(self) -> bool:
        """A book snapshot was asked for and is not written yet."""
        raise NotImplementedError

    # ------------------------------------------------------------------ running

    async def run(self, stop: asyncio.Event) -> None:
        rc = self.settings.reconnect
        wait = rc.initial_s
        while not stop.is_set():
            started = time.monotonic()
            url = self.url()
            frames: _Frames | None = None
            try:
                async with asyncio.timeout(rc.http_timeout_s):
                    transport, listener = await ws_connect(
                        lambda: _Frames(self.on_data),
                        url,
                        websocket_handshake_timeout=rc.http_timeout_s,
                        # aiohttp's heartbeat: a ping after ping_s without a message, and no pong
                        # within half of it is a lost connection.
                        enable_auto_ping=True,
                        auto_ping_idle_timeout=rc.ping_s,
                        auto_ping_reply_timeout=rc.ping_s / 2,
                        auto_ping_strategy=WSAutoPingStrategy.PING_WHEN_IDLE,
                        max_frame_size=_MAX_FRAME,
                        logger_name=log,
                    )
                frames = self._frames = cast(_Frames, listener)
                self._ws = Connection(transport)
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
                self.on_connect(self._ws, reconnect=self.reconnects > 0 or self.ready)
                self.connected.set()
                try:
                    await transport.wait_disconnected()
                finally:
                    transport.disconnect(graceful=False)  # a cancelled wait (a stop) must not leave it open
                code = frames.close_code
                reason = self._closing or (f"closed by the server (code {code})" if code else "connection lost")
            except (TimeoutError, WSError, OSError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                if frames is not None:
                    self._reads_before += frames.reads
                self._ws, self._frames = None, None
                self._closing = ""
                self.connected.clear()
                self.cancel_tasks()
                if not self.disconnected_ns:
                    self.disconnected_ns = time.time_ns()
            if frames is not None and frames.error is not None:
                raise frames.error  # from the session's own code (a failed write, a start error): not a lost connection
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

    def on_data(self, data: bytes) -> None:
        """A message (picows's callback, per message)."""
        recv_ns = time.time_ns()
        if recv_ns >= self.writer.period_end_ns:  # the period is over, or no file is open (0)
            self.rotate(recv_ns)
        self.last_recv_ns = recv_ns
        self.on_message(recv_ns, data)

    def tick(self, now_ns: int) -> None:
        """The clock's call: the flush, and the end of a period in silence. The file is closed
        then (as `rotate` would) and none is opened: the next message opens the next file. (A
        file the clock opened held only its rotation snapshot when nothing came after it, and a
        Binance REST snapshot names no symbol: that file did not import on its own.) Nor is a
        file closed while a book snapshot is on its way: it belongs with the diffs that asked
        for it, and so every snapshot goes into a file a message opened."""
        w = self.writer
        if not w.is_open:
            return
        if now_ns >= w.period_end_ns and not self.snapshot_pending and self._may_close(now_ns):
            w.close()
        else:
            w.maybe_flush(now_ns)

    def rotate(self, now_ns: int) -> None:
        """A message came after the period's end (or with no file open): open the next file,
        once the open one may be closed."""
        if self.writer.is_open and not self._may_close(now_ns):
            return
        self.writer.open(now_ns)
        self.on_file()
        self.on_rotate(now_ns)

    def _may_close(self, now_ns: int) -> bool:
        """The open file, its period over, is closed only once it holds its snapshot (a file
        closed before its snapshot could not be imported on its own); after a whole period more
        without one, anyway, and said."""
        w = self.writer
        if self.venue.book_stream is not None and not w.has_book:
            if now_ns < w.period_end_ns + w.rotate_ns:
                return False
            assert w.path is not None  # open
            log.warning("%s: %s closed without a usable book snapshot (none came in a whole period)", self.name, w.path.name)
            self.alert(f"no_snapshot:{self.name}", f"{self.name}: a file without a book snapshot", w.path.name, "warning")
        return True

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
            ws.close()

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
    def reads(self) -> int:
        """Socket reads that brought messages, every connection's: the process's wake-ups, which at
        the venues' real rates cost more than what is done with each message (docs/benchmarks.md)."""
        return self._reads_before + (self._frames.reads if self._frames is not None else 0)

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
        reads = self.reads
        line = (
            f"{self.name}: {total} messages in {period_s:.0f} s ({streams}; {reads - self._reads_at_beat} reads); "
            f"{lag}; gaps {self.gaps}, "
            f"reconnects {self.reconnects}, snapshots {self.snapshots}; "
            f"{'connected' if self.connected.is_set() else 'DISCONNECTED'}; "
            f"file {self.writer.path.name if self.writer.path is not None and self.writer.is_open else '-'}"
        )
        self.messages.update(self.window)
        self._reads_at_beat = reads
        self.window = Counter()
        self._lag_sum_ns, self._lag_n, self._lag_max_ns = 0, 0, -(2**63)
        return line
