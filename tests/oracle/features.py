"""The feature pipeline: every indicator, fed in dependency order, and one typed row of their values.

The strategy calls `on_book(snapshot)` once per delta batch (one `BookSnapshot`, see
`scalp_nautilus.book`) and `on_trade(...)` / `on_trade_tick(tick)` once per trade. The classifier
runs first on each trade, so VPIN, CVD and Kyle's λ all see the same side; on each book it runs
first too, so the next trade is classified against the quotes before it. `on_book` returns a
`FeatureSnapshot`, which is also the feature recorder's row. In a strategy subscribed to L2 deltas
with the data engine buffering each batch to its ``F_LAST`` delta (`buffer_deltas=True`):

    builder = BookSnapshotBuilder.for_instrument(instrument)
    pipeline = FeaturePipeline(VPIN(window_volume=...), ...)

    def on_order_book_deltas(self, deltas):  # the cached book already holds the batch
        book = self.cache.order_book(deltas.instrument_id)
        row = pipeline.on_book(builder.from_book(book, deltas.ts_event, deltas.ts_init, deltas.sequence))

    def on_trade_tick(self, tick):
        pipeline.on_trade_tick(tick)

Adding an indicator:
1. construct it in `__init__` (an argument with a default, like the others);
2. feed it in `on_book`, `on_trade` or `on_funding` (after whatever it depends on);
3. add it to `_indicators` if it has a warm-up;
4. give its outputs values in `snapshot()`, in field order (new fields: add them to
   `FeatureSnapshot`; fields after the last value given keep their defaults).
"""

from __future__ import annotations

import logging
import math
from typing import NamedTuple

from nautilus_trader.model.data import TradeTick

from scalp_nautilus.skips import SkipCounter
from tests.oracle.book import BookSnapshot
from tests.oracle.indicators.cvd import CumulativeVolumeDelta
from tests.oracle.indicators.funding_arb import FundingArbDetector
from tests.oracle.indicators.hurst import HurstExponent
from tests.oracle.indicators.lee_ready import AGGRESSOR_TO_SIDE
from tests.oracle.indicators.lee_ready import LeeReadyClassifier
from tests.oracle.indicators.liquidity import LiquidityMetrics
from tests.oracle.indicators.lob_vector import LOBFeatureVector
from tests.oracle.indicators.ofi import OrderFlowImbalance
from tests.oracle.indicators.ou_zscore import OUZScore
from tests.oracle.indicators.parkinson import ParkinsonVolatility
from tests.oracle.indicators.regime import MicrostructureRegime
from tests.oracle.indicators.vpin import VPIN
from tests.oracle.models.ensemble import SignalEnsemble
from tests.oracle.models.lstm import LSTMPredictor

log = logging.getLogger(__name__)


