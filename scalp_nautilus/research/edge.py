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
- **IC**: Spearman's rank correlation of signal and target; its 95% interval from a block bootstrap
  that resamples whole minutes of event time (the rows inside a minute are far from independent),
  percentile method, seeded.
- **Hit rate**: the share of rows where the signal's sign is the return's sign (rows where either
  is 0 are left out).
- **Deciles**: mean forward return of the rows at or above the signal's 90% quantile (top) and at
  or below its 10% quantile (bottom); ties are included, so a discrete signal's "decile" can hold
  more rows. Spread = top - bottom.
- **Edge after costs**: a trade takes one side (long the top, short the bottom), so it earns half the
  spread on average; from that the round trip's cost is taken: fees of both legs plus, per taker
  leg, half the mean quoted spread (`round_trip_costs`).

A signal, horizon or subset with too few rows, too few minutes or a constant signal gets the verdict
"not enough data" and empty numbers: NaN or inf is never written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from scipy.stats import rankdata

from scalp_nautilus.data import spans
from scalp_nautilus.errors import InputError
from scalp_nautilus.errors import MissingFileError
from scalp_nautilus.fees import BINANCE_USDM
from scalp_nautilus.units import NS_PER_S

log = logging.getLogger(__name__)

HORIZONS_S = (1, 5, 10, 30, 60)
MIN_ROWS = 30  # rows below which an IC or a decile mean says nothing
MIN_BLOCKS = 3  # minutes below which a block bootstrap has nothing to resample
FEW_MINUTES = 60  # below an hour of data the summary says a positive edge cannot be concluded
NOT_ENOUGH = "not enough data"
BLOCK_NS = 60 * NS_PER_S  # bootstrap block: one minute of event time

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
        Signal(f"lob_imbalance_{k}", (f"lob_{10 + k}",), ("lob",), _col(f"lob_{10 + k}"), f"z of (b-a)/(b+a) at level {k}")
        for k in range(5)
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
    """The rows of every file (book valid, mid > 0), with `file` (its index in `paths`) and `block`
    (a minute of event time, unique across files); sorted by file then time.

    `columns` (None: every signal's and the claims') are read when present; a file without a base
    column, or a present column with NaN or inf in a usable row, raises ValueError naming the file.
    """
    frames = []
    found: dict = {}
    for index, name in enumerate(paths):
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
        wanted = list(dict.fromkeys([*BASE_COLUMNS, *(columns if columns is not None else schema.names)]))
        df = pq.read_table(path, columns=[c for c in wanted if c in schema.names]).to_pandas()
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
    data["block"] = data["file"].to_numpy(np.int64) * 10**9 + ts // BLOCK_NS
    data.attrs["invalid_spans"] = found
    return data


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


