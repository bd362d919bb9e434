"""Parameter sweeps and walk-forward runs on Ray: one backtest per Ray task.

`configs/sweep.yaml` names a backtest config, the date ranges, and the strategy overrides to try
(dotted keys of strategy.yaml, each with a list of values): their product (`method: grid`) or an
Optuna search over the same choices with a trial budget (`method: optuna`). Every
(overrides, range) pair is one task running `run_backtest` in a fresh Ray worker process
(`max_calls=1`: no Nautilus state survives from one run to the next, so a task's result is the
run's result alone). Ray is local by default (`ray.init()` on this machine, `num_cpus` settable);
`address` joins an existing cluster (`cluster.connect`: token authentication, one-line errors).
Tasks get absolute paths and the driver's resolved catalog location (a folder, or object storage
such as s3://bucket/prefix, whose credential variables are forwarded to the workers), so a worker
with another working directory, or on another machine with the same checkout, reads the same data.

Everything is checked before any work: the file's keys, every grid point as a strategy config
(errors name the file and key), that the catalog can be read (a missing folder or bucket, refused
credentials), each range's order and that it lies inside the catalog's data.
A task that raises, or whose worker dies, becomes a `failed` row carrying its error; the others
complete. The results table (CSV) has a row per task: overrides, span, P&L split into trading,
fees and funding, round trips, win rate, per-trip net bps, max drawdown, Sharpe, the share of flat
decisions `cold` blocked, decision counts.

- **Warm starts.** Each range's run reads `warmup_s` of data before the range, untraded
  (`orders.trade_from`: the features warm up on it, no entry is taken; clipped at the catalog's
  first data), so a window's result is that of a strategy that was already running, not of its
  warm-up. Its equity figures start at the range.
- **Inert parameters.** A grid key whose values gave identical results in every result column on
  every range, the other keys held, is named: the sweep did not test it.
- **The choice** is made per parameter set across the training ranges: each set's metric is
  averaged over the ranges (a set that failed on one is out), and the best set is reported with
  its value on each range; never the best (set, range) row, which would mix the window with the
  choice.

Walk-forward (`walk_forward`): the ranges are consecutive windows; the set best on window k (by the
above) is scored on window k + 1, out of sample. Every grid point runs on every window (one sweep).
The chain (window, chosen set, in- and out-of-sample metrics, round trips, `cold` shares) is saved
as CSV with a plot of the out-of-sample equity, and the out-of-sample round trips get a bootstrap
interval of their per-trip net bps and the deflated Sharpe ratio (Bailey and López de Prado 2014)
for the number of sets tried (`research.sharpe`).
"""

from __future__ import annotations

import itertools
import logging
import math
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from typing import Any
from typing import Literal

import msgspec
import numpy as np
import pandas as pd
from msgspec import Meta

from nautilus_trader.model.data import OrderBookDelta

from scalp_nautilus.backtest.cluster import connect
from scalp_nautilus.backtest.settings import BacktestSettings
from scalp_nautilus.backtest.settings import load_backtest_settings
from scalp_nautilus.config import ConfigError
from scalp_nautilus.config import load_yaml
from scalp_nautilus.config import nest
from scalp_nautilus.config import parse_utc
from scalp_nautilus.data.catalog_store import CatalogError
from scalp_nautilus.data.catalog_store import CatalogStore

log = logging.getLogger(__name__)

METRICS = ("net", "trading", "fees", "funding", "round_trips", "win_rate", "max_drawdown", "sharpe")
# result columns compared to call a parameter inert (besides `decisions_*`); not wall time or events
RESULTS = (*METRICS, "net_bps_weighted", "trip_mean_bps", "trip_median_bps", "max_drawdown_frac", "cold_share", "batches")
_PRIVATE = ("_trips", "_equity")  # per-task arrays the walk-forward reads; not written to the table


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class RangeSettings(_Section, frozen=True):
    start: str
    end: str


