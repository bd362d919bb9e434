"""Invalid spans: where a capture's book could not be trusted (an outage, a gap until the resync),
stored beside the catalog's data and read by everything that replays it (DESIGN §8: invalid spans
are data).

A span is ``(start, end)`` in exchange time (ns): from the last good book update before the chain
broke to the snapshot that re-synced it (the importers compute them: `CaptureStats`). Both ends are
valid book states; what lies strictly between them is not: ``start < t < end``.

Storage: ``<catalog>/invalid_spans/<instrument id>.json``, ``{"spans": [[start, end], ...]}``,
beside Nautilus's ``data/`` (which it never reads). Each import adds its capture's spans. Feature
files carry the spans of the data they were computed from in their Parquet metadata
(`METADATA_KEY`), so research, which reads feature files only, knows them too.

Pure Python: no Nautilus import (research and the command line read spans too).
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterable
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

FOLDER = "invalid_spans"
METADATA_KEY = b"scalp_nautilus.invalid_spans"

Span = tuple[int, int]


def spans_file(catalog: str | Path, instrument_id: str) -> Path:
    return Path(catalog) / FOLDER / f"{instrument_id}.json"


def read_invalid_spans(catalog: str | Path, instrument_id: str, storage_options: Mapping[str, Any] | None = None) -> list[Span]:
    """The instrument's stored spans, sorted (none: []); a catalog on object storage
    (`s3://bucket/prefix`, with its fsspec `storage_options`) is read through fsspec."""
    location = str(catalog)
    try:
        if "://" in location and not location.startswith("file://"):
            import fsspec

            with fsspec.open(f"{location.rstrip('/')}/{FOLDER}/{instrument_id}.json", "rb", **(storage_options or {})) as fh:
                raw = msgspec.json.decode(fh.read())
        else:
            raw = msgspec.json.decode(spans_file(catalog, instrument_id).read_bytes())
    except FileNotFoundError:
        return []
    return sorted((int(a), int(b)) for a, b in raw["spans"])


def add_invalid_spans(
    catalog: str | Path, instrument_id: str, spans: Iterable[Span], replacing: Span | None = None
) -> list[Span]:
    """Store `spans` with those already there (those overlapping `replacing`, the span of data an
    import replaced, are dropped first); returns what is stored."""
    old = read_invalid_spans(catalog, instrument_id)
    if replacing is not None:
        old = [s for s in old if not (s[0] <= replacing[1] and replacing[0] <= s[1])]
    stored = sorted(set(old) | {(int(a), int(b)) for a, b in spans})
    path = spans_file(catalog, instrument_id)
    if not stored and not path.exists():
        return stored
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(msgspec.json.encode({"spans": [list(s) for s in stored]}))
    os.replace(tmp, path)
    return stored


def encode(spans: Iterable[Span]) -> bytes:
    """The spans as a Parquet metadata value."""
    return msgspec.json.encode([list(s) for s in spans])


def decode(value: bytes | None) -> list[Span]:
    return [] if not value else sorted((int(a), int(b)) for a, b in msgspec.json.decode(value))


class InvalidSpans:
    """Whether an exchange time lies strictly inside a span. Overlapping spans are merged; `inside`
    is a binary search (the replays ask once per book batch)."""

    def __init__(self, spans: Iterable[Span] = ()) -> None:
        merged: list[list[int]] = []
        for a, b in sorted(spans):
            if merged and a < merged[-1][1]:  # a span ending where the next starts: that instant is valid
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        self.spans: list[Span] = [(a, b) for a, b in merged]
        self._starts = [a for a, _ in self.spans]

    def __bool__(self) -> bool:
        return bool(self.spans)

    def __len__(self) -> int:
        return len(self.spans)

    def inside(self, ts: int) -> bool:
        i = bisect.bisect_left(self._starts, ts) - 1  # the last span starting strictly before ts
        return i >= 0 and ts < self.spans[i][1]

    def inside_each(self, ts: np.ndarray) -> np.ndarray:
        """`inside` for each of an array of exchange times (the compiled feature replay's chunks)."""
        if not self.spans:
            return np.zeros(len(ts), dtype=np.bool_)
        starts, ends = np.array(self.spans, dtype=np.int64).T
        i = np.searchsorted(starts, ts, side="left") - 1
        return (i >= 0) & (ts < ends[np.maximum(i, 0)])

    def next_start(self, ts) -> int:
        """The start of the first span starting at or after `ts` (int64 max: none)."""
        i = bisect.bisect_left(self._starts, ts)
        return self._starts[i] if i < len(self._starts) else 2**63 - 1

    @property
    def seconds(self) -> float:
        return sum(b - a for a, b in self.spans) / 1e9
