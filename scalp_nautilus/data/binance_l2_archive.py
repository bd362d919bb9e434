"""Binance's historical order-book files (full L2, futures) into the catalog, streamed.

Binance grants, on request, daily order-book files per futures symbol, with the columns
``symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty,pu``: a ``snap``
block (the whole book at one update id: every row of it carries the snapshot's lastUpdateId as
``last_update_id``), then ``set`` rows, one per price level an update replaced (the rows of one
update share its timestamp, ids and ``pu``; a qty of 0 removes the level). The snapshots may
come in a file of their own (``..._depth_snap.csv`` beside ``..._depth_update.csv``): give it as
`snapshots`, and its snapshots are merged into the updates by update id, as the stream would
have carried them.

Reading: Nautilus 1.231's `BinanceOrderBookDeltaDataLoader` reads the format whole (pandas) and
drops the update ids and ``pu``. `BinanceOrderBookStreamLoader` extends it with `stream`: the
frame ``load`` gives, for successive slices of the file (bounded memory), keeping
``first_update_id``, ``last_update_id`` and ``pu``.

Book sync: each update becomes the depth diff it was on the WebSocket (``U``, ``u``, ``pu``,
levels) and each snap block the REST snapshot, and both go through the raw capture importer
(`BinanceCaptureImporter.feed`), so `BookSync`'s rules and the capture's batches apply unchanged:
a snapshot is CLEAR + ADDs flagged ``F_SNAPSHOT``, each update one batch (``F_LAST`` on its last
delta, its ``last_update_id`` as the sequence), a broken ``pu`` chain is counted and logged, and
the book is cleared (a CLEAR) and stays empty until the next usable snapshot. ``ts_event`` and
``ts_init`` are the row's timestamp (ms): the files hold no receive time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from collections.abc import Iterator
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from nautilus_trader.adapters.binance.loaders import BinanceOrderBookDeltaDataLoader
from nautilus_trader.model.enums import RecordFlag

from scalp_nautilus.data.binance_capture import BinanceCaptureImporter
from scalp_nautilus.data.binance_capture import CaptureError
from scalp_nautilus.data.binance_capture import CaptureStats
from scalp_nautilus.instruments import ContractSpec
from scalp_nautilus.instruments import resolve_spec

log = logging.getLogger(__name__)

_MS = 1_000_000
_DTYPES = {
    "symbol": str,
    "timestamp": "int64",
    "first_update_id": "Int64",
    "last_update_id": "int64",
    "side": str,
    "update_type": str,
    "price": "float64",
    "qty": "float64",
    "pu": "Int64",
}


class BinanceOrderBookStreamLoader(BinanceOrderBookDeltaDataLoader):
    """Nautilus's Binance order-book loader, streamed (see the module doc)."""

    @classmethod
    def stream(cls, file_path: PathLike[str] | str, chunksize: int = 500_000) -> Iterator[pd.DataFrame]:
        """`load`'s frame for each `chunksize` rows of the file (plain CSV, or .gz / .zip), plus the
        columns ``first_update_id``, ``last_update_id`` and ``pu`` (-1 where empty)."""
        with pd.read_csv(file_path, chunksize=chunksize, dtype=_DTYPES) as reader:
            for raw in reader:
                yield cls.frame(raw)

    @classmethod
    def frame(cls, df: pd.DataFrame) -> pd.DataFrame:
        """The rows mapped as `load` maps them (``map_actions``, ``map_sides``, ``map_flags``),
        vectorised."""
        sides = df["side"].str.lower()
        unknown = ~sides.isin(["a", "b"])
        if unknown.any():
            cls.map_sides(str(df["side"][unknown].iloc[0]))  # raises as `load` does
        snap = (df["update_type"] == "snap").to_numpy()
        out = pd.DataFrame(
            {
                "instrument_id": df["symbol"] + ".BINANCE",
                "action": np.where(snap, "ADD", np.where(df["qty"].to_numpy() == 0, "DELETE", "UPDATE")),
                "side": np.where(sides.to_numpy() == "b", "BUY", "SELL"),
                "price": df["price"],
                "size": df["qty"],
                "order_id": 0,
                "flags": np.where(snap, RecordFlag.F_SNAPSHOT.value, 0),
                "sequence": df["last_update_id"],
                "first_update_id": df["first_update_id"].fillna(-1).astype("int64"),
                "last_update_id": df["last_update_id"],
                "pu": df["pu"].fillna(-1).astype("int64"),
            }
        )
        out.index = pd.DatetimeIndex(pd.to_datetime(df["timestamp"], unit="ms", utc=True), name="timestamp")
        return out


