"""Bybit, offline: the live node builds from `configs/live_bybit.yaml`, and Bybit's order-book wire
format becomes the right book through Nautilus's own Bybit parsing.

The parse is the one the live node runs: Nautilus 1.231 has no Python-callable parser for Bybit
WebSocket messages (its Bybit adapter is Rust; the only Python-side parser is the file loader
`BybitOrderBookDeltaDataLoader`, whose books are wrong, see the last test). So the capture is
served from a WebSocket on 127.0.0.1 to Nautilus's `BybitWebSocketClient` (the client
`BybitDataClient` uses), which parses each message in Rust (`parse_orderbook_deltas`) and hands
Python what `BybitDataClient._handle_msg` receives. Those deltas are applied to a Nautilus
`OrderBook` and compared, after every message, with a plain dict book built straight from the
JSON by Bybit's documented rules (a snapshot replaces the book, a delta level sets the size at its
price, size "0" deletes it).

The node's Bybit data client is `SyncedBybitDataClient` (`scalp_nautilus.live.bybit`): its chain
rules are tested on plain numbers, and the client itself is driven end to end over the same
loopback WebSocket by a small server that answers subscribe / unsubscribe as Bybit does, with the
clean capture and with one message lost.
"""

from __future__ import annotations

import asyncio
import json
import time
import zipfile
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from aiohttp import web

from nautilus_trader.adapters.bybit import BybitDataClientConfig
from nautilus_trader.adapters.bybit.data import BybitDataClient
from nautilus_trader.adapters.bybit.execution import BybitExecutionClient
from nautilus_trader.adapters.bybit.loaders import BybitOrderBookDeltaDataLoader
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock
from nautilus_trader.common.component import MessageBus
from nautilus_trader.config import InstrumentProviderConfig
from nautilus_trader.core import nautilus_pyo3
from nautilus_trader.core.nautilus_pyo3 import BybitEnvironment
from nautilus_trader.core.nautilus_pyo3 import BybitProductType
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.data.messages import SubscribeOrderBook
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.data import OrderBookDeltas
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.data import capsule_to_data
from nautilus_trader.model.enums import BookAction
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import RecordFlag
from nautilus_trader.model.identifiers import AccountId
from nautilus_trader.model.identifiers import ClientId
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.identifiers import TraderId
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.instruments import CryptoPerpetual
from nautilus_trader.persistence.wranglers import OrderBookDeltaDataWrangler

from scalp_nautilus.cli import main
from scalp_nautilus.config import ConfigError
from scalp_nautilus.live import bybit as bybit_module
from scalp_nautilus.live import node as live_node
from scalp_nautilus.live.bybit import SyncedBybitDataClient
from scalp_nautilus.live.bybit import SyncedBybitLiveDataClientFactory
from scalp_nautilus.live.bybit import UpdateChain
from scalp_nautilus.live.bybit import Verdict
from scalp_nautilus.live.bybit import batch_update
from scalp_nautilus.live.node import build_node
from scalp_nautilus.live.node import client_configs
from scalp_nautilus.live.settings import LiveSettings
from scalp_nautilus.live.settings import credentials
from scalp_nautilus.live.settings import load_live_settings
from scalp_nautilus.strategy import ScalpStrategy
from tests.conftest import in_ci

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "live_bybit.yaml"
TESTNET_ENV = {"BYBIT_TESTNET_API_KEY": "testnet-key", "BYBIT_TESTNET_API_SECRET": "testnet-secret"}
MAINNET_ENV = {"BYBIT_API_KEY": "mainnet-key", "BYBIT_API_SECRET": "mainnet-secret"}

CAPTURE = "2024-12-01_XRPUSDT_ob500.data"  # 50 messages of orderbook.500.XRPUSDT: a snapshot, then deltas
XRP_ID = "XRPUSDT-LINEAR.BYBIT"
TOP = 10  # levels per side compared after every message (the whole book is compared too)


# ---------------------------------------------------------------------- the node


def bybit_settings(tmp_path: Path) -> LiveSettings:
    """configs/live_bybit.yaml with its log folder and warm-state file under `tmp_path`."""
    s = load_live_settings(CONFIG)
    config = {**s.strategy.config, "state": {**s.strategy.config["state"], "path": str(tmp_path / "state.json")}}
    return msgspec.structs.replace(
        s,
        logging=msgspec.structs.replace(s.logging, directory=str(tmp_path / "logs")),
        strategy=msgspec.structs.replace(s.strategy, config=config),
    )


