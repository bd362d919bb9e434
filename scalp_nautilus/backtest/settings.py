"""`configs/backtest.yaml`: what to replay, how the simulated venue behaves, which strategy runs.

Every modelling assumption of the simulated exchange is a named field here (fees, latency, fill
probabilities in the venue section; funding is booked by the strategy, see
`scalp_nautilus.strategy.funding`), so a backtest's result can always be traced to its assumptions.
The strategy's own parameters live in their own file (`strategy.config_file`, e.g.
`configs/strategy.yaml`), checked as strictly as this one by `load_backtest_settings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from typing import Any
from typing import Literal

import msgspec
from msgspec import Meta

from nautilus_trader.common.config import resolve_config_path

from scalp_nautilus.config import ConfigError
from scalp_nautilus.config import decode
from scalp_nautilus.config import load_yaml
from scalp_nautilus.config import merge
from scalp_nautilus.config import parse_utc
from scalp_nautilus.config import read_yaml
from scalp_nautilus.data.catalog_store import CatalogStore
from scalp_nautilus.fees import FeeSchedule


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class FillSettings(_Section, frozen=True):
    """Nautilus `FillModel`: probabilities applied by the matching engine."""

    # Chance that a resting limit order fills when the market reaches exactly its price (per match attempt)
    prob_fill_on_limit: Annotated[float, Meta(ge=0.0, le=1.0)] = 1.0
    # Chance that a market order fills one tick worse (Nautilus applies it to L1_MBP books only)
    prob_slippage: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.0
    random_seed: int = 42  # seed of the fill model's draws


class LatencySettings(_Section, frozen=True):
    """Nautilus `LatencyModel`: one-way delay from the strategy to the venue, in milliseconds."""

    base_ms: Annotated[float, Meta(ge=0.0)] = 5.0  # every command: the order reaches the venue this much later
    insert_ms: Annotated[float, Meta(ge=0.0)] = 0.0  # added to base_ms for new orders
    update_ms: Annotated[float, Meta(ge=0.0)] = 0.0  # added to base_ms for modifications
    cancel_ms: Annotated[float, Meta(ge=0.0)] = 0.0  # added to base_ms for cancels


class VenueSettings(_Section, frozen=True):
    """The simulated exchange: account, book, matching rules, fees, fills and latency."""

    # The simulated exchange's name: null (the default) is the instrument id's venue, so
    # `--instrument` alone picks it; a name given must be that venue.
    name: str | None = None
    oms_type: Literal["NETTING", "HEDGING"] = "NETTING"  # NETTING: one position per instrument; HEDGING: one per entry
    account_type: Literal["MARGIN", "CASH"] = "MARGIN"  # MARGIN for perpetual futures, CASH for spot
    # Currency must be the instrument's settlement currency (USDT for USDT-M, BTC for BTCUSD-PERP).
    starting_balances: list[str] = msgspec.field(default_factory=lambda: ["10000 USDT"])
    default_leverage: Annotated[float, Meta(gt=0.0, le=125.0)] = 10.0  # the account's leverage for every instrument
    # The book the matching engine fills against; null: L2_MBP, or L1_MBP (the quotes) when the
    # strategy runs in the top-of-book mode (`book.mode`; docs/features.md#top-of-book)
    book_type: Literal["L1_MBP", "L2_MBP", "L3_MBO"] | None = None
    # Fills against the replayed book; trades also fill resting orders they cross.
    trade_execution: bool = True
    # Fills consume the book's liquidity so repeated orders do not fill twice at one level.
    liquidity_consumption: bool = True
    # Nautilus's queue position for resting orders (needs trade_execution); null: on when the
    # strategy rests maker orders. docs/execution.md has the rules and which way each errs.
    queue_position: bool | None = None
    # Commission rates (`scalp_nautilus.fees`); a rate left null is the strategy's (ScalpStrategy: the
    # rates its targets assume, `fee_schedule`), for other strategies the instrument's own.
    fees: FeeSchedule = msgspec.field(default_factory=FeeSchedule)
    fill: FillSettings = msgspec.field(default_factory=FillSettings)
    latency: LatencySettings = msgspec.field(default_factory=LatencySettings)


class StrategySettings(_Section, frozen=True):
    """Any Nautilus strategy by import path (ScalpStrategy by default). Its config: the YAML file
    `config_file` (relative to the backtest config's folder) with `config` merged over it key by
    key; `instrument_id` is filled in from the run."""

    path: str = "scalp_nautilus.strategy:ScalpStrategy"  # the strategy class, module:Class
    config_path: str = "scalp_nautilus.strategy:ScalpStrategyConfig"  # its config class, module:Class
    config_file: str | None = None  # YAML file of the strategy's config, relative to this config's folder
    # Keys merged over config_file's, section by section, e.g. {vpin: {window_minutes: 2}}
    config: dict[str, Any] = msgspec.field(default_factory=dict)


class BacktestSettings(_Section, frozen=True):
    # The Parquet data catalog: a folder, or object storage by URL (s3://bucket/prefix; scale.md)
    catalog: str = "catalog"
    # Object storage options (fsspec's), e.g. {endpoint_url: ..., client_kwargs: {region_name: ...}};
    # credentials from the AWS_* environment unless given here (key, secret)
    catalog_storage_options: dict[str, Any] = msgspec.field(default_factory=dict)
    # The instrument to replay, e.g. BTCUSDT-PERP.BINANCE (the simulator's: BTCUSDT-PERP.SIM)
    instrument_id: str = "BTCUSDT-PERP.BINANCE"
    start: str | None = None  # ISO time (UTC); null: the catalog's first event
    end: str | None = None  # ISO time (UTC); null: the catalog's last event
    venue: VenueSettings = msgspec.field(default_factory=VenueSettings)
    strategy: StrategySettings = msgspec.field(default_factory=StrategySettings)
    reports_dir: str = "reports"  # CSVs, plots and summary.txt go here
    plots: bool = True  # PNG plots in the reports folder beside the CSVs
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"  # Nautilus's own log level
    # Stream the catalog in chunks of this many objects per data type (memory flat in the data's
    # length, the same events in the same order as whole loading); null loads it whole.
    chunk_size: Annotated[int, Meta(gt=0)] | None = 100_000
    # Funding history replayed before the book data (the funding detector's window: 90 settlements
    # of 8 h are 30 days); older records are not read.
    funding_history_days: Annotated[float, Meta(ge=0.0)] = 35.0
    # ScalpStrategy closes what it holds this long before the data ends (its `orders.flatten_at`,
    # unless the strategy config sets one): Nautilus fills nothing submitted after the last event.
    flatten_before_end_s: Annotated[float, Meta(ge=0.0)] = 5.0
    progress_every_s: Annotated[float, Meta(gt=0.0)] = 5.0  # wall seconds between progress lines

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            if getattr(self, name) is not None:
                parse_utc(getattr(self, name), name)

    @property
    def catalog_store(self) -> CatalogStore:
        return CatalogStore(self.catalog, self.catalog_storage_options)


def load_backtest_settings(
    path: str | Path,
    overrides: dict[str, Any] | None = None,
    strategy_overrides: dict[str, Any] | None = None,
) -> BacktestSettings:
    """`load_yaml` of a backtest config, plus its strategy config: `strategy.config_file` read and
    checked on its own (errors name that file), then `strategy.config` and `strategy_overrides`
    merged over it and checked again (errors name this file). The result carries the merged
    strategy config in `strategy.config` (and no file)."""
    settings = load_yaml(path, BacktestSettings, overrides)
    venue = msgspec.structs.replace(settings.venue, name=instrument_venue(path, settings))
    strategy = resolve_strategy(path, settings.strategy, settings.instrument_id, strategy_overrides)
    return msgspec.structs.replace(settings, venue=venue, strategy=strategy)


def instrument_venue(path: str | Path, settings: BacktestSettings) -> str:
    """The simulated venue: the instrument's; `venue.name`, when set, must agree with it."""
    iid = settings.instrument_id
    venue = iid.rpartition(".")[2]
    if not venue:
        raise ConfigError(f"{path}: key `instrument_id`: {iid!r} has no venue (SYMBOL.VENUE, e.g. BTCUSDT-PERP.BINANCE)")
    name = settings.venue.name
    if name is not None and name != venue:
        raise ConfigError(
            f"{path}: key `venue.name`: {name!r} is not the venue of {iid} ({venue}): set it to {venue} or null "
            "(the instrument's venue)"
        )
    return venue


def resolve_strategy(
    path: str | Path,
    strategy: StrategySettings,
    instrument_id: str,
    overrides: dict[str, Any] | None = None,
) -> StrategySettings:
    """The `strategy` section of the config file at `path` (a backtest's or a live node's) with
    its `config_file` read and checked on its own (errors name that file), then `config` and
    `overrides` merged over it and checked again (errors name `path`). The result carries the
    merged config in `config` (and no file)."""
    raw: dict[str, Any] = {}
    sources = [f"{path} (strategy.config)"]
    if strategy.config_file:
        file = Path(path).parent / strategy.config_file
        raw = read_yaml(file)
        check_strategy_config(raw, strategy.config_path, instrument_id, str(file))
        sources.append(f"merged over {file}")
    merged = merge(raw, strategy.config, overrides)
    check_strategy_config(merged, strategy.config_path, instrument_id, " ".join(sources))
    return msgspec.structs.replace(strategy, config_file=None, config=merged)


def check_strategy_config(raw: dict[str, Any], config_path: str, instrument_id: str, source: str):
    """Decode a strategy config (with the run's instrument) strictly; `ConfigError` names `source`."""
    try:
        cls = resolve_config_path(config_path)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"{source}: strategy.config_path {config_path!r} cannot be imported: {exc}") from None
    return decode({**raw, "instrument_id": instrument_id}, cls, source)
