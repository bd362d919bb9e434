"""`scalp-nautilus sweep` / `walk-forward`: bad input stops before any work naming the file and the
key; on Ray, a task's row equals the same backtest run alone in this process (the oracle), and a
worker killed mid-run is reported failed while the other tasks complete. The choice per set across
ranges, inert parameters, the walk-forward chain with its interval and deflated Sharpe ratio, and
the warm lead-in of a window, on hand-made tables and a real capture."""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from scalp_nautilus.backtest.sweep import SweepPlan
from scalp_nautilus.backtest.sweep import SweepSettings
from scalp_nautilus.backtest.sweep import choose
from scalp_nautilus.backtest.sweep import inert_parameters
from scalp_nautilus.backtest.sweep import load_sweep
from scalp_nautilus.backtest.sweep import run_one
from scalp_nautilus.backtest.sweep import run_sweep
from scalp_nautilus.backtest.sweep import save_walk_forward
from scalp_nautilus.backtest.sweep import summary_lines
from scalp_nautilus.backtest.sweep import walk_forward
from scalp_nautilus.config import ConfigError
from tests.capture_catalogs import capture_catalog  # noqa: F401 (fixture)
from tests.capture_catalogs import strategy_overrides
from tests.support.configs import write_config

RANGES = [
    {"start": "2023-04-04T23:59:00Z", "end": "2023-04-05T00:02:00Z"},
    {"start": "2023-04-05T00:02:00Z", "end": "2023-04-05T00:05:00Z"},
]


def sweep_file(tmp_path: Path, cat, **changes) -> Path:
    write_config(
        tmp_path,
        strategy=strategy_overrides(cat),
        catalog=str(cat.path),
        instrument_id=cat.instrument_id,
        plots=False,
        **{"venue.name": "BINANCE"},
    )
    cfg = {
        "backtest_config": "backtest.yaml",
        "ranges": RANGES,
        "grid": {"exits.stop_k": [1.5, 2.0]},
        "num_cpus": 2,
        "out": str(tmp_path / "results.csv"),
        "reports_dir": str(tmp_path / "runs"),
    }
    cfg.update(changes)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.real_data
@pytest.mark.parametrize(
    "changes, message",
    [
        ({"grdi": {"exits.stop_k": [1.0]}}, "key `grdi`"),
        ({"grid": {}}, "key `grid`: empty"),
        ({"grid": {"exits.stop_k": []}}, "key `grid.exits.stop_k`: an empty list"),
        ({"grid": {"exits.stop_kk": [1.0]}}, "exits.stop_kk"),
        ({"grid": {"exits.stop_k": [-1.0]}}, "exits.stop_k"),
        ({"ranges": [{"start": "2023-04-05T00:02:00Z", "end": "2023-04-05T00:01:00Z"}]}, "key `ranges[0]`: inverted range"),
        ({"ranges": [RANGES[0], {"start": "2023-04-05T00:02:00Z", "end": "2023-04-06T00:00:00Z"}]}, "key `ranges[1]`"),
        ({"method": "optuna"}, "key `trials`"),
    ],
)
def test_bad_input_stops_before_any_work_naming_file_and_key(changes, message, capture_catalog, tmp_path):  # noqa: F811
    path = sweep_file(tmp_path, capture_catalog("usdm_2023_04"), **changes)
    with pytest.raises(ConfigError) as err:
        load_sweep(path)
    assert str(path) in str(err.value) and message in str(err.value)
    assert not (tmp_path / "runs").exists()


def _descends_from(pid: int, root: int) -> bool:
    while pid > 1:
        if pid == root:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the parent's pid
    return False


def _kill_first_task_worker(stop: threading.Event, killed: list) -> None:
    """Find a worker of this test's own Ray (a descendant of this process: its raylet started it)
    running a sweep task (process title `ray::run_one`) and SIGKILL it."""
    me = os.getpid()
    while not stop.is_set() and not killed:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"ray::run_one") and _descends_from(int(pid), me):
                # The title is set while the task runs: kill at once (a wait could outlast a short task).
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    continue  # it finished meanwhile: look for the next one
                killed.append(int(pid))
                return
        time.sleep(0.2)


