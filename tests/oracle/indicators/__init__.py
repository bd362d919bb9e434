"""Microstructure and statistical features as Nautilus indicators (DESIGN.md section 3)."""

from tests.oracle.indicators.cvd import CumulativeVolumeDelta
from tests.oracle.indicators.funding_arb import FundingArbDetector
from tests.oracle.indicators.funding_arb import FundingOpportunity
from tests.oracle.indicators.hurst import HurstExponent
from tests.oracle.indicators.lee_ready import LeeReadyClassifier
from tests.oracle.indicators.liquidity import LiquidityMetrics
from tests.oracle.indicators.lob_vector import LOB_FEATURE_NAMES
from tests.oracle.indicators.lob_vector import LOBFeatureVector
from tests.oracle.indicators.mid_bars import MidBars
from tests.oracle.indicators.ofi import OrderFlowImbalance
from tests.oracle.indicators.ou_zscore import OUZScore
from tests.oracle.indicators.parkinson import ParkinsonVolatility
from tests.oracle.indicators.regime import MicrostructureRegime
from tests.oracle.indicators.rolling_zscore import RollingZScore
from tests.oracle.indicators.vpin import VPIN

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