@pytest.mark.slow
def test_live_node_builds_for_bybit_from_its_yaml(tmp_path):
    settings = bybit_settings(tmp_path)
    assert settings.venue == "BYBIT" and settings.instrument_id == "BTCUSDT-LINEAR.BYBIT"
    keys = credentials(settings, mainnet=False, environ=TESTNET_ENV)
    assert "testnet-key" not in repr(keys) and "testnet-secret" not in repr(keys)
    loop = asyncio.new_event_loop()
    node = build_node(settings, keys, mainnet=False, loop=loop)
    try:
        assert node.is_built()
        assert node.trader_id == TraderId("SCALP-002")
        # Nautilus keeps its clients private; the harnesses read them the same way.
        data_clients = node.kernel.data_engine._clients
        exec_clients = node.kernel.exec_engine._clients
        assert list(data_clients) == [ClientId("BYBIT")] and list(exec_clients) == [ClientId("BYBIT")]
        data, execution = data_clients[ClientId("BYBIT")], exec_clients[ClientId("BYBIT")]
        assert type(data) is SyncedBybitDataClient and type(execution) is BybitExecutionClient
        assert isinstance(data, BybitDataClient) and (data.gaps, data.resyncs) == (0, 0)
        assert execution.account_id == AccountId("BYBIT-UNIFIED")
        for client in (data, execution):
            assert client._config.environment == BybitEnvironment.TESTNET
            assert client._config.api_key == "testnet-key"
            assert tuple(client._config.product_types) == (BybitProductType.LINEAR,)
            assert not client.is_connected  # built, never connected
        (strategy,) = node.trader.strategies()
        assert isinstance(strategy, ScalpStrategy)
        iid = InstrumentId.from_str("BTCUSDT-LINEAR.BYBIT")
        assert strategy.config.instrument_id == iid
        assert strategy.config.funding.feed == "funding_rates"
        assert list(strategy.config.external_order_claims) == [iid]
        assert strategy.config.state.path == str(tmp_path / "state.json")
        assert (tmp_path / "logs").is_dir()
    finally:
        # The Bybit execution client schedules its repayment task on the loop when it is built;
        # the node never ran, so cancel it (else: "Task was destroyed but it is pending").
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        node.dispose()
    assert loop.is_closed()


def test_missing_bybit_keys_name_the_environment_variables(tmp_path):
    settings = bybit_settings(tmp_path)
    with pytest.raises(ConfigError, match="BYBIT_TESTNET_API_KEY and BYBIT_TESTNET_API_SECRET"):
        credentials(settings, mainnet=False, environ={})
    with pytest.raises(ConfigError, match="set BYBIT_TESTNET_API_SECRET in") as exc:
        credentials(settings, mainnet=False, environ={"BYBIT_TESTNET_API_KEY": "k"})
    assert "BYBIT_TESTNET_API_KEY" not in str(exc.value)
    # Mainnet keys do not stand in for testnet ones, nor the reverse.
    with pytest.raises(ConfigError, match="testnet: set BYBIT_TESTNET_API_KEY"):
        credentials(settings, mainnet=False, environ=MAINNET_ENV)
    with pytest.raises(ConfigError, match="mainnet: set BYBIT_API_KEY and BYBIT_API_SECRET"):
        credentials(settings, mainnet=True, environ=TESTNET_ENV)


def test_mainnet_picks_bybit_api_key(tmp_path, monkeypatch, capsys):
    settings = bybit_settings(tmp_path)
    keys = credentials(settings, mainnet=True, environ={**TESTNET_ENV, **MAINNET_ENV})
    assert (keys.api_key, keys.api_secret) == ("mainnet-key", "mainnet-secret")
    assert "$BYBIT_API_KEY" in keys.source
    data, execution = client_configs(settings, keys, mainnet=True)
    assert data.environment == execution.environment == BybitEnvironment.MAINNET
    assert data.api_key == execution.api_key == "mainnet-key"

    # The command line: `--mainnet` reads BYBIT_API_KEY; without it the testnet names are asked for.
    runs = []
    monkeypatch.setattr(live_node, "run_live", lambda s, k, mainnet: runs.append((k, mainnet)) or 0)
    for name in TESTNET_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in MAINNET_ENV.items():
        monkeypatch.setenv(name, value)
    assert main(["live", "--config", str(CONFIG), "--mainnet"]) == 0
    ((k, mainnet),) = runs
    assert mainnet is True and (k.api_key, k.api_secret) == ("mainnet-key", "mainnet-secret")
    assert main(["live", "--config", str(CONFIG)]) == 1
    assert "BYBIT_TESTNET_API_KEY and BYBIT_TESTNET_API_SECRET" in capsys.readouterr().err
    assert len(runs) == 1


