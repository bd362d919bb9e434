"""Nautilus's Bybit data client with Bybit's order-book update chain checked.

Nautilus 1.231's `BybitDataClient` parses ``orderbook.<depth>.<symbol>`` messages in Rust and
hands Python one `OrderBookDeltas` per message, but nothing checks that no message is missing: a
message the Rust side cannot parse is logged and dropped, nothing reaches Python, and the next
deltas are applied over the stale levels (measured in `tests/test_bybit.py` with the
2024-12-01 XRPUSDT ``orderbook.500`` capture: one truncated message of 50 leaves the book wrong
from that message on, and the only trace is a step of 2 in the update id). Bybit numbers each
message of a subscription with ``u``, one more than the previous; a snapshot, or ``u == 1``
(Bybit restarted the service), starts the numbering again
(https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook). Nautilus keeps ``u`` as
the order id of every level delta.

`SyncedBybitDataClient` keeps everything else of Nautilus's client (connection, subscriptions,
parsing, trades, quotes, tickers) and changes the book path only, in `_handle_msg`, where the
parsed deltas are handed to `_handle_data`:

- each book batch of a subscribed book goes through `UpdateChain` (per instrument): a snapshot
  (first delta CLEAR or ``F_SNAPSHOT``) or ``u == 1`` starts the chain, then each batch's ``u``
  must be the previous one + 1; a repeated or older ``u`` is a break too;
- on a break the client counts it (`gaps`), logs a warning, publishes one CLEAR (the book is empty,
  so the strategy sees an invalid book and takes no new position), drops every batch until the next
  snapshot, and asks Bybit for one by unsubscribing and re-subscribing the book (Bybit answers a
  subscribe with a snapshot; retried while none arrives); the snapshot is counted in `resyncs`;
- a WebSocket reconnect needs nothing extra: Nautilus re-subscribes and Bybit's snapshot restarts
  the chain.

Not changed: the `QuoteTick` Nautilus derives from each book message (see
`tests/test_bybit.py`: it is the message's first changed level, not the top of the book) is
forwarded as before, also while the book is out of sync.

The execution side (`BybitTriggerExecClientFactory`): Nautilus 1.231's `BybitExecutionClient`
sends a STOP_MARKET order without its trigger type (its `_submit_order` never passes
`trigger_type` to the trade WebSocket's `submit_order`, which takes one and sends it as Bybit's
``triggerBy``), so Bybit triggers every stop on the last price, whatever the order asked for: the
exchange stop's `exits.exchange_stop_trigger: mark` was silently `last` (measured against the
replay venue: ``triggerBy: LastPrice``). The factory builds Nautilus's own client and gives it a
trade WebSocket wrapper (`TriggerTypedTradeClient`) that adds the order's trigger type from the
cache; everything else is Nautilus's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nautilus_trader.adapters.bybit.config import BybitDataClientConfig
from nautilus_trader.adapters.bybit.config import _resolve_environment
from nautilus_trader.adapters.bybit.constants import BYBIT_ALL_PRODUCTS
from nautilus_trader.adapters.bybit.data import BybitDataClient
from nautilus_trader.adapters.bybit.factories import BybitLiveExecClientFactory
from nautilus_trader.adapters.bybit.factories import get_cached_bybit_http_client
from nautilus_trader.adapters.bybit.factories import get_cached_bybit_instrument_provider
from nautilus_trader.core import nautilus_pyo3
from nautilus_trader.live.factories import LiveDataClientFactory
from nautilus_trader.model.data import OrderBookDeltas
from nautilus_trader.model.data import capsule_to_data
from nautilus_trader.model.enums import BookAction
from nautilus_trader.model.enums import RecordFlag
from nautilus_trader.model.functions import trigger_type_to_pyo3
from nautilus_trader.model.identifiers import ClientOrderId
from nautilus_trader.model.identifiers import InstrumentId

from scalp_nautilus.data.binance_sync import clear_delta
from scalp_nautilus.data.bybit_sync import UpdateChain
from scalp_nautilus.data.bybit_sync import Verdict
from scalp_nautilus.live.feed import WatchedFeed

RESYNC_WAIT_S = 5.0  # wait for the snapshot after a re-subscription before asking again
RESYNC_ATTEMPTS = 12

_F_SNAPSHOT = int(RecordFlag.F_SNAPSHOT)


def batch_update(batch: OrderBookDeltas) -> tuple[int | None, bool]:
    """(u, snapshot) of a batch Nautilus parsed from one Bybit book message: u is the level deltas'
    order id (None when the batch has only a CLEAR); a snapshot starts with CLEAR or ``F_SNAPSHOT``."""
    deltas = batch.deltas
    first = deltas[0]
    snapshot = first.action == BookAction.CLEAR or bool(first.flags & _F_SNAPSHOT)
    u = next((d.order.order_id for d in reversed(deltas) if d.action != BookAction.CLEAR), None)
    return u, snapshot


class SyncedBybitDataClientConfig(BybitDataClientConfig, frozen=True):
    """Nautilus's Bybit data config, plus `base_url_ws`: the public WebSocket's URL. Nautilus 1.231's
    `BybitDataClient` opens its public WebSocket on `base_url_http` (``new_public(url=base_url_http)``),
    which the Rust WebSocket client refuses for an ``http://`` URL ("expected ws:// or wss:// scheme"),
    so a node cannot reach a local venue through `base_url_http` alone."""

    base_url_ws: str | None = None  # e.g. ws://127.0.0.1:8765/v5/public/linear; None: Nautilus's own


class SyncedBybitDataClient(WatchedFeed, BybitDataClient):
    """See the module doc. Counters: `gaps` (breaks of the chain), `resyncs` (snapshots applied
    after a break), `resubscriptions` (unsubscribe + subscribe requests made for them),
    `snapshots` (every book snapshot applied), `book_resyncs` (those after the first, whichever
    path asked: a gap or a reconnect's re-subscription), `reconnects` (snapshots that arrived
    unasked, after the first: Nautilus re-subscribed on a new connection); `last_message_ns` and
    `connect_error`: see `WatchedFeed`."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        config = kwargs["config"]
        url = getattr(config, "base_url_ws", None)
        if url is not None:
            # As Nautilus builds them, on the configured URL (see `SyncedBybitDataClientConfig`).
            for product_type in list(self._ws_clients):
                replacement = nautilus_pyo3.BybitWebSocketClient.new_public(
                    product_type=product_type,
                    environment=_resolve_environment(config.environment),
                    url=url,
                    proxy_url=config.proxy_url,
                )
                replacement.set_bars_timestamp_on_close(self._bars_timestamp_on_close)
                self._ws_clients[product_type] = replacement
        self._chains: dict[InstrumentId, UpdateChain] = {}
        # A re-subscription in progress per book: its task and the event the snapshot sets.
        self._resyncing: dict[InstrumentId, tuple[asyncio.Task | None, asyncio.Event]] = {}
        self.gaps = 0
        self.resyncs = 0
        self.resubscriptions = 0
        self.snapshots = 0
        self.reconnects = 0

    @property
    def book_resyncs(self) -> int:
        return max(self.snapshots - 1, 0)

    def _handle_msg(self, msg: Any) -> None:
        self._stamp()
        if not nautilus_pyo3.is_pycapsule(msg):
            super()._handle_msg(msg)
            return
        try:
            data = capsule_to_data(msg)
            if isinstance(data, OrderBookDeltas):
                self._on_book_batch(data)
            else:
                self._handle_data(data)
        except Exception as e:  # noqa: BLE001 - as Nautilus's own handler: one bad message must not stop the feed
            self._log.exception("Error handling websocket message", e)

    def _on_book_batch(self, batch: OrderBookDeltas) -> None:
        instrument_id = batch.instrument_id
        chain = self._chains.get(instrument_id)
        if chain is None:
            if nautilus_pyo3.InstrumentId.from_str(instrument_id.value) not in self._depths:
                self._handle_data(batch)  # not a book subscription (e.g. Bybit spot quotes): as Nautilus does
                return
            chain = self._chains[instrument_id] = UpdateChain()
        was_synced = chain.synced
        u, snapshot = batch_update(batch)
        verdict = chain.update(u, snapshot)
        if verdict is Verdict.APPLY:
            self._handle_data(batch)
        elif verdict is Verdict.SNAPSHOT:
            self.snapshots += 1
            if not was_synced and instrument_id in self._resyncing:
                self.resyncs += 1
                self._resyncing.pop(instrument_id)[1].set()
                self._log.info(f"{instrument_id}: book re-synced from the snapshot at u={u}")
            elif self.snapshots > 1:
                self.reconnects += 1
                self._log.info(f"{instrument_id}: book re-synced from a snapshot Bybit sent unasked (a new connection) at u={u}")
            self._handle_data(batch)
        elif verdict is Verdict.GAP:
            self.gaps += 1
            self._log.warning(f"{instrument_id}: book update gap ({chain.gap_reason}): book cleared, re-subscribing")
            first = batch.deltas[0]
            self._handle_data(
                OrderBookDeltas(
                    instrument_id,
                    [clear_delta(instrument_id, first.sequence, first.ts_event, self._clock.timestamp_ns())],
                )
            )
            if instrument_id not in self._resyncing:
                snapshot_arrived = asyncio.Event()
                task = self.create_task(self._resubscribe(instrument_id, snapshot_arrived))
                self._resyncing[instrument_id] = (task, snapshot_arrived)

    def _end_resync(self, instrument_id: InstrumentId, snapshot_arrived: asyncio.Event) -> None:
        resync = self._resyncing.get(instrument_id)
        if resync is not None and resync[1] is snapshot_arrived:
            del self._resyncing[instrument_id]

    async def _unsubscribe_order_book_deltas(self, command) -> None:
        resync = self._resyncing.pop(command.instrument_id, None)
        if resync is not None and resync[0] is not None:
            resync[0].cancel()
        self._chains.pop(command.instrument_id, None)
        await super()._unsubscribe_order_book_deltas(command)

    async def _resubscribe(self, instrument_id: InstrumentId, snapshot_arrived: asyncio.Event) -> None:
        """Unsubscribe and subscribe the book again, as Nautilus's `_unsubscribe_order_book_deltas`
        and `_subscribe_order_book_deltas` do, until the snapshot arrives. (Not cancelled when it
        does: the snapshot can arrive before `subscribe_orderbook` returns.)"""
        pyo3_id = nautilus_pyo3.InstrumentId.from_str(instrument_id.value)
        for attempt in range(RESYNC_ATTEMPTS):
            depth = self._depths.get(pyo3_id)
            if depth is None:
                self._end_resync(instrument_id, snapshot_arrived)
                return  # unsubscribed meanwhile
            try:
                ws_client = self._get_ws_client_for_instrument(pyo3_id)
                await ws_client.unsubscribe_orderbook(pyo3_id, depth)
                self.resubscriptions += 1  # counted before the request: its snapshot can come at once
                await ws_client.subscribe_orderbook(pyo3_id, depth)
            except Exception as e:  # noqa: BLE001 - any failure of the request is retried
                self._log.warning(f"{instrument_id}: book re-subscription failed ({e}); retrying")
            try:
                await asyncio.wait_for(snapshot_arrived.wait(), RESYNC_WAIT_S)
                return
            except TimeoutError:
                pass
            self._log.warning(f"{instrument_id}: no snapshot {RESYNC_WAIT_S} s after re-subscribing (attempt {attempt + 1})")
        self._end_resync(instrument_id, snapshot_arrived)
        self._log.error(f"{instrument_id}: no book snapshot after {RESYNC_ATTEMPTS} re-subscriptions: the book stays empty")


