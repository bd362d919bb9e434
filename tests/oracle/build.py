"""`build_pipeline` and `build_builder` as `strategy/settings.py` had them at commit 2dd848a, building the
oracle's indicators (`tests.oracle`) from today's `ScalpStrategyConfig`."""

from __future__ import annotations

from tests.oracle.book import BookSnapshotBuilder
from tests.oracle.features import FeaturePipeline
from tests.oracle.indicators.cvd import CumulativeVolumeDelta
from tests.oracle.indicators.funding_arb import FundingArbDetector
from tests.oracle.indicators.hurst import HurstExponent
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

_S = 1_000_000_000


def _ns(seconds: float) -> int:
    return round(seconds * _S)


def build_builder(config, instrument) -> BookSnapshotBuilder:
    b = config.book
    return BookSnapshotBuilder.for_instrument(
        instrument, depth=b.depth, band_bps=b.band_bps, band_refresh_ns=_ns(b.band_refresh_s)
    )


def build_pipeline(config) -> FeaturePipeline:
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
            # seq_len: the model file's (the setting is gone); the parity runs load no model: 50
            cadence_ns=round(config.lstm.cadence_ms * 1_000_000),
            accuracy_window=config.lstm.accuracy_window,
            min_accuracy=config.lstm.min_accuracy,
            torch_threads=config.lstm.torch_threads,
        ),
        ensemble=SignalEnsemble(weights=config.ensemble.weights),
    )