# ---------------------------------------------------------------------- the wire format


def parse_lines(lines: list[str], source: object) -> list[dict]:
    """JSON lines; a line that is not JSON stops with the source and line number."""
    messages = []
    for n, line in enumerate(lines, 1):
        try:
            messages.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}:{n}: not a JSON message ({exc})") from None
    return messages


def read_messages(path: Path) -> list[dict]:
    return parse_lines(path.read_text().splitlines(), path)


class DictBook:
    """Bybit's documented book rules on plain dicts, Decimal price -> Decimal size."""

    def __init__(self) -> None:
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}

    def apply(self, msg: dict) -> None:
        if msg["type"] == "snapshot":
            self.bids.clear()
            self.asks.clear()
        for side, levels in ((self.bids, msg["data"]["b"]), (self.asks, msg["data"]["a"])):
            for price, size in levels:
                if Decimal(size) == 0:
                    side.pop(Decimal(price), None)
                else:
                    side[Decimal(price)] = Decimal(size)

    def levels(self, n: int | None = None) -> tuple[list, list]:
        bids = sorted(self.bids.items(), reverse=True)[:n]
        asks = sorted(self.asks.items())[:n]
        return bids, asks


def nautilus_levels(book: OrderBook, n: int | None = None) -> tuple[list, list]:
    def side(levels):
        return [(lv.price.as_decimal(), sum(o.size.as_decimal() for o in lv.orders())) for lv in levels[:n]]

    return side(book.bids()), side(book.asks())


def xrpusdt_instrument() -> nautilus_pyo3.CryptoPerpetual:
    """Bybit's XRPUSDT linear perpetual: tick 0.0001, quantity step 0.1."""
    usdt = nautilus_pyo3.Currency.from_str("USDT")
    return nautilus_pyo3.CryptoPerpetual(
        nautilus_pyo3.InstrumentId.from_str(XRP_ID),
        nautilus_pyo3.Symbol("XRPUSDT"),
        nautilus_pyo3.Currency.from_str("XRP"),
        usdt,
        usdt,
        False,
        4,
        1,
        nautilus_pyo3.Price.from_str("0.0001"),
        nautilus_pyo3.Quantity.from_str("0.1"),
        0,
        0,
    )


# After the capture the server sends one trade: the client handles a connection's messages in
# order, so when its TradeTick arrives every book message before it has been handled.
END_MARKER = json.dumps(
    {
        "topic": "publicTrade.XRPUSDT",
        "type": "snapshot",
        "ts": 1733011299000,
        "data": [
            {
                "T": 1733011299000,
                "s": "XRPUSDT",
                "S": "Buy",
                "v": "1",
                "p": "1.9538",
                "L": "PlusTick",
                "i": "end-of-capture",
                "BT": False,
            }
        ],
    }
)


def replay_through_nautilus(lines: list[str], timeout_s: float = 10.0) -> tuple[list, list]:
    """Serve `lines` as Bybit's public linear stream on 127.0.0.1 to Nautilus's
    `BybitWebSocketClient`; returns what it handed Python (as `BybitDataClient._handle_msg`
    converts it) and the requests the client sent."""
    received: list = []
    requests: list = []

    async def serve(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            req = json.loads(msg.data)
            requests.append(req)
            if req.get("op") == "subscribe":
                await ws.send_str(
                    json.dumps(
                        {"success": True, "ret_msg": "", "conn_id": "test", "op": "subscribe", "req_id": req.get("req_id", "")}
                    )
                )
                for line in lines:
                    await ws.send_str(line)
                await ws.send_str(END_MARKER)
        return ws

    async def run() -> None:
        app = web.Application()
        app.router.add_get("/v5/public/linear", serve)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        client = nautilus_pyo3.BybitWebSocketClient.new_public(
            BybitProductType.LINEAR,
            BybitEnvironment.TESTNET,
            url=f"ws://127.0.0.1:{port}/v5/public/linear",
        )
        client.cache_instrument(xrpusdt_instrument())

        def on_msg(msg):
            received.append(capsule_to_data(msg) if nautilus_pyo3.is_pycapsule(msg) else msg)

        try:
            await client.connect(loop_=asyncio.get_running_loop(), callback=on_msg)
            await client.wait_until_active(timeout_secs=5.0)
            await client.subscribe_orderbook(nautilus_pyo3.InstrumentId.from_str(XRP_ID), 500)
            deadline = time.monotonic() + timeout_s
            while not any(isinstance(m, TradeTick) for m in received):
                assert time.monotonic() < deadline, f"the capture did not come through in {timeout_s} s: {len(received)} items"
                await asyncio.sleep(0.01)
        finally:
            await client.close()
            await runner.cleanup()

    asyncio.run(run())
    return received, requests


@pytest.fixture(scope="module")
def capture(shared_data) -> Path:
    path = shared_data / "bybit" / CAPTURE
    if not path.is_file():
        if in_ci():
            pytest.fail(f"{path} not found")
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="module")
def replayed(capture):
    lines = capture.read_text().splitlines()
    received, requests = replay_through_nautilus(lines)
    return read_messages(capture), received, requests


