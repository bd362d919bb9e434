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

The step is one numba kernel over a small state vector, with two entry points: `RollingZScore`
(one series, the indicator every feature uses) and `RollingZScores` (a bank of independent series
updated together in one call, for vectors such as the LOB features).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from nautilus_trader.indicators.base import Indicator

from scalp_nautilus.indicators.warm_state import WarmState

# State vector layout of one series.
_HEAD, _COUNT, _SHIFT, _MEAN, _M2, _PEAK, _SINCE, _SKIPPED, _VALUE = range(9)
_STATE_SIZE = 9


@njit(cache=True)
def _recompute(state, buf):
    count = int(state[_COUNT])
    n = count if count < len(buf) else len(buf)
    # Any reference near the data keeps `x - shift` exact; the shifted mean is then exact too.
    shift = buf[int(state[_HEAD]) - 1]
    mean = 0.0
    for i in range(n):
        mean += buf[i] - shift
    mean /= n
    m2 = 0.0
    for i in range(n):
        m2 += (buf[i] - shift - mean) ** 2
    state[_SHIFT] = shift
    state[_MEAN] = mean
    state[_M2] = m2
    state[_PEAK] = m2
    state[_SINCE] = 0.0


@njit(cache=True)
def _std(state, min_std):
    count = state[_COUNT]
    var = state[_M2] / (count - 1.0) if count > 1.0 else 0.0
    std = math.sqrt(var)
    return std if std > min_std else min_std


@njit(cache=True)
def _push(state, buf, x, min_std):
    """Add `x` to one series; returns its z-score (the previous one for a non-finite `x`)."""
    if not math.isfinite(x):
        state[_SKIPPED] += 1.0
        return state[_VALUE]
    window = len(buf)
    count = state[_COUNT]
    if count == 0.0:
        state[_SHIFT] = x
    shift = state[_SHIFT]
    y = x - shift
    head = int(state[_HEAD])
    mean = state[_MEAN]
    if count < window:
        count += 1.0
        delta = y - mean
        mean += delta / count
        state[_M2] += delta * (y - mean)
        state[_COUNT] = count
    else:
        old = buf[head] - shift
        new_mean = mean + (y - old) / count
        state[_M2] += (y - old) * (y - new_mean + old - mean)
        mean = new_mean
    state[_MEAN] = mean
    buf[head] = x
    state[_HEAD] = (head + 1) % window
    state[_SINCE] += 1.0
    if state[_M2] > state[_PEAK]:
        state[_PEAK] = state[_M2]
    if state[_SINCE] >= window or state[_M2] < 1e-6 * state[_PEAK]:
        _recompute(state, buf)
    if state[_M2] < 0.0:
        state[_M2] = 0.0
    z = ((x - state[_SHIFT]) - state[_MEAN]) / _std(state, min_std)
    state[_VALUE] = z
    return z


@njit(cache=True)
def _push_one(state, buf, x, min_std):
    return _push(state, buf, x, min_std)


@njit(cache=True)
def _push_many(states, bufs, xs, min_std, out):
    for j in range(len(xs)):
        out[j] = _push(states[j], bufs[j], xs[j], min_std)


def _validate(window: int, min_std: float, warmup: int | None) -> int:
    if window < 2:
        raise ValueError(f"window must be >= 2, got {window}")
    if not min_std > 0:
        raise ValueError(f"min_std must be > 0, got {min_std}")
    warmup = window if warmup is None else warmup
    if not 2 <= warmup <= window:
        raise ValueError(f"warmup must be in [2, window={window}], got {warmup}")
    return warmup


