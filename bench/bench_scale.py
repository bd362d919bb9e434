"""Scale benchmarks (issue 11): memory flat in the data's length, events/s of the backtest and of
the feature replay, the 34-hour spot capture, Ray's speedup, and a projection to a day and a month.

Every measured run is a fresh Python process (peak RSS is its VmHWM), so runs do not share
caches or memory. The machine these figures come from is shared (2 cores, other developers'
test runs): timings carry that load; compare figures from one invocation only.

    PYTHONPATH=. python bench/bench_scale.py repeat --catalog /tmp/sim1h --times 8 --out /tmp/sim8h
    PYTHONPATH=. python bench/bench_scale.py memory --catalogs /tmp/sim1h /tmp/sim8h
    PYTHONPATH=. python bench/bench_scale.py throughput --catalog /tmp/sim1h [--minutes 10] [--runs 5]
    PYTHONPATH=. python bench/bench_scale.py spot --catalog /tmp/spot     (data import-binance of binance-spot/)
    PYTHONPATH=. python bench/bench_scale.py ray --catalog /tmp/sim1h [--minutes 5 20]
    PYTHONPATH=. python bench/bench_scale.py project --events-per-s-full X --events-per-s-replay Y --ray-speedup Z

Catalogs: `scalp-nautilus data simulate --profile btcusdt --hours N --catalog DIR` (the
real-intensity simulator, instrument BTCUSDT-PERP.SIM: ~8 minutes of wall time per simulated hour
on the shared machine). `repeat` makes an N-hour catalog from a simulated hour much faster: the
hour's files copied N times, each copy's timestamps shifted by a further hour (each copy opens
with the hour's own snapshot, so the book stays consistent; funding history is kept once). Memory
depends on the events' number and size, not on their content, so it measures the same thing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SIM_ID = "BTCUSDT-PERP.SIM"
# The strategy calibrated for the real-intensity simulator (~4 BTC/s) and for NEXOUSDT spot
# (~550 trades, ~250,000 NEXO an hour).
CALIBRATION = {
    SIM_ID: {"vpin.volume_per_hour": 14_000.0, "vpin.window_minutes": 2.0, "orders.base_size": 0.05},
    "NEXOUSDT.BINANCE": {"vpin.volume_per_hour": 250_000.0, "vpin.window_minutes": 30.0, "orders.base_size": 50.0},
}
REAL_DAY_EVENTS = 2.3e6 * 24  # book + trade events in a real BTCUSDT day (the figure)


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _config(tmp: Path, catalog: str, instrument_id: str, **changes) -> Path:
    from tests.support.configs import write_config

    venue = instrument_id.split(".")[-1]
    return write_config(
        tmp,
        strategy=CALIBRATION[instrument_id],
        catalog=catalog,
        instrument_id=instrument_id,
        reports_dir=str(tmp / "reports"),
        plots=False,
        **{"venue.name": venue},
        **changes,
    )


def child(mode: str, catalog: str, instrument_id: str, chunk: str, start: str, end: str) -> dict:
    """One measured run in this (fresh) process: `noop`, `full` backtest or `replay`."""
    import msgspec

    from scalp_nautilus.backtest.runner import run_backtest
    from scalp_nautilus.backtest.settings import StrategySettings
    from scalp_nautilus.backtest.settings import check_strategy_config
    from scalp_nautilus.backtest.settings import load_backtest_settings
    from scalp_nautilus.feature_replay.replay import replay_features

    tmp = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    span = {k: v for k, v in (("start", start), ("end", end)) if v != "-"}
    config = _config(tmp, catalog, instrument_id, chunk_size=None if chunk == "whole" else int(chunk), **span)
    features = tmp / "features.parquet"
    settings = load_backtest_settings(config, None, {"record_features": str(features)} if mode == "record" else None)
    if mode == "hftbacktest":
        from hft_compare import event_array
        from hft_compare import per_message_loop

        data, tick, lot = event_array(catalog, instrument_id)
        return {**per_message_loop(data, tick, lot), "rss_mb": _peak_rss_mb()}
    if mode in ("replay", "replay_again"):
        cfg = check_strategy_config(settings.strategy.config, settings.strategy.config_path, instrument_id, "bench")
        if mode == "replay_again":  # the same replay once before, untimed: what a longer run pays once is paid
            replay_features(catalog, instrument_id, cfg, tmp / "first.parquet", span.get("start"), span.get("end"))
        cpu = time.process_time()
        r = replay_features(catalog, instrument_id, cfg, features, span.get("start"), span.get("end"))
        cpu_s = time.process_time() - cpu
        return {
            "mode": mode,
            "events": r.events,
            "wall_s": r.wall_seconds,
            "cpu_s": cpu_s,
            "rss_mb": _peak_rss_mb(),
            "features": str(features),
        }
    if mode == "noop":
        noop = StrategySettings(path="noop_strategy:NoOpStrategy", config_path="noop_strategy:NoOpConfig")
        settings = msgspec.structs.replace(settings, strategy=noop)
    cpu = time.process_time()
    out = run_backtest(settings)
    cpu_s = time.process_time() - cpu
    rep = out.strategies[0] if out.strategies else None
    return {
        "mode": mode,
        "events": out.result.iterations,
        "wall_s": out.wall_seconds,
        "cpu_s": cpu_s,
        "rss_mb": _peak_rss_mb(),
        "round_trips": len(rep.round_trips) if rep else 0,
        "batches": rep.batches if rep else 0,
        "features": str(features),
    }


def measure(
    mode: str,
    catalog: str,
    instrument_id: str = SIM_ID,
    chunk: str = "100000",
    start: str = "-",
    end: str = "-",
    checkout: Path = ROOT,
) -> dict:
    """One `child` run in a fresh process, of this checkout or of another (`checkout`: its own
    package and its own `bench/bench_scale.py`)."""
    cmd = [sys.executable, str(checkout / "bench" / "bench_scale.py"), "_child", mode, catalog, instrument_id, chunk, start, end]
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=checkout, env=env, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def _span(catalog: str, instrument_id: str, minutes: float | None) -> tuple[str, str]:
    if not minutes:
        return "-", "-"
    import pandas as pd

    from nautilus_trader.model.data import OrderBookDelta
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    start = min(a for a, _ in ParquetDataCatalog(catalog).get_intervals(OrderBookDelta, instrument_id))
    return pd.Timestamp(start, tz="UTC").isoformat(), pd.Timestamp(start + int(minutes * 60e9), tz="UTC").isoformat()


def _file_name(a: int, b: int) -> str:
    import pandas as pd

    def stamp(ns: int) -> str:
        return pd.Timestamp(ns, tz="UTC").strftime("%Y-%m-%dT%H-%M-%S-") + f"{ns % 1_000_000_000:09d}Z"

    return f"{stamp(a)}_{stamp(b)}.parquet"


def cmd_repeat(args) -> None:
    import shutil

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    src, out = Path(args.catalog), Path(args.out)
    if out.exists():
        raise SystemExit(f"{out} exists")
    shutil.copytree(src, out)
    hour = 3_600_000_000_000
    for folder in sorted((out / "data").glob("*/*")):
        files = sorted(folder.glob("*.parquet"))
        if folder.parent.name in ("crypto_perpetual", "currency_pair") or not files:
            continue
        tables = [pq.read_table(f) for f in files]
        if folder.parent.name == "funding_rate_update":
            # the history stays once; the per-second updates of the hour are repeated
            table = tables[0]
            books = sorted((out / "data" / "order_book_deltas" / folder.name).glob("*.parquet"))
            first = pc.min(pq.read_table(books[0], columns=["ts_init"]).column("ts_init")).as_py()
            live = table.filter(pc.greater_equal(table.column("ts_init"), first))
            parts = [table] + [_shift(live, k * hour) for k in range(1, args.times)]
            for f in files:
                f.unlink()
            merged = pa.concat_tables(parts)
            ts = merged.column("ts_init")
            pq.write_table(merged, folder / _file_name(pc.min(ts).as_py(), pc.max(ts).as_py()))
            continue
        for k in range(1, args.times):
            for t in tables:
                shifted = _shift(t, k * hour)
                ts = shifted.column("ts_init")
                pq.write_table(shifted, folder / _file_name(pc.min(ts).as_py(), pc.max(ts).as_py()))
    print(f"{out}: {args.times} x {src}")


def _shift(table, by: int):
    import pyarrow.compute as pc

    for name in ("ts_event", "ts_init", "next_funding_ns"):
        if name in table.column_names:
            i = table.column_names.index(name)
            col = table.column(name)
            table = table.set_column(i, table.schema.field(i), pc.add(col, pc.cast(by, col.type)))
    return table


def cmd_memory(args) -> None:
    print("peak RSS of a streamed full-strategy backtest (chunk 100,000), fresh process each")
    rows = []
    for catalog in args.catalogs:
        r = measure("full", catalog, chunk=str(args.chunk))
        rows.append(r)
        print(
            f"  {catalog:<30} {r['events']:>12,} events  {r['wall_s']:8.1f} s  {r['events'] / r['wall_s']:>9,.0f} ev/s  "
            f"peak RSS {r['rss_mb']:8.1f} MB"
        )
    if args.whole:
        for catalog in args.catalogs:
            r = measure("full", catalog, chunk="whole")
            print(f"  whole loading {catalog:<16} {r['events']:>12,} events  peak RSS {r['rss_mb']:8.1f} MB")
    if len(rows) >= 2:
        print(
            f"  RSS ratio last/first: {rows[-1]['rss_mb'] / rows[0]['rss_mb']:.3f} "
            f"for {rows[-1]['events'] / rows[0]['events']:.1f}x the events (target <= 1.3)"
        )


def cmd_throughput(args) -> None:
    """No-op strategy, full strategy, full strategy recording its features (the output the replay
    makes), feature replay (in a fresh process, and run again in one: a long run pays its one-time
    costs once), and hftbacktest's per-message loop on the same events (issue 22), each
    `--runs` times in fresh processes, interleaved so that the machine's load falls on all alike;
    min and median of each, and the ratios of the medians. The replay's rows are checked equal to
    the recorded ones. Each rate is given by wall time and by the process's CPU time (all its
    threads): on a loaded machine the wall time measures the load, the CPU time the work."""
    import statistics

    import pyarrow.parquet as pq

    start, end = _span(args.catalog, SIM_ID, args.minutes)
    modes = ["noop", "full", "record", "replay", "replay_again"] + (["hftbacktest"] if _has_hftbacktest() else [])
    print(f"events/s on {args.catalog} ({start} -> {end}), fresh process each, streamed (chunk 100,000), {args.runs} runs")
    # --baseline: an earlier checkout's runs of the same modes, interleaved with these (the
    # machine's drift over the sitting falls on both alike): "before" beside "after"
    baseline = [f"before:{m}" for m in ("noop", "full", "replay")] if args.baseline else []
    runs: dict[str, list[dict]] = {mode: [] for mode in modes + baseline}
    for k in range(args.runs):
        for mode in modes + baseline:
            before = mode.startswith("before:")
            checkout = Path(args.baseline) if before else ROOT
            r = measure(mode.removeprefix("before:"), args.catalog, start=start, end=end, checkout=checkout)
            runs[mode].append(r)
            print(
                f"    run {k + 1} {mode:<19} {r['events'] / r['wall_s']:>11,.0f} events/s  {r['wall_s']:7.2f} s wall  "
                f"{r['cpu_s']:7.2f} s CPU",
                flush=True,
            )
    rate, wall, cpu_rate, cpu = {}, {}, {}, {}
    for mode in modes + baseline:
        rates = [r["events"] / r["wall_s"] for r in runs[mode]]
        cpu_rates = [r["events"] / r["cpu_s"] for r in runs[mode]]
        wall[mode] = statistics.median(r["wall_s"] for r in runs[mode])
        cpu[mode] = statistics.median(r["cpu_s"] for r in runs[mode])
        rate[mode] = statistics.median(rates)
        cpu_rate[mode] = statistics.median(cpu_rates)
        r = runs[mode][0]
        print(
            f"  {mode:<19} {r['events']:>10,} events  wall median {wall[mode]:7.2f} s  events/s min {min(rates):>11,.0f}  "
            f"median {rate[mode]:>11,.0f} | CPU median {cpu[mode]:7.2f} s  events/CPU s max {max(cpu_rates):>11,.0f}  "
            f"median {cpu_rate[mode]:>11,.0f}  peak RSS {max(x['rss_mb'] for x in runs[mode]):7.1f} MB"
        )
    for name, r, t in (("wall", rate, wall), ("CPU", cpu_rate, cpu)):
        print(f"  by {name} time:")
        print(f"    replay / full: {r['replay'] / r['full']:.2f}x")
        print(f"    replay / full recording features: {r['replay'] / r['record']:.2f}x")
        print(f"    full / no-op time: {t['full'] / t['noop']:.3f}x (target <= 1.25)")
        if baseline:
            print(f"    before: full / no-op time {t['before:full'] / t['before:noop']:.3f}x")
            for mode in ("noop", "full", "replay"):
                print(f"    after / before, {mode} events/s: {r[mode] / r['before:' + mode]:.2f}x")
        if "hftbacktest" in r:
            print(f"    replay / hftbacktest per-message loop: {r['replay'] / r['hftbacktest']:.3f} (target >= 0.5)")
            print(f"    replay events/s {r['replay']:,.0f} (target >= 2.0 M)")
        # A month is one run: its one-time costs (numba loading the kernels, the recorder's and the
        # readers' set-up: the fresh run's time less the same replay's second run in one process)
        # are paid once, its events at the rate of a run that has paid them.
        once = max(0.0, t["replay"] - t["replay_again"])
        month = (once + 30 * REAL_DAY_EVENTS / r["replay_again"]) / 60
        print(
            f"    replay in a fresh process {r['replay']:,.0f} events/s; run again in the same process "
            f"{r['replay_again']:,.0f} (one-time costs {once:.2f} s)"
        )
        print(
            f"    a month of real-intensity BTCUSDT ({30 * REAL_DAY_EVENTS:.3g} events) through the replay, one core: "
            f"{month:.1f} min (target <= 15)"
        )
    same = pq.read_table(runs["replay"][0]["features"]).equals(pq.read_table(runs["record"][0]["features"]))
    print(f"  replay rows == backtest --record-features rows: {same}")


def _has_hftbacktest() -> bool:
    try:
        import hftbacktest  # noqa: F401
    except ImportError:
        print("  (hftbacktest not installed: `pip install --no-deps -c constraints.txt hftbacktest==2.4.4`, the bench extra)")
        return False
    return True


def cmd_spot(args) -> None:
    r = measure("full", args.catalog, "NEXOUSDT.BINANCE")
    print(
        f"34.2 h NEXOUSDT spot, streamed: {r['events']:,} events in {r['wall_s']:.1f} s wall, peak RSS {r['rss_mb']:.1f} MB, "
        f"{r['batches']:,} book batches, {r['round_trips']} round trips"
    )


def cmd_ray(args) -> None:
    """4 tasks (a grid of 4 stop multipliers over one span) on local Ray with 1 CPU (one after
    another) and with 2 CPUs, for each task size in `--minutes`. Ray's own start is timed apart
    (`ray.init`: once per session, none on a running cluster); each task's wall includes its
    fresh worker's start (`max_calls=1`), imports and engine build."""
    import ray
    import yaml

    from scalp_nautilus.backtest.sweep import load_sweep
    from scalp_nautilus.backtest.sweep import run_sweep

    for minutes in args.minutes:
        start, end = _span(args.catalog, SIM_ID, minutes)
        walls = {}
        print(f"4 tasks of {minutes:g} minutes of {args.catalog} each")
        for cpus in (1, 2):
            tmp = Path(tempfile.mkdtemp(prefix="bench_ray_"))
            _config(tmp, args.catalog, SIM_ID)
            sweep = {
                "backtest_config": "backtest.yaml",
                "ranges": [{"start": start, "end": end}],
                "grid": {"exits.stop_k": [1.5, 2.0, 2.5, 3.0]},
                "num_cpus": cpus,
                "out": str(tmp / "results.csv"),
                "reports_dir": str(tmp / "runs"),
            }
            (tmp / "sweep.yaml").write_text(yaml.safe_dump(sweep))
            plan = load_sweep(tmp / "sweep.yaml")
            started = time.perf_counter()
            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
            ray_start = time.perf_counter() - started
            started = time.perf_counter()
            table = run_sweep(plan)
            walls[cpus] = time.perf_counter() - started
            ray.shutdown()
            print(
                f"  num_cpus {cpus}: Ray start {ray_start:.1f} s, then 4 tasks in {walls[cpus]:.1f} s wall "
                f"(task backtest walls {table['wall_s'].round(1).tolist()}, status {table['status'].tolist()})"
            )
        print(f"  speedup 2 CPUs vs one after another: {walls[1] / walls[2]:.2f}x (target >= 1.7)")


