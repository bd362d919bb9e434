"""ScalpStrategy's cost against the engine's own: wall time and peak memory on the real captures.

Time. Each capture is imported into its own temporary catalog, then replayed through the project's
`BacktestNode` configuration (`scalp_nautilus.backtest.runner.build_run_config`) with a no-op
strategy subscribed to the same data (`bench/noop_strategy.py`) and with the full ScalpStrategy
(every feature, the decision, orders, funding booking), alternately, `--repeat` times each in
the same process; the figure is the ratio of the best full run to the best no-op run (target
<= 2.0: the features may cost at most as much as the replay itself), twice: for the engine's
replay loop alone (Nautilus's own run_started -> run_finished) and for the whole `node.run()`
(which adds reading the catalog; reports are not timed). The strategy is calibrated per
instrument so that it warms up and trades within a capture (VPIN window of 2 minutes of expected
volume); its trades are printed.

Memory. Peak RSS (VmHWM) of a fresh process running one backtest, for one capture and for
a catalog holding all three USDT-M captures (one instrument, a year and a half apart), each with
the no-op and the full strategy: the full - no-op difference is what the strategy holds, and
must not grow with the data replayed (the engine's own load grows with it: oneshot loading).

    PYTHONPATH=. python bench/bench_strategy.py [--repeat 3] [--captures usdm_2024_08 ...] [--no-memory]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from nautilus_trader.backtest.node import BacktestNode  # noqa: E402
from nautilus_trader.persistence.catalog import ParquetDataCatalog  # noqa: E402

from scalp_nautilus.backtest.runner import build_run_config  # noqa: E402
from scalp_nautilus.backtest.runner import catalog_instrument  # noqa: E402
from scalp_nautilus.backtest.settings import BacktestSettings  # noqa: E402
from scalp_nautilus.backtest.settings import StrategySettings  # noqa: E402
from scalp_nautilus.backtest.settings import VenueSettings  # noqa: E402
from scalp_nautilus.data.binance_capture import BinanceCaptureImporter  # noqa: E402
from scalp_nautilus.data.catalog import write_to_catalog  # noqa: E402
from tests.support.shared_data import CAPTURES  # noqa: E402
from tests.support.shared_data import shared_data_dir  # noqa: E402

USDM = ("usdm_2023_04", "usdm_2024_07", "usdm_2024_08")
# Per instrument: expected volume per hour (size units) and the base size.
CALIBRATION = {
    "BTCUSDT-PERP.BINANCE": {"vpin": {"volume_per_hour": 15_000.0, "window_minutes": 2.0}, "orders": {"base_size": 0.05}},
    "BTCUSD-PERP.BINANCE": {"vpin": {"volume_per_hour": 1_000_000.0, "window_minutes": 2.0}, "orders": {"base_size": 20.0}},
}
NOOP = StrategySettings(path="noop_strategy:NoOpStrategy", config_path="noop_strategy:NoOpConfig")


def settings(catalog: Path, instrument_id: str, full: bool) -> BacktestSettings:
    balance = "10 BTC" if instrument_id.startswith("BTCUSD-") else "100000 USDT"
    strategy = StrategySettings(config=CALIBRATION[instrument_id]) if full else NOOP
    return BacktestSettings(
        catalog=str(catalog),
        instrument_id=instrument_id,
        strategy=strategy,
        plots=False,
        log_level="ERROR",
        venue=VenueSettings(name="BINANCE", starting_balances=[balance]),
    )


def timed_run(s: BacktestSettings) -> tuple[float, float, int, int]:
    """(node.run() seconds, replay-loop seconds, events, orders)."""
    catalog = ParquetDataCatalog(s.catalog)
    config = build_run_config(s, catalog_instrument(catalog, s.instrument_id), catalog)
    node = BacktestNode(configs=[config])
    started = time.perf_counter()
    result = node.run()[0]
    wall = time.perf_counter() - started
    node.dispose()
    return wall, (result.run_finished - result.run_started) / 1e9, result.iterations, result.total_orders


def import_captures(names, folder: Path) -> str:
    data = shared_data_dir() / "binance-futures"
    instrument = None
    for name in names:
        importer = BinanceCaptureImporter([data / f for f in CAPTURES[name]])
        write_to_catalog(importer.events(), importer.instrument, folder)
        instrument = importer.instrument.id.value
    return instrument


def time_captures(names, repeat: int, tmp: Path) -> None:
    print(f"wall time, best of {repeat} alternating runs; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(
        f"  {'capture':<14s} {'events':>9s} {'replay: no-op':>14s} {'full':>6s} {'ratio':>6s}   "
        f"{'node.run: no-op':>15s} {'full':>6s} {'ratio':>6s}   orders   replay runs full / no-op"
    )
    for name in names:
        folder = tmp / name
        iid = import_captures([name], folder)
        noop, full = [], []
        for _ in range(repeat):
            noop.append(timed_run(settings(folder, iid, full=False)))
            full.append(timed_run(settings(folder, iid, full=True)))
        (nw, nr), (fw, fr) = ((min(r[0] for r in runs), min(r[1] for r in runs)) for runs in (noop, full))
        print(
            f"  {name:<14s} {noop[0][2]:>9,d} {nr:14.2f} {fr:6.2f} {fr / nr:6.2f}   {nw:15.2f} {fw:6.2f} {fw / nw:6.2f}   "
            f"{full[0][3]:6d}   " + " ".join(f"{r[1]:.2f}" for r in full) + " / " + " ".join(f"{r[1]:.2f}" for r in noop)
        )


def memory(tmp: Path) -> None:
    one = tmp / "mem_one"
    every = tmp / "mem_all"
    iid = import_captures(["usdm_2024_08"], one)
    import_captures(USDM, every)
    print("peak RSS of one backtest in a fresh process (MB)")
    print(f"  {'catalog':<34s} {'events':>9s} {'no-op':>7s} {'full':>7s} {'full - no-op':>12s}")
    for label, folder in (("one capture (usdm_2024_08)", one), ("all three USDT-M captures", every)):
        rows = {}
        for full in (False, True):
            out = subprocess.run(
                [sys.executable, __file__, "--memory-child", str(folder), iid, "full" if full else "noop"],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            ).stdout.split()
            rows[full] = (int(out[-2]), float(out[-1]))
        events = rows[False][0]
        print(f"  {label:<34s} {events:>9,d} {rows[False][1]:7.0f} {rows[True][1]:7.0f} {rows[True][1] - rows[False][1]:12.0f}")


def memory_child(catalog: str, instrument_id: str, which: str) -> None:
    events = timed_run(settings(Path(catalog), instrument_id, full=which == "full"))[2]
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over exec from the parent at fork
    # time, so a child of a big parent reports the parent's size.
    status = Path("/proc/self/status").read_text()
    hwm_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    print(events, hwm_kb / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--captures", nargs="*", default=list(CAPTURES), choices=list(CAPTURES))
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-time", action="store_true")
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    if shared_data_dir() is None:
        sys.exit("real exchange data not found: set SCALP_SHARED_DATA or place it in ../shared/data")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_time:
            time_captures(args.captures, args.repeat, Path(tmp))
        if not args.no_memory:
            memory(Path(tmp))


if __name__ == "__main__":
    main()