class RollingZScore(WarmState, Indicator):
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
    __slots__ = ("window", "min_std", "warmup", "_buf", "_state", "value")
    _STATE = ("_buf", "_state")

    def __init__(self, window: int = 100, min_std: float = 1e-12, warmup: int | None = None) -> None:
        warmup = _validate(window, min_std, warmup)
        super().__init__(params=[window, min_std, warmup])
        self.window = window
        self.min_std = min_std
        self.warmup = warmup
        self._buf = np.zeros(window)
        self._state = np.zeros(_STATE_SIZE)
        self._reset()

    def _reset(self) -> None:
        self._buf[:] = 0.0
        self._state[:] = 0.0
        self.value = 0.0

    @property
    def last(self) -> float:
        """The latest value added (0 before any)."""
        return float(self._buf[int(self._state[_HEAD]) - 1]) if self._state[_COUNT] else 0.0

    @property
    def count(self) -> int:
        """Values in the window."""
        return int(self._state[_COUNT])

    @property
    def skipped(self) -> int:
        """Non-finite inputs ignored."""
        return int(self._state[_SKIPPED])

    @property
    def mean(self) -> float:
        """Mean of the window."""
        return float(self._state[_SHIFT] + self._state[_MEAN])

    @property
    def variance(self) -> float:
        """Sample variance of the window (0 with fewer than two values)."""
        count = self._state[_COUNT]
        return float(self._state[_M2] / (count - 1)) if count > 1 else 0.0

    @property
    def std(self) -> float:
        """Standard deviation of the window, floored at `min_std`."""
        return max(math.sqrt(self.variance), self.min_std)

    def update_raw(self, x: float) -> float:
        """Add `x`; return (and keep in `value`) its z-score. Non-finite input is counted and skipped."""
        self.value = z = _push_one(self._state, self._buf, x, self.min_std)
        if not self.initialized:
            self._set_has_inputs(True)
            if self._state[_COUNT] >= self.warmup:
                self._set_initialized(True)
        return z

    def zscore(self, x: float) -> float:
        """Z-score of `x` against the current window, without adding it."""
        if not math.isfinite(x):
            return 0.0
        return ((x - self._state[_SHIFT]) - self._state[_MEAN]) / _std(self._state, self.min_std)

    def state(self) -> dict:
        """The ring and the kernel's state vector as they are (JSON-safe, for live restarts): a
        restored z-score continues bit for bit, running sums and recompute schedule included."""
        return {"window": self.window, **super().state()}

    def restore(self, state: dict) -> None:
        """Rebuild from `state()`; a state from a different window length is refused."""
        if int(state.get("window", -1)) != self.window:
            raise ValueError(f"state was saved with window {state.get('window')}, this one has {self.window}")
        super().restore(state)
        self.value = float(self._state[_VALUE])


class RollingZScores:
    """`dim` independent `RollingZScore` series updated together: one call for a whole vector.

    Same window, floor and warm-up rules as `RollingZScore`, column by column.
    """

    __slots__ = ("window", "dim", "min_std", "warmup", "_bufs", "_states", "value")

    def __init__(self, dim: int, window: int = 100, min_std: float = 1e-12, warmup: int | None = None) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.warmup = _validate(window, min_std, warmup)
        self.window = window
        self.dim = dim
        self.min_std = min_std
        self._bufs = np.zeros((dim, window))
        self._states = np.zeros((dim, _STATE_SIZE))
        self.value = np.zeros(dim)

    def reset(self) -> None:
        self._bufs[:] = 0.0
        self._states[:] = 0.0
        self.value[:] = 0.0

    @property
    def initialized(self) -> bool:
        """Every column holds at least `warmup` values."""
        return bool(self._states[:, _COUNT].min() >= self.warmup)

    @property
    def counts(self) -> np.ndarray:
        return self._states[:, _COUNT].astype(int)

    @property
    def skipped(self) -> np.ndarray:
        return self._states[:, _SKIPPED].astype(int)

    def update_raw(self, xs: np.ndarray) -> np.ndarray:
        """Add one value per column; returns the z-scores (the array `value`, updated in place)."""
        _push_many(self._states, self._bufs, np.asarray(xs, dtype=np.float64), self.min_std, self.value)
        return self.value

    def state(self) -> dict:
        """As `RollingZScore.state`, one ring and state vector per column."""
        return {
            "window": self.window,
            "bufs": self._bufs.tolist(),
            "kernels": self._states.tolist(),
            "value": self.value.tolist(),
        }

    def restore(self, state: dict) -> None:
        bufs = np.asarray(state["bufs"], dtype=np.float64)
        if int(state.get("window", -1)) != self.window or bufs.shape != self._bufs.shape:
            raise ValueError(
                f"state has window {state.get('window')} x {len(bufs)} columns, this bank {self.window} x {self.dim}"
            )
        self._bufs[...] = bufs
        self._states[...] = state["kernels"]
        self.value[...] = state["value"]


# For the compiled indicators that keep z-scores in their own state: one series is `STATE_SIZE`
# slots of `push`'s state vector followed by its ring of `window` values.
push = _push
STATE_SIZE = _STATE_SIZE
COUNT = _COUNT
