"""`ScalpStrategyConfig`: every parameter of the strategy, its features and its decision, in one
frozen, typed Nautilus config; and `build_pipeline`, the one place that turns it into indicators.

Sections mirror the features of DESIGN.md section 3 and keep its defaults; times are in seconds
(converted to the indicators' nanoseconds in `build_pipeline`). Ranges are checked by msgspec when
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

from nautilus_trader.config import NautilusConfig
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import CryptoPerpetual
from nautilus_trader.model.instruments import Instrument

from scalp_nautilus.book import BookSnapshotBuilder
from scalp_nautilus.config import parse_utc
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
from scalp_nautilus.models import LSTMPredictor
from scalp_nautilus.models import SignalEnsemble
from scalp_nautilus.units import NS_PER_S

Positive = Annotated[float, Meta(gt=0.0)]
NonNegative = Annotated[float, Meta(ge=0.0)]
Unit = Annotated[float, Meta(ge=0.0, le=1.0)]
Count = Annotated[int, Meta(ge=1)]
Factors = tuple[Unit, Unit, Unit]


def _ns(seconds: float) -> int:
    return round(seconds * NS_PER_S)


def _increasing(section: str, **values: float) -> None:
    names = list(values)
    for a, b in zip(names, names[1:]):
        if values[a] > values[b]:
            raise ValueError(f"{section}: need {a} <= {b}, got {values[a]} > {values[b]}")


class _Section(NautilusConfig, frozen=True, kw_only=True):
    pass


class BookSettings(_Section, frozen=True):
    """The one `BookSnapshot` per delta batch."""

    depth: Count = 10  # levels per side read from the book (OFI and the LOB vector use the top 5)
    band_bps: Positive = 10.0  # half-width of the depth band around the mid (regime depth axis)
    band_refresh_s: NonNegative = 1.0  # re-read each side's band notional at most this often


class VPINSettings(_Section, frozen=True):
    """VPIN (DESIGN 3.1). Bucket volume = window volume / n_buckets, with the window's volume =
    `volume_per_hour` x `window_minutes` / 60.

    The paper sizes the window as a day's volume; that never warms up in a backtest of an hour and
    averages away the minutes a scalper holds for, so the default window is 5 minutes of expected
    volume. On real BTCUSDT (2023-2024 captures) 1-5 minute windows sit HIGH/EXTREME nearly always
    under DESIGN's thresholds, kept as defaults: calibrate per instrument.
    """

    volume_per_hour: Positive  # expected traded volume per hour, instrument size units (BTC; contracts for COIN-M)
    window_minutes: Positive = 5.0  # the window holds this many minutes of expected volume (the paper: a day)
    n_buckets: Count = 50  # buckets in the window: bucket volume = window volume / n_buckets; VPIN averages the last n
    thresholds: Factors = (0.3, 0.5, 0.7)  # LOW below the first, MEDIUM below the second, EXTREME above the third
    multipliers: tuple[Unit, Unit, Unit, Unit] = (1.0, 0.5, 0.25, 0.0)  # size x per regime LOW..EXTREME
    # `quantile`: the bounds are these quantiles of the instrument's own last `quantile_history` VPIN
    # values (`thresholds` apply until `quantile_min` are held); `fixed`: `thresholds` always.
    threshold_mode: Literal["fixed", "quantile"] = "fixed"
    threshold_quantiles: Factors = (0.5, 0.75, 0.95)  # `quantile` mode: the quantiles taken as the LOW/MEDIUM/HIGH bounds
    quantile_history: Count = 500  # `quantile` mode: VPIN values held (one per completed bucket)
    quantile_min: Count = 50  # `quantile` mode: `thresholds` apply until this many values are held

    def __post_init__(self) -> None:
        low, medium, high = self.thresholds
        _increasing("vpin.thresholds", low=low, medium=medium, high=high)
        low, medium, high = self.threshold_quantiles
        _increasing("vpin.threshold_quantiles", low=low, medium=medium, high=high)
        _increasing("vpin", quantile_min=self.quantile_min, quantile_history=self.quantile_history)

    @property
    def window_volume(self) -> float:
        return self.volume_per_hour * self.window_minutes / 60.0


class OFISettings(_Section, frozen=True):
    """Multi-level order-flow imbalance (DESIGN 3.2)."""

    levels: Count = 5  # book levels per side summed into the multi-level OFI (Xu, Gould, Howison 2019)
    zscore_window: Count = 100  # book updates in the z-score's window


class CVDSettings(_Section, frozen=True):
    """Cumulative volume delta and its divergence from price (DESIGN 3.9)."""

    bucket_s: Positive = 1.0  # signed volume is summed in time buckets of this many seconds (event time)
    window: Annotated[int, Meta(ge=2)] = 60  # buckets in the divergence window (its halves are compared)
    zscore_window: Count = 100  # bucket values in the CVD z-score's window


class ClassifierSettings(_Section, frozen=True):
    """Lee-Ready: the venue's aggressor flag first unless `ignore_venue`."""

    ignore_venue: bool = False  # true: classify every trade by Lee-Ready even when the venue gives the aggressor side
    tick_share_warning: Unit = 0.4  # warn when the tick rule (a trade at the mid) decides more than this share of trades


