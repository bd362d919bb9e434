"""Quantiles of a rolling history: thresholds calibrated on the instrument's own recent values.

DESIGN's fixed thresholds (VPIN 0.3/0.5/0.7, a regime's 5/20 bps spread) come from the papers'
markets and never bind on BTC or ETH perpetuals (DESIGN section 6). In `quantile` mode VPIN and
the microstructure regime take their bounds from the quantiles of their own last `window` values
instead, so a gate binds a known share of the time on any instrument.

The history is a ring of the last `window` values; `quantiles` is numpy's (linear interpolation)
over exactly those values, recomputed only when asked (the owners ask once per bucket or once per
sample, not per book update). Until `min_count` values are held, `ready` is False and the owner
keeps its fixed thresholds.
"""

from __future__ import annotations

import numpy as np

from tests.oracle.indicators.warm_state import WarmState

THRESHOLD_MODES = ("fixed", "quantile")


class RollingQuantiles(WarmState):
    __slots__ = ("window", "min_count", "levels", "_values", "_head", "_count")
    _STATE = ("_values", "_head", "_count")

    def __init__(self, window: int, levels: tuple[float, ...], min_count: int = 1) -> None:
        if window < 1 or not 1 <= min_count <= window:
            raise ValueError(f"need window >= 1 and 1 <= min_count <= window, got {window}, {min_count}")
        if list(levels) != sorted(levels) or any(not 0.0 <= q <= 1.0 for q in levels):
            raise ValueError(f"quantile levels must be increasing values in [0, 1], got {levels}")
        self.window = window
        self.min_count = min_count
        self.levels = tuple(levels)
        self._values = np.zeros(window)
        self.reset()

    def reset(self) -> None:
        self._values[:] = 0.0
        self._head = 0
        self._count = 0

    def add(self, value: float) -> None:
        self._values[self._head] = value
        self._head = (self._head + 1) % self.window
        self._count = min(self._count + 1, self.window)

    @property
    def ready(self) -> bool:
        return self._count >= self.min_count

    @property
    def count(self) -> int:
        return self._count

    def history(self) -> np.ndarray:
        """The held values, oldest first."""
        if self._count < self.window:
            return self._values[: self._count].copy()
        return np.roll(self._values, -self._head)

    def quantiles(self) -> tuple[float, ...]:
        return tuple(float(q) for q in np.quantile(self._values[: self._count], self.levels))
