"""Every quantitative claim of DESIGN.md's features, tested on recorded features.

Each claim gives one row: the claim, what is measured, its value with a 95% interval
(`research.intervals`: arch's stationary block bootstrap over the claim's units in time order, the
block length from the data and never shorter than the span over which units overlap), the
interval's Monte Carlo error, the p-value of "the value equals the criterion" and its
Benjamini-Hochberg adjustment over the claims judged, the value on each UTC day, and a verdict:

- "holds": the interval lies on the claimed side of the criterion, the adjusted p-value is below
  0.05, and the value is on that side on most days (days with at least `MIN_DAY_UNITS` units);
- "does not hold": the same on the other side;
- "holds pooled only": it holds pooled, but not on most days;
- "borderline": a bound, or the adjusted p-value, lies within its Monte Carlo error of its
  threshold (another seed could put it on the other side);
- "not enough data", with a note that says what is missing: units (fewer than `MIN_SAMPLES`: no
  interval is computed), a column or stream the recording lacks, or a sample that does not decide.

The unit of a sample is named in `n_unit`: non-overlapping intervals, windows or episodes, not book
batches, so a 6-9 minute capture gives tens of samples at best. Windows read the mid on a 1 s grid
of event time (the mid prevailing at each second, per file); a window never crosses a file boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from scalp_nautilus.feature_table import ENSEMBLE_CONFIDENCE_GATE
from scalp_nautilus.feature_table import HURST_MEAN_REVERSION_BELOW
from scalp_nautilus.feature_table import HURST_MOMENTUM_ABOVE
from scalp_nautilus.research.edge import ALPHA
from scalp_nautilus.research.edge import NOT_ENOUGH
from scalp_nautilus.research.edge import forward_returns_bps
from scalp_nautilus.research.edge import thin
from scalp_nautilus.research.edge import warm_mask
from scalp_nautilus.research.intervals import BORDERLINE
from scalp_nautilus.research.intervals import MIN_BLOCKS
from scalp_nautilus.research.intervals import MIN_UNITS
from scalp_nautilus.research.intervals import BootstrapSettings
from scalp_nautilus.research.intervals import Interval
from scalp_nautilus.research.intervals import Statistic
from scalp_nautilus.research.intervals import adjust
from scalp_nautilus.research.intervals import adjusted_mc
from scalp_nautilus.research.intervals import block_length
from scalp_nautilus.research.intervals import correlation_statistic
from scalp_nautilus.research.intervals import interval
from scalp_nautilus.research.intervals import mean_statistic
from scalp_nautilus.research.intervals import ratio_of_sums
from scalp_nautilus.units import NS_PER_S

_DAY_NS = 86_400 * NS_PER_S
MIN_SAMPLES = MIN_UNITS  # windows / intervals / episodes below which no claim is judged (nor interval given)
MIN_DAY_UNITS = 10  # units a day needs before its own value counts in the agreement
HOLDS, FAILS, POOLED_ONLY = "holds", "does not hold", "holds pooled only"
# The DESIGN defaults the claims are about.
OFI_INTERVAL_S = 10.0  # Cont et al.'s interval
VPIN_WINDOW_S = 30.0
HURST_STEP_S = 30.0
VR_WINDOW_S = 120.0
VR_Q = 10  # seconds per aggregated return of the variance ratio
OU_TIME_STOP_S = 120.0  # the strategy's time stop (`exits.time_stop_s`)
PARKINSON_WINDOW_S = 60.0  # `parkinson.window` x 1 s bars: consecutive estimates share no bar
GATE_HORIZON_S = 10.0


@dataclass
class Claim:
    id: str
    feature: str
    claim: str
    measure: str
    criterion: str
    value: float = float("nan")
    lo: float = float("nan")
    hi: float = float("nan")
    mc_err: float = float("nan")  # Monte Carlo error (95% half-width) of the interval's bounds
    p: float = float("nan")  # two-sided bootstrap p-value of "value == the criterion's threshold"
    p_adj: float = float("nan")  # Benjamini-Hochberg over the claims judged
    n: int = 0
    n_unit: str = ""
    block: float = float("nan")  # mean block length of the resamples, in units
    days: int = 0  # UTC days with at least MIN_DAY_UNITS units
    days_agree: int = 0  # of those, days whose own value is on the pooled value's side
    value_by_day: str = ""
    verdict: str = NOT_ENOUGH
    note: str = ""
    points: dict = field(default_factory=dict, repr=False)  # arrays for the report's plots (not written)
    # the criterion, kept to decide the verdict once the family's p-values are adjusted
    threshold: float = field(default=float("nan"), repr=False)
    above: bool = field(default=True, repr=False)
    interval: Interval | None = field(default=None, repr=False)


_NOT_WRITTEN = ("points", "threshold", "above", "interval")
CLAIM_COLUMNS = tuple(f.name for f in fields(Claim) if f.name not in _NOT_WRITTEN)


def _add_note(claim: Claim, text: str) -> None:
    claim.note = f"{claim.note}; {text}" if claim.note else text


def judge(
    claim: Claim,
    statistic: Statistic | None,
    ts: np.ndarray,
    n: int,
    threshold: float,
    above: bool,
    boot: BootstrapSettings,
    min_n: int = MIN_SAMPLES,
    min_block: float = 1.0,
    use: np.ndarray | None = None,
) -> Claim:
    """Value, interval and per-day values of `statistic` over its units (event times `ts`, in time
    order; `use`: the units it counts, others keep their place in time); `above` claims value >
    threshold, else value < threshold. The verdict is settled by `settle` once the family's
    p-values are adjusted; here only "not enough data" is decided, with its reason."""
    claim.n, claim.threshold, claim.above = n, threshold, above
    if statistic is None or n == 0:
        _add_note(claim, f"no {claim.n_unit}")
        return claim
    value = statistic.estimate
    if np.isfinite(value):
        claim.value = value
    if n < min_n:
        _add_note(claim, f"{n} {claim.n_unit} (need {min_n} for an interval)")
        return claim
    if not np.isfinite(value):
        _add_note(claim, "the measure is undefined on these units (constant values)")
        return claim
    counted = np.ones(len(ts), bool) if use is None else use
    block = block_length(statistic.columns[counted], min_block, boot.method)
    claim.block = block
    claim.interval = interval(replace(statistic, null=threshold), block, boot)
    if claim.interval is None:
        _add_note(
            claim,
            f"{len(ts)} {claim.n_unit} hold fewer than {MIN_BLOCKS} blocks of {block:.1f} (their dependence), "
            "or the measure is undefined on most resamples",
        )
        return claim
    iv = claim.interval
    claim.lo, claim.hi, claim.mc_err, claim.p = iv.lo, iv.hi, iv.mc_error, iv.p
    days, texts, agree = 0, [], 0
    day = ts // _DAY_NS
    for d in np.unique(day[counted]):
        on = (day == d) & counted
        if on.sum() < MIN_DAY_UNITS:
            continue
        v = statistic.at(statistic.columns[day == d].sum(axis=0))
        if not np.isfinite(v):
            continue
        days += 1
        agree += int((v > threshold) == (value > threshold))
        texts.append(f"{pd.Timestamp(int(d) * _DAY_NS, tz='UTC').date()}:{v:.4g}")
    claim.days, claim.days_agree, claim.value_by_day = days, agree, " ".join(texts)
    return claim


def settle(claims: Sequence[Claim]) -> None:
    """Adjust the p-values of the claims with an interval as one family and give each its verdict."""
    judged = [c for c in claims if c.interval is not None]
    for c, q in zip(judged, adjust([c.p for c in judged])):
        c.p_adj = float(q)
    for c in claims:
        c.verdict = _verdict(c)


def _verdict(c: Claim) -> str:
    iv = c.interval
    if iv is None:
        return NOT_ENOUGH
    side = iv.side(c.threshold)
    if side == BORDERLINE:
        _add_note(c, f"a bound of the interval is within its Monte Carlo error ({c.mc_err:.3g}) of {c.threshold:g}")
        return BORDERLINE
    if side == "straddles":
        _add_note(c, f"the interval straddles {c.threshold:g}: more {c.n_unit} would decide")
        return NOT_ENOUGH
    if abs(c.p_adj - ALPHA) <= adjusted_mc(iv.p, c.p_adj, iv.p_mc):
        _add_note(c, f"the adjusted p-value {c.p_adj:.3f} is within its Monte Carlo error of {ALPHA:g}")
        return BORDERLINE
    if c.p_adj >= ALPHA:
        _add_note(c, f"the interval excludes {c.threshold:g}, but not after the family's adjustment (p_adj {c.p_adj:.3g})")
        return NOT_ENOUGH
    claimed = (side == "above") == c.above
    if c.days >= 2 and not c.days_agree > c.days / 2:
        _add_note(c, f"the value is on the pooled side on {c.days_agree} of {c.days} days")
        return POOLED_ONLY if claimed else NOT_ENOUGH
    return HOLDS if claimed else FAILS


# ---------------------------------------------------------------------- the mid on a grid


@dataclass
class Grid:
    """The mid prevailing at each `step_s` of event time, per file; `row` is the row index it comes from."""

    file: np.ndarray
    ts: np.ndarray
    mid: np.ndarray
    row: np.ndarray


def grid(data: pd.DataFrame, step_s: float = 1.0) -> Grid:
    files, tss, mids, rows = [], [], [], []
    step = round(step_s * NS_PER_S)
    all_ts, all_mid, all_file = (data[c].to_numpy() for c in ("ts_event", "mid", "file"))
    for f in np.unique(all_file):
        idx = np.flatnonzero(all_file == f)
        ts = all_ts[idx]
        g = np.arange((ts[0] // step + 1) * step, ts[-1] + 1, step, dtype=np.int64)
        j = np.searchsorted(ts, g, side="right") - 1
        files.append(np.full(len(g), f))
        tss.append(g)
        mids.append(all_mid[idx[j]])
        rows.append(idx[j])
    cat = (np.concatenate(a) if a else np.zeros(0) for a in (files, tss, mids, rows))
    return Grid(*cat)


def _windows(g: Grid, length_s: float, step_s: float) -> list[tuple[int, int]]:
    """(start, stop) grid indices of windows of `length_s` seconds every `step_s` seconds (1 s grid),
    each inside one file."""
    out = []
    length, step = round(length_s), round(step_s)
    for f in np.unique(g.file):
        idx = np.flatnonzero(g.file == f)
        for start in range(idx[0], idx[-1] - length + 1, step):
            out.append((start, start + length))
    return out


# ---------------------------------------------------------------------- claims


def ofi_r2(data: pd.DataFrame, boot: BootstrapSettings) -> Claim:
    c = Claim(
        "ofi_r2",
        "OFI",
        "OFI explains a large share of the same interval's mid change (Cont et al.: "
        "R² about 0.65 on 10 s intervals, US equities)",
        "R² of OLS of Δmid on summed OFI, 10 s intervals",
        "R² > 0.5",
        n_unit="10 s intervals",
    )
    if "ofi" not in data:
        _add_note(c, "the recording has no ofi column")
        return c
    step = round(OFI_INTERVAL_S * NS_PER_S)
    key = data["file"].to_numpy(np.int64) * 10**12 + data["ts_event"].to_numpy(np.int64) // step
    df = pd.DataFrame(
        {
            "key": key,
            "ofi": data["ofi"].to_numpy(),
            "mid": data["mid"].to_numpy(),
            "ts": data["ts_event"].to_numpy(),
        }
    )
    agg = df.groupby("key", sort=True).agg(ofi=("ofi", "sum"), last=("mid", "last"), ts=("ts", "first"))
    # Δmid of an interval: its last mid against the previous interval's last (same file, adjacent)
    adjacent = np.flatnonzero(np.diff(agg.index.to_numpy()) == 1) + 1
    x = agg["ofi"].to_numpy()[adjacent]
    y = agg["last"].to_numpy()[adjacent] - agg["last"].to_numpy()[adjacent - 1]
    c.points = {"ofi": x, "dmid": y}
    return judge(c, correlation_statistic(x, y, squared=True), agg["ts"].to_numpy()[adjacent], len(x), 0.5, True, boot)


def _vpin_windows(data: pd.DataFrame, g: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per 30 s window whose start has a warm VPIN: (VPIN at its start, the window's realised
    volatility in bps, its |return| in bps, its start time)."""
    warm = warm_mask(data, ("vpin",))
    vpin = data["vpin"].to_numpy()
    out = []
    for start, stop in _windows(g, VPIN_WINDOW_S, VPIN_WINDOW_S):
        row = g.row[start]
        if not warm[row]:
            continue
        r = np.diff(np.log(g.mid[start : stop + 1]))
        out.append((vpin[row], 1e4 * np.sqrt(np.sum(r * r)), 1e4 * abs(np.log(g.mid[stop] / g.mid[start])), g.ts[start]))
    arr = np.array(out, dtype=np.float64).reshape(-1, 4)
    return arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3].astype(np.int64)


