"""Capture files: gzip or zstd text, one message a line, ``<local receive time, ns> <message as
received>``, rotated on a UTC grid, each with a small JSON sidecar.

Files live in ``<out_dir>/<venue>/<SYMBOL>/`` and are named ``<SYMBOL>_<YYYYmmddTHHMMSSZ>.gz``
(``.zst``) by the UTC time they were opened, so name order is time order: the importers read a
folder in that order as one capture.

Lines are collected in memory and compressed in batches (a compressor call per message would cost
more than everything else the capturer does with it). Every `flush_s` the batch is compressed and
the stream *synced* (deflate ``Z_SYNC_FLUSH``, zstd ``FLUSH_BLOCK``): everything up to that byte
offset decodes on its own, and appending a few bytes there ends the stream validly (gzip: an empty
final deflate block and the trailer, CRC-32 and length of the data so far; zstd: an empty last
block). The sidecar, rewritten right after each sync, records that offset (``synced``), so the file
can always be finished at its last sync point:

- a clean close (rotation, SIGINT, SIGTERM, `stop_after_s`, the disk limit) finishes the stream;
- a write that fails (a full disk, an I/O error) ends the file at its last sync point: cut there,
  the ending appended, the sidecar saying what it holds and how many lines were lost (those
  collected since the last sync). `SpaceReserve` keeps a little space in the folder to do that
  on a disk that is full;
- a crash (SIGKILL, power) leaves ``closed: false``; the next start repairs the file the same way
  (`recover`), or, for a file whose sidecar has no sync point, decodes what it can, keeps the
  whole lines and writes them again.

The sidecar ``<file>.json`` says what the file holds: lines and messages per stream, snapshots
(and why each was taken), reconnects, sequence gaps (with reasons), each event with the line it
came at, first and last receive times, whether the file was closed and how.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import struct
import time
import zlib
from collections import Counter
from pathlib import Path

import msgspec

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".json"
SUFFIXES = {"gzip": ".gz", "zstd": ".zst"}
CODECS = {suffix: name for name, suffix in SUFFIXES.items()}
EVENT_KINDS = ("snapshots", "reconnects", "gaps")
_BATCH_BYTES = 1 << 18  # lines collected before they are compressed (between syncs)
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no name, no time, OS unknown


class WriteFailed(Exception):
    """A capture file or sidecar could not be written. Not an OSError on purpose: the session's
    network error handling must never take it for a lost connection."""

    def __init__(self, path: Path, error: OSError) -> None:
        super().__init__(f"{path}: {error.strerror or error}")
        self.path = path
        self.error = error

    @property
    def disk_full(self) -> bool:
        return self.error.errno in (errno.ENOSPC, errno.EDQUOT)


# ---------------------------------------------------------------------- codecs


class _Gzip:
    """A gzip member written by hand (raw deflate + header + trailer) so that a stream cut at a
    sync point can be ended: the CRC and length at each sync are known."""

    def __init__(self, level: int) -> None:
        self._deflate = zlib.compressobj(level, zlib.DEFLATED, -15)
        self.crc = 0
        self.size = 0

    def header(self) -> bytes:
        return _GZIP_HEADER

    def compress(self, data) -> bytes:
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        return self._deflate.compress(data)

    def sync(self) -> bytes:
        return self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._deflate.flush(zlib.Z_FINISH) + struct.pack("<II", self.crc, self.size & 0xFFFFFFFF)

    def state(self) -> dict:
        return {"crc": self.crc, "size": self.size}

    @staticmethod
    def ending(synced: dict) -> bytes:
        """What ends a stream cut at a sync point: a final empty fixed-Huffman block, the trailer."""
        return b"\x03\x00" + struct.pack("<II", synced["crc"], synced["size"] & 0xFFFFFFFF)


class _Zstd:
    def __init__(self, level: int) -> None:
        import zstandard

        self._zstd = zstandard
        self._c = zstandard.ZstdCompressor(level=level, write_checksum=False, write_content_size=False).compressobj()

    def header(self) -> bytes:
        return b""  # the frame header comes with the first block

    def compress(self, data) -> bytes:
        return self._c.compress(data)

    def sync(self) -> bytes:
        return self._c.flush(self._zstd.COMPRESSOBJ_FLUSH_BLOCK)

    def finish(self) -> bytes:
        return self._c.flush(self._zstd.COMPRESSOBJ_FLUSH_FINISH)

    def state(self) -> dict:
        return {}

    @staticmethod
    def ending(synced: dict) -> bytes:
        """An empty last raw block (a frame without checksum or content size ends there); before the
        first block there is no frame at all, and an empty file is a valid empty capture."""
        return b"\x01\x00\x00" if synced["offset"] else b""


_CODEC_CLASSES: dict[str, type[_Gzip] | type[_Zstd]] = {"gzip": _Gzip, "zstd": _Zstd}


# ---------------------------------------------------------------------- files and sidecars


def file_name(symbol: str, opened_ns: int, codec: str = "gzip") -> str:
    return f"{symbol}_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(opened_ns / 1e9))}{SUFFIXES[codec]}"


def capture_files(folder: str | Path) -> list[Path]:
    """The capture files of one capture folder in time order (what the importers read as one capture)."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.suffix in CODECS) if folder.is_dir() else []