class SyncedBybitLiveDataClientFactory(LiveDataClientFactory):
    """Builds `SyncedBybitDataClient` exactly as Nautilus's `BybitLiveDataClientFactory` builds
    `BybitDataClient` (shared HTTP client, instrument provider)."""

    @staticmethod
    def create(loop, name, config: BybitDataClientConfig, msgbus, cache, clock):  # type: ignore[override]
        product_types = config.product_types or BYBIT_ALL_PRODUCTS
        env = _resolve_environment(config.environment)
        client = get_cached_bybit_http_client(
            environment=env,
            api_key=config.api_key,
            api_secret=config.api_secret,
            base_url=config.base_url_http,
            timeout_secs=None,  # Rust default (60 s)
            max_retries=config.max_retries,
            retry_delay_ms=config.retry_delay_initial_ms,
            retry_delay_max_ms=config.retry_delay_max_ms,
            recv_window_ms=config.recv_window_ms,
            proxy_url=config.proxy_url,
        )
        provider = get_cached_bybit_instrument_provider(
            client=client,
            product_types=tuple(product_types),
            config=config.instrument_provider,
        )
        return SyncedBybitDataClient(
            loop=loop,
            client=client,
            msgbus=msgbus,
            cache=cache,
            clock=clock,
            instrument_provider=provider,
            config=config,
            name=name,
        )


class TriggerTypedTradeClient:
    """Nautilus's Bybit trade WebSocket client, whose `submit_order` also gets the order's trigger
    type (see the module doc); every other call goes through unchanged."""

    def __init__(self, inner, cache) -> None:
        self._inner = inner
        self._cache = cache

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    async def submit_order(self, **kwargs):
        if kwargs.get("trigger_price") is not None and kwargs.get("trigger_type") is None:
            order = self._cache.order(ClientOrderId(kwargs["client_order_id"].value))
            if order is not None and order.has_trigger_price:
                kwargs["trigger_type"] = trigger_type_to_pyo3(order.trigger_type)
        return await self._inner.submit_order(**kwargs)


class BybitTriggerExecClientFactory(BybitLiveExecClientFactory):
    """Nautilus's Bybit execution client, its stop orders sent with their trigger type."""

    @staticmethod
    def create(loop, name, config, msgbus, cache, clock):
        client = BybitLiveExecClientFactory.create(loop, name, config, msgbus, cache, clock)
        client._ws_trade_client = TriggerTypedTradeClient(client._ws_trade_client, cache)
        return client
