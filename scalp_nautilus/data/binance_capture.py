"""Raw Binance futures and spot WebSocket captures into Nautilus data.

A capture is gzip text, one message per line: ``<local receive time> <JSON>``, the JSON being the
combined-stream envelope ``{"stream": ..., "data": ...}`` exactly as Binance sends it, plus one
line without ``stream`` holding the REST depth snapshot. Several files in sequence are one capture
(the second continues the first: no snapshot, the ``pu`` chain runs across the files).

Book synchronisation follows Binance's rules for a local futures book (`BookSync` in
`scalp_nautilus.data.binance_sync`, shared with the live data client): diffs are buffered until the
snapshot (the capturer subscribes first, so the diff that brackets the snapshot is usually logged
*before* it); diffs with ``u < lastUpdateId`` are dropped; the first applied diff has ``U <=
lastUpdateId <= u``; afterwards every diff's ``pu`` must equal the previous diff's ``u``. A broken
chain is never merged: the importer emits a CLEAR (the book is empty, so no consumer can mistake the
stale book for a live one), counts and logs the gap, and re-syncs from the next snapshot in the
capture.

Spot captures (told from futures by their depth diffs, which carry no ``pu``) import as a
`CurrencyPair` (``NEXOUSDT.BINANCE``) and follow spot's chain rule: each diff's ``U`` is the
previous diff's ``u`` + 1 (`BookSync(spot=True)`). Spot has no mark price or funding. Its REST
snapshot carries no exchange time, so it is stamped with its corrected receive time.

Timestamps: ``ts_event`` is the exchange's time (``T`` for depth and trades, as Nautilus's Binance
adapter does; ``E`` for mark price); ``ts_init`` is the local receive time corrected for the
capturer's clock. The 2024 captures' capturer ran ~1.3-1.5 s behind the exchange, so raw receive
times precede the events they received. The correction is the smallest shift that makes every
observed latency non-negative (estimated on the first lines of the capture, or given), and
``ts_init`` is then clamped to be at least ``ts_event`` and non-decreasing, so the catalog's
``ts_init`` order is the capturer's arrival order.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from decimal import InvalidOperation
from pathlib import Path

import msgspec

from nautilus_trader.model.data import BookOrder
from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.data import MarkPriceUpdate
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.enums import BookAction
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import RecordFlag
from nautilus_trader.model.identifiers import TradeId
from nautilus_trader.model.instruments import CryptoPerpetual
from nautilus_trader.model.instruments import CurrencyPair
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity

from scalp_nautilus.data.binance_sync import BookSync
from scalp_nautilus.data.binance_sync import Sync
from scalp_nautilus.data.binance_sync import Verdict
from scalp_nautilus.data.binance_sync import clear_delta
from scalp_nautilus.data.binance_sync import snapshot_deltas
from scalp_nautilus.data.compressed import open_lines
from scalp_nautilus.errors import InputError
from scalp_nautilus.instruments import ContractSpec
from scalp_nautilus.instruments import resolve_spec

log = logging.getLogger(__name__)

_MS = 1_000_000
_F_LAST = int(RecordFlag.F_LAST)
_MARK_PRECISION = 8  # Binance prints mark prices with 8 decimals whatever the tick
_MAX_BUFFERED_DIFFS = 100_000


def receive_time_ns(raw: int) -> int:
    """Receive stamps are ns (2024 files) or µs (2023 `.dat` files): tell them by magnitude."""
    if raw >= 10**17:
        return raw
    if raw >= 10**14:
        return raw * 1_000
    if raw >= 10**11:
        return raw * 1_000_000
    raise ValueError(f"receive time {raw} is not a UNIX time in ms, µs or ns")


@dataclass
class CaptureStats:
    """What the importer saw and did; every skipped message is counted here."""

    lines: int = 0
    snapshots: int = 0
    snapshots_applied: int = 0
    snapshots_unusable: int = 0
    depth_messages: int = 0
    depth_applied: int = 0
    depth_empty: int = 0
    depth_dropped_before_snapshot: int = 0
    depth_skipped_unsynced: int = 0
    depth_duplicates: int = 0
    sequence_gaps: int = 0
    deltas: int = 0
    trades: int = 0
    trade_duplicates: int = 0
    trade_id_gaps: int = 0
    trades_missing: int = 0
    trades_invalid: int = 0
    mark_prices: int = 0
    funding_updates: int = 0
    book_tickers: int = 0
    other_symbol: int = 0
    unknown_streams: Counter = field(default_factory=Counter)
    malformed_lines: int = 0
    truncated_files: int = 0
    receive_time_regressions: int = 0
    ts_init_clamped: int = 0
    clock_offset_ns: int = 0
    # Spans where the book could not be trusted, in exchange time: from the last good book update
    # before a broken chain to the snapshot that re-synced it (or the capture's last event).
    invalid_spans_ns: list[tuple[int, int]] = field(default_factory=list)
    _open_span: int | None = None  # start of a span not re-synced yet
    _last_event_ns: int = 0

    def book_broken(self, last_good_ns: int | None, gap_ns: int) -> None:
        """The chain broke at a diff of exchange time `gap_ns`: the book is stale since the last
        good update (`last_good_ns`; none yet: since that diff)."""
        if self._open_span is None:
            self._open_span = gap_ns if last_good_ns is None else last_good_ns

    def book_resynced(self, ts_event: int) -> None:
        if self._open_span is not None:
            self.invalid_spans_ns.append((self._open_span, max(ts_event, self._open_span)))
            self._open_span = None

    def seen(self, ts_event: int) -> None:
        if ts_event > self._last_event_ns:
            self._last_event_ns = ts_event

    def ended(self) -> None:
        """The capture ended: a span still open runs to its last event."""
        self.book_resynced(self._last_event_ns)

    @property
    def book_missing(self) -> bool:
        """Depth diffs came, and no snapshot could ever be used: no book was imported."""
        return self.depth_messages > 0 and self.snapshots_applied == 0

    def summary(self) -> str:
        unknown = sum(self.unknown_streams.values())
        lines = [
            f"lines {self.lines:,}  malformed {self.malformed_lines:,}  truncated files {self.truncated_files}",
            f"snapshots {self.snapshots} (applied {self.snapshots_applied}, unusable {self.snapshots_unusable})",
            f"depth diffs {self.depth_messages:,}: applied {self.depth_applied:,}, dropped before snapshot "
            f"{self.depth_dropped_before_snapshot:,}, skipped while out of sync {self.depth_skipped_unsynced:,}, "
            f"duplicates {self.depth_duplicates:,}, empty {self.depth_empty:,}",
            f"sequence gaps {self.sequence_gaps}  -> deltas written {self.deltas:,}",
            f"trades {self.trades:,} (duplicates {self.trade_duplicates}, invalid {self.trades_invalid}, "
            f"id gaps {self.trade_id_gaps} missing {self.trades_missing})",
            f"mark price / funding updates {self.mark_prices:,} / {self.funding_updates:,}",
            f"bookTicker (not imported) {self.book_tickers:,}  other symbols {self.other_symbol:,}  "
            f"unknown streams {unknown:,} {dict(self.unknown_streams) or ''}",
            f"capture clock offset {self.clock_offset_ns / 1e6:+.3f} ms, ts_init clamped {self.ts_init_clamped:,}, "
            f"receive-time regressions {self.receive_time_regressions:,}",
        ]
        for start, end in self.invalid_spans_ns:
            lines.append(
                f"book invalid from {_iso(start)} to {_iso(end)}: {(end - start) / 1e9:.3f} s of exchange time "
                "(the last good update to the resync)"
            )
        if self.book_missing:
            lines.append(f"NO BOOK: no usable depth snapshot, {self.depth_messages:,} depth diffs not imported")
        return "\n".join(lines)


def _iso(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000 // 1_000_000:03d}Z"


@dataclass
class _Diff:
    recv_ns: int
    U: int
    u: int
    pu: int | None
    ts_event: int
    levels: list[tuple[OrderSide, float, float]]


class CaptureError(InputError):
    pass


def capture_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files of one capture, in the order given; none, or a missing one, is a `CaptureError`."""
    files = [Path(p) for p in paths]
    if not files:
        raise CaptureError("no capture files given")
    for p in files:
        if not p.exists():
            raise CaptureError(f"{p}: no such file")
    return files


