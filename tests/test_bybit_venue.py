"""The replay venue speaking Bybit's v5 API (`scalp_nautilus/live/venue/bybit_api.py`), offline on
127.0.0.1, every run bounded.

First the converted market data: the 2023-04 BTCUSDT Binance capture served as Bybit's
``orderbook`` / ``publicTrade`` / ``tickers`` messages, read by a plain WebSocket client and
checked against two independent books: the Bybit parser oracle of `tests/test_bybit.py`
(`DictBook`, Bybit's documented rules) applied to the served messages, and a plain dict book built
straight from the recorded Binance file by Binance's rules. Then the Bybit live node end to end,
as `tests/test_live_replay.py` does for Binance: one clean run (with the strategy's second order
refused with Bybit's retCode) checked for the end-to-end path, parity with a backtest, and the
rejection; one run with a dropped WebSocket and a withheld delta; one starting with a position.
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
import numpy as np
import pytest

from scalp_nautilus.live.venue.thread import VenueThread
from scalp_nautilus.strategy.decision import ENTER
from scalp_nautilus.testing.live import CAPTURE_2023
from scalp_nautilus.testing.live import live_settings
from scalp_nautilus.testing.live import run_node
from scalp_nautilus.testing.live import venue_settings
from tests.live_parity import differing_feature_columns
from tests.live_parity import live_and_backtest_rows
from tests.test_bybit import DictBook
from tests.test_live_replay import SIGNAL_OUTCOMES
from tests.test_live_replay import _finished
from tests.test_live_replay import _invalid_spans
from tests.test_live_replay import _unique_ids

pytestmark = pytest.mark.real_data

SPEED = 15.0
CAPTURE_S = 515.0
FULL_RUN_S = CAPTURE_S / SPEED + 60
MS = 1_000_000


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
    """After every served book message, the whole book by Bybit's rules (the parser oracle of
    test_bybit.py) equals the whole book the recorded Binance messages give by Binance's rules at
    the same update id (``seq``); ``u`` goes up by one per message from the snapshot; ``ts`` is
    the diff's ``T``."""
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


def test_bybit_capture_is_replayed_as_recorded(shared_data):
    """The shared Bybit fixture (orderbook.500.XRPUSDT, 50 messages) served by the Bybit venue:
    every message as recorded (type, levels, seq, ts, cts), u numbered as recorded from the
    snapshot, and the book it builds by Bybit's rules equal to the recorded messages' book."""
    path = shared_data / "bybit" / "2024-12-01_XRPUSDT_ob500.data"
    recorded = [json.loads(line) for line in path.read_text().splitlines()]
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


def test_signed_rest_and_private_login(shared_data):
    """Bybit's HMAC signing checked against the venue's public replay credentials: a good
    signature is served, a wrong one gets 10004, a wrong key 10003; the private stream's login
    likewise; an unknown path answers 10404 and is counted."""
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
                for name, h in (("good", headers(query)), ("bad_sign", headers(query, sign_secret="x")),
                                ("bad_key", headers(query, sign_key="x"))):
                    async with s.get(f"{venue.url_http}/v5/position/list?{query}", headers=h) as r:
                        out[name] = await r.json()
                async with s.get(f"{venue.url_http}/v5/nothing/here") as r:
                    out["unknown"] = (r.status, (await r.json())["retCode"])
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


# ---------------------------------------------------------------------- the live node on Bybit