class HurstSettings(_Section, frozen=True):
    """R/S Hurst exponent of the sampled mid (DESIGN 3.4); its bands are in `signals`."""

    window: Annotated[int, Meta(ge=64)] = 128  # returns of 1 s mid samples
    sample_s: Positive = 1.0  # the mid is sampled once per this many seconds of event time
    anis_lloyd: bool = False  # true: subtract the Anis-Lloyd expected R/S (small-sample bias correction)


class OUSettings(_Section, frozen=True):
    """OU z-score; its Hurst gate is `signals.hurst_mean_reversion_below` (one threshold for both)."""

    window: Annotated[int, Meta(ge=4)] = 100  # samples in the OLS fit of dX on X
    min_points: Annotated[int, Meta(ge=4)] = 50  # no z before this many samples
    refit_every: Count = 50  # samples between fits (z uses the latest fit on every sample)
    z_threshold: Positive = 2.0  # |z| above it gives a signal of -sign(z) (buy below the mean)
    decay: Unit = 0.93  # otherwise the previous signal is multiplied by this per sample
    sample_s: Positive = 1.0  # the mid is sampled once per this many seconds of event time

    def __post_init__(self) -> None:
        _increasing("ou", min_points=self.min_points, window=self.window)


class ParkinsonSettings(_Section, frozen=True):
    """Parkinson / close-to-close volatility blend (DESIGN 3.6): the stops' sigma (`exits.stop_k`)."""

    window: Annotated[int, Meta(ge=2)] = 60  # 1 s bars
    bar_s: Positive = 1.0  # bar length in seconds of event time (sigma is per bar)
    weight_parkinson: NonNegative = 0.5  # weight of the Parkinson high-low estimate in the blend
    weight_realized: NonNegative = 0.5  # weight of the close-to-close realized volatility in the blend

    def __post_init__(self) -> None:
        if self.weight_parkinson + self.weight_realized <= 0.0:
            raise ValueError("parkinson: weight_parkinson and weight_realized cannot both be 0")


class LOBSettings(_Section, frozen=True):
    """The 21-float limit-order-book vector (DESIGN 3.10), the LSTM's input."""

    zscore_window: Count = 100  # book updates in each element's z-score window
    stale_s: Positive = 2.0  # a book older than this (exchange time against receive time) gives an all-zero vector
    bar_s: Positive = 1.0  # mid bars for the RSI, EMAs, ATR and Bollinger width, in seconds
    rsi_period: Count = 14  # RSI bars
    ema_fast: Count = 12  # fast EMA bars
    ema_slow: Count = 26  # slow EMA bars
    atr_period: Count = 14  # ATR bars
    bb_period: Count = 20  # Bollinger bars
    bb_k: Positive = 2.0  # Bollinger band half-width in standard deviations (the width is an element)


