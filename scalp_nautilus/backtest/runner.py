"""Backtests with Nautilus's `BacktestNode` over a `ParquetDataCatalog`.

Order-book deltas are buffered by the data engine up to each ``F_LAST`` flag, so strategies see the
venue's batches (one `OrderBookDeltas` per exchange message) as they would live.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nautilus_trader.backtest.config import BacktestDataConfig
from nautilus_trader.backtest.config import BacktestEngineConfig
from nautilus_trader.backtest.config import BacktestRunConfig
from nautilus_trader.backtest.config import BacktestVenueConfig
from nautilus_trader.backtest.config import FillModelConfig
from nautilus_trader.backtest.config import ImportableFillModelConfig
from nautilus_trader.backtest.config import ImportableLatencyModelConfig
from nautilus_trader.backtest.config import LatencyModelConfig
from nautilus_trader.backtest.node import BacktestNode
from nautilus_trader.backtest.results import BacktestResult
from nautilus_trader.common.config import LoggingConfig
from nautilus_trader.config import DataEngineConfig
from nautilus_trader.config import ImportableStrategyConfig
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from scalp_nautilus.backtest.settings import BacktestSettings
from scalp_nautilus.config import ConfigError
from scalp_nautilus.data.catalog import CATALOG_DATA_TYPES

log = logging.getLogger(__name__)

_MS = 1_000_000


class BacktestError(RuntimeError):
    pass


@dataclass
class BacktestOutcome:
    result: BacktestResult
    instrument: Instrument
    reports_dir: Path
    fills: pd.DataFrame
    positions: pd.DataFrame
    account: pd.DataFrame
    wall_seconds: float

    def summary(self) -> str:
        r = self.result
        pnl = {cur: stats.get("PnL (total)") for cur, stats in r.stats_pnls.items()}
        return "\n".join(
            [
                f"instrument      {self.instrument.id}",
                f"replayed        {pd.Timestamp(r.backtest_start, tz='UTC')} -> {pd.Timestamp(r.backtest_end, tz='UTC')}",
                f"events          {r.iterations:,} in {self.wall_seconds:.1f} s wall",
                f"orders / fills  {r.total_orders} / {len(self.fills)}",
                f"positions       {r.total_positions}",
                f"PnL (total)     {pnl}",
                f"reports         {self.reports_dir.resolve()}",
            ],
        )


def catalog_instrument(catalog: ParquetDataCatalog, instrument_id: str) -> Instrument:
    instruments = catalog.instruments()
    for inst in instruments:
        if inst.id.value == instrument_id:
            return inst
    have = ", ".join(sorted(i.id.value for i in instruments)) or "none"
    raise BacktestError(f"instrument {instrument_id} is not in the catalog {catalog.path} (it has: {have})")


def build_run_config(settings: BacktestSettings, instrument: Instrument, catalog: ParquetDataCatalog) -> BacktestRunConfig:
    iid = instrument.id
    settle = instrument.get_settlement_currency().code
    for balance in settings.venue.starting_balances:
        if balance.split()[-1] != settle:
            raise ConfigError(
                f"venue.starting_balances: {balance!r} is not in {settle}, the settlement currency of {iid}",
            )
    data = [
        BacktestDataConfig(
            catalog_path=str(settings.catalog),
            data_cls=f"{cls.__module__}:{cls.__name__}",
            instrument_id=iid,
            start_time=settings.start,
            end_time=settings.end,
        )
        for cls in CATALOG_DATA_TYPES
        if catalog.get_intervals(cls, iid.value)
    ]
    if not any(d.data_cls.endswith("OrderBookDelta") for d in data):
        raise BacktestError(f"the catalog {settings.catalog} holds no order-book deltas for {iid}")
    v = settings.venue
    venue = BacktestVenueConfig(
        name=v.name,
        oms_type=v.oms_type,
        account_type=v.account_type,
        starting_balances=list(v.starting_balances),
        default_leverage=v.default_leverage,
        book_type=v.book_type,
        trade_execution=v.trade_execution,
        liquidity_consumption=v.liquidity_consumption,
        queue_position=v.queue_position,
        fill_model=ImportableFillModelConfig(
            fill_model_path="nautilus_trader.backtest.models:FillModel",
            config_path=f"{FillModelConfig.__module__}:{FillModelConfig.__name__}",
            config={
                "prob_fill_on_limit": v.fill.prob_fill_on_limit,
                "prob_slippage": v.fill.prob_slippage,
                "random_seed": v.fill.random_seed,
            },
        ),
        latency_model=ImportableLatencyModelConfig(
            latency_model_path="nautilus_trader.backtest.models:LatencyModel",
            config_path=f"{LatencyModelConfig.__module__}:{LatencyModelConfig.__name__}",
            config={
                "base_latency_nanos": round(v.latency.base_ms * _MS),
                "insert_latency_nanos": round(v.latency.insert_ms * _MS),
                "update_latency_nanos": round(v.latency.update_ms * _MS),
                "cancel_latency_nanos": round(v.latency.cancel_ms * _MS),
            },
        ),
    )
    strategy = ImportableStrategyConfig(
        strategy_path=settings.strategy.path,
        config_path=settings.strategy.config_path,
        config={**settings.strategy.config, "instrument_id": iid.value},
    )
    engine = BacktestEngineConfig(
        strategies=[strategy],
        logging=LoggingConfig(log_level=settings.log_level),
        data_engine=DataEngineConfig(buffer_deltas=True),
    )
    return BacktestRunConfig(
        engine=engine,
        venues=[venue],
        data=data,
        chunk_size=settings.chunk_size,
        dispose_on_completion=False,
        raise_exception=True,
    )


def run_backtest(settings: BacktestSettings) -> BacktestOutcome:
    catalog_path = Path(settings.catalog)
    if not catalog_path.is_dir():
        raise BacktestError(f"no catalog at {catalog_path}: run `scalp-nautilus data simulate` or an import first")
    catalog = ParquetDataCatalog(str(catalog_path))
    instrument = catalog_instrument(catalog, settings.instrument_id)
    run_config = build_run_config(settings, instrument, catalog)
    node = BacktestNode(configs=[run_config])
    started = time.perf_counter()
    try:
        results = node.run()
        if not results:
            raise BacktestError("the backtest produced no result (see the log above)")
        engine = node.get_engine(run_config.id)
        trader = engine.trader
        venue = Venue(settings.venue.name)
        reports = Path(settings.reports_dir)
        reports.mkdir(parents=True, exist_ok=True)
        fills = trader.generate_order_fills_report()
        positions = trader.generate_positions_report()
        account = trader.generate_account_report(venue)
        fills.to_csv(reports / "fills.csv")
        positions.to_csv(reports / "positions.csv")
        account.to_csv(reports / "account.csv")
    finally:
        node.dispose()
    return BacktestOutcome(results[0], instrument, reports, fills, positions, account, time.perf_counter() - started)