@pytest.fixture(scope="module")
def clean(shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bybit_clean")
    settings = bybit_venue(shared_data, speed=SPEED, faults={"reject_orders": [2]})
    with VenueThread(settings) as venue:
        live = live_settings(tmp, venue, {"record_features": str(tmp / "live.parquet")})
        run = run_node(live, _finished(venue), FULL_RUN_S)
        view = {
            "finished": venue.finished.is_set(), "stats": dict(venue.stats), "shift_ms": venue.shift_ms,
            "fills": list(venue.exchange.fills), "rejected": list(venue.exchange.rejected),
            "open_orders": [o for o in venue.exchange.orders.values() if o.open],
            "orders": list(venue.exchange.orders.values()), "position": venue.exchange.position,
            "trades": sum(e.kind == "trade" for e in venue.capture.events),
            "last_mark": next(e.data for e in reversed(venue.capture.events) if e.kind == "markPrice"),
        }
    return tmp, run, view


@pytest.mark.slow
def test_bybit_end_to_end_against_the_replay_venue(clean):
    """The Bybit node syncs its book once (0 gaps), receives every trade, warms its features,
    trades through the venue's trade stream (orders acknowledged and filled, round trips) and stops
    with nothing open anywhere; funding came through Bybit's tickers."""
    _, run, view = clean
    assert view["finished"], "the replay did not reach the end of the capture within the time limit"
    client, strategy = run.data_client, run.strategy
    assert (client.gaps, client.resubscriptions) == (0, 0)
    assert view["stats"]["snapshots"] == 1 and view["stats"]["market_connections"] == 1
    assert strategy.pipeline.trades == view["trades"]
    assert strategy.batches > 15_000 and strategy.pipeline.books == strategy.batches
    assert any(d[2] for d in run.decisions), "the features never warmed up"
    funding = strategy.pipeline.funding
    assert funding.settlements == 1 and funding.settled_rate == pytest.approx(0.0000276, abs=1e-12)
    assert funding.current_rate == float(view["last_mark"]["r"])
    assert funding.next_funding_ns == (int(view["last_mark"]["T"]) + view["shift_ms"]) * MS
    # Orders went out on the trade stream; the venue filled them and the node saw the fills.
    assert view["stats"]["ws order.create"] == len(run.orders)
    entries = [o for o in run.orders if any(t.startswith("entry:") for t in o[3] or [])]
    assert len(entries) >= 2 and view["fills"]
    assert {o[2] for o in run.orders} <= {"FILLED", "REJECTED", "CANCELED", "EXPIRED"}
    assert len(strategy.round_trips) >= 1
    assert not view["open_orders"] and view["position"] == 0.0 and run.open_positions == 0
    assert _unique_ids(run)


@pytest.mark.slow
def test_bybit_live_features_equal_the_backtest(clean, capture_paths):
    """Parity: the Bybit run's recorder rows against a backtest over the Binance capture imported
    into the catalog, row by row at the same update ids (Bybit's ``seq``), bit for bit on every
    feature column."""
    tmp, _, view = clean
    live, backtest = live_and_backtest_rows(tmp, capture_paths("usdm_2023_04"))
    assert len(live) == len(backtest) > 16_000
    assert (live["update_id"].to_numpy() == backtest["update_id"].to_numpy()).all()
    # Bybit stamps in whole ms: the shift is exact.
    lag = live["ts_event"].to_numpy().astype(np.int64) - backtest["ts_event"].to_numpy().astype(np.int64)
    assert (lag == view["shift_ms"] * MS).all()
    differing = differing_feature_columns(live, backtest)
    assert not differing, f"columns differing between live and backtest (rows): {differing}"
    assert live["warm"].mean() > 0.3 and live["vpin"].nunique() > 100 and live["hurst"].nunique() > 10


@pytest.mark.slow
def test_bybit_rejected_order_is_not_resent_in_a_loop(clean):
    """The venue refuses the strategy's second order with Bybit's retCode 110007; the node marks it
    rejected, does not send it again in a loop, and trades on."""
    _, run, view = clean
    [(rejected_id, code, _)] = view["rejected"]
    status = {o[0]: o[2] for o in run.orders}
    assert status[rejected_id] == "REJECTED" and code == 110007
    ids = [o[0] for o in run.orders]
    after = ids[ids.index(rejected_id) + 1:]
    assert 2 <= len(after) < 50 and any(status[i] == "FILLED" for i in after)
    assert _unique_ids(run) and len(view["orders"]) == len(ids) - 1


@pytest.mark.slow
def test_bybit_dropped_websocket_and_withheld_delta(shared_data, tmp_path):
    """A dropped public WebSocket: Nautilus reconnects and re-subscribes, and the venue's snapshot
    (Nautilus parses it as CLEAR, then the levels) re-syncs the book. A withheld delta: the synced
    client sees ``u`` jump, publishes a CLEAR, re-subscribes and applies the new snapshot. No order is sent twice, nothing is left open."""
    settings = bybit_venue(shared_data, speed=SPEED, faults={"drop_at_s": [200.0], "gap_at_s": [330.0]})
    with VenueThread(settings) as venue:
        run = run_node(live_settings(tmp_path, venue), _finished(venue), FULL_RUN_S)
        stats, finished = dict(venue.stats), venue.finished.is_set()
        open_orders = [o for o in venue.exchange.orders.values() if o.open]
        position, orders = venue.exchange.position, len(venue.exchange.orders)
    assert finished
    assert stats["drops"] == 1 and stats["diffs_withheld"] == 1 and stats["market_connections"] == 2
    client = run.data_client
    assert client.gaps == 1 and client.resyncs == 1 and client.resubscriptions >= 1
    assert stats["snapshots"] == 3  # the first, the reconnect's and the re-subscription's
    # One stale span: the withheld delta's CLEAR until the new snapshot. The reconnect makes none:
    # Bybit's client keeps the last levels until the new connection's snapshot (CLEAR and levels in
    # one batch) replaces them; the silence in between is the feed watchdog's.
    spans = _invalid_spans(run.decisions)
    assert len(spans) == 1, f"expected one stale span (the withheld delta), got {spans}"
    for first, last in spans:
        stale = run.decisions[first:last + 1]
        assert not [d for d in stale if d[4] == ENTER or d[3] in SIGNAL_OUTCOMES], stale
    after = run.decisions[spans[-1][1] + 1:]
    assert len(after) > 1000 and {d[3] for d in after} & (SIGNAL_OUTCOMES - {"cold"})
    assert _unique_ids(run) and orders == len(run.orders)
    assert not open_orders and position == 0.0 and run.open_positions == 0


@pytest.mark.slow
def test_bybit_position_on_the_account_is_adopted(shared_data, tmp_path):
    """The account already holds 0.05 BTC long: Nautilus reconciles it from ``position/list``, the
    strategy adopts it, opens nothing beside it and closes it (a time stop at the latest)."""
    settings = bybit_venue(shared_data, speed=SPEED, exchange={"position": 0.05})
    with VenueThread(settings) as venue:
        closed = []

        def until(run):
            if venue.exchange.position == 0.0 and not closed:
                closed.append(venue.progress_s)
            return bool(closed)

        run = run_node(live_settings(tmp_path, venue, {"exits": {"time_stop_s": 60.0}}), until, 90.0)
        orders = list(venue.exchange.orders.values())
    assert closed, "the adopted position was never closed"
    first = orders[0]
    assert (first.side, first.reduce_only, first.executed) == ("SELL", True, 0.05)
    assert all(o.reduce_only or o.time_ms > first.update_ms for o in orders)
    assert run.open_positions == 0