def read_lines(paths: Iterable[Path], stats: CaptureStats) -> Iterator[tuple[str, int, dict]]:
    """``(file:line, receive time ns, JSON object)`` for each readable line of the files in order.
    Unreadable lines and files that end early are counted in `stats` (`lines`, `malformed_lines`,
    `truncated_files`), logged and skipped."""
    decode = msgspec.json.decode
    for path in paths:
        lineno = 0
        reader = open_lines(path)
        while True:
            try:
                line = next(reader)
            except StopIteration:
                break
            except (EOFError, OSError) as exc:  # StreamEnded, StreamDamaged
                stats.truncated_files += 1
                log.warning("%s: stream ends early after line %d (%s); kept what was read", path, lineno, exc)
                break
            lineno += 1
            stats.lines += 1
            where = f"{path.name}:{lineno}"
            sp = line.find(b" ")
            try:
                recv = receive_time_ns(int(line[:sp]))
                msg = decode(line[sp + 1 :])
                if not isinstance(msg, dict):
                    raise ValueError("not a JSON object")
            except (ValueError, msgspec.DecodeError) as exc:
                stats.malformed_lines += 1
                last = not line.endswith(b"\n")
                log.warning("%s: skipped %s line (%s): %.80r", where, "truncated last" if last else "malformed", exc, line)
                continue
            yield where, recv, msg


