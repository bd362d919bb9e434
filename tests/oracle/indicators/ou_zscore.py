"""Ornstein-Uhlenbeck z-score of the mid, gated by the Hurst exponent.

Model (Uhlenbeck & Ornstein 1930; fitted as in Elliott, van der Hoek & Malcolm 2005):
dX = theta (mu - X) dt + sigma dW. Sampled every step of length 1 (one `sample_ns`), its exact
discretisation is the AR(1) X[t+1] = mu + phi (X[t] - mu) + eps, phi = exp(-theta),
Var(eps) = sigma_eps^2 = sigma^2 (1 - phi^2) / (2 theta). So the OLS of dX on X over the window,
dX = a + b X + e, gives phi = 1 + b and

    theta = -ln(1 + b)                  mean reversion per sample (DESIGN's -b to first order)
    mu    = -a / b                      equilibrium, price units
    sigma = s_e / sqrt(1 - (1 + b)^2)   stationary standard deviation of X, price units
    sigma_diffusion = sigma sqrt(2 theta)   diffusion coefficient, price per sqrt(sample)

with s_e the residuals' standard deviation (N - 2 degrees of freedom). `sigma` is the stationary
std, DESIGN's s_e / sqrt(2 theta) without its first-order approximation; it is what the z-score
divides by: z = (X - mu) / sigma. A window whose fit is not mean reverting (phi outside (0, 1))
or has no residual noise has no such z: the fit is rejected (counted) and z is 0 until a good one.

The fit uses the last `window` samples once `min_points` are held and is refreshed every
`refit_every` samples, rejected or not; z is evaluated on every sample against the latest fit.
`initialized` turns true with the first accepted fit; `fitted` says whether the latest one holds.

Signal (`value`): the strategy is only meaningful where the mid reverts, so it is active only when
a fit holds and 0 < H < `hurst_max` (H from `HurstExponent`, passed in). Active, z < -`z_threshold`
gives +1 (buy below the mean), z > `z_threshold` gives -1; otherwise the previous signal decays by
`decay` per sample. Inactive, the signal is 0: a closed gate withdraws the view at once.

Samples are the closes of `MidBars` bars (the same 1 s event-time sampling as `HurstExponent`, so
both judge the same series); `update_raw` takes samples directly.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from nautilus_trader.indicators.base import Indicator

from tests.oracle.book import BookSnapshot
from tests.oracle.indicators.mid_bars import SECOND_NS
from tests.oracle.indicators.mid_bars import MidBars
from tests.oracle.indicators.warm_state import WarmState


class OUZScore(WarmState, Indicator):
    """z-score of the sampled mid against its fitted OU equilibrium, and a gated +-1 signal.

    Parameters
    ----------
    window : int
        Samples in the fit window (>= `min_points`). Default 100.
    min_points : int
        Samples needed before the first fit (>= 4). Default 50.
    refit_every : int
        Samples between fits (>= 1). Default 50.
    z_threshold : float
        |z| above which the signal is set to -sign(z) (> 0). Default 2.0.
    decay : float
        Factor applied to the signal on samples that do not set it, in [0, 1]. Default 0.93.
    hurst_max : float
        The gate is open for 0 < H < `hurst_max`. Default 0.4.
    sample_ns, max_carry :
        Sampling of the mid (see `MidBars`). Defaults 1 s, 10.
    """

    _STATE = (
        "_x",
        "_hurst",
        "_since_fit",
        "fitted",
        "theta",
        "mu",
        "sigma",
        "sigma_diffusion",
        "z",
        "active",
        "value",
        "fits",
        "rejected_fits",
    )
    _CHILDREN = ("bars",)

    def __init__(
        self,
        window: int = 100,
        min_points: int = 50,
        refit_every: int = 50,
        z_threshold: float = 2.0,
        decay: float = 0.93,
        hurst_max: float = 0.4,
        sample_ns: int = SECOND_NS,
        max_carry: int = 10,
    ) -> None:
        if min_points < 4:
            raise ValueError(f"min_points must be >= 4 (a slope, an intercept and residual noise), got {min_points}")
        if window < min_points:
            raise ValueError(f"window ({window}) must be >= min_points ({min_points})")
        if refit_every < 1:
            raise ValueError(f"refit_every must be >= 1, got {refit_every}")
        if not z_threshold > 0:
            raise ValueError(f"z_threshold must be > 0, got {z_threshold}")
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"decay must be in [0, 1], got {decay}")
        super().__init__(params=[window, min_points, refit_every, z_threshold, decay, hurst_max, sample_ns, max_carry])
        self.window = window
        self.min_points = min_points
        self.refit_every = refit_every
        self.z_threshold = z_threshold
        self.decay = decay
        self.hurst_max = hurst_max
        self._x: deque[float] = deque(maxlen=window)
        self._hurst = math.nan  # H handed in with the mid, read when a bar closes
        self.bars = MidBars(self._on_bar, self._restart, sample_ns, max_carry)
        self._reset()

    def _reset(self) -> None:
        self.bars.reset()
        self._restart()
        self.fits = 0
        self.rejected_fits = 0

    def _restart(self) -> None:
        self._x.clear()
        self._since_fit = self.refit_every  # the first fit comes as soon as `min_points` are held
        self.fitted = False
        self.theta = 0.0
        self.mu = 0.0
        self.sigma = 0.0
        self.sigma_diffusion = 0.0
        self.z = 0.0
        self.active = False
        self.value = 0.0
        self._set_initialized(False)

    def handle_book(self, snapshot: BookSnapshot, hurst: float) -> None:
        """Feed the snapshot's mid at its exchange time, with the current Hurst estimate."""
        self._hurst = hurst
        self.bars.update(snapshot.mid, snapshot.ts_event)

    def update_mid(self, mid: float, ts_ns: int, hurst: float) -> None:
        """Feed a mid observed at `ts_ns` (ns, event time) with the current Hurst estimate."""
        self._hurst = hurst
        self.bars.update(mid, ts_ns)

    def _on_bar(self, high: float, low: float, close: float) -> None:
        self.update_raw(close, self._hurst)

    def update_raw(self, x: float, hurst: float) -> None:
        """Add one sample `x` (price units) with the Hurst estimate `hurst` that gates the signal.

        A non-finite `x` is counted in `bars.invalid` and skipped; a non-finite `hurst` shuts the gate.
        """
        if not math.isfinite(x):
            self.bars.invalid += 1
            return
        if not self.has_inputs:
            self._set_has_inputs(True)
        self._x.append(x)
        self._since_fit += 1
        if len(self._x) >= self.min_points and self._since_fit >= self.refit_every:
            self._fit()
        self.z = (x - self.mu) / self.sigma if self.fitted else 0.0
        self.active = self.fitted and 0.0 < hurst < self.hurst_max
        if not self.active:
            self.value = 0.0
        elif self.z < -self.z_threshold:
            self.value = 1.0
        elif self.z > self.z_threshold:
            self.value = -1.0
        else:
            self.value *= self.decay

    def _fit(self) -> None:
        self._since_fit = 0
        x = np.fromiter(self._x, dtype=np.float64, count=len(self._x))
        level = x[:-1]
        dx = np.diff(x)
        # Centring the regressor keeps a price of 3e4 moving by 1e-1 from cancelling in the sums.
        xc = level - level.mean()
        sxx = float(xc @ xc)
        b = float(xc @ dx) / sxx if sxx > 0.0 else math.nan
        phi = 1.0 + b
        if not 0.0 < phi < 1.0:  # also rejects NaN (flat window)
            self._reject()
            return
        a_centred = float(dx.mean())
        resid = dx - a_centred - b * xc
        s_e = math.sqrt(float(resid @ resid) / (len(dx) - 2))
        if not s_e > 0.0:
            self._reject()
            return
        self.fits += 1
        self.fitted = True
        self.theta = -math.log(phi)
        self.mu = float(level.mean()) - a_centred / b
        self.sigma = s_e / math.sqrt(1.0 - phi * phi)
        self.sigma_diffusion = self.sigma * math.sqrt(2.0 * self.theta)
        self._set_initialized(True)

    def _reject(self) -> None:
        self.rejected_fits += 1
        self.fitted = False
