"""The features' settings: one frozen struct per indicator (and model), the sections of the strategy
config that `configs/strategy.yaml` is decoded into (`scalp_nautilus.strategy.settings`).

Each indicator is built from its own struct (`HurstExponent(HurstSettings(window=256))`), so a
parameter's default is written once, here, and its rules once: ranges as `Meta` annotations
(checked by msgspec when a YAML file is decoded, and by `checked` when an indicator is built from
a struct made in code, which msgspec does not validate), relations between fields in
`__post_init__`. Times are in seconds here; an indicator converts them to its nanoseconds (`ns`).
Parameters that are not modelling choices (numerical floors, buffer capacities) stay keyword
arguments of the indicators.
"""

from __future__ import annotations

import math
from typing import Annotated
from typing import Literal
from typing import TypeVar

import msgspec
from msgspec import Meta

from nautilus_trader.config import NautilusConfig

from scalp_nautilus.feature_table import ENSEMBLE_CONFIDENCE_GATE
from scalp_nautilus.units import NS_PER_S

Positive = Annotated[float, Meta(gt=0.0)]
NonNegative = Annotated[float, Meta(ge=0.0)]
Unit = Annotated[float, Meta(ge=0.0, le=1.0)]
Count = Annotated[int, Meta(ge=1)]
Window = Annotated[int, Meta(ge=2)]  # a z-score or regression window: a spread needs two values
Factors = tuple[Unit, Unit, Unit]


def ns(seconds: float) -> int:
    """Seconds of a setting in an indicator's nanoseconds."""
    return round(seconds * NS_PER_S)


def finite(section: str, **values: float) -> None:
    for name, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"{section}: {name} must be finite, got {value}")


def increasing(section: str, **values: float) -> None:
    names = list(values)
    for a, b in zip(names, names[1:]):
        if values[a] > values[b]:
            raise ValueError(f"{section}: need {a} <= {b}, got {values[a]} > {values[b]}")


class Section(NautilusConfig, frozen=True, kw_only=True):
    pass


S = TypeVar("S", bound=Section)


def _number(value: object) -> object:
    """A numpy scalar (a struct made in code may hold one) as its Python number."""
    item = getattr(value, "item", None)
    if item is None:
        raise TypeError(f"cannot check a setting of type {type(value).__name__}")
    return item()


def checked(settings: S) -> S:
    """`settings` with its ranges checked as a decoded file's are (msgspec checks `Meta` ranges only
    when decoding): a ValueError names the section and the field."""
    try:
        return msgspec.convert(msgspec.to_builtins(settings, enc_hook=_number), type(settings))
    except msgspec.ValidationError as exc:
        raise ValueError(f"{type(settings).__name__}: {exc}") from None


class VPINSettings(Section, frozen=True):
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
        finite("vpin", volume_per_hour=self.volume_per_hour, window_minutes=self.window_minutes)
        low, medium, high = self.thresholds
        increasing("vpin.thresholds", low=low, medium=medium, high=high)
        low, medium, high = self.threshold_quantiles
        increasing("vpin.threshold_quantiles", low=low, medium=medium, high=high)
        increasing("vpin", quantile_min=self.quantile_min, quantile_history=self.quantile_history)

    @property
    def window_volume(self) -> float:
        return self.volume_per_hour * self.window_minutes / 60.0


class OFISettings(Section, frozen=True):
    """Multi-level order-flow imbalance (DESIGN 3.2)."""

    levels: Count = 5  # book levels per side summed into the multi-level OFI (Xu, Gould, Howison 2019)
    zscore_window: Window = 100  # book updates in the z-score's window


class CVDSettings(Section, frozen=True):
    """Cumulative volume delta and its divergence from price (DESIGN 3.9)."""

    bucket_s: Positive = 1.0  # signed volume is summed in time buckets of this many seconds (event time)
    window: Annotated[int, Meta(ge=2)] = 60  # buckets in the divergence window (its halves are compared)
    zscore_window: Window = 100  # bucket values in the CVD z-score's window


class ClassifierSettings(Section, frozen=True):
    """Lee-Ready: the venue's aggressor flag first unless `ignore_venue`."""

    ignore_venue: bool = False  # true: classify every trade by Lee-Ready even when the venue gives the aggressor side
    tick_share_warning: Unit = 0.4  # warn when the tick rule (a trade at the mid) decides more than this share of trades


class HurstSettings(Section, frozen=True):
    """R/S Hurst exponent of the sampled mid (DESIGN 3.4); its bands are in `signals`."""

    window: Annotated[int, Meta(ge=64)] = 128  # returns of 1 s mid samples
    sample_s: Positive = 1.0  # the mid is sampled once per this many seconds of event time
    anis_lloyd: bool = False  # true: subtract the Anis-Lloyd expected R/S (small-sample bias correction)


