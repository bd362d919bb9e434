"""Every Nautilus internal the project touches, in one list, pinned to the Nautilus version it was
read in (`PINNED_VERSION`).

A private attribute or hook is not Nautilus's API: an upgrade may rename, move or re-sign it without
notice, and the code using it would then fail at run time (a missing hook is never called: silently)
or, worse, keep running on a changed meaning. `tests/test_nautilus_internals.py` resolves every entry
of `INTERNALS` against the installed Nautilus and fails naming the entry that moved; a hook the
project overrides must keep the parameters listed here. `BEHAVIOURS` are what the project reproduces
or relies on without touching a name: each names the test that fails when Nautilus changes it. An
upgrade starts here: bump `PINNED_VERSION`, run that test, re-read each entry's reason.

Add an entry whenever code touches a Nautilus name that starts with an underscore.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PINNED_VERSION = "1.231.0"


@dataclass(frozen=True)
class Internal:
    """One private Nautilus name the project uses."""

    owner: str  # "package.module:Class", or "package.module" for a module-level function
    name: str
    kind: Literal["hook", "attribute", "function"]  # hook: a private method the project overrides
    used_in: str  # the project module that touches it
    reason: str
    parameters: tuple[str, ...] | None = None  # a hook's parameters, as the override expects them


@dataclass(frozen=True)
class Behaviour:
    """Something of Nautilus the project reproduces or relies on, by its effect rather than a name."""

    what: str
    used_in: str
    guard: str  # the test that fails when Nautilus changes it ("tests/file.py::test_name")


_BINANCE_DATA = "nautilus_trader.adapters.binance.futures.data:BinanceFuturesDataClient"
_BYBIT_DATA = "nautilus_trader.adapters.bybit.data:BybitDataClient"
_BINANCE_SYNC = "scalp_nautilus.live.binance"
_BYBIT_SYNC = "scalp_nautilus.live.bybit"

INTERNALS: tuple[Internal, ...] = (
    Internal(
        "nautilus_trader.backtest.node:BacktestNode",
        "_run_streaming",
        "hook",
        "scalp_nautilus.backtest.streaming",
        "StreamingBacktestNode streams every catalog type (FundingRateUpdate included) through "
        "BacktestEngine.add_data_iterator instead of 1.231's Rust session, which refuses funding updates",
        ("self", "run_config_id", "engine", "data_configs", "chunk_size", "start", "end"),
    ),
    Internal(
        "nautilus_trader.data.engine:DataEngine",
        "_clients",
        "attribute",
        "scalp_nautilus.live.node",
        "the live node reads its synced data client's gap and resync counters for the heartbeat; "
        "Nautilus exposes no accessor for a registered client",
    ),
    Internal(
        "nautilus_trader.indicators.base:Indicator",
        "_reset",
        "hook",
        "scalp_nautilus.indicators (every indicator), scalp_nautilus.models",
        "Nautilus's reset() calls it: each indicator clears its own state there",
    ),
    Internal(
        "nautilus_trader.indicators.base:Indicator",
        "_set_has_inputs",
        "function",
        "scalp_nautilus.indicators, scalp_nautilus.models, scalp_nautilus.indicators.warm_state",
        "Python indicators set the read-only has_inputs flag through it (and a warm-state restore)",
    ),
    Internal(
        "nautilus_trader.indicators.base:Indicator",
        "_set_initialized",
        "function",
        "scalp_nautilus.indicators, scalp_nautilus.models, scalp_nautilus.indicators.warm_state",
        "Python indicators set the read-only initialized flag through it (and a warm-state restore)",
    ),
    Internal(
        _BINANCE_DATA,
        "_order_book_snapshot_then_deltas",
        "hook",
        _BINANCE_SYNC,
        "called on a book subscription and after a reconnect: the synced client applies Binance's "
        "book rules to the snapshot and the buffered diffs there",
        ("self", "instrument_id"),
    ),
    Internal(
        _BINANCE_DATA,
        "_handle_book_diff_update",
        "hook",
        _BINANCE_SYNC,
        "every depth diff passes through the pu-chain check (BookSync) before it is published",
        ("self", "raw"),
    ),
    Internal(
        _BINANCE_DATA,
        "_reconnect",
        "hook",
        _BINANCE_SYNC,
        "counted (reconnects) and then Nautilus's own: the synced client relies on it calling _order_book_snapshot_then_deltas",
        ("self",),
    ),
    Internal(
        _BINANCE_DATA,
        "_handle_ws_message",
        "hook",
        _BINANCE_SYNC,
        "every market message stamps the connection watchdog's clock (last_message_ns) before Nautilus routes it",
        ("self", "raw"),
    ),
    Internal(
        "nautilus_trader.live.data_client:LiveMarketDataClient",
        "_connect",
        "hook",
        "scalp_nautilus.live.feed",
        "WatchedFeed records the error a failed connection raised (Nautilus logs it and runs on as if "
        "connected): the supervisor's exit code and line",
        ("self",),
    ),
    Internal(
        "nautilus_trader.adapters.binance.execution:BinanceCommonExecutionClient",
        "_http_account",
        "attribute",
        "scalp_nautilus.live.offline",
        "the account's fills since the last saved position (userTrades): Nautilus's generate_fill_reports asks "
        "only for symbols with open orders or positions, and a stop that closed the position leaves neither",
    ),
    Internal(
        "nautilus_trader.adapters.bybit.execution:BybitExecutionClient",
        "_ws_trade_client",
        "attribute",
        _BYBIT_SYNC,
        "wrapped to pass a stop order's trigger type to submit_order (1.231's _submit_order drops it: Bybit "
        "would trigger a mark-price stop on the last price)",
    ),
    Internal(
        "nautilus_trader.execution.engine:ExecutionEngine",
        "_clients",
        "attribute",
        "scalp_nautilus.live.supervisor",
        "the execution client asked for the fills made while no node ran; Nautilus exposes no accessor",
    ),
    Internal(_BINANCE_DATA, "_ws_client", "attribute", _BINANCE_SYNC, "the market WebSocket, shared with the book route"),
    Internal(
        _BINANCE_DATA,
        "_ws_public_client",
        "attribute",
        _BINANCE_SYNC,
        "replaced by _ws_client when both routes have one URL (testnet, the replay venue): one connection, one order of messages",
    ),
    Internal(_BINANCE_DATA, "_http_market", "attribute", _BINANCE_SYNC, "the REST depth snapshot of a re-sync"),
    Internal(_BINANCE_DATA, "_book_depths", "attribute", _BINANCE_SYNC, "the subscribed depth, asked of the snapshot"),
    Internal(_BINANCE_DATA, "_decoder_order_book_msg", "attribute", _BINANCE_SYNC, "decodes a raw depth diff"),
    Internal(_BINANCE_DATA, "_get_cached_instrument_id", "function", _BINANCE_SYNC, "symbol -> instrument id of a diff"),
    Internal(_BINANCE_DATA, "_instrument_provider", "attribute", _BINANCE_SYNC, "the instrument of a snapshot's prices"),
    Internal(
        "nautilus_trader.data.client:DataClient",
        "_handle_data",
        "function",
        f"{_BINANCE_SYNC}, {_BYBIT_SYNC}",
        "publishes the synced book batches, CLEARs and snapshots to the data engine",
    ),
    Internal("nautilus_trader.common.component:Component", "_log", "attribute", f"{_BINANCE_SYNC}, {_BYBIT_SYNC}", "logging"),
    Internal("nautilus_trader.common.component:Component", "_clock", "attribute", f"{_BINANCE_SYNC}, {_BYBIT_SYNC}", "time"),
    Internal(
        _BYBIT_DATA,
        "_handle_msg",
        "hook",
        _BYBIT_SYNC,
        "every WebSocket message: book batches go through Bybit's u-chain check (UpdateChain)",
        ("self", "msg"),
    ),
    Internal(
        _BYBIT_DATA,
        "_unsubscribe_order_book_deltas",
        "hook",
        _BYBIT_SYNC,
        "a re-sync unsubscribes and subscribes again (Bybit sends a fresh snapshot on subscription)",
        ("self", "command"),
    ),
    Internal(_BYBIT_DATA, "_ws_clients", "attribute", _BYBIT_SYNC, "replaced to open the public WebSocket on base_url_ws"),
    Internal(_BYBIT_DATA, "_bars_timestamp_on_close", "attribute", _BYBIT_SYNC, "copied onto the replacement WebSocket"),
    Internal(_BYBIT_DATA, "_depths", "attribute", _BYBIT_SYNC, "the subscribed books and their depth (a re-subscription's)"),
    Internal(_BYBIT_DATA, "_get_ws_client_for_instrument", "function", _BYBIT_SYNC, "the WebSocket of a book's re-subscription"),
    Internal(
        "nautilus_trader.adapters.bybit.config",
        "_resolve_environment",
        "function",
        _BYBIT_SYNC,
        "the environment of the replacement WebSocket and of the client factory, as Nautilus resolves it",
    ),
)

BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour(
        "Nautilus's L2_MBP OrderBook: ReplayBook (numba) reproduces its levels bit for bit, so the feature "
        "replay's rows equal the backtest recorder's",
        "scalp_nautilus.feature_replay.book",
        "tests/test_feature_replay_book.py::test_replay_book_equals_nautilus_book_batch_by_batch",
    ),
    Behaviour(
        "BacktestEngine.add_data_iterator merges the streams by ts_init, ties to the stream added first: the "
        "event order of whole loading",
        "scalp_nautilus.backtest.streaming",
        "tests/test_streaming.py::test_streamed_backtest_and_feature_replay_equal_whole_loading",
    ),
    Behaviour(
        "the backtest exchange settles no funding: the strategy's FundingLedger books it",
        "scalp_nautilus.strategy.funding",
        "tests/test_strategy_engine.py::test_funding_booked_on_a_position_held_across_two_settlements",
    ),
    Behaviour(
        "the matching engine cancels a closed position's reduce-only orders at the closing fill: the "
        "execution cancels its leftovers at the next batch, not at the close",
        "scalp_nautilus.strategy.execution",
        "tests/test_exchange_stop.py::test_beside_a_resting_maker_take_profit",
    ),
    Behaviour(
        "a BacktestEngine registers its venue's accounts as calculated (AccountFactory.register_calculated_account) "
        "for the whole process: a live account of that venue in it then gets a state calculated from each fill "
        "besides the venue's report of it, so the live report counts the venue's reports only",
        "scalp_nautilus.live.session",
        "tests/test_live_risk.py::test_an_adopted_positions_report_separates_the_entry_fee_the_previous_session_paid",
    ),
)
