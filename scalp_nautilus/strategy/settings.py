"""`ScalpStrategyConfig`: every parameter of the strategy, its features and its decision, in one
frozen, typed Nautilus config; and `build_pipeline`, which builds each indicator from its section.

The features' sections are their indicators' own settings (`scalp_nautilus.indicators.settings`,
DESIGN.md section 3's defaults); times are in seconds. Ranges are checked by msgspec when
the config is decoded (`Annotated[..., Meta(...)]`), relations between fields in `__post_init__`,
so a bad `configs/strategy.yaml` fails before a run with the file, the key and what is expected
(`scalp_nautilus.config.load_yaml`). Nautilus's own config base refuses unknown keys.

Two fields have no default because they depend on the instrument: `vpin.volume_per_hour` (the
VPIN bucket size) and `orders.base_size` (the position size before the multipliers).
"""

from __future__ import annotations

from typing import Annotated
from typing import Literal

import msgspec
from msgspec import Meta

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import CryptoPerpetual
from nautilus_trader.model.instruments import Instrument

from scalp_nautilus.book import BookSnapshotBuilder
from scalp_nautilus.config import parse_utc
from scalp_nautilus.feature_table import HURST_MEAN_REVERSION_BELOW
from scalp_nautilus.feature_table import HURST_MOMENTUM_ABOVE
from scalp_nautilus.features import FeaturePipeline
from scalp_nautilus.fees import FeeSchedule
from scalp_nautilus.fees import venue_fees
from scalp_nautilus.indicators import VPIN
from scalp_nautilus.indicators import CumulativeVolumeDelta
from scalp_nautilus.indicators import FundingArbDetector
from scalp_nautilus.indicators import HurstExponent
from scalp_nautilus.indicators import LeeReadyClassifier
from scalp_nautilus.indicators import LiquidityMetrics
from scalp_nautilus.indicators import LOBFeatureVector
from scalp_nautilus.indicators import MicrostructureRegime
from scalp_nautilus.indicators import OrderFlowImbalance
from scalp_nautilus.indicators import OUZScore
from scalp_nautilus.indicators import ParkinsonVolatility
from scalp_nautilus.indicators.settings import ClassifierSettings
from scalp_nautilus.indicators.settings import Count
from scalp_nautilus.indicators.settings import CVDSettings
from scalp_nautilus.indicators.settings import EnsembleSettings
from scalp_nautilus.indicators.settings import FundingSettings
from scalp_nautilus.indicators.settings import HurstSettings
from scalp_nautilus.indicators.settings import LiquiditySettings
from scalp_nautilus.indicators.settings import LOBSettings
from scalp_nautilus.indicators.settings import LSTMSettings
from scalp_nautilus.indicators.settings import NonNegative
from scalp_nautilus.indicators.settings import OFISettings
from scalp_nautilus.indicators.settings import OUSettings
from scalp_nautilus.indicators.settings import ParkinsonSettings
from scalp_nautilus.indicators.settings import Positive
from scalp_nautilus.indicators.settings import RegimeSettings
from scalp_nautilus.indicators.settings import Section
from scalp_nautilus.indicators.settings import Unit
from scalp_nautilus.indicators.settings import VPINSettings
from scalp_nautilus.indicators.settings import increasing
from scalp_nautilus.indicators.settings import ns
from scalp_nautilus.models import LSTMPredictor
from scalp_nautilus.models import SignalEnsemble
from scalp_nautilus.top_of_book import book_levels
from scalp_nautilus.top_of_book import ensemble_weights


class BookSettings(Section, frozen=True):
    """The one `BookSnapshot` per delta batch."""

    depth: Count = 10  # levels per side read from the book (OFI and the LOB vector use the top 5)
    band_bps: Positive = 10.0  # half-width of the depth band around the mid (regime depth axis)
    band_refresh_s: NonNegative = 1.0  # re-read each side's band notional at most this often
    # Which book the strategy reads: l2 (order-book deltas, every level), top_of_book (quote ticks:
    # a best bid/ask; what needs depth is unavailable, DESIGN §8, docs/features.md#top-of-book), or
    # auto: top_of_book when the backtest's or replay's catalog holds quotes and no deltas for the
    # instrument, else l2 (a live node reads l2)
    mode: Literal["auto", "l2", "top_of_book"] = "auto"


