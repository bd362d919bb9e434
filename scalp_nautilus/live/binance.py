"""Nautilus's Binance USD-M futures data client with Binance's book rules enforced.

Nautilus 1.231's `BinanceFuturesDataClient` requests a REST snapshot, drops buffered diffs up to
its id and applies everything after it, but never checks the ``pu`` chain: a lost diff goes
unnoticed and the book silently diverges until the next reconnect. It also stamps the snapshot
with the local receive time and leaves ``F_LAST`` off its last delta. `SyncedBinanceFuturesDataClient`
keeps everything else of Nautilus's client (connection, subscriptions, parsing of each diff,
trades, mark prices) and changes the book path only:

- every diff goes through `BookSync` (the importer's rules, `scalp_nautilus.data.binance_sync`);
- a gap publishes a CLEAR (the book is empty, so the strategy sees an
  invalid book and takes no new position) and re-syncs from a fresh snapshot, retried while the
  snapshot is older than the buffered diffs. A WebSocket reconnect is one: the new connection's
  first diff does not continue the chain (measured against the replay venue: Nautilus 1.231's
  reconnect hook did not fire on the shared market connection; when it fires it re-syncs too);
- the snapshot is one batch (CLEAR + levels, ``F_SNAPSHOT``, ``F_LAST`` on its last delta) stamped
  with the exchange's time ``T``, exactly as the importer writes a capture's snapshot to the
  catalog, so backtests and live runs see the same batches;
- when the market and book routes are the same URL (testnet, the replay venue) both streams share
  one connection, so the node receives depth, trades and mark prices in the venue's order (on
  mainnet Binance routes them to separate endpoints, which Nautilus keeps).
"""

from __future__ import annotations

import asyncio

from nautilus_trader.adapters.binance.common.enums import BinanceAccountType
from nautilus_trader.adapters.binance.common.enums import BinanceEnvironment
from nautilus_trader.adapters.binance.common.schemas.market import BinanceOrderBookData
from nautilus_trader.adapters.binance.common.urls import get_usdm_ws_route_base_url
from nautilus_trader.adapters.binance.common.urls import get_ws_base_url
from nautilus_trader.adapters.binance.common.urls import get_ws_public_base_url
from nautilus_trader.adapters.binance.config import BinanceDataClientConfig
from nautilus_trader.adapters.binance.factories import get_cached_binance_futures_instrument_provider
from nautilus_trader.adapters.binance.factories import get_cached_binance_http_client
from nautilus_trader.adapters.binance.futures.data import BinanceFuturesDataClient
from nautilus_trader.adapters.binance.http.error import BinanceError
from nautilus_trader.core.datetime import millis_to_nanos
from nautilus_trader.live.factories import LiveDataClientFactory
from nautilus_trader.model.data import OrderBookDeltas
from nautilus_trader.model.identifiers import InstrumentId

from scalp_nautilus.data.binance_sync import BookSync
from scalp_nautilus.data.binance_sync import Verdict
from scalp_nautilus.data.binance_sync import clear_delta
from scalp_nautilus.data.binance_sync import snapshot_deltas
from scalp_nautilus.errors import InputError
from scalp_nautilus.live.feed import WatchedFeed

RESYNC_RETRY_S = 1.0  # wait between snapshot requests while the snapshot is older than the stream
RESYNC_ATTEMPTS = 30