def block_bootstrap(
    statistic: Callable[[np.ndarray], float], blocks: np.ndarray, n_boot: int, seed: int, level: float = 0.95
) -> tuple[float, float] | None:
    """Percentile interval of `statistic(indices)` over resamples of whole blocks (with replacement,
    as many blocks as there are). None with fewer than `MIN_BLOCKS` blocks or when fewer than half
    the resamples give a finite value. Same `seed`, same interval."""
    order = np.argsort(blocks, kind="stable")
    uniq, starts = np.unique(blocks[order], return_index=True)
    if len(uniq) < MIN_BLOCKS or n_boot < 1:
        return None
    members = np.split(order, starts[1:])
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(members), len(members))
        value = statistic(np.concatenate([members[p] for p in pick]))
        if np.isfinite(value):
            values.append(value)
    if len(values) < n_boot / 2:
        return None
    lo, hi = np.quantile(values, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(lo), float(hi)


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
        out += [
            ("hurst<0.4", warm & (h < 0.4)),
            ("hurst 0.4-0.6", warm & (h >= 0.4) & (h <= 0.6)),
            ("hurst>0.6", warm & (h > 0.6)),
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
    "hit_rate",
    "hit_n",
    "top_bps",
    "bottom_bps",
    "decile_spread_bps",
    "mean_spread_bps",
    *(f"edge_{m}_bps" for m in COST_MODES),
    "verdict",
)


def edge_table(
    data: pd.DataFrame,
    horizons: Sequence[float] = HORIZONS_S,
    costs: Costs = Costs(),
    n_boot: int = 200,
    seed: int = 7,
    sample_ms: float = 200.0,
    signals: Sequence[Signal] = SIGNALS,
) -> pd.DataFrame:
    """One row per signal, horizon and subset (see the module doc); NaN marks "no value"."""
    if data.empty:
        raise InsufficientData("no usable rows (every book invalid?)")
    sample = thin(data, sample_ms)
    rows_data = data.iloc[sample].reset_index(drop=True)
    blocks = rows_data["block"].to_numpy()
    spread = rows_data["spread_bps"].to_numpy(np.float64) if "spread_bps" in rows_data else np.zeros(len(rows_data))
    groups = subsets(rows_data)
    targets = {h: forward_returns_bps(data, h)[sample] for h in horizons}
    records = []
    for sig in signals:
        if any(c not in rows_data for c in sig.columns):
            log.info("signal %s skipped: the files lack %s", sig.name, [c for c in sig.columns if c not in rows_data])
            continue
        x_all = sig.value(rows_data)
        warm = warm_mask(rows_data, sig.needs)
        for h in horizons:
            y_all = targets[h]
            for name, subset in groups:
                use = np.flatnonzero(warm & subset & np.isfinite(y_all))
                row = _edge_row(
                    sig.name, h, name, x_all[use], y_all[use], blocks[use], spread[use], costs, n_boot, seed, sig.min_distinct
                )
                records.append(row)
    return pd.DataFrame.from_records(records, columns=list(EDGE_COLUMNS))


def _edge_row(
    signal: str,
    horizon: float,
    subset: str,
    x: np.ndarray,
    y: np.ndarray,
    blocks: np.ndarray,
    spread: np.ndarray,
    costs: Costs,
    n_boot: int,
    seed: int,
    min_distinct: int = 2,
) -> dict:
    n, minutes = len(x), len(np.unique(blocks))
    row = {"signal": signal, "horizon_s": horizon, "subset": subset, "n": n, "minutes": minutes}
    if n < MIN_ROWS or minutes < MIN_BLOCKS:
        return {**row, "verdict": NOT_ENOUGH}
    distinct = len(np.unique(x))
    if distinct == 1:
        return {**row, "verdict": f"{NOT_ENOUGH} (constant signal)"}
    if distinct < min_distinct:
        return {**row, "verdict": f"{NOT_ENOUGH} ({distinct} distinct values, need {min_distinct})"}
    # The interval resamples the rank-transformed rows: Pearson's r of the full sample's ranks over
    # each resample, which is Spearman's rho up to re-ranking inside the resample and ~30x cheaper.
    rx, ry = rankdata(x), rankdata(y)
    ic = pearson(rx, ry)
    interval = block_bootstrap(lambda i: pearson(rx[i], ry[i]), blocks, n_boot, seed)
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
    if interval is not None:
        row["ic_lo"], row["ic_hi"] = interval
    if np.isfinite(top - bottom):
        for mode, cost in costs.round_trips(float(spread.mean())).items():
            row[f"edge_{mode}_bps"] = (top - bottom) / 2.0 - cost
    verdict = "" if interval is not None else f"{NOT_ENOUGH} for an interval"
    if np.isfinite(ic) and interval is not None:
        verdict = "IC > 0" if interval[0] > 0 else "IC < 0" if interval[1] < 0 else "IC not distinguishable from 0"
    return {**row, "verdict": verdict or "IC undefined (constant target)"}


def summary_lines(edge: pd.DataFrame, top: int = 8) -> list[str]:
    """The strongest all-rows ICs whose interval excludes 0, and the best edge after costs."""
    main = edge[(edge["subset"] == "all") & edge["ic"].notna()]
    lines = []
    sig = main[(main["ic_lo"] > 0) | (main["ic_hi"] < 0)]
    sig = sig.reindex(sig["ic"].abs().sort_values(ascending=False).index).head(top)
    if sig.empty:
        lines.append("no signal has an IC whose 95% interval excludes 0 on these rows")
    for r in sig.itertuples():
        spread = f"{r.decile_spread_bps:+.3f} bp" if np.isfinite(r.decile_spread_bps) else "- (discrete signal)"
        lines.append(
            f"{r.signal:<20s} h={r.horizon_s:>4g}s IC {r.ic:+.3f} [{r.ic_lo:+.3f}, {r.ic_hi:+.3f}] "
            f"hit {r.hit_rate:.3f} (of {r.hit_n:g}) decile spread {spread} n={r.n} ({r.minutes} min)"
        )
    for mode in COST_MODES:
        col = f"edge_{mode}_bps"
        best = main.dropna(subset=[col])
        if best.empty:
            continue
        b = best.loc[best[col].idxmax()]
        verdict = "positive" if b[col] > 0 else "negative: no signal pays for it"
        if b[col] > 0 and b["minutes"] < FEW_MINUTES:
            verdict += f", but from {b['minutes']} minutes of data: too few to conclude"
        lines.append(
            f"best edge after {mode.replace('_', '/')} costs: {b[col]:+.3f} bp/trade "
            f"({b['signal']}, h={b['horizon_s']:g}s) - {verdict}"
        )
    return lines
