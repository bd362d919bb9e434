"""Bootstrap intervals a verdict can rest on: block resamples from `arch`, a block length chosen from
the data and never shorter than the statistic's horizon, and enough resamples that each bound's
Monte Carlo error is small and stated.

- **Resamples.** `arch.bootstrap.StationaryBootstrap` (Politis and Romano 1994; `circular`:
  `CircularBlockBootstrap`) draws the resampled unit indices, seeded. Units are rows, windows,
  intervals or round trips in time order.
- **Block length.** Politis and White's (2004) automatic choice, with Patton, Politis and White's
  (2009) correction (`arch.bootstrap.optimal_block_length`), taken over every series the statistic
  reads, and never shorter than `min_block` (a forward return over h seconds overlaps its
  neighbours for h seconds: blocks shorter than that cut dependent units apart and make
  intervals too narrow).
- **Statistics** are functions of column sums (`Statistic`): a mean, a rank correlation (Pearson
  of the full sample's ranks), a hit-rate difference, a ratio of variances. A resample's sums are
  read from prefix sums over its blocks, so many statistics share one set of resamples (the same
  resampled days for every signal: a joint bootstrap) at the cost of a few operations per block.
- **Interval.** The percentile interval. Its bounds are order statistics of the resampled values;
  their Monte Carlo (MC) error is the half-width of the distribution-free 95% interval of a
  quantile (the order statistics B p -+ 1.96 sqrt(B p (1 - p))). Resamples are added (doubling
  from `min_reps`) until every bound's MC error is at most `mc_target`, or `max_reps` is reached
  (the error is then reported as it is).
- **p-value** of "the statistic equals `null`": two-sided, from the bootstrap standard error,
  2 Phi(-|t - null| / sd(t*)). A percentile p-value (the share of resamples beyond `null`) cannot
  go below 1 / B, and a family of 75 tests multiplies that floor by up to 75 under
  Benjamini-Hochberg, which would leave every strong result within Monte Carlo error of 0.05.
  Its own MC error comes from that of sd(t*) (relative 1 / sqrt(2 (B - 1))).
- **Families.** Benjamini and Hochberg's (1995) adjusted p-values over a family of tests
  (`scipy.stats.false_discovery_control`).
- A verdict whose bound lies within its MC error of the threshold is "borderline": another seed
  could put it on the other side.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Literal

import numpy as np

from scalp_nautilus.errors import InputError

if TYPE_CHECKING:
    import argparse

MIN_UNITS = 20  # units below which no interval is given
MIN_BLOCKS = 3  # blocks of the chosen length the sample must hold
Z95 = 1.959963984540054
BORDERLINE = "borderline"


@dataclass(frozen=True)
class BootstrapSettings:
    """How intervals are resampled. `mc_target`: the largest MC error (95% half-width) of a bound."""

    min_reps: int = 2000
    max_reps: int = 64_000
    mc_target: float = 0.005
    level: float = 0.95
    seed: int = 7
    method: Literal["stationary", "circular"] = "stationary"

    def __post_init__(self) -> None:
        if not 1 <= self.min_reps <= self.max_reps:
            raise InputError(f"need 1 <= min_reps <= max_reps, got {self.min_reps}, {self.max_reps}")
        if not self.mc_target > 0 or not 0.5 < self.level < 1.0:
            raise InputError(f"need mc_target > 0 and level in (0.5, 1), got {self.mc_target}, {self.level}")
        if self.method not in ("stationary", "circular"):
            raise InputError(f"method must be stationary or circular, got {self.method!r}")

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser, intervals: str, target: str = "") -> None:
        """`--boot` and `--max-boot` of a command that bootstraps `intervals` (`from_args` reads them);
        `target`: what bounds the Monte Carlo error (default: the default `mc_target`)."""
        d = BootstrapSettings()
        parser.add_argument("--boot", type=int, default=d.min_reps, help=f"block-bootstrap resamples of {intervals}, at least")
        parser.add_argument(
            "--max-boot",
            type=int,
            default=d.max_reps,
            help=f"resamples at most, added while a bound's Monte Carlo error exceeds {target or d.mc_target}",
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace, **fields) -> BootstrapSettings:
        """`--boot`, `--max-boot` (raised to `--boot` when below it) and `fields`."""
        return cls(args.boot, max(args.boot, args.max_boot), **fields)


@dataclass(frozen=True)
class Statistic:
    """A statistic of per-unit contributions: `columns` (n units x c) are summed over a resample's
    units (with multiplicity) and `value` maps those sums (r x c) to r values (NaN: undefined)."""

    columns: np.ndarray
    value: Callable[[np.ndarray], np.ndarray]
    null: float = 0.0  # the value a p-value tests against

    def at(self, sums: np.ndarray) -> float:
        return float(self.value(sums.reshape(1, -1))[0])

    @property
    def estimate(self) -> float:
        return self.at(self.columns.sum(axis=0))


@dataclass(frozen=True)
class Interval:
    lo: float
    hi: float
    mc_lo: float  # MC error (95% half-width) of each bound
    mc_hi: float
    p: float  # two-sided p-value against the statistic's null, from the bootstrap standard error
    p_mc: float  # MC error of p
    reps: int  # resamples with a defined value
    block: float  # mean block length in units

    @property
    def mc_error(self) -> float:
        return max(self.mc_lo, self.mc_hi)

    def side(self, threshold: float) -> str:
        """ "above" (lo > threshold), "below" (hi < threshold), "straddles", or BORDERLINE when the
        bound nearest the threshold is within its MC error of it."""
        if abs(self.lo - threshold) < self.mc_lo or abs(self.hi - threshold) < self.mc_hi:
            return BORDERLINE
        return "above" if self.lo > threshold else "below" if self.hi < threshold else "straddles"


# ---------------------------------------------------------------------- block length


def block_length(series: np.ndarray, min_block: float = 1.0, method: str = "stationary") -> float:
    """Politis-White's block length for `series` (n, or n x k: the longest over the columns),
    capped at sqrt(n), and never below `min_block` nor 1. Constant columns are left out (their
    autocorrelation is undefined). The cap: on a few dozen units the estimate is noise (9 on 25
    independent draws), and a block of more than sqrt(n) leaves too few blocks to resample; a
    horizon (`min_block`) still wins over it."""
    from arch.bootstrap import optimal_block_length  # lazy: arch pulls scipy, statsmodels, matplotlib (~2 s) into every backtest

    x = np.asarray(series, np.float64).reshape(len(series), -1)
    x = x[:, np.nanstd(x, axis=0) > 0] if len(x) > 1 else x[:, :0]
    pw = 1.0
    if x.shape[1] and len(x) >= 10:
        with np.errstate(divide="ignore", invalid="ignore"):  # a flat spectrum gives inf: left out below
            table = optimal_block_length(x)
        values = table["stationary" if method == "stationary" else "circular"].to_numpy(np.float64)
        values = values[np.isfinite(values)]
        if len(values):
            pw = min(float(values.max()), math.sqrt(len(x)))
    return max(pw, float(min_block), 1.0)


# ---------------------------------------------------------------------- resampling


def _bootstrap(method: str, block: float, n: int, seed: np.random.Generator):
    from arch.bootstrap import CircularBlockBootstrap  # lazy: see block_length
    from arch.bootstrap import StationaryBootstrap

    if method == "stationary":
        # its block_size is a mean (it draws with p = 1 / block_size): a float is meant, the hint says int
        return StationaryBootstrap(block, np.arange(n), seed=seed)  # type: ignore[arg-type]
    return CircularBlockBootstrap(max(1, round(block)), np.arange(n), seed=seed)


def _block_sums(prefix: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Sums of the columns over one resample, read from `prefix` (n + 1 x c, prefix[0] = 0) block
    by block: a block is a run of consecutive indices (a circular wrap starts a new one)."""
    starts = np.flatnonzero(np.r_[True, np.diff(indices) != 1])
    first = indices[starts]
    last = indices[np.r_[starts[1:] - 1, len(indices) - 1]]
    return (prefix[last + 1] - prefix[first]).sum(axis=0)