def vpin_claims(data: pd.DataFrame, g: Grid, boot: BootstrapSettings) -> list[Claim]:
    vol = Claim(
        "vpin_volatility",
        "VPIN",
        "high VPIN (toxic flow) comes before high volatility (Easley et al. 2012)",
        "Spearman(VPIN at a window's start, realised vol of the next 30 s)",
        "rho > 0",
        n_unit="30 s windows with a warm VPIN",
    )
    adverse = Claim(
        "vpin_adverse",
        "VPIN",
        "high VPIN comes before adverse price moves",
        "Spearman(VPIN at a window's start, |return| of the next 30 s)",
        "rho > 0",
        n_unit="30 s windows with a warm VPIN",
    )
    if "vpin" not in data:
        for claim in (vol, adverse):
            _add_note(claim, "the recording has no vpin column")
        return [vol, adverse]
    v, rv, move, ts = _vpin_windows(data, g)
    vol.points = {"vpin": v, "next_rv_bps": rv}
    for claim, y in ((vol, rv), (adverse, move)):
        judge(claim, correlation_statistic(rankdata(v), rankdata(y)), ts, len(v), 0.0, True, boot)
    return [vol, adverse]


def variance_ratio(mid: np.ndarray, q: int) -> float:
    """Lo-MacKinlay VR(q) of log mid returns: variance of overlapping q-step returns over q x the
    one-step variance (means removed); NaN when the one-step variance is 0."""
    r = np.diff(np.log(mid))
    if len(r) < 2 * q:
        return float("nan")
    rq = np.convolve(r, np.ones(q), mode="valid")
    v1 = np.var(r)
    return float(np.var(rq) / (q * v1)) if v1 > 0 else float("nan")


