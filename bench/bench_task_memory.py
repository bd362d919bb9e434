"""What one sweep task needs in memory: the peak RSS of a backtest as a Ray task runs it.

A sweep task is `scalp_nautilus.backtest.sweep.run_one` in a fresh Ray worker process
(`max_calls=1`). For the given backtest config (its catalog, instrument and span), this prints the
peak RSS (VmHWM) of the same run twice: alone in a fresh Python process, and as a task in a fresh
worker of a local Ray (whose worker carries Ray's own runtime), plus the RSS of an idle Ray worker.
Size a cluster's nodes by the task figure times the tasks a node runs at once (its CPUs).

    PYTHONPATH=. python bench/bench_task_memory.py --config configs/backtest.yaml
    PYTHONPATH=. python bench/bench_task_memory.py --config configs/backtest.yaml --catalog /tmp/sim1h
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def task(config: str, catalog: str | None, reports: str) -> dict:
    from scalp_nautilus.backtest.sweep import run_one

    started = time.perf_counter()
    row = run_one(config, {}, None, None, reports, catalog)
    return {"peak_rss_mb": peak_rss_mb(), "wall_s": time.perf_counter() - started, "events": row["events"]}


def idle() -> float:
    return current_rss_mb()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/backtest.yaml")
    p.add_argument("--catalog", help="override the config's catalog")
    p.add_argument("--reports", default="/tmp/bench_task_memory")
    p.add_argument("--alone", action="store_true", help=argparse.SUPPRESS)  # the child process's mode
    a = p.parse_args()
    config = str(Path(a.config).resolve())
    catalog = str(Path(a.catalog).resolve()) if a.catalog and "://" not in a.catalog else a.catalog
    if a.alone:
        print(json.dumps(task(config, catalog, a.reports + "/alone")))
        return
    cmd = [sys.executable, __file__, "--alone", "--config", config, "--reports", a.reports]
    if catalog:
        cmd += ["--catalog", catalog]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    alone = json.loads(out.strip().splitlines()[-1])  # the last line: the engine logs to stdout before it

    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        idle_mb = ray.get(ray.remote(max_calls=1)(idle).remote())
        in_ray = ray.get(ray.remote(num_cpus=1, max_calls=1)(task).remote(config, catalog, a.reports + "/ray"))
    finally:
        ray.shutdown()
    where = catalog or "the config's"
    print(f"config {config}, catalog {where}: {alone['events']:,} events")
    print(f"  alone in a fresh process   peak RSS {alone['peak_rss_mb']:7.0f} MB   {alone['wall_s']:6.1f} s")
    print(f"  as a Ray task              peak RSS {in_ray['peak_rss_mb']:7.0f} MB   {in_ray['wall_s']:6.1f} s")
    print(f"  an idle Ray worker         RSS      {idle_mb:7.0f} MB")


if __name__ == "__main__":
    main()
