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

The state is compiled (`scalp_nautilus.indicators.compiled`): `ou_sample` is the one update, run
by the class and by the pipeline's batch kernel; its fit uses numpy's summation (`pairwise_sum`)
and numba's `np.dot` (the same BLAS dot as numpy's `@`), so it gives numpy's numbers.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from numba import njit

from scalp_nautilus.book import BookSnapshot
from scalp_nautilus.feature_table import HURST_MEAN_REVERSION_BELOW
from scalp_nautilus.indicators.compiled import HAS_INPUTS
from scalp_nautilus.indicators.compiled import INITIALIZED
from scalp_nautilus.indicators.compiled import pairwise_sum
from scalp_nautilus.indicators.mid_bars import MAX_CARRY
from scalp_nautilus.indicators.mid_bars import OUT
from scalp_nautilus.indicators.mid_bars import OUT_COUNT
from scalp_nautilus.indicators.mid_bars import OUT_GAP
from scalp_nautilus.indicators.mid_bars import MidBarIndicator
from scalp_nautilus.indicators.mid_bars import MidBars
from scalp_nautilus.indicators.settings import OUSettings
from scalp_nautilus.indicators.settings import checked
from scalp_nautilus.indicators.settings import ns
from scalp_nautilus.skips import SkipCounter

log = logging.getLogger(__name__)

# float slots, then the samples (ring of `window`)
(_Z_THRESHOLD, _DECAY, _HURST_MAX, HURST, THETA, MU, SIGMA, SIGMA_DIFFUSION, Z, VALUE) = range(10)
_FLOATS = 10
(_WINDOW, _MIN_POINTS, _REFIT, _HEAD, _COUNT, _SINCE_FIT, FITTED, ACTIVE, FITS, REJECTED, _SKIP_SAMPLE) = range(2, 13)
_INTS = 13
SKIPS = {_SKIP_SAMPLE: "non-finite sample skipped"}


@njit(cache=True)
def ou_restart(s, n):
    n[_HEAD] = 0
    n[_COUNT] = 0
    n[_SINCE_FIT] = n[_REFIT]  # the first fit comes as soon as `min_points` are held
    n[FITTED] = 0
    s[THETA] = s[MU] = s[SIGMA] = s[SIGMA_DIFFUSION] = s[Z] = s[VALUE] = 0.0
    n[ACTIVE] = 0
    n[INITIALIZED] = 0


@njit(cache=True)
def _fit(s, n):
    n[_SINCE_FIT] = 0
    count = n[_COUNT]
    window = n[_WINDOW]
    x = np.empty(count)
    first = (n[_HEAD] - count) % window
    for i in range(count):
        x[i] = s[_FLOATS + (first + i) % window]
    level = x[:-1]
    dx = x[1:] - x[:-1]
    m = count - 1
    level_mean = pairwise_sum(level, 0, m) / m
    # Centring the regressor keeps a price of 3e4 moving by 1e-1 from cancelling in the sums.
    xc = level - level_mean
    sxx = np.dot(xc, xc)
    b = np.dot(xc, dx) / sxx if sxx > 0.0 else np.nan
    phi = 1.0 + b
    if not 0.0 < phi < 1.0:  # also rejects NaN (flat window)
        n[REJECTED] += 1
        n[FITTED] = 0
        return
    a_centred = pairwise_sum(dx, 0, m) / m
    resid = dx - a_centred - b * xc
    s_e = math.sqrt(np.dot(resid, resid) / (m - 2))
    if not s_e > 0.0:
        n[REJECTED] += 1
        n[FITTED] = 0
        return
    n[FITS] += 1
    n[FITTED] = 1
    s[THETA] = -math.log(phi)
    s[MU] = level_mean - a_centred / b
    s[SIGMA] = s_e / math.sqrt(1.0 - phi * phi)
    s[SIGMA_DIFFUSION] = s[SIGMA] * math.sqrt(2.0 * s[THETA])
    n[INITIALIZED] = 1


@njit(cache=True)
def ou_sample(s, n, x, hurst):
    """Add one sample `x` (price units) with the Hurst estimate `hurst` that gates the signal."""
    if not math.isfinite(x):
        n[_SKIP_SAMPLE] += 1
        return
    n[HAS_INPUTS] = 1
    window = n[_WINDOW]
    s[_FLOATS + n[_HEAD]] = x
    n[_HEAD] = (n[_HEAD] + 1) % window
    n[_COUNT] = min(n[_COUNT] + 1, window)
    n[_SINCE_FIT] += 1
    if n[_COUNT] >= n[_MIN_POINTS] and n[_SINCE_FIT] >= n[_REFIT]:
        _fit(s, n)
    fitted = n[FITTED]
    z = (x - s[MU]) / s[SIGMA] if fitted else 0.0
    s[Z] = z
    active = fitted and 0.0 < hurst < s[_HURST_MAX]
    n[ACTIVE] = active
    if not active:
        s[VALUE] = 0.0
    elif z < -s[_Z_THRESHOLD]:
        s[VALUE] = 1.0
    elif z > s[_Z_THRESHOLD]:
        s[VALUE] = -1.0
    else:
        s[VALUE] *= s[_DECAY]


