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

The replay itself (start, pace, time shift, faults) is `venue.server`'s.

Depth requests: one made before the replay has reached the capture's recorded snapshot waits for
it and gets that snapshot (the capturer's own request, at its place in the stream), and the stream
then pauses `start.snapshot_hold_ms` so the answer reaches the client before the diffs after it;
later requests get the venue's book as the replay has left it, ``lastUpdateId`` its last applied
update, at most ``limit`` levels a side.

Orders are matched by `venue.exchange.Exchange` (the fill model and fees are documented there);
`venue.binance_json` writes its state, and its refusals, as Binance's JSON; `venue.thread` runs a venue.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable
from collections.abc import Callable
from typing import ClassVar

import msgspec
from aiohttp import WSMsgType
from aiohttp import web

from scalp_nautilus.live.venue.binance_json import account_info
from scalp_nautilus.live.venue.binance_json import account_update
from scalp_nautilus.live.venue.binance_json import algo_order_json
from scalp_nautilus.live.venue.binance_json import algo_update
from scalp_nautilus.live.venue.binance_json import binance_error
from scalp_nautilus.live.venue.binance_json import exchange_info
from scalp_nautilus.live.venue.binance_json import order_json
from scalp_nautilus.live.venue.binance_json import order_update
from scalp_nautilus.live.venue.binance_json import position_risk
from scalp_nautilus.live.venue.binance_json import trade_json
from scalp_nautilus.live.venue.capture_feed import SNAPSHOT
from scalp_nautilus.live.venue.capture_feed import ReplayEvent
from scalp_nautilus.live.venue.capture_feed import agg_trade
from scalp_nautilus.live.venue.capture_feed import agg_trade_stream
from scalp_nautilus.live.venue.capture_feed import shifted
from scalp_nautilus.live.venue.exchange import ConditionalOrder
from scalp_nautilus.live.venue.exchange import Fill
from scalp_nautilus.live.venue.exchange import Reason
from scalp_nautilus.live.venue.exchange import Rejected
from scalp_nautilus.live.venue.exchange import VenueOrder
from scalp_nautilus.live.venue.server import Connection
from scalp_nautilus.live.venue.server import Refusal
from scalp_nautilus.live.venue.server import VenueServer

log = logging.getLogger(__name__)

_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)


