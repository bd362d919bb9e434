"""Does a feature predict the mid? Rank ICs, hit rates and decile returns of each signal against the
forward mid return, net of trading costs, over recorded features (`FeatureRecorder` Parquet rows).

- **Rows.** Each file is one recording session; rows whose book was invalid are dropped. Book
  batches arrive 15-90 times a second and neighbours are nearly identical, so the rows are thinned
  to the last one of each `sample_ms` of event time (the forward returns still read every row).
- **Target.** The forward mid return in bps over h seconds of event time: the mid prevailing at
  t + h (the last row at or before it) against the row's mid. A row whose horizon runs past the
  end of its file has none (no return crosses a file boundary), nor one whose horizon reaches into
  an invalid span of the data (an outage: the file's metadata lists them; rows inside are dropped).
- **Signals** (`SIGNALS`): each is oriented so that a positive value calls the mid up, and is used
  only on rows where the indicators it needs are warm (the recorder's `cold` column names those
  still warming up).
- **IC**: Spearman's rank correlation of signal and target; its 95% interval from a stationary
  block bootstrap (`research.intervals`: arch's resamples, one set per horizon shared by every
  signal; mean block length Politis-White's from the data, never shorter than the horizon in
  rows, because neighbouring forward returns overlap), with the Monte Carlo error of each bound
  (`ic_mc_err`, at most 0.005 unless `max_reps` ran out) and a two-sided p-value. The signal x
  horizon family is controlled as a family: `p_adj` is Benjamini-Hochberg's adjusted p-value
  (the band subsets form a second family).
- **Per day**: the IC on each UTC day with at least `MIN_ROWS` rows (`ic_by_day`), and on how many
  of them its sign is the pooled IC's (`days_agree` of `days`). A verdict "IC > 0" (or < 0)
  needs the interval to exclude 0, the adjusted p-value below 0.05 and the sign to agree on more
  than half the days; a bound or adjusted p-value within its MC error of its threshold reads
  "borderline".
- **Hit rate**: the share of rows where the signal's sign is the return's sign (rows where either
  is 0 are left out).
- **Deciles**: mean forward return of the rows at or above the signal's 90% quantile (top) and at
  or below its 10% quantile (bottom); ties are included, so a discrete signal's "decile" can hold
  more rows. Spread = top - bottom.
- **Edge after costs**: a trade takes one side (long the top, short the bottom), so it earns half the
  spread on average; from that the round trip's cost is taken: fees of both legs plus, per taker
  leg, half the mean quoted spread (`round_trip_costs`). The best edge is the maximum over the
  family, so it carries Hansen's (2005) SPA p-value (arch's `SPA`) of "no signal x horizon beats
  zero edge after costs": each one trades its deciles (long the top, short the bottom) on every
  sampled row, net of the round trip.

A signal, horizon or subset with too few rows, too few minutes or a constant signal gets the verdict
"not enough data" and empty numbers: NaN or inf is never written.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from arch.bootstrap import SPA
from scipy.stats import rankdata

from scalp_nautilus.data import spans
from scalp_nautilus.errors import InputError
from scalp_nautilus.errors import MissingFileError
from scalp_nautilus.feature_recorder import unavailable_columns
from scalp_nautilus.feature_table import FIELDS
from scalp_nautilus.feature_table import HURST_MEAN_REVERSION_BELOW
from scalp_nautilus.feature_table import HURST_MOMENTUM_ABOVE
from scalp_nautilus.feature_table import LOB_LEVELS
from scalp_nautilus.feature_table import lob_column
from scalp_nautilus.feature_table import unavailable_text
from scalp_nautilus.fees import BINANCE_USDM
from scalp_nautilus.research.intervals import BORDERLINE
from scalp_nautilus.research.intervals import MIN_BLOCKS
from scalp_nautilus.research.intervals import Z95
from scalp_nautilus.research.intervals import BootstrapSettings
from scalp_nautilus.research.intervals import Interval
from scalp_nautilus.research.intervals import Statistic
from scalp_nautilus.research.intervals import adjust
from scalp_nautilus.research.intervals import adjusted_mc
from scalp_nautilus.research.intervals import block_length
from scalp_nautilus.research.intervals import correlation_statistic
from scalp_nautilus.research.intervals import joint_intervals
from scalp_nautilus.units import NS_PER_S

log = logging.getLogger(__name__)

HORIZONS_S = (1, 5, 10, 30, 60)
MIN_ROWS = 30  # rows below which an IC or a decile mean says nothing
FEW_MINUTES = 60  # below an hour of data the summary says a positive edge cannot be concluded
ALPHA = 0.05  # the family's false discovery rate, and the SPA test's level
NOT_ENOUGH = "not enough data"
_DAY_NS = 86_400 * NS_PER_S

# Columns every analysis reads; a file without them is refused.
BASE_COLUMNS = ("ts_event", "mid", "book_valid", "cold")


@dataclass(frozen=True)
class Signal:
    name: str
    columns: tuple[str, ...]  # recorder columns it reads
    needs: tuple[str, ...]  # pipeline indicators (tokens of the `cold` column) that must be warm
    value: Callable[[pd.DataFrame], np.ndarray]  # oriented: > 0 calls the mid up
    note: str
    # distinct values needed before an IC means anything: funding z changes once per settlement,
    # so an hour holds one or two values and its "IC" would only say whether the price trended
    min_distinct: int = 2


def _col(name: str) -> Callable[[pd.DataFrame], np.ndarray]:
    return lambda df: df[name].to_numpy(np.float64)


SIGNALS: tuple[Signal, ...] = (
    Signal("ofi_z", ("ofi_z",), ("ofi",), _col("ofi_z"), "z of the multi-level OFI"),
    Signal("cvd_z", ("cvd_z",), ("cvd",), _col("cvd_z"), "z of the windowed CVD"),
    Signal("cvd_divergence", ("cvd_divergence",), ("cvd",), _col("cvd_divergence"), "sign = the flow's side"),
    Signal("ou_reversion", ("ou_z",), ("ou",), lambda df: -df["ou_z"].to_numpy(np.float64), "-OU z: buy below the fitted mean"),
    Signal("ou_signal", ("ou_signal",), ("ou",), _col("ou_signal"), "the gated OU signal (+1 buy)"),
    Signal(
        "depth_imbalance",
        ("depth_imbalance",),
        ("liquidity",),
        lambda df: df["depth_imbalance"].to_numpy(np.float64) - 0.5,
        "b/(b+a) - 0.5 over 10 levels",
    ),
    *(
        Signal(f"lob_imbalance_{k}", (column,), ("lob",), _col(column), f"z of (b-a)/(b+a) at level {k}")
        for k in range(LOB_LEVELS)
        for column in (lob_column(f"imbalance_{k}"),)
    ),
    Signal("trade_side", ("trade_side",), ("classifier",), _col("trade_side"), "side of the latest trade"),
    Signal(
        "lstm_direction",
        ("lstm_direction",),
        ("lob", "lstm"),
        _col("lstm_direction"),
        "LSTM P(up)-P(down), or its fallback tanh(mean of the LOB vector)",
    ),
    Signal(
        "ensemble_direction",
        ("ensemble_direction",),
        ("ofi", "cvd", "ou", "lob", "lstm"),
        _col("ensemble_direction"),
        "weighted direction of OFI, LSTM, OU, CVD",
    ),
    Signal(
        "funding_z",
        ("funding_z",),
        ("funding_history",),
        _col("funding_z"),
        "z of the settled funding rate (0 until 30 settlements are known)",
        min_distinct=30,
    ),
)


class InsufficientData(InputError):
    """The files hold too little usable data for the analysis asked for."""


# ---------------------------------------------------------------------- reading


def load_features(paths: Sequence[str | Path], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of every file (book valid, mid > 0), with `file` (its index in `paths`), `minute`
    (a minute of event time, unique across files: a count of the span) and `day` (the UTC day, a
    count of days since 1970); sorted by file then time.

    `columns` (None: every signal's and the claims') are read when present; a file without a base
    column, or a present column with NaN or inf in a usable row, raises ValueError naming the file.
    A column the file's metadata says was unavailable (its book showed too few levels: the
    top-of-book mode) is not read from any file; `attrs["unavailable"]` names them.
    """
    frames = []
    found: dict = {}
    unavailable: set[str] = set()
    schemas = []
    for name in paths:
        path = Path(name)
        if not path.is_file():
            raise MissingFileError(f"features file {path}: no such file")
        try:
            schema = pq.read_schema(path)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise InputError(f"features file {path}: not readable Parquet ({exc})") from exc
        missing = [c for c in BASE_COLUMNS if c not in schema.names]
        if missing:
            raise InputError(f"features file {path}: lacks columns {missing} (not a FeatureRecorder file?)")
        unavailable.update(unavailable_columns(schema))
        schemas.append((path, schema))
    for index, (path, schema) in enumerate(schemas):
        wanted = list(dict.fromkeys([*BASE_COLUMNS, *(columns if columns is not None else schema.names)]))
        read = [c for c in wanted if c in schema.names and c not in unavailable]
        df = pq.read_table(path, columns=read).to_pandas()
        df = df[df["book_valid"].to_numpy(bool) & (df["mid"].to_numpy() > 0.0)]
        numeric = df.select_dtypes(include=[np.number])
        bad = ~np.isfinite(numeric.to_numpy(np.float64))
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise InputError(
                f"features file {path}: column {numeric.columns[col]} holds NaN or inf "
                f"({int(bad.any(axis=1).sum())} rows, first at ts_event {int(df['ts_event'].iloc[row])})"
            )
        if np.any(np.diff(df["ts_event"].to_numpy()) < 0):
            raise InputError(f"features file {path}: ts_event goes backwards")
        df, next_invalid = _outside_invalid_spans(df, spans.decode((schema.metadata or {}).get(spans.METADATA_KEY)), found)
        df = df.reset_index(drop=True)
        df["file"] = index
        df["next_invalid_ns"] = next_invalid
        frames.append(df)
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*BASE_COLUMNS, "file", "next_invalid_ns"])
    ts = data["ts_event"].to_numpy(np.int64)
    data["minute"] = data["file"].to_numpy(np.int64) * 10**9 + ts // (60 * NS_PER_S)
    data["day"] = ts // _DAY_NS
    data.attrs["invalid_spans"] = found
    data.attrs["unavailable"] = sorted(unavailable, key=FIELDS.index)
    return data