@pytest.mark.real_data
@pytest.mark.slow
def test_ray_tasks_equal_runs_alone_and_a_killed_worker_is_reported(capture_catalog, tmp_path):  # noqa: F811
    import ray

    cat = capture_catalog("usdm_2023_04")
    # three tasks on two CPUs: the killed one is among the first two, the third starts after
    plan = load_sweep(sweep_file(tmp_path, cat, grid={"exits.stop_k": [1.5, 2.0, 3.0]}, ranges=RANGES[:1]))
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_first_task_worker, args=(stop, killed))
    killer.start()
    try:
        table = run_sweep(plan)
    finally:
        stop.set()
        killer.join()
        ray.shutdown()
    assert len(killed) == 1 and len(table) == 3
    failed = table[table["status"] == "failed"]
    assert len(failed) == 1 and failed["error"].iloc[0]
    ok = table[table["status"] == "ok"]
    assert len(ok) == 2
    assert pd.read_csv(plan.settings.out)["status"].tolist() == table["status"].tolist()
    # the oracle: each surviving task's row is the same backtest run alone in this process
    for _, row in ok.iterrows():
        point = {"exits.stop_k": row["set.exits.stop_k"]}
        folder = str(tmp_path / f"alone{row['task']}")
        alone = run_one(str(plan.backtest_config), point, row["start"], row["end"], folder, lead=plan.leads[0])
        for key, value in alone.items():
            if key in ("wall_s", "_trips", "_equity"):
                assert key == "wall_s" or row[key] == value
                continue
            assert (
                (math.isnan(value) and math.isnan(row[key]))
                if isinstance(value, float) and math.isnan(value)
                else row[key] == pytest.approx(value, rel=0, abs=0)
            ), key


def _plan(ranges, **settings) -> SweepPlan:
    changes = {"grid": {"exits.stop_k": [1.5, 2.0]}, "metric": "net", **settings}
    points = [{"exits.stop_k": v} for v in changes["grid"]["exits.stop_k"]]
    return SweepPlan(Path("s.yaml"), SweepSettings(**changes), Path("b.yaml"), points, ranges, [None] * len(ranges))


def test_the_choice_is_per_set_across_ranges_and_inert_parameters_are_named():
    """Stop 2.0 has the best single (set, range) row (+9) but loses on average; take_profit_k
    changed nothing anywhere, stop_k did."""
    plan = _plan([("a", "b"), ("b", "c")], grid={"exits.stop_k": [1.5, 2.0], "exits.take_profit_k": [2.0, 3.0]})
    rows = []
    for stop, nets in ((1.5, (4.0, 3.0)), (2.0, (9.0, -6.0))):
        for tp in (2.0, 3.0):
            for start, net in zip("ab", nets):
                rows.append({"set.exits.stop_k": stop, "set.exits.take_profit_k": tp, "start": start, "status": "ok", "net": net})
    table = pd.DataFrame(rows).assign(round_trips=3, decisions_cold=10)
    best = choose(plan, table)
    assert (best["set.exits.stop_k"], best["value"], best["ranges"]) == (1.5, 3.5, 2)
    assert choose(plan, table, ["a"])["set.exits.stop_k"] == 2.0  # on window a alone, 2.0 wins
    assert inert_parameters(plan, table) == ["exits.take_profit_k"]
    lines = summary_lines(plan, table)
    assert lines[0].startswith("inert: exits.take_profit_k (2.0, 3.0) gave identical results")
    assert "best set by mean net over 2 ranges: {'exits.stop_k': 1.5, 'exits.take_profit_k'" in lines[1]
    assert "per range +4.0000, +3.0000" in lines[1]
    # a set that failed on one range is out of the choice
    table.loc[(table["set.exits.stop_k"] == 1.5) & (table["start"] == "b"), "status"] = "failed"
    assert choose(plan, table)["set.exits.stop_k"] == 2.0
    # one differing column is enough to make a parameter live
    table.loc[0, "decisions_cold"] = 11
    table.loc[1, "status"] = "ok"
    assert inert_parameters(plan, table) == []