def _error(status: int, code: int, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


class _Refused(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


# A route's handler, called unbound: `handler(venue, params)`.
_Handler = Callable[["ReplayVenue", dict], Awaitable[web.Response]]


class ReplayVenue(VenueServer):
    """The replay venue speaking Binance's USD-M futures API (see the module doc)."""

    venue = "BINANCE"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._listen_keys: set[str] = set()
        self._depth_waiting = 0

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/stream", self._market_ws)
        app.router.add_route("*", "/ws", self._user_ws)
        app.router.add_route("*", "/{path:.*}", self._rest)

    def _stream_names_for(self, recorded: dict[str, str]) -> dict[str, str]:
        names = dict(recorded)
        if "trade" in names:
            # Nautilus's futures client subscribes to aggTrade: it stands for the recorded trades.
            names["rawTrade"], names["trade"] = names["trade"], agg_trade_stream(names["trade"])
        return names

    def error(self, refusal: Rejected) -> tuple[int, str]:
        return binance_error(refusal)

    async def _on_snapshot(self, data: dict, applied: list) -> None:
        if self._depth_waiting:
            await asyncio.sleep(self.settings.start.snapshot_hold_ms / 1000)

    async def _publish_event(self, event: ReplayEvent, data: dict, applied: list, withhold: bool) -> None:
        if event.kind == "trade":
            await self._publish(self._stream_names["trade"], agg_trade(data))
        if not withhold:
            await self._publish(event.stream, data)

    async def _publish(self, stream: str, data: dict) -> None:
        conns = {c for c in self._market if stream in c.streams}
        if conns:
            self.stats["messages"] += 1
            await self._send(conns, msgspec.json.encode({"stream": stream, "data": data}).decode())

    # ------------------------------------------------------------------ WebSocket

    async def _market_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        streams = {s for s in request.query.get("streams", "").split("/") if s}
        conn = Connection(ws, request, set())
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

    async def _user_ws(self, request: web.Request) -> web.StreamResponse:
        key = request.query.get("listenKey")
        if key not in self._listen_keys:
            return _error(400, -1125, "This listenKey does not exist.")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = Connection(ws, request, set())
        self._user.add(conn)
        self.stats["user_connections"] += 1
        try:
            async for _ in ws:
                pass  # the user stream carries nothing from the client
        finally:
            self._user.discard(conn)
        return ws

    async def _push_user(self, event: dict) -> None:
        await self._send(self._user, msgspec.json.encode(event).decode())

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
        if signed is not False and request.headers.get("X-MBX-APIKEY") != self.settings.api_key:
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
            body = {
                "lastUpdateId": snap["lastUpdateId"],
                "E": snap.get("E"),
                "T": snap.get("T"),
                "bids": snap["bids"][:limit],
                "asks": snap["asks"][:limit],
            }
        else:
            pp, sp = self.spec.price_precision, self.spec.size_precision
            body = {
                "lastUpdateId": self.book.update_id,
                "E": self.now_ms(),
                "T": self.book.ts_ms,
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
        return web.json_response(
            [
                {
                    "symbol": self.symbol,
                    "marginType": "CROSSED",
                    "isAutoAddMargin": False,
                    "leverage": self.settings.exchange.leverage,
                    "maxNotionalValue": "1000000",
                }
            ]
        )

    async def _dual(self, params: dict) -> web.Response:
        return web.json_response({"dualSidePosition": False})

    async def _leverage(self, params: dict) -> web.Response:
        self._check_symbol(params)
        if int(params.get("leverage", 0)) != self.settings.exchange.leverage:
            return _error(400, -4028, f"Leverage is fixed at {self.settings.exchange.leverage} by the replay venue.")
        return web.json_response(
            {"leverage": self.settings.exchange.leverage, "maxNotionalValue": "1000000", "symbol": self.symbol}
        )

    async def _listen_key_new(self, params: dict) -> web.Response:
        key = secrets.token_hex(32)
        self._listen_keys.add(key)
        return web.json_response({"listenKey": key})

    async def _listen_key_keep(self, params: dict) -> web.Response:
        return web.json_response({})

    async def _listen_key_close(self, params: dict) -> web.Response:
        return web.json_response({})

    async def _new_order(self, params: dict) -> web.Response:
        try:
            order = self._place(params)
        except Refusal as r:
            return _error(400, r.code, r.msg)
        return web.json_response(order_json(order, self.spec))

    async def _run_triggered(self, c: ConditionalOrder) -> None:
        order = c.order
        assert order is not None  # `Exchange.trigger` set it
        now = self.now_ms()
        self.stats["algo_triggered"] += 1
        log.info(
            "conditional order %s (%s %s, trigger %s %s) triggered", c.client_id, c.side, c.type, c.working_type, c.trigger_price
        )
        await self._push_algo(c, now, "TRIGGERING")
        await self._push_order(order, "NEW", now)
        await self._push_algo(c, now)
        for fill in self.exchange.match(order, now):
            await self._push_fill(fill)
        if order.status == "EXPIRED":
            await self._push_order(order, "EXPIRED", now)
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
        await self._push_user(
            {"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": order_update(order, execution, fill, self.spec)}
        )

    def _order_of(self, params: dict) -> VenueOrder:
        self._check_symbol(params)
        order = None
        if params.get("orderId"):
            order = self.exchange.orders.get(int(params["orderId"]))
        elif params.get("origClientOrderId"):
            order = self.exchange.by_client_id(params["origClientOrderId"])
        if order is None:
            raise _Refused(_error(400, -2013, "Order does not exist."))  # a query's code, not a cancel's
        return order

    async def _query_order(self, params: dict) -> web.Response:
        return web.json_response(order_json(self._order_of(params), self.spec))

    async def _cancel_order(self, params: dict) -> web.Response:
        order = self._order_of(params)
        try:
            self._cancel(order)
        except Refusal as r:
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
                    raise Refusal(*self.error(Rejected(Reason.UNKNOWN_ORDER)))
                self._cancel(order)
            except Refusal as r:
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
        start, end = int(params.get("startTime") or 0), int(params.get("endTime") or 0)
        fills = [f for f in self.exchange.fills if f.time_ms >= start and (not end or f.time_ms <= end)]
        return web.json_response([trade_json(f, self.spec) for f in fills])

    async def _new_algo_order(self, params: dict) -> web.Response:
        try:
            c = self._accept(
                "algo_orders",
                params.get("clientAlgoId", ""),
                self.settings.faults.reject_algo_orders,
                lambda: self.exchange.new_conditional(params, self.now_ms()),
            )
        except Refusal as r:
            return _error(400, r.code, r.msg)
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
            return _error(400, *self.error(r))
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
    _routes: ClassVar[dict[tuple[str, str], tuple[bool | None, _Handler]]] = {
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
