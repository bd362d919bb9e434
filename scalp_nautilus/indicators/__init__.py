"""Microstructure and statistical features as Nautilus indicators (DESIGN.md section 3)."""

from scalp_nautilus.indicators.cvd import CumulativeVolumeDelta
from scalp_nautilus.indicators.lee_ready import LeeReadyClassifier
from scalp_nautilus.indicators.liquidity import LiquidityMetrics
from scalp_nautilus.indicators.ofi import OrderFlowImbalance
from scalp_nautilus.indicators.regime import MicrostructureRegime
from scalp_nautilus.indicators.rolling_zscore import RollingZScore
from scalp_nautilus.indicators.vpin import VPIN

__all__ = [
    "CumulativeVolumeDelta",
    "LeeReadyClassifier",
    "LiquidityMetrics",
    "MicrostructureRegime",
    "OrderFlowImbalance",
    "RollingZScore",
    "VPIN",
]