def cmd_project(args) -> None:
    """A day is one task (one range: its windows must stay warm), so a cluster does not shorten a
    single day; a month is 30 day-tasks spread over the cores, in waves."""
    import math

    day_s = REAL_DAY_EVENTS / args.events_per_s_full
    if args.efficiency is None:
        args.efficiency = min(1.0, args.ray_speedup / 2)  # measured on this 2-core machine
    print("projection: a real-intensity BTCUSDT day (~55 M events) and month (30 day-tasks)")
    print(f"  {'':<40}{'day':>10}{'month':>10}")
    print(f"  {'full backtest, one core':<40}{day_s / 3600:>9.2f}h{30 * day_s / 3600:>9.1f}h")
    replay_s = REAL_DAY_EVENTS / args.events_per_s_replay
    print(f"  {'feature replay, one core':<40}{replay_s / 3600:>9.2f}h{30 * replay_s / 3600:>9.1f}h")
    for name, cores in (
        ("this machine (2 cores, Ray)", 2),
        (f"4 nodes x {args.cores_per_node} cores", 4 * args.cores_per_node),
        (f"16 nodes x {args.cores_per_node} cores", 16 * args.cores_per_node),
    ):
        waves = math.ceil(30 / cores)
        month = waves * day_s / args.efficiency
        print(f"  {'full backtest, ' + name:<40}{day_s / args.efficiency / 3600:>9.2f}h{month / 3600:>9.1f}h")
    print(
        f"  (a task on a busy node runs at {args.efficiency:.0%} of its speed alone, as Ray's measured speedup "
        f"x{args.ray_speedup:.2f} on 2 cores says; worker start-up not included)"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        print(json.dumps(child(*sys.argv[2:8])))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(required=True)
    rp = sub.add_parser("repeat")
    rp.add_argument("--catalog", required=True)
    rp.add_argument("--times", type=int, required=True)
    rp.add_argument("--out", required=True)
    rp.set_defaults(run=cmd_repeat)
    m = sub.add_parser("memory")
    m.add_argument("--catalogs", nargs="+", required=True)
    m.add_argument("--chunk", type=int, default=100_000)
    m.add_argument("--whole", action="store_true", help="also whole loading (memory grows with the data)")
    m.set_defaults(run=cmd_memory)
    t = sub.add_parser("throughput")
    t.add_argument("--catalog", required=True)
    t.add_argument("--minutes", type=float, help="only the first N minutes of the catalog")
    t.add_argument("--runs", type=int, default=5, help="fresh processes per mode")
    t.add_argument(
        "--baseline",
        metavar="DIR",
        help="an earlier checkout (e.g. git archive REV | tar -x -C DIR): its no-op, full and replay runs interleaved with these",
    )
    t.set_defaults(run=cmd_throughput)
    s = sub.add_parser("spot")
    s.add_argument("--catalog", required=True)
    s.set_defaults(run=cmd_spot)
    r = sub.add_parser("ray")
    r.add_argument("--catalog", required=True)
    r.add_argument("--minutes", type=float, nargs="+", default=[5.0, 20.0], help="task sizes (minutes of data)")
    r.set_defaults(run=cmd_ray)
    pr = sub.add_parser("project")
    pr.add_argument("--events-per-s-full", type=float, required=True)
    pr.add_argument("--events-per-s-replay", type=float, required=True)
    pr.add_argument("--ray-speedup", type=float, required=True)
    pr.add_argument("--cores-per-node", type=int, default=16)
    pr.add_argument("--efficiency", type=float, help="per-core scaling on a cluster (default: the measured Ray speedup / 2)")
    pr.set_defaults(run=cmd_project)
    args = p.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