@dataclass
class Prescan:
    """What the first lines of a capture tell before the import: clock offset, symbols, samples."""

    clock_offset_ns: int
    symbols: Counter
    sample_price: str | None
    sample_size: str | None
    spot: bool = False  # depth diffs without `pu`: a spot stream


def prescan(paths: Iterable[str | Path], max_lines: int = 20_000) -> Prescan:
    """Read the first `max_lines` lines for the clock offset, the symbols and sample strings.

    The clock offset is the smallest shift of the receive clock that makes every observed
    latency (receive time minus the exchange's ``E``) non-negative.
    """
    worst = 0
    symbols: Counter = Counter()
    sample: tuple[str | None, str | None] = (None, None)
    seen = 0
    diffs = with_pu = 0
    for path in paths:
        try:
            for line in open_lines(Path(path)):
                seen += 1
                if seen > max_lines:
                    break
                sp = line.find(b" ")
                try:
                    recv = receive_time_ns(int(line[:sp]))
                    data = msgspec.json.decode(line[sp + 1 :]).get("data")
                    worst = min(worst, recv - int(data["E"]) * _MS)
                except (ValueError, TypeError, KeyError, AttributeError, msgspec.DecodeError):
                    continue
                if data.get("e") == "depthUpdate":
                    diffs += 1
                    with_pu += "pu" in data
                if data.get("e") in ("depthUpdate", "trade"):
                    symbols[data["s"]] += 1
                    if sample[0] is None:
                        levels = data.get("b") or data.get("a")
                        sample = tuple(levels[0]) if levels else (data.get("p"), data.get("q"))
        except (EOFError, OSError):
            continue
    return Prescan(max(0, -worst), symbols, *sample, spot=diffs > 0 and with_pu == 0)


