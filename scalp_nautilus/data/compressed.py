"""Reading capture files as far as they decode: gzip (several members) or zstd (several frames).

A capture a crash left open ends without its end-of-stream marker; everything before the cut is
still there, and the importers keep it (its cut last line is counted and skipped). `gzip`'s own
reader drops the last decoded block of such a stream, so the streams are decoded here directly.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

COMPRESSED = (".gz", ".zst")


class StreamEnded(EOFError):
    """The compressed stream stops without its end (a file a crash left open)."""


class StreamDamaged(OSError):
    """The compressed stream cannot be decoded from some point on."""


def decoded_chunks(path: Path, chunk: int = 1 << 18) -> Iterator[bytes]:
    """The decompressed bytes of `path` (``.gz``, ``.zst``; anything else is read as it is), as far
    as they decode: a stream cut short yields all it holds, then raises `StreamEnded`; bytes that
    do not decode raise `StreamDamaged`."""
    if path.suffix not in COMPRESSED:
        with open(path, "rb") as fh:
            while raw := fh.read(chunk):
                yield raw
        return
    errors: tuple[type[Exception], ...] = (zlib.error,)
    new: Callable[[], Any]
    if path.suffix == ".zst":
        import zstandard

        new = zstandard.ZstdDecompressor().decompressobj
        errors = (zlib.error, zstandard.ZstdError)
    else:
        new = functools.partial(zlib.decompressobj, wbits=31)

    dec = new()
    started = False
    with open(path, "rb") as fh:
        while raw := fh.read(chunk):
            started = True
            while raw:
                if dec.eof:  # the next gzip member or zstd frame
                    dec = new()
                try:
                    out = dec.decompress(raw)
                except errors as exc:
                    raise StreamDamaged(f"{path}: {exc}") from None
                raw = dec.unused_data if dec.eof else b""
                if out:
                    yield out
    if started and not dec.eof:
        raise StreamEnded("compressed file ended before the end-of-stream marker was reached")


def open_lines(path: Path) -> Iterator[bytes]:
    """The file's lines (each with its newline, a cut last line without), then `StreamEnded` if the
    stream was cut short (after its cut last line)."""
    pending = b""
    chunks = decoded_chunks(path)
    while True:
        try:
            out = next(chunks)
        except StopIteration:
            break
        except StreamEnded:
            if pending:
                yield pending
            raise
        lines = (pending + out).split(b"\n")
        pending = lines.pop()
        for line in lines:
            yield line + b"\n"
    if pending:
        yield pending
