"""The strategy layer: `ScalpStrategy`, its config, the pure decision and the funding ledger."""

from scalp_nautilus.strategy.settings import ScalpStrategyConfig
from scalp_nautilus.strategy.strategy import ScalpStrategy

__all__ = ["ScalpStrategy", "ScalpStrategyConfig"]