def hurst_claims(data: pd.DataFrame, g: Grid, boot: BootstrapSettings) -> list[Claim]:
    """The two bands of DESIGN 3.4, and the rank relation over every window (R/S on 128 returns
    reads ~0.55-0.6 on white noise, so the low band is rarely reached: the rank claim uses all).
    Windows start every 30 s and read the next 120 s: neighbours share data, so blocks hold at
    least 4 of them."""
    unit = f"windows (every {HURST_STEP_S:g} s) with a warm Hurst"
    low_h, high_h = HURST_MEAN_REVERSION_BELOW, HURST_MOMENTUM_ABOVE
    rank = Claim(
        "hurst_vr_rank",
        "Hurst",
        "a higher H is followed by a higher variance ratio (persistence carries over)",
        f"Spearman(H, VR({VR_Q} s) of the next {VR_WINDOW_S:g} s)",
        "rho > 0",
        n_unit=unit,
    )
    low = Claim(
        "hurst_low_vr",
        "Hurst",
        f"H < {low_h:g} (anti-persistent) is followed by mean reversion: VR < 1",
        f"mean VR({VR_Q} s) of the next {VR_WINDOW_S:g} s after H < {low_h:g}",
        "VR < 1",
        n_unit=f"windows (every {HURST_STEP_S:g} s) with H < {low_h:g}",
    )
    high = Claim(
        "hurst_high_vr",
        "Hurst",
        f"H > {high_h:g} (persistent) is followed by trending: VR > 1",
        f"mean VR({VR_Q} s) of the next {VR_WINDOW_S:g} s after H > {high_h:g}",
        "VR > 1",
        n_unit=f"windows (every {HURST_STEP_S:g} s) with H > {high_h:g}",
    )
    if "hurst" not in data:
        for claim in (low, high, rank):
            _add_note(claim, "the recording has no hurst column")
        return [low, high, rank]
    warm = warm_mask(data, ("hurst",))
    hurst = data["hurst"].to_numpy()
    h_list, vr_list, ts_list = [], [], []
    for start, stop in _windows(g, VR_WINDOW_S, HURST_STEP_S):
        row = g.row[start]
        vr = variance_ratio(g.mid[start : stop + 1], VR_Q)
        if warm[row] and np.isfinite(vr):
            h_list.append(hurst[row])
            vr_list.append(vr)
            ts_list.append(g.ts[start])
    hs, vrs, ts = np.array(h_list), np.array(vr_list), np.array(ts_list, dtype=np.int64)
    overlap = VR_WINDOW_S / HURST_STEP_S
    for claim, band, above in ((low, hs < low_h, False), (high, hs > high_h, True)):
        columns = np.column_stack([band, np.where(band, vrs, 0.0)]).astype(np.float64)
        statistic = Statistic(columns, ratio_of_sums)
        judge(claim, statistic, ts, int(band.sum()), 1.0, above, boot, min_block=overlap, use=band)
        claim.points = {"hurst": hs, "vr": vrs}
    judge(rank, correlation_statistic(rankdata(hs), rankdata(vrs)), ts, len(hs), 0.0, True, boot, min_block=overlap)
    rank.points = {"hurst": hs, "vr": vrs}
    return [low, high, rank]