def book_batches(received: list) -> list[OrderBookDeltas]:
    return [m for m in received if isinstance(m, OrderBookDeltas)]


@pytest.mark.real_data
def test_capture_is_what_the_instrument_expects(capture):
    messages = read_messages(capture)
    assert len(messages) == 50
    assert [m["type"] for m in messages] == ["snapshot"] + ["delta"] * 49
    assert {m["topic"] for m in messages} == {"orderbook.500.XRPUSDT"}
    assert {m["data"]["s"] for m in messages} == {"XRPUSDT"}
    updates = [m["data"]["u"] for m in messages]
    assert updates == list(range(updates[0], updates[0] + 50))  # no gap in the capture
    levels = [lv for m in messages for lv in m["data"]["b"] + m["data"]["a"]]
    # Prices print 4 decimals (tick 0.0001), sizes whole numbers: within size precision 1.
    assert {len(p.partition(".")[2]) for p, _ in levels} == {4}
    assert all(Decimal(s) == Decimal(s).to_integral_value() for _, s in levels)


@pytest.mark.real_data
@pytest.mark.slow
def test_bybit_book_messages_build_the_same_book_in_nautilus(replayed):
    messages, received, requests = replayed
    assert {"op": "subscribe", "args": ["orderbook.500.XRPUSDT"], "req_id": "orderbook.500.XRPUSDT"} in requests
    batches = book_batches(received)
    assert len(batches) == len(messages) == 50

    iid = InstrumentId.from_str(XRP_ID)
    book, oracle = OrderBook(iid, BookType.L2_MBP), DictBook()
    compared = 0
    for n, (msg, batch) in enumerate(zip(messages, batches, strict=True)):
        data, deltas = msg["data"], batch.deltas
        assert batch.instrument_id == iid
        # One delta per level (+ a CLEAR first for a snapshot), bids then asks, in message order.
        clear = msg["type"] == "snapshot"
        assert len(deltas) == len(data["b"]) + len(data["a"]) + clear
        assert [d.action == BookAction.CLEAR for d in deltas] == [clear] + [False] * (len(deltas) - 1)
        levels = deltas[1:] if clear else deltas
        expected = [(OrderSide.BUY, p, s) for p, s in data["b"]] + [(OrderSide.SELL, p, s) for p, s in data["a"]]
        assert [(d.order.side, str(d.order.price), d.order.size.as_decimal()) for d in levels] == [
            (side, p, Decimal(s)) for side, p, s in expected
        ]
        want = [BookAction.DELETE if Decimal(s) == 0 else BookAction.ADD if clear else BookAction.UPDATE for _, _, s in expected]
        assert [d.action for d in levels] == want
        # Timestamps and ids: ts_event is the message's `ts` in ns, `sequence` its `seq`, the
        # level's order id its `u`; F_LAST on the last delta only.
        assert {d.ts_event for d in deltas} == {msg["ts"] * 1_000_000}
        assert {d.sequence for d in deltas} == {data["seq"]}
        assert {d.order.order_id for d in levels} == {data["u"]}
        assert [bool(d.flags & RecordFlag.F_LAST) for d in deltas] == [False] * (len(deltas) - 1) + [True]

        book.apply_deltas(batch)
        oracle.apply(msg)
        got, want_levels = nautilus_levels(book, TOP), oracle.levels(TOP)
        assert got == want_levels, f"message {n} (u={data['u']}): top {TOP} levels differ"
        assert len(got[0]) == len(got[1]) == TOP
        compared += 2 * TOP
        assert nautilus_levels(book) == oracle.levels(), f"message {n} (u={data['u']}): the books differ"
    assert compared == 50 * 2 * TOP
    assert (len(oracle.bids), len(oracle.asks)) == (len(book.bids()), len(book.asks()))
    assert len(oracle.bids) > 400 and len(oracle.asks) > 400