class SweepSettings(_Section, frozen=True):
    backtest_config: str = "backtest.yaml"  # relative to the sweep file's folder
    ranges: list[RangeSettings] = msgspec.field(default_factory=list)  # empty: the catalog's whole span
    grid: dict[str, list[Any]] = msgspec.field(default_factory=dict)  # dotted strategy key -> values
    # Grid: every combination; optuna: a search over the same choices with a `trials` budget
    method: Literal["grid", "optuna"] = "grid"
    trials: Annotated[int, Meta(gt=0)] | None = None  # Optuna's budget (trials; each runs every range)
    seed: int = 0  # Optuna's sampler
    # The results column that picks the best row
    metric: Literal["net", "trading", "fees", "funding", "round_trips", "win_rate", "max_drawdown", "sharpe"] = "net"
    maximize: bool = True  # false: the smallest metric is best
    address: str | None = None  # an existing Ray cluster (the head's "host:6379", or "auto"); null: local
    num_cpus: Annotated[int, Meta(gt=0)] | None = None  # local Ray's CPUs (null: all); a task uses one
    out: str = "sweep/results.csv"  # the results table
    reports_dir: str = "sweep/runs"  # each task's report folder: <reports_dir>/<task id>
    # data read before each range, untraded, so that its run starts warm (clipped at the catalog's start).
    # 30 minutes: DESIGN's longest window is VPIN's 5 minutes of *expected* volume, and on the
    # simulated default VPIN took 15 minutes to warm up; a 600 s lead-in left 26% of a window cold.
    warmup_s: Annotated[float, Meta(ge=0)] = 1800.0
    chain_out: str = "sweep/walk_forward.csv"  # the walk-forward chain; its out-of-sample equity plot beside it (.png)


class SweepPlan(msgspec.Struct, frozen=True):
    path: Path
    settings: SweepSettings
    backtest_config: Path
    points: list[dict[str, Any]]  # grid points (grid) or the choices' first point (optuna)
    ranges: list[tuple[str | None, str | None]]
    # per range: where its run starts reading (the warm-up lead-in); None or absent: no lead-in
    leads: list[str | None] = msgspec.field(default_factory=list)
    catalog: CatalogStore | None = None  # the backtest config's catalog, a relative folder made absolute


def load_sweep(path: str | Path, overrides: dict[str, Any] | None = None) -> SweepPlan:
    """The sweep file, checked (a `ConfigError` naming the file and key before any work)."""
    path = Path(path)
    s = load_yaml(path, SweepSettings, overrides)
    backtest_config = path.parent / s.backtest_config
    if not backtest_config.is_file():
        raise ConfigError(f"{path}: key `backtest_config`: no file {backtest_config}")
    if not s.grid:
        raise ConfigError(f"{path}: key `grid`: empty; give at least one strategy key with a list of values")
    for key, values in s.grid.items():
        if not values:
            raise ConfigError(f"{path}: key `grid.{key}`: an empty list of values")
    if s.method == "optuna" and s.trials is None:
        raise ConfigError(f"{path}: key `trials`: required with `method: optuna` (the trial budget)")
    keys = list(s.grid)
    points = [dict(zip(keys, combo)) for combo in itertools.product(*s.grid.values())]
    for point in points:  # every grid point is a valid strategy config (the file and key named)
        try:
            load_backtest_settings(backtest_config, None, nest(point))
        except ConfigError as exc:
            raise ConfigError(f"{path}: key `grid` {point}: {exc}") from None
    base = load_backtest_settings(backtest_config)
    catalog = base.catalog_store.resolved()
    try:
        catalog.check()
    except CatalogError as exc:
        raise ConfigError(f"{path}: key `backtest_config`: {exc}") from None
    ranges, leads = _check_ranges(path, s, base, catalog)
    return SweepPlan(path, s, backtest_config.resolve(), points, ranges, leads, catalog)


def _check_ranges(
    path: Path, s: SweepSettings, base: BacktestSettings, catalog: CatalogStore
) -> tuple[list[tuple[str | None, str | None]], list[str | None]]:
    if not s.ranges:
        return [(base.start, base.end)], [None]
    spans = catalog.catalog().get_intervals(OrderBookDelta, base.instrument_id)
    if not spans:
        raise ConfigError(
            f"{path}: key `backtest_config`: the catalog {catalog.location} holds no order-book deltas of {base.instrument_id}"
        )
    lo, hi = min(a for a, _ in spans), max(b for _, b in spans)
    out, leads = [], []
    for i, r in enumerate(s.ranges):
        start, end = (parse_utc(r.start, f"{path}: key `ranges[{i}].start`"), parse_utc(r.end, f"{path}: key `ranges[{i}].end`"))
        if end <= start:
            raise ConfigError(f"{path}: key `ranges[{i}]`: inverted range, end {r.end} is not after start {r.start}")
        if start.value < lo or end.value > hi:
            raise ConfigError(
                f"{path}: key `ranges[{i}]`: {r.start} -> {r.end} lies outside the catalog's data of {base.instrument_id} "
                f"({pd.Timestamp(lo, tz='UTC')} -> {pd.Timestamp(hi, tz='UTC')})",
            )
        out.append((start.isoformat(), end.isoformat()))
        lead = max(start.value - round(s.warmup_s * 1e9), lo)
        leads.append(pd.Timestamp(lead, tz="UTC").isoformat() if s.warmup_s > 0 and lead < start.value else None)
    return out, leads


