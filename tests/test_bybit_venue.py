"""The replay venue speaking Bybit's v5 API (`scalp_nautilus/live/venue/bybit_api.py`), offline on
127.0.0.1, every run bounded: its market data, its recorded-capture replay and its signing. (The
Bybit node against it, end to end, parity, faults, rejection and adoption, is in
`tests/test_live_replay.py`, which runs each live check on both APIs.)

The converted market data: the 2023-04 BTCUSDT Binance capture served as Bybit's ``orderbook`` /
``publicTrade`` / ``tickers`` messages, read by a plain WebSocket client and checked against two
independent books: the Bybit parser oracle of `tests/test_bybit.py` (`DictBook`, Bybit's
documented rules) applied to the served messages, and a plain dict book built straight from the
recorded Binance file by Binance's rules. The shared Bybit fixture is served as recorded.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import hmac
import json
import time
from decimal import Decimal

import aiohttp
import pytest

from scalp_nautilus.config import ConfigError
from scalp_nautilus.live.bybit import SyncedBybitDataClientConfig
from scalp_nautilus.live.node import client_configs
from scalp_nautilus.live.settings import credentials
from scalp_nautilus.live.settings import load_live_settings
from scalp_nautilus.live.venue.settings import load_venue_settings
from scalp_nautilus.live.venue.thread import VenueThread
from tests.support.live import CAPTURE_2023
from tests.support.live import ROOT
from tests.support.live import free_port
from tests.support.live import start_venue_process
from tests.support.live import venue_settings
from tests.test_bybit import DictBook

pytestmark = pytest.mark.real_data


def bybit_venue(shared_data, **changes):
    return venue_settings(shared_data, api="bybit", **changes)


# ---------------------------------------------------------------------- the converted stream


def recorded_binance(shared_data) -> tuple[dict, list[dict], list[dict], list[dict]]:
    """The capture's snapshot, depth diffs, trades and mark-price messages, read from the files."""
    snapshot, diffs, trades, marks = None, [], [], []
    for name in CAPTURE_2023:
        with gzip.open(shared_data / "binance-futures" / name, "rt") as fh:
            for line in fh:
                msg = json.loads(line.split(" ", 1)[1])
                if "stream" not in msg:
                    snapshot = snapshot or msg
                    continue
                data = msg["data"]
                {"depthUpdate": diffs, "trade": trades, "markPriceUpdate": marks}.get(data["e"], []).append(data)
    return snapshot, diffs, trades, marks


def binance_books(snapshot: dict, diffs: list[dict]):
    """(update id, bids, asks) after the snapshot and after each diff applied after it, by Binance's
    rule (diffs up to the snapshot's id are dropped), on Decimal dicts."""
    bids = {Decimal(p): Decimal(q) for p, q in snapshot["bids"] if Decimal(q)}
    asks = {Decimal(p): Decimal(q) for p, q in snapshot["asks"] if Decimal(q)}
    yield snapshot["lastUpdateId"], bids, asks
    for d in diffs:
        if d["u"] <= snapshot["lastUpdateId"]:
            continue
        for side, levels in ((bids, d["b"]), (asks, d["a"])):
            for p, q in levels:
                if Decimal(q):
                    side[Decimal(p)] = Decimal(q)
                else:
                    side.pop(Decimal(p), None)
        yield d["u"], bids, asks


def collect_public_stream(settings, symbol: str = "BTCUSDT", topics: list[str] | None = None) -> tuple[list[dict], dict]:
    """Subscribe to the venue's book, trades and tickers (or `topics`) and read until the replay ends."""
    received: list[dict] = []
    with VenueThread(settings) as venue:

        async def read() -> None:
            async with aiohttp.ClientSession() as session, session.ws_connect(f"{venue.url_ws}/v5/public/linear") as ws:
                args = topics or [f"orderbook.50.{symbol}", f"publicTrade.{symbol}", f"tickers.{symbol}"]
                await ws.send_str(json.dumps({"op": "subscribe", "req_id": "1", "args": args}))
                deadline = time.monotonic() + 60
                while not venue.finished.is_set() or not ws.closed:
                    assert time.monotonic() < deadline, "the replay did not end within 60 s"
                    try:
                        msg = await ws.receive(timeout=0.5)
                    except TimeoutError:
                        if venue.finished.is_set():
                            return
                        continue
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        return
                    received.append(json.loads(msg.data))

        asyncio.run(read())
        view = {"shift_ms": venue.shift_ms, "stats": dict(venue.stats)}
    return received, view