def ou_claim(data: pd.DataFrame, boot: BootstrapSettings) -> Claim:
    c = Claim(
        "ou_reversion",
        "OU",
        "|z| > 2 with the Hurst gate open reverts to the fitted mean within the "
        f"{OU_TIME_STOP_S:g} s time stop more often than not",
        f"share of episodes whose z changes sign within {OU_TIME_STOP_S:g} s",
        "share > 0.5",
        n_unit="episodes (|z| > 2, gate open)",
    )
    if "ou_z" not in data or "ou_active" not in data:
        _add_note(c, "the recording has no ou_z / ou_active columns")
        return c
    z, active = data["ou_z"].to_numpy(), data["ou_active"].to_numpy(bool) & warm_mask(data, ("ou",))
    ts, files = data["ts_event"].to_numpy(np.int64), data["file"].to_numpy()
    signal = active & (np.abs(z) > 2.0)
    starts = np.flatnonzero(signal & ~np.r_[False, signal[:-1]])  # the first row of each episode
    reverted, when = [], []
    for i in starts:
        end_ts = ts[i] + round(OU_TIME_STOP_S * NS_PER_S)
        same = np.flatnonzero(files == files[i])
        if end_ts > ts[same[-1]]:
            continue  # the time stop runs past the recording: undecided
        j = np.searchsorted(ts, end_ts, side="right")
        later = z[i + 1 : j]
        reverted.append(float(np.any(np.sign(later) != np.sign(z[i]))))
        when.append(ts[i])
    return judge(c, mean_statistic(np.array(reverted)), np.array(when, np.int64), len(reverted), 0.5, True, boot)