def joint_intervals(
    statistics: Sequence[Statistic | None],
    n: int,
    block: float,
    settings: BootstrapSettings = BootstrapSettings(),
    seed_offset: int = 0,
) -> list[Interval | None]:
    """Percentile intervals of every statistic (each over the same n units) from one set of
    resamples, adding resamples until every bound's MC error is at most `mc_target` (or
    `max_reps`). None for a statistic left out (None), for a sample with fewer than MIN_BLOCKS
    blocks, or when fewer than half the resamples give it a value."""
    live = [i for i, s in enumerate(statistics) if s is not None]
    out: list[Interval | None] = [None] * len(statistics)
    if not live or n < MIN_BLOCKS * block or n < 2:
        return out
    widths = [statistics[i].columns.shape[1] for i in live]  # type: ignore[union-attr]
    stacked = np.concatenate([statistics[i].columns for i in live], axis=1)  # type: ignore[union-attr]
    prefix = np.vstack([np.zeros((1, stacked.shape[1])), np.cumsum(stacked, axis=0)])
    edges = np.r_[0, np.cumsum(widths)]
    bs = _bootstrap(settings.method, block, n, np.random.default_rng([settings.seed, seed_offset]))
    values: list[list[np.ndarray]] = [[] for _ in live]
    target, drawn = settings.min_reps, 0
    while True:
        sums = np.array([_block_sums(prefix, bs.update_indices()) for _ in range(target - drawn)])
        drawn = target
        for k, i in enumerate(live):
            values[k].append(statistics[i].value(sums[:, edges[k] : edges[k + 1]]))  # type: ignore[union-attr]
        results = [_interval(np.concatenate(v), statistics[i], settings.level, block, drawn) for v, i in zip(values, live)]  # type: ignore[arg-type]
        worst = max((r.mc_error for r in results if r is not None), default=0.0)
        if worst <= settings.mc_target or drawn >= settings.max_reps:
            break
        target = min(2 * drawn, settings.max_reps)
    for k, i in enumerate(live):
        out[i] = results[k]
    return out


