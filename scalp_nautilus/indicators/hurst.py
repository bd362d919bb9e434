"""Hurst exponent by rescaled-range (R/S) analysis (Hurst 1951; Mandelbrot & Wallis 1969).

The input is the mid sampled every `sample_ns` of event time (the close of each `MidBars` bar);
the series analysed is its last `window` log returns. For each block size m in n/8, n/4, n/2, n
(n = `window`, every m >= 8) the returns are cut into non-overlapping blocks aligned on the newest
return; each block's R/S is the range of its cumulative demeaned sum over its population standard
deviation, and R/S(m) is the average over the blocks. H is the OLS slope of log R/S(m) on log m,
clamped to [0, 1]. H < 0.5: anti-persistent (mean reverting), 0.5: random walk, > 0.5: trending.

R/S is biased at small m: for independent returns E[R/S](m) grows faster than sqrt(m), so at
n = 128 the plain estimate of a random walk averages about 0.56, not 0.5. `anis_lloyd=True`
regresses log R/S(m) - log E[R/S](m) instead and adds 0.5, with E[R/S](m) the Anis & Lloyd (1976)
expectation for independent Gaussian returns (the corrected R/S of Weron 2002, without Peters'
factor: see `anis_lloyd_expected_rs`). Bias and spread measured by Monte Carlo on exact fractional
Gaussian noise (Cholesky), 2,000 series of n = 128 returns per H, fed through `update_raw`:

    true H   plain R/S: mean  sd     0.5%-99.5%     Anis-Lloyd: mean  sd     0.5%-99.5%
    0.3                 0.404 0.091  0.19-0.65                  0.338 0.091  0.12-0.59
    0.5                 0.557 0.108  0.29-0.83                  0.491 0.108  0.22-0.77
    0.7                 0.702 0.125  0.38-0.98                  0.637 0.126  0.32-0.92

R/S pulls estimates towards about 0.55-0.6: the plain one reads +0.10 high at H = 0.3 and is
nearly unbiased at 0.7; the corrected one removes 0.066 everywhere. With four block sizes and one
block of 128 the spread (sd 0.09-0.13) dominates: one estimate says little, and a gate at H < 0.4
opens for only about half the windows of a true H = 0.3 series with the plain estimate.

Blocks with no variance (a mid that did not move for m samples) have no scale to rescale by and
are left out of the average; a block size with no block left is left out of the regression. With
fewer than two sizes left H is undefined: `value` is then 0.5 (no evidence either way, which keeps
the OU gate shut), `defined` is False and `undefined` counts it.

The state is compiled (`scalp_nautilus.indicators.compiled`): `hurst_sample` is the one update,
run by the class and by the pipeline's batch kernel.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from numba import njit

from scalp_nautilus.indicators.compiled import HAS_INPUTS
from scalp_nautilus.indicators.compiled import INITIALIZED
from scalp_nautilus.indicators.mid_bars import MAX_CARRY
from scalp_nautilus.indicators.mid_bars import OUT
from scalp_nautilus.indicators.mid_bars import OUT_COUNT
from scalp_nautilus.indicators.mid_bars import OUT_GAP
from scalp_nautilus.indicators.mid_bars import MidBarIndicator
from scalp_nautilus.indicators.mid_bars import MidBars
from scalp_nautilus.indicators.settings import HurstSettings
from scalp_nautilus.indicators.settings import checked
from scalp_nautilus.indicators.settings import ns
from scalp_nautilus.skips import SkipCounter

log = logging.getLogger(__name__)


@njit(cache=True)
def rescaled_range(x: np.ndarray, m: int) -> float:
    """Mean R/S over the non-overlapping blocks of length `m` ending at ``x[-1]``; NaN if no block has variance."""
    k = x.shape[0] // m
    start = x.shape[0] - k * m
    total = 0.0
    used = 0
    for b in range(k):
        lo = start + b * m
        mean = 0.0
        for i in range(lo, lo + m):
            mean += x[i]
        mean /= m
        cum = 0.0
        hi_cum = 0.0
        lo_cum = 0.0
        ss = 0.0
        for i in range(lo, lo + m):
            d = x[i] - mean
            ss += d * d
            cum += d
            if cum > hi_cum:
                hi_cum = cum
            elif cum < lo_cum:
                lo_cum = cum
        if ss > 0.0:  # a flat block has no scale to rescale by
            total += (hi_cum - lo_cum) / math.sqrt(ss / m)
            used += 1
    return total / used if used > 0 else np.nan


@njit(cache=True)
def ols_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of `y` on `x` (NaN with fewer than two points or no spread in `x`)."""
    n = x.shape[0]
    if n < 2:
        return np.nan
    mx = 0.0
    my = 0.0
    for i in range(n):
        mx += x[i]
        my += y[i]
    mx /= n
    my /= n
    sxx = 0.0
    sxy = 0.0
    for i in range(n):
        sxx += (x[i] - mx) * (x[i] - mx)
        sxy += (x[i] - mx) * (y[i] - my)
    return sxy / sxx if sxx > 0.0 else np.nan