class BinanceBookArchiveImporter:
    """One symbol's order-book files (in time order) as Nautilus `OrderBookDelta`s in ``ts_init``
    order; `stats` (the capture importer's `CaptureStats`) says what was applied and skipped.

    Parameters
    ----------
    paths : iterable of paths
        The update files (each may hold snap blocks), in time order.
    snapshots : iterable of paths
        Files of snap blocks alone, merged into the updates by update id.
    symbol : str, optional
        Default: the first row's.
    """

    def __init__(
        self,
        paths: Iterable[str | Path],
        snapshots: Iterable[str | Path] = (),
        symbol: str | None = None,
        exchange_info: str | Path | None = None,
        spec: ContractSpec | None = None,
        chunksize: int = 500_000,
    ) -> None:
        self.paths = [Path(p) for p in paths]
        self.snapshot_paths = [Path(p) for p in snapshots]
        if not self.paths:
            raise CaptureError("no order-book files given")
        for p in self.paths + self.snapshot_paths:
            if not p.exists():
                raise CaptureError(f"{p}: no such file")
        first = pd.read_csv(self.paths[0], nrows=1, dtype=str)
        if list(first.columns) != list(_DTYPES):
            raise CaptureError(f"{self.paths[0]}: columns {list(first.columns)}, expected {','.join(_DTYPES)}")
        symbol = (symbol or str(first["symbol"].iloc[0])).upper()
        if spec is None:
            spec = resolve_spec("BINANCE", symbol, exchange_info, str(first["price"].iloc[0]), str(first["qty"].iloc[0]))
        self.chunksize = chunksize
        self._feed = BinanceCaptureImporter([], symbol=symbol, spec=spec, clock_offset_ns=0)
        self.symbol = symbol
        self.instrument = self._feed.instrument
        self.stats: CaptureStats = self._feed.stats

    def events(self) -> Iterator[object]:
        snapshots = sorted((m for path in self.snapshot_paths for _, m in self._messages(path)), key=_update_id)
        if any("stream" in m for m in snapshots):
            raise CaptureError(f"{', '.join(map(str, self.snapshot_paths))}: set rows in a snapshot file")
        pending = iter(snapshots)
        snap = next(pending, None)
        for path in self.paths:
            for where, msg in self._messages(path):
                # A snapshot goes before the first update it does not contain (u >= lastUpdateId).
                while snap is not None and "stream" in msg and _update_id(snap) <= _update_id(msg):
                    yield from self._feed.feed(snap["T"] * _MS, snap, f"{where} (snapshot {snap['lastUpdateId']})")
                    snap = next(pending, None)
                yield from self._feed.feed(_stamp(msg) * _MS, msg, where)
        if snap is not None:
            log.info("snapshots after the last update are not needed: %d left", 1 + sum(1 for _ in pending))
        self._feed.finish()

    def _messages(self, path: Path) -> Iterator[tuple[str, dict]]:
        """Each update (as a depthUpdate message) and snap block (as a REST snapshot) of the file."""
        tail: pd.DataFrame | None = None
        rows = 0
        for chunk in BinanceOrderBookStreamLoader.stream(path, self.chunksize):
            frame = chunk if tail is None else pd.concat([tail, chunk])  # the group the chunk cut, continued
            cols = _Columns(frame)
            starts = np.flatnonzero(np.r_[True, (cols.last[1:] != cols.last[:-1]) | (cols.snap[1:] != cols.snap[:-1])])
            # The last group may go on in the next chunk.
            for a, b in zip(starts[:-1].tolist(), starts[1:].tolist()):
                yield f"{path.name}:{rows + a + 2}", cols.message(a, b)
            rows += int(starts[-1])
            tail = frame.iloc[starts[-1] :]
        if tail is not None and len(tail):
            yield f"{path.name}:{rows + 2}", _Columns(tail).message(0, len(tail))


class _Columns:
    """A frame of `BinanceOrderBookStreamLoader.stream` as numpy columns."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.last = frame["last_update_id"].to_numpy()
        self.first = frame["first_update_id"].to_numpy()
        self.pu = frame["pu"].to_numpy()
        self.snap = frame["flags"].to_numpy() != 0
        self.ms = frame.index.as_unit("ms").asi8
        self.buy = (frame["side"] == "BUY").to_numpy()
        self.price = frame["price"].to_numpy()
        self.size = frame["size"].to_numpy()
        self.symbol = frame["instrument_id"].to_numpy()

    def message(self, a: int, b: int) -> dict:
        buy, levels = self.buy[a:b], np.column_stack((self.price[a:b], self.size[a:b]))
        bids, asks = levels[buy].tolist(), levels[~buy].tolist()
        stamp = int(self.ms[a])
        symbol = str(self.symbol[a]).removesuffix(".BINANCE")
        if self.snap[a]:
            return {"lastUpdateId": int(self.last[a]), "T": stamp, "symbol": symbol, "bids": bids, "asks": asks}
        data = {
            "e": "depthUpdate",
            "s": symbol,
            "E": stamp,
            "T": stamp,
            "U": int(self.first[a]),
            "u": int(self.last[a]),
            "pu": int(self.pu[a]),
            "b": bids,
            "a": asks,
        }
        return {"stream": f"{data['s'].lower()}@depth", "data": data}


def _update_id(msg: dict) -> int:
    return msg["data"]["u"] if "stream" in msg else msg["lastUpdateId"]


def _stamp(msg: dict) -> int:
    return msg["data"]["T"] if "stream" in msg else msg["T"]
