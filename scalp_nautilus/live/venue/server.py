"""The part of the replay venue that speaks no exchange's API: the capture replay (order, pacing,
time shift), the venue's book and exchange, the fault drills, the connections and the lifecycle.
An API module subclasses `VenueServer` (`binance_api.ReplayVenue`, `bybit_api.BybitReplayVenue`)
and adds its routes, its WebSocket protocol and its messages.

The replay starts once clients have subscribed to every stream kind in `start.streams` that the
capture holds (so a node misses nothing of the capture), or after `start.timeout_s`, and runs at
`speed` times the recorded pace (receive times). With `rebase_time` the exchange timestamps are
moved by a whole number of seconds so the capture starts now (see `venue.capture_feed`): the replay
waits (under a second) until the wall clock's fraction of a second is the first message's, so at
`speed` 1 each message's exchange time is the wall time it is sent at, up to the capture's own
latency jitter, and a node's lag against the exchange's clock means the same as on the exchange.

The mark price (conditional orders triggered on MARK_PRICE, the account's unrealised P&L) follows
the capture's mark-price stream; a capture without one (Binance's 2024 captures here, every Bybit
book capture) gets the mid of the venue's book after each depth update as its mark, and the venue
says so when it starts, so mark-triggered stop drills run on every capture.

Faults for tests: `faults.drop_at_s` closes every market connection abruptly at those capture
seconds, `faults.gap_at_s` withholds one depth diff (a sequence gap for the client),
`faults.silence_at_s` withholds every depth diff for `silence_s` capture seconds (a silent book
while the rest flows: the strategy's feed watchdog), and
`faults.reject_orders` / `reject_algo_orders` refuse the n-th new (conditional) orders (with
`faults.reject_code` / `reject_msg`, by default the API's own code for insufficient margin).
`outage(seconds)` takes the venue off the network for a while (every connection dropped, every
request answered 503) while the replay and the exchange go on: a lost connection for the node,
with its exchange stop still resting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

from aiohttp import web

from scalp_nautilus.aio_tasks import TaskSet
from scalp_nautilus.instruments import ContractSpec
from scalp_nautilus.live.venue.capture_feed import SNAPSHOT
from scalp_nautilus.live.venue.capture_feed import Capture
from scalp_nautilus.live.venue.capture_feed import ReplayEvent
from scalp_nautilus.live.venue.capture_feed import VenueBook
from scalp_nautilus.live.venue.capture_feed import load_capture
from scalp_nautilus.live.venue.capture_feed import shifted
from scalp_nautilus.live.venue.exchange import ConditionalOrder
from scalp_nautilus.live.venue.exchange import Exchange
from scalp_nautilus.live.venue.exchange import Fill
from scalp_nautilus.live.venue.exchange import Reason
from scalp_nautilus.live.venue.exchange import Rejected
from scalp_nautilus.live.venue.exchange import VenueOrder
from scalp_nautilus.live.venue.settings import ReplayVenueSettings

log = logging.getLogger(__name__)


class Refusal(Exception):
    """A refused request in the API's own terms (its error code and message)."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


class Connection:
    """One WebSocket client: its streams (topics) and, for private streams, whether it logged in."""

    __slots__ = ("authenticated", "request", "state", "streams", "ws")

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, streams: set[str] | None = None) -> None:
        self.ws = ws
        self.request = request
        self.streams = streams if streams is not None else set()
        self.authenticated = False
        self.state: dict = {}  # the API's per-connection state (e.g. Bybit's book update ids)