def parkinson_claim(data: pd.DataFrame, g: Grid, boot: BootstrapSettings) -> Claim:
    c = Claim(
        "parkinson_efficiency",
        "Parkinson",
        "Parkinson's variance estimate is about 5x as efficient as close-to-close (driftless continuous process)",
        "CV² of close-to-close σ² / CV² of Parkinson σ², non-overlapping 60-bar estimates",
        "ratio > 2.5",
        n_unit="60 s windows with a warm Parkinson",
        note="a volatility that changes over time adds the same dispersion to both, pulling the ratio to 1",
    )
    if "parkinson_vol" not in data or "realized_vol" not in data:
        _add_note(c, "the recording has no parkinson_vol / realized_vol columns")
        return c
    warm = warm_mask(data, ("parkinson",))
    pk, rv = data["parkinson_vol"].to_numpy(), data["realized_vol"].to_numpy()
    window_rows = [g.row[stop] for start, stop in _windows(g, PARKINSON_WINDOW_S, PARKINSON_WINDOW_S)]
    rows = np.array([r for r in window_rows if warm[r]], dtype=np.int64)
    a, b = rv[rows] ** 2, pk[rows] ** 2
    columns = np.column_stack([np.ones(len(rows)), a, a * a, b, b * b])
    return judge(c, Statistic(columns, _cv2_ratio), data["ts_event"].to_numpy(np.int64)[rows], len(rows), 2.5, True, boot)


