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
fees and funding, round trips, win rate, max drawdown, Sharpe, decision counts; then the best row
by `metric`.

Walk-forward (`walk_forward`): the ranges are consecutive windows; on window k the grid point best
by the metric is chosen and its result on window k+1 is the out-of-sample one. Every grid point
runs on every window (one sweep), so the in-sample and out-of-sample chains come from the same
table.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
import traceback
from pathlib import Path
from typing import Annotated
from typing import Any
from typing import Literal

import msgspec
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


class SweepPlan(msgspec.Struct, frozen=True):
    path: Path
    settings: SweepSettings
    backtest_config: Path
    points: list[dict[str, Any]]  # grid points (grid) or the choices' first point (optuna)
    ranges: list[tuple[str | None, str | None]]
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
    ranges = _check_ranges(path, s, base, catalog)
    return SweepPlan(path, s, backtest_config.resolve(), points, ranges, catalog)


def _check_ranges(
    path: Path, s: SweepSettings, base: BacktestSettings, catalog: CatalogStore
) -> list[tuple[str | None, str | None]]:
    if not s.ranges:
        return [(base.start, base.end)]
    spans = catalog.catalog().get_intervals(OrderBookDelta, base.instrument_id)
    if not spans:
        raise ConfigError(
            f"{path}: key `backtest_config`: the catalog {catalog.location} holds no order-book deltas of {base.instrument_id}"
        )
    lo, hi = min(a for a, _ in spans), max(b for _, b in spans)
    out = []
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
    return out


def run_one(
    backtest_config: str, point: dict[str, Any], start: str | None, end: str | None, reports_dir: str, catalog: str | None = None
) -> dict:
    """One backtest (what a Ray task runs): the results row of its one strategy. `catalog`: the
    driver's resolved location, over the config's (whose relative folder is the driver's)."""
    from scalp_nautilus.backtest.report import metrics
    from scalp_nautilus.backtest.runner import run_backtest

    overrides: dict[str, Any] = {"reports_dir": reports_dir, "plots": False}
    if catalog is not None:
        overrides["catalog"] = catalog
    if start is not None:
        overrides["start"] = start
    if end is not None:
        overrides["end"] = end
    settings = load_backtest_settings(backtest_config, overrides, nest(point))
    outcome = run_backtest(settings)
    return {**metrics(outcome.strategies[0]), "wall_s": outcome.wall_seconds, "events": outcome.result.iterations}


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
    futures, rows = {}, {}
    for i, (point, span) in enumerate(tasks, start=first):
        reports = str(root / f"task{i:04d}")
        rows[i] = _task_row(i, point, span, reports)
        futures[remote.remote(str(plan.backtest_config), point, span[0], span[1], reports, catalog)] = i
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


def best_row(table: pd.DataFrame, metric: str, maximize: bool) -> pd.Series | None:
    ok = table[(table["status"] == "ok") & table[metric].notna()] if metric in table else table.iloc[0:0]
    if ok.empty:
        return None
    return ok.loc[ok[metric].idxmax() if maximize else ok[metric].idxmin()]


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
    table.to_csv(out, index=False)
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


def walk_forward(plan: SweepPlan, table: pd.DataFrame) -> pd.DataFrame:
    """Per window k: the grid point best on k by the metric (in-sample) and its result on k+1
    (out-of-sample)."""
    s = plan.settings
    keys = [f"set.{k}" for k in s.grid]
    chain: list[dict[str, Any]] = []
    for k in range(len(plan.ranges) - 1):
        (a0, _), (b0, b1) = plan.ranges[k], plan.ranges[k + 1]
        best = best_row(table[table["start"] == a0], s.metric, s.maximize)
        if best is None:
            chain.append(
                {"window": k, "chosen": None, "in_sample": math.nan, "out_of_sample": math.nan, "oos_start": b0, "oos_end": b1}
            )
            continue
        same = table["start"] == b0
        for key in keys:
            same &= table[key] == best[key]
        oos = table[same]
        value = _objective(oos.iloc[0].to_dict(), s.metric) if len(oos) else math.nan
        chain.append(
            {
                "window": k,
                "chosen": {key[4:]: best[key] for key in keys},
                "in_sample": float(best[s.metric]),
                "out_of_sample": value,
                "oos_start": b0,
                "oos_end": b1,
            }
        )
    return pd.DataFrame(chain)


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