@pytest.fixture(scope="module")
def served(shared_data):
    return collect_public_stream(bybit_venue(shared_data, speed=400.0)), recorded_binance(shared_data)


@pytest.mark.slow
def test_converted_book_follows_the_capture(served):
    """After every served book message, the book by Bybit's rules (the parser oracle of
    test_bybit.py) equals the book the recorded Binance messages give by Binance's rules at the
    same update id (``seq``); ``u`` goes up by one per message from the snapshot; ``ts`` is the
    diff's ``T``."""
    (received, view), (snapshot, diffs, _, _) = served
    books = [m for m in received if m.get("topic", "").startswith("orderbook.")]
    assert books[0]["type"] == "snapshot" and all(m["type"] == "delta" for m in books[1:])
    assert [m["data"]["u"] for m in books] == list(range(books[0]["data"]["u"], books[0]["data"]["u"] + len(books)))
    oracle = DictBook()
    expected = binance_books(snapshot, diffs)
    by_id = {d["u"]: d for d in diffs}
    compared = 0
    for msg in books:
        oracle.apply(msg)
        seq = msg["data"]["seq"]
        u, bids, asks = next(expected)
        while u != seq:  # Binance diffs without levels send no Bybit message
            assert not (by_id[u]["b"] or by_id[u]["a"]), f"diff {u} with levels was not served"
            u, bids, asks = next(expected)
        # The levels this message touched after every message, the whole book every 500 and at the end
        # (a difference elsewhere would persist to the next whole comparison).
        for side, theirs, levels in ((oracle.bids, bids, msg["data"]["b"]), (oracle.asks, asks, msg["data"]["a"])):
            assert all(side.get(Decimal(p)) == theirs.get(Decimal(p)) for p, _ in levels), f"book differs at {seq}"
        if compared % 500 == 0 or msg is books[-1]:
            assert oracle.bids == bids and oracle.asks == asks, f"book differs at update id {seq}"
        if msg["type"] == "delta":
            assert msg["ts"] == by_id[seq]["T"] + view["shift_ms"]
        compared += 1
    assert compared > 15_000 and view["stats"]["snapshots"] == 1


@pytest.mark.slow
def test_converted_trades_and_tickers(served):
    """One publicTrade per recorded trade (aggressor Sell when Binance's buyer was the maker) and one
    tickers message per mark-price update with its funding rate and next funding time."""
    (received, view), (_, _, trades, marks) = served
    shift = view["shift_ms"]
    served_trades = [d for m in received if m.get("topic", "").startswith("publicTrade.") for d in m["data"]]
    assert [(t["i"], t["p"], t["v"], t["S"], t["T"]) for t in served_trades] == [
        (str(t["t"]), t["p"], t["q"], "Sell" if t["m"] else "Buy", t["T"] + shift) for t in trades
    ]
    tickers = [m["data"] for m in received if m.get("topic", "").startswith("tickers.")]
    assert [(t["fundingRate"], t["nextFundingTime"], t["markPrice"]) for t in tickers] == [
        (m["r"], str(m["T"] + shift), m["p"]) for m in marks
    ]
    # The capture spans the 2023-04-05 00:00 settlement: the next funding time moves by 8 hours.
    assert len({t["nextFundingTime"] for t in tickers}) == 2