def test_walk_forward_chooses_in_sample_reads_out_of_sample_and_is_saved(tmp_path):
    """The chain from a hand-made table: window a's best (by net) is stop 2.0, whose window-b row
    is the out-of-sample figure; window b's best is stop 1.5, read on window c. The out-of-sample
    trips are pooled in time order for their interval and deflated Sharpe ratio."""
    w = ["a", "b", "c"]
    plan = _plan([(w[0], w[1]), (w[1], w[2]), (w[2], "d")])
    trips = {(1.5, "c"): [[3, 1.0], [4, 2.0]], (2.0, "b"): [[1, -1.0], [2, 0.5]]}
    table = pd.DataFrame(
        {
            "set.exits.stop_k": [1.5, 2.0, 1.5, 2.0, 1.5, 2.0],
            "start": [w[0], w[0], w[1], w[1], w[2], w[2]],
            "status": ["ok"] * 6,
            "net": [1.0, 3.0, 5.0, -2.0, 7.0, 11.0],
            "round_trips": [2] * 6,
        }
    )
    table["_trips"] = [trips.get((k, st), [[9, 0.0], [10, 0.1]]) for k, st in zip(table["set.exits.stop_k"], table["start"])]
    table["_equity"] = [[[0, 10.0], [10**9, 10.5]]] * 6
    wf = walk_forward(plan, table)
    chain = wf.chain
    assert chain["set.exits.stop_k"].tolist() == [2.0, 1.5]
    assert chain["is_value"].tolist() == [3.0, 5.0] and chain["oos_value"].tolist() == [-2.0, 7.0]
    assert wf.oos_trips.tolist() == [-1.0, 0.5, 1.0, 2.0] and wf.oos["n"] == 4 and wf.sets_tried == 2
    assert math.isnan(wf.oos["mean_lo"])  # 4 trips: no interval
    csv, png = save_walk_forward(wf, tmp_path / "wf" / "chain.csv")
    assert pd.read_csv(csv)["oos_value"].tolist() == [-2.0, 7.0] and png.stat().st_size > 0
    assert any("deflated Sharpe ratio" in line for line in wf.lines("net"))


def test_optuna_search_spends_its_trial_budget_over_every_range(monkeypatch, tmp_path):
    """Optuna's driver without Ray: tasks answered by a known objective (net = -(stop_k - 2)^2 on
    every range; a failure for stop_k 3.0). Each trial runs once per range, the budget is spent
    exactly, a failed task is a failed row, and the search ends on the grid's best value."""
    from scalp_nautilus.backtest import sweep as sweep_mod

    def fake_tasks(plan, tasks, first=0):
        rows = []
        for i, (point, span) in enumerate(tasks, start=first):
            k = point["exits.stop_k"]
            row = sweep_mod._task_row(i, point, span, "")
            if k == 3.0:
                row.update(status="failed", error="boom")
            else:
                row.update(status="ok", error="", net=-((k - 2.0) ** 2))
            rows.append(row)
        return rows

    monkeypatch.setattr(sweep_mod, "run_tasks", fake_tasks)
    settings = SweepSettings(
        grid={"exits.stop_k": [1.0, 2.0, 3.0]}, method="optuna", trials=7, num_cpus=2, out=str(tmp_path / "r.csv")
    )
    plan = SweepPlan(Path("s.yaml"), settings, Path("b.yaml"), [], [("a", "b"), ("b", "c")], [None, None])
    table = run_sweep(plan)
    assert len(table) == 7 * 2 and (table.groupby("task").size() == 1).all()
    assert set(table.loc[table["set.exits.stop_k"] == 3.0, "status"]) <= {"failed"}
    ok = table[table["status"] == "ok"]
    assert (ok["net"] == -((ok["set.exits.stop_k"] - 2.0) ** 2)).all()
    assert (table["set.exits.stop_k"] == 2.0).any()  # seed 0 samples it within 7 trials
    assert choose(plan, table)["set.exits.stop_k"] == 2.0


@pytest.mark.real_data
@pytest.mark.slow
def test_a_window_starts_warm_after_its_lead_in(capture_catalog, tmp_path):  # noqa: F811
    """The second window of the 2023-04 capture (00:02 -> 00:05) read cold and read after a lead-in
    from the capture's start: with it, `cold` blocks fewer of the window's flat decisions, no trade
    opens before the window, and the lead-in's batches are counted `warm_up`."""
    cat = capture_catalog("usdm_2023_04")
    plan = load_sweep(sweep_file(tmp_path, cat))
    assert plan.leads[1] == "2023-04-04T23:58:20.630503+00:00"  # 1800 s before 00:02, clipped at the first delta
    (start, end), lead = plan.ranges[1], plan.leads[1]
    point = {"exits.stop_k": 2.0}
    cold = run_one(str(plan.backtest_config), point, start, end, str(tmp_path / "cold"))
    warm = run_one(str(plan.backtest_config), point, start, end, str(tmp_path / "warm"), lead=lead)
    print(f"\ncold share without a lead-in {cold['cold_share']:.3f}, with {warm['cold_share']:.3f}")
    assert warm["cold_share"] < cold["cold_share"] and warm["decisions_warm_up"] > 0
    assert all(ts >= pd.Timestamp(start).value for ts, _ in warm["_trips"])
    assert cold.get("decisions_warm_up", 0) == 0