def _cv2_ratio(s: np.ndarray) -> np.ndarray:
    """(var(a) / mean(a)²) / (var(b) / mean(b)²) from the sums of (1, a, a², b, b²); NaN if undefined."""
    n, sa, saa, sb, sbb = (s[:, k] for k in range(5))
    with np.errstate(invalid="ignore", divide="ignore"):
        cv_a = (saa / n - (sa / n) ** 2) / (sa / n) ** 2
        cv_b = (sbb / n - (sb / n) ** 2) / (sb / n) ** 2
        ok = (n >= 3) & (sa > 0) & (sb > 0) & (cv_b > 1e-15)
        return np.where(ok, cv_a / np.where(ok, cv_b, 1.0), np.nan)


def lee_ready_claim(data: pd.DataFrame, lee_ready: pd.DataFrame | None, boot: BootstrapSettings) -> Claim:
    c = Claim(
        "lee_ready_agreement",
        "Lee-Ready",
        "Lee-Ready agrees with the exchange's aggressor flag on most trades (literature: about 85%)",
        "share of book batches whose latest trade gets the venue's side from Lee-Ready alone",
        "share > 0.75",
        n_unit="book batches with a trade",
    )
    if lee_ready is None:
        _add_note(c, "needs a second recording of the same data with classifier.ignore_venue: true (--lee-ready)")
        return c
    c.note = "per book batch: a trade counts once per batch it stays the latest"
    keys = ["file", "ts_event", "update_id"] if "update_id" in data and "update_id" in lee_ready else ["file", "ts_event"]
    both = data[[*keys, "trade_side"]].merge(lee_ready[[*keys, "trade_side"]], on=keys, suffixes=("", "_lr"))
    both = both.drop_duplicates(subset=keys)
    both = both[(both["trade_side"] != 0) & (both["trade_side_lr"] != 0)]
    agree = (both["trade_side"].to_numpy() == both["trade_side_lr"].to_numpy()).astype(np.float64)
    return judge(c, mean_statistic(agree), both["ts_event"].to_numpy(np.int64), len(agree), 0.75, True, boot)


def funding_z3_claim() -> Claim:
    """The funding z claim's words and criterion (judged: share < 0.05), shared with `research funding`."""
    return Claim(
        "funding_z3",
        "Funding",
        "|funding z| > 3 is a rare event (a normal tail: 0.27% of settlements)",
        "share of settled rates with |z| > 3",
        "share < 0.05",
        n_unit="settled rates with a z",
    )


def funding_claim(data: pd.DataFrame, boot: BootstrapSettings) -> Claim:
    c = funding_z3_claim()
    if "funding_z" not in data:
        _add_note(c, "the recording has no funding_z column (no funding stream)")
        return c
    z = data["funding_z"].to_numpy()
    change = np.flatnonzero((z != 0.0) & np.r_[True, z[1:] != z[:-1]])  # one value per settlement
    hits = (np.abs(z[change]) > 3.0).astype(np.float64)
    c.note = f"{int(hits.sum())} of {len(hits)} settled rates had |z| > 3"
    if len(hits) < MIN_SAMPLES:
        _add_note(
            c,
            "funding z needs 30 settlements of history (10 days at 8 h): import the funding history first, "
            "or see `research funding`",
        )
    # settlements are 8 h apart: PW's block length from the data (1 for independent ones)
    return judge(c, mean_statistic(hits), data["ts_event"].to_numpy(np.int64)[change], len(hits), 0.05, False, boot)