@pytest.mark.parametrize("form", ["bare", "recorder"])
def test_bybit_capture_is_replayed_as_recorded(shared_data, tmp_path, form):
    """The shared Bybit fixture (orderbook.500.XRPUSDT, 50 messages) served by the Bybit venue, as it
    is (one JSON a line) and as `scalp-nautilus record` writes it (gzip, receive time first): every
    message as recorded (type, levels, seq, ts, cts), u numbered as recorded from the snapshot, and
    the book it builds by Bybit's rules equal to the recorded messages' book."""
    path = shared_data / "bybit" / "2024-12-01_XRPUSDT_ob500.data"
    recorded = [json.loads(line) for line in path.read_text().splitlines()]
    if form == "recorder":
        path = tmp_path / "XRPUSDT_20241201T000000Z.gz"
        with gzip.open(path, "wt") as fh:
            fh.writelines(f"{m['ts'] * 1_000_000 + 1_500_000} {json.dumps(m)}\n" for m in recorded)
    settings = venue_settings(shared_data, api="bybit", captures=[str(path)], speed=50.0, rebase_time=False)
    received, view = collect_public_stream(settings, "XRPUSDT", topics=["orderbook.500.XRPUSDT"])
    books = [m for m in received if m.get("topic") == "orderbook.500.XRPUSDT"]
    assert len(books) == len(recorded) == 50 and view["stats"]["snapshots"] == 1

    def as_recorded(m: dict) -> tuple:
        return m["type"], m["ts"], m["cts"], m["data"]["s"], m["data"]["b"], m["data"]["a"], m["data"]["seq"]

    assert [as_recorded(m) for m in books] == [as_recorded(m) for m in recorded]
    u0, r0 = books[0]["data"]["u"], recorded[0]["data"]["u"]
    assert [m["data"]["u"] - u0 for m in books] == [m["data"]["u"] - r0 for m in recorded]
    served_book, recorded_book = DictBook(), DictBook()
    for s, r in zip(books, recorded, strict=True):
        served_book.apply(s)
        recorded_book.apply(r)
    assert served_book.levels() == recorded_book.levels() and len(served_book.bids) > 100


def test_signed_rest_orders_and_private_login(shared_data):
    """Bybit's HMAC signing checked against the venue's public replay credentials: a good
    signature is served, a wrong one gets 10004, a wrong key 10003; the private stream's login
    likewise; an unknown path answers 10404 and is counted. Orders over signed REST: create,
    a refusal with its retCode, amend, the open orders, cancel-all."""
    settings = bybit_venue(shared_data)
    key, secret = settings.api_key, settings.api_secret

    def headers(query: str, sign_key: str = key, sign_secret: str = secret) -> dict:
        ts, window = "1700000000000", "5000"
        sign = hmac.new(sign_secret.encode(), f"{ts}{sign_key}{window}{query}".encode(), hashlib.sha256).hexdigest()
        return {"X-BAPI-API-KEY": sign_key, "X-BAPI-TIMESTAMP": ts, "X-BAPI-RECV-WINDOW": window, "X-BAPI-SIGN": sign}

    thread = VenueThread(settings)
    with thread as venue:

        async def run() -> dict:
            out = {}
            query = "category=linear&symbol=BTCUSDT"
            async with aiohttp.ClientSession() as s:
                for name, h in (
                    ("good", headers(query)),
                    ("bad_sign", headers(query, sign_secret="x")),
                    ("bad_key", headers(query, sign_key="x")),
                ):
                    async with s.get(f"{venue.url_http}/v5/position/list?{query}", headers=h) as r:
                        out[name] = await r.json()
                async with s.get(f"{venue.url_http}/v5/nothing/here") as r:
                    out["unknown"] = (r.status, (await r.json())["retCode"])

                async def call(method: str, path: str, body: dict | None = None) -> dict:
                    text = json.dumps(body) if body is not None else ""
                    url = f"{venue.url_http}{path}" + (f"?{query}" if method == "GET" else "")
                    h = {**headers(text if body is not None else query), "Content-Type": "application/json"}
                    async with s.request(method, url, data=text or None, headers=h) as r:
                        return await r.json()

                limit = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "timeInForce": "GTC"}
                out["create"] = await call(
                    "POST", "/v5/order/create", {**limit, "qty": "0.010", "price": "20000.0", "orderLinkId": "a-1"}
                )
                out["small"] = await call(
                    "POST", "/v5/order/create", {**limit, "qty": "0.001", "price": "1000.0", "orderLinkId": "a-2"}
                )
                out["amend"] = await call(
                    "POST",
                    "/v5/order/amend",
                    {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "a-1", "price": "20001.0"},
                )
                out["open"] = await call("GET", "/v5/order/realtime")
                out["cancel_all"] = await call("POST", "/v5/order/cancel-all", {"category": "linear", "symbol": "BTCUSDT"})
                out["open_after"] = await call("GET", "/v5/order/realtime")
                for name, sign_secret in (("login", secret), ("bad_login", "x")):
                    async with s.ws_connect(f"{venue.url_ws}/v5/private") as ws:
                        expires = 1_700_000_000_000
                        sig = hmac.new(sign_secret.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256).hexdigest()
                        await ws.send_str(json.dumps({"op": "auth", "args": [key, expires, sig]}))
                        out[name] = json.loads((await ws.receive(timeout=5)).data)
            return out

        out = thread.call(run())
        stats = dict(venue.stats)
    assert out["good"]["retCode"] == 0 and out["good"]["result"]["list"][0]["symbol"] == "BTCUSDT"
    assert out["good"]["result"]["list"][0]["size"] == "0.000"
    assert out["bad_sign"]["retCode"] == 10004 and out["bad_key"]["retCode"] == 10003
    assert out["unknown"] == (404, 10404) and stats["GET /v5/nothing/here"] == 1
    assert out["login"]["success"] is True and out["bad_login"]["success"] is False
    assert (out["create"]["retCode"], out["create"]["result"]["orderLinkId"]) == (0, "a-1")
    assert out["small"]["retCode"] == 110094  # 0.001 x 1000 = 1 USDT, under the 5 USDT minimum
    assert out["amend"]["retCode"] == 0
    [still_open] = out["open"]["result"]["list"]
    assert (still_open["orderLinkId"], float(still_open["price"]), still_open["orderStatus"]) == ("a-1", 20001.0, "New")
    assert [o["orderLinkId"] for o in out["cancel_all"]["result"]["list"]] == ["a-1"]
    assert out["open_after"]["result"]["list"] == []


