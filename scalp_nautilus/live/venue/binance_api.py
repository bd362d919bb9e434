"""A local replay venue: the subset of Binance's USDT-M futures REST and WebSocket API that
Nautilus's Binance adapter uses, serving a recorded capture, on 127.0.0.1 (aiohttp).

A live node reaches it through the adapter's `base_url_http` / `base_url_ws` (see
`configs/live_binance_replay.yaml`); `scalp-nautilus replay-venue --config configs/replay_venue.yaml`
starts one for a dry run. What it serves:

REST (``/fapi``): ``v1/ping``, ``v1/time``, ``v1/exchangeInfo`` (the capture's symbol, from
`scalp_nautilus.instruments`), ``v1/depth`` (see below), ``v2/account``, ``v3/positionRisk``,
``v1/symbolConfig``, ``v1/positionSide/dual`` (one-way mode), ``v1/leverage``, ``v1/listenKey``
(POST / PUT / DELETE), ``v1/order`` (POST new, GET query, DELETE cancel), ``v1/openOrders``,
``v1/allOrders``, ``v1/allOpenOrders`` (DELETE), ``v1/batchOrders`` (DELETE), ``v1/userTrades``,
``v1/algoOrder`` (POST new, GET query, DELETE cancel: the conditional STOP_MARKET /
TAKE_PROFIT_MARKET orders Nautilus 1.231 sends there), ``v1/openAlgoOrders``, ``v1/allAlgoOrders``,
``v1/algoOpenOrders`` (DELETE). Signed endpoints check the API key header and the HMAC-SHA256 signature (the venue's
own `api_key` / `api_secret`, public replay credentials, never real ones); ``recvWindow`` is not
checked (the replay's clock is not the wall clock). Anything else answers 404 with a Binance-style
error, and is logged.

WebSocket: ``/stream?streams=...`` combined market streams (``SUBSCRIBE`` / ``UNSUBSCRIBE`` /
``LIST_SUBSCRIPTIONS``) carrying the capture's ``<symbol>@depth@0ms``, ``@aggTrade`` (made from the
recorded trades), ``@trade``, ``@markPrice@1s`` and ``@bookTicker`` messages; ``/ws?listenKey=...``
the user-data stream (``ORDER_TRADE_UPDATE``, ``ACCOUNT_UPDATE``, ``ALGO_UPDATE``). A triggered
conditional order is reported as Binance does: ``ALGO_UPDATE`` TRIGGERING, the market order's
``ORDER_TRADE_UPDATE`` NEW (same client id, a new order id), ``ALGO_UPDATE`` TRIGGERED, its
fills, then ``ALGO_UPDATE`` FINISHED.

The replay starts once a client has subscribed to every stream kind in `start.streams` that the
capture holds (so a node misses nothing of the capture), or after `start.timeout_s`, and runs at
`speed` times the recorded pace (receive times). With `rebase_time` the exchange timestamps are
moved by a whole number of seconds so the capture starts now (see `venue.capture`).

Depth requests: one made before the replay has reached the capture's recorded snapshot waits for
it and gets that snapshot (the recorder's own request, at its place in the stream), and the stream
then pauses `start.snapshot_hold_ms` so the answer reaches the client before the diffs after it;
later requests get the venue's book as the replay has left it, ``lastUpdateId`` its last applied
update, at most ``limit`` levels a side.

Orders are matched by `venue.exchange.Exchange` (the fill model and fees are documented there);
`venue.binance_json` writes its state as Binance's JSON; `venue.thread` runs a venue.
Faults for tests: `faults.drop_at_s` closes every market connection abruptly at those capture
seconds, `faults.gap_at_s` withholds one depth diff (a sequence gap for the client), and
`faults.reject_orders` refuses the n-th new orders with `faults.reject_code`,
`faults.reject_algo_orders` the n-th new conditional orders.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections import Counter

import msgspec
from aiohttp import WSMsgType
from aiohttp import web

from scalp_nautilus.instruments import ContractSpec
from scalp_nautilus.instruments import resolve_spec
from scalp_nautilus.live.venue.binance_json import account_info
from scalp_nautilus.live.venue.binance_json import account_update
from scalp_nautilus.live.venue.binance_json import algo_order_json
from scalp_nautilus.live.venue.binance_json import algo_update
from scalp_nautilus.live.venue.binance_json import exchange_info
from scalp_nautilus.live.venue.binance_json import order_json
from scalp_nautilus.live.venue.binance_json import order_update
from scalp_nautilus.live.venue.binance_json import position_risk
from scalp_nautilus.live.venue.binance_json import trade_json
from scalp_nautilus.live.venue.capture import SNAPSHOT
from scalp_nautilus.live.venue.capture import Capture
from scalp_nautilus.live.venue.capture import ReplayEvent
from scalp_nautilus.live.venue.capture import VenueBook
from scalp_nautilus.live.venue.capture import agg_trade
from scalp_nautilus.live.venue.capture import agg_trade_stream
from scalp_nautilus.live.venue.capture import load_capture
from scalp_nautilus.live.venue.capture import shifted
from scalp_nautilus.live.venue.exchange import ConditionalOrder
from scalp_nautilus.live.venue.exchange import Exchange
from scalp_nautilus.live.venue.exchange import Fill
from scalp_nautilus.live.venue.exchange import Rejected
from scalp_nautilus.live.venue.exchange import VenueOrder
from scalp_nautilus.live.venue.settings import ReplayVenueSettings

log = logging.getLogger(__name__)

_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)


def _error(status: int, code: int, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


class _Refused(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


class _Connection:
    __slots__ = ("ws", "request", "streams")

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, streams: set[str]) -> None:
        self.ws = ws
        self.request = request
        self.streams = streams


class ReplayVenue:
    """The server; `await start()`, then `url_http` / `url_ws`; `await stop()`. `stats` counts
    requests, messages and faults; `finished` is set when the replay reaches the end of the capture."""

    def __init__(self, settings: ReplayVenueSettings, capture: Capture | None = None) -> None:
        self.settings = settings
        self.capture = capture or load_capture(settings.captures, settings.symbol)
        self.symbol = self.capture.symbol
        self.spec: ContractSpec = resolve_spec("BINANCE", self.symbol)
        self.book = VenueBook()
        self.exchange = Exchange(self.spec, settings.exchange, self.book)
        snap = self.capture.snapshot()
        start_mid = 0.5 * (float(snap["bids"][0][0]) + float(snap["asks"][0][0]))
        if settings.exchange.position:
            self.exchange.open_position(settings.exchange.position, settings.exchange.entry_price or start_mid)
        self.exchange.mark = start_mid
        self.stats: Counter = Counter()
        self.client_ids: list[str] = []  # every client order id a new-order request carried, in order (drills check reuse)
        self.errors: list[BaseException] = []  # failures of the venue's own tasks (a venue bug, not a fault)
        self.finished = asyncio.Event()
        self.shift_ms = 0
        self.port = settings.port
        self._market: set[_Connection] = set()
        self._user: set[_Connection] = set()
        self._listen_keys: set[str] = set()
        self._snapshot_reached = asyncio.Event()
        self._depth_waiting = 0
        self._last_ms = 0  # exchange time of the last replayed message (after the shift)
        self._subscribed = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._runner: web.AppRunner | None = None
        self._unknown_streams: set[str] = set()
        kinds = self.capture.kinds
        names = {e.kind: e.stream for e in self.capture.events if e.stream}
        if "trade" in names:
            names["aggTrade"] = agg_trade_stream(names["trade"])
        self._stream_names = names
        # The streams a client must have asked for before the replay starts (aggTrade stands for trades).
        self._required = {names["aggTrade"] if k == "trade" else names[k] for k in settings.start.streams if k in kinds}

    # ------------------------------------------------------------------ lifecycle

    @property
    def url_http(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    @property
    def url_ws(self) -> str:
        return f"ws://{self.settings.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/stream", self._market_ws)
        app.router.add_route("*", "/ws", self._user_ws)
        app.router.add_route("*", "/{path:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self._spawn(self._replay())
        log.info("replay venue for %s on %s (%d messages, speed %gx); waiting for subscriptions to %s",
                 self.symbol, self.url_http, len(self.capture.events), self.settings.speed, sorted(self._required))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for conn in list(self._market | self._user):
            await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors.append(task.exception())
            log.error("replay venue task failed", exc_info=task.exception())

    @property
    def progress_s(self) -> float:
        """Capture seconds replayed so far (0 before the replay starts)."""
        if not self._last_ms:
            return 0.0
        return (self._last_ms - self.shift_ms - self.capture.first_event_ms) / 1000

    def now_ms(self) -> int:
        """The exchange's clock: the last replayed message's time (wall time before the replay)."""
        return self._last_ms or round(time.time() * 1000)

    # ------------------------------------------------------------------ replay

    async def _replay(self) -> None:
        try:
            await asyncio.wait_for(self._subscribed.wait(), self.settings.start.timeout_s)
        except TimeoutError:
            log.warning("no client subscribed to %s within %.0f s: replay starts anyway",
                        sorted(self._required), self.settings.start.timeout_s)
        events = self.capture.events
        first_ms = self.capture.first_event_ms
        if self.settings.rebase_time:
            self.shift_ms = (round(time.time()) - first_ms // 1000) * 1000
        loop = asyncio.get_running_loop()
        t0, r0 = loop.time(), events[0].recv_ns
        drops = sorted(self.settings.faults.drop_at_s)
        gaps = sorted(self.settings.faults.gap_at_s)
        log.info("replay started (exchange times shifted by %+d s)", self.shift_ms // 1000)
        for event in events:
            if self.settings.start.hold_without_client and not self._subscribed.is_set():
                held = loop.time()
                log.info("no client subscribed: replay held")
                await self._subscribed.wait()
                t0 += loop.time() - held  # resume at the held point, not in a burst
            delay = t0 + (event.recv_ns - r0) / 1e9 / self.settings.speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            at_s = (int(event.data.get("E") or first_ms) - first_ms) / 1000
            if drops and at_s >= drops[0]:
                drops.pop(0)
                self._drop_market_connections()
            withhold = False
            if gaps and event.kind == "depth" and at_s >= gaps[0]:
                gaps.pop(0)
                withhold = True
            await self._dispatch(event, withhold)
        self.finished.set()
        log.info("capture replayed to its end: the venue keeps serving its last book")

    async def _dispatch(self, event: ReplayEvent, withhold: bool) -> None:
        data = shifted(event.data, event.kind, self.shift_ms)
        if data.get("E"):
            self._last_ms = max(self._last_ms, int(data["E"]))
        kind = event.kind
        if kind == SNAPSHOT:
            self.book.apply_snapshot(data)
            self._snapshot_reached.set()
            if self._depth_waiting:
                await asyncio.sleep(self.settings.start.snapshot_hold_ms / 1000)
            return
        trade = None
        seller_aggressor = None
        if kind == "depth":
            self.book.apply_diff(data)
        elif kind == "markPrice":
            self.exchange.mark = float(data["p"])
        elif kind == "trade":
            trade = (float(data["p"]), float(data["q"]))
            self.exchange.last_price = trade[0]
            seller_aggressor = bool(data["m"])  # the buyer was the maker: a sell hit the bid
            await self._publish(self._stream_names["aggTrade"], agg_trade(data))
        if withhold:
            self.stats["diffs_withheld"] += 1
            log.warning("fault: depth diff u=%s withheld (a sequence gap for the client)", data["u"])
        else:
            await self._publish(event.stream, data)
        if self.exchange.resting:
            for fill in self.exchange.on_market(self.now_ms(), trade, seller_aggressor):
                await self._push_fill(fill)
        if self.exchange.conditionals:
            for c in self.exchange.trigger(self.now_ms()):
                await self._run_triggered(c)

    async def _publish(self, stream: str, data: dict) -> None:
        text = None
        for conn in list(self._market):
            if stream in conn.streams and not conn.ws.closed:
                if text is None:
                    text = msgspec.json.encode({"stream": stream, "data": data}).decode()
                    self.stats["messages"] += 1
                try:
                    await conn.ws.send_str(text)
                except (ConnectionError, RuntimeError):
                    self._market.discard(conn)

    def _drop_market_connections(self) -> None:
        self.stats["drops"] += 1
        log.warning("fault: dropping %d market connection(s)", len(self._market))
        for conn in list(self._market):
            self._market.discard(conn)
            if conn.request.transport is not None:
                conn.request.transport.abort()
        self._check_subscribed()

    # ------------------------------------------------------------------ WebSocket

    async def _market_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        streams = {s for s in request.query.get("streams", "").split("/") if s}
        conn = _Connection(ws, request, set())
        self._market.add(conn)
        self.stats["market_connections"] += 1
        self._subscribe(conn, streams)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    req = msgspec.json.decode(msg.data)
                    method, params, rid = req.get("method"), req.get("params") or [], req.get("id")
                except (msgspec.DecodeError, AttributeError):
                    await ws.send_str(msgspec.json.encode({"code": 3, "msg": "Invalid JSON"}).decode())
                    continue
                if method == "SUBSCRIBE":
                    self._subscribe(conn, set(params))
                    await ws.send_str(msgspec.json.encode({"result": None, "id": rid}).decode())
                elif method == "UNSUBSCRIBE":
                    conn.streams.difference_update(params)
                    await ws.send_str(msgspec.json.encode({"result": None, "id": rid}).decode())
                elif method == "LIST_SUBSCRIPTIONS":
                    await ws.send_str(msgspec.json.encode({"result": sorted(conn.streams), "id": rid}).decode())
                else:
                    await ws.send_str(msgspec.json.encode({"code": 2, "msg": f"Invalid request: {method}", "id": rid}).decode())
        finally:
            self._market.discard(conn)
            self._check_subscribed()
        return ws

    def _subscribe(self, conn: _Connection, streams: set[str]) -> None:
        conn.streams |= streams
        served = set(self._stream_names.values())
        for stream in streams - served - self._unknown_streams:
            self._unknown_streams.add(stream)
            log.warning("a client subscribed to %s, which this capture does not hold: nothing will flow on it", stream)
        self._check_subscribed()

    def _check_subscribed(self) -> None:
        if self._required <= set().union(*(c.streams for c in self._market)):
            self._subscribed.set()
        else:
            self._subscribed.clear()

    async def _user_ws(self, request: web.Request) -> web.StreamResponse:
        key = request.query.get("listenKey")
        if key not in self._listen_keys:
            return _error(400, -1125, "This listenKey does not exist.")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = _Connection(ws, request, set())
        self._user.add(conn)
        self.stats["user_connections"] += 1
        try:
            async for _ in ws:
                pass  # the user stream carries nothing from the client
        finally:
            self._user.discard(conn)
        return ws

    async def _push_user(self, event: dict) -> None:
        text = msgspec.json.encode(event).decode()
        for conn in list(self._user):
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                self._user.discard(conn)

    # ------------------------------------------------------------------ REST

    async def _rest(self, request: web.Request) -> web.Response:
        route = self._routes.get((request.method, request.path))
        self.stats[f"{request.method} {request.path}"] += 1
        if route is None:
            log.warning("not implemented by the replay venue: %s %s", request.method, request.path)
            return _error(404, -5000, f"{request.method} {request.path} is not implemented by the replay venue")
        signed, handler = route
        try:
            params = self._params(request, signed)
            return await handler(self, params)
        except _Refused as refused:
            return refused.response

    def _params(self, request: web.Request, signed: bool | None) -> dict[str, str]:
        """Query parameters; `signed` True: key and signature checked, None: key only (user stream)."""
        if signed is not False:
            if request.headers.get("X-MBX-APIKEY") != self.settings.api_key:
                raise _Refused(_error(401, -2015, "Invalid API-key, IP, or permissions for action."))
        if signed:
            raw = request.rel_url.raw_query_string
            payload, sep, signature = raw.rpartition("&signature=")
            if not sep:
                payload, signature = "", raw.removeprefix("signature=")
            expected = hmac.new(self.settings.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, signature):
                self.stats["bad_signatures"] += 1
                raise _Refused(_error(400, -1022, "Signature for this request is not valid."))
        return {k: v for k, v in request.query.items() if k != "signature"}

    def _check_symbol(self, params: dict, required: bool = True) -> None:
        symbol = params.get("symbol")
        if (required or symbol is not None) and symbol != self.symbol:
            raise _Refused(_error(400, -1121, "Invalid symbol."))

    async def _ping(self, params: dict) -> web.Response:
        return web.json_response({})

    async def _time(self, params: dict) -> web.Response:
        return web.json_response({"serverTime": self.now_ms()})

    async def _exchange_info(self, params: dict) -> web.Response:
        return web.json_response(exchange_info(self.spec, self.now_ms(), self.settings.exchange.leverage))

    async def _depth(self, params: dict) -> web.Response:
        self._check_symbol(params)
        limit = int(params.get("limit", 500))
        if limit not in _DEPTH_LIMITS:
            return _error(400, -1130, f"Invalid data sent for a parameter: limit {limit}")
        self.stats["depth_requests"] += 1
        if not self._snapshot_reached.is_set():
            self._depth_waiting += 1
            try:
                await self._snapshot_reached.wait()
            finally:
                self._depth_waiting -= 1
            snap = shifted(self.capture.snapshot(), SNAPSHOT, self.shift_ms)
            body = {"lastUpdateId": snap["lastUpdateId"], "E": snap.get("E"), "T": snap.get("T"),
                    "bids": snap["bids"][:limit], "asks": snap["asks"][:limit]}
        else:
            pp, sp = self.spec.price_precision, self.spec.size_precision
            body = {
                "lastUpdateId": self.book.update_id, "E": self.now_ms(), "T": self.book.ts_ms,
                "bids": [[f"{p:.{pp}f}", f"{q:.{sp}f}"] for p, q in self.book.levels(0, limit)],
                "asks": [[f"{p:.{pp}f}", f"{q:.{sp}f}"] for p, q in self.book.levels(1, limit)],
            }
        return web.json_response(body)

    async def _account(self, params: dict) -> web.Response:
        return web.json_response(account_info(self.exchange, self.now_ms()))

    async def _position_risk(self, params: dict) -> web.Response:
        self._check_symbol(params, required=False)
        return web.json_response([position_risk(self.exchange, self.now_ms())])

    async def _symbol_config(self, params: dict) -> web.Response:
        return web.json_response([{
            "symbol": self.symbol, "marginType": "CROSSED", "isAutoAddMargin": False,
            "leverage": self.settings.exchange.leverage, "maxNotionalValue": "1000000",
        }])

    async def _dual(self, params: dict) -> web.Response:
        return web.json_response({"dualSidePosition": False})

    async def _leverage(self, params: dict) -> web.Response:
        self._check_symbol(params)
        if int(params.get("leverage", 0)) != self.settings.exchange.leverage:
            return _error(400, -4028, f"Leverage is fixed at {self.settings.exchange.leverage} by the replay venue.")
        return web.json_response({"leverage": self.settings.exchange.leverage, "maxNotionalValue": "1000000",
                                  "symbol": self.symbol})

    async def _listen_key_new(self, params: dict) -> web.Response:
        key = secrets.token_hex(32)
        self._listen_keys.add(key)
        return web.json_response({"listenKey": key})

    async def _listen_key_keep(self, params: dict) -> web.Response:
        return web.json_response({})

    async def _listen_key_close(self, params: dict) -> web.Response:
        return web.json_response({})

    def _accept(self, kind: str, cid: str, faults: list[int], create):
        """A new (`kind` "orders") or conditional ("algo_orders") order: counted, its client id
        recorded, refused by a fault drill or by the exchange (an error response), else `create()`."""
        self.stats[kind] += 1
        self.client_ids.append(cid)
        f = self.settings.faults
        if self.stats[kind] in faults:
            self.exchange.rejected.append((cid, f.reject_code, f.reject_msg))
            log.warning("fault: %s %d (%s) rejected with %d", kind, self.stats[kind], cid, f.reject_code)
            raise _Refused(_error(400, f.reject_code, f.reject_msg))
        try:
            return create()
        except Rejected as r:
            self.exchange.rejected.append((cid, r.code, r.msg))
            log.info("%s %s rejected: %d %s", kind, cid, r.code, r.msg)
            raise _Refused(_error(400, r.code, r.msg)) from None

    async def _new_order(self, params: dict) -> web.Response:
        cid = params.get("newClientOrderId", "")
        order = self._accept("orders", cid, self.settings.faults.reject_orders,
                             lambda: self.exchange.new_order(params, self.now_ms()))
        self._spawn(self._execute(order))
        return web.json_response(order_json(order, self.spec))

    async def _execute(self, order: VenueOrder) -> None:
        if self.settings.exchange.latency_ms:
            await asyncio.sleep(self.settings.exchange.latency_ms / 1000)
        now = self.now_ms()
        await self._push_order(order, "NEW", now)
        for fill in self.exchange.match(order, now):
            await self._push_fill(fill)
        if order.status == "EXPIRED":
            await self._push_order(order, "EXPIRED", now)

    async def _run_triggered(self, c: ConditionalOrder) -> None:
        now = self.now_ms()
        self.stats["algo_triggered"] += 1
        log.info("conditional order %s (%s %s, trigger %s %s) triggered", c.client_id, c.side, c.type,
                 c.working_type, c.trigger_price)
        await self._push_algo(c, now, "TRIGGERING")
        await self._push_order(c.order, "NEW", now)
        await self._push_algo(c, now)
        for fill in self.exchange.match(c.order, now):
            await self._push_fill(fill)
        if c.order.status == "EXPIRED":
            await self._push_order(c.order, "EXPIRED", now)
        self.exchange.finish(c, now)
        await self._push_algo(c, now)

    async def _push_algo(self, c: ConditionalOrder, now: int, status: str | None = None) -> None:
        event = algo_update(c, now, self.spec)
        if status is not None:
            event["o"]["X"] = status
        await self._push_user(event)

    async def _push_fill(self, fill: Fill) -> None:
        await self._push_order(fill.order, "TRADE", fill.time_ms, fill)
        await self._push_user(account_update(self.exchange, fill.time_ms))

    async def _push_order(self, order: VenueOrder, execution: str, now: int, fill: Fill | None = None) -> None:
        await self._push_user({"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": order_update(order, execution, fill, self.spec)})

    def _order_of(self, params: dict) -> VenueOrder:
        self._check_symbol(params)
        order = None
        if params.get("orderId"):
            order = self.exchange.orders.get(int(params["orderId"]))
        elif params.get("origClientOrderId"):
            order = self.exchange.by_client_id(params["origClientOrderId"])
        if order is None:
            raise _Refused(_error(400, -2013, "Order does not exist."))
        return order

    async def _query_order(self, params: dict) -> web.Response:
        return web.json_response(order_json(self._order_of(params), self.spec))

    async def _cancel_order(self, params: dict) -> web.Response:
        order = self._order_of(params)
        try:
            self.exchange.cancel(order, self.now_ms())
        except Rejected as r:
            return _error(400, r.code, r.msg)
        await self._push_order(order, "CANCELED", order.update_ms)
        return web.json_response(order_json(order, self.spec))

    async def _cancel_all(self, params: dict) -> web.Response:
        self._check_symbol(params)
        for order in [o for o in self.exchange.orders.values() if o.open]:
            self.exchange.cancel(order, self.now_ms())
            await self._push_order(order, "CANCELED", order.update_ms)
        return web.json_response({"code": 200, "msg": "The operation of cancel all open order is done."})

    async def _cancel_batch(self, params: dict) -> web.Response:
        self._check_symbol(params)
        ids = msgspec.json.decode(params.get("origClientOrderIdList") or "[]")
        out = []
        for cid in ids:
            order = self.exchange.by_client_id(cid)
            try:
                if order is None:
                    raise Rejected(-2011, "Unknown order sent.")
                self.exchange.cancel(order, self.now_ms())
            except Rejected as r:
                out.append({"code": r.code, "msg": r.msg})
                continue
            await self._push_order(order, "CANCELED", order.update_ms)
            out.append(order_json(order, self.spec))
        return web.json_response(out)

    async def _open_orders(self, params: dict) -> web.Response:
        self._check_symbol(params, required=False)
        return web.json_response([order_json(o, self.spec) for o in self.exchange.orders.values() if o.open])

    async def _all_orders(self, params: dict) -> web.Response:
        self._check_symbol(params)
        return web.json_response([order_json(o, self.spec) for o in self.exchange.orders.values()])

    async def _user_trades(self, params: dict) -> web.Response:
        self._check_symbol(params)
        return web.json_response([trade_json(f, self.spec) for f in self.exchange.fills])

    async def _new_algo_order(self, params: dict) -> web.Response:
        c = self._accept("algo_orders", params.get("clientAlgoId", ""), self.settings.faults.reject_algo_orders,
                         lambda: self.exchange.new_conditional(params, self.now_ms()))
        self._spawn(self._push_algo(c, c.time_ms))
        return web.json_response(algo_order_json(c, self.spec))

    def _algo_of(self, params: dict) -> ConditionalOrder:
        c = None
        if params.get("algoId"):
            c = self.exchange.conditionals.get(int(params["algoId"]))
        elif params.get("clientAlgoId"):
            c = self.exchange.conditional_by_client_id(params["clientAlgoId"])
        if c is None:
            raise _Refused(_error(400, -2013, "Order does not exist."))
        return c

    async def _query_algo(self, params: dict) -> web.Response:
        return web.json_response(algo_order_json(self._algo_of(params), self.spec))

    async def _cancel_algo(self, params: dict) -> web.Response:
        c = self._algo_of(params)
        try:
            self.exchange.cancel_conditional(c, self.now_ms())
        except Rejected as r:
            return _error(400, r.code, r.msg)
        await self._push_algo(c, c.update_ms)
        return web.json_response({"algoId": c.algo_id, "clientAlgoId": c.client_id, "code": "200", "msg": "success"})

    async def _open_algo_orders(self, params: dict) -> web.Response:
        self._check_symbol(params, required=False)
        return web.json_response([algo_order_json(c, self.spec) for c in self.exchange.conditionals.values() if c.open])

    async def _all_algo_orders(self, params: dict) -> web.Response:
        self._check_symbol(params)
        return web.json_response([algo_order_json(c, self.spec) for c in self.exchange.conditionals.values()])

    async def _cancel_all_algo(self, params: dict) -> web.Response:
        self._check_symbol(params)
        for c in [c for c in self.exchange.conditionals.values() if c.open]:
            self.exchange.cancel_conditional(c, self.now_ms())
            await self._push_algo(c, c.update_ms)
        return web.json_response({"code": 200, "msg": "The operation of cancel all open order is done."})

    # (method, path) -> (signed: True = key and signature, None = key only, False = public; handler)
    _routes = {
        ("GET", "/fapi/v1/ping"): (False, _ping),
        ("GET", "/fapi/v1/time"): (False, _time),
        ("GET", "/fapi/v1/exchangeInfo"): (False, _exchange_info),
        ("GET", "/fapi/v1/depth"): (False, _depth),
        ("GET", "/fapi/v2/account"): (True, _account),
        ("GET", "/fapi/v3/positionRisk"): (True, _position_risk),
        ("GET", "/fapi/v1/symbolConfig"): (True, _symbol_config),
        ("GET", "/fapi/v1/positionSide/dual"): (True, _dual),
        ("POST", "/fapi/v1/leverage"): (True, _leverage),
        ("POST", "/fapi/v1/listenKey"): (None, _listen_key_new),
        ("PUT", "/fapi/v1/listenKey"): (None, _listen_key_keep),
        ("DELETE", "/fapi/v1/listenKey"): (None, _listen_key_close),
        ("POST", "/fapi/v1/order"): (True, _new_order),
        ("GET", "/fapi/v1/order"): (True, _query_order),
        ("DELETE", "/fapi/v1/order"): (True, _cancel_order),
        ("DELETE", "/fapi/v1/allOpenOrders"): (True, _cancel_all),
        ("DELETE", "/fapi/v1/batchOrders"): (True, _cancel_batch),
        ("GET", "/fapi/v1/openOrders"): (True, _open_orders),
        ("GET", "/fapi/v1/allOrders"): (True, _all_orders),
        ("GET", "/fapi/v1/userTrades"): (True, _user_trades),
        ("POST", "/fapi/v1/algoOrder"): (True, _new_algo_order),
        ("GET", "/fapi/v1/algoOrder"): (True, _query_algo),
        ("DELETE", "/fapi/v1/algoOrder"): (True, _cancel_algo),
        ("GET", "/fapi/v1/openAlgoOrders"): (True, _open_algo_orders),
        ("GET", "/fapi/v1/allAlgoOrders"): (True, _all_algo_orders),
        ("DELETE", "/fapi/v1/algoOpenOrders"): (True, _cancel_all_algo),
    }
