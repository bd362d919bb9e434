"""Recording Bybit linear, offline: a loopback WebSocket server serves the real 2024-12-01
XRPUSDT ``orderbook.500`` messages (shared/data/bybit: one snapshot, 49 deltas) as Bybit does
(a snapshot on every book subscription, then the deltas), plus a few trades and tickers written
by hand from Bybit's documented format. The recording is imported with `data import-bybit`'s
importer; the oracle for the book is a plain dict book built from the source messages.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from aiohttp import WSMsgType
from aiohttp import web

from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.data import MarkPriceUpdate
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.enums import BookAction
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.enums import RecordFlag

from scalp_nautilus.capture.run import MarketCapture
from scalp_nautilus.capture.writer import capture_files
from scalp_nautilus.capture.writer import read_sidecar
from scalp_nautilus.data.bybit_capture import BybitCaptureImporter
from tests.capture_harness import record_until_done

pytestmark = pytest.mark.real_data

SYMBOL = "XRPUSDT"
BOOK = f"orderbook.500.{SYMBOL}"
F_LAST = int(RecordFlag.F_LAST)

# Bybit's documented publicTrade and tickers payloads, with values chosen here (the oracle).
TRADES = {
    5: {
        "topic": f"publicTrade.{SYMBOL}",
        "type": "snapshot",
        "ts": 1733011201200,
        "data": [
            {"T": 1733011201199, "s": SYMBOL, "S": "Buy", "v": "1200", "p": "1.9533", "L": "PlusTick", "i": "a-1", "BT": False},
            {"T": 1733011201199, "s": SYMBOL, "S": "Sell", "v": "35", "p": "1.9531", "L": "MinusTick", "i": "a-2", "BT": False},
        ],
    },
    30: {
        "topic": f"publicTrade.{SYMBOL}",
        "type": "snapshot",
        "ts": 1733011203700,
        "data": [
            {"T": 1733011203698, "s": SYMBOL, "S": "Sell", "v": "500", "p": "1.9529", "L": "MinusTick", "i": "a-3", "BT": False}
        ],
    },
}
TICKERS = {
    2: {
        "topic": f"tickers.{SYMBOL}",
        "type": "snapshot",
        "cs": 1,
        "ts": 1733011200900,
        "data": {
            "symbol": SYMBOL,
            "markPrice": "1.9532",
            "indexPrice": "1.9530",
            "fundingRate": "0.0001",
            "nextFundingTime": "1733040000000",
            "lastPrice": "1.9531",
        },
    },
    20: {
        "topic": f"tickers.{SYMBOL}",
        "type": "delta",
        "cs": 2,
        "ts": 1733011202700,
        "data": {"symbol": SYMBOL, "markPrice": "1.9534"},
    },
    40: {
        "topic": f"tickers.{SYMBOL}",
        "type": "delta",
        "cs": 3,
        "ts": 1733011204700,
        "data": {"symbol": SYMBOL, "fundingRate": "0.000125"},
    },
}


@pytest.fixture(scope="module")
def messages(shared_data) -> list[str]:
    return (shared_data / "bybit" / "2024-12-01_XRPUSDT_ob500.data").read_text().splitlines()


def dict_book(msgs: list[dict]) -> dict[int, tuple[dict, dict]]:
    """The oracle: a plain price -> size book after each message's u (snapshot replaces, delta
    replaces levels, size 0 removes)."""
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    out = {}
    for m in msgs:
        if m["type"] == "snapshot":
            bids.clear()
            asks.clear()
        for side, levels in ((bids, m["data"]["b"]), (asks, m["data"]["a"])):
            for p, q in levels:
                if Decimal(q) == 0:
                    side.pop(Decimal(p), None)
                else:
                    side[Decimal(p)] = Decimal(q)
        out[m["data"]["u"]] = (dict(bids), dict(asks))
    return out


class BybitServer:
    """One client at a time; streams the deltas every `pace_s`; `withhold` indices are never
    sent (a gap), at `drop_at` the connection is cut (the message is lost)."""

    def __init__(self, lines: list[str], pace_s: float = 0.02, withhold=(), drop_at: int | None = None) -> None:
        self.lines = lines
        self.msgs = [msgspec.json.decode(x) for x in lines]
        self.pace_s, self.withhold, self.drop_at = pace_s, set(withhold), drop_at
        self.ws: web.WebSocketResponse | None = None
        self.request = None
        self.book_subscribed = False
        self.snapshots_sent = 0
        self.subscribes = 0
        self.done = asyncio.Event()
        self.pos = 0  # index of the last message applied to the server's book
        self.book = dict_book(self.msgs[:1])[self.msgs[0]["data"]["u"]]
        self._stream: asyncio.Task | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("GET", "/v5/public/linear", self._handler)
        app.router.add_route("GET", "/v5/market/instruments-info", self._info)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return f"127.0.0.1:{site._server.sockets[0].getsockname()[1]}"

    async def _info(self, request):
        found = [{"symbol": SYMBOL, "status": "Trading"}] if request.query.get("symbol") == SYMBOL else []
        return web.json_response({"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": found}})

    async def stop(self) -> None:
        if self._stream:
            self._stream.cancel()
        await self._runner.cleanup()

    async def _handler(self, request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.ws, self.request, self.book_subscribed = ws, request, False
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            req = msgspec.json.decode(msg.data)
            if req["op"] == "ping":
                await ws.send_str('{"success":true,"ret_msg":"pong","conn_id":"t","op":"ping"}')
                continue
            await ws.send_str(
                msgspec.json.encode({"success": True, "ret_msg": "", "conn_id": "t", "op": req["op"], "req_id": ""}).decode()
            )
            if BOOK in req["args"]:
                if req["op"] == "subscribe":
                    self.subscribes += 1
                    self.book_subscribed = True
                    await self._send_snapshot(ws)
                    if self._stream is None:
                        self._stream = asyncio.get_running_loop().create_task(self._run())
                else:
                    self.book_subscribed = False
        return ws

    async def _send_snapshot(self, ws) -> None:
        self.snapshots_sent += 1
        if self.pos == 0:
            await ws.send_str(self.lines[0])  # the real snapshot
            return
        last = self.msgs[self.pos]
        bids, asks = self.book
        body = {
            "topic": BOOK,
            "type": "snapshot",
            "ts": last["ts"],
            "cts": last["cts"],
            "data": {
                "s": SYMBOL,
                "u": last["data"]["u"],
                "seq": last["data"]["seq"],
                "b": [[str(p), str(q)] for p, q in sorted(bids.items(), reverse=True)[:500]],
                "a": [[str(p), str(q)] for p, q in sorted(asks.items())[:500]],
            },
        }
        await ws.send_str(msgspec.json.encode(body).decode())

    async def _run(self) -> None:
        for i in range(1, len(self.msgs)):
            await asyncio.sleep(self.pace_s)
            self.pos = i
            self.book = dict_book(
                [
                    {
                        "type": "snapshot",
                        "data": {"b": list(map(list, self.book[0].items())), "a": list(map(list, self.book[1].items())), "u": 0},
                    },
                    self.msgs[i],
                ]
            )[self.msgs[i]["data"]["u"]]
            ws = self.ws
            if ws is None or ws.closed:
                continue
            if i == self.drop_at:
                self.request.transport.abort()
                continue
            for extra in (TICKERS.get(i), TRADES.get(i)):
                if extra:
                    await ws.send_str(msgspec.json.encode(extra).decode())
            if i not in self.withhold and self.book_subscribed:
                await ws.send_str(self.lines[i])
        await asyncio.sleep(0.3)
        self.done.set()


def record(tmp_path: Path, server: BybitServer) -> tuple[MarketCapture, list[Path]]:
    recorder = record_until_done(
        server.start,
        lambda host: {
            "out_dir": str(tmp_path),
            "heartbeat_s": 1.0,
            "venues": [
                {
                    "venue": "bybit-linear",
                    "symbols": [SYMBOL],
                    "streams": ["orderbook.500", "publicTrade", "tickers"],  # the depth of the real messages served
                    "base_url_http": f"http://{host}",
                    "base_url_ws": f"ws://{host}/v5/public/linear",
                }
            ],
            "reconnect": {"initial_s": 0.1, "max_s": 0.5},
        },
        lambda: server.done,
        server.stop,
    )
    return recorder, capture_files(tmp_path / "bybit-linear" / SYMBOL)


def books_by_u(files) -> tuple[dict, BybitCaptureImporter, list]:
    """The imported book's top 50 levels a side after each message's u, and the other events."""
    imp = BybitCaptureImporter(files)
    book = OrderBook(imp.instrument.id, BookType.L2_MBP)
    out, other = {}, []
    for e in imp.events():
        if isinstance(e, OrderBookDelta):
            book.apply_delta(e)
            if e.flags & F_LAST:
                out[e.sequence] = (
                    [(lv.price.as_decimal(), _size(lv)) for lv in book.bids()[:50]],
                    [(lv.price.as_decimal(), _size(lv)) for lv in book.asks()[:50]],
                )
        else:
            other.append(e)
    return out, imp, other


def _size(level) -> Decimal:
    return Decimal(str(round(level.size(), 6)))  # BookLevel.size() is a double: 124798 can read 124798.00000000001


def oracle_top(book: tuple[dict, dict], depth: int = 50) -> tuple[list, list]:
    bids, asks = book
    return sorted(bids.items(), reverse=True)[:depth], sorted(asks.items())[:depth]


def test_bybit_record_and_reimport(messages, tmp_path):
    server = BybitServer(messages)
    recorder, files = record(tmp_path, server)
    session = recorder.sessions[0]
    assert (session.gaps, session.reconnects, session.snapshots) == (0, 0, 1)
    (file,) = files
    meta = read_sidecar(file)
    assert meta["closed"] and meta["streams"] == {"orderbook.500": 50, "publicTrade": 2, "tickers": 3}

    books, imp, other = books_by_u(files)
    oracle = dict_book([msgspec.json.decode(x) for x in messages])
    assert imp.stats.sequence_gaps == 0 and imp.stats.snapshots_applied == 1 and len(books) == 50
    for u, book in books.items():
        assert book == oracle_top(oracle[u]), u
    assert str(imp.instrument.id) == "XRPUSDT-LINEAR.BYBIT"
    assert (str(imp.instrument.price_increment), str(imp.instrument.size_increment)) == ("0.0001", "1")

    trades = [
        (t.trade_id.value, str(t.price), str(t.size), t.aggressor_side, t.ts_event) for t in other if isinstance(t, TradeTick)
    ]
    assert trades == [
        ("a-1", "1.9533", "1200", AggressorSide.BUYER, 1733011201199_000_000),
        ("a-2", "1.9531", "35", AggressorSide.SELLER, 1733011201199_000_000),
        ("a-3", "1.9529", "500", AggressorSide.SELLER, 1733011203698_000_000),
    ]
    funding = [(str(f.rate), f.ts_event, f.next_funding_ns) for f in other if isinstance(f, FundingRateUpdate)]
    assert funding == [
        ("0.0001", 1733011200900_000_000, 1733040000000_000_000),
        ("0.000125", 1733011204700_000_000, 1733040000000_000_000),
    ]
    marks = [(str(m.value), m.ts_event) for m in other if isinstance(m, MarkPriceUpdate)]
    assert marks == [("1.95320000", 1733011200900_000_000), ("1.95340000", 1733011202700_000_000)]
    ts = [e.ts_init for e in other]
    assert ts == sorted(ts)

    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from scalp_nautilus.cli import main

    catalog = tmp_path / "catalog"
    assert main(["data", "import-bybit", str(file.parent), "--catalog", str(catalog)]) == 0
    cat = ParquetDataCatalog(str(catalog))
    assert len(cat.trade_ticks()) == 3 and len(cat.order_book_deltas()) == imp.stats.deltas


def test_bybit_withheld_delta_is_a_gap_with_a_fresh_snapshot(messages, tmp_path):
    server = BybitServer(messages, withhold=[25])
    recorder, files = record(tmp_path, server)
    session = recorder.sessions[0]
    assert (session.gaps, session.reconnects, session.snapshots) == (1, 0, 2)
    assert server.subscribes == 2  # the recorder re-subscribed the book for the snapshot
    meta = read_sidecar(files[0])
    assert [g["reason"] for g in meta["gaps"]] == ["u=20254895 after u=20254893"]

    books, imp, _ = books_by_u(files)
    oracle = dict_book([msgspec.json.decode(x) for x in messages])
    assert imp.stats.sequence_gaps == 1 and imp.stats.snapshots_applied == 2
    resync = min(u for u in books if u > 20254895)
    later = {u: b for u, b in books.items() if u >= resync}
    assert len(later) > 15
    for u, book in later.items():
        assert book == oracle_top(oracle[u]), u
    # The gap's CLEAR (no stale book between the gap and the snapshot) is the one CLEAR outside a snapshot.
    clears = [
        o
        for o in BybitCaptureImporter(files).events()
        if isinstance(o, OrderBookDelta) and o.action == BookAction.CLEAR and not o.flags & RecordFlag.F_SNAPSHOT
    ]
    assert [c.sequence for c in clears] == [20254895]


def test_bybit_dropped_connection_reconnects_and_resubscribes(messages, tmp_path):
    server = BybitServer(messages, drop_at=20)
    recorder, files = record(tmp_path, server)
    session = recorder.sessions[0]
    assert session.reconnects == 1 and session.snapshots == 2 and session.gaps == 0
    books, imp, _ = books_by_u(files)
    oracle = dict_book([msgspec.json.decode(x) for x in messages])
    assert imp.stats.snapshots_applied == 2
    after = [u for u in books if u > 20254889]
    assert len(after) > 15
    for u in after:
        assert books[u] == oracle_top(oracle[u]), u


def test_replay_venue_serves_another_symbol_as_bybit_and_it_records_by_default(capture_paths, tmp_path):
    """A capture of a symbol the contract table does not know (here the 2023 BTCUSDT capture renamed
    ETHUSDT) served as Bybit with `tick_size` / `step_size` (before: "no contract spec"), recorded
    with the default streams (`orderbook.50`: before, `orderbook.500` got nothing) and imported."""
    import gzip

    from scalp_nautilus.live.venue.thread import VenueThread
    from tests.capture_harness import venue_settings

    renamed = tmp_path / "ethusdt.gz"
    with gzip.open(capture_paths("usdm_2023_04")[0], "rb") as src, gzip.open(renamed, "wb") as dst:
        for i, line in enumerate(src):
            if i > 4_000:
                break
            dst.write(line.replace(b"BTCUSDT", b"ETHUSDT").replace(b"btcusdt", b"ethusdt"))
    settings = venue_settings(
        [renamed], api="bybit", speed=10.0, tick_size="0.01", step_size="0.001", start={"streams": ["depth"], "timeout_s": 60.0}
    )
    with VenueThread(settings) as venue:
        assert (venue.spec.tick_size, venue.spec.step_size) == ("0.01", "0.001")
        recorder = record_until_done(
            _const(venue.url_ws + "/v5/public/linear"),
            lambda url: {
                "out_dir": str(tmp_path / "out"),
                "venues": [
                    {"venue": "bybit-linear", "symbols": ["ETHUSDT"], "base_url_http": venue.url_http, "base_url_ws": url}
                ],
            },
            lambda: venue.finished,
            _noop,
        )
    files = capture_files(tmp_path / "out" / "bybit-linear" / "ETHUSDT")
    meta = read_sidecar(files[0])
    assert meta["streams"]["orderbook.50"] > 100 and recorder.sessions[0].snapshots >= 1
    imp = BybitCaptureImporter(files, tick_size="0.01", step_size="0.001")
    deltas = sum(1 for e in imp.events() if isinstance(e, OrderBookDelta))
    assert imp.stats.snapshots_applied >= 1 and imp.stats.sequence_gaps == 0 and deltas > 1_000


def _const(value: str):
    async def start() -> str:
        return value

    return start


async def _noop() -> None:
    pass


def test_replay_venue_command_takes_tick_step_and_exchange_info(tmp_path, monkeypatch):
    """`replay-venue --tick-size --step-size` (or `--exchange-info`) reach the venue's settings: the
    options the issue found missing."""
    from scalp_nautilus.cli import main
    from scalp_nautilus.live.venue import thread

    seen = []

    async def serve(settings) -> None:
        seen.append(settings)

    monkeypatch.setattr(thread, "serve", serve)
    config = str(Path(__file__).resolve().parents[1] / "configs" / "replay_venue_bybit.yaml")
    assert main(["replay-venue", "--config", config, "--tick-size", "0.01", "--step-size", "0.001"]) == 0
    info = tmp_path / "exchangeInfo.json"
    info.write_text("{}")
    assert main(["replay-venue", "--config", config, "--exchange-info", str(info)]) == 0
    assert (seen[0].tick_size, seen[0].step_size, seen[0].exchange_info) == ("0.01", "0.001", None)
    assert seen[1].exchange_info == str(info.resolve())
