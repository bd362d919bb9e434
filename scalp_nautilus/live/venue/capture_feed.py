"""A recorded Binance futures capture (or a Bybit order-book capture, see `load_bybit_book_capture`)
as the replay venue serves it: the messages in arrival order, the venue's own copy of the book,
and the conversions between what was recorded and what a live Binance USD-M client is sent.

- Order: the capturer's arrival order (file order). Pacing uses the receive times; a receive time
  that steps back is held at the previous one.
- Streams: ``depthUpdate``, ``markPriceUpdate`` and ``bookTicker`` are sent as recorded, under
  their recorded stream names. Nautilus's futures client subscribes to ``<symbol>@aggTrade`` (it
  never asks for raw trades), so every recorded ``trade`` is also published as one ``aggTrade``
  (``a = f = l`` = the trade id, same price, size, times and maker flag). Binance would merge
  consecutive fills of one taker order at one price into a single aggTrade; the capture holds the
  raw fills, so the venue sends them one by one, which keeps a live run's trade features equal to
  a backtest's over the same capture.
- Time: with `shift_ms` every exchange timestamp (``E``, ``T``, the mark stream's next funding
  time ``T``) is moved by a whole number of seconds, so bars, buckets and every other grid of event
  time fall exactly as in the capture.
- The book: the venue applies the capture's snapshot and diffs by Binance's rules
  (`scalp_nautilus.data.binance_sync.BookSync`) as the replay passes them, so it can answer a
  depth request at any point of the replay and fill orders against the book of that moment.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from functools import cached_property
from pathlib import Path

import msgspec

from scalp_nautilus.data.binance_capture import CaptureStats
from scalp_nautilus.data.binance_capture import read_lines
from scalp_nautilus.data.binance_sync import BookSync
from scalp_nautilus.data.binance_sync import Sync
from scalp_nautilus.data.binance_sync import Verdict
from scalp_nautilus.data.compressed import open_lines
from scalp_nautilus.errors import InputError

log = logging.getLogger(__name__)

# Stream kinds by the event type of the recorded message.
KINDS = {"depthUpdate": "depth", "trade": "trade", "markPriceUpdate": "markPrice", "bookTicker": "bookTicker"}
SNAPSHOT = "snapshot"


@dataclass(slots=True)
class ReplayEvent:
    recv_ns: int  # receive time, held non-decreasing
    kind: str  # SNAPSHOT or a value of KINDS
    stream: str  # the recorded stream name ("" for the snapshot)
    data: dict  # the message's payload (the snapshot's whole body)


@dataclass
class Capture:
    symbol: str
    events: list[ReplayEvent]
    stats: CaptureStats
    skipped: Counter = field(default_factory=Counter)  # messages not replayed, by reason

    @property
    def kinds(self) -> set[str]:
        return {e.kind for e in self.events}

    @cached_property
    def first_event_ms(self) -> int:
        """Exchange time of the first message (ms): the capture's start."""
        return min(_event_ms(e) for e in self.events[:100] if _event_ms(e))

    def snapshot(self) -> dict:
        for e in self.events:
            if e.kind == SNAPSHOT:
                return e.data
        raise InputError(f"capture of {self.symbol} holds no depth snapshot: the venue cannot serve a book")


def _event_ms(e: ReplayEvent) -> int:
    return int(e.data.get("E") or e.data.get("T") or 0)


def load_capture(paths: Sequence[str | Path], symbol: str | None = None) -> Capture:
    """Read the files of one capture (in order): a Binance capture, or a Bybit order-book capture
    (one JSON message a line, see `load_bybit_book_capture`). Other symbols and unknown messages
    are counted in `skipped` and logged once per reason."""
    if _is_bybit_capture(Path(paths[0])):
        return load_bybit_book_capture(paths, symbol)
    stats = CaptureStats()
    events: list[ReplayEvent] = []
    skipped: Counter = Counter()
    found: Counter = Counter()
    last_recv = 0

    def skip(reason: str, where: str) -> None:
        if not skipped[reason]:
            log.warning("%s: %s (not replayed; counted)", where, reason)
        skipped[reason] += 1

    for where, recv, msg in read_lines([Path(p) for p in paths], stats):
        last_recv = max(last_recv, recv)
        stream = msg.get("stream")
        if stream is None:
            if "lastUpdateId" not in msg:
                skip("message without a stream that is not a depth snapshot", where)
                continue
            events.append(ReplayEvent(last_recv, SNAPSHOT, "", msg))
            continue
        data = msg.get("data")
        if not isinstance(data, dict) or (kind := KINDS.get(data.get("e", ""))) is None:
            skip(f"unknown stream {stream}", where)
            continue
        sym = data.get("s", "")
        found[sym] += 1
        if symbol is not None and sym != symbol:
            skip(f"symbol {sym}", where)
            continue
        events.append(ReplayEvent(last_recv, kind, stream, data))
    if symbol is None:
        if len(found) != 1:
            raise InputError(f"capture holds symbols {sorted(found)}: choose one")
        symbol = next(iter(found))
    if not events:
        raise InputError(f"no replayable message of {symbol} in {', '.join(map(str, paths))}")
    return Capture(symbol, events, stats, skipped)