class SignalSettings(Section, frozen=True):
    """Regime selection by Hurst and the entry signals (DESIGN section 1 and 3).

    H < `hurst_mean_reversion_below`: mean reversion (OU). H > `hurst_momentum_above`: momentum
    (OFI and CVD). `dead_zone_low` <= H <= `dead_zone_high`: no new position of any kind (it wins
    where it overlaps a regime). Between a regime bound and the dead zone (0.40-0.45, 0.55-0.60 by
    default) no microstructure signal is active; only funding entries may open.
    """

    hurst_mean_reversion_below: Unit = HURST_MEAN_REVERSION_BELOW  # H below it: mean reversion (OU); also the OU z-score's gate
    hurst_momentum_above: Unit = HURST_MOMENTUM_ABOVE  # H above it: momentum (OFI and CVD)
    dead_zone_low: Unit = 0.45  # no new position of any kind while dead_zone_low <= H <= dead_zone_high
    dead_zone_high: Unit = 0.55  # upper end of the dead zone
    min_direction: Unit = 0.5  # |weighted direction of the active members| needed for a signal
    cvd_divergence_override: Unit = 0.3  # |divergence| above it replaces momentum by the flow's side

    def __post_init__(self) -> None:
        increasing(
            "signals", hurst_mean_reversion_below=self.hurst_mean_reversion_below, hurst_momentum_above=self.hurst_momentum_above
        )
        increasing("signals", dead_zone_low=self.dead_zone_low, dead_zone_high=self.dead_zone_high)


class ExitSettings(Section, frozen=True):
    """Exits, never blocked by any gate. Stop = entry -/+ `stop_k` x sigma x sqrt(horizon bars),
    sigma the Parkinson/realized blend per bar; DESIGN's literal stop is `stop_horizon_s` = one
    bar (under 1 bp on BTC, inside the spread plus fees), so the default sizes it for a minute."""

    stop_k: Positive = 2.0  # stop distance in sigmas (sigma per bar, scaled by sqrt(stop_horizon_s / bar))
    stop_horizon_s: Positive = 60.0  # the stop is sized for this horizon; 1 bar is DESIGN's literal stop
    # taker: the decision exits at market once the mid crosses the take-profit price; maker: a
    # reduce-only post-only limit rests at that price from the entry's fill on (the stop, time stop,
    # flatten and stale-feed exits stay market orders).
    take_profit_order: Literal["taker", "maker"] = "taker"
    # Floor of the take-profit distance, bps of the entry. null: the round trip's fees for the
    # chosen modes (`fees`) plus the spread at the entry, so a take-profit never books a net loss.
    min_take_profit_bps: NonNegative | None = None
    min_stop_bps: NonNegative = 0.0  # floor of the stop distance, bps of the entry
    take_profit_k: NonNegative = 3.0  # same sigma units as the stop; 0: no take-profit
    time_stop_s: NonNegative = 120.0  # 0: no time stop (funding positions exit after their settlement)
    # No book batch for this long on the node's clock while in a position: exit at market, since
    # stops cannot fire on a book that does not move (a silent feed, not a quiet market: BTCUSDT
    # updates 20-90 times a second). 0: never.
    stale_feed_s: NonNegative = 5.0
    # The protective stop resting at the exchange (`Execution`): a reduce-only stop-market order
    # this many times the strategy's own stop distance from the entry, placed once an entry has
    # filled, so a position keeps a stop when the process dies. Wider than the strategy's stop, so
    # that one normally fires first. 0: none. Its trigger: the venue's mark price or last price.
    exchange_stop_k: NonNegative = 2.0
    exchange_stop_trigger: Literal["mark", "last"] = "mark"  # the venue price that triggers the exchange stop: mark or last