def run_one(
    backtest_config: str,
    point: dict[str, Any],
    start: str | None,
    end: str | None,
    reports_dir: str,
    catalog: str | None = None,
    lead: str | None = None,
) -> dict:
    """One backtest (what a Ray task runs): the results row of its one strategy. `catalog`: the
    driver's resolved location, over the config's (whose relative folder is the driver's). With a
    `lead` the run reads from it, and trades (and its equity figures count) from `start` only."""
    from scalp_nautilus.backtest.report import metrics
    from scalp_nautilus.backtest.report import trip_net_bps
    from scalp_nautilus.backtest.runner import run_backtest

    overrides: dict[str, Any] = {"reports_dir": reports_dir, "plots": False}
    if catalog is not None:
        overrides["catalog"] = catalog
    if start is not None:
        overrides["start"] = lead or start
    if end is not None:
        overrides["end"] = end
    strategy = {**point, "orders.trade_from": start} if lead else point
    settings = load_backtest_settings(backtest_config, overrides, nest(strategy))
    outcome = run_backtest(settings)
    rep = outcome.strategies[0]
    since = pd.Timestamp(start).value if lead and start else 0
    equity = rep.timeline[["ts", "equity"]]
    equity = equity[pd.to_datetime(equity["ts"], utc=True) >= pd.Timestamp(since, tz="UTC")]
    return {
        **metrics(rep, since),
        "wall_s": outcome.wall_seconds,
        "events": outcome.result.iterations,
        "_trips": [[t.ts_closed, b] for t, b in zip(rep.round_trips, trip_net_bps(rep).tolist())],
        "_equity": [[pd.Timestamp(ts).value, float(e)] for ts, e in equity.itertuples(index=False)],
    }


def _init_ray(plan: SweepPlan):
    import ray

    s = plan.settings
    connect(s.address, s.num_cpus, plan.catalog.forwarded_env() if plan.catalog else None)
    # One worker process per task (max_calls=1): no state carried between runs. No retries: a
    # worker that dies is reported as a failed task, not silently run again.
    return ray, ray.remote(num_cpus=1, max_calls=1, max_retries=0)(run_one)


def _task_row(index: int, point: dict, span: tuple, reports: str) -> dict:
    return {"task": index, **{f"set.{k}": v for k, v in point.items()}, "start": span[0], "end": span[1], "reports": reports}


def run_tasks(plan: SweepPlan, tasks: list[tuple[dict, tuple]], first: int = 0) -> list[dict]:
    """Run (point, range) tasks on Ray; a row per task, failures included (`status`, `error`)."""
    ray, remote = _init_ray(plan)
    root = Path(plan.settings.reports_dir).resolve()
    catalog = plan.catalog.location if plan.catalog else None
    leads = dict(zip(plan.ranges, plan.leads))
    futures, rows = {}, {}
    for i, (point, span) in enumerate(tasks, start=first):
        reports = str(root / f"task{i:04d}")
        rows[i] = _task_row(i, point, span, reports)
        futures[remote.remote(str(plan.backtest_config), point, span[0], span[1], reports, catalog, leads.get(span))] = i
    pending = list(futures)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        i = futures[done[0]]
        try:
            rows[i].update(status="ok", error="", **ray.get(done[0]))
        except Exception as exc:  # noqa: BLE001 (the task raised, or its worker died: reported, the others go on)
            rows[i].update(status="failed", error=_error_text(exc))
            log.warning("task %d failed: %s", i, rows[i]["error"])
    return [rows[i] for i in sorted(rows)]


def _error_text(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)
    if cause is not None and not isinstance(cause, type):
        return f"{type(cause).__name__}: {cause}"
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return text.splitlines()[-1] if text else type(exc).__name__