class SyncedBinanceFuturesDataClient(WatchedFeed, BinanceFuturesDataClient):
    """See the module doc. Counters: `gaps` (breaks of the `pu` chain), `resyncs` (snapshots
    applied, the first included), `book_resyncs` (those after the first, whichever path asked:
    a gap or a reconnect), `reconnects` (Nautilus's reconnect hook), `unusable_snapshots`;
    `last_message_ns` and `connect_error`: see `WatchedFeed`."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self._ws_public_client.url == self._ws_client.url:
            self._ws_public_client = self._ws_client
        self._syncs: dict[InstrumentId, BookSync] = {}
        self._last_ts: dict[InstrumentId, int] = {}  # exchange time of the latest diff per book
        self._resyncing: dict[InstrumentId, asyncio.Task | None] = {}  # Nautilus types create_task Optional
        self.gaps = 0
        self.resyncs = 0
        self.reconnects = 0
        self.unusable_snapshots = 0

    @property
    def book_resyncs(self) -> int:
        return max(self.resyncs - 1, 0)

    def _handle_ws_message(self, raw: bytes) -> None:
        self._stamp()
        super()._handle_ws_message(raw)

    async def _reconnect(self) -> None:
        self.reconnects += 1
        await super()._reconnect()

    # Called by Nautilus on subscription and (through `_reconnect`) after a reconnect.
    async def _order_book_snapshot_then_deltas(self, instrument_id: InstrumentId) -> None:
        sync = self._syncs.setdefault(instrument_id, BookSync())
        if sync.synced:
            self._publish_clear(instrument_id, sync.chain_u or 0)
            sync.invalidate("WebSocket reconnected")
        task = self._start_resync(instrument_id)
        if task is not None:
            await task

    def _start_resync(self, instrument_id: InstrumentId) -> asyncio.Task | None:
        """The one re-sync of this book (a running one is reused: two snapshots in flight could
        land out of order)."""
        task = self._resyncing.get(instrument_id)
        if task is None or task.done():
            task = self._resyncing[instrument_id] = self.create_task(self._resync(instrument_id))
        return task

    async def _resync(self, instrument_id: InstrumentId) -> None:
        sync = self._syncs[instrument_id]
        symbol = instrument_id.symbol.value
        for attempt in range(RESYNC_ATTEMPTS):
            try:
                depth = await self._http_market.query_depth(symbol, self._book_depths.get(instrument_id) or 1000)
            except BinanceError as exc:
                self._log.warning(f"{instrument_id}: depth snapshot request failed ({exc}); retrying")
                await asyncio.sleep(RESYNC_RETRY_S)
                continue
            usable, dropped, replay = sync.snapshot(depth.lastUpdateId)
            if not usable:
                self.unusable_snapshots += 1
                self._log.warning(
                    f"{instrument_id}: snapshot {depth.lastUpdateId} is older than the buffered diffs; "
                    f"requesting another (attempt {attempt + 1})",
                )
                await asyncio.sleep(RESYNC_RETRY_S)
                continue
            self._publish_snapshot(instrument_id, depth)
            self.resyncs += 1
            self._log.info(f"{instrument_id}: book synced at update {depth.lastUpdateId} ({dropped} older diffs dropped)")
            for diff in replay:
                self._on_diff(instrument_id, diff)
            return
        self._log.error(f"{instrument_id}: no usable depth snapshot after {RESYNC_ATTEMPTS} attempts: the book stays empty")

    def _publish_snapshot(self, instrument_id: InstrumentId, depth) -> None:
        instrument = self._instrument_provider.find(instrument_id)
        if instrument is None:  # subscriptions are refused for instruments the provider has not loaded
            self._log.error(f"{instrument_id}: depth snapshot for an instrument the provider does not know: dropped")
            return
        ts_init = self._clock.timestamp_ns()
        exchange_ms = depth.T or depth.E
        ts_event = millis_to_nanos(exchange_ms) if exchange_ms else ts_init
        deltas = snapshot_deltas(
            instrument_id,
            depth.bids,
            depth.asks,
            depth.lastUpdateId,
            ts_event,
            ts_init,
            instrument.price_precision,
            instrument.size_precision,
        )
        self._handle_data(OrderBookDeltas(instrument_id, deltas))

    def _publish_clear(self, instrument_id: InstrumentId, sequence: int) -> None:
        # Stamped with the last exchange time seen: the event clock of every feature stays monotonic.
        ts_event = self._last_ts.get(instrument_id, 0)
        now = self._clock.timestamp_ns()
        self._handle_data(OrderBookDeltas(instrument_id, [clear_delta(instrument_id, sequence, ts_event or now, now)]))

    def _handle_book_diff_update(self, raw: bytes) -> None:
        msg = self._decoder_order_book_msg.decode(raw)
        instrument_id = self._get_cached_instrument_id(msg.data.s)
        if instrument_id not in self._syncs:
            return  # not a book we subscribed to
        self._on_diff(instrument_id, msg.data)

    def _on_diff(self, instrument_id: InstrumentId, diff: BinanceOrderBookData) -> None:
        sync = self._syncs[instrument_id]
        verdict = sync.diff(diff)
        self._last_ts[instrument_id] = millis_to_nanos(diff.T or diff.E)
        if verdict is Verdict.APPLY:
            if diff.b or diff.a:  # an empty diff only advances the chain
                self._handle_data(diff.parse_to_order_book_deltas(instrument_id, self._clock.timestamp_ns()))
        elif verdict is Verdict.GAP:
            self.gaps += 1
            self._log.warning(f"{instrument_id}: sequence gap ({sync.gap_reason}): book cleared, re-syncing")
            self._publish_clear(instrument_id, diff.u)
            self._start_resync(instrument_id)


class SyncedBinanceLiveDataClientFactory(LiveDataClientFactory):
    """Builds `SyncedBinanceFuturesDataClient` for USD-M / COIN-M futures configs (other account
    types are refused), resolving URLs, the shared HTTP client and the instrument provider exactly
    as Nautilus's `BinanceLiveDataClientFactory` does for futures."""

    @staticmethod
    def create(loop, name, config: BinanceDataClientConfig, msgbus, cache, clock):  # type: ignore[override]
        if not config.account_type.is_futures:
            raise InputError(f"SyncedBinanceLiveDataClientFactory builds futures clients only, not {config.account_type}")
        environment = config.environment or BinanceEnvironment.LIVE
        client = get_cached_binance_http_client(
            clock=clock,
            account_type=config.account_type,
            api_key=config.api_key,
            api_secret=config.api_secret,
            key_type=config.key_type,
            base_url=config.base_url_http,
            environment=environment,
            is_us=config.us,
            proxy_url=config.proxy_url,
        )
        provider = get_cached_binance_futures_instrument_provider(
            client=client,
            clock=clock,
            account_type=config.account_type,
            config=config.instrument_provider,
            venue=config.venue,
        )
        base_url_ws = config.base_url_ws or get_ws_base_url(config.account_type, environment, config.us)
        base_url_ws_public = config.base_url_ws or get_ws_public_base_url(config.account_type, environment, config.us)
        if (
            config.base_url_ws is not None
            and environment == BinanceEnvironment.LIVE
            and config.account_type == BinanceAccountType.USDT_FUTURES
        ):
            base_url_ws = get_usdm_ws_route_base_url(config.base_url_ws, "market")
            base_url_ws_public = get_usdm_ws_route_base_url(config.base_url_ws, "public")
        return SyncedBinanceFuturesDataClient(
            loop=loop,
            client=client,
            msgbus=msgbus,
            cache=cache,
            clock=clock,
            instrument_provider=provider,
            base_url_ws=base_url_ws,
            config=config,
            account_type=config.account_type,
            name=name,
            base_url_ws_public=base_url_ws_public,
        )