class OrderSettings(Section, frozen=True):
    """Orders (`scalp_nautilus.strategy.execution`). `entry: taker`: an IOC limit
    `entry_slippage_bps` through the touch (a partial fill is kept, the rest cancelled). `entry:
    maker`: a post-only limit joining the touch (a buy at the best bid), cancelled after
    `maker_ttl_ms` or when the signal is gone, and re-posted at the new touch when the touch moves
    `reprice_ticks` away from it; a partial fill keeps what filled and cancels the rest. Exits are
    reduce-only market orders (take-profits: `exits.take_profit_order`)."""

    base_size: Positive  # instrument size units (BTC for BTCUSDT, contracts for BTCUSD COIN-M)
    # Taker: IOC limit through the touch; maker: post-only limit at the touch (class doc)
    entry: Literal["taker", "maker"] = "taker"
    entry_slippage_bps: NonNegative = 5.0  # taker entries
    maker_ttl_ms: Positive = 2_000.0  # a resting maker entry is cancelled after this (exchange time)
    reprice_ticks: Count = 1  # the touch moved this many ticks away from a resting maker entry: re-post
    cooldown_s: NonNegative = 5.0  # after a position closes, no new entry for this long
    flatten_at: str | None = None  # ISO time (UTC): no entries after it, open position closed at it
    # ISO time (UTC): no entries before it (outcome `warm_up`): the data before it only warms the
    # features up, as a walk-forward window's lead-in does
    trade_from: str | None = None
    # After the venue rejects an order, no other order (entry or exit) for this long of exchange
    # time: a refused exit usually means our view of the position is off, and resending it on every
    # book update would flood the venue.
    reject_pause_s: NonNegative = 1.0

    def __post_init__(self) -> None:
        if self.flatten_at is not None:
            parse_utc(self.flatten_at, "flatten_at")
        if self.trade_from is not None:
            parse_utc(self.trade_from, "trade_from")


class StateSettings(Section, frozen=True):
    """Warm state across live restarts: the feature pipeline's rolling state (every indicator's
    windows, buckets and histories) is saved to `path` on stop and every `save_every_s`, and
    restored on start indicator by indicator: each one saved with its current parameters, when the
    file is at most `max_age_s` old (the funding history: `funding_max_age_s`); the others warm
    up again and no signal is taken until they are warm. `path` null (backtests): nothing is saved
    or restored."""

    path: str | None = None  # JSON state file; null: nothing saved or restored (backtests)
    save_every_s: Positive = 60.0  # saved this often while running, and on stop
    max_age_s: Positive = 300.0  # an older state is ignored at start: the indicators warm up again
    # The slow state's own age limit: the funding history (about 30 settlements, ten days at 8 h)
    # is restored from a file up to this old (a day misses at most three 8 h settlements), while
    # the rest warms up again past `max_age_s`.
    funding_max_age_s: Positive = 86_400.0


class RiskSettings(Section, frozen=True):
    """The strategy's risk limits (`scalp_nautilus.strategy.risk`); each 0 is off. A breach trips
    the kill switch: orders cancelled, position closed, no entry until the operator clears the halt
    (`scalp-nautilus live ... --clear-halt`); with `state.path` the halt is kept in the state file.
    Backtests apply the same limits. Money in the instrument's settlement currency."""

    max_position_notional: NonNegative = 0.0  # |position| x mid above it trips
    daily_loss_limit: NonNegative = 0.0  # realised + unrealised + fees + funding since 00:00 UTC below minus this trips
    max_consecutive_losses: Annotated[int, Meta(ge=0)] = 0  # this many losing round trips (after fees) in a row trip
    max_orders_per_minute: Annotated[int, Meta(ge=0)] = 0  # an order beyond this many in 60 s trips (exits still go)


class LagSettings(Section, frozen=True):
    """The lag guard (`scalp_nautilus.strategy.lag`): how late a book batch may be decided, on
    the node's clock against the exchange's event time and against its receipt, before entries
    stop; they resume once a batch is decided within `resume_ms`. Exits are never blocked.
    Backtests decide on the data's own clock: no lag."""

    max_ms: NonNegative = 1000.0  # a batch decided later than this (either clock) stops entries; 0: measure and report only
    resume_ms: NonNegative = 200.0  # entries resume once a batch is decided within this of both clocks (caught up)
    window: Count = 2048  # batches behind the recent percentiles (heartbeat, metrics)

    def __post_init__(self) -> None:
        if self.max_ms:
            increasing("lag", resume_ms=self.resume_ms, max_ms=self.max_ms)


