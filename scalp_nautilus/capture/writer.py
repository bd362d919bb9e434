"""Capture files: gzip text, one message a line, ``<local receive time, ns> <message as received>``,
rotated on a UTC grid, each with a small JSON sidecar.

Files live in ``<out_dir>/<venue>/<SYMBOL>/`` and are named ``<SYMBOL>_<YYYYmmddTHHMMSSZ>.gz`` by
the UTC time they were opened, so name order is time order: the importers read a folder in that
order as one capture. The gzip stream is synced (``Z_SYNC_FLUSH``) every `flush_s`, so a crash
loses at most that last stretch and leaves a file that reads up to a cut line (the importers skip a
truncated last line and count the file as ended early); a clean close (rotation, SIGINT, SIGTERM,
disk limit) writes the gzip trailer.

The sidecar ``<file>.json`` says what the file holds: messages per stream, snapshots (and why each
was taken), reconnects, sequence gaps (with reasons), first and last receive times, and whether the
file was closed cleanly. It is rewritten at every flush, so it survives a crash too.
"""

from __future__ import annotations

import gzip
import logging
import os
import time
import zlib
from collections import Counter
from pathlib import Path

import msgspec

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".json"


def file_name(symbol: str, opened_ns: int) -> str:
    return f"{symbol}_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(opened_ns / 1e9))}.gz"


def capture_files(folder: str | Path) -> list[Path]:
    """The capture files of one capture folder in time order (what the importers read as one capture)."""
    return sorted(Path(folder).glob("*.gz"))


def closed_files(folder: str | Path) -> list[Path]:
    """The files of a folder whose sidecar says they were closed cleanly."""
    out = []
    for path in capture_files(folder):
        meta = read_sidecar(path)
        if meta is not None and meta.get("closed"):
            out.append(path)
    return out


def read_sidecar(path: Path) -> dict | None:
    side = path.with_name(path.name + SIDECAR_SUFFIX)
    try:
        return msgspec.json.decode(side.read_bytes())
    except (FileNotFoundError, msgspec.DecodeError):
        return None


class CaptureWriter:
    """The rotating capture of one venue and symbol. `write` takes a receive time (ns) and the
    message text as received; `event` notes a snapshot, reconnect or gap in the current sidecar."""

    def __init__(self, folder: Path, symbol: str, rotate_s: float, flush_s: float, compress_level: int) -> None:
        self.folder = folder
        self.symbol = symbol
        self.rotate_ns = round(rotate_s * 1e9)
        self.flush_ns = round(flush_s * 1e9)
        self.compress_level = compress_level
        self.path: Path | None = None
        self._fh: gzip.GzipFile | None = None
        self._period_end = 0
        self._next_flush = 0
        self._meta: dict = {}
        self._streams: Counter = Counter()
        self._notes: dict = {}
        self._pending: list[tuple[str, dict]] = []
        folder.mkdir(parents=True, exist_ok=True)

    def due(self, now_ns: int) -> bool:
        """The current file's period has ended (or no file is open)."""
        return self._fh is None or now_ns >= self._period_end

    def open(self, now_ns: int) -> Path:
        """Close the current file (if any) and start the next one."""
        self.close()
        self._period_end = (now_ns // self.rotate_ns + 1) * self.rotate_ns
        path = self.folder / file_name(self.symbol, now_ns)
        if path.exists():  # a restart within the same second: never append to a closed gzip member
            path = path.with_name(f"{path.stem}_{now_ns}.gz")
        self.path = path
        self._fh = gzip.open(path, "wb", compresslevel=self.compress_level)  # noqa: SIM115 (open until rotation)
        self._streams = Counter()
        self._meta = {
            "file": path.name,
            "symbol": self.symbol,
            "opened_ns": now_ns,
            "first_recv_ns": None,
            "last_recv_ns": None,
            "lines": 0,
            "streams": self._streams,
            "snapshots": [],
            "reconnects": [],
            "gaps": [],
            "closed": False,
            **self._notes,
        }
        for kind, entry in self._pending:
            self._meta[kind].append(entry)
        self._pending.clear()
        self._next_flush = now_ns + self.flush_ns
        self._write_sidecar()
        log.info("recording %s into %s", self.symbol, path)
        return path

    def write(self, recv_ns: int, stream: str, text: str | bytes) -> None:
        fh = self._fh
        if fh is None:
            raise RuntimeError(f"{self.folder}: a message written before a file was opened")
        if isinstance(text, str):
            text = text.encode()
        fh.write(b"%d %s\n" % (recv_ns, text))
        meta = self._meta
        if meta["first_recv_ns"] is None:
            meta["first_recv_ns"] = recv_ns
        meta["last_recv_ns"] = recv_ns
        meta["lines"] += 1
        self._streams[stream] += 1
        self.maybe_flush(recv_ns)

    def note(self, key: str, value) -> None:
        """Set a value in the current file's sidecar (kept in later files until changed)."""
        self._notes[key] = value
        if self._meta:
            self._meta[key] = value

    def event(self, kind: str, recv_ns: int, **info) -> None:
        """Note a 'snapshots', 'reconnects' or 'gaps' entry in the current file's sidecar (or in the
        next file's, when none is open: a reconnect before any message)."""
        entry = {"recv_ns": recv_ns, **info}
        if self._fh is None:
            self._pending.append((kind, entry))
        else:
            self._meta[kind].append(entry)

    def maybe_flush(self, now_ns: int) -> None:
        if now_ns >= self._next_flush:
            self.flush(now_ns)

    def flush(self, now_ns: int) -> None:
        if self._fh is None:
            return
        self._fh.flush(zlib.Z_SYNC_FLUSH)  # everything so far is decodable from the disk
        self._next_flush = now_ns + self.flush_ns
        self._write_sidecar()

    def close(self) -> None:
        if self._fh is None:
            return
        self._fh.close()
        self._fh = None
        self._meta["closed"] = True
        self._write_sidecar()
        log.info("closed %s (%d lines)", self.path, self._meta["lines"])

    def _write_sidecar(self) -> None:
        path = self.path
        if path is None:
            return
        side = path.with_name(path.name + SIDECAR_SUFFIX)
        tmp = side.with_name(side.name + ".tmp")
        tmp.write_bytes(msgspec.json.encode(self._meta))
        os.replace(tmp, side)  # atomic: a reader never sees half a sidecar
