"""Raw Bybit linear WebSocket captures (as `scalp-nautilus record` writes them) into Nautilus data.

A capture is gzip text, one message a line: ``<local receive time> <JSON>``, the JSON being a v5
public message exactly as Bybit sends it: ``orderbook.<depth>.<symbol>`` (``type`` snapshot or
delta; ``data.b`` / ``data.a`` level replacements, size "0" removes a level; ``data.u`` the update
id), ``publicTrade.<symbol>`` (``data`` a list of trades: ``T`` ms, ``S`` the taker's side, ``v``,
``p``, ``i`` the trade id) and ``tickers.<symbol>`` (snapshot then deltas carrying only the
changed fields: ``markPrice``, ``fundingRate``, ``nextFundingTime``). Several files in sequence
(a capture folder in name order) are one capture.

The book: a snapshot is one CLEAR + ADD batch (`snapshot_deltas`, shared with the Binance
importer); each delta message is one batch. Bybit's ``u`` chain (`UpdateChain`, shared with the
live client and the capturer) is checked: on a break the importer emits a CLEAR, counts and logs
the gap, and drops deltas until the next snapshot (the capturer re-subscribes for one).

Timestamps: ``ts_event`` is Bybit's ``ts`` (book, tickers) or the trade's ``T``; ``ts_init`` the
receive time shifted by the capturer's clock offset (the smallest shift making every observed
latency non-negative, from the first lines), clamped to at least ``ts_event`` and non-decreasing.

The instrument: tick and lot sizes are not in the stream; they are inferred from the printed
precision of the first snapshot's levels (Bybit prints prices and sizes to the symbol's
precision), with a warning, unless given.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable
from collections.abc import Iterator
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
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity

from scalp_nautilus.data.binance_capture import CaptureError
from scalp_nautilus.data.binance_capture import CaptureStats
from scalp_nautilus.data.binance_capture import capture_files
from scalp_nautilus.data.binance_capture import parse_levels  # Bybit's b/a levels read as Binance's
from scalp_nautilus.data.binance_capture import read_lines
from scalp_nautilus.data.binance_capture import receive_time_ns
from scalp_nautilus.data.binance_sync import clear_delta
from scalp_nautilus.data.binance_sync import snapshot_deltas
from scalp_nautilus.data.bybit_sync import UpdateChain
from scalp_nautilus.data.bybit_sync import Verdict
from scalp_nautilus.data.compressed import open_lines
from scalp_nautilus.fees import BYBIT_LINEAR
from scalp_nautilus.instruments import ContractSpec
from scalp_nautilus.instruments import decimal_places
from scalp_nautilus.instruments import tick_unit

log = logging.getLogger(__name__)

_MS = 1_000_000
_F_LAST = int(RecordFlag.F_LAST)
_MARK_PRECISION = 8
_QUOTES = ("USDT", "USDC", "USD")


def bybit_spec(
    symbol: str, prices: Iterable[str], sizes: Iterable[str], tick_size: str | None = None, step_size: str | None = None
) -> ContractSpec:
    """A Bybit linear perpetual's spec; tick and lot from the printed precision unless given."""
    quote = next((q for q in _QUOTES if symbol.endswith(q) and len(symbol) > len(q)), None)
    if quote is None:
        raise CaptureError(f"cannot split Bybit symbol {symbol!r} into base and quote (linear: ...USDT / ...USDC)")
    tick = tick_size or tick_unit(max((decimal_places(p) for p in prices), default=0))
    step = step_size or tick_unit(max((decimal_places(q) for q in sizes), default=0))
    if tick_size is None or step_size is None:
        log.warning(
            "%s (Bybit): tick %s and lot %s inferred from the data's printed precision "
            "(pass --tick-size / --step-size for Bybit's exact instrument filters)",
            symbol,
            tick,
            step,
        )
    fees = BYBIT_LINEAR
    base = symbol[: -len(quote)]
    maker, taker = str(fees.maker_rate), str(fees.taker_rate)
    return ContractSpec("BYBIT", symbol, base, quote, quote, False, tick, step, maker_fee=maker, taker_fee=taker)


