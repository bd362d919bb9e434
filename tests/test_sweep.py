"""`scalp-nautilus sweep` / `walk-forward`: bad input stops before any work naming the file and the
key; on Ray, a task's row equals the same backtest run alone in this process (the oracle), and a
worker killed mid-run is reported failed while the other tasks complete."""

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

from scalp_nautilus.backtest.sweep import best_row
from scalp_nautilus.backtest.sweep import load_sweep
from scalp_nautilus.backtest.sweep import run_one
from scalp_nautilus.backtest.sweep import run_sweep
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
        alone = run_one(str(plan.backtest_config), point, row["start"], row["end"], str(tmp_path / f"alone{row['task']}"))
        for key, value in alone.items():
            if key in ("wall_s",):
                continue
            assert (
                (math.isnan(value) and math.isnan(row[key]))
                if isinstance(value, float) and math.isnan(value)
                else row[key] == pytest.approx(value, rel=0, abs=0)
            ), key


def test_walk_forward_chooses_in_sample_and_reads_out_of_sample():
    """The chain from a hand-made table: window 0's best (by net) is stop 2.0, whose window-1 row
    is the out-of-sample figure; window 1's best is stop 1.5, read on window 2."""
    from scalp_nautilus.backtest.sweep import SweepPlan
    from scalp_nautilus.backtest.sweep import SweepSettings

    w = ["a", "b", "c"]
    settings = SweepSettings(grid={"exits.stop_k": [1.5, 2.0]}, metric="net")
    plan = SweepPlan(Path("s.yaml"), settings, Path("b.yaml"), [], [(w[0], w[1]), (w[1], w[2]), (w[2], "d")])
    table = pd.DataFrame(
        {
            "set.exits.stop_k": [1.5, 2.0, 1.5, 2.0, 1.5, 2.0],
            "start": [w[0], w[0], w[1], w[1], w[2], w[2]],
            "status": ["ok"] * 6,
            "net": [1.0, 3.0, 5.0, -2.0, 7.0, 11.0],
        }
    )
    chain = walk_forward(plan, table)
    assert chain["chosen"].tolist() == [{"exits.stop_k": 2.0}, {"exits.stop_k": 1.5}]
    assert chain["in_sample"].tolist() == [3.0, 5.0]
    assert chain["out_of_sample"].tolist() == [-2.0, 7.0]


def test_optuna_search_spends_its_trial_budget_over_every_range(monkeypatch, tmp_path):
    """Optuna's driver without Ray: tasks answered by a known objective (net = -(stop_k - 2)^2 on
    every range; a failure for stop_k 3.0). Each trial runs once per range, the budget is spent
    exactly, a failed task is a failed row, and the search ends on the grid's best value."""
    from scalp_nautilus.backtest import sweep as sweep_mod
    from scalp_nautilus.backtest.sweep import SweepPlan
    from scalp_nautilus.backtest.sweep import SweepSettings

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
    plan = SweepPlan(Path("s.yaml"), settings, Path("b.yaml"), [], [("a", "b"), ("b", "c")])
    table = run_sweep(plan)
    assert len(table) == 7 * 2 and (table.groupby("task").size() == 1).all()
    assert set(table.loc[table["set.exits.stop_k"] == 3.0, "status"]) <= {"failed"}
    ok = table[table["status"] == "ok"]
    assert (ok["net"] == -((ok["set.exits.stop_k"] - 2.0) ** 2)).all()
    assert (table["set.exits.stop_k"] == 2.0).any()  # seed 0 samples it within 7 trials
    assert best_row(table, "net", True)["set.exits.stop_k"] == 2.0