def interval(statistic: Statistic, block: float, settings: BootstrapSettings = BootstrapSettings()) -> Interval | None:
    """One statistic's interval (see `joint_intervals`)."""
    return joint_intervals([statistic], len(statistic.columns), block, settings)[0]


def _interval(values: np.ndarray, statistic: Statistic, level: float, block: float, drawn: int) -> Interval | None:
    v = np.sort(values[np.isfinite(values)])
    b = len(v)
    estimate = statistic.estimate
    if b < max(drawn / 2, 2) or not np.isfinite(estimate):
        return None
    lo, mc_lo = _quantile_with_error(v, (1.0 - level) / 2.0)
    hi, mc_hi = _quantile_with_error(v, (1.0 + level) / 2.0)
    sd = float(np.std(v, ddof=1))
    if sd > 0:
        from scipy.stats import norm  # lazy: see block_length

        z = abs(estimate - statistic.null) / sd
        p = 2.0 * float(norm.sf(z))
        p_mc = Z95 * 2.0 * float(norm.pdf(z)) * z / math.sqrt(2.0 * (b - 1))
    else:
        p, p_mc = (1.0 if estimate == statistic.null else 0.0), 0.0
    return Interval(lo, hi, mc_lo, mc_hi, p, p_mc, b, block)


def _quantile_with_error(sorted_values: np.ndarray, p: float) -> tuple[float, float]:
    """numpy's quantile of the sorted values and the half-width of the distribution-free 95%
    interval of that quantile (order statistics at ranks B p -+ 1.96 sqrt(B p (1 - p)))."""
    b = len(sorted_values)
    value = float(np.quantile(sorted_values, p))
    half = Z95 * math.sqrt(b * p * (1.0 - p))
    i_lo = max(0, math.floor(b * p - half) - 1)
    i_hi = min(b - 1, math.ceil(b * p + half) - 1)
    return value, float(sorted_values[i_hi] - sorted_values[i_lo]) / 2.0


# ---------------------------------------------------------------------- statistics


def mean_statistic(x: np.ndarray, null: float = 0.0) -> Statistic:
    x = np.asarray(x, np.float64)
    return Statistic(np.column_stack([np.ones(len(x)), x]), ratio_of_sums, null)


def ratio_of_sums(s: np.ndarray) -> np.ndarray:
    """The second column's sum over the first's (a mean over the counted units); NaN over none."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s[:, 0] > 0, s[:, 1] / np.where(s[:, 0] > 0, s[:, 0], 1.0), np.nan)


def correlation_columns(x: np.ndarray, y: np.ndarray, use: np.ndarray | None = None) -> np.ndarray:
    """Per-unit contributions (1, x, y, x², y², xy) to a Pearson correlation, zero where `use` is
    False (units outside a subset keep their place in time)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    cols = np.column_stack([np.ones(len(x)), x, y, x * x, y * y, x * y])
    if use is not None:
        cols[~use] = 0.0
    return cols


def correlation(s: np.ndarray) -> np.ndarray:
    """Pearson's r from the sums of `correlation_columns` (NaN where either side is constant)."""
    n, sx, sy, sxx, syy, sxy = (s[:, k] for k in range(6))
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sy / n
        vx, vy = sxx - sx * sx / n, syy - sy * sy / n
        ok = (n > 2) & (vx > 1e-12 * np.abs(sxx)) & (vy > 1e-12 * np.abs(syy))
        return np.where(ok, cov / np.sqrt(np.where(ok, vx * vy, 1.0)), np.nan)


def correlation_statistic(x: np.ndarray, y: np.ndarray, use: np.ndarray | None = None, squared: bool = False) -> Statistic:
    """Pearson's r (or r²) of x and y over the units in `use`. Rank the data first for Spearman's:
    a resample then re-uses the full sample's ranks, Spearman's rho up to re-ranking inside the
    resample."""
    return Statistic(correlation_columns(x, y, use), _squared_correlation if squared else correlation)


def _squared_correlation(s: np.ndarray) -> np.ndarray:
    return correlation(s) ** 2


# ---------------------------------------------------------------------- families and verdicts


def adjust(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values of a family (NaN entries stay NaN and are not counted)."""
    p = np.asarray(p_values, np.float64)
    out = np.full(len(p), np.nan)
    ok = np.isfinite(p)
    if ok.any():
        from scipy.stats import false_discovery_control  # lazy: see block_length

        out[ok] = false_discovery_control(p[ok], method="bh")
    return out


def adjusted_mc(p: float, p_adj: float, p_mc: float) -> float:
    """MC error of an adjusted p-value: the test's own MC error scaled by its BH multiplier."""
    return p_mc * (p_adj / p) if p > 0 else p_mc