@njit(cache=True)
def ou_bars(s, n, bs, bn):
    """The bars the last `bars_update` closed, each close a sample gated by `s[HURST]`; an outage restarts."""
    m = bn[MAX_CARRY] + 1
    for k in range(bn[OUT_COUNT]):
        ou_sample(s, n, bs[OUT + 2 * m + k], s[HURST])
    if bn[OUT_GAP]:
        ou_restart(s, n)


class OUZScore(MidBarIndicator):
    """z-score of the sampled mid against its fitted OU equilibrium, and a gated +-1 signal.

    Parameters
    ----------
    settings : OUSettings
        `window` samples in the fit, `min_points` before the first fit, `refit_every` samples
        between fits; |z| above `z_threshold` sets the signal to -sign(z), which `decay` shrinks on
        samples that do not set it; the mid sampled every `sample_s`.
    hurst_max : float
        The gate is open for 0 < H < `hurst_max` (the strategy passes its mean-reversion bound,
        `signals.hurst_mean_reversion_below`). Default 0.4.
    max_carry :
        Outage rule of the samples (see `MidBars`). Default 10.
    """

    _consume = staticmethod(ou_bars)

    def __init__(
        self, settings: OUSettings | None = None, *, hurst_max: float = HURST_MEAN_REVERSION_BELOW, max_carry: int = 10
    ) -> None:
        o = settings = checked(settings or OUSettings())
        window, min_points, refit_every, z_threshold, decay = o.window, o.min_points, o.refit_every, o.z_threshold, o.decay
        sample_ns = ns(o.sample_s)
        super().__init__(params=[window, min_points, refit_every, z_threshold, decay, hurst_max, sample_ns, max_carry])
        self.settings = settings
        self.window = window
        self.min_points = min_points
        self.refit_every = refit_every
        self.z_threshold = z_threshold
        self.decay = decay
        self.hurst_max = hurst_max
        self.skips = SkipCounter(type(self).__name__, log)
        self.bars = MidBars(bar_ns=sample_ns, max_carry=max_carry)
        self._allocate(_FLOATS + window, _INTS)
        self._reset()

    def _reset(self) -> None:
        s, n = self._s, self._n
        s[:] = 0.0
        n[:] = 0
        s[_Z_THRESHOLD], s[_DECAY], s[_HURST_MAX], s[HURST] = self.z_threshold, self.decay, self.hurst_max, math.nan
        n[_WINDOW], n[_MIN_POINTS], n[_REFIT] = self.window, self.min_points, self.refit_every
        ou_restart(s, n)
        self.bars.reset()
        self.skips.clear()

    def handle_book(self, snapshot: BookSnapshot, hurst: float) -> None:  # type: ignore[override]
        """Feed the snapshot's mid at its exchange time, with the current Hurst estimate."""
        self.update_mid(snapshot.mid, snapshot.ts_event, hurst)

    def update_mid(self, mid: float, ts_ns: int, hurst: float) -> None:  # type: ignore[override]
        """Feed a mid observed at `ts_ns` (ns, event time) with the current Hurst estimate."""
        self._s[HURST] = hurst
        super().update_mid(mid, ts_ns)

    def update_raw(self, x: float, hurst: float) -> None:
        """Add one sample `x` (price units) with the Hurst estimate `hurst` that gates the signal.

        A non-finite `x` is counted and skipped; a non-finite `hurst` shuts the gate.
        """
        ou_sample(self._s, self._n, x, hurst)
        self.skips.sync(self._n, SKIPS)

    @property
    def value(self) -> float:
        return float(self._s[VALUE])

    @property
    def z(self) -> float:
        return float(self._s[Z])

    @property
    def theta(self) -> float:
        return float(self._s[THETA])

    @property
    def mu(self) -> float:
        return float(self._s[MU])

    @property
    def sigma(self) -> float:
        return float(self._s[SIGMA])

    @property
    def sigma_diffusion(self) -> float:
        return float(self._s[SIGMA_DIFFUSION])

    @property
    def fitted(self) -> bool:
        return bool(self._n[FITTED])

    @property
    def active(self) -> bool:
        return bool(self._n[ACTIVE])

    @property
    def fits(self) -> int:
        return int(self._n[FITS])

    @property
    def rejected_fits(self) -> int:
        return int(self._n[REJECTED])