def ensemble_claim(data: pd.DataFrame, boot: BootstrapSettings, sample_ms: float) -> Claim:
    gate = ENSEMBLE_CONFIDENCE_GATE
    c = Claim(
        "ensemble_gate",
        "Ensemble",
        f"calls that pass the {gate:g} agreement gate are right more often than those below it",
        f"hit rate (sign of the ensemble direction vs the next {GATE_HORIZON_S:g} s return)"
        f" at confidence >= {gate:g} minus below {gate:g}",
        "difference > 0",
        n_unit="rows at or above the gate (warm, a call and a move)",
    )
    if "ensemble_confidence" not in data or "ensemble_direction" not in data:
        _add_note(c, "the recording has no ensemble_direction / ensemble_confidence columns")
        return c
    rows = thin(data, sample_ms)
    y = forward_returns_bps(data, GATE_HORIZON_S)[rows]
    d = data["ensemble_direction"].to_numpy()[rows]
    conf = data["ensemble_confidence"].to_numpy()[rows]
    warm = warm_mask(data, ("ofi", "cvd", "ou", "lob", "lstm"))[rows]
    use = warm & np.isfinite(y) & (d != 0) & (np.nan_to_num(y) != 0)
    hit = use & (np.sign(d) == np.sign(np.nan_to_num(y)))
    above = conf >= gate
    columns = np.column_stack([use & above, hit & above, use & ~above, hit & ~above]).astype(np.float64)
    n_above, n_below = int(columns[:, 0].sum()), int(columns[:, 2].sum())
    rates = [columns[:, 1].sum() / n_above if n_above else np.nan, columns[:, 3].sum() / n_below if n_below else np.nan]
    above_text, below_text = (f"{h:.3f}" if np.isfinite(h) else "-" for h in rates)
    c.note = f"hit rate {above_text} at >= {gate:g} ({n_above} rows), {below_text} below ({n_below} rows)"
    ts = data["ts_event"].to_numpy(np.int64)[rows]
    spacing = np.median(np.diff(ts)) if len(ts) > 1 else NS_PER_S
    horizon_rows = GATE_HORIZON_S * NS_PER_S / spacing if spacing > 0 else 1.0  # the 10 s returns overlap
    if n_below == 0:
        _add_note(c, "no row below the gate to compare with")
        c.n = n_above
        return c
    return judge(c, Statistic(columns, _hit_difference), ts, n_above, 0.0, True, boot, min_n=30, min_block=horizon_rows)


def _hit_difference(s: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = (s[:, 0] > 0) & (s[:, 2] > 0)
        return np.where(ok, s[:, 1] / np.where(ok, s[:, 0], 1.0) - s[:, 3] / np.where(ok, s[:, 2], 1.0), np.nan)


def claims_table(
    data: pd.DataFrame,
    lee_ready: pd.DataFrame | None = None,
    boot: BootstrapSettings = BootstrapSettings(),
    sample_ms: float = 200.0,
) -> list[Claim]:
    g = grid(data, 1.0)
    claims = [
        ofi_r2(data, boot),
        *vpin_claims(data, g, boot),
        *hurst_claims(data, g, boot),
        ou_claim(data, boot),
        parkinson_claim(data, g, boot),
        lee_ready_claim(data, lee_ready, boot),
        funding_claim(data, boot),
        ensemble_claim(data, boot, sample_ms),
    ]
    settle(claims)
    return claims


def claims_frame(claims: Sequence[Claim]) -> pd.DataFrame:
    return pd.DataFrame([{k: getattr(c, k) for k in CLAIM_COLUMNS} for c in claims], columns=list(CLAIM_COLUMNS))