def unavailable_lines(data: pd.DataFrame, signals: Sequence[Signal] = SIGNALS) -> list[str]:
    """The summary's account of the columns the data's book could not give (none: no line)."""
    gone = data.attrs.get("unavailable") or []
    if not gone:
        return []
    untested = [s.name for s in signals if set(s.columns) & set(gone)]
    return [
        f"unavailable in the data (its book shows too few levels: top of book): {unavailable_text(gone)}; "
        f"signals not tested: {', '.join(untested) or 'none'}"
    ]


def _outside_invalid_spans(df: pd.DataFrame, file_spans: list[tuple[int, int]], found: dict) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows outside the file's invalid spans (where the book could not be trusted: the recorder
    writes none there, an older file may hold some), and per row the start of the next span (a
    forward return must not reach into one: `forward_returns_bps`). `found` counts them."""
    never = np.iinfo(np.int64).max
    if not file_spans:
        return df, np.full(len(df), never, np.int64)
    starts = np.array([a for a, _ in file_spans], np.int64)
    ends = np.array([b for _, b in file_spans], np.int64)
    ts = df["ts_event"].to_numpy(np.int64)
    before = np.searchsorted(starts, ts, side="left") - 1  # the last span starting strictly before each row
    inside = (before >= 0) & (ts < ends[np.maximum(before, 0)])
    found["spans"] = found.get("spans", 0) + len(file_spans)
    found["seconds"] = found.get("seconds", 0.0) + float((ends - starts).sum()) / 1e9
    found["rows_inside"] = found.get("rows_inside", 0) + int(inside.sum())
    ts = ts[~inside]
    nxt = np.searchsorted(starts, ts, side="left")
    return df[~inside], np.where(nxt < len(starts), starts[np.minimum(nxt, len(starts) - 1)], never)


def invalid_span_lines(data: pd.DataFrame) -> list[str]:
    """The summary's account of the data's invalid spans (none: no line)."""
    found = data.attrs.get("invalid_spans") or {}
    if not found.get("spans"):
        return []
    return [
        f"invalid spans in the data: {found['spans']} ({found['seconds']:.3f} s of exchange time); "
        f"{found['rows_inside']} rows inside them dropped, and no forward return reaches into one"
    ]


def warm_mask(data: pd.DataFrame, needs: Sequence[str]) -> np.ndarray:
    """Rows where none of `needs` is still warming up (the recorder's `cold` lists those that are).
    `funding_history` is the funding detector's: it is never in `cold`, so it is read from the rows
    (a z-score stays exactly 0 until its 30 settlements are known)."""
    mask = np.ones(len(data), bool)
    codes, names = pd.factorize(data["cold"].astype(str))  # a few distinct strings over many rows
    for name in needs:
        if name == "funding_history":
            mask &= data["funding_z"].to_numpy() != 0.0 if "funding_z" in data else False
            continue
        cold_here = np.array([name in text.split(",") for text in names], bool)
        mask &= ~cold_here[codes] if len(names) else mask
    return mask


def thin(data: pd.DataFrame, sample_ms: float) -> np.ndarray:
    """Row indices: the last row of each `sample_ms` of event time, per file (0: every row)."""
    if sample_ms <= 0:
        return np.arange(len(data))
    key = data["file"].to_numpy(np.int64) * 10**12 + data["ts_event"].to_numpy(np.int64) // round(sample_ms * 1e6)
    last = np.flatnonzero(np.r_[key[1:] != key[:-1], True])
    return last


def forward_returns_bps(data: pd.DataFrame, horizon_s: float) -> np.ndarray:
    """Per row, 1e4 x (mid at t + h / mid - 1): the mid prevailing at t + h, i.e. the last row of the
    same file at or before it; NaN where t + h is past the file's last row."""
    out = np.full(len(data), np.nan)
    h = round(horizon_s * NS_PER_S)
    files = data["file"].to_numpy()
    ts_all = data["ts_event"].to_numpy(np.int64)
    mid_all = data["mid"].to_numpy(np.float64)
    for f in np.unique(files):
        rows = np.flatnonzero(files == f)
        ts, mid = ts_all[rows], mid_all[rows]
        target = ts + h
        j = np.searchsorted(ts, target, side="right") - 1
        ok = target <= ts[-1]
        if "next_invalid_ns" in data:  # a return reaching into an invalid span has no valid mid there
            ok &= target <= data["next_invalid_ns"].to_numpy(np.int64)[rows]
        out[rows[ok]] = 1e4 * (mid[j[ok]] / mid[ok] - 1.0)
    return out


# ---------------------------------------------------------------------- statistics


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho (Pearson correlation of the average ranks); NaN when either side is constant."""
    return pearson(rankdata(x), rankdata(y))


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r; NaN when either side is constant."""
    dx, dy = x - x.mean(), y - y.mean()
    denom = np.sqrt((dx * dx).sum() * (dy * dy).sum())
    return float((dx * dy).sum() / denom) if denom > 0.0 else float("nan")


def hit_rate(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Share of sign(x) == sign(y) over the rows where neither is 0, and that row count."""
    sx, sy = np.sign(x), np.sign(y)
    used = (sx != 0) & (sy != 0)
    n = int(used.sum())
    return (float(np.mean(sx[used] == sy[used])) if n else float("nan")), n


def deciles(x: np.ndarray, y: np.ndarray) -> tuple[float, float, int, int]:
    """(mean y of the top decile of x, of the bottom decile, their row counts); NaN means where the
    signal has no spread (its 10% and 90% quantiles are equal)."""
    lo, hi = np.quantile(x, [0.1, 0.9])
    if not hi > lo:
        return float("nan"), float("nan"), 0, 0
    top, bottom = y[x >= hi], y[x <= lo]
    return float(top.mean()), float(bottom.mean()), len(top), len(bottom)


@dataclass(frozen=True)
class Costs:
    """Fees in bps of notional per leg (by default Binance USD-M tier 0, `scalp_nautilus.fees`) and
    the quoted spread."""

    maker_bps: float = BINANCE_USDM.bps(maker=True)
    taker_bps: float = BINANCE_USDM.bps(maker=False)

    def round_trips(self, spread_bps: float) -> dict[str, float]:
        """Round-trip cost per mode: fees of both legs plus half the spread per taker leg."""
        half = spread_bps / 2.0
        return {
            "taker_taker": 2.0 * self.taker_bps + 2.0 * half,
            "maker_taker": self.maker_bps + self.taker_bps + half,
            "maker_maker": 2.0 * self.maker_bps,
        }


COST_MODES = ("taker_taker", "maker_taker", "maker_maker")


# ---------------------------------------------------------------------- the table


def subsets(data: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
    """("all", every row) and the Hurst bands and VPIN regimes (rows where that indicator is warm)."""
    out = [("all", np.ones(len(data), bool))]
    if "hurst" in data:
        h = data["hurst"].to_numpy()
        warm = warm_mask(data, ("hurst",))
        low, high = HURST_MEAN_REVERSION_BELOW, HURST_MOMENTUM_ABOVE
        out += [
            (f"hurst<{low:g}", warm & (h < low)),
            (f"hurst {low:g}-{high:g}", warm & (h >= low) & (h <= high)),
            (f"hurst>{high:g}", warm & (h > high)),
        ]
    if "vpin_regime" in data:
        r = data["vpin_regime"].to_numpy()
        warm = warm_mask(data, ("vpin",))
        out += [(f"vpin {name}", warm & (r == k)) for k, name in enumerate(("LOW", "MEDIUM", "HIGH", "EXTREME"))]
    return out


EDGE_COLUMNS = (
    "signal",
    "horizon_s",
    "subset",
    "n",
    "minutes",
    "ic",
    "ic_lo",
    "ic_hi",
    "ic_mc_err",
    "p",
    "p_adj",
    "block_rows",
    "reps",
    "days",
    "days_agree",
    "ic_by_day",
    "hit_rate",
    "hit_n",
    "top_bps",
    "bottom_bps",
    "decile_spread_bps",
    "mean_spread_bps",
    *(f"edge_{m}_bps" for m in COST_MODES),
    "verdict",
)


@dataclass(frozen=True)
class SpaResult:
    """Hansen's SPA test of the family against zero edge after one cost mode's round trip."""

    p: float  # the consistent p-value
    mc_error: float  # its Monte Carlo error (95% half-width)
    models: int
    block: float
    reps: int


@dataclass
class EdgeResult:
    table: pd.DataFrame
    spa: dict[str, SpaResult | None]  # per cost mode
    blocks: dict[float, float]  # horizon (s) -> mean block length (rows) of its resamples
    boot: BootstrapSettings = field(default_factory=BootstrapSettings)


@dataclass
class _Test:
    record: dict
    statistic: Statistic | None = None
    # on the used rows, for the SPA test: the signal, the forward return (bps), the row indices
    x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    use: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def edge_table(
    data: pd.DataFrame,
    horizons: Sequence[float] = HORIZONS_S,
    costs: Costs = Costs(),
    boot: BootstrapSettings = BootstrapSettings(),
    sample_ms: float = 200.0,
    signals: Sequence[Signal] = SIGNALS,
) -> EdgeResult:
    """One row per signal, horizon and subset (see the module doc); NaN marks "no value"."""
    if data.empty:
        raise InsufficientData("no usable rows (every book invalid?)")
    sample = thin(data, sample_ms)
    rows = data.iloc[sample].reset_index(drop=True)
    n_rows = len(rows)
    spread = rows["spread_bps"].to_numpy(np.float64) if "spread_bps" in rows else np.zeros(n_rows)
    groups = subsets(rows)
    spacing = _row_spacing_ns(rows)
    usable = []
    for sig in signals:
        if any(c not in rows for c in sig.columns):
            log.info("signal %s skipped: the files lack %s", sig.name, [c for c in sig.columns if c not in rows])
            continue
        usable.append((sig, sig.value(rows), warm_mask(rows, sig.needs)))
    every: list[_Test] = []
    blocks: dict[float, float] = {}
    for k, h in enumerate(horizons):
        y_all = forward_returns_bps(data, h)[sample]
        tests = [
            _edge_test(sig, h, name, x_all, y_all, np.flatnonzero(warm & subset & np.isfinite(y_all)), rows, spread, costs)
            for sig, x_all, warm in usable
            for name, subset in groups
        ]
        pooled = [t for t in tests if t.record["subset"] == "all" and t.statistic is not None]
        horizon_rows = math.ceil(h * NS_PER_S / spacing)
        block = max([horizon_rows, *(block_length(_product(t), 1.0, boot.method) for t in pooled)])
        blocks[h] = block
        bands = [t for t in tests if t.record["subset"] != "all" and t.statistic is not None]
        for offset, group in ((2 * k, pooled), (2 * k + 1, bands)):
            found = joint_intervals([t.statistic for t in group], n_rows, block, boot, seed_offset=offset)
            for t, iv in zip(group, found):
                _fill_interval(t.record, iv, block, horizon_rows, n_rows)
        every += tests
    for pooled_family in (True, False):
        members = [t.record for t in every if (t.record["subset"] == "all") == pooled_family]
        p_adj = adjust([r.get("p", np.nan) for r in members])
        for r, q in zip(members, p_adj):
            if np.isfinite(q):
                r["p_adj"] = float(q)
            r["verdict"] = _verdict(r)
    table = pd.DataFrame.from_records([t.record for t in every], columns=list(EDGE_COLUMNS))
    spa = {mode: _spa([t for t in every if t.record["subset"] == "all"], rows, costs, mode, blocks, boot) for mode in COST_MODES}
    return EdgeResult(table, spa, blocks, boot)


def _row_spacing_ns(rows: pd.DataFrame) -> float:
    """The median time between consecutive rows of a file (the thinning step, or the batch rate)."""
    ts, files = rows["ts_event"].to_numpy(np.int64), rows["file"].to_numpy()
    gaps = np.diff(ts)[(files[1:] == files[:-1])]
    gaps = gaps[gaps > 0]
    return float(np.median(gaps)) if len(gaps) else float(NS_PER_S)


def _product(test: _Test) -> np.ndarray:
    """The series whose mean the IC is (centred ranks multiplied), on the test's rows: its
    dependence sets the block length."""
    rx, ry = test.statistic.columns[test.use, 1], test.statistic.columns[test.use, 2]  # type: ignore[union-attr]
    return (rx - rx.mean()) * (ry - ry.mean())


def _edge_test(
    sig: Signal,
    horizon: float,
    subset: str,
    x_all: np.ndarray,
    y_all: np.ndarray,
    use: np.ndarray,
    rows: pd.DataFrame,
    spread_all: np.ndarray,
    costs: Costs,
) -> _Test:
    x, y, spread = x_all[use], y_all[use], spread_all[use]
    n, minutes = len(x), len(np.unique(rows["minute"].to_numpy()[use]))
    row = {"signal": sig.name, "horizon_s": horizon, "subset": subset, "n": n, "minutes": minutes}
    if n < MIN_ROWS:
        return _Test({**row, "verdict": f"{NOT_ENOUGH} ({n} rows, need {MIN_ROWS})"})
    distinct = len(np.unique(x))
    if distinct == 1:
        return _Test({**row, "verdict": f"{NOT_ENOUGH} (constant signal)"})
    if distinct < sig.min_distinct:
        return _Test({**row, "verdict": f"{NOT_ENOUGH} ({distinct} distinct values, need {sig.min_distinct})"})
    rx, ry = rankdata(x), rankdata(y)
    ic = pearson(rx, ry)
    hits, hit_n = hit_rate(x, y)
    top, bottom, _, _ = deciles(x, y)
    row.update(
        ic=ic,
        hit_rate=hits,
        hit_n=hit_n,
        top_bps=top,
        bottom_bps=bottom,
        decile_spread_bps=top - bottom,
        mean_spread_bps=float(spread.mean()),
    )
    row.update(_by_day(x, y, rows["day"].to_numpy()[use], ic))
    if np.isfinite(top - bottom):
        for mode, cost in costs.round_trips(float(spread.mean())).items():
            row[f"edge_{mode}_bps"] = (top - bottom) / 2.0 - cost
    if not np.isfinite(ic):
        return _Test({**row, "verdict": "IC undefined (constant target)"})
    full_x, full_y = np.zeros(len(x_all)), np.zeros(len(x_all))
    full_x[use], full_y[use] = rx, ry
    mask = np.zeros(len(x_all), bool)
    mask[use] = True
    return _Test(row, correlation_statistic(full_x, full_y, mask), x, y, use)


def _by_day(x: np.ndarray, y: np.ndarray, day: np.ndarray, pooled: float) -> dict:
    """The IC of each UTC day with at least MIN_ROWS rows, and how many agree in sign with the pooled IC."""
    text, agree, days = [], 0, 0
    for d in np.unique(day):
        on = day == d
        if on.sum() < MIN_ROWS:
            continue
        ic = spearman(x[on], y[on])
        if not np.isfinite(ic):
            continue
        days += 1
        agree += int(np.sign(ic) == np.sign(pooled))
        text.append(f"{pd.Timestamp(int(d) * _DAY_NS, tz='UTC').date()}:{ic:+.3f}")
    return {"days": days, "days_agree": agree, "ic_by_day": " ".join(text)}


def _fill_interval(row: dict, iv: Interval | None, block: float, horizon_rows: int, n_rows: int) -> None:
    row["block_rows"] = block
    if iv is None:
        row["verdict"] = (
            f"{NOT_ENOUGH} for an interval ({n_rows} rows hold fewer than {MIN_BLOCKS} blocks of {block:.0f} rows; "
            f"the horizon alone is {horizon_rows} rows)"
        )
        return
    row.update(ic_lo=iv.lo, ic_hi=iv.hi, ic_mc_err=iv.mc_error, p=iv.p, reps=iv.reps)
    row["_interval"] = iv


def _verdict(row: dict) -> str:
    """See the module doc: pooled interval, the family's adjusted p-value, the days."""
    iv: Interval | None = row.pop("_interval", None)
    if iv is None:
        return str(row.get("verdict") or NOT_ENOUGH)
    side = iv.side(0.0)
    p_adj = row.get("p_adj", math.nan)
    if side == BORDERLINE:
        return f"{BORDERLINE}: a bound is within its Monte Carlo error of 0"
    if side == "straddles":
        return "IC not distinguishable from 0"
    if abs(p_adj - ALPHA) <= adjusted_mc(iv.p, p_adj, iv.p_mc):
        return f"{BORDERLINE}: the adjusted p-value {p_adj:.3f} is within its Monte Carlo error of {ALPHA:g}"
    if p_adj >= ALPHA:
        return f"IC not distinguishable from 0 in the family (p {iv.p:.3g}, adjusted {p_adj:.3g})"
    claim = "IC > 0" if side == "above" else "IC < 0"
    days, agree = row.get("days", 0), row.get("days_agree", 0)
    if days >= 2 and not agree > days / 2:
        return f"{claim} pooled only: the sign agrees on {agree} of {days} days"
    return claim


def _spa(
    tests: Sequence[_Test], rows: pd.DataFrame, costs: Costs, mode: str, blocks: dict[float, float], boot: BootstrapSettings
) -> SpaResult | None:
    """SPA p-value of the best (signal, horizon) edge after `mode`'s costs against zero edge. Each
    candidate trades its deciles on the sampled rows: +1 at or above its 90% quantile, -1 at or
    below its 10%, earning the forward return less the round trip's cost; other rows earn 0."""
    n = len(rows)
    returns = []
    for t in tests:
        r = t.record
        if not np.isfinite(r.get(f"edge_{mode}_bps", np.nan)):
            continue
        lo, hi = np.quantile(t.x, [0.1, 0.9])
        position = np.where(t.x >= hi, 1.0, np.where(t.x <= lo, -1.0, 0.0))
        cost = costs.round_trips(r["mean_spread_bps"])[mode]
        full = np.zeros(n)
        full[t.use] = position * t.y - cost * np.abs(position)
        returns.append(full)
    if not returns:
        return None
    block = max(blocks.values())
    if n < MIN_BLOCKS * block:
        return None
    # losses: the benchmark (no trade) loses nothing, a candidate loses minus its net return
    spa = SPA(
        np.zeros(n),
        -np.column_stack(returns),
        block_size=max(1, round(block)),
        reps=boot.min_reps,
        bootstrap=boot.method,
        seed=np.random.default_rng([boot.seed, 1000]),
    )
    spa.compute()
    p = float(spa.pvalues["consistent"])
    mc = Z95 * math.sqrt(max(p * (1.0 - p), 1.0 / boot.min_reps) / boot.min_reps)
    return SpaResult(p, mc, len(returns), block, boot.min_reps)


def summary_lines(result: EdgeResult, top: int = 8) -> list[str]:
    """How the intervals were made, the strongest all-rows ICs that hold for the family, the
    borderline ones, and the best edge after costs with its SPA p-value."""
    edge = result.table
    main = edge[(edge["subset"] == "all") & edge["ic"].notna()]
    boot = result.boot
    mc = main["ic_mc_err"].max() if main["ic_mc_err"].notna().any() else math.nan
    reps = main["reps"].dropna()
    drawn = f"{int(reps.min())}-{int(reps.max())}" if len(reps) else "no"
    lines = [
        (
            f"intervals: {boot.method} block bootstrap (arch), {boot.level:.0%} percentile, mean block per horizon "
            + ", ".join(f"{h:g}s {b:.0f} rows" for h, b in result.blocks.items())
            + f"; {drawn} resamples, largest Monte Carlo error of a bound {mc:.4f} (target {boot.mc_target:g}); "
            f"seed {boot.seed}; signal x horizon family: Benjamini-Hochberg at {ALPHA:g}"
        )
    ]
    held = main[main["verdict"].isin(["IC > 0", "IC < 0"])]
    held = held.reindex(held["ic"].abs().sort_values(ascending=False).index).head(top)
    if held.empty:
        lines.append("no signal has an IC that holds for the family (interval excluding 0, adjusted p < 0.05, sign on most days)")
    for r in held.itertuples():
        lines.append(_ic_line(r))
    for r in main[main["verdict"].str.startswith(BORDERLINE)].itertuples():
        lines.append(_ic_line(r) + " - borderline")
    for r in main[main["verdict"].str.contains("pooled only")].itertuples():
        lines.append(_ic_line(r) + f" - {r.verdict}")
    for mode in COST_MODES:
        col = f"edge_{mode}_bps"
        best = main.dropna(subset=[col])
        if best.empty:
            continue
        b = best.loc[best[col].idxmax()]
        spa = result.spa.get(mode)
        if spa is None:
            test = "SPA p-value n/a (too few rows for its blocks)"
        else:
            test = f"SPA p-value {spa.p:.3f} +- {spa.mc_error:.3f} over {spa.models} signal x horizon candidates"
        if b[col] <= 0:
            verdict = "negative: no signal pays for it"
        elif spa is not None and spa.p + spa.mc_error < ALPHA:
            verdict = "positive, and the family's best beats zero edge (SPA)"
        else:
            verdict = "positive here, but not distinguishable from the best of many tries (SPA)"
        if b[col] > 0 and b["minutes"] < FEW_MINUTES:
            verdict += f"; from {b['minutes']} minutes of data: too few to conclude"
        lines.append(
            f"best edge after {mode.replace('_', '/')} costs: {b[col]:+.3f} bp/trade ({b['signal']}, h={b['horizon_s']:g}s); "
            f"{test} - {verdict}"
        )
    return lines


def _ic_line(r) -> str:
    spread = f"{r.decile_spread_bps:+.3f} bp" if np.isfinite(r.decile_spread_bps) else "- (discrete signal)"
    days = f", days {r.ic_by_day}" if r.days >= 2 else ""
    return (
        f"{r.signal:<20s} h={r.horizon_s:>4g}s IC {r.ic:+.3f} [{r.ic_lo:+.3f}, {r.ic_hi:+.3f}] p_adj {r.p_adj:.3g} "
        f"hit {r.hit_rate:.3f} (of {r.hit_n:g}) decile spread {spread} n={r.n} ({r.minutes} min{days})"
    )