def _objective(row: dict, metric: str) -> float:
    value = row.get(metric, math.nan) if row.get("status") == "ok" else math.nan
    return float(value) if value is not None else math.nan


def run_sweep(plan: SweepPlan) -> pd.DataFrame:
    """The whole sweep: the results table (also written to `out`)."""
    s = plan.settings
    started = time.perf_counter()
    if s.method == "grid":
        rows = run_tasks(plan, [(p, r) for p in plan.points for r in plan.ranges])
    else:
        rows = _run_optuna(plan)
    table = pd.DataFrame(rows)
    out = Path(s.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.drop(columns=[c for c in _PRIVATE if c in table]).to_csv(out, index=False)
    log.info("sweep: %d tasks in %.1f s -> %s", len(table), time.perf_counter() - started, out)
    return table


def _run_optuna(plan: SweepPlan) -> list[dict]:
    """Optuna over the grid's choices: each trial runs on every range (one task each), its value
    the mean of the metric over them; `num_cpus` trials' tasks at a time."""
    import optuna

    s = plan.settings
    budget = s.trials
    assert budget is not None  # `load_sweep` requires it with `method: optuna`
    sampler = optuna.samplers.TPESampler(seed=s.seed)
    study = optuna.create_study(direction="maximize" if s.maximize else "minimize", sampler=sampler)
    rows: list[dict] = []
    done = 0
    batch = max(1, s.num_cpus or 2)
    while done < budget:
        trials = [study.ask() for _ in range(min(batch, budget - done))]
        points = [{k: t.suggest_categorical(k, v) for k, v in s.grid.items()} for t in trials]
        tasks = [(p, r) for p in points for r in plan.ranges]
        got = run_tasks(plan, tasks, first=len(rows))
        rows += got
        for j, trial in enumerate(trials):
            values = [_objective(r, s.metric) for r in got[j * len(plan.ranges) : (j + 1) * len(plan.ranges)]]
            if any(math.isnan(v) for v in values):
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, sum(values) / len(values))
        done += len(trials)
    return rows


def _set_columns(plan: SweepPlan) -> list[str]:
    return [f"set.{k}" for k in plan.settings.grid]


def inert_parameters(plan: SweepPlan, table: pd.DataFrame) -> list[str]:
    """Grid keys whose values gave identical results in every result column on every range, the
    other keys held (compared where two or more of its values ran; failed tasks left out)."""
    ok = table[table["status"] == "ok"] if "status" in table else table.iloc[0:0]
    results = [c for c in ok.columns if c in RESULTS or c.startswith("decisions_")]
    inert = []
    for key in plan.settings.grid:
        column = f"set.{key}"
        others = [c for c in _set_columns(plan) if c != column] + ["start"]
        compared, same = 0, True
        for _, group in ok.groupby(others, dropna=False, sort=False):
            if group[column].nunique(dropna=False) < 2:
                continue
            compared += 1
            if not (group[results].nunique(dropna=False) <= 1).all():
                same = False
                break
        if compared and same:
            inert.append(key)
    return inert


def choose(plan: SweepPlan, table: pd.DataFrame, starts: list[str | None] | None = None) -> dict[str, Any] | None:
    """The parameter set best by the metric averaged over the ranges starting at `starts` (None:
    every range); a set that did not run ok on each of them is out. Its `set.*` values, the
    average (`value`) and the number of ranges; None when no set ran on all of them."""
    s = plan.settings
    wanted = [r[0] for r in plan.ranges] if starts is None else starts
    rows = table[table["start"].isin(wanted)].copy() if "start" in table else table.iloc[0:0]
    if rows.empty or s.metric not in rows:
        return None
    rows["_value"] = [_objective(r, s.metric) for r in rows.to_dict("records")]
    keys = _set_columns(plan)
    # per set and range first (Optuna may run a set twice), then across the ranges
    per_range = rows.groupby([*keys, "start"], dropna=False, sort=False)["_value"].mean().dropna().reset_index()
    agg = per_range.groupby(keys, dropna=False, sort=False).agg(value=("_value", "mean"), ranges=("_value", "count"))
    agg = agg[agg["ranges"] == len(set(wanted))]
    if agg.empty:
        return None
    best = agg["value"].idxmax() if s.maximize else agg["value"].idxmin()
    values = [v.item() if isinstance(v, np.generic) else v for v in (best if isinstance(best, tuple) else (best,))]
    return {**dict(zip(keys, values)), "value": float(agg.loc[best, "value"]), "ranges": int(agg.loc[best, "ranges"])}