# ---------------------------------------------------------------------- configs and the command line


def test_bybit_replay_config_points_every_client_at_the_venue():
    """configs/live_bybit_replay.yaml: REST on base_url_http, the public stream on the synced data
    client's own URL (Nautilus would use base_url_http), private and trade streams on theirs. (That
    the node really connects there is the live tests' part.)"""
    settings = load_live_settings(ROOT / "configs" / "live_bybit_replay.yaml")
    data, execution = client_configs(settings, credentials(settings, mainnet=False), mainnet=False)
    assert type(data) is SyncedBybitDataClientConfig and data.base_url_http == "http://127.0.0.1:8766"
    assert data.base_url_ws == "ws://127.0.0.1:8766/v5/public/linear"
    assert execution.base_url_http == "http://127.0.0.1:8766"
    assert (execution.base_url_ws_private, execution.base_url_ws_trade) == (
        "ws://127.0.0.1:8766/v5/private",
        "ws://127.0.0.1:8766/v5/trade",
    )


def test_venue_api_key_is_checked(tmp_path):
    path = tmp_path / "venue.yaml"
    path.write_text((ROOT / "configs" / "replay_venue_bybit.yaml").read_text().replace("api: bybit", "api: kraken"))
    with pytest.raises(ConfigError, match=r"venue.yaml.*api"):
        load_venue_settings(path)


def test_command_line_serves_bybit(shared_data):
    """`scalp-nautilus replay-venue --config configs/replay_venue_bybit.yaml` serves Bybit's API."""
    files = [str(shared_data / "binance-futures" / f) for f in CAPTURE_2023]
    port = free_port()
    venue = start_venue_process(files, 1.0, port, config="replay_venue_bybit.yaml")
    try:

        async def ask() -> dict:
            async with (
                aiohttp.ClientSession() as s,
                s.get(
                    f"http://127.0.0.1:{port}/v5/market/instruments-info", params={"category": "linear", "symbol": "BTCUSDT"}
                ) as r,
            ):
                return await r.json()

        answer = asyncio.run(ask())
    finally:
        venue.terminate()
        venue.wait(10)
    assert "(bybit API) for BTCUSDT" in venue.banner
    [instrument] = answer["result"]["list"]
    assert (answer["retCode"], instrument["symbol"], instrument["priceFilter"]["tickSize"]) == (0, "BTCUSDT", "0.10")