def _prescan(paths: list[Path], max_lines: int = 20_000) -> tuple[int, Counter, list, list]:
    """(clock offset ns, symbols, sample prices, sample sizes) from the first lines."""
    worst = 0
    symbols: Counter = Counter()
    prices: list[str] = []
    sizes: list[str] = []
    seen = 0
    for path in paths:
        try:
            for line in open_lines(path):
                seen += 1
                if seen > max_lines:
                    break
                sp = line.find(b" ")
                try:
                    recv = receive_time_ns(int(line[:sp]))
                    msg = msgspec.json.decode(line[sp + 1 :])
                    worst = min(worst, recv - int(msg["ts"]) * _MS)
                    topic = msg["topic"]
                except (ValueError, TypeError, KeyError, msgspec.DecodeError):
                    continue
                symbols[topic.rsplit(".", 1)[-1]] += 1
                if not prices and topic.startswith("orderbook.") and msg.get("type") == "snapshot":
                    levels = msg["data"]["b"] + msg["data"]["a"]
                    prices = [p for p, _ in levels]
                    sizes = [q for _, q in levels]
        except (EOFError, OSError):
            continue
        if seen > max_lines:
            break
    return max(0, -worst), symbols, prices, sizes


class BybitCaptureImporter:
    """One Bybit capture (files read as one stream) into time-ordered Nautilus data; `events()`
    yields in non-decreasing ``ts_init`` order; `stats` counts what was applied or skipped."""

    def __init__(
        self,
        paths: Iterable[str | Path],
        symbol: str | None = None,
        tick_size: str | None = None,
        step_size: str | None = None,
        clock_offset_ns: int | None = None,
    ) -> None:
        self.paths = capture_files(paths)
        offset, symbols, prices, sizes = _prescan(self.paths)
        if symbol is None:
            if len(symbols) != 1:
                raise CaptureError(f"{self.paths[0]}: capture holds symbols {sorted(symbols)}: choose one with symbol=")
            symbol = next(iter(symbols))
        self.symbol = symbol.upper()
        if not prices and (tick_size is None or step_size is None):
            raise CaptureError(
                f"{self.paths[0]}: no book snapshot in the first lines to infer tick and lot sizes from; "
                "pass tick_size and step_size"
            )
        self.spec = bybit_spec(self.symbol, prices, sizes, tick_size, step_size)
        self.instrument = self.spec.to_instrument()
        self.stats = CaptureStats(clock_offset_ns=offset if clock_offset_ns is None else clock_offset_ns)
        self._iid = self.instrument.id
        self._pp = self.instrument.price_precision
        self._sp = self.instrument.size_precision
        self._chain = UpdateChain()
        self._last_good_ns: int | None = None  # exchange time of the last book update applied
        self._book_emitted = False
        self._last_ts_init = 0
        self._funding_rate: str | None = None
        self._next_funding_ms = 0
        self._where = ""

    def events(self) -> Iterator[object]:
        for where, recv, msg in read_lines(self.paths, self.stats):
            self._where = where
            try:
                yield from self._on_message(recv, msg)
            except (KeyError, TypeError, ValueError, IndexError, InvalidOperation) as exc:
                self.stats.malformed_lines += 1
                log.warning("%s: skipped malformed message (%s: %s)", self._where, type(exc).__name__, exc)
        if not self._chain.synced and self.stats.depth_messages:
            log.warning("capture ends out of sync: the book stays empty from its last gap")
        self.stats.ended()

    def _on_message(self, recv: int, msg: dict) -> Iterator[object]:
        topic = msg.get("topic")
        if not topic:
            self._unknown("<no topic>")
            return
        kind, _, sym = topic.rpartition(".")
        if sym != self.symbol:
            self.stats.other_symbol += 1
            return
        if kind.startswith("orderbook."):
            yield from self._on_book(recv, msg)
        elif kind == "publicTrade":
            yield from self._on_trades(recv, msg)
        elif kind == "tickers":
            yield from self._on_ticker(recv, msg)
        else:
            self._unknown(kind)

    def _unknown(self, stream: str) -> None:
        if stream not in self.stats.unknown_streams:
            log.warning("%s: stream %r is not imported (counted and skipped)", self._where, stream)
        self.stats.unknown_streams[stream] += 1

    def _ts_init(self, recv: int, ts_event: int) -> int:
        self.stats.seen(ts_event)
        ts = max(recv + self.stats.clock_offset_ns, ts_event, self._last_ts_init)
        if ts == ts_event and ts_event > recv + self.stats.clock_offset_ns:
            self.stats.ts_init_clamped += 1
        self._last_ts_init = ts
        return ts

    # ---------------------------------------------------------------- book

    def _on_book(self, recv: int, msg: dict) -> Iterator[object]:
        data = msg["data"]
        snapshot = msg["type"] == "snapshot"
        u = int(data["u"])
        ts_event = int(msg["ts"]) * _MS
        levels = parse_levels(data)  # before the chain: an unreadable message must not advance it
        if snapshot:
            self.stats.snapshots += 1
        else:
            self.stats.depth_messages += 1
        verdict = self._chain.update(u, snapshot)
        if verdict is Verdict.DROP:
            self.stats.depth_skipped_unsynced += 1
            return
        ts_init = self._ts_init(recv, ts_event)
        if verdict is Verdict.GAP:
            self.stats.sequence_gaps += 1
            self.stats.depth_skipped_unsynced += 1
            log.warning(
                "%s: sequence gap (%s): book marked invalid (cleared) until the next snapshot",
                self._where,
                self._chain.gap_reason,
            )
            self.stats.book_broken(self._last_good_ns, ts_event)
            if self._book_emitted:
                self.stats.deltas += 1
                yield clear_delta(self._iid, u, ts_event, ts_init)
            return
        if verdict is Verdict.SNAPSHOT:  # a snapshot, or u == 1 (Bybit restarted: the message is the whole book)
            self.stats.snapshots_applied += 1
            bids = [(p, q) for side, p, q in levels if side is OrderSide.BUY]
            asks = [(p, q) for side, p, q in levels if side is OrderSide.SELL]
            deltas = snapshot_deltas(self._iid, bids, asks, u, ts_event, ts_init, self._pp, self._sp)
            self._book_emitted = True
            self.stats.deltas += len(deltas)
            self.stats.book_resynced(ts_event)
            self._last_good_ns = ts_event
            yield from deltas
            return
        self.stats.depth_applied += 1
        self._last_good_ns = ts_event
        if not levels:
            self.stats.depth_empty += 1
            return
        last = len(levels) - 1
        self.stats.deltas += len(levels)
        for i, (side, price, size) in enumerate(levels):
            yield OrderBookDelta(
                self._iid,
                BookAction.UPDATE if size > 0 else BookAction.DELETE,
                BookOrder(side, Price(price, self._pp), Quantity(size, self._sp), 0),
                _F_LAST if i == last else 0,
                u,
                ts_event,
                ts_init,
            )

    # ---------------------------------------------------------------- trades, tickers

    def _on_trades(self, recv: int, msg: dict) -> Iterator[object]:
        for t in msg["data"]:
            price, size = float(t["p"]), float(t["v"])
            if not (price > 0 and size > 0 and math.isfinite(price) and math.isfinite(size)):
                self.stats.trades_invalid += 1
                log.warning("%s: trade %s with price %r size %r skipped", self._where, t.get("i"), t["p"], t["v"])
                continue
            ts_event = int(t["T"]) * _MS
            self.stats.trades += 1
            yield TradeTick(
                self._iid,
                Price(price, self._pp),
                Quantity(size, self._sp),
                AggressorSide.BUYER if t["S"] == "Buy" else AggressorSide.SELLER,
                TradeId(str(t["i"])),
                ts_event,
                self._ts_init(recv, ts_event),
            )

    def _on_ticker(self, recv: int, msg: dict) -> Iterator[object]:
        data = msg["data"]
        ts_event = int(msg["ts"]) * _MS
        ts_init = self._ts_init(recv, ts_event)
        mark = data.get("markPrice")
        if mark:
            self.stats.mark_prices += 1
            yield MarkPriceUpdate(self._iid, Price(float(mark), _MARK_PRECISION), ts_event, ts_init)
        if "fundingRate" not in data and "nextFundingTime" not in data:
            return
        self._funding_rate = data.get("fundingRate") or self._funding_rate
        self._next_funding_ms = int(data.get("nextFundingTime") or self._next_funding_ms)
        if self._funding_rate is None:
            return
        self.stats.funding_updates += 1
        yield FundingRateUpdate(
            self._iid,
            Decimal(self._funding_rate),
            ts_event,
            ts_init,
            interval=self.spec.funding_interval_hours * 60,
            next_funding_ns=self._next_funding_ms * _MS or None,
        )
