"""The LSTM predictor over the z-scored LOB vector (DeepLOB: Zhang, Zohren & Roberts 2019).

It keeps the last `seq_len` LOB vectors (`LOB_FEATURE_NAMES` order) and outputs a direction in
[-1, 1], a confidence in [0, 1] and a volatility >= 0. Without a usable model file it runs on the
documented fallback, direction = tanh(mean(latest vector)) with confidence 0 and volatility 0,
and says so once in the log; `active` tells which of the two is running.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from nautilus_trader.indicators.base import Indicator

from scalp_nautilus.indicators.lob_vector import N_LOB_FEATURES

log = logging.getLogger(__name__)


class LSTMPredictor(Indicator):
    """Direction / confidence / volatility from the last `seq_len` LOB vectors.

    Parameters
    ----------
    seq_len : int
        LOB vectors in one input sequence.
    """

    def __init__(self, seq_len: int = 50) -> None:
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        super().__init__(params=[seq_len])
        self.seq_len = seq_len
        self.active = False
        self._window = np.zeros((seq_len, N_LOB_FEATURES))
        self._fallback_logged = False
        self._reset()

    def _reset(self) -> None:
        self._window[:] = 0.0
        self._count = 0
        self.value = 0.0  # the direction
        self.confidence = 0.0
        self.volatility = 0.0

    def update_raw(self, vector: np.ndarray, mid: float, ts_event: int) -> float:
        """Add one z-scored LOB vector (all zeros while the vector is cold or stale)."""
        self._window[self._count % self.seq_len] = vector
        self._count += 1
        if not self._fallback_logged:
            log.warning("LSTMPredictor: no model loaded; using the fallback tanh(mean(features)), confidence 0")
            self._fallback_logged = True
        mean = float(np.mean(vector))
        self.value = math.tanh(mean) if math.isfinite(mean) else 0.0
        self.confidence = 0.0
        self.volatility = 0.0
        if not self.initialized and self._count >= self.seq_len:
            self._set_has_inputs(True)
            self._set_initialized(True)
        return self.value