@pytest.mark.real_data
@pytest.mark.slow
def test_bybit_quotes_from_book_messages_are_not_the_top_of_book(replayed):
    """Nautilus's Bybit client also emits a QuoteTick per book message, from the message's first
    bid and ask level (carrying the previous quote's side when the message has none). For a delta
    that is the best *changed* level, not the best level: a deleted level (size 0), a level deep
    in the book. `BybitDataClient` forwards these to the data engine (and the cache's latest quote)."""
    messages, received, _ = replayed
    assert [type(m) for m in received] == [OrderBookDeltas, QuoteTick] * 50 + [TradeTick]
    oracle = DictBook()
    last_bid = last_ask = None
    wrong = empty = crossed = 0
    for msg, quote in zip(messages, received[1:100:2], strict=True):
        oracle.apply(msg)
        b, a = msg["data"]["b"], msg["data"]["a"]
        last_bid = b[0] if b else last_bid
        last_ask = a[0] if a else last_ask
        assert (str(quote.bid_price), quote.bid_size.as_decimal()) == (last_bid[0], Decimal(last_bid[1]))
        assert (str(quote.ask_price), quote.ask_size.as_decimal()) == (last_ask[0], Decimal(last_ask[1]))
        (best_bid,), (best_ask,) = oracle.levels(1)
        top = (
            quote.bid_price.as_decimal(),
            quote.bid_size.as_decimal(),
            quote.ask_price.as_decimal(),
            quote.ask_size.as_decimal(),
        )
        wrong += top != (*best_bid, *best_ask)
        empty += quote.bid_size.as_decimal() == 0 or quote.ask_size.as_decimal() == 0
        crossed += quote.bid_price >= quote.ask_price
    # Of the 50 quotes in this capture (the snapshot's is right): 22 are not the book's top,
    # 7 quote a deleted level (size 0), 7 are locked or crossed (bid >= ask).
    assert (wrong, empty, crossed) == (22, 7, 7)


