"""The live trading node: Nautilus's `TradingNode` with a venue's data and execution clients and
the same `ScalpStrategy` (and strategy YAML) as backtests.

The client configs are built here, not decoded from YAML with the node config: decoding a whole
`TradingNodeConfig` from YAML drops the adapters' own settings, so the node gets typed client
configs and the client factories are registered by hand. Binance's data client is
`SyncedBinanceFuturesDataClient` (Binance's book rules enforced; `scalp_nautilus.live.binance`),
its execution client Nautilus's own. Bybit's data client is `SyncedBybitDataClient` (Bybit's
update-id chain checked, a gap re-subscribes for a snapshot; `scalp_nautilus.live.bybit`), its
execution client Nautilus's own, given the trigger type of its stop orders
(`BybitTriggerExecClientFactory`: Nautilus 1.231 drops it, so Bybit would trigger on the last price).

At start Nautilus reconciles the account: open orders and positions of the instrument become
the strategy's (`external_order_claims`), and the strategy adopts them instead of trading beside
them (see `ScalpStrategy`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from nautilus_trader.adapters.binance import BinanceAccountType
from nautilus_trader.adapters.binance import BinanceDataClientConfig
from nautilus_trader.adapters.binance import BinanceExecClientConfig
from nautilus_trader.adapters.binance.common.enums import BinanceEnvironment
from nautilus_trader.adapters.binance.factories import BinanceLiveExecClientFactory
from nautilus_trader.adapters.bybit import BybitExecClientConfig
from nautilus_trader.config import ImportableStrategyConfig
from nautilus_trader.config import InstrumentProviderConfig
from nautilus_trader.config import LiveDataEngineConfig
from nautilus_trader.config import LiveExecEngineConfig
from nautilus_trader.config import LiveRiskEngineConfig
from nautilus_trader.config import LoggingConfig
from nautilus_trader.config import TradingNodeConfig
from nautilus_trader.core.nautilus_pyo3 import BybitEnvironment
from nautilus_trader.core.nautilus_pyo3 import BybitProductType
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.identifiers import InstrumentId

from scalp_nautilus.alerts import Alerts
from scalp_nautilus.live.binance import SyncedBinanceLiveDataClientFactory
from scalp_nautilus.live.bybit import BybitTriggerExecClientFactory
from scalp_nautilus.live.bybit import SyncedBybitDataClientConfig
from scalp_nautilus.live.bybit import SyncedBybitLiveDataClientFactory
from scalp_nautilus.live.monitor import NodeMonitor
from scalp_nautilus.live.session import report_folder
from scalp_nautilus.live.session import write_session_report
from scalp_nautilus.live.settings import Credentials
from scalp_nautilus.live.settings import LiveSettings
from scalp_nautilus.live.settings import dashboard_token
from scalp_nautilus.live.supervisor import EXIT_CONNECTION_LOST
from scalp_nautilus.live.supervisor import EXIT_OK
from scalp_nautilus.live.supervisor import Supervisor
from scalp_nautilus.strategy import risk


def client_configs(settings: LiveSettings, keys: Credentials, mainnet: bool) -> tuple[object, object]:
    """The venue's data and execution client configs."""
    iid = InstrumentId.from_str(settings.instrument_id)
    provider = InstrumentProviderConfig(load_ids=frozenset([iid]))
    if settings.venue == "BINANCE":
        e = settings.endpoints
        common: dict[str, Any] = dict(
            api_key=keys.api_key,
            api_secret=keys.api_secret,
            account_type=BinanceAccountType.USDT_FUTURES,
            environment=BinanceEnvironment.LIVE if mainnet else BinanceEnvironment.TESTNET,
            base_url_http=e.base_url_http if e else None,
            instrument_provider=provider,
        )
        data = BinanceDataClientConfig(**common, base_url_ws=e.base_url_ws if e else None)
        # One-way mode: Nautilus keeps a position per strategy (its own ids) instead of reusing the
        # venue's single `-BOTH` id for every round trip.
        execution = BinanceExecClientConfig(
            **common,
            base_url_ws_stream=e.base_url_ws if e else None,
            use_position_ids=False,
        )
        return data, execution
    common = dict(
        api_key=keys.api_key,
        api_secret=keys.api_secret,
        product_types=(BybitProductType.LINEAR,),
        environment=BybitEnvironment.MAINNET if mainnet else BybitEnvironment.TESTNET,
        instrument_provider=provider,
    )
    e = settings.endpoints
    if e is None:
        return SyncedBybitDataClientConfig(**common), BybitExecClientConfig(**common)
    # A replay venue: Nautilus's Bybit data client would open its public WebSocket on
    # `base_url_http` itself (an http:// URL, which the WebSocket client refuses), so the synced
    # client takes its own `base_url_ws`; the private and trade streams have their own URLs.
    return (
        SyncedBybitDataClientConfig(**common, base_url_http=e.base_url_http, base_url_ws=f"{e.base_url_ws}/v5/public/linear"),
        BybitExecClientConfig(
            **common,
            base_url_http=e.base_url_http,
            base_url_ws_private=f"{e.base_url_ws}/v5/private",
            base_url_ws_trade=f"{e.base_url_ws}/v5/trade",
        ),
    )