def closed_files(folder: str | Path) -> list[Path]:
    """The files of a folder whose sidecar says they are closed (cleanly, or repaired)."""
    return [p for p in capture_files(folder) if (read_sidecar(p) or {}).get("closed")]


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def read_sidecar(path: Path) -> dict | None:
    try:
        return msgspec.json.decode(sidecar_path(path).read_bytes())
    except (FileNotFoundError, msgspec.DecodeError):
        return None


def write_sidecar(path: Path, meta: dict) -> None:
    """Atomically (a reader never sees half a sidecar); a temporary file that could not be written
    is removed, and the failure raised as `WriteFailed`."""
    side = sidecar_path(path)
    tmp = side.with_name(side.name + ".tmp")
    try:
        tmp.write_bytes(msgspec.json.encode(meta))
        os.replace(tmp, side)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WriteFailed(side, exc) from exc


class SpaceReserve:
    """`size` bytes held in a file of the capture folder from the start, released when a write
    fails: on a full disk every open file can then still be ended and its sidecar written."""

    NAME = ".capture-reserve"

    def __init__(self, folder: Path, size: int = 1 << 20) -> None:
        self.path = folder / self.NAME
        self.size = size

    def take(self) -> None:
        """Raises OSError when the space is not there (a disk already full)."""
        with open(self.path, "wb") as fh:
            fh.write(os.urandom(self.size))  # random: a compressing filesystem cannot store it in nothing
            fh.flush()
            os.fsync(fh.fileno())

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