@njit(cache=True)
def hurst_rs(x: np.ndarray, sizes: np.ndarray, log_expected: np.ndarray, offset: float) -> float:
    """offset + slope of (log R/S(m) - log_expected(m)) on log m over `sizes`, unclamped; NaN if undefined."""
    log_m = np.empty(sizes.shape[0])
    log_rs = np.empty(sizes.shape[0])
    used = 0
    for j in range(sizes.shape[0]):
        rs = rescaled_range(x, sizes[j])
        if rs > 0.0:
            log_m[used] = math.log(sizes[j])
            log_rs[used] = math.log(rs) - log_expected[j]
            used += 1
    return offset + ols_slope(log_m[:used], log_rs[:used])


def anis_lloyd_expected_rs(m: int) -> float:
    """E[R/S] of `m` independent Gaussian values (Anis & Lloyd 1976).

    Peters' (1994) extra factor (m - 0.5)/m is left out: against a Monte Carlo of this module's
    R/S (population standard deviation) the plain formula is exact to 0.1% at m = 16 while the
    factor makes it 3% low (tests/test_hurst.py).
    """
    if m < 2:
        raise ValueError(f"block size must be >= 2, got {m}")
    # The paper switches to an asymptote above m = 340 where Gamma overflows; lgamma does not.
    ratio = math.exp(math.lgamma((m - 1) / 2) - math.lgamma(m / 2)) / math.sqrt(math.pi)
    return ratio * sum(math.sqrt((m - i) / i) for i in range(1, m))