class RegimeSettings(_Section, frozen=True):
    """Microstructure regime (DESIGN 3.11); depth in quote currency, per instrument."""

    spread_tight_bps: NonNegative = 5.0  # spread below it: tight
    spread_wide_bps: NonNegative = 20.0  # spread above it: wide
    depth_thick: NonNegative = 100_000.0  # notional within book.band_bps of the mid, both sides, above it: thick (quote currency)
    depth_thin: NonNegative = 10_000.0  # below it: thin (quote currency)
    activity_active: NonNegative = 10.0  # book updates per second
    activity_quiet: NonNegative = 1.0  # book updates per second below it: quiet
    activity_window_s: Positive = 5.0  # the activity rate counts book updates over this many seconds
    spread_factors: Factors = (1.0, 0.7, 0.4)  # tight / normal / wide
    depth_factors: Factors = (1.0, 0.7, 0.4)  # thick / normal / thin
    activity_factors: Factors = (1.0, 0.7, 0.5)  # active / normal / quiet
    min_multiplier: Unit = 0.2  # the product of the three factors is clamped to [min_multiplier, max_multiplier]
    max_multiplier: Unit = 1.0  # upper clamp of the product
    # `quantile`: each axis's (low, high) bounds are these quantiles of its own last
    # `quantile_history` values, sampled every `quantile_sample_s` (the fixed bounds above apply
    # until `quantile_min` samples are held); `fixed`: the bounds above always.
    threshold_mode: Literal["fixed", "quantile"] = "fixed"
    quantiles: tuple[Unit, Unit] = (0.2, 0.8)  # `quantile` mode: the (low, high) bound of each axis
    quantile_history: Count = 1800  # `quantile` mode: samples held per axis
    quantile_min: Count = 60  # `quantile` mode: the fixed bounds apply until this many samples are held
    quantile_sample_s: Positive = 1.0  # `quantile` mode: one sample per this many seconds of event time

    def __post_init__(self) -> None:
        _increasing("regime.quantiles", low=self.quantiles[0], high=self.quantiles[1])
        _increasing("regime", quantile_min=self.quantile_min, quantile_history=self.quantile_history)
        _increasing("regime", spread_tight_bps=self.spread_tight_bps, spread_wide_bps=self.spread_wide_bps)
        _increasing("regime", depth_thin=self.depth_thin, depth_thick=self.depth_thick)
        _increasing("regime", activity_quiet=self.activity_quiet, activity_active=self.activity_active)
        _increasing("regime", min_multiplier=self.min_multiplier, max_multiplier=self.max_multiplier)


class LiquiditySettings(_Section, frozen=True):
    """Liquidity metrics and Kyle's lambda (DESIGN 3.13)."""

    levels: Count = 10  # book levels per side in the depth, imbalance and slippage measures
    slippage_size: Positive = 1.0  # instrument size units
    # Weight of the newest depth in its EWMA (resilience and depth shocks)
    ewma_alpha: Annotated[float, Meta(gt=0.0, le=1.0)] = 0.05
    shock_ratio: Unit = 0.7  # depth below this fraction of its EWMA: a depth shock
    # Kyle's lambda: 1 s intervals in the regression of the mid change on signed volume
    lambda_window: Annotated[int, Meta(ge=3)] = 120
    lambda_min_points: Annotated[int, Meta(ge=3)] = 30  # Kyle's lambda: no estimate before this many intervals

    def __post_init__(self) -> None:
        _increasing("liquidity", lambda_min_points=self.lambda_min_points, lambda_window=self.lambda_window)


class FundingSettings(_Section, frozen=True):
    """Funding-arb detector (DESIGN 3.12), its entries, and the funding feed.

    `feed`: `funding_rates` subscribes to Nautilus's `FundingRateUpdate` and `MarkPriceUpdate`
    (backtests, Bybit); `binance_mark_price` to Binance's `BinanceFuturesMarkPriceUpdate` custom
    data (live Binance futures, which has no funding-rate subscription).
    """

    window: Annotated[int, Meta(ge=2)] = 90  # settled rates in the history the z-score is taken against
    min_history: Annotated[int, Meta(ge=2)] = 30  # no signal before this many settled rates
    z_threshold: Positive = 3.0  # |z| of the latest rate above it flags an opportunity (direction -sign(z))
    entries: bool = True  # trade flagged opportunities
    entry_window_s: Positive = 600.0  # enter only this close before the next settlement
    hold_after_s: NonNegative = 10.0  # exit this long after the settlement collected
    settle_grace_s: Positive = 60.0  # book a settlement this long after it when no later rate came
    # Where funding comes from (class doc): funding_rates or binance_mark_price
    feed: Literal["funding_rates", "binance_mark_price"] = "funding_rates"

    def __post_init__(self) -> None:
        _increasing("funding", min_history=self.min_history, window=self.window)


class LSTMSettings(_Section, frozen=True):
    """LSTM predictor (DESIGN 3.7). Without `model_path` (or with a file that is refused, or once the
    accuracy guard switched the model off) it runs the logged fallback tanh(mean(LOB vector)) with
    confidence 0. A model prediction costs ~0.3 ms on one CPU thread, about ten times a whole
    feature update, so by default it predicts at most every 100 ms of event time, not every batch.
    The sequence length is the model file's (50 without a model).
    """

    model_path: str | None = None  # a file written by `scalp-nautilus train`
    cadence_ms: NonNegative = 100.0  # 0: predict on every book batch
    accuracy_window: Count = 500  # direction calls in the rolling accuracy
    min_accuracy: Unit = 0.52  # below this over a full window the model is ignored until reloaded
    torch_threads: Count = 1  # torch intra-op threads (1 was fastest for batch-of-one inference here)


