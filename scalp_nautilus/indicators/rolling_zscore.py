"""Sliding-window z-score with Welford's update (Welford 1962; sliding form: West 1979).

Every z-scored feature in the project goes through this class. The window's mean and sum of
squared deviations (M2) are updated in O(1) per value: a new value is added with Welford's step
and, once the window is full, the value leaving it is removed with the inverse step.

Two things keep that exact enough to match a two-pass numpy evaluation:
- the sums are kept for values shifted by a reference close to the data (re-centred at every
  recompute), so a large offset (a price of 1e9 moving by 1e-3) does not eat the significant digits;
- removal subtracts nearly equal quantities, so the statistics are recomputed exactly from the
  ring buffer once per window length (O(1) amortised) and at once whenever M2 falls below 1e-6 of
  its peak since the last recompute (a jump leaving the window: catastrophic cancellation).

M2 is clamped at zero, the variance is the sample variance (n - 1), and the standard deviation is
floored at a per-feature ``min_std`` (in the feature's own units) so a near-constant feature cannot
blow its z-score up.
"""

from __future__ import annotations

import math

import numpy as np

from numba import njit

from nautilus_trader.indicators.base import Indicator


@njit(cache=True)
def _shifted_mean_m2(values, shift):
    """Two-pass mean and sum of squared deviations of `values - shift` (numpy's take ~9 µs)."""
    n = len(values)
    mean = 0.0
    for v in values:
        mean += v - shift
    mean /= n
    m2 = 0.0
    for v in values:
        m2 += (v - shift - mean) ** 2
    return mean, m2


class RollingZScore(Indicator):
    """Z-score of the latest value against the last `window` values (including itself).

    Parameters
    ----------
    window : int
        Number of values in the sliding window (>= 2).
    min_std : float
        Floor on the standard deviation, in the input's units (> 0).
    warmup : int, optional
        Values needed before `initialized` is true; defaults to `window`.
    """

    # Slots: on a Python subclass of a Cython type an attribute costs ~60 ns via __dict__, ~30 here.
    __slots__ = (
        "window", "min_std", "warmup", "_buf", "_head", "count", "_shift", "_mean", "_m2",
        "_m2_peak", "_since_recompute", "skipped", "last", "value",
    )

    def __init__(self, window: int = 100, min_std: float = 1e-12, warmup: int | None = None) -> None:
        if window < 2:
            raise ValueError(f"window must be >= 2, got {window}")
        if not min_std > 0:
            raise ValueError(f"min_std must be > 0, got {min_std}")
        warmup = window if warmup is None else warmup
        if not 2 <= warmup <= window:
            raise ValueError(f"warmup must be in [2, window={window}], got {warmup}")
        super().__init__(params=[window, min_std, warmup])
        self.window = window
        self.min_std = min_std
        self.warmup = warmup
        self._buf = np.zeros(window)
        self._reset()

    def _reset(self) -> None:
        self._buf[:] = 0.0
        self._head = 0  # next slot to write
        self.count = 0  # values in the window
        self._shift = 0.0  # reference subtracted from every value
        self._mean = 0.0  # mean of the shifted values
        self._m2 = 0.0
        self._m2_peak = 0.0
        self._since_recompute = 0
        self.skipped = 0
        self.last = 0.0
        self.value = 0.0

    @property
    def mean(self) -> float:
        """Mean of the window."""
        return self._shift + self._mean

    @property
    def variance(self) -> float:
        """Sample variance of the window (0 with fewer than two values)."""
        return self._m2 / (self.count - 1) if self.count > 1 else 0.0

    @property
    def std(self) -> float:
        """Standard deviation of the window, floored at `min_std`."""
        return max(math.sqrt(self.variance), self.min_std)

    def update_raw(self, x: float) -> float:
        """Add `x`; return (and keep in `value`) its z-score. Non-finite input is counted and skipped."""
        if not math.isfinite(x):
            self.skipped += 1
            return self.value
        if self.count == 0:
            self._shift = x
        y = x - self._shift
        if self.count < self.window:
            self.count += 1
            delta = y - self._mean
            self._mean += delta / self.count
            self._m2 += delta * (y - self._mean)
        else:
            old = float(self._buf[self._head]) - self._shift  # a numpy scalar would slow every step
            new_mean = self._mean + (y - old) / self.count
            self._m2 += (y - old) * (y - new_mean + old - self._mean)
            self._mean = new_mean
        self._buf[self._head] = x
        self._head = (self._head + 1) % self.window
        self._since_recompute += 1
        if self._m2 > self._m2_peak:
            self._m2_peak = self._m2
        if self._since_recompute >= self.window or self._m2 < 1e-6 * self._m2_peak:
            self._recompute()
        self.last = x
        self.value = self.zscore(x)
        if not self.has_inputs:
            self._set_has_inputs(True)
        if not self.initialized and self.count >= self.warmup:
            self._set_initialized(True)
        return self.value

    def zscore(self, x: float) -> float:
        """Z-score of `x` against the current window, without adding it."""
        return ((x - self._shift) - self._mean) / self.std if math.isfinite(x) else 0.0

    def _recompute(self) -> None:
        values = self._buf[: self.count] if self.count < self.window else self._buf
        # Any reference near the data keeps `x - shift` exact; the shifted mean is then exact too.
        self._shift = float(values[self._head - 1])
        self._mean, self._m2 = _shifted_mean_m2(values, self._shift)
        self._m2_peak = self._m2
        self._since_recompute = 0

    def state(self) -> dict:
        """The window in arrival order plus counters: JSON-serialisable, for live restarts."""
        if self.count < self.window:
            ordered = self._buf[: self.count]
        else:
            ordered = np.roll(self._buf, -self._head)
        return {"window": self.window, "values": ordered.tolist(), "skipped": self.skipped, "last": self.last}

    def restore(self, state: dict) -> None:
        """Rebuild from `state()`; a state from a different window length is refused."""
        if int(state.get("window", -1)) != self.window:
            raise ValueError(f"state was saved with window {state.get('window')}, this one has {self.window}")
        values = [float(v) for v in state["values"]][-self.window:]
        self.reset()
        for v in values:
            self.update_raw(v)
        self.skipped = int(state.get("skipped", 0))
        self.last = float(state.get("last", self.last))
        if values:
            self.value = self.zscore(self.last)