class ScalpStrategyConfig(StrategyConfig, frozen=True, kw_only=True):
    """Configuration of one `ScalpStrategy` instance (one instrument); see the module doc."""

    instrument_id: InstrumentId  # filled in from the backtest or live config's instrument_id
    vpin: VPINSettings
    orders: OrderSettings
    book: BookSettings = msgspec.field(default_factory=BookSettings)
    classifier: ClassifierSettings = msgspec.field(default_factory=ClassifierSettings)
    ofi: OFISettings = msgspec.field(default_factory=OFISettings)
    cvd: CVDSettings = msgspec.field(default_factory=CVDSettings)
    hurst: HurstSettings = msgspec.field(default_factory=HurstSettings)
    ou: OUSettings = msgspec.field(default_factory=OUSettings)
    parkinson: ParkinsonSettings = msgspec.field(default_factory=ParkinsonSettings)
    lob: LOBSettings = msgspec.field(default_factory=LOBSettings)
    regime: RegimeSettings = msgspec.field(default_factory=RegimeSettings)
    liquidity: LiquiditySettings = msgspec.field(default_factory=LiquiditySettings)
    funding: FundingSettings = msgspec.field(default_factory=FundingSettings)
    lstm: LSTMSettings = msgspec.field(default_factory=LSTMSettings)
    ensemble: EnsembleSettings = msgspec.field(default_factory=EnsembleSettings)
    signals: SignalSettings = msgspec.field(default_factory=SignalSettings)
    exits: ExitSettings = msgspec.field(default_factory=ExitSettings)
    # The venue's commission rates that the targets assume (`fee_schedule`: null rates are the venue's
    # regular tier for the instrument); the backtest venue charges the same unless its `venue.fees`
    # overrides them.
    fees: FeeSchedule = msgspec.field(default_factory=FeeSchedule)
    state: StateSettings = msgspec.field(default_factory=StateSettings)
    risk: RiskSettings = msgspec.field(default_factory=RiskSettings)
    lag: LagSettings = msgspec.field(default_factory=LagSettings)
    equity_sample_s: Positive = 1.0  # equity / feature timeline sampling for the reports
    record_features: str | None = None  # Parquet path: one FeatureSnapshot row per book batch
    # Exchange-time spans (ns) where the data's book cannot be trusted: no decision and no feature row
    # inside them. A backtest fills them in from its catalog (`scalp_nautilus.data.spans`).
    invalid_spans: tuple[tuple[int, int], ...] = ()


def fee_schedule(config: ScalpStrategyConfig, instrument: Instrument) -> FeeSchedule:
    """The rates the strategy's targets assume: `fees`, a rate left null being the venue's regular tier
    for the instrument (`scalp_nautilus.fees.VENUE_FEES`: Binance USD-M, Binance COIN-M, Bybit linear
    perpetuals), or for any other instrument its own maker and taker fees (what Nautilus charges by
    default: the simulator's are Binance USD-M's, a Binance spot pair's 0.1 %). A VIP tier or a
    liquidity-provider rebate (a negative maker rate) goes in `fees`."""
    venue = None
    if isinstance(instrument, CryptoPerpetual):
        coin_margined = instrument.get_settlement_currency() == instrument.base_currency
        venue = venue_fees(instrument.id.venue.value, coin_margined)
    own = FeeSchedule(maker_rate=float(instrument.maker_fee), taker_rate=float(instrument.taker_fee))
    return config.fees.over(venue or own)


def build_builder(config: ScalpStrategyConfig, instrument: Instrument) -> BookSnapshotBuilder:
    b = config.book
    return BookSnapshotBuilder.for_instrument(
        instrument,
        depth=b.depth,
        band_bps=b.band_bps,
        band_refresh_ns=ns(b.band_refresh_s),
        levels=book_levels(b.mode),
    )


def build_pipeline(config: ScalpStrategyConfig) -> FeaturePipeline:
    """Every indicator of the pipeline from its own section of the config; OU's Hurst gate is the
    decision's mean-reversion bound (one threshold for both), and the ensemble's weights leave out
    an LSTM that the book mode cannot feed (`ensemble_weights`)."""
    levels = book_levels(config.book.mode)
    lstm = LSTMPredictor(config.lstm, book_levels=levels)
    ensemble = msgspec.structs.replace(config.ensemble, weights=ensemble_weights(config.ensemble.weights, levels, lstm))
    return FeaturePipeline(
        vpin=VPIN(config.vpin),
        classifier=LeeReadyClassifier(config.classifier),
        ofi=OrderFlowImbalance(config.ofi),
        cvd=CumulativeVolumeDelta(config.cvd),
        regime=MicrostructureRegime(config.regime),
        liquidity=LiquidityMetrics(config.liquidity),
        hurst=HurstExponent(config.hurst),
        ou=OUZScore(config.ou, hurst_max=config.signals.hurst_mean_reversion_below),
        parkinson=ParkinsonVolatility(config.parkinson),
        lob=LOBFeatureVector(config.lob),
        funding=FundingArbDetector(config.funding),
        lstm=lstm,
        ensemble=SignalEnsemble(ensemble),
    )
