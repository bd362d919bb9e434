"""`scalp-nautilus record`: runs one `Session` per venue and symbol on one event loop, with a clock
task for the end of a file's period in silence, the flush, the watchdog, the heartbeat, the disk
check and the optional import.

Start: the out-dir must be writable (a lock file keeps a second capture out of it, and a reserve
file holds 1 MB for finishing files on a full disk), files a crash left open (sidecar
``closed: false``) are repaired (`writer.recover`: cut at their last sync point or last whole
line, marked ``truncated``), every venue must list every symbol, and every session must connect,
have its subscription confirmed, receive data and, with a book stream, write a usable snapshot
(`session.Session`). A failure there is a `StartFailed` (one line; `record` exits 1).

Stopping (`Exit`, the process's exit code): SIGINT, SIGTERM or `stop_after_s` (0); free space
below `disk.min_free_gb`, or a write that fails because the disk is full (3); another write error
(4); any task that fails, the clock included (5, with its traceback in the log). One stop: every
session then closes its file, finished (a write error: ended at its last sync point), its sidecar
true, no temporary file left.

Import (`import.catalog`, `--catalog DIR --import-every 1h`): every `import.every_s` the closed
files not yet imported (their sidecar has no ``imported``) are imported per folder, in order, by
``scalp-nautilus data import-binance`` / ``import-bybit`` in a child process (the import's CPU
work stays off the recording loop), and marked in their sidecars on success; repaired files are
imported like the others, with a warning naming them. Every import of a folder gets the same kind
of clock offset (``--clock-offset-ms``: the most the local clock was seen behind the exchange,
which never decreases), so consecutive imports cannot overlap in ``ts_init`` (the catalog refuses
overlaps).

Alerts (`alerts`, apprise URLs; always logged): a connection down longer than
`watchdog.disconnected_s`, a silent feed, a late snapshot, free space below `disk.warn_free_gb`,
a failed import, a stop for any reason but a request, a start that failed.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import shutil
import signal
import sys
import time
from enum import IntEnum
from pathlib import Path
from typing import IO

import aiohttp

from scalp_nautilus.aio_tasks import TaskSet
from scalp_nautilus.alerts import Alerts
from scalp_nautilus.capture.binance import BinanceSession
from scalp_nautilus.capture.bybit import BybitSession
from scalp_nautilus.capture.checks import check_out_dir
from scalp_nautilus.capture.checks import check_venue
from scalp_nautilus.capture.session import Session
from scalp_nautilus.capture.session import StartFailed
from scalp_nautilus.capture.settings import CaptureSettings
from scalp_nautilus.capture.writer import SpaceReserve
from scalp_nautilus.capture.writer import WriteFailed
from scalp_nautilus.capture.writer import capture_files
from scalp_nautilus.capture.writer import closed_files
from scalp_nautilus.capture.writer import read_sidecar
from scalp_nautilus.capture.writer import recover
from scalp_nautilus.capture.writer import write_sidecar

log = logging.getLogger(__name__)

_GB = 1024**3
_CLOCK_S = 0.5  # messages rotate and flush themselves; the clock is for silences, the watchdog, the disk
LOCK_NAME = ".capture-lock"


class Exit(IntEnum):
    """`scalp-nautilus record`'s exit codes."""

    OK = 0  # stopped as asked: SIGINT, SIGTERM, stop_after_s
    START = 1  # could not start (one line on stderr): config, out-dir, symbols, endpoints, first data
    DISK = 3  # free space below disk.min_free_gb, or the disk full
    WRITE = 4  # another write error (read-only or removed folder, I/O error)
    FAILED = 5  # a task failed (its traceback is in the log): a bug