class OUSettings(Section, frozen=True):
    """OU z-score; its Hurst gate is `signals.hurst_mean_reversion_below` (one threshold for both)."""

    window: Annotated[int, Meta(ge=4)] = 100  # samples in the OLS fit of dX on X
    min_points: Annotated[int, Meta(ge=4)] = 50  # no z before this many samples
    refit_every: Count = 50  # samples between fits (z uses the latest fit on every sample)
    z_threshold: Positive = 2.0  # |z| above it gives a signal of -sign(z) (buy below the mean)
    decay: Unit = 0.93  # otherwise the previous signal is multiplied by this per sample
    sample_s: Positive = 1.0  # the mid is sampled once per this many seconds of event time

    def __post_init__(self) -> None:
        increasing("ou", min_points=self.min_points, window=self.window)


class ParkinsonSettings(Section, frozen=True):
    """Parkinson / close-to-close volatility blend (DESIGN 3.6): the stops' sigma (`exits.stop_k`)."""

    window: Annotated[int, Meta(ge=2)] = 60  # 1 s bars
    bar_s: Positive = 1.0  # bar length in seconds of event time (sigma is per bar)
    weight_parkinson: NonNegative = 0.5  # weight of the Parkinson high-low estimate in the blend
    weight_realized: NonNegative = 0.5  # weight of the close-to-close realized volatility in the blend

    def __post_init__(self) -> None:
        if self.weight_parkinson + self.weight_realized <= 0.0:
            raise ValueError("parkinson: weight_parkinson and weight_realized cannot both be 0")


class LOBSettings(Section, frozen=True):
    """The 21-float limit-order-book vector (DESIGN 3.10), the LSTM's input."""

    zscore_window: Window = 100  # book updates in each element's z-score window
    stale_s: Positive = 2.0  # a book older than this (exchange time against receive time) gives an all-zero vector
    bar_s: Positive = 1.0  # mid bars for the RSI, EMAs, ATR and Bollinger width, in seconds
    rsi_period: Count = 14  # RSI bars
    ema_fast: Count = 12  # fast EMA bars
    ema_slow: Count = 26  # slow EMA bars
    atr_period: Count = 14  # ATR bars
    bb_period: Count = 20  # Bollinger bars
    bb_k: Positive = 2.0  # Bollinger band half-width in standard deviations (the width is an element)


class RegimeSettings(Section, frozen=True):
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
        increasing("regime.quantiles", low=self.quantiles[0], high=self.quantiles[1])
        increasing("regime", quantile_min=self.quantile_min, quantile_history=self.quantile_history)
        increasing("regime", spread_tight_bps=self.spread_tight_bps, spread_wide_bps=self.spread_wide_bps)
        increasing("regime", depth_thin=self.depth_thin, depth_thick=self.depth_thick)
        increasing("regime", activity_quiet=self.activity_quiet, activity_active=self.activity_active)
        increasing("regime", min_multiplier=self.min_multiplier, max_multiplier=self.max_multiplier)


class LiquiditySettings(Section, frozen=True):
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
        finite("liquidity", slippage_size=self.slippage_size)
        increasing("liquidity", lambda_min_points=self.lambda_min_points, lambda_window=self.lambda_window)


class FundingSettings(Section, frozen=True):
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
        increasing("funding", min_history=self.min_history, window=self.window)


class LSTMSettings(Section, frozen=True):
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

    def __post_init__(self) -> None:
        finite("lstm", cadence_ms=self.cadence_ms)


class EnsembleSettings(Section, frozen=True):
    """Ensemble (DESIGN 3.8): member weights (OFI, LSTM, OU, CVD) and the confidence gate.

    `gate_members`: `active` gates on the agreement of the members of the signal set Hurst selected
    (momentum: OFI, CVD; mean reversion: OU; plus the LSTM when a model is active), weights
    restricted to them and renormalised; `all` gates on the pipeline's four-member ensemble as
    DESIGN states it, which almost never reaches 0.6 (a silent OU member outside H < 0.4 and the
    LSTM fallback's noise pull the agreement down; p95 0.15-0.3 on the real captures).
    """

    # Member weights: OFI, LSTM, OU, CVD (sum 1)
    weights: tuple[NonNegative, NonNegative, NonNegative, NonNegative] = (0.25, 0.25, 0.25, 0.25)
    confidence_gate: Unit = ENSEMBLE_CONFIDENCE_GATE  # trade only when the members' agreement is above it
    # Active: agreement of the signal set Hurst selected; all: all four members (class doc)
    gate_members: Literal["active", "all"] = "active"

    def __post_init__(self) -> None:
        if abs(sum(self.weights) - 1.0) > 1e-9:
            raise ValueError(f"ensemble.weights must sum to 1, got {sum(self.weights)}")