class FeatureSnapshot(NamedTuple):
    """All current feature values (one recorder row). Units: prices in quote currency, sizes in
    the instrument's units; NaN never appears (values hold until their input is usable again)."""

    ts_event: int  # ns, of the book batch or trade that produced the row
    mid: float  # last valid mid (0.0 before the first valid book)
    book_valid: bool  # the latest book was usable
    # order flow
    ofi: float  # multi-level OFI of the latest book update (size units)
    ofi_z: float
    vpin: float  # [0, 1]
    vpin_regime: int  # VPINRegime: 0 low, 1 medium, 2 high, 3 extreme
    vpin_multiplier: float
    cvd: float  # net signed volume over the CVD window (size units)
    cvd_z: float  # z-score of the windowed CVD over its last 100 one-second values
    cvd_divergence: float  # [-1, 1], sign = flow direction, 0 = none
    trade_side: int  # side of the latest trade (+1/-1, 0 before any)
    # liquidity
    spread_bps: float
    depth_imbalance: float  # b / (b + a) over the liquidity levels, [0, 1]
    weighted_depth: float  # size units
    slippage_buy_bps: float
    slippage_sell_bps: float
    resilience: float  # [0, 1], 0.5 = depth at its average
    depth_shock: bool
    kyle_lambda: float  # quote currency per size unit
    # microstructure regime
    regime_multiplier: float  # [0.2, 1.0]
    spread_state: int  # AxisState: 0 good, 1 normal, 2 poor
    depth_state: int
    activity_state: int
    activity_rate: float  # book updates per second
    depth_notional: float  # quote currency within the band around the mid, both sides
    # warm-up: `warm` when every book and trade indicator is initialized; `cold` names those still
    # warming up. Funding needs 30 settlements (10 days at 8 h) and gates only its own signal
    # (`funding_direction` stays 0 until then), so it is not part of `warm`.
    warm: bool
    cold: str
    # statistics of 1 s mid bars
    hurst: float  # R/S Hurst exponent of the mid returns, [0, 1] (0.5 until defined)
    ou_z: float  # (mid - mu) / sigma of the fitted OU process
    ou_active: bool  # the Hurst gate is open (0 < H < 0.4) and the fit is valid
    ou_signal: float  # +1 buy / -1 sell beyond |z| > 2, decaying x0.93 per bar otherwise
    parkinson_vol: float  # per-bar log-return volatility from bar ranges (dimensionless)
    realized_vol: float  # per-bar close-to-close volatility
    blend_vol: float  # their configured blend: the stop's sigma
    # funding
    funding_z: float  # z of the latest settled rate against its history
    funding_direction: int  # +1 long / -1 short the perpetual to collect funding; 0 no opportunity
    funding_bps: float  # annualised expected return of that opportunity, bps (0 without one)
    # the 21 z-scored LOB features in LOB_FEATURE_NAMES order (all 0 when stale or cold)
    lob_0: float = 0.0
    lob_1: float = 0.0
    lob_2: float = 0.0
    lob_3: float = 0.0
    lob_4: float = 0.0
    lob_5: float = 0.0
    lob_6: float = 0.0
    lob_7: float = 0.0
    lob_8: float = 0.0
    lob_9: float = 0.0
    lob_10: float = 0.0
    lob_11: float = 0.0
    lob_12: float = 0.0
    lob_13: float = 0.0
    lob_14: float = 0.0
    lob_15: float = 0.0
    lob_16: float = 0.0
    lob_17: float = 0.0
    lob_18: float = 0.0
    lob_19: float = 0.0
    lob_20: float = 0.0
    # models (layer 3)
    lstm_direction: float = 0.0  # [-1, 1]
    lstm_confidence: float = 0.0  # [0, 1]
    lstm_volatility: float = 0.0  # >= 0
    lstm_active: bool = False  # a valid model is loaded and enabled (else: the fallback)
    ensemble_direction: float = 0.0  # weighted direction of the members, [-1, 1]
    ensemble_confidence: float = 0.0  # agreement of the members, [0, 1]
    # the exchange's sequence of the latest book batch (Binance: the diff's final update id `u`),
    # which keys a recording to the raw stream (live and backtest recordings align on it)
    update_id: int = 0
    # traded volume (size units) fed to the pipeline since it started: research reads an
    # instrument's volume per hour from it (`scalp-nautilus research calibrate`)
    traded_volume: float = 0.0


def ensemble_inputs(ofi_z: float, lstm_direction: float, ou_signal: float, cvd_z: float) -> tuple:
    """The ensemble members' directions in [-1, 1], in `SignalEnsemble`'s (OFI, LSTM, OU, CVD)
    order: the z-scores are squashed by tanh, the LSTM and OU outputs are directions already."""
    return math.tanh(ofi_z), lstm_direction, ou_signal, math.tanh(cvd_z)


_new_row = tuple.__new__
# Every field's default by position (None where there is none): `snapshot()` gives values for a
# prefix of the fields and the rest keep their defaults.
_DEFAULTS = tuple(FeatureSnapshot._field_defaults.get(name) for name in FeatureSnapshot._fields)