class EnsembleSettings(_Section, frozen=True):
    """Ensemble (DESIGN 3.8): member weights (OFI, LSTM, OU, CVD) and the confidence gate.

    `gate_members`: `active` gates on the agreement of the members of the signal set Hurst selected
    (momentum: OFI, CVD; mean reversion: OU; plus the LSTM when a model is active), weights
    restricted to them and renormalised; `all` gates on the pipeline's four-member ensemble as
    DESIGN states it, which almost never reaches 0.6 (a silent OU member outside H < 0.4 and the
    LSTM fallback's noise pull the agreement down; p95 0.15-0.3 on the real captures).
    """

    # Member weights: OFI, LSTM, OU, CVD (sum 1)
    weights: tuple[NonNegative, NonNegative, NonNegative, NonNegative] = (0.25, 0.25, 0.25, 0.25)
    confidence_gate: Unit = 0.6  # trade only when the members' agreement is above it
    # Active: agreement of the signal set Hurst selected; all: all four members (class doc)
    gate_members: Literal["active", "all"] = "active"

    def __post_init__(self) -> None:
        if abs(sum(self.weights) - 1.0) > 1e-9:
            raise ValueError(f"ensemble.weights must sum to 1, got {sum(self.weights)}")


class SignalSettings(_Section, frozen=True):
    """Regime selection by Hurst and the entry signals (DESIGN section 1 and 3).

    H < `hurst_mean_reversion_below`: mean reversion (OU). H > `hurst_momentum_above`: momentum
    (OFI and CVD). `dead_zone_low` <= H <= `dead_zone_high`: no new position of any kind (it wins
    where it overlaps a regime). Between a regime bound and the dead zone (0.40-0.45, 0.55-0.60 by
    default) no microstructure signal is active; only funding entries may open.
    """

    hurst_mean_reversion_below: Unit = 0.4  # H below it: mean reversion (OU); also the OU z-score's gate
    hurst_momentum_above: Unit = 0.6  # H above it: momentum (OFI and CVD)
    dead_zone_low: Unit = 0.45  # no new position of any kind while dead_zone_low <= H <= dead_zone_high
    dead_zone_high: Unit = 0.55  # upper end of the dead zone
    min_direction: Unit = 0.5  # |weighted direction of the active members| needed for a signal
    cvd_divergence_override: Unit = 0.3  # |divergence| above it replaces momentum by the flow's side

    def __post_init__(self) -> None:
        _increasing(
            "signals", hurst_mean_reversion_below=self.hurst_mean_reversion_below, hurst_momentum_above=self.hurst_momentum_above
        )
        _increasing("signals", dead_zone_low=self.dead_zone_low, dead_zone_high=self.dead_zone_high)


class ExitSettings(_Section, frozen=True):
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


class OrderSettings(_Section, frozen=True):
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


class StateSettings(_Section, frozen=True):
    """Warm state across live restarts: the feature pipeline's rolling state (every indicator's
    windows, buckets and histories) is saved to `path` on stop and every `save_every_s`, and
    restored on start when it is at most `max_age_s` old and was saved with the same parameters;
    otherwise the indicators warm up again and no signal is taken until they are warm. `path`
    null (backtests): nothing is saved or restored."""

    path: str | None = None  # JSON state file; null: nothing saved or restored (backtests)
    save_every_s: Positive = 60.0  # saved this often while running, and on stop
    max_age_s: Positive = 300.0  # an older state is ignored at start: the indicators warm up again


class RiskSettings(_Section, frozen=True):
    """The strategy's risk limits (`scalp_nautilus.strategy.risk`); each 0 is off. A breach trips
    the kill switch: orders cancelled, position closed, no entry until the operator clears the halt
    (`scalp-nautilus live ... --clear-halt`); with `state.path` the halt is kept in the state file.
    Backtests apply the same limits. Money in the instrument's settlement currency."""

    max_position_notional: NonNegative = 0.0  # |position| x mid above it trips
    daily_loss_limit: NonNegative = 0.0  # realised + unrealised + fees + funding since 00:00 UTC below minus this trips
    max_consecutive_losses: Annotated[int, Meta(ge=0)] = 0  # this many losing round trips (after fees) in a row trip
    max_orders_per_minute: Annotated[int, Meta(ge=0)] = 0  # an order beyond this many in 60 s trips (exits still go)


