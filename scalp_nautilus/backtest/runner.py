"""Backtests with Nautilus's `BacktestNode` over a `ParquetDataCatalog`.

Order-book deltas are buffered by the data engine up to each ``F_LAST`` flag, so strategies see the
venue's batches (one `OrderBookDeltas` per exchange message) as they would live. A catalog with
only quotes and trades for the instrument (Binance's public archive) runs in the top-of-book mode
(`book_mode`, `scalp_nautilus.top_of_book`): the quotes are the book, the venue an L1_MBP one. The strategy's
config is checked before anything is loaded; a `ProgressActor` reports on long runs; the reports
(Nautilus's fills/positions/account CSVs, the strategy's own records and plots) are written by
`scalp_nautilus.backtest.report`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import pandas as pd

from nautilus_trader.backtest.config import BacktestDataConfig
from nautilus_trader.backtest.config import BacktestEngineConfig
from nautilus_trader.backtest.config import BacktestRunConfig
from nautilus_trader.backtest.config import BacktestVenueConfig
from nautilus_trader.backtest.config import FillModelConfig
from nautilus_trader.backtest.config import ImportableFeeModelConfig
from nautilus_trader.backtest.config import ImportableFillModelConfig
from nautilus_trader.backtest.config import ImportableLatencyModelConfig
from nautilus_trader.backtest.config import LatencyModelConfig
from nautilus_trader.backtest.results import BacktestResult
from nautilus_trader.common.config import ImportableActorConfig
from nautilus_trader.common.config import LoggingConfig
from nautilus_trader.common.config import resolve_config_path
from nautilus_trader.config import DataEngineConfig
from nautilus_trader.config import ImportableStrategyConfig
from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from scalp_nautilus.backtest.fees import RateFeeModel
from scalp_nautilus.backtest.fees import RateFeeModelConfig
from scalp_nautilus.backtest.progress import ProgressActor
from scalp_nautilus.backtest.progress import ProgressActorConfig
from scalp_nautilus.backtest.report import summary
from scalp_nautilus.backtest.report import write_reports
from scalp_nautilus.backtest.settings import BacktestSettings
from scalp_nautilus.backtest.settings import check_strategy_config
from scalp_nautilus.backtest.streaming import StreamingBacktestNode
from scalp_nautilus.backtest.streaming import old_objects_frozen
from scalp_nautilus.config import ConfigError
from scalp_nautilus.config import merge
from scalp_nautilus.config import parse_utc
from scalp_nautilus.data.catalog import CATALOG_DATA_TYPES
from scalp_nautilus.data.spans import read_invalid_spans
from scalp_nautilus.errors import RunError
from scalp_nautilus.fees import FeeSchedule
from scalp_nautilus.strategy.records import StrategyReport
from scalp_nautilus.strategy.settings import ScalpStrategyConfig
from scalp_nautilus.strategy.settings import fee_schedule
from scalp_nautilus.top_of_book import AUTO
from scalp_nautilus.top_of_book import L2
from scalp_nautilus.top_of_book import TOP_OF_BOOK
from scalp_nautilus.top_of_book import resolve

log = logging.getLogger(__name__)

_MS = 1_000_000


class BacktestError(RunError):
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
    starting_balance: float  # in the settlement currency
    data_span: tuple[int, int]  # first and last order-book delta replayed (ns); funding history may start earlier
    strategies: list[StrategyReport] = field(default_factory=list)  # ScalpStrategy instances' own records

    def summary(self) -> str:
        return summary(self)


def catalog_instrument(catalog: ParquetDataCatalog, instrument_id: str) -> Instrument:
    instruments = catalog.instruments()
    for inst in instruments:
        if inst.id.value == instrument_id:
            return inst
    have = ", ".join(sorted(i.id.value for i in instruments)) or "none"
    raise BacktestError(f"instrument {instrument_id} is not in the catalog {catalog.path} (it has: {have})")


def book_mode(settings: BacktestSettings, catalog: ParquetDataCatalog) -> str:
    """The run's book mode: a ScalpStrategy's `book.mode`, `auto` (and any other strategy's) from the
    catalog's data (`top_of_book.resolve`)."""
    s = settings.strategy
    scalp = issubclass(resolve_config_path(s.config_path), ScalpStrategyConfig)
    configured = s.config.get("book", {}).get("mode", AUTO) if scalp else AUTO
    return resolve(configured, catalog, settings.instrument_id)


def data_span(settings: BacktestSettings, catalog: ParquetDataCatalog, instrument_id: str, mode: str = L2) -> tuple[int, int]:
    """First and last book update time (ns) the run replays: order-book deltas, or quotes in the
    top-of-book mode."""
    cls, name = (QuoteTick, "quotes") if mode == TOP_OF_BOOK else (OrderBookDelta, "order-book deltas")
    intervals = catalog.get_intervals(cls, instrument_id)
    if not intervals:
        hint = "" if mode == TOP_OF_BOOK else " (nor only quotes, for the top-of-book mode: book.mode)"
        raise BacktestError(f"the catalog {settings.catalog} holds no {name} for {instrument_id}{hint}")
    start, end = min(a for a, _ in intervals), max(b for _, b in intervals)
    if settings.start:
        start = max(start, parse_utc(settings.start).value)
    if settings.end:
        end = min(end, parse_utc(settings.end).value)
    if end <= start:
        raise BacktestError(f"no {name} of {instrument_id} between {settings.start} and {settings.end}")
    return start, end


def strategy_config(settings: BacktestSettings, end_ns: int, mode: str | None = None) -> tuple[dict, ScalpStrategyConfig | None]:
    """The strategy's config for the run, checked (a `ConfigError` before anything is loaded): the
    mapping Nautilus builds the strategy from, and the decoded config when it is a ScalpStrategy's.

    A ScalpStrategy flattens `flatten_before_end_s` before the data ends unless told otherwise, gets
    the catalog's invalid spans of the instrument (no decision inside them) and the run's book
    `mode` (`book_mode`), resolved.
    """
    s = settings.strategy
    raw = dict(s.config)
    cls = resolve_config_path(s.config_path)
    scalp = issubclass(cls, ScalpStrategyConfig)
    if scalp and not raw.get("orders", {}).get("flatten_at"):
        at = pd.Timestamp(end_ns - round(settings.flatten_before_end_s * 1e9), tz="UTC")
        raw = merge(raw, {"orders": {"flatten_at": at.isoformat()}})
    if scalp and mode is not None:
        raw = merge(raw, {"book": {"mode": mode}})
    if scalp:
        store = settings.catalog_store
        spans = read_invalid_spans(store.location, settings.instrument_id, store.storage_options)
        if spans:
            log.info("%s: %d invalid span(s) in the catalog: no decision inside them", settings.instrument_id, len(spans))
            raw = {**raw, "invalid_spans": [*raw.get("invalid_spans", ()), *spans]}
    decoded = check_strategy_config(raw, s.config_path, settings.instrument_id, "strategy config")
    return {**raw, "instrument_id": settings.instrument_id}, decoded if scalp else None


def data_configs(
    settings: BacktestSettings,
    catalog: ParquetDataCatalog,
    iid: InstrumentId,
    span: tuple[int, int] | None = None,
    mode: str = L2,
) -> list[BacktestDataConfig]:
    """One data config per catalog type the instrument has, in `CATALOG_DATA_TYPES` order (the
    order equal timestamps replay in); in the top-of-book `mode` without the order-book deltas.
    Funding history starts `funding_history_days` before the book data, also when `start` cuts the
    run later: the funding detector's window needs past settlements, while replaying years of
    history would tick the strategy's timers through every second of them. `span`: the run's
    `data_span`, if the caller has it."""
    start_ns, _ = span or data_span(settings, catalog, iid.value, mode)
    funding_start = pd.Timestamp(start_ns - round(settings.funding_history_days * 86_400e9), tz="UTC").isoformat()
    return [
        BacktestDataConfig(
            **settings.catalog_store.data_config_fields(),
            data_cls=f"{cls.__module__}:{cls.__name__}",
            instrument_id=iid,
            start_time=funding_start if cls is FundingRateUpdate else settings.start,
            end_time=settings.end,
        )
        for cls in CATALOG_DATA_TYPES
        if catalog.get_intervals(cls, iid.value) and not (mode == TOP_OF_BOOK and cls is OrderBookDelta)
    ]


def venue_execution(
    settings: BacktestSettings, scalp: ScalpStrategyConfig | None, instrument: Instrument
) -> tuple[bool, FeeSchedule]:
    """The venue's queue model and fee rates for the run's strategy (`scalp`: its config when it is a
    ScalpStrategy): `venue.queue_position` null means on exactly when a ScalpStrategy rests maker
    orders (`orders.entry` or `exits.take_profit_order` maker); `venue.fees` null rates are the
    strategy's (`fee_schedule`: the rates its targets assume, by default the venue's regular tier for
    `instrument`), for other strategies the instrument's."""
    v = settings.venue
    maker = scalp is not None and "maker" in (scalp.orders.entry, scalp.exits.take_profit_order)
    queue_position = maker if v.queue_position is None else v.queue_position
    if queue_position and not v.trade_execution:
        raise ConfigError("venue.queue_position needs venue.trade_execution: only trades at the price move the queue")
    fees = v.fees if scalp is None else v.fees.over(fee_schedule(scalp, instrument))
    return queue_position, fees


def venue_book_type(configured: str | None, mode: str) -> str:
    """`venue.book_type` for the run: null is L2_MBP, or L1_MBP in the top-of-book mode, whose
    quotes Nautilus's matching engine reads only into an L1_MBP book."""
    if mode != TOP_OF_BOOK:
        return configured or "L2_MBP"
    if configured not in (None, "L1_MBP"):
        raise ConfigError(
            f"venue.book_type {configured}: a top-of-book run (quotes, no order-book deltas) fills against "
            "an L1_MBP book; set it to L1_MBP or null"
        )
    return "L1_MBP"


def build_run_config(
    settings: BacktestSettings,
    instrument: Instrument,
    catalog: ParquetDataCatalog,
    span: tuple[int, int] | None = None,
    mode: str | None = None,
) -> BacktestRunConfig:
    """The Nautilus run config; `span`: the run's `data_span`, `mode` its `book_mode`, if the caller
    has them."""
    iid = instrument.id
    settle = instrument.get_settlement_currency().code
    for balance in settings.venue.starting_balances:
        if balance.split()[-1] != settle:
            raise ConfigError(
                f"venue.starting_balances: {balance!r} is not in {settle}, the settlement currency of {iid}",
            )
    mode = mode or book_mode(settings, catalog)
    start_ns, end_ns = span = span or data_span(settings, catalog, iid.value, mode)
    data = data_configs(settings, catalog, iid, span, mode)
    v = settings.venue
    config, scalp = strategy_config(settings, end_ns, mode)
    queue_position, fees = venue_execution(settings, scalp, instrument)
    venue = BacktestVenueConfig(
        name=v.name,
        oms_type=v.oms_type,
        account_type=v.account_type,
        starting_balances=list(v.starting_balances),
        default_leverage=v.default_leverage,
        book_type=venue_book_type(v.book_type, mode),
        trade_execution=v.trade_execution,
        liquidity_consumption=v.liquidity_consumption,
        queue_position=queue_position,
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
        fee_model=ImportableFeeModelConfig(
            fee_model_path=f"{RateFeeModel.__module__}:{RateFeeModel.__name__}",
            config_path=f"{RateFeeModelConfig.__module__}:{RateFeeModelConfig.__name__}",
            config={"fees": fees},
        ),
    )
    strategy = ImportableStrategyConfig(
        strategy_path=settings.strategy.path,
        config_path=settings.strategy.config_path,
        config=config,
    )
    progress = ImportableActorConfig(
        actor_path=f"{ProgressActor.__module__}:{ProgressActor.__name__}",
        config_path=f"{ProgressActorConfig.__module__}:{ProgressActorConfig.__name__}",
        config={"start_ns": start_ns, "end_ns": end_ns, "every_wall_s": settings.progress_every_s},
    )
    engine = BacktestEngineConfig(
        strategies=[strategy],
        actors=[progress],
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
    store = settings.catalog_store
    store.check()
    catalog = store.catalog()
    instrument = catalog_instrument(catalog, settings.instrument_id)
    mode = book_mode(settings, catalog)
    span = data_span(settings, catalog, instrument.id.value, mode)
    run_config = build_run_config(settings, instrument, catalog, span, mode)
    node = StreamingBacktestNode(configs=[run_config])
    started = time.perf_counter()
    try:
        with old_objects_frozen():
            results = node.run()
        if not results:
            raise BacktestError("the backtest produced no result (see the log above)")
        trader = node.get_engine(run_config.id).trader
        outcome = BacktestOutcome(
            results[0],
            instrument,
            Path(settings.reports_dir),
            fills=trader.generate_order_fills_report(),
            positions=trader.generate_positions_report(),
            account=trader.generate_account_report(Venue(settings.venue.name)),
            wall_seconds=time.perf_counter() - started,
            starting_balance=_starting_balance(settings, instrument),
            data_span=span,
            strategies=[s.report() for s in trader.strategies() if hasattr(s, "report")],
        )
    finally:
        node.dispose()
    write_reports(outcome, plots=settings.plots)
    return outcome


def _starting_balance(settings: BacktestSettings, instrument: Instrument) -> float:
    settle = instrument.get_settlement_currency().code
    return sum(float(b.split()[0]) for b in settings.venue.starting_balances if b.split()[-1] == settle)