def _row_of(table: pd.DataFrame, plan: SweepPlan, chosen: dict[str, Any], start: str | None) -> dict | None:
    same = table["start"] == start
    for key in _set_columns(plan):
        same &= table[key] == chosen[key]
    rows = table[same & (table["status"] == "ok")]
    return rows.iloc[0].to_dict() if len(rows) else None


@dataclass
class WalkForward:
    chain: pd.DataFrame  # one row per out-of-sample window
    oos_trips: np.ndarray  # per-trip net bps of the out-of-sample windows, in time order
    oos: dict[str, float]  # `per_trip` of them: mean and median with 95% intervals
    sets_tried: int
    sharpe: float  # per-trip Sharpe ratio of the out-of-sample trips
    sr0: float  # what the best of `sets_tried` reaches by luck (per trip)
    dsr: float  # deflated Sharpe ratio
    equity: list[np.ndarray]  # per window: (ts ns, equity) of the out-of-sample run

    def lines(self, metric: str) -> list[str]:
        from scalp_nautilus.backtest.report import COLD_WARNING_SHARE

        c, o = self.chain, self.oos
        out = [
            f"walk-forward {metric}: in-sample total {c['is_value'].sum():+.4f}, out-of-sample total "
            f"{c['oos_value'].sum():+.4f} over {len(c)} windows",
        ]
        if not o["n"]:
            out.append("out-of-sample: no round trip")
            return out
        interval = (
            f"mean {o['mean']:+.2f} [{o['mean_lo']:+.2f}, {o['mean_hi']:+.2f}], median {o['median']:+.2f} "
            f"[{o['median_lo']:+.2f}, {o['median_hi']:+.2f}] (95%)"
            if math.isfinite(o["mean_lo"])
            else f"mean {o['mean']:+.2f}, median {o['median']:+.2f} (no interval from fewer than 20 trips)"
        )
        out.append(f"out-of-sample net bps per round trip over {o['n']} trips: {interval}")
        shares = ", ".join(f"{v:.1%}" for v in c["oos_cold_share"]) if "oos_cold_share" in c else "-"
        out.append(f"`cold` blocked these shares of each out-of-sample window's flat decisions: {shares}")
        if "oos_cold_share" in c and (c["oos_cold_share"] > COLD_WARNING_SHARE).any():
            out.append("WARNING: a window was cold for more than half of its decisions: lengthen `warmup_s`")
        out.append(
            f"deflated Sharpe ratio {self.dsr:.3f}: the out-of-sample per-trip Sharpe {self.sharpe:+.3f} against "
            f"{self.sr0:+.3f}, what the best of {self.sets_tried} sets reaches by luck (Bailey and López de Prado 2014; "
            "the probability that its true Sharpe is above zero)"
        )
        return out