class BinanceCaptureImporter:
    """Turns one capture (one or more files read as one stream) into time-ordered Nautilus data.

    `events()` yields Nautilus objects in non-decreasing ``ts_init`` order; `stats` says what was
    applied, dropped or skipped and why. The instrument is resolved from the symbol in the data
    (or `symbol`), through `resolve_spec`.
    """

    def __init__(
        self,
        paths: Iterable[str | Path],
        symbol: str | None = None,
        exchange_info: str | Path | None = None,
        clock_offset_ns: int | None = None,
        spec: ContractSpec | None = None,
    ) -> None:
        paths = list(paths)
        # No files: a stream its caller feeds (`feed`), for a known contract (the L2 archive import).
        fed = not paths and spec is not None and symbol is not None
        self.paths = [] if fed else capture_files(paths)
        scan = Prescan(0, Counter(), None, None, spot=spec.spot) if fed and spec is not None else prescan(self.paths)
        if symbol is None:
            if len(scan.symbols) > 1:
                raise CaptureError(f"capture holds several symbols {sorted(scan.symbols)}: choose one with symbol=")
            if not scan.symbols:
                raise CaptureError(f"{self.paths[0]}: no depthUpdate or trade message in the first lines")
            symbol = next(iter(scan.symbols))
        self.symbol = symbol.upper()
        self.spot = spec.spot if spec is not None else scan.spot
        self.spec = spec or resolve_spec(
            "BINANCE",
            self.symbol,
            exchange_info,
            scan.sample_price,
            scan.sample_size,
            spot=self.spot,
        )
        self.instrument: CryptoPerpetual | CurrencyPair = self.spec.to_instrument()
        self.stats = CaptureStats(clock_offset_ns=scan.clock_offset_ns if clock_offset_ns is None else clock_offset_ns)
        self._iid = self.instrument.id
        self._pp = self.instrument.price_precision
        self._sp = self.instrument.size_precision
        self._last_ts_init = 0
        self._last_recv = 0
        self._sync = BookSync(_MAX_BUFFERED_DIFFS, spot=self.spot)
        self._max_u = -1
        self._last_good_ns: int | None = None  # exchange time of the last book update applied
        self._book_emitted = False
        self._last_trade_id: int | None = None
        self._where = ""

    # ---------------------------------------------------------------- reading

    def events(self) -> Iterator[object]:
        for self._where, recv, msg in read_lines(self.paths, self.stats):  # noqa: B020 - the position, for error messages
            yield from self.feed(recv, msg)
        self.finish()

    def feed(self, recv: int, msg: dict, where: str | None = None) -> Iterator[object]:
        """One message of the stream (a capture line's JSON) received at `recv` (ns): its Nautilus
        data. `where` names its place in messages."""
        if where is not None:
            self._where = where
        if recv < self._last_recv:
            self.stats.receive_time_regressions += 1
        self._last_recv = max(self._last_recv, recv)
        try:
            yield from self._on_message(recv, msg)
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            self.stats.malformed_lines += 1
            log.warning("%s: skipped malformed message (%s: %s)", self._where, type(exc).__name__, exc)

    def finish(self) -> None:
        """The end of the stream: diffs never applied are counted."""
        buffer = self._sync.buffer
        self.stats.depth_skipped_unsynced += self._sync.overflowed
        if self._sync.state is not Sync.SYNCED:
            if buffer or self.stats.depth_messages:
                log.warning(
                    "capture ends out of sync: %d depth diffs were never applied (no usable snapshot after them)",
                    len(buffer),
                )
            self.stats.depth_skipped_unsynced += len(buffer)
            buffer.clear()
        self.stats.ended()

    def _on_message(self, recv: int, msg: dict) -> Iterator[object]:
        stream = msg.get("stream")
        if stream is None:
            if "lastUpdateId" in msg:
                yield from self._on_snapshot(recv, msg)
            else:
                self._unknown("<no stream>")
            return
        data = msg["data"]
        # Spot's bookTicker carries no event type: known by its stream name.
        kind = data.get("e") or ("bookTicker" if stream.endswith("@bookTicker") else None)
        if kind == "bookTicker":
            self.stats.book_tickers += 1
            return
        if kind not in ("depthUpdate", "trade", "markPriceUpdate"):
            self._unknown(stream)
            return
        if data["s"] != self.symbol:
            self.stats.other_symbol += 1
            return
        if kind == "depthUpdate":
            yield from self._on_depth(recv, data)
        elif kind == "trade":
            yield from self._on_trade(recv, data)
        else:
            yield from self._on_mark_price(recv, data)

    def _unknown(self, stream: str) -> None:
        if stream not in self.stats.unknown_streams:
            log.warning("%s: stream %r is not imported (counted and skipped)", self._where, stream)
        self.stats.unknown_streams[stream] += 1

    # ---------------------------------------------------------------- time

    def _ts_init(self, recv: int, ts_event: int) -> int:
        self.stats.seen(ts_event)
        ts = recv + self.stats.clock_offset_ns
        if ts < ts_event:
            self.stats.ts_init_clamped += 1
            ts = ts_event
        if ts < self._last_ts_init:
            ts = self._last_ts_init
        self._last_ts_init = ts
        return ts

    # ---------------------------------------------------------------- book

    def _on_snapshot(self, recv: int, snap: dict) -> Iterator[object]:
        self.stats.snapshots += 1
        if snap.get("symbol", self.symbol) != self.symbol:
            self.stats.other_symbol += 1
            return
        if self._sync.state is Sync.SYNCED:
            # The diff chain is unbroken, so the book is already exact; a later REST snapshot
            # would only race the stream.
            log.info("%s: snapshot %s while in sync: not needed, ignored", self._where, snap["lastUpdateId"])
            return
        last_id = int(snap["lastUpdateId"])
        usable, dropped, buffered = self._sync.snapshot(last_id)
        self.stats.depth_dropped_before_snapshot += dropped
        if not usable:
            self.stats.snapshots_unusable += 1
            log.warning(
                "%s: snapshot %d is older than the buffered diffs (first U=%d): updates in between are "
                "missing; waiting for a newer snapshot",
                self._where,
                last_id,
                self._sync.buffer[0].U,
            )
            return
        stamp = snap.get("T") or snap.get("E")
        # Spot's REST snapshot has no exchange time: its corrected receive time stands in.
        ts_event = int(stamp) * _MS if stamp else recv + self.stats.clock_offset_ns
        ts_init = self._ts_init(recv, ts_event)
        deltas = snapshot_deltas(self._iid, snap["bids"], snap["asks"], last_id, ts_event, ts_init, self._pp, self._sp)
        if len(deltas) == 1:
            log.warning("%s: empty snapshot %d: the book starts empty", self._where, last_id)
        self._book_emitted = True
        self.stats.deltas += len(deltas)
        yield from deltas
        self.stats.snapshots_applied += 1
        self.stats.book_resynced(ts_event)
        self._last_good_ns = ts_event
        for diff in buffered:
            yield from self._apply_or_buffer(diff)

    def _on_depth(self, recv: int, data: dict) -> Iterator[object]:
        self.stats.depth_messages += 1
        # Parse everything before touching the sync state: a diff that cannot be read must not
        # advance the chain, so the next diff's `pu` reveals the hole as a gap.
        diff = _Diff(
            recv,
            int(data["U"]),
            int(data["u"]),
            _opt_int(data.get("pu")),
            int(data.get("T") or data["E"]) * _MS,
            parse_levels(data),
        )
        if diff.u <= self._max_u:
            self.stats.depth_duplicates += 1
            if self.stats.depth_duplicates <= 10:
                log.warning("%s: depth diff u=%d repeats or precedes u=%d: duplicate skipped", self._where, diff.u, self._max_u)
            return
        self._max_u = diff.u
        yield from self._apply_or_buffer(diff)

    def _apply_or_buffer(self, diff: _Diff) -> Iterator[object]:
        verdict = self._sync.diff(diff)
        if verdict is Verdict.APPLY:
            yield from self._diff_deltas(diff)
        elif verdict is Verdict.STALE:
            self.stats.depth_dropped_before_snapshot += 1
        elif verdict is Verdict.GAP:
            yield from self._gap(diff)

    def _gap(self, diff: _Diff) -> Iterator[object]:
        self.stats.sequence_gaps += 1
        log.warning(
            "%s: sequence gap (%s): book marked invalid (cleared) until the next snapshot",
            self._where,
            self._sync.gap_reason,
        )
        self.stats.book_broken(self._last_good_ns, diff.ts_event)
        if self._book_emitted:
            self.stats.deltas += 1
            yield clear_delta(self._iid, diff.u, diff.ts_event, self._ts_init(diff.recv_ns, diff.ts_event))

    def _diff_deltas(self, diff: _Diff) -> Iterator[object]:
        self.stats.depth_applied += 1
        self._last_good_ns = diff.ts_event
        if not diff.levels:
            self.stats.depth_empty += 1
            return
        ts_init = self._ts_init(diff.recv_ns, diff.ts_event)
        iid, pp, sp, u, ts_event = self._iid, self._pp, self._sp, diff.u, diff.ts_event
        last = len(diff.levels) - 1
        self.stats.deltas += len(diff.levels)
        for i, (side, price, size) in enumerate(diff.levels):
            yield OrderBookDelta(
                iid,
                BookAction.UPDATE if size > 0 else BookAction.DELETE,
                BookOrder(side, Price(price, pp), Quantity(size, sp), 0),
                _F_LAST if i == last else 0,
                u,
                ts_event,
                ts_init,
            )

    # ---------------------------------------------------------------- trades, funding

    def _on_trade(self, recv: int, data: dict) -> Iterator[object]:
        trade_id = int(data["t"])
        if self._last_trade_id is not None:
            if trade_id <= self._last_trade_id:
                self.stats.trade_duplicates += 1
                return
            if trade_id > self._last_trade_id + 1:
                self.stats.trade_id_gaps += 1
                self.stats.trades_missing += trade_id - self._last_trade_id - 1
                log.warning(
                    "%s: trade ids jump %d -> %d: %d trades missing from the capture",
                    self._where,
                    self._last_trade_id,
                    trade_id,
                    trade_id - self._last_trade_id - 1,
                )
        self._last_trade_id = trade_id
        price, size = float(data["p"]), float(data["q"])
        if not (price > 0 and size > 0 and math.isfinite(price) and math.isfinite(size)):
            self.stats.trades_invalid += 1
            log.warning("%s: trade %d with price %r size %r skipped", self._where, trade_id, data["p"], data["q"])
            return
        ts_event = int(data["T"]) * _MS
        self.stats.trades += 1
        yield TradeTick(
            self._iid,
            Price(price, self._pp),
            Quantity(size, self._sp),
            AggressorSide.SELLER if data["m"] else AggressorSide.BUYER,
            TradeId(str(trade_id)),
            ts_event,
            self._ts_init(recv, ts_event),
        )

    def _on_mark_price(self, recv: int, data: dict) -> Iterator[object]:
        ts_event = int(data["E"]) * _MS
        ts_init = self._ts_init(recv, ts_event)
        mark = float(data["p"])
        if mark > 0 and math.isfinite(mark):
            self.stats.mark_prices += 1
            yield MarkPriceUpdate(self._iid, Price(mark, _MARK_PRECISION), ts_event, ts_init)
        rate = data.get("r")
        if rate in (None, ""):
            return  # delivery contracts carry no funding rate
        next_funding = int(data.get("T") or 0) * _MS
        self.stats.funding_updates += 1
        yield FundingRateUpdate(
            self._iid,
            Decimal(rate),
            ts_event,
            ts_init,
            interval=self.spec.funding_interval_hours * 60,
            next_funding_ns=next_funding or None,
        )


def parse_levels(data: dict) -> list[tuple[OrderSide, float, float]]:
    """A diff's level replacements (size 0 removes the level); invalid numbers raise."""
    levels = []
    for side, key in ((OrderSide.BUY, "b"), (OrderSide.SELL, "a")):
        for p, q in data[key]:
            price, size = float(p), float(q)
            if not (price > 0 and size >= 0 and math.isfinite(size) and math.isfinite(price)):
                raise ValueError(f"invalid level {p!r} x {q!r} in diff u={data['u']}")
            levels.append((side, price, size))
    return levels


def _opt_int(value) -> int | None:
    return None if value is None else int(value)