@pytest.mark.real_data
@pytest.mark.slow
def test_a_truncated_message_is_dropped_silently(capture):
    """A line that is not JSON: Nautilus's client logs and drops it (nothing reaches Python, no
    exception, no gap flag) and applies the next messages over the stale levels. The gap shows
    only in the update ids (`u`, the deltas' order ids)."""
    lines = capture.read_text().splitlines()
    bad = 10
    corrupt = lines[:bad] + [lines[bad][: len(lines[bad]) // 2]] + lines[bad + 1 :]
    with pytest.raises(ValueError, match=rf":{bad + 1}: not a JSON message"):
        parse_lines(corrupt, capture)

    received, _ = replay_through_nautilus(corrupt)
    batches = book_batches(received)
    messages = read_messages(capture)
    kept = messages[:bad] + messages[bad + 1 :]
    assert len(batches) == len(kept) == 49
    updates = [b.deltas[-1].order.order_id for b in batches]
    assert updates == [m["data"]["u"] for m in kept]
    assert [b - a for a, b in zip(updates, updates[1:])].count(2) == 1  # the one visible trace

    iid = InstrumentId.from_str(XRP_ID)
    book, skipped, truth = OrderBook(iid, BookType.L2_MBP), DictBook(), DictBook()
    for m in messages[: bad + 1]:
        truth.apply(m)
    for n, (msg, batch) in enumerate(zip(kept, batches, strict=True)):
        book.apply_deltas(batch)
        skipped.apply(msg)
        assert nautilus_levels(book) == skipped.levels()
        if n == bad:  # the first message after the lost one
            truth.apply(msg)
            assert nautilus_levels(book) != truth.levels()


@pytest.mark.real_data
def test_nautilus_file_loader_known_defects(capture, tmp_path):
    """`BybitOrderBookDeltaDataLoader` (Bybit's history files, zipped) is not usable for books in
    Nautilus 1.231: a snapshot gives one CLEAR per side, and a CLEAR empties the whole book, so the
    bids' CLEAR deletes the asks just added; timestamps go through float ms (off by tens of ns);
    no F_LAST. If this test fails, Nautilus changed the loader: revisit the notes."""
    archive = tmp_path / "ob.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(capture, CAPTURE)
    frame = BybitOrderBookDeltaDataLoader.load(archive)
    instrument = CryptoPerpetual.from_pyo3(xrpusdt_instrument())
    deltas = OrderBookDeltaDataWrangler(instrument).process(frame)
    messages = read_messages(capture)
    snapshot = messages[0]["data"]
    n_snapshot = len(snapshot["a"]) + len(snapshot["b"]) + 2
    assert len(deltas) == sum(len(m["data"]["a"]) + len(m["data"]["b"]) for m in messages) + 2
    clears = [i for i, d in enumerate(deltas) if d.action == BookAction.CLEAR]
    assert clears == [0, len(snapshot["a"]) + 1]
    book = OrderBook(instrument.id, BookType.L2_MBP)
    for d in deltas[:n_snapshot]:
        book.apply_delta(d)
    assert (len(book.bids()), len(book.asks())) == (len(snapshot["b"]), 0)  # the asks are gone
    assert deltas[0].ts_event != messages[0]["ts"] * 1_000_000
    assert abs(deltas[0].ts_event - messages[0]["ts"] * 1_000_000) < 1_000
    assert not any(d.flags & RecordFlag.F_LAST for d in deltas)


# ---------------------------------------------------------------------- the update chain


def test_update_chain_rules():
    """`UpdateChain` on plain numbers: Bybit's `u` +1 per message, a snapshot or u == 1 restarts."""
    chain = UpdateChain()
    assert [chain.update(u, False) for u in (7, 8)] == [Verdict.DROP] * 2  # nothing before a snapshot
    assert chain.update(100, True) == Verdict.SNAPSHOT
    assert [chain.update(u, False) for u in (101, 102, 103)] == [Verdict.APPLY] * 3
    # A lost message: the break shows at the next one; then nothing applies until a snapshot.
    assert chain.update(105, False) == Verdict.GAP and chain.gap_reason == "u=105 after u=103"
    assert [chain.update(u, False) for u in (106, 107)] == [Verdict.DROP] * 2
    assert chain.update(230, True) == Verdict.SNAPSHOT and chain.update(231, False) == Verdict.APPLY
    # A repeated message and an older one break the chain too.
    assert chain.update(231, False) == Verdict.GAP and chain.gap_reason == "u=231 after u=231"
    chain.update(300, True)
    assert chain.update(299, False) == Verdict.GAP
    # u == 1: Bybit restarted its service; the chain starts again there, synced or not.
    assert chain.update(1, False) == Verdict.SNAPSHOT and chain.update(2, False) == Verdict.APPLY
    assert chain.update(1, False) == Verdict.SNAPSHOT and chain.update(3, False) == Verdict.GAP
    # A snapshot carrying the same u as the previous message (Bybit's level-1 re-sends) resets.
    chain.update(50, True)
    assert chain.update(50, True) == Verdict.SNAPSHOT and chain.update(51, False) == Verdict.APPLY
    # A snapshot without levels has no u: the next message continues the chain whatever its u.
    assert chain.update(None, True) == Verdict.SNAPSHOT and chain.update(77, False) == Verdict.APPLY
    assert chain.update(78, False) == Verdict.APPLY and chain.update(80, False) == Verdict.GAP


@pytest.mark.real_data
@pytest.mark.slow
def test_batch_update_reads_u_and_snapshot_from_nautilus_batches(replayed):
    messages, received, _ = replayed
    got = [batch_update(b) for b in book_batches(received)]
    assert got == [(m["data"]["u"], m["type"] == "snapshot") for m in messages]


class BybitBookServer:
    """Bybit's public linear stream on 127.0.0.1: answers `subscribe` / `unsubscribe` as Bybit does
    and, on the n-th book subscription, sends `scripts[n]` (lines) after the answer."""

    def __init__(self, scripts: list[list[str]]) -> None:
        self.scripts = scripts
        self.requests: list[dict] = []
        self.book_subscriptions = 0

    async def serve(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            req = json.loads(msg.data)
            self.requests.append(req)
            op = req.get("op")
            if op in ("subscribe", "unsubscribe"):
                await ws.send_str(
                    json.dumps({"success": True, "ret_msg": "", "conn_id": "test", "op": op, "req_id": req.get("req_id", "")})
                )
            if op == "subscribe" and any(a.startswith("orderbook.") for a in req["args"]):
                n, self.book_subscriptions = self.book_subscriptions, self.book_subscriptions + 1
                for line in self.scripts[n] if n < len(self.scripts) else []:
                    await ws.send_str(line)
        return ws


def drive_synced_client(scripts: list[list[str]], timeout_s: float = 10.0, until=None):
    """A `SyncedBybitDataClient` built by its factory, its LINEAR WebSocket pointed at a
    `BybitBookServer`, subscribed to XRPUSDT's 500-level book through the client's own
    `_subscribe_order_book_deltas`; runs until the end marker trade is published (and
    `until(client)` holds, if given). Returns the
    client, everything it handed `_handle_data`, and the server."""
    server = BybitBookServer(scripts)
    published: list = []
    out: list = []

    async def run() -> None:
        app = web.Application()
        app.router.add_get("/v5/public/linear", server.serve)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        clock = LiveClock()
        iid = InstrumentId.from_str(XRP_ID)
        config = BybitDataClientConfig(
            product_types=(BybitProductType.LINEAR,),
            environment=BybitEnvironment.TESTNET,
            instrument_provider=InstrumentProviderConfig(load_ids=frozenset([iid])),
        )
        client = SyncedBybitLiveDataClientFactory.create(
            loop,
            "BYBIT",
            config,
            MessageBus(TraderId("TESTER-001"), clock),
            Cache(),
            clock,
        )
        client._handle_data = published.append  # everything the client publishes
        # `_connect` without the instrument provider's REST requests.
        ws = nautilus_pyo3.BybitWebSocketClient.new_public(
            BybitProductType.LINEAR,
            BybitEnvironment.TESTNET,
            url=f"ws://127.0.0.1:{port}/v5/public/linear",
        )
        client._ws_clients = {BybitProductType.LINEAR: ws}
        ws.cache_instrument(xrpusdt_instrument())
        try:
            await ws.connect(loop_=loop, callback=client._handle_msg)
            await ws.wait_until_active(timeout_secs=5.0)
            await client._subscribe_order_book_deltas(
                SubscribeOrderBook(
                    instrument_id=iid,
                    book_data_type=OrderBookDelta,
                    book_type=BookType.L2_MBP,
                    client_id=None,
                    venue=Venue("BYBIT"),
                    command_id=UUID4(),
                    ts_init=clock.timestamp_ns(),
                    depth=500,
                )
            )
            deadline = time.monotonic() + timeout_s
            while not (any(isinstance(m, TradeTick) for m in published) and (until is None or until(client))):
                assert time.monotonic() < deadline, f"no end marker in {timeout_s} s: {len(published)} items"
                await asyncio.sleep(0.01)
        finally:
            for task, _ in client._resyncing.values():
                task.cancel()
            await ws.close()
            await runner.cleanup()
        out.append(client)

    asyncio.run(run())
    return out[0], published, server


def snapshot_line(template: dict, book: DictBook, like: dict) -> str:
    """A Bybit snapshot message of `book`, numbered as message `like` (its u, seq and ts)."""
    bids, asks = book.levels()
    return json.dumps(
        {
            **template,
            "type": "snapshot",
            "ts": like["ts"],
            "cts": like.get("cts", like["ts"]),
            "data": {
                **template["data"],
                "b": [[str(p), str(s)] for p, s in bids],
                "a": [[str(p), str(s)] for p, s in asks],
                "u": like["data"]["u"],
                "seq": like["data"]["seq"],
            },
        }
    )


@pytest.mark.real_data
@pytest.mark.slow
def test_synced_client_passes_the_clean_capture(capture):
    lines = capture.read_text().splitlines()
    messages = read_messages(capture)
    client, published, server = drive_synced_client([lines + [END_MARKER]])
    assert (client.gaps, client.resyncs, client.resubscriptions) == (0, 0, 0)
    assert server.book_subscriptions == 1
    assert [r["op"] for r in server.requests] == ["subscribe"]
    batches = book_batches(published)
    assert len(batches) == 50
    book, oracle = OrderBook(InstrumentId.from_str(XRP_ID), BookType.L2_MBP), DictBook()
    for n, (msg, batch) in enumerate(zip(messages, batches, strict=True)):
        book.apply_deltas(batch)
        oracle.apply(msg)
        assert nautilus_levels(book) == oracle.levels(), f"message {n}: the books differ"
    assert len(oracle.bids) > 400 and len(oracle.asks) > 400


@pytest.mark.real_data
@pytest.mark.parametrize("loss", ["withheld", "truncated"])
@pytest.mark.slow
def test_synced_client_clears_and_resubscribes_on_a_lost_message(capture, loss):
    """Message 10 of 50 withheld (or sent cut in half, which Nautilus drops silently, see above):
    the gap shows at message 11; the client publishes one CLEAR,
    drops messages 11-19, unsubscribes and subscribes again; the server answers the new
    subscription with a snapshot of the true book after message 29 (as Bybit would) and sends
    messages 30-49. The published book is the oracle's again from the snapshot on."""
    lines = capture.read_text().splitlines()
    messages = read_messages(capture)
    bad, stop, resume = 10, 20, 30
    truth = DictBook()
    for m in messages[:resume]:
        truth.apply(m)
    snapshot = snapshot_line(messages[0], truth, messages[resume - 1])
    lost = [lines[bad][: len(lines[bad]) // 2]] if loss == "truncated" else []
    scripts = [lines[:bad] + lost + lines[bad + 1 : stop], [snapshot] + lines[resume:] + [END_MARKER]]
    client, published, server = drive_synced_client(scripts)

    assert (client.gaps, client.resyncs, client.resubscriptions) == (1, 1, 1)
    topic = "orderbook.500.XRPUSDT"
    assert [(r["op"], r["args"]) for r in server.requests] == [
        ("subscribe", [topic]),
        ("unsubscribe", [topic]),
        ("subscribe", [topic]),
    ]
    batches = book_batches(published)
    assert len(batches) == bad + 1 + 1 + (50 - resume)
    clear = batches[bad]
    assert [d.action for d in clear.deltas] == [BookAction.CLEAR]
    assert clear.deltas[0].flags & RecordFlag.F_LAST
    # Stamped as the message that revealed the gap (its exchange time and seq).
    assert clear.deltas[0].ts_event == messages[bad + 1]["ts"] * 1_000_000
    assert clear.deltas[0].sequence == messages[bad + 1]["data"]["seq"]
    # Nothing between the CLEAR and the new snapshot: messages 11-19 were not applied.
    assert batch_update(batches[bad + 1]) == (messages[resume - 1]["data"]["u"], True)

    iid = InstrumentId.from_str(XRP_ID)
    book, oracle = OrderBook(iid, BookType.L2_MBP), DictBook()
    for n in range(bad):
        book.apply_deltas(batches[n])
        oracle.apply(messages[n])
        assert nautilus_levels(book) == oracle.levels(), f"message {n}: the books differ"
    book.apply_deltas(clear)
    assert nautilus_levels(book) == ([], [])  # the strategy sees an empty, invalid book
    book.apply_deltas(batches[bad + 1])
    assert nautilus_levels(book) == truth.levels()
    for msg, batch in zip(messages[resume:], batches[bad + 2 :], strict=True):
        book.apply_deltas(batch)
        truth.apply(msg)
        assert nautilus_levels(book) == truth.levels(), f"u={msg['data']['u']}: the books differ"
    full = DictBook()
    for m in messages:
        full.apply(m)
    assert nautilus_levels(book) == full.levels()


@pytest.mark.real_data
@pytest.mark.slow
def test_synced_client_asks_again_while_no_snapshot_comes(capture, monkeypatch):
    """The server never answers a re-subscription with a snapshot: the client keeps the book empty
    and re-subscribes every `RESYNC_WAIT_S`."""
    monkeypatch.setattr(bybit_module, "RESYNC_WAIT_S", 0.05)
    lines = capture.read_text().splitlines()
    client, published, server = drive_synced_client(
        [lines[:10] + lines[11:20] + [END_MARKER]],
        until=lambda c: c.resubscriptions >= 3,
    )
    assert (client.gaps, client.resyncs) == (1, 0) and client.resubscriptions >= 3
    assert [r["op"] for r in server.requests][:5] == ["subscribe", "unsubscribe", "subscribe", "unsubscribe", "subscribe"]
    batches = book_batches(published)
    assert len(batches) == 11 and [d.action for d in batches[-1].deltas] == [BookAction.CLEAR]