def block_sizes(window: int) -> np.ndarray:
    """n/8, n/4, n/2, n for n = `window`."""
    return np.array([window // 8, window // 4, window // 2, window], dtype=np.int64)


# float slots: the Anis-Lloyd offset and log E[R/S] per block size, then the returns (each written
# twice, n apart, so the last n are always one contiguous slice)
(_OFFSET, _LAST, VALUE, _LOG_EXPECTED) = range(4)
_FLOATS = 8
# int slots: then the four block sizes
(_WINDOW, _HEAD, COUNT, DEFINED, UNDEFINED, _SKIP_SAMPLE, _SIZES) = range(2, 9)
_INTS = 13
SKIPS = {_SKIP_SAMPLE: "non-positive or non-finite sample skipped"}


@njit(cache=True)
def hurst_restart(s, n):
    """Returns across an outage are not 1 s returns, so the window refills."""
    s[_FLOATS:] = 0.0
    n[_HEAD] = 0
    n[COUNT] = 0
    s[_LAST] = np.nan
    s[VALUE] = 0.5
    n[DEFINED] = 0
    n[INITIALIZED] = 0


@njit(cache=True)
def hurst_sample(s, n, sample):
    """Add one sampled mid (quote currency); the estimate is refreshed once `window` returns are held."""
    if not (sample > 0.0 and math.isfinite(sample)):
        n[_SKIP_SAMPLE] += 1
        return
    n[HAS_INPUTS] = 1
    last = s[_LAST]
    s[_LAST] = sample
    if last != last:  # first sample after a (re)start: no return yet
        return
    r = math.log(sample / last)
    window = n[_WINDOW]
    head = n[_HEAD]
    s[_FLOATS + head] = r
    s[_FLOATS + head + window] = r
    n[_HEAD] = head = (head + 1) % window
    if n[COUNT] < window:
        n[COUNT] += 1
        if n[COUNT] < window:
            return
        n[INITIALIZED] = 1
    h = hurst_rs(
        s[_FLOATS + head : _FLOATS + head + window], n[_SIZES : _SIZES + 4], s[_LOG_EXPECTED : _LOG_EXPECTED + 4], s[_OFFSET]
    )
    if h == h:
        s[VALUE] = min(max(h, 0.0), 1.0)
        n[DEFINED] = 1
    else:
        s[VALUE] = 0.5
        n[DEFINED] = 0
        n[UNDEFINED] += 1


@njit(cache=True)
def hurst_bars(s, n, bs, bn):
    """The bars the last `bars_update` closed: each one's close is a sample; an outage restarts."""
    m = bn[MAX_CARRY] + 1
    for k in range(bn[OUT_COUNT]):
        hurst_sample(s, n, bs[OUT + 2 * m + k])
    if bn[OUT_GAP]:
        hurst_restart(s, n)


class HurstExponent(MidBarIndicator):
    """R/S Hurst exponent of the mid's log returns sampled every `sample_ns` of event time.

    Parameters
    ----------
    settings : HurstSettings
        `window`: returns analysed, n (>= 64 so that the smallest block, n/8, has 8 returns);
        `sample_s`: sampling interval of the mid; `anis_lloyd`: correct the small-sample bias with
        the Anis-Lloyd expectation.
    max_carry : int
        Silent samples carried forward before a silence counts as an outage (see `MidBars`).
    """

    _consume = staticmethod(hurst_bars)

    def __init__(self, settings: HurstSettings | None = None, *, max_carry: int = 10) -> None:
        settings = checked(settings or HurstSettings())
        window, sample_ns, anis_lloyd = settings.window, ns(settings.sample_s), settings.anis_lloyd
        super().__init__(params=[window, sample_ns, anis_lloyd, max_carry])
        self.settings = settings
        self.window = window
        self.anis_lloyd = anis_lloyd
        self.skips = SkipCounter(type(self).__name__, log)
        self.bars = MidBars(bar_ns=sample_ns, max_carry=max_carry)
        self._allocate(_FLOATS + 2 * window, _INTS)
        self._reset()

    def _reset(self) -> None:
        s, n = self._s, self._n
        s[:] = 0.0
        n[:] = 0
        sizes = block_sizes(self.window)
        n[_WINDOW] = self.window
        n[_SIZES : _SIZES + 4] = sizes
        if self.anis_lloyd:
            s[_LOG_EXPECTED : _LOG_EXPECTED + 4] = np.log([anis_lloyd_expected_rs(int(m)) for m in sizes])
            s[_OFFSET] = 0.5
        hurst_restart(s, n)
        self.bars.reset()
        self.skips.clear()

    def update_raw(self, sample: float) -> None:
        """Add one sampled mid (quote currency); the estimate is refreshed once `window` returns are held.

        A non-positive or non-finite sample is counted and skipped.
        """
        hurst_sample(self._s, self._n, sample)
        self.skips.sync(self._n, SKIPS)

    @property
    def value(self) -> float:
        return float(self._s[VALUE])

    @property
    def defined(self) -> bool:
        return bool(self._n[DEFINED])

    @property
    def undefined(self) -> int:
        return int(self._n[UNDEFINED])

    @property
    def count(self) -> int:
        """Returns held, up to `window`."""
        return int(self._n[COUNT])