class MarketCapture:
    """`await run()` records until stopped; `stop_reason` and `exit_code` say why it stopped; a
    start that failed raises `StartFailed` from `run()`."""

    def __init__(self, settings: CaptureSettings, alerts: Alerts | None = None) -> None:
        self.settings = settings
        self.alerts = alerts or Alerts(settings.alerts, log)
        self.stop = asyncio.Event()
        self.stop_reason = ""
        self.exit_code = Exit.OK
        self.start_error: StartFailed | None = None
        self.sessions: list[Session] = []
        self.recovered: list[Path] = []
        self.imports = 0
        self.import_failures = 0
        self._tasks = TaskSet("capture", log, self._task_failed)
        self._import_task: asyncio.Task | None = None
        self._reserve: SpaceReserve | None = None
        self._lock: IO[str] | None = None

    def request_stop(self, reason: str, code: Exit = Exit.OK) -> None:
        if self.stop.is_set():
            return
        self.stop_reason, self.exit_code = reason, code
        (log.info if code is Exit.OK else log.error)("stopping: %s", reason)
        if code not in (Exit.OK, Exit.START):
            self.alert("stopped", "capture stopped", reason, "failure")
        self.stop.set()

    def alert(self, key: str, title: str, body: str = "", level="warning") -> None:
        self.alerts.send(key, title, body, level)

    def _task_failed(self, task: asyncio.Task, exc: BaseException) -> None:
        """Any task that fails stops the capture with its error."""
        if isinstance(exc, StartFailed):
            self.start_error = self.start_error or exc
            self.request_stop(f"cannot start: {exc}", Exit.START)
        elif isinstance(exc, WriteFailed):
            if self._reserve is not None:
                self._reserve.release()  # room to finish every open file
            kind = "disk full" if exc.disk_full else "write failed"
            self.request_stop(f"{kind}: {exc}", Exit.DISK if exc.disk_full else Exit.WRITE)
        else:
            log.error("task %s failed", task.get_name(), exc_info=exc)
            self.request_stop(f"task {task.get_name()} failed: {type(exc).__name__}: {exc}", Exit.FAILED)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop, signal.Signals(sig).name)
        try:
            await self._run()
        except StartFailed as exc:
            self.start_error = exc
            self.stop_reason, self.exit_code = f"cannot start: {exc}", Exit.START
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            self._unlock()
            if self.start_error is not None:
                self.alert("start_failed", "capture could not start", str(self.start_error), "failure")
            await asyncio.to_thread(self.alerts.close)
        if self.start_error is not None:
            raise self.start_error

    async def _run(self) -> None:
        out = check_out_dir(self.settings.out_dir)
        self._take_lock(out)
        self._reserve = SpaceReserve(out)
        try:
            self._reserve.take()
        except OSError as exc:
            self._reserve.release()
            raise StartFailed(f"out_dir {out}: no room for the 1 MB reserve ({exc.strerror or exc})") from None
        try:
            self._recover()
            if not self._disk_ok():
                return
            await self._record()
        finally:
            self._reserve.release()
        log.info(
            "capture stopped (%s; exit %d): %s",
            self.stop_reason,
            self.exit_code,
            "; ".join(f"{s.name} {s.message_count} messages, {s.gaps} gaps, {s.reconnects} reconnects" for s in self.sessions),
        )

    async def _record(self) -> None:
        st = self.settings
        # No overall time limit on the session: a WebSocket lives for hours (REST calls set their own).
        timeout = aiohttp.ClientTimeout(total=None, connect=st.reconnect.http_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            for i, venue in enumerate(st.venues):
                await check_venue(http, i, venue, st.reconnect.http_timeout_s)
            for venue in st.venues:
                cls = BybitSession if venue.venue == "bybit-linear" else BinanceSession
                self.sessions += [cls(st, venue, s.upper(), http, self.alert, self._task_failed) for s in venue.symbols]
            for s in self.sessions:
                self._tasks.spawn(s.run(self.stop), name=s.name)
            self._tasks.spawn(self._clock(), name="clock")
            try:
                await self.stop.wait()
            finally:
                await self._tasks.wait_cancelled()
                for s in self.sessions:
                    await self._close(s)
                if self._import_task is not None and not self._import_task.done():
                    log.info("waiting for the running import to finish")
                    await asyncio.gather(self._import_task, return_exceptions=True)

    async def _close(self, session: Session) -> None:
        await session._tasks.wait_cancelled()
        try:
            session.writer.close(self.stop_reason if self.exit_code not in (Exit.OK,) else "")
        except WriteFailed as exc:
            # Even ending the file at its last sync point failed: it stays `closed: false`, and the
            # next start repairs it.
            log.error("%s: could not finish %s: %s (the next start repairs it)", session.name, session.writer.path, exc)
            if self.exit_code is Exit.OK:
                self.exit_code = Exit.DISK if exc.disk_full else Exit.WRITE

    async def _clock(self) -> None:
        st = self.settings
        start = last_beat = last_disk = last_import = time.monotonic()
        while True:
            await asyncio.sleep(_CLOCK_S)
            now_ns = time.time_ns()
            for s in self.sessions:
                s.tick(now_ns)
                s.watch(now_ns)
            now = time.monotonic()
            if now - last_beat >= st.heartbeat_s:
                for s in self.sessions:
                    log.info("heartbeat %s", s.heartbeat(now - last_beat))
                last_beat = now
            if now - last_disk >= st.disk.check_s:
                last_disk = now
                if not self._disk_ok():
                    return
            if st.import_.catalog and now - last_import >= st.import_.every_s:
                last_import = now
                if self._import_task is None or self._import_task.done():
                    self._import_task = asyncio.create_task(self.import_closed(), name="import")
                    self._import_task.add_done_callback(self._import_done)
            if st.stop_after_s is not None and now - start >= st.stop_after_s:
                self.request_stop(f"stop_after_s {st.stop_after_s:g} reached")
                return

    def _import_done(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._task_failed(task, task.exception())  # type: ignore[arg-type]

    def _disk_ok(self) -> bool:
        out = Path(self.settings.out_dir)
        disk = self.settings.disk
        try:
            free_gb = shutil.disk_usage(out).free / _GB
        except OSError as exc:
            self.request_stop(f"cannot check the free space of {out}: {exc.strerror or exc}", Exit.WRITE)
            return False
        if free_gb < disk.min_free_gb:
            self.request_stop(f"disk: {free_gb:.2f} GB free on {out} < disk.min_free_gb {disk.min_free_gb:g}", Exit.DISK)
            return False
        if free_gb < disk.warn_free_gb:
            self.alert(
                "disk_low",
                "disk space low",
                f"{free_gb:.2f} GB free on {out} (disk.warn_free_gb {disk.warn_free_gb:g}; "
                f"the capture stops below {disk.min_free_gb:g})",
            )
        return True

    # ------------------------------------------------------------------ start: lock, recovery

    def _take_lock(self, out: Path) -> None:
        """One capture per out-dir: a second one would repair the files the first is writing."""
        fh = open(out / LOCK_NAME, "a+")  # noqa: SIM115 (held until the capture ends)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise StartFailed(f"out_dir {out}: another capture is running there (pid {holder})") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock = fh

    def _unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _recover(self) -> None:
        """Repair the files a crash left open in the folders this capture writes to."""
        for venue in self.settings.venues:
            for symbol in venue.symbols:
                for path in capture_files(Path(self.settings.out_dir) / venue.venue / symbol.upper()):
                    meta = read_sidecar(path)
                    if meta is not None and meta.get("closed"):
                        continue
                    fixed = recover(path)
                    if fixed is None:
                        continue
                    self.recovered.append(path)
                    cut = fixed["truncated"]
                    log.warning(
                        "recovered %s, left open by a crash: cut at %s (%d bytes dropped), %d lines kept, marked truncated",
                        path,
                        cut["at"],
                        cut["bytes_cut"],
                        fixed["lines"],
                    )

    # ------------------------------------------------------------------ import

    async def import_closed(self) -> None:
        """Import every closed, not yet imported file, per folder in time order (see the module doc)."""
        catalog = self.settings.import_.catalog
        if catalog is None:
            return
        for s in self.sessions:
            metas = {p: read_sidecar(p) or {} for p in closed_files(s.folder)}
            files = [p for p, m in metas.items() if not m.get("imported")]
            if not files:
                continue
            repaired = [p.name for p in files if metas[p].get("truncated")]
            if repaired:
                log.warning(
                    "importing %d file(s) recovered after a crash (cut short, see their sidecars): %s",
                    len(repaired),
                    ", ".join(repaired),
                )
            command = "import-bybit" if s.venue.venue == "bybit-linear" else "import-binance"
            # One clock offset for every import of the folder, never smaller than an earlier one
            # (see `Session.clock_behind_ns`; sidecars carry it across restarts).
            offset_ns = max(
                [s.clock_behind_ns] + [(read_sidecar(p) or {}).get("clock_behind_ns", 0) for p in capture_files(s.folder)]
            )
            args = [
                sys.executable,
                "-m",
                "scalp_nautilus.cli",
                "data",
                command,
                *map(str, files),
                "--catalog",
                catalog,
                "--clock-offset-ms",
                f"{offset_ns / 1e6:.6f}",
            ]
            log.info("importing %d closed file(s) of %s into %s", len(files), s.name, catalog)
            proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            out, _ = await proc.communicate()
            text = out.decode(errors="replace")
            if proc.returncode != 0:
                self.import_failures += 1
                log.error(
                    "import of %s failed (exit %d); the files stay marked not imported:\n%s",
                    s.name,
                    proc.returncode,
                    text[-2000:],
                )
                self.alert(
                    f"import_failed:{s.name}", f"import of {s.name} failed", f"exit {proc.returncode}: {text[-500:]}", "failure"
                )
                continue
            self.imports += 1
            for p in files:
                mark_imported(p, catalog)
            log.info("imported %s:\n%s", s.name, text[-1500:])


def mark_imported(path: Path, catalog: str) -> None:
    meta = read_sidecar(path) or {}
    meta["imported"] = str(catalog)
    write_sidecar(path, meta)


def capture(settings: CaptureSettings) -> MarketCapture:
    """Record until stopped (the command line's `record`), on uvloop's event loop (Nautilus's own
    dependency): its socket wake-ups cost about half of asyncio's (bench_record).

    The cyclic garbage collector took ~15% of the capture's CPU (perf), traversing the modules'
    objects over and over: they are frozen out of its view once loaded, and the young generation
    is collected every 50,000 allocations instead of 700 (a message makes a few short-lived
    objects, and almost no cycles)."""
    import gc

    import uvloop

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    run = MarketCapture(settings)
    asyncio.run(run.run(), loop_factory=uvloop.new_event_loop)
    return run