def _is_bybit_capture(path: Path) -> bool:
    """Bybit's messages (``{"topic": ...``), bare (one JSON a line) or as the capturer writes them."""
    first = next(open_lines(path), b"").lstrip()
    return (first if first.startswith(b"{") else first.partition(b" ")[2]).startswith(b'{"topic"')


def _bybit_messages(paths: list[Path], stats: CaptureStats):
    """(file:line, receive time ns or None, message): bare JSON lines (the shared fixture) carry no
    receive time; the capturer's lines (`read_lines`) do."""
    for path in paths:
        if not next(open_lines(path), b"").lstrip().startswith(b"{"):
            yield from read_lines([path], stats)
            continue
        for n, line in enumerate(open_lines(path), 1):
            stats.lines += 1
            try:
                yield f"{path.name}:{n}", None, msgspec.json.decode(line)
            except msgspec.DecodeError as exc:
                stats.malformed_lines += 1
                log.warning("%s:%d: not JSON (%s); skipped (counted)", path.name, n, exc)


def load_bybit_book_capture(paths: Sequence[str | Path], symbol: str | None = None) -> Capture:
    """A recorded Bybit ``orderbook.<depth>.<symbol>`` stream (Bybit's own messages as received: one
    JSON a line, or ``<receive time> <JSON>`` as `scalp-nautilus record` writes them) in the
    venue's terms, so it is replayed as recorded: the snapshot is the capture's depth snapshot
    (``lastUpdateId`` its ``seq``), each delta a depth diff whose update id is its ``seq`` and whose
    previous id is the message before's (``U`` = ``pu`` = that ``seq``), so Binance's chain rule
    holds exactly while no message is missing; ``E`` and ``T`` are ``ts`` (the time Nautilus
    stamps a Bybit book with), ``cts`` is kept. Paced by the receive times, or by ``ts`` without
    them. Other topics and symbols are counted in `skipped`."""
    stats = CaptureStats()
    events: list[ReplayEvent] = []
    skipped: Counter = Counter()
    prev_seq: int | None = None
    last_recv = 0
    for where, recv, msg in _bybit_messages([Path(p) for p in paths], stats):
        try:
            topic, kind, data = msg["topic"], msg["type"], msg["data"]
            if not topic.startswith("orderbook."):
                skipped[f"topic {topic.split('.')[0]}"] += 1
                continue
            sym, seq, ts, cts = data["s"], int(data["seq"]), int(msg["ts"]), int(msg.get("cts") or msg["ts"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            stats.malformed_lines += 1
            log.warning("%s: not a Bybit message (%s); skipped (counted)", where, exc)
            continue
        if symbol is not None and sym != symbol:
            skipped[f"symbol {sym}"] += 1
            continue
        symbol = sym
        last_recv = max(last_recv, recv if recv is not None else ts * 1_000_000)
        if kind == "snapshot":
            snap = {"lastUpdateId": seq, "E": ts, "T": ts, "cts": cts, "bids": data["b"], "asks": data["a"]}
            events.append(ReplayEvent(last_recv, SNAPSHOT, "", snap))
        else:
            diff = {
                "e": "depthUpdate",
                "E": ts,
                "T": ts,
                "cts": cts,
                "s": sym,
                "U": prev_seq or seq,
                "u": seq,
                "pu": prev_seq,
                "b": data["b"],
                "a": data["a"],
            }
            events.append(ReplayEvent(last_recv, "depth", topic, diff))
        prev_seq = seq
    if not events or symbol is None:
        raise InputError(f"no Bybit order-book message in {', '.join(map(str, paths))}")
    return Capture(symbol, events, stats, skipped)


def shifted(data: dict, kind: str, shift_ms: int) -> dict:
    """The payload with its exchange timestamps moved by `shift_ms` (a copy; unchanged for 0)."""
    if not shift_ms:
        return data
    out = dict(data)
    for key in ("E", "T", "cts"):
        if out.get(key):  # the mark stream's T is the next funding time: moved with the rest
            out[key] = int(out[key]) + shift_ms
    return out


def agg_trade(trade: dict) -> dict:
    """The aggTrade a live client receives for one recorded trade (see the module doc)."""
    t = trade["t"]
    return {
        "e": "aggTrade",
        "E": trade["E"],
        "a": t,
        "s": trade["s"],
        "p": trade["p"],
        "q": trade["q"],
        "f": t,
        "l": t,
        "T": trade["T"],
        "m": trade["m"],
    }


def agg_trade_stream(trade_stream: str) -> str:
    return trade_stream.rsplit("@", 1)[0] + "@aggTrade"


@dataclass(slots=True)
class _Diff:
    U: int
    u: int
    pu: int | None
    bids: list
    asks: list
    data: dict | None = None  # the recorded message (as replayed), for an API that re-encodes it


class VenueBook:
    """The venue's book of the replayed symbol: price -> size per side, kept by Binance's rules.

    `consumed` is the liquidity our fills took from a level; a level's own update from the stream
    resets it (the recorded market replaces the level's size, and our earlier take cannot be
    traced through that change), as Nautilus's own matching engine does.
    """

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.consumed: dict[tuple[int, float], float] = {}
        self.sync = BookSync()
        self.update_id = 0  # the last applied update id: a snapshot's lastUpdateId, then each diff's u
        self.ts_ms = 0  # exchange time (T) of the last applied update
        self.gaps = 0

    @property
    def valid(self) -> bool:
        return self.sync.synced and bool(self.bids) and bool(self.asks)

    def best_bid(self) -> float:
        return max(self.bids) if self.bids else math.nan

    def best_ask(self) -> float:
        return min(self.asks) if self.asks else math.nan

    def mid(self) -> float:
        return 0.5 * (self.best_bid() + self.best_ask())

    def apply_snapshot(self, snap: dict) -> list[_Diff]:
        """Apply the capture's depth snapshot; returns the buffered diffs applied after it."""
        if self.sync.state is Sync.SYNCED:
            return []  # the chain is unbroken: a later REST snapshot would only race the stream
        usable, _, replay = self.sync.snapshot(int(snap["lastUpdateId"]))
        if not usable:
            log.warning("capture snapshot %s is older than the buffered diffs: waiting for a newer one", snap["lastUpdateId"])
            return []
        self.bids = {float(p): float(q) for p, q in snap["bids"] if float(q) > 0}
        self.asks = {float(p): float(q) for p, q in snap["asks"] if float(q) > 0}
        self.consumed.clear()
        self.update_id = int(snap["lastUpdateId"])
        self.ts_ms = int(snap.get("T") or snap.get("E") or 0)
        return [diff for diff in replay if self._judge(diff)]

    def apply_diff(self, data: dict) -> list[_Diff]:
        """Judge and apply one recorded diff; returns it in a list if it was applied (else empty)."""
        diff = _Diff(int(data["U"]), int(data["u"]), data.get("pu"), data["b"], data["a"], data)
        self.ts_ms = int(data.get("T") or data["E"])
        return [diff] if self._judge(diff) else []

    def _judge(self, diff: _Diff) -> bool:
        verdict = self.sync.diff(diff)
        if verdict is Verdict.APPLY:
            for side, levels, book in ((0, diff.bids, self.bids), (1, diff.asks, self.asks)):
                for p, q in levels:
                    price, size = float(p), float(q)
                    self.consumed.pop((side, price), None)
                    if size > 0:
                        book[price] = size
                    else:
                        book.pop(price, None)
            self.update_id = diff.u
            return True
        if verdict is Verdict.GAP:
            self.gaps += 1
            log.warning(
                "the capture itself has a sequence gap (%s): the venue's book is empty until its next snapshot",
                self.sync.gap_reason,
            )
            self.bids.clear()
            self.asks.clear()
        return False

    def levels(self, side: int, limit: int) -> list[tuple[float, float]]:
        """The best `limit` levels of one side (0 bids, 1 asks), best first, as the stream left them."""
        book = self.bids if side == 0 else self.asks
        prices = sorted(book, reverse=side == 0)[:limit]
        return [(p, book[p]) for p in prices]

    def available(self, side: int, price: float) -> float:
        """Size left at a level after our own fills took from it."""
        book = self.bids if side == 0 else self.asks
        return max(book.get(price, 0.0) - self.consumed.get((side, price), 0.0), 0.0)

    def consume(self, side: int, price: float, size: float) -> None:
        key = (side, price)
        self.consumed[key] = self.consumed.get(key, 0.0) + size