class CaptureWriter:
    """The rotating capture of one venue and symbol. `write` takes a receive time (ns), the
    message's stream and the message as received (bytes); `event` notes a snapshot, reconnect or
    gap in the current sidecar. Every failed write raises `WriteFailed`."""

    def __init__(
        self,
        folder: Path,
        symbol: str,
        rotate_s: float,
        flush_s: float,
        level: int,
        codec: str = "gzip",
    ) -> None:
        self.folder = folder
        self.symbol = symbol
        self.codec = codec
        self.level = level
        self.rotate_ns = round(rotate_s * 1e9)
        self.flush_ns = round(flush_s * 1e9)
        self.path: Path | None = None  # the open file (after a close, the last one)
        self.period_end_ns = 0  # the end of the open file's period (0: no file open)
        self.has_book = False  # the open file holds a usable book snapshot (`Session` sets it)
        self._fh: io.FileIO | None = None
        self._codec: _Gzip | _Zstd | None = None
        self._buf = bytearray()
        self._offset = 0
        self._next_flush = 0
        self._opened_ns = 0
        self._lines = 0
        self._first: int | None = None
        self._last: int | None = None
        self._streams: Counter = Counter()
        self._events: dict[str, list] = {}
        self._synced: dict = {}
        self._notes: dict = {}
        self._pending: list[tuple[str, dict]] = []
        self._broken: WriteFailed | None = None
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def is_open(self) -> bool:
        return self._fh is not None

    def due(self, now_ns: int) -> bool:
        """The current file's period has ended (or no file is open)."""
        return self._fh is None or now_ns >= self.period_end_ns

    def open(self, now_ns: int) -> Path:
        """Close the current file (if any) and start the next one."""
        self.close()
        self.period_end_ns = (now_ns // self.rotate_ns + 1) * self.rotate_ns
        path = self.folder / file_name(self.symbol, now_ns, self.codec)
        if path.exists():  # a restart within the same second: never append to a closed file
            path = path.with_name(f"{path.stem}_{now_ns}{path.suffix}")
        codec = _CODEC_CLASSES[self.codec](self.level)
        try:
            self._fh = open(path, "wb", buffering=0)  # noqa: SIM115 (open until rotation)
        except OSError as exc:
            raise self._fail(WriteFailed(path, exc)) from exc
        self.path, self._codec, self.has_book = path, codec, False
        self._offset, self._lines, self._first, self._last = 0, 0, None, None
        self._streams = Counter()
        self._events = {kind: [] for kind in EVENT_KINDS}
        self._opened_ns = now_ns
        for kind, entry in self._pending:
            self._events[kind].append(entry)
        self._pending.clear()
        self._write(codec.header())
        self._mark_synced()
        self._next_flush = now_ns + self.flush_ns
        write_sidecar(path, self._meta(self._synced))
        log.info("recording %s into %s", self.symbol, path)
        return path

    def write(self, recv_ns: int, stream: bytes, data: bytes) -> None:
        if self._fh is None:
            raise RuntimeError(f"{self.folder}: a message written before a file was opened")
        buf = self._buf
        buf += b"%d %b\n" % (recv_ns, data)
        self._lines += 1
        self._streams[stream] += 1
        if self._first is None:
            self._first = recv_ns
        self._last = recv_ns
        if len(buf) >= _BATCH_BYTES:
            self._compress()
        if recv_ns >= self._next_flush:
            self.flush(recv_ns)

    def note(self, key: str, value) -> None:
        """Set a value in the current file's sidecar (kept in later files until changed)."""
        self._notes[key] = value

    def event(self, kind: str, recv_ns: int, **info) -> None:
        """Note a 'snapshots', 'reconnects' or 'gaps' entry in the current file's sidecar, at the
        line written last (or in the next file's, when none is open: a reconnect before any message)."""
        if self._fh is None:
            self._pending.append((kind, {"recv_ns": recv_ns, "line": 0, **info}))
        else:
            self._events[kind].append({"recv_ns": recv_ns, "line": self._lines, **info})

    def maybe_flush(self, now_ns: int) -> None:
        if now_ns >= self._next_flush:
            self.flush(now_ns)

    def flush(self, now_ns: int) -> None:
        """Compress what is collected, sync the stream, and write the sidecar."""
        if self._fh is None:
            return
        self._next_flush = now_ns + self.flush_ns
        self._compress()
        assert self._codec is not None
        self._write(self._codec.sync())
        self._mark_synced()
        self._sidecar(self._meta(self._synced))

    def close(self, reason: str = "") -> None:
        """Finish the file (its sidecar ``closed: true``); after a failed write, or when finishing
        fails, end it at its last sync point instead. Raises `WriteFailed` only if even that fails."""
        fh = self._fh
        if fh is None:
            return
        assert self.path is not None and self._codec is not None
        meta = None
        if self._broken is None:
            try:
                self._compress()
                self._write(self._codec.finish())
                os.fsync(fh.fileno())
                meta = self._meta(None)
            except WriteFailed:
                meta = None
        try:
            if meta is None:
                meta = self._end_at_sync()
        finally:
            fh.close()
            self._fh = None
            self.period_end_ns, self.has_book = 0, False
        meta["closed"] = True
        if reason:
            meta["stopped"] = reason
        self._buf.clear()
        self._broken = None
        write_sidecar(self.path, meta)
        log.info(
            "closed %s (%d lines%s)", self.path, meta["lines"], f", {meta['lines_lost']} lost" if meta.get("lines_lost") else ""
        )

    # ------------------------------------------------------------------ internals

    def _compress(self) -> None:
        if self._buf:
            assert self._codec is not None
            out = self._codec.compress(self._buf)
            self._buf.clear()
            self._write(out)

    def _write(self, data: bytes) -> None:
        if self._broken is not None:
            raise self._broken
        assert self._fh is not None
        view = memoryview(data)
        try:
            while view:
                n = self._fh.write(view) or 0
                view = view[n:]
                self._offset += n
        except OSError as exc:
            assert self.path is not None
            raise self._fail(WriteFailed(self.path, exc)) from exc

    def _sidecar(self, meta: dict) -> None:
        if self._broken is not None:
            raise self._broken
        assert self.path is not None
        try:
            write_sidecar(self.path, meta)
        except WriteFailed as exc:
            raise self._fail(exc) from exc.error

    def _fail(self, exc: WriteFailed) -> WriteFailed:
        self._broken = self._broken or exc
        return exc

    def _mark_synced(self) -> None:
        assert self._codec is not None
        self._synced = {
            "offset": self._offset,
            **self._codec.state(),
            "lines": self._lines,
            "streams": dict(self._streams),
            "first": self._first,
            "last": self._last,
        }

    def _end_at_sync(self) -> dict:
        """Cut the file at its last sync point and end the stream there; the sidecar describes
        that content (events after the cut dropped) and counts the lines lost."""
        assert self._fh is not None and self._codec is not None
        synced = self._synced
        self._fh.truncate(synced["offset"])
        self._fh.seek(synced["offset"])
        self._broken = None
        self._write(self._codec.ending(synced))
        os.fsync(self._fh.fileno())
        meta = self._meta(synced)
        meta["lines_lost"] = self._lines - synced["lines"]
        return meta

    def _meta(self, synced: dict | None) -> dict:
        """The sidecar: the file as of `synced` (the last sync point), or as it is (None: closing)."""
        lines = self._lines if synced is None else synced["lines"]
        streams = self._streams if synced is None else synced["streams"]
        return {
            "file": self.path.name if self.path else None,
            "symbol": self.symbol,
            "compression": self.codec,
            "opened_ns": self._opened_ns,
            "first_recv_ns": self._first if synced is None else synced["first"],
            "last_recv_ns": self._last if synced is None else synced["last"],
            "lines": lines,
            "streams": {k.decode() if isinstance(k, bytes) else k: v for k, v in streams.items()},
            **{kind: [e for e in entries if e["line"] <= lines] for kind, entries in self._events.items()},
            "closed": False,
            **({} if synced is None else {"synced": {k: synced[k] for k in ("offset", *self._codec.state())}}),  # type: ignore[union-attr]
            **self._notes,
        }


# ---------------------------------------------------------------------- recovery


def ending_for(path: Path) -> type[_Gzip] | type[_Zstd]:
    return _CODEC_CLASSES[CODECS[path.suffix]]


def recover(path: Path) -> dict | None:
    """Repair a file a crash left open (sidecar ``closed: false``): cut at its last sync point and
    ended there, or, without a recorded sync point, its decodable whole lines written again. The
    sidecar is rewritten (``closed: true``, ``truncated``: what was cut) and returned; None when
    the file needs no repair."""
    meta = read_sidecar(path)
    if meta is not None and meta.get("closed"):
        return None
    size = path.stat().st_size
    synced = (meta or {}).get("synced")
    if meta is not None and synced is not None and size >= synced["offset"]:
        with open(path, "r+b") as fh:
            fh.truncate(synced["offset"])
            fh.seek(synced["offset"])
            fh.write(ending_for(path).ending(synced))
            os.fsync(fh.fileno())
        meta["truncated"] = {"bytes_cut": size - synced["offset"], "at": "the last sync point"}
    else:
        meta = _rewrite_whole_lines(path, meta or {})
    meta["closed"] = True
    meta.pop("synced", None)
    write_sidecar(path, meta)
    return meta


def _rewrite_whole_lines(path: Path, meta: dict) -> dict:
    """Decode what the file holds, keep its whole lines, and write them again as a complete file."""
    from scalp_nautilus.capture.scan import line_stream
    from scalp_nautilus.data.compressed import StreamDamaged
    from scalp_nautilus.data.compressed import StreamEnded
    from scalp_nautilus.data.compressed import decoded_chunks

    codec = _CODEC_CLASSES[CODECS[path.suffix]](6 if path.suffix == ".gz" else 3)
    tmp = path.with_name(path.name + ".repair")
    lines = 0
    streams: Counter = Counter()
    first = last = None
    pending = b""
    try:
        with open(tmp, "wb") as out:
            out.write(codec.header())
            with contextlib.suppress(StreamEnded, StreamDamaged):  # keep what decoded before the cut
                for chunk in decoded_chunks(path):
                    data = pending + chunk
                    cut = data.rfind(b"\n") + 1
                    whole, pending = data[:cut], data[cut:]
                    for line in whole.splitlines():
                        sp = line.find(b" ")
                        stamp = int(line[:sp]) if sp > 0 and line[:sp].isdigit() else None
                        if stamp is not None:
                            first = stamp if first is None else first
                            last = stamp
                        streams[line_stream(line[sp + 1 :])] += 1
                        lines += 1
                    out.write(codec.compress(whole))
            out.write(codec.finish())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    meta.update(
        {
            "file": path.name,
            "lines": lines,
            "streams": dict(streams),
            "first_recv_ns": first,
            "last_recv_ns": last,
            "truncated": {"bytes_cut": len(pending), "at": "the last whole line"},
        }
    )
    for kind in EVENT_KINDS:
        meta[kind] = [e for e in meta.get(kind, []) if last is not None and e.get("recv_ns", 0) <= last]
    return meta
