"""Microstructure and statistical features as Nautilus indicators (DESIGN.md section 3)."""

from scalp_nautilus.indicators.rolling_zscore import RollingZScore

__all__ = ["RollingZScore"]