def walk_forward(plan: SweepPlan, table: pd.DataFrame) -> WalkForward:
    """Per window k: the set best on k (`choose`) and its result on k + 1 (out of sample)."""
    from scalp_nautilus.backtest.report import per_trip
    from scalp_nautilus.research.sharpe import deflated_sharpe_ratio
    from scalp_nautilus.research.sharpe import expected_max_sharpe
    from scalp_nautilus.research.sharpe import sharpe_of

    s = plan.settings
    keys = _set_columns(plan)
    chain: list[dict[str, Any]] = []
    trips: list[list[float]] = []
    equity: list[np.ndarray] = []
    for k in range(len(plan.ranges) - 1):
        (a0, a1), (b0, b1) = plan.ranges[k], plan.ranges[k + 1]
        row: dict[str, Any] = {"window": k + 1, "is_start": a0, "is_end": a1, "oos_start": b0, "oos_end": b1}
        best = choose(plan, table, [a0])
        if best is None:
            chain.append({**row, "is_value": math.nan, "oos_value": math.nan})
            continue
        inside, outside = _row_of(table, plan, best, a0), _row_of(table, plan, best, b0)
        row.update({key: best[key] for key in keys})
        row["is_value"] = best["value"]
        row["oos_value"] = _objective(outside, s.metric) if outside else math.nan
        for prefix, r in (("is", inside), ("oos", outside)):
            for name in ("net", "round_trips", "net_bps_weighted", "trip_mean_bps", "trip_median_bps", "cold_share"):
                row[f"{prefix}_{name}"] = r.get(name, math.nan) if r else math.nan
        if outside:
            trips += outside.get("_trips") or []
            points = np.array(outside.get("_equity") or [], dtype=np.float64).reshape(-1, 2)
            equity.append(points)
        chain.append(row)
    oos = np.array([b for _, b in sorted(trips)], dtype=np.float64)
    sr, skewness, kurt = sharpe_of(oos)
    ok = table[table["status"] == "ok"]
    per_set = [
        sharpe_of(np.array([b for r in group.get("_trips", []) if isinstance(r, list) for _, b in r]))[0]
        for _, group in ok.groupby(keys, dropna=False, sort=False)
    ]
    finite = np.array([v for v in per_set if math.isfinite(v)])
    var = float(finite.var(ddof=1)) if len(finite) > 1 else 0.0
    n_sets = len(plan.points) if s.method == "grid" else max(1, len(per_set))
    return WalkForward(
        pd.DataFrame(chain),
        oos,
        per_trip(oos),
        n_sets,
        sr,
        expected_max_sharpe(n_sets, var),
        deflated_sharpe_ratio(sr, len(oos), skewness, kurt, n_sets, var),
        equity,
    )


def save_walk_forward(wf: WalkForward, path: str | Path) -> tuple[Path, Path]:
    """The chain as CSV at `path` and the out-of-sample equity (each window's change, chained) as
    a PNG beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wf.chain.to_csv(path, index=False)
    png = path.with_suffix(".png")
    fig, ax = plt.subplots(figsize=(11, 4.5))
    offset = 0.0
    for k, points in enumerate(wf.equity):
        if not len(points):
            continue
        when = pd.to_datetime(points[:, 0].astype(np.int64), utc=True)
        change = points[:, 1] - points[0, 1] + offset
        ax.plot(when, change, lw=1, color="tab:blue")
        ax.axvline(when[0], color="0.6", lw=0.7, ls="--")
        ax.text(when[0], change[0], f" w{int(wf.chain['window'].iloc[k]) if k < len(wf.chain) else k}", fontsize=8)
        offset = float(change[-1])
    ax.axhline(0.0, color="0.3", lw=0.7)
    ax.set_ylabel("out-of-sample equity change (settlement currency)")
    ax.set_title(f"walk-forward, out of sample: {len(wf.chain)} windows, {len(wf.oos_trips)} round trips")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return path, png


def summary_lines(plan: SweepPlan, table: pd.DataFrame) -> list[str]:
    """The sweep's verdict: inert parameters and the best set across the ranges."""
    s = plan.settings
    lines = []
    for key in inert_parameters(plan, table):
        values = ", ".join(map(str, s.grid[key]))
        lines.append(f"inert: {key} ({values}) gave identical results in every column on every range: it was not tested")
    best = choose(plan, table)
    if best is None:
        lines.append(f"best set by mean {s.metric}: none (no set ran ok on every range)")
        return lines
    chosen = {k[4:]: best[k] for k in _set_columns(plan)}
    per_range = []
    for start, _ in plan.ranges:
        row = _row_of(table, plan, best, start)
        per_range.append(f"{_objective(row, s.metric):+.4f}" if row else "-")
    lines.append(
        f"best set by mean {s.metric} over {best['ranges']} ranges: {chosen} (mean {best['value']:+.4f}; per range "
        + ", ".join(per_range)
        + ")"
    )
    return lines


def check_walk_forward(plan: SweepPlan) -> None:
    if plan.settings.method != "grid":
        raise ConfigError(f"{plan.path}: key `method`: walk-forward chooses among grid points; use `method: grid`")
    if len(plan.ranges) < 2:
        raise ConfigError(f"{plan.path}: key `ranges`: walk-forward needs at least two consecutive windows")
    for k in range(len(plan.ranges) - 1):
        (_, end), (start, _) = plan.ranges[k], plan.ranges[k + 1]
        assert start is not None and end is not None  # two or more windows are the file's `ranges`, both ends given
        if start < end:
            raise ConfigError(f"{plan.path}: key `ranges[{k + 1}]`: walk-forward windows must follow each other without overlap")