class FeaturePipeline:
    """Owns the indicators and feeds them; see the module doc for the order and how to extend it.

    Parameters
    ----------
    vpin : VPIN
        Its bucket size depends on the instrument's volume, so it has no default.
    classifier, ofi, cvd, regime, liquidity, hurst, ou, parkinson, lob, funding, lstm, ensemble :
        The other indicators, default-constructed (DESIGN.md defaults) when not given. The
        ensemble's members are `ensemble_inputs`: tanh(OFI z), the LSTM's direction, the OU
        signal and tanh(CVD z).
    """

    def __init__(
        self,
        vpin: VPIN,
        classifier: LeeReadyClassifier | None = None,
        ofi: OrderFlowImbalance | None = None,
        cvd: CumulativeVolumeDelta | None = None,
        regime: MicrostructureRegime | None = None,
        liquidity: LiquidityMetrics | None = None,
        hurst: HurstExponent | None = None,
        ou: OUZScore | None = None,
        parkinson: ParkinsonVolatility | None = None,
        lob: LOBFeatureVector | None = None,
        funding: FundingArbDetector | None = None,
        lstm: LSTMPredictor | None = None,
        ensemble: SignalEnsemble | None = None,
    ) -> None:
        self.classifier = classifier or LeeReadyClassifier()
        self.vpin = vpin
        self.ofi = ofi or OrderFlowImbalance()
        self.cvd = cvd or CumulativeVolumeDelta()
        self.regime = regime or MicrostructureRegime()
        self.liquidity = liquidity or LiquidityMetrics()
        self.hurst = hurst or HurstExponent()
        self.ou = ou or OUZScore()
        self.parkinson = parkinson or ParkinsonVolatility()
        self.lob = lob or LOBFeatureVector()
        self.funding = funding or FundingArbDetector()
        self.lstm = lstm or LSTMPredictor()
        self.ensemble = ensemble or SignalEnsemble()
        self._indicators = {
            "classifier": self.classifier,
            "vpin": self.vpin,
            "ofi": self.ofi,
            "cvd": self.cvd,
            "regime": self.regime,
            "liquidity": self.liquidity,
            "hurst": self.hurst,
            "ou": self.ou,
            "parkinson": self.parkinson,
            "lob": self.lob,
            "funding": self.funding,
            "lstm": self.lstm,
            "ensemble": self.ensemble,
        }
        # The indicators on mid bars restart their windows after an outage (`MidBars`), so they can
        # go cold again; the others, once warm, stay warm until a reset.
        self._restartable = tuple(ind for ind in self._indicators.values() if getattr(ind, "bars", None) is not None)
        self.skips = SkipCounter(type(self).__name__, log)
        self.reset()

    def reset(self) -> None:
        for indicator in self._indicators.values():
            indicator.reset()
        self.skips.clear()
        self.books = 0
        self.trades = 0
        self._mid = 0.0
        self._book_valid = False
        self._ts_event = 0
        self._update_id = 0
        self._warm = False
        self._traded_volume = 0.0

    # ---------------------------------------------------------------- inputs

    def on_book(self, snapshot: BookSnapshot) -> FeatureSnapshot:
        """Feed one book batch; returns the features after it."""
        self.books += 1
        self._ts_event = snapshot.ts_event
        self._update_id = snapshot.sequence
        self._book_valid = snapshot.is_valid
        if self._book_valid:
            self._mid = snapshot.mid
        else:
            self.skips("invalid book (empty, one-sided or crossed): book features hold their values")
        # Each indicator refuses an invalid book itself (OFI also restarts its reference), so
        # every one is fed every snapshot; CVD only reads the clock from it.
        self.classifier.handle_book(snapshot)
        self.ofi.handle_book(snapshot)
        self.liquidity.handle_book(snapshot)
        self.regime.handle_book(snapshot)
        self.cvd.handle_book(snapshot)
        # statistics of the mid: OU is gated by the Hurst exponent of the same bars
        self.hurst.handle_book(snapshot)
        self.ou.handle_book(snapshot, self.hurst.value)
        self.parkinson.handle_book(snapshot)
        self.lob.handle_book(snapshot)
        # models: the LSTM reads the LOB vector (only once it is warm: a cold vector is all zeros
        # and would fill the LSTM's sequence with nothing), the ensemble every signal
        if self.lob.initialized:
            self.lstm.update_raw(self.lob.value, self._mid, snapshot.ts_event)
        self.ensemble.update_raw(*ensemble_inputs(self.ofi.z, self.lstm.value, self.ou.value, self.cvd.z))
        return self.snapshot()

    def on_funding(self, update) -> None:
        """Feed a `FundingRateUpdate` or a Binance `BinanceFuturesMarkPriceUpdate` (one adapter for both)."""
        self.funding.handle_funding(update)

    def on_trade_tick(self, tick: TradeTick) -> int:
        """Nautilus adapter of `on_trade`: reads the tick's fields once."""
        return self.on_trade(
            float(tick.price),
            float(tick.size),
            AGGRESSOR_TO_SIDE[tick.aggressor_side],
            tick.ts_event,
        )

    def on_trade(self, price: float, size: float, aggressor_side: int, ts_event: int) -> int:
        """Feed one trade: `aggressor_side` +1 buyer, -1 seller, 0 unknown. Returns the side used
        (+1/-1), or 0 when the trade is unusable (counted, nothing fed)."""
        if not (0.0 < price < math.inf and 0.0 < size < math.inf):
            self.skips("trade with non-positive or non-finite price or size skipped", (price, size))
            return 0
        self.trades += 1
        self._traded_volume += size
        self._ts_event = ts_event
        side = self.classifier.update_raw(price, ts_event, aggressor_side)
        self.vpin.update_raw(size, side)
        self.cvd.update_raw(price, size, side, ts_event)
        self.liquidity.update_trade_raw(side * size, ts_event)
        return side

    # ---------------------------------------------------------------- warm state

    def parameters(self) -> dict[str, str]:
        """Each indicator's parameters (its repr): a saved state is restored only into the same."""
        return {name: repr(ind) for name, ind in self._indicators.items()}

    def state(self) -> dict:
        """Every indicator's rolling state and the pipeline's own (JSON-safe): see `restore`."""
        return {
            "parameters": self.parameters(),
            "indicators": {name: ind.state() for name, ind in self._indicators.items()},
            "books": self.books,
            "trades": self.trades,
            "mid": self._mid,
            "book_valid": self._book_valid,
            "ts_event": self._ts_event,
            "update_id": self._update_id,
            "warm": self._warm,
            "traded_volume": self._traded_volume,
        }

    def restore(self, state: dict) -> None:
        """Continue from `state()` (a pipeline built from the same parameters): the next rows are
        those an uninterrupted pipeline would give. A state that does not fit (other indicators,
        other window lengths) raises ValueError and leaves the pipeline reset."""
        mine = self.parameters()
        for name, params in state["parameters"].items():
            if mine.get(name) != params:
                raise ValueError(f"state saved with {name} {params}, this pipeline has {mine.get(name)}")
        saved = state["indicators"]
        if set(saved) != set(self._indicators):
            raise ValueError(f"saved pipeline has indicators {sorted(saved)}, this one {sorted(self._indicators)}")
        try:
            for name, indicator in self._indicators.items():
                indicator.restore(saved[name])
        except (ValueError, KeyError, TypeError):
            self.reset()
            raise
        self.books, self.trades = state["books"], state["trades"]
        self._mid, self._book_valid, self._ts_event = state["mid"], state["book_valid"], state["ts_event"]
        self._update_id, self._warm = state["update_id"], state["warm"]
        self._traded_volume = state.get("traded_volume", 0.0)  # states saved before the field existed
        # A restart is a known pause, not a feed outage: the bar series join across it.
        for indicator in self._indicators.values():
            bars = getattr(indicator, "bars", None)
            if bars is not None:
                bars.bridge()

    # ---------------------------------------------------------------- output

    def skip_counts(self) -> dict[str, int]:
        """Refused inputs so far, per "owner: reason" (the pipeline's and each indicator's)."""
        owners = [self.skips, *(ind.skips for ind in self._indicators.values() if hasattr(ind, "skips"))]
        return {f"{s.owner}: {reason}": n for s in owners for reason, n in s.counts.items()}

    @property
    def initialized(self) -> dict[str, bool]:
        """Per indicator: warmed up?"""
        return {name: indicator.initialized for name, indicator in self._indicators.items()}

    def snapshot(self) -> FeatureSnapshot:
        """The current values, in `FeatureSnapshot`'s field order (built as a plain tuple: the
        NamedTuple constructor costs ~1.2 µs per row, keyword construction ~5 µs)."""
        cold = ""
        if self._warm:
            for ind in self._restartable:
                if not ind.initialized:  # an outage restarted its windows: cold again
                    self._warm = False
                    break
        if not self._warm:
            cold = ",".join(name for name, ind in self._indicators.items() if not ind.initialized and ind is not self.funding)
            self._warm = not cold
        vpin, liquidity, regime = self.vpin, self.liquidity, self.regime
        ou, parkinson, funding, lstm, ensemble = self.ou, self.parkinson, self.funding, self.lstm, self.ensemble
        opportunity = funding.opportunity
        values = (
            self._ts_event,
            self._mid,
            self._book_valid,
            self.ofi.value,
            self.ofi.z,
            vpin.value,
            vpin.regime,
            vpin.multiplier,
            self.cvd.value,
            self.cvd.z,
            self.cvd.divergence,
            self.classifier.value,
            liquidity.spread_bps,
            liquidity.imbalance,
            liquidity.weighted_depth,
            liquidity.slippage_buy_bps,
            liquidity.slippage_sell_bps,
            liquidity.value,
            liquidity.depth_shock,
            liquidity.kyle.value,
            regime.value,
            regime.spread_state,
            regime.depth_state,
            regime.activity_state,
            regime.activity_rate,
            regime.depth_notional,
            self._warm,
            cold,
            self.hurst.value,
            ou.z,
            ou.active,
            ou.value,
            parkinson.parkinson,
            parkinson.realized,
            parkinson.value,
            funding.value,
            opportunity.direction if opportunity is not None else 0,
            opportunity.annualized_bps if opportunity is not None else 0.0,
            *self.lob.value.tolist(),
            lstm.value,
            lstm.confidence,
            lstm.volatility,
            lstm.active,
            ensemble.value,
            ensemble.confidence,
            self._update_id,
            self._traded_volume,
        )
        return _new_row(FeatureSnapshot, values + _DEFAULTS[len(values) :])
