"""`scalp-nautilus record`: runs one `Session` per venue and symbol on one event loop, with a clock
task for rotation during silence, the heartbeat, the disk check and the optional import.

Stopping: SIGINT or SIGTERM, `stop_after_s`, or the disk falling below `disk.min_free_gb` set the
stop event; every session then closes its file cleanly (gzip trailer, sidecar ``closed: true``).
Free space below `disk.warn_free_gb` is warned about at every check.

Import (`import.catalog`, `--catalog DIR --import-every 1h`): every `import.every_s` the closed
files not yet imported (their sidecar has no ``imported``) are imported per folder, in order, by
``scalp-nautilus data import-binance`` / ``import-bybit`` in a child process (the import's CPU
work stays off the recording loop), and marked in their sidecars on success. Every import of a
folder gets the same kind of clock offset (``--clock-offset-ms``: the most the local clock was
seen behind the exchange, which never decreases), so consecutive imports cannot overlap in
``ts_init`` (the catalog refuses overlaps).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import aiohttp
import msgspec

from scalp_nautilus.capture.binance import BinanceSession
from scalp_nautilus.capture.bybit import BybitSession
from scalp_nautilus.capture.session import Session
from scalp_nautilus.capture.settings import CaptureSettings
from scalp_nautilus.capture.writer import SIDECAR_SUFFIX
from scalp_nautilus.capture.writer import capture_files
from scalp_nautilus.capture.writer import closed_files
from scalp_nautilus.capture.writer import read_sidecar

log = logging.getLogger(__name__)

_GB = 1024**3
_CLOCK_S = 0.25


class MarketCapture:
    """`await run()` records until stopped; `stop_reason` says why it stopped."""

    def __init__(self, settings: CaptureSettings) -> None:
        self.settings = settings
        self.stop = asyncio.Event()
        self.stop_reason = ""
        self.sessions: list[Session] = []
        self.imports = 0
        self.import_failures = 0
        self._import_task: asyncio.Task | None = None

    def request_stop(self, reason: str) -> None:
        if not self.stop.is_set():
            self.stop_reason = reason
            log.info("stopping: %s", reason)
            self.stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop, signal.Signals(sig).name)
        try:
            await self._run()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    async def _run(self) -> None:
        if not self._disk_ok():
            return
        # No overall time limit on the session: a WebSocket lives for hours (REST calls set their own).
        timeout = aiohttp.ClientTimeout(total=None, connect=self.settings.reconnect.http_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            for venue in self.settings.venues:
                cls = BybitSession if venue.venue == "bybit-linear" else BinanceSession
                self.sessions += [cls(self.settings, venue, s.upper(), http) for s in venue.symbols]
            tasks = [asyncio.create_task(s.run(self.stop), name=s.name) for s in self.sessions]
            clock = asyncio.create_task(self._clock())
            try:
                await self.stop.wait()
            finally:
                for task in (*tasks, clock):
                    task.cancel()
                await asyncio.gather(*tasks, clock, return_exceptions=True)
                for s in self.sessions:
                    s.close()
                if self._import_task is not None and not self._import_task.done():
                    log.info("waiting for the running import to finish")
                    await asyncio.gather(self._import_task, return_exceptions=True)
        log.info(
            "capture stopped (%s): %s",
            self.stop_reason,
            "; ".join(
                f"{s.name} {sum(s.messages.values())} messages, {s.gaps} gaps, {s.reconnects} reconnects" for s in self.sessions
            ),
        )

    async def _clock(self) -> None:
        st = self.settings
        start = last_beat = last_disk = last_import = time.monotonic()
        while True:
            await asyncio.sleep(_CLOCK_S)
            now_ns = time.time_ns()
            for s in self.sessions:
                if s.writer.path is not None:  # files open with the first message
                    s.tick(now_ns)
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
                    self._import_task = asyncio.create_task(self.import_closed())
            if st.stop_after_s is not None and now - start >= st.stop_after_s:
                self.request_stop(f"stop_after_s {st.stop_after_s:g} reached")
                return

    def _disk_ok(self) -> bool:
        out = Path(self.settings.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        free_gb = shutil.disk_usage(out).free / _GB
        disk = self.settings.disk
        if free_gb < disk.min_free_gb:
            log.error("only %.2f GB free on %s (disk.min_free_gb %.2f): stopping cleanly", free_gb, out, disk.min_free_gb)
            self.request_stop(f"disk: {free_gb:.2f} GB free < {disk.min_free_gb:g} GB")
            return False
        if free_gb < disk.warn_free_gb:
            log.warning(
                "only %.2f GB free on %s (disk.warn_free_gb %.2f; the capturer stops below %.2f)",
                free_gb,
                out,
                disk.warn_free_gb,
                disk.min_free_gb,
            )
        return True

    async def import_closed(self) -> None:
        """Import every closed, not yet imported file, per folder in time order (see the module doc)."""
        catalog = self.settings.import_.catalog
        if catalog is None:
            return
        for s in self.sessions:
            files = [p for p in closed_files(s.folder) if not (read_sidecar(p) or {}).get("imported")]
            if not files:
                continue
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
            if proc.returncode != 0:
                self.import_failures += 1
                log.error(
                    "import of %s failed (exit %d); the files stay marked not imported:\n%s",
                    s.name,
                    proc.returncode,
                    out.decode(errors="replace")[-2000:],
                )
                continue
            self.imports += 1
            for p in files:
                mark_imported(p, catalog)
            log.info("imported %s:\n%s", s.name, out.decode(errors="replace")[-1500:])


def mark_imported(path: Path, catalog: str) -> None:
    meta = read_sidecar(path) or {}
    meta["imported"] = str(catalog)
    side = path.with_name(path.name + SIDECAR_SUFFIX)
    tmp = side.with_name(side.name + ".tmp")
    tmp.write_bytes(msgspec.json.encode(meta))
    os.replace(tmp, side)


def capture(settings: CaptureSettings) -> MarketCapture:
    """Record until stopped (the command line's `record`)."""
    run = MarketCapture(settings)
    asyncio.run(run.run())
    return run
