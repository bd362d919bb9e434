"""`configs/backtest.yaml`: what to replay and how the simulated venue behaves.

Every modelling assumption of the simulated exchange is a named field here (fees come from the
instrument definition, latency and fill probabilities from the venue section), so a backtest's
result can always be traced to its assumptions.
"""

from __future__ import annotations

from typing import Annotated
from typing import Any
from typing import Literal

import msgspec
from msgspec import Meta


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class FillSettings(_Section):
    """Nautilus `FillModel`: probabilities applied by the matching engine."""

    prob_fill_on_limit: Annotated[float, Meta(ge=0.0, le=1.0)] = 1.0
    prob_slippage: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.0
    random_seed: int = 42


class LatencySettings(_Section):
    """Nautilus `LatencyModel`: one-way delay from the strategy to the venue, in milliseconds."""

    base_ms: Annotated[float, Meta(ge=0.0)] = 5.0
    insert_ms: Annotated[float, Meta(ge=0.0)] = 0.0
    update_ms: Annotated[float, Meta(ge=0.0)] = 0.0
    cancel_ms: Annotated[float, Meta(ge=0.0)] = 0.0


class VenueSettings(_Section):
    name: str = "BINANCE"
    oms_type: Literal["NETTING", "HEDGING"] = "NETTING"
    account_type: Literal["MARGIN", "CASH"] = "MARGIN"
    # Currency must be the instrument's settlement currency (USDT for USDT-M, BTC for BTCUSD-PERP).
    starting_balances: list[str] = msgspec.field(default_factory=lambda: ["10000 USDT"])
    default_leverage: Annotated[float, Meta(gt=0.0, le=125.0)] = 10.0
    book_type: Literal["L1_MBP", "L2_MBP", "L3_MBO"] = "L2_MBP"
    # Fills against the replayed book; trades also fill resting orders they cross.
    trade_execution: bool = True
    # Fills consume the book's liquidity so repeated orders do not fill twice at one level.
    liquidity_consumption: bool = True
    queue_position: bool = False
    fill: FillSettings = msgspec.field(default_factory=FillSettings)
    latency: LatencySettings = msgspec.field(default_factory=LatencySettings)


class StrategySettings(_Section):
    """Any Nautilus strategy by import path; `instrument_id` is filled in from the run."""

    path: str = "nautilus_trader.examples.strategies.orderbook_imbalance:OrderBookImbalance"
    config_path: str = "nautilus_trader.examples.strategies.orderbook_imbalance:OrderBookImbalanceConfig"
    config: dict[str, Any] = msgspec.field(default_factory=dict)


class BacktestSettings(_Section):
    catalog: str = "catalog"
    instrument_id: str = "BTCUSDT-PERP.BINANCE"
    start: str | None = None
    end: str | None = None
    venue: VenueSettings = msgspec.field(default_factory=VenueSettings)
    strategy: StrategySettings = msgspec.field(default_factory=StrategySettings)
    reports_dir: str = "reports"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    # Stream the catalog in chunks of this many objects (bounded memory); null loads it whole.
    chunk_size: Annotated[int, Meta(gt=0)] | None = None