class VenueServer:
    """The server; `await start()`, then `url_http` / `url_ws`; `await stop()`. `stats` counts
    requests, messages and faults; `finished` is set when the replay reaches the end of the capture.

    A subclass sets `venue` (the contract table's venue name) and implements `_add_routes`,
    `_stream_names_for` (the capture's stream kinds as the API's stream names or topics),
    `_on_snapshot`, `_publish_event`, `_push_order`, `_push_fill`, `error` (a refusal as the
    API's code and message) and, if it accepts conditional orders, `_run_triggered`."""

    venue = ""

    def __init__(self, settings: ReplayVenueSettings, capture: Capture | None = None) -> None:
        self.settings = settings
        self.capture = capture or load_capture(settings.captures, settings.symbol)
        self.symbol = self.capture.symbol
        self.spec: ContractSpec = settings.contract_spec(self.venue, self.symbol)
        self.book = VenueBook()
        self.exchange = Exchange(self.spec, settings.exchange, self.book)
        snap = self.capture.snapshot()
        start_mid = 0.5 * (float(snap["bids"][0][0]) + float(snap["asks"][0][0]))
        if settings.exchange.position:
            self.exchange.open_position(settings.exchange.position, settings.exchange.entry_price or start_mid)
        self.exchange.mark = start_mid
        self.mark_from_mid = "markPrice" not in self.capture.kinds  # see the module doc
        self.stats: Counter = Counter()
        self.client_ids: list[str] = []  # every client order id a new-order request carried, in order (drills check reuse)
        self.finished = asyncio.Event()
        self.shift_ms = 0
        self.port = settings.port
        self._market: set[Connection] = set()
        self._user: set[Connection] = set()
        self._snapshot_reached = asyncio.Event()
        self._last_ms = 0  # exchange time of the last replayed message (after the shift)
        self._subscribed = asyncio.Event()
        # The venue's own tasks; a failure there (`errors`) is a venue bug, not a fault drill.
        self._tasks = TaskSet("replay venue", log)
        self._runner: web.AppRunner | None = None
        self._unknown_streams: set[str] = set()
        self._dark_until = 0.0  # loop time the outage drill ends at
        kinds = self.capture.kinds
        self._stream_names = self._stream_names_for({e.kind: e.stream for e in self.capture.events if e.stream})
        # The streams a client must have asked for before the replay starts.
        self._required = {self._stream_names[k] for k in settings.start.streams if k in kinds}

    # ------------------------------------------------------------------ what an API adds

    def _add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def _stream_names_for(self, recorded: dict[str, str]) -> dict[str, str]:
        """Stream kind -> the API's stream name (or topic), from the capture's recorded names."""
        raise NotImplementedError

    async def _on_snapshot(self, data: dict, applied: list) -> None:
        """The replay reached the capture's depth snapshot (`applied`: the diffs the book applied with it)."""
        raise NotImplementedError

    async def _publish_event(self, event: ReplayEvent, data: dict, applied: list, withhold: bool) -> None:
        """Send a replayed message (`data`, time-shifted) to the market connections; a depth diff
        that is `withhold` is not sent (a sequence gap for the client)."""
        raise NotImplementedError

    async def _push_order(self, order: VenueOrder, execution: str, now: int, fill: Fill | None = None) -> None:
        raise NotImplementedError

    async def _push_fill(self, fill: Fill) -> None:
        raise NotImplementedError

    def error(self, refusal: Rejected) -> tuple[int, str]:
        raise NotImplementedError

    async def _run_triggered(self, c: ConditionalOrder) -> None:
        """A conditional order whose trigger was reached (only an API that accepts them has any)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ lifecycle

    @property
    def url_http(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    @property
    def url_ws(self) -> str:
        return f"ws://{self.settings.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._outage_middleware])
        self._add_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        self.port = self._runner.addresses[0][1]  # the bound port (`settings.port` 0: any free one)
        self._spawn(self._replay())
        log.info(
            "replay venue (%s API) for %s on %s (%d messages, speed %gx); waiting for subscriptions to %s",
            self.settings.api,
            self.symbol,
            self.url_http,
            len(self.capture.events),
            self.settings.speed,
            sorted(self._required),
        )
        if self.mark_from_mid:
            log.warning("the capture has no mark-price stream: the venue's mark price is the mid of its book")

    def outage(self, seconds: float) -> None:
        """The drill of the module doc; call it on the venue's loop."""
        self.stats["outages"] += 1
        self._dark_until = asyncio.get_running_loop().time() + seconds
        log.warning("fault: the venue goes dark for %.0f s (connections dropped, requests refused)", seconds)
        for conn in list(self._market | self._user):
            self._market.discard(conn)
            self._user.discard(conn)
            if conn.request.transport is not None:
                conn.request.transport.abort()
        self._check_subscribed()

    @property
    def dark(self) -> bool:
        return asyncio.get_running_loop().time() < self._dark_until

    @web.middleware
    async def _outage_middleware(self, request: web.Request, handler):
        if self.dark:
            self.stats["refused_in_outage"] += 1
            raise web.HTTPServiceUnavailable(text="replay venue: outage drill")
        return await handler(request)

    async def stop(self) -> None:
        self._tasks.cancel()
        for conn in list(self._market | self._user):
            await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _spawn(self, coro) -> asyncio.Task:
        return self._tasks.spawn(coro)

    @property
    def errors(self) -> list[BaseException]:
        """Failures of the venue's own tasks (a venue bug, not a fault)."""
        return self._tasks.errors

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
            log.warning(
                "no client subscribed to %s within %.0f s: replay starts anyway",
                sorted(self._required),
                self.settings.start.timeout_s,
            )
        events = self.capture.events
        first_ms = self.capture.first_event_ms
        if self.settings.rebase_time:
            # Start when the wall clock's fraction of a second is the first message's (module doc).
            await asyncio.sleep((first_ms % 1000 / 1000 - time.time() % 1.0) % 1.0)
            self.shift_ms = round((time.time() * 1000 - first_ms) / 1000) * 1000
        loop = asyncio.get_running_loop()
        t0, r0 = loop.time(), events[0].recv_ns
        drops = sorted(self.settings.faults.drop_at_s)
        gaps = sorted(self.settings.faults.gap_at_s)
        f = self.settings.faults
        silence = (f.silence_at_s, f.silence_at_s + f.silence_s) if f.silence_at_s is not None else None
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
            quiet = silence is not None and event.kind == "depth" and silence[0] <= at_s < silence[1]
            if quiet and not self.stats["diffs_silenced"]:
                log.warning("fault: the book goes silent for %g capture seconds", self.settings.faults.silence_s)
            await self._dispatch(event, withhold, quiet)
        self.finished.set()
        log.info("capture replayed to its end: the venue keeps serving its last book")

    async def _dispatch(self, event: ReplayEvent, withhold: bool, quiet: bool = False) -> None:
        data = shifted(event.data, event.kind, self.shift_ms)
        if data.get("E"):
            self._last_ms = max(self._last_ms, int(data["E"]))
        kind = event.kind
        if kind == SNAPSHOT:
            applied = self.book.apply_snapshot(data)
            self._snapshot_reached.set()
            await self._on_snapshot(data, applied)
            return
        trade = None
        seller_aggressor = None
        applied = []
        if kind == "depth":
            applied = self.book.apply_diff(data)
            if self.mark_from_mid and self.book.valid:
                self.exchange.mark = self.book.mid()
        elif kind == "markPrice":
            self.exchange.mark = float(data["p"])
        elif kind == "trade":
            trade = (float(data["p"]), float(data["q"]))
            self.exchange.last_price = trade[0]
            seller_aggressor = bool(data["m"])  # the buyer was the maker: a sell hit the bid
        if withhold:
            self.stats["diffs_withheld"] += 1
            log.warning("fault: depth diff u=%s withheld (a sequence gap for the client)", data["u"])
        if quiet:
            self.stats["diffs_silenced"] += 1
        await self._publish_event(event, data, applied, withhold or quiet)
        if self.exchange.resting:
            for fill in self.exchange.on_market(self.now_ms(), trade, seller_aggressor):
                await self._push_fill(fill)
        if self.exchange.conditionals:
            for c in self.exchange.trigger(self.now_ms()):
                await self._run_triggered(c)

    async def _send(self, conns: set[Connection], text: str) -> None:
        """Send `text` to each of `conns`; a connection that has gone is forgotten."""
        for conn in list(conns):
            try:
                if conn.ws.closed:
                    raise ConnectionError
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                self._market.discard(conn)
                self._user.discard(conn)

    def _drop_market_connections(self) -> None:
        self.stats["drops"] += 1
        log.warning("fault: dropping %d market connection(s)", len(self._market))
        for conn in list(self._market):
            self._market.discard(conn)
            if conn.request.transport is not None:
                conn.request.transport.abort()
        self._check_subscribed()

    # ------------------------------------------------------------------ subscriptions

    def _subscribe(self, conn: Connection, streams: set[str]) -> None:
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

    # ------------------------------------------------------------------ orders

    def _accept(self, kind: str, cid: str, faults: list[int], create):
        """A new (`kind` "orders") or conditional ("algo_orders") order: counted, its client id
        recorded, refused by a fault drill or by the exchange (`Refusal` in the API's terms), else
        `create()`'s order."""
        self.stats[kind] += 1
        self.client_ids.append(cid)
        if self.stats[kind] in faults:
            code, msg = self.error(Rejected(Reason.MARGIN))
            f = self.settings.faults
            code, msg = (code if f.reject_code is None else f.reject_code), (msg if f.reject_msg is None else f.reject_msg)
            self.exchange.rejected.append((cid, code, msg))
            log.warning("fault: %s %d (%s) rejected with %d", kind, self.stats[kind], cid, code)
            raise Refusal(code, msg)
        try:
            return create()
        except Rejected as r:
            code, msg = self.error(r)
            self.exchange.rejected.append((cid, code, msg))
            log.info("%s %s rejected: %d %s", kind, cid, code, msg)
            raise Refusal(code, msg) from None

    def _place(self, params: dict[str, str]) -> VenueOrder:
        """A new order (the exchange core's request) through the fault drill and the exchange; the
        order is then matched on its own task (`_execute`). Raises `Refusal` in the API's terms."""
        order = self._accept(
            "orders",
            params.get("newClientOrderId", ""),
            self.settings.faults.reject_orders,
            lambda: self.exchange.new_order(params, self.now_ms()),
        )
        self._spawn(self._execute(order))
        return order

    async def _execute(self, order: VenueOrder) -> None:
        if self.settings.exchange.latency_ms:
            await asyncio.sleep(self.settings.exchange.latency_ms / 1000)
        now = self.now_ms()
        await self._push_order(order, "NEW", now)
        for fill in self.exchange.match(order, now):
            await self._push_fill(fill)
        if order.status == "EXPIRED":
            await self._push_order(order, "EXPIRED", now)

    def _cancel(self, order: VenueOrder) -> None:
        try:
            self.exchange.cancel(order, self.now_ms())
        except Rejected as r:
            raise Refusal(*self.error(r)) from None