class LagSettings(_Section, frozen=True):
    """The lag guard (`scalp_nautilus.strategy.lag`): how late a book batch may be decided, on
    the node's clock against the exchange's event time and against its receipt, before entries
    stop; they resume once a batch is decided within `resume_ms`. Exits are never blocked.
    Backtests decide on the data's own clock: no lag."""

    max_ms: NonNegative = 1000.0  # a batch decided later than this (either clock) stops entries; 0: measure and report only
    resume_ms: NonNegative = 200.0  # entries resume once a batch is decided within this of both clocks (caught up)
    window: Count = 2048  # batches behind the recent percentiles (heartbeat, metrics)

    def __post_init__(self) -> None:
        if self.max_ms:
            _increasing("lag", resume_ms=self.resume_ms, max_ms=self.max_ms)


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
        band_refresh_ns=_ns(b.band_refresh_s),
    )


def build_pipeline(config: ScalpStrategyConfig) -> FeaturePipeline:
    """Every indicator of the pipeline from the config (the one place that maps fields to them), by
    keyword: several parameters share a type and a default (`tests/test_config_wiring.py`)."""
    v, c, h, o, p, lob, r, liq, f = (
        config.vpin,
        config.cvd,
        config.hurst,
        config.ou,
        config.parkinson,
        config.lob,
        config.regime,
        config.liquidity,
        config.funding,
    )
    return FeaturePipeline(
        vpin=VPIN(
            window_volume=v.window_volume,
            n_buckets=v.n_buckets,
            thresholds=v.thresholds,
            multipliers=v.multipliers,
            threshold_mode=v.threshold_mode,
            threshold_quantiles=v.threshold_quantiles,
            quantile_history=v.quantile_history,
            quantile_min=v.quantile_min,
        ),
        classifier=LeeReadyClassifier(
            ignore_venue=config.classifier.ignore_venue,
            tick_share_warning=config.classifier.tick_share_warning,
        ),
        ofi=OrderFlowImbalance(levels=config.ofi.levels, zscore_window=config.ofi.zscore_window),
        cvd=CumulativeVolumeDelta(bucket_ns=_ns(c.bucket_s), window=c.window, zscore_window=c.zscore_window),
        regime=MicrostructureRegime(
            spread_tight_bps=r.spread_tight_bps,
            spread_wide_bps=r.spread_wide_bps,
            depth_thick=r.depth_thick,
            depth_thin=r.depth_thin,
            activity_active=r.activity_active,
            activity_quiet=r.activity_quiet,
            activity_window_ns=_ns(r.activity_window_s),
            spread_factors=r.spread_factors,
            depth_factors=r.depth_factors,
            activity_factors=r.activity_factors,
            min_multiplier=r.min_multiplier,
            max_multiplier=r.max_multiplier,
            threshold_mode=r.threshold_mode,
            quantiles=r.quantiles,
            quantile_history=r.quantile_history,
            quantile_min=r.quantile_min,
            quantile_sample_ns=_ns(r.quantile_sample_s),
        ),
        liquidity=LiquidityMetrics(
            levels=liq.levels,
            slippage_size=liq.slippage_size,
            ewma_alpha=liq.ewma_alpha,
            shock_ratio=liq.shock_ratio,
            lambda_window=liq.lambda_window,
            lambda_min_points=liq.lambda_min_points,
        ),
        hurst=HurstExponent(window=h.window, sample_ns=_ns(h.sample_s), anis_lloyd=h.anis_lloyd),
        ou=OUZScore(
            window=o.window,
            min_points=o.min_points,
            refit_every=o.refit_every,
            z_threshold=o.z_threshold,
            decay=o.decay,
            hurst_max=config.signals.hurst_mean_reversion_below,
            sample_ns=_ns(o.sample_s),
        ),
        parkinson=ParkinsonVolatility(
            window=p.window,
            weight_parkinson=p.weight_parkinson,
            weight_realized=p.weight_realized,
            stop_k=config.exits.stop_k,
            bar_ns=_ns(p.bar_s),
        ),
        lob=LOBFeatureVector(
            zscore_window=lob.zscore_window,
            stale_ns=_ns(lob.stale_s),
            rsi_period=lob.rsi_period,
            ema_fast=lob.ema_fast,
            ema_slow=lob.ema_slow,
            atr_period=lob.atr_period,
            bb_period=lob.bb_period,
            bb_k=lob.bb_k,
            bar_ns=_ns(lob.bar_s),
        ),
        funding=FundingArbDetector(window=f.window, min_history=f.min_history, z_threshold=f.z_threshold),
        lstm=LSTMPredictor(
            model_path=config.lstm.model_path,
            cadence_ns=round(config.lstm.cadence_ms * 1_000_000),
            accuracy_window=config.lstm.accuracy_window,
            min_accuracy=config.lstm.min_accuracy,
            torch_threads=config.lstm.torch_threads,
        ),
        ensemble=SignalEnsemble(weights=config.ensemble.weights),
    )