def node_config(settings: LiveSettings, keys: Credentials, mainnet: bool) -> TradingNodeConfig:
    iid = InstrumentId.from_str(settings.instrument_id)
    s = settings.strategy
    strategy = ImportableStrategyConfig(
        strategy_path=s.path,
        config_path=s.config_path,
        config={**s.config, "instrument_id": settings.instrument_id, "external_order_claims": [settings.instrument_id]},
    )
    data, execution = client_configs(settings, keys, mainnet)
    log, t = settings.logging, settings.timeouts
    Path(log.directory).mkdir(parents=True, exist_ok=True)
    return TradingNodeConfig(
        trader_id=settings.trader_id,
        logging=LoggingConfig(log_level=log.level, log_level_file=log.file_level, log_directory=log.directory),
        # Each exchange message is already one batch (`F_LAST` on its last delta): no buffering.
        data_engine=LiveDataEngineConfig(),
        exec_engine=LiveExecEngineConfig(
            reconciliation=True,
            reconciliation_lookback_mins=settings.reconciliation_lookback_mins,
            reconciliation_instrument_ids=[iid],
        ),
        risk_engine=risk_engine_config(settings),
        strategies=[strategy],
        data_clients={settings.venue: data},
        exec_clients={settings.venue: execution},
        timeout_connection=t.connection_s,
        timeout_reconciliation=t.reconciliation_s,
        timeout_portfolio=t.portfolio_s,
        timeout_disconnection=t.disconnection_s,
        timeout_post_stop=t.post_stop_s,
    )


def risk_engine_config(settings: LiveSettings) -> LiveRiskEngineConfig:
    r = settings.risk_engine
    notional = {settings.instrument_id: r.max_notional_per_order} if r.max_notional_per_order else {}
    # Nautilus annotates the notionals as int; its risk engine takes Decimal(value) of any number.
    return LiveRiskEngineConfig(max_order_submit_rate=r.max_order_submit_rate, max_notional_per_order=notional)  # type: ignore[arg-type]


def build_node(
    settings: LiveSettings, keys: Credentials, mainnet: bool, loop: asyncio.AbstractEventLoop | None = None
) -> TradingNode:
    """A built node (clients created, nothing connected yet)."""
    node = TradingNode(node_config(settings, keys, mainnet), loop=loop)
    if settings.venue == "BINANCE":
        node.add_data_client_factory("BINANCE", SyncedBinanceLiveDataClientFactory)
        node.add_exec_client_factory("BINANCE", BinanceLiveExecClientFactory)
    else:
        node.add_data_client_factory("BYBIT", SyncedBybitLiveDataClientFactory)
        node.add_exec_client_factory("BYBIT", BybitTriggerExecClientFactory)
    node.build()
    client = next(iter(node.kernel.data_engine._clients.values()))  # Nautilus keeps its clients private
    alerts = Alerts(settings.alerts, logging.getLogger("scalp_nautilus.alerts"))
    node.trader.add_actor(NodeMonitor(node.trader.strategies()[0], client, settings, alerts))
    return node


def state_path(settings: LiveSettings) -> str | None:
    """The strategy's state file (warm state and the kill switch's halt), if it keeps one."""
    return (settings.strategy.config.get("state") or {}).get("path")


def clear_halt(settings: LiveSettings) -> str:
    """`--clear-halt`: remove the halt from the state file; says what was cleared."""
    path = state_path(settings)
    if not path:
        return "--clear-halt: the strategy keeps no state file (`state.path`): no halt survives a restart"
    cleared = risk.clear_halt(path)
    return f"--clear-halt: cleared the halt in {path} ({cleared})" if cleared else f"--clear-halt: {path} records no halt"


def banner(settings: LiveSettings, keys: Credentials, mainnet: bool) -> str:
    where = (
        f"the replay venue at {settings.endpoints.base_url_http}"
        if settings.endpoints
        else f"{settings.venue} {'MAINNET' if mainnet else 'testnet'}"
    )
    lines = [f"live node {settings.trader_id}: {settings.instrument_id} on {where}; keys from {keys.source}"]
    path = state_path(settings)
    halt = risk.read_halt(path) if path else None
    if halt is not None:
        lines.append(f"HALTED by the kill switch ({halt}): no entries until `scalp-nautilus live --config ... --clear-halt`")
    if mainnet:
        lines.insert(0, f"*** MAINNET: REAL MONEY. Orders go to {settings.venue}'s production exchange. ***")
    return "\n".join(lines)


def run_live(settings: LiveSettings, keys: Credentials, mainnet: bool) -> int:
    """Run until interrupted (Ctrl-C / SIGTERM: Nautilus stops the strategy, which cancels its
    orders and closes its position) or until the node cannot do its job; returns the exit code
    (`scalp_nautilus.live.supervisor`). A session that traded prints and writes its report
    (`scalp_nautilus.live.session`); the node is disposed."""
    print(banner(settings, keys, mainnet), flush=True)
    token = dashboard_token(settings)
    node = build_node(settings, keys, mainnet)
    started_ns = time.time_ns()
    try:
        supervisor = Supervisor(node, settings, mainnet, token)
        code = supervisor.run()
        if code in (EXIT_OK, EXIT_CONNECTION_LOST):
            strategy = node.trader.strategies()[0]
            folder = report_folder(settings.reports_dir, started_ns)
            text = write_session_report(
                node.trader, strategy, folder, started_ns, time.time_ns(), supervisor.offline, state_path(settings)
            )
            print(text, flush=True)
    finally:
        node.dispose()
    return code
