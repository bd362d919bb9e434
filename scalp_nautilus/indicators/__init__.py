"""Microstructure and statistical features as Nautilus indicators (DESIGN.md section 3)."""

from scalp_nautilus.indicators.cvd import CumulativeVolumeDelta
from scalp_nautilus.indicators.funding_arb import FundingArbDetector
from scalp_nautilus.indicators.funding_arb import FundingOpportunity
from scalp_nautilus.indicators.hurst import HurstExponent
from scalp_nautilus.indicators.lee_ready import LeeReadyClassifier
from scalp_nautilus.indicators.liquidity import LiquidityMetrics
from scalp_nautilus.indicators.lob_vector import LOB_FEATURE_NAMES
from scalp_nautilus.indicators.lob_vector import LOBFeatureVector
from scalp_nautilus.indicators.mid_bars import MidBars
from scalp_nautilus.indicators.ofi import OrderFlowImbalance
from scalp_nautilus.indicators.ou_zscore import OUZScore
from scalp_nautilus.indicators.parkinson import ParkinsonVolatility
from scalp_nautilus.indicators.regime import MicrostructureRegime
from scalp_nautilus.indicators.rolling_zscore import RollingZScore
from scalp_nautilus.indicators.vpin import VPIN

__all__ = [
    "LOB_FEATURE_NAMES",
    "VPIN",
    "CumulativeVolumeDelta",
    "FundingArbDetector",
    "FundingOpportunity",
    "HurstExponent",
    "LOBFeatureVector",
    "LeeReadyClassifier",
    "LiquidityMetrics",
    "MicrostructureRegime",
    "MidBars",
    "OUZScore",
    "OrderFlowImbalance",
    "ParkinsonVolatility",
    "RollingZScore",
]
