"""The replay venue speaking Bybit's v5 API for one linear perpetual: the part Nautilus 1.231's
Bybit adapter uses, serving a recorded Binance capture converted to Bybit's messages
(`venue.bybit_json`), on 127.0.0.1 (aiohttp). `scalp-nautilus replay-venue --config
configs/replay_venue_bybit.yaml` starts one; `configs/live_bybit_replay.yaml` points a node at it.

REST (``/v5``): ``market/time``, ``market/instruments-info``, ``account/fee-rate``,
``account/wallet-balance``, ``account/info``, ``user/query-api``, ``position/list``, ``position/set-leverage``,
``position/switch-mode``, ``account/set-margin-mode``, ``order/realtime`` (open orders),
``order/history``, ``execution/list``, ``order/create``, ``order/amend``, ``order/cancel`` and
``order/cancel-all``. Private endpoints check
``X-BAPI-API-KEY`` and ``X-BAPI-SIGN`` = HMAC-SHA256(secret, timestamp + key + recv window +
query string or body) with the venue's public replay credentials (10003 / 10004 otherwise); the
timestamp's window is not checked (the replay's clock is not the wall clock). Anything else
answers 404 with retCode 10404 and is logged (that is how the adapter's start-up calls were found).

WebSocket:
- ``/v5/public/linear``: ``subscribe`` / ``unsubscribe`` / ``ping`` for ``orderbook.<depth>.<symbol>``,
  ``publicTrade.<symbol>`` and ``tickers.<symbol>``. A book subscription is answered with a
  snapshot (Bybit's rule), then deltas numbered ``u`` + 1 per message. A subscription made before
  the replay reached the capture's depth snapshot gets that snapshot when the replay reaches it,
  followed by the diffs the book applied with it, so the client's book follows the capture exactly
  as a backtest's does. The depth in the topic is not enforced: the snapshot holds every level of
  the venue's book (Bybit would send the best `depth`), so the live book equals the capture's.
- ``/v5/private``: ``auth`` (``[key, expires, HMAC-SHA256(secret, "GET/realtime" + expires)]``),
  then ``order``, ``execution``, ``position``, ``wallet`` topics.
- ``/v5/trade``: ``auth``, then ``order.create`` / ``order.amend`` / ``order.cancel``, each answered
  with ``retCode`` and the ids; an order with ``triggerPrice`` (Nautilus's STOP_MARKET /
  MARKET_IF_TOUCHED) is a conditional order of the exchange core (`bybit_json.conditional_request`),
  reported ``Untriggered``, then ``Triggered`` and its market order's fills under the same id; a
  refused order gets its ``retCode`` (`bybit_json.BYBIT_ERRORS`).

A recorded Bybit order-book capture (`venue.capture.load_bybit_book_capture`, e.g. the shared
``bybit/`` fixture) is replayed as recorded: the same levels, ``seq``, ``ts`` and ``cts``, and ``u``
going up by one per message from the subscription's snapshot.

Faults, pace and start are `venue.server`'s: a dropped connection closes the public streams; a
withheld diff skips one ``u`` on every book subscription (a gap for the client).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable
from collections.abc import Callable
from itertools import count
from typing import ClassVar

import msgspec
from aiohttp import WSMsgType
from aiohttp import web

from scalp_nautilus.live.venue import bybit_json as bj
from scalp_nautilus.live.venue.capture_feed import ReplayEvent
from scalp_nautilus.live.venue.exchange import ConditionalOrder
from scalp_nautilus.live.venue.exchange import Fill
from scalp_nautilus.live.venue.exchange import Reason
from scalp_nautilus.live.venue.exchange import Rejected
from scalp_nautilus.live.venue.exchange import VenueOrder
from scalp_nautilus.live.venue.server import Connection
from scalp_nautilus.live.venue.server import Refusal
from scalp_nautilus.live.venue.server import VenueServer

log = logging.getLogger(__name__)

_PRIVATE_TOPICS = ("order", "execution", "position", "wallet")
_FIRST_U = 1_000  # a book subscription's first update id (any number but 1, which Bybit uses for a restart)


def _dumps(obj: dict) -> str:
    return msgspec.json.encode(obj).decode()


# A route's handler, called unbound: `handler(venue, params)`; it returns the envelope's `result`.
_Handler = Callable[["BybitReplayVenue", dict], Awaitable[dict]]


class BybitReplayVenue(VenueServer):
    """See the module doc. `stats` adds ``snapshots`` (book snapshots sent)."""

    venue = "BYBIT"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._trade: set[Connection] = set()
        self._conn_ids = count(1)
        self._seq = count(1)
        self._first_snapshot: dict | None = None  # the capture's, with the diffs applied with it
        self._waiting: set[tuple[Connection, str]] = set()  # book subscriptions made before the capture's snapshot
        self._triggered: dict[int, ConditionalOrder] = {}  # a triggered conditional's market order id -> it

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_route("GET", "/v5/public/linear", self._public_ws)
        app.router.add_route("GET", "/v5/private", self._private_ws)
        app.router.add_route("GET", "/v5/trade", self._trade_ws)
        app.router.add_route("*", "/{path:.*}", self._rest)

    def _stream_names_for(self, recorded: dict[str, str]) -> dict[str, str]:
        s = self.symbol
        # A Bybit capture's own book topic; else the node's book depth, Nautilus's default (50). Any
        # depth is served the same book.
        depth = recorded.get("depth", "")
        return {
            "depth": depth if depth.startswith("orderbook.") else f"orderbook.50.{s}",
            "trade": f"publicTrade.{s}",
            "markPrice": f"tickers.{s}",
        }

    def error(self, refusal: Rejected) -> tuple[int, str]:
        return bj.bybit_error(refusal)

    async def stop(self) -> None:
        for conn in list(self._trade):
            await conn.ws.close()
        await super().stop()

    # ------------------------------------------------------------------ public stream

    def _book_topics(self, conn: Connection) -> list[str]:
        return [t for t in conn.streams if t.startswith("orderbook.")]

    async def _on_snapshot(self, data: dict, applied: list) -> None:
        self._first_snapshot = {"data": data, "applied": applied}
        for conn, topic in list(self._waiting):
            await self._send_first_snapshot(conn, topic)
        self._waiting.clear()

    async def _send_first_snapshot(self, conn: Connection, topic: str) -> None:
        """The capture's own snapshot (its recorded levels), then the diffs applied with it."""
        first = self._first_snapshot
        assert first is not None  # only called once the replay reached it
        snap = first["data"]
        bids = [lv for lv in snap["bids"] if float(lv[1]) > 0]
        asks = [lv for lv in snap["asks"] if float(lv[1]) > 0]
        ts = int(snap.get("T") or snap.get("E") or self.now_ms())
        await self._send_book(conn, topic, "snapshot", bids, asks, int(snap["lastUpdateId"]), ts, snap.get("cts"))
        for diff in first["applied"]:
            await self._send_delta(conn, topic, diff.data)

    async def _send_book(
        self, conn: Connection, topic: str, kind: str, bids: list, asks: list, seq: int, ts: int, cts: int | None = None
    ) -> None:
        if kind == "snapshot":
            u = conn.state[topic] = _FIRST_U
            self.stats["snapshots"] += 1
        else:
            u = conn.state[topic] = conn.state[topic] + 1
        self.stats["messages"] += 1
        await self._send({conn}, _dumps(bj.book_message(topic, kind, self.symbol, bids, asks, u, seq, ts, cts)))

    async def _send_delta(self, conn: Connection, topic: str, diff: dict, withhold: bool = False) -> None:
        if not diff["b"] and not diff["a"]:
            return  # Bybit sends no empty delta
        if topic not in conn.state:
            return  # its snapshot has not been sent yet
        if withhold:
            conn.state[topic] += 1  # the client sees u jump
            return
        await self._send_book(
            conn, topic, "delta", diff["b"], diff["a"], int(diff["u"]), int(diff.get("T") or diff["E"]), diff.get("cts")
        )

    async def _send_current_snapshot(self, conn: Connection, topic: str) -> None:
        """The venue's book as the replay has left it (a later subscription's snapshot)."""
        pp, sp = self.spec.price_precision, self.spec.size_precision
        bids = [[f"{p:.{pp}f}", f"{q:.{sp}f}"] for p, q in self.book.levels(0, 100_000)]
        asks = [[f"{p:.{pp}f}", f"{q:.{sp}f}"] for p, q in self.book.levels(1, 100_000)]
        await self._send_book(conn, topic, "snapshot", bids, asks, self.book.update_id, self.book.ts_ms or self.now_ms())

    async def _publish_event(self, event: ReplayEvent, data: dict, applied: list, withhold: bool) -> None:
        kind = event.kind
        if kind == "depth":
            for conn in list(self._market):
                for topic in self._book_topics(conn):
                    for diff in applied:
                        await self._send_delta(conn, topic, diff.data, withhold)
            return
        if kind == "trade":
            topic = self._stream_names["trade"]
            message = bj.trade_message(topic, data)
        elif kind == "markPrice":
            topic = self._stream_names["markPrice"]
            message = bj.ticker_message(topic, data, next(self._seq))
        else:
            return  # bookTicker: Bybit's book carries it
        conns = {c for c in self._market if topic in c.streams}
        if conns:
            self.stats["messages"] += 1
            await self._send(conns, _dumps(message))

    async def _serve_ws(self, request: web.Request, name: str, conns: set[Connection], on_request) -> web.WebSocketResponse:
        """One WebSocket connection of stream `name` (market, user, trade): pings and logins here,
        every other request to `on_request(conn, conn_id, request)`."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = Connection(ws, request)
        conn_id = f"replay-{name}-{next(self._conn_ids)}"
        conns.add(conn)
        self.stats[f"{name}_connections"] += 1
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                req = self._decode(msg.data)
                op = req.get("op")
                if op == "ping":
                    await ws.send_str(
                        _dumps(
                            {
                                "success": True,
                                "ret_msg": "pong",
                                "conn_id": conn_id,
                                "req_id": req.get("req_id", ""),
                                "op": "pong",
                                "args": [str(self.now_ms())],
                            }
                        )
                    )
                elif op == "auth" and name != "market":
                    await self._auth(ws, conn, conn_id, req)
                else:
                    await on_request(conn, conn_id, req)
        finally:
            conns.discard(conn)
            if name == "market":
                self._waiting = {w for w in self._waiting if w[0] is not conn}
                self._check_subscribed()
        return ws

    async def _public_ws(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve_ws(request, "market", self._market, self._public_request)

    async def _public_request(self, conn: Connection, conn_id: str, req: dict) -> None:
        op, args, rid = req.get("op"), req.get("args") or [], req.get("req_id", "")
        if op not in ("subscribe", "unsubscribe"):
            await conn.ws.send_str(
                _dumps({"success": False, "ret_msg": f"error: unknown op {op}", "conn_id": conn_id, "req_id": rid, "op": op})
            )
            return
        await conn.ws.send_str(_dumps({"success": True, "ret_msg": "", "conn_id": conn_id, "req_id": rid, "op": op}))
        if op == "subscribe":
            self._subscribe(conn, set(args))
            for topic in args:
                if topic.startswith("orderbook."):
                    await self._start_book(conn, topic)
            return
        conn.streams.difference_update(args)
        for topic in args:
            conn.state.pop(topic, None)
            self._waiting.discard((conn, topic))
        self._check_subscribed()

    async def _start_book(self, conn: Connection, topic: str) -> None:
        self.stats["book_subscriptions"] += 1
        if self._first_snapshot is None:
            self._waiting.add((conn, topic))  # answered when the replay reaches the capture's snapshot
        elif self.stats["snapshots"] == 0:
            await self._send_first_snapshot(conn, topic)
        else:
            await self._send_current_snapshot(conn, topic)

    @staticmethod
    def _decode(text: str) -> dict:
        try:
            req = msgspec.json.decode(text)
        except msgspec.DecodeError:
            return {}
        return req if isinstance(req, dict) else {}

    # ------------------------------------------------------------------ private and trade streams

    def _auth_ok(self, args: list) -> bool:
        if len(args) != 3 or args[0] != self.settings.api_key:
            return False
        expected = hmac.new(self.settings.api_secret.encode(), f"GET/realtime{args[1]}".encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, str(args[2]))

    async def _auth(self, ws: web.WebSocketResponse, conn: Connection, conn_id: str, req: dict) -> None:
        conn.authenticated = self._auth_ok(req.get("args") or [])
        if not conn.authenticated:
            self.stats["bad_signatures"] += 1
        await ws.send_str(
            _dumps(
                {
                    "op": "auth",
                    "success": conn.authenticated,
                    "retCode": 0 if conn.authenticated else 10003,
                    "ret_msg": "" if conn.authenticated else "Invalid apikey",
                    "retMsg": "" if conn.authenticated else "Invalid apikey",
                    "conn_id": conn_id,
                    "connId": conn_id,
                    "req_id": req.get("req_id", ""),
                }
            )
        )

    async def _private_ws(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve_ws(request, "user", self._user, self._private_request)

    async def _private_request(self, conn: Connection, conn_id: str, req: dict) -> None:
        op, args = req.get("op"), req.get("args") or []
        ok = op in ("subscribe", "unsubscribe") and conn.authenticated and all(a in _PRIVATE_TOPICS for a in args)
        if ok and op == "subscribe":
            conn.streams |= set(args)
        elif ok:
            conn.streams -= set(args)
        await conn.ws.send_str(
            _dumps(
                {
                    "success": ok,
                    "ret_msg": "" if ok else "Request not authorized or unknown",
                    "conn_id": conn_id,
                    "req_id": req.get("req_id", ""),
                    "op": op,
                }
            )
        )

    async def _trade_ws(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve_ws(request, "trade", self._trade, self._trade_ws_request)

    async def _trade_ws_request(self, conn: Connection, conn_id: str, req: dict) -> None:
        op = req.get("op")
        if not (isinstance(op, str) and op.startswith("order.")):
            log.warning("not implemented by the replay venue: trade stream op %r", op)
            return
        self.stats[f"ws {op}"] += 1
        await conn.ws.send_str(_dumps(await self._trade_request(conn, conn_id, op, req)))

    async def _trade_request(self, conn: Connection, conn_id: str, op: str, req: dict) -> dict:
        answer = {
            "reqId": req.get("reqId") or req.get("req_id") or "",
            "op": op,
            "connId": conn_id,
            "header": {"Timenow": str(self.now_ms())},
        }
        args = (req.get("args") or [{}])[0]
        try:
            if not conn.authenticated:
                raise Refusal(10003, "Request not authorized")
            handler = {
                "order.create": self._create_any,
                "order.cancel": self._cancel_any,
                "order.amend": self._amend_and_push,
            }.get(op)
            if handler is None:
                log.warning("not implemented by the replay venue: trade stream op %r", op)
                raise Refusal(10001, f"{op} is not supported by the replay venue")
            order = await handler(args)
        except Refusal as r:
            return {**answer, "retCode": r.code, "retMsg": r.msg, "data": {}}
        return {**answer, "retCode": 0, "retMsg": "OK", "data": self._ids(order)}

    @staticmethod
    def _ids(order: VenueOrder | ConditionalOrder) -> dict:
        if isinstance(order, ConditionalOrder):
            return {"orderId": str(order.algo_id), "orderLinkId": order.client_id}
        return {"orderId": str(order.order_id), "orderLinkId": order.client_order_id}

    async def _create_any(self, args: dict) -> VenueOrder | ConditionalOrder:
        """A plain order, or a conditional one (``triggerPrice`` set) resting at the venue until triggered."""
        if not args.get("triggerPrice"):
            return self._place(bj.order_request(args))
        request = bj.conditional_request(args)
        c = self._accept(
            "algo_orders",
            request.get("clientAlgoId", ""),
            self.settings.faults.reject_algo_orders,
            lambda: self.exchange.new_conditional(request, self.now_ms()),
        )
        self._spawn(self._push_private("order", [bj.conditional_json(c, self.spec)], c.time_ms))
        return c

    async def _cancel_any(self, args: dict) -> VenueOrder | ConditionalOrder:
        c = self._conditional_of(args)
        if c is None:
            order = self._order_of(args)
            await self._cancel_and_push(order)
            return order
        try:
            self.exchange.cancel_conditional(c, self.now_ms())
        except Rejected as r:
            raise Refusal(*self.error(r)) from None
        await self._push_private("order", [bj.conditional_json(c, self.spec)], c.update_ms)
        return c

    def _conditional_of(self, args: dict) -> ConditionalOrder | None:
        if args.get("orderLinkId"):
            return self.exchange.conditional_by_client_id(args["orderLinkId"])
        if str(args.get("orderId", "")).isdigit():
            return self.exchange.conditionals.get(int(args["orderId"]))
        return None

    async def _run_triggered(self, c: ConditionalOrder) -> None:
        """Bybit reports a triggered conditional under its own order id: Triggered, then the market
        order's fills and final status."""
        order = c.order
        assert order is not None  # `Exchange.trigger` set it
        now = self.now_ms()
        self.stats["algo_triggered"] += 1
        self._triggered[order.order_id] = c
        await self._push_private("order", [bj.conditional_json(c, self.spec)], now)
        for fill in self.exchange.match(order, now):
            await self._push_fill(fill)
        if order.status == "EXPIRED":
            await self._push_order(order, "EXPIRED", now)
        self.exchange.finish(c, now)

    async def _push_private(self, topic: str, data: list[dict], now: int) -> None:
        conns = {c for c in self._user if topic in c.streams}
        if conns:
            await self._send(conns, _dumps(bj.private_message(topic, data, now, next(self._seq))))

    async def _push_order(self, order: VenueOrder, execution: str, now: int, fill: Fill | None = None) -> None:
        await self._push_private("order", [bj.order_json(order, self.spec, self._triggered.get(order.order_id))], now)

    async def _push_fill(self, fill: Fill) -> None:
        now = fill.time_ms
        c = self._triggered.get(fill.order.order_id)
        await self._push_private("execution", [bj.execution_json(fill, self.exchange, c.algo_id if c is not None else None)], now)
        await self._push_private("order", [bj.order_json(fill.order, self.spec, c)], now)
        await self._push_private("position", [bj.position_json(self.exchange, now)], now)
        await self._push_private("wallet", [bj.wallet_json(self.exchange)], now)

    def _order_of(self, args: dict) -> VenueOrder:
        if args.get("symbol") != self.symbol:
            raise Refusal(*self.error(Rejected(Reason.UNKNOWN_SYMBOL)))
        order = None
        if args.get("orderId"):
            order = self.exchange.orders.get(int(args["orderId"])) if str(args["orderId"]).isdigit() else None
        elif args.get("orderLinkId"):
            order = self.exchange.by_client_id(args["orderLinkId"])
        if order is None:
            raise Refusal(*self.error(Rejected(Reason.UNKNOWN_ORDER)))
        return order

    async def _amend_and_push(self, args: dict) -> VenueOrder:
        order = self._order_of(args)
        try:
            fills = self.exchange.amend(order, self.now_ms(), args.get("qty"), args.get("price"))
        except Rejected as r:
            raise Refusal(*self.error(r)) from None
        await self._push_order(order, "AMENDED", order.update_ms)
        for fill in fills:
            await self._push_fill(fill)
        return order

    async def _cancel_and_push(self, order: VenueOrder) -> None:
        self._cancel(order)
        await self._push_order(order, "CANCELED", order.update_ms)

    # ------------------------------------------------------------------ REST

    async def _rest(self, request: web.Request) -> web.Response:
        route = self._routes.get((request.method, request.path))
        self.stats[f"{request.method} {request.path}"] += 1
        now = self.now_ms()
        if route is None:
            log.warning("not implemented by the replay venue: %s %s?%s", request.method, request.path, request.query_string)
            return web.json_response(
                bj.response(None, now, 10404, f"{request.method} {request.path} is not implemented by the replay venue"),
                status=404,
            )
        signed, handler = route
        body = await request.text() if request.method == "POST" else ""
        try:
            if signed:
                self._check_signature(request, body)
            params = dict(request.query) if request.method == "GET" else (msgspec.json.decode(body) if body else {})
            return web.json_response(bj.response(await handler(self, params), now))
        except Refusal as r:
            return web.json_response(bj.response(None, now, r.code, r.msg))
        except msgspec.DecodeError:
            return web.json_response(bj.response(None, now, 10001, "params error: body is not JSON"))

    def _check_signature(self, request: web.Request, body: str) -> None:
        h = request.headers
        if h.get("X-BAPI-API-KEY") != self.settings.api_key:
            raise Refusal(10003, "API key is invalid.")
        payload = request.rel_url.raw_query_string if request.method == "GET" else body
        message = f"{h.get('X-BAPI-TIMESTAMP', '')}{self.settings.api_key}{h.get('X-BAPI-RECV-WINDOW', '')}{payload}"
        expected = hmac.new(self.settings.api_secret.encode(), message.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, h.get("X-BAPI-SIGN", "")):
            self.stats["bad_signatures"] += 1
            raise Refusal(10004, "error sign! origin_string[...]")

    def _check_category(self, params: dict) -> None:
        if params.get("category", bj.CATEGORY) != bj.CATEGORY:
            raise Refusal(10001, f"params error: category {params.get('category')} is not served (linear only)")

    def _symbol_matches(self, params: dict) -> bool:
        return params.get("symbol") in (None, "", self.symbol)

    async def _time(self, params: dict) -> dict:
        now = self.now_ms()
        return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}

    async def _instruments(self, params: dict) -> dict:
        self._check_category(params)
        found = [bj.instrument_json(self.spec, self.settings.exchange.leverage)] if self._symbol_matches(params) else []
        return {"category": bj.CATEGORY, "list": found, "nextPageCursor": ""}

    async def _fee_rate(self, params: dict) -> dict:
        fees = self.exchange.fees
        return {
            "list": [
                {
                    "symbol": self.symbol,
                    "baseCoin": "",
                    "takerFeeRate": f"{fees.rate(maker=False):g}",
                    "makerFeeRate": f"{fees.rate(maker=True):g}",
                }
            ]
        }

    async def _wallet(self, params: dict) -> dict:
        return {"list": [bj.wallet_json(self.exchange)]}

    async def _account_info(self, params: dict) -> dict:
        return {
            "marginMode": "REGULAR_MARGIN",
            "updatedTime": str(self.now_ms()),
            "unifiedMarginStatus": 4,
            "dcpStatus": "OFF",
            "timeWindow": 10,
            "smpGroup": 0,
            "isMasterTrader": False,
            "spotHedgingStatus": "OFF",
        }

    async def _query_api(self, params: dict) -> dict:
        """The API key's own details (the adapter reads the market-maker level)."""
        return {
            "id": "1",
            "note": "replay venue",
            "apiKey": self.settings.api_key,
            "readOnly": 0,
            "secret": "",
            "permissions": {
                "ContractTrade": ["Order", "Position"],
                "Spot": [],
                "Wallet": [],
                "Options": [],
                "Derivatives": ["DerivativesTrade"],
                "CopyTrading": [],
                "BlockTrade": [],
                "Exchange": [],
                "NFT": [],
                "Affiliate": [],
                "Earn": [],
            },
            "ips": ["127.0.0.1"],
            "type": 1,
            "deadlineDay": -2,
            "expiredAt": "1970-01-01T00:00:00Z",
            "createdAt": "2024-01-01T00:00:00Z",
            "unified": 0,
            "uta": 1,
            "userID": 1,
            "inviterID": 0,
            "vipLevel": "No VIP",
            "mktMakerLevel": "0",
            "affiliateID": 0,
            "rsaPublicKey": "",
            "isMaster": True,
            "parentUid": "0",
            "kycLevel": "LEVEL_DEFAULT",
            "kycRegion": "",
            "userIDInt64": "1",
            "inviterIDInt64": "0",
            "affiliateIDInt64": "0",
        }

    async def _positions(self, params: dict) -> dict:
        self._check_category(params)
        found = [bj.position_json(self.exchange, self.now_ms())] if self._symbol_matches(params) else []
        return {"category": bj.CATEGORY, "list": found, "nextPageCursor": ""}

    async def _set_leverage(self, params: dict) -> dict:
        leverage = self.settings.exchange.leverage
        if str(params.get("buyLeverage")) != str(leverage) or str(params.get("sellLeverage")) != str(leverage):
            raise Refusal(10001, f"leverage is fixed at {leverage} by the replay venue")
        raise Refusal(110043, "Set leverage not modified")  # already that leverage, as Bybit answers

    async def _switch_mode(self, params: dict) -> dict:
        if int(params.get("mode", 0)) != 0:
            raise Refusal(10001, "the replay venue's account is in one-way mode only")
        raise Refusal(110025, "Position mode is not modified")

    async def _margin_mode(self, params: dict) -> dict:
        return {"reasons": []}

    async def _orders(self, params: dict, closed: bool) -> dict:
        self._check_category(params)
        found = [
            bj.order_json(o, self.spec, self._triggered.get(o.order_id))
            for o in self.exchange.orders.values()
            if self._symbol_matches(params) and o.open != closed
        ]
        found += [
            bj.conditional_json(c, self.spec)
            for c in self.exchange.conditionals.values()
            if self._symbol_matches(params) and c.open != closed and c.order is None
        ]
        for key in ("orderLinkId", "orderId"):
            if params.get(key):
                found = [o for o in found if o[key] == params[key]]
        found.sort(key=lambda o: int(o["createdTime"]), reverse=True)
        return {"category": bj.CATEGORY, "list": found, "nextPageCursor": ""}

    async def _realtime(self, params: dict) -> dict:
        # Bybit's realtime list is the open orders (plus recent closed ones when asked by id).
        if params.get("orderLinkId") or params.get("orderId"):
            result = await self._orders(params, closed=False)
            result["list"] += (await self._orders(params, closed=True))["list"]
            return result
        return await self._orders(params, closed=False)

    async def _history(self, params: dict) -> dict:
        return await self._orders(params, closed=True)

    async def _executions(self, params: dict) -> dict:
        self._check_category(params)
        fills = [
            bj.execution_json(f, self.exchange, c.algo_id if (c := self._triggered.get(f.order.order_id)) is not None else None)
            for f in reversed(self.exchange.fills)
            if self._symbol_matches(params)
        ]
        return {"category": bj.CATEGORY, "list": fills, "nextPageCursor": ""}

    async def _create(self, params: dict) -> dict:
        self._check_category(params)
        return self._ids(await self._create_any(params))

    async def _cancel_one(self, params: dict) -> dict:
        self._check_category(params)
        return self._ids(await self._cancel_any(params))

    async def _cancel_all(self, params: dict) -> dict:
        self._check_category(params)
        done = []
        for order in [o for o in self.exchange.orders.values() if o.open and self._symbol_matches(params)]:
            await self._cancel_and_push(order)
            done.append(self._ids(order))
        for c in [c for c in self.exchange.conditionals.values() if c.open and self._symbol_matches(params)]:
            done.append(self._ids(await self._cancel_any({"orderLinkId": c.client_id})))
        return {"list": done, "success": "1"}

    async def _amend(self, params: dict) -> dict:
        self._check_category(params)
        return self._ids(await self._amend_and_push(params))

    # (method, path) -> (signed, handler); handlers return the envelope's `result`
    _routes: ClassVar[dict[tuple[str, str], tuple[bool, _Handler]]] = {
        ("GET", "/v5/market/time"): (False, _time),
        ("GET", "/v5/market/instruments-info"): (False, _instruments),
        ("GET", "/v5/account/fee-rate"): (True, _fee_rate),
        ("GET", "/v5/account/wallet-balance"): (True, _wallet),
        ("GET", "/v5/account/info"): (True, _account_info),
        ("GET", "/v5/user/query-api"): (True, _query_api),
        ("GET", "/v5/position/list"): (True, _positions),
        ("POST", "/v5/position/set-leverage"): (True, _set_leverage),
        ("POST", "/v5/position/switch-mode"): (True, _switch_mode),
        ("POST", "/v5/account/set-margin-mode"): (True, _margin_mode),
        ("GET", "/v5/order/realtime"): (True, _realtime),
        ("GET", "/v5/order/history"): (True, _history),
        ("GET", "/v5/execution/list"): (True, _executions),
        ("POST", "/v5/order/create"): (True, _create),
        ("POST", "/v5/order/cancel"): (True, _cancel_one),
        ("POST", "/v5/order/cancel-all"): (True, _cancel_all),
        ("POST", "/v5/order/amend"): (True, _amend),
    }
