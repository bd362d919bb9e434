"""Running the live node against the replay venue inside a test, bounded in time.

The venue runs on its own event loop in a background thread (`VenueThread`, port 0 on 127.0.0.1);
the node on a fresh loop in the test's thread, until a condition holds or a deadline passes, then
it is stopped (the strategy cancels and closes), and disposed. Every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import msgspec
import yaml

from nautilus_trader.live.node import TradingNode

from scalp_nautilus.config import merge
from scalp_nautilus.live.monitor import NodeMonitor
from scalp_nautilus.live.monitor import heartbeat_line
from scalp_nautilus.live.node import build_node
from scalp_nautilus.live.session import report_folder
from scalp_nautilus.live.session import write_session_report
from scalp_nautilus.live.settings import LiveSettings
from scalp_nautilus.live.settings import credentials
from scalp_nautilus.live.settings import load_live_settings
from scalp_nautilus.live.supervisor import drain
from scalp_nautilus.live.venue.server import VenueServer
from scalp_nautilus.live.venue.settings import ReplayVenueSettings
from tests.support.shared_data import PROJECT_ROOT as ROOT

CAPTURE_2023 = ["usdm_btcusdt_20230404.dat.gz", "usdm_btcusdt_20230405.dat.gz"]
# The backtest e2e test's calibration for the 2023-04 capture: warm within two minutes, several trades.
STRATEGY = {
    "vpin": {"volume_per_hour": 15_000.0, "window_minutes": 2.0},
    "orders": {"base_size": 0.05},
    "hurst": {"window": 64},
    "funding": {"feed": "binance_mark_price"},
    # Measured, not guarded: these runs replay at 15-30x on a shared machine, where a batch decided
    # late says more about the machine than the market (the guard's own tests turn it on).
    "lag": {"max_ms": 0.0},
}


# The live config each API's venue is reached with, and its funding feed (strategy.yaml `funding.feed`).
LIVE_CONFIGS = {
    "binance": ("live_binance_replay.yaml", "binance_mark_price"),
    "bybit": ("live_bybit_replay.yaml", "funding_rates"),
}


def venue_settings(shared_data: Path, **changes) -> ReplayVenueSettings:
    captures = [str(shared_data / "binance-futures" / f) for f in CAPTURE_2023]
    return msgspec.convert({"captures": captures, "port": 0, **changes}, ReplayVenueSettings)


class VenueAddress:
    """Where a node finds a replay venue running in another process (what `write_live_config` reads)."""

    def __init__(self, port: int, api: str = "binance") -> None:
        self.url_http, self.url_ws = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
        self.settings = ReplayVenueSettings(captures=[], api=api)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_venue_process(files: list[str], speed: float, port: int, config: str = "replay_venue.yaml") -> subprocess.Popen:
    """`scalp-nautilus replay-venue --config configs/<config>` in its own process; returns once it
    listens (its first line, the banner, has been read: `venue.stdout` holds the rest)."""
    venue = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scalp_nautilus.cli",
            "replay-venue",
            "--config",
            str(ROOT / "configs" / config),
            "--capture",
            *files,
            "--speed",
            str(speed),
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    venue.banner = venue.stdout.readline()  # "replay venue (<api> API) for ...: base_url_http ..." once it listens
    return venue


def write_live_config(
    tmp_path: Path,
    venue: VenueServer | VenueAddress,
    strategy: dict | None = None,
    name: str = "live.yaml",
    **top,
) -> Path:
    """configs/live_<api>_replay.yaml (the venue's API) pointed at `venue`, logging, state and reports
    under `tmp_path`, `strategy` merged over the strategy section's `config`, `top` over the top level."""
    config_file, feed = LIVE_CONFIGS[venue.settings.api]
    cfg = yaml.safe_load((ROOT / "configs" / config_file).read_text())
    cfg["endpoints"] = {
        "base_url_http": venue.url_http,
        "base_url_ws": venue.url_ws,
        "api_key": venue.settings.api_key,
        "api_secret": venue.settings.api_secret,
    }
    cfg["strategy"]["config_file"] = str(ROOT / "configs" / "strategy.yaml")
    cfg["strategy"]["config"] = merge(cfg["strategy"]["config"], STRATEGY, {"funding": {"feed": feed}}, strategy or {})
    cfg["strategy"]["config"]["state"]["path"] = str(tmp_path / "state.json")
    # Nautilus's logger is per process: the first node of a test session picks the file.
    cfg["logging"] = {"directory": str(tmp_path / "logs"), "level": "WARNING", "file_level": "INFO"}
    cfg["timeouts"] = {"connection_s": 20.0, "reconciliation_s": 10.0, "disconnection_s": 5.0, "post_stop_s": 1.5}
    cfg["reports_dir"] = str(tmp_path / "reports")
    cfg.update(top)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


@dataclass
class NodeRun:
    node: TradingNode
    strategy: object  # the ScalpStrategy instance (its records outlive the node)
    data_client: object  # the SyncedBinanceFuturesDataClient or SyncedBybitDataClient
    wall_s: float
    decisions: list = field(default_factory=list)  # (update id, book valid, warm, outcome, action) per book batch
    orders: list = field(default_factory=list)  # the node's orders after it stopped: (client id, side, status, tags)
    open_positions: int = 0  # positions still open in the node's cache after it stopped
    summary: str = ""  # the session report's summary (`session_report`)
    heartbeat: str = ""  # the monitor's heartbeat line just before the node stopped


def run_node(settings: LiveSettings, until: Callable[[NodeRun], bool], timeout_s: float, session_report: bool = False) -> NodeRun:
    """Start a node, poll `until` every 0.1 s (at most `timeout_s`), drain, stop and dispose it (with
    `session_report`, after writing the session report as `scalp-nautilus live` does)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    node = build_node(settings, credentials(settings, mainnet=False), mainnet=False, loop=loop)
    # Nautilus keeps its clients private; tests read the data client's counters.
    client = next(iter(node.kernel.data_engine._clients.values()))
    run = NodeRun(node, node.trader.strategies()[0], client, 0.0)
    decide = run.strategy._decide

    def recorded(row, state=None):
        d = decide(row, state)
        if state is None:  # the batch's decision, not a resting entry's review
            run.decisions.append((row.update_id, row.book_valid, row.warm, d.outcome, d.action))
        return d

    run.strategy._decide = recorded
    started = time.perf_counter()
    started_ns = time.time_ns()

    async def main() -> None:
        task = loop.create_task(node.run_async())
        deadline = started + timeout_s
        while time.perf_counter() < deadline and not task.done():
            await asyncio.sleep(0.1)
            if until(run):
                break
        monitor = next(a for a in node.trader.actors() if isinstance(a, NodeMonitor))
        if monitor.view.started:
            run.heartbeat = heartbeat_line(monitor.take(node.kernel.clock.timestamp_ns()))
        await drain(node, run.strategy, settings.timeouts.drain_s)  # as the command's stop does
        await asyncio.wait_for(node.stop_async(), 30)
        await asyncio.wait_for(task, 30)
        cache = node.kernel.cache
        run.orders = [(o.client_order_id.value, o.side_string(), o.status_string(), o.tags) for o in cache.orders()]
        run.open_positions = len(cache.positions_open())
        if session_report:
            ended = time.time_ns()
            folder = report_folder(settings.reports_dir, started_ns)
            state = (settings.strategy.config.get("state") or {}).get("path")
            run.summary = write_session_report(
                node.trader, run.strategy, folder, started_ns, ended, state_path=state, plots=False
            )
        # Nautilus leaves its actor executor's worker parked; end it here, not on a closed loop.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    try:
        loop.run_until_complete(main())
    finally:
        node.dispose()
        asyncio.set_event_loop(None)
    run.wall_s = time.perf_counter() - started
    return run


def live_settings(
    tmp_path: Path,
    venue: VenueServer | VenueAddress,
    strategy: dict | None = None,
    name: str = "live.yaml",
    **top,
) -> LiveSettings:
    return load_live_settings(write_live_config(tmp_path, venue, strategy, name, **top))


class LiveProcess:
    """`scalp-nautilus live --config <config>` in its own process, its output read on a thread:
    `wait_for(prefix)` returns the first line starting with it (e.g. "metrics: "), `stop()` sends
    Ctrl-C (SIGINT) and returns the exit code; `output` is everything it printed."""

    def __init__(self, config: Path, cwd: Path, env: dict[str, str] | None = None) -> None:
        import threading

        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scalp_nautilus.cli", "live", "--config", str(config)],
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, prefix: str, timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            hit = next((line for line in self.lines if line.startswith(prefix)), None)
            if hit is not None:
                return hit
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise TimeoutError(f"no line starting with {prefix!r} (exit {self.proc.poll()}):\n{self.output[-3000:]}")

    def stop(self, timeout_s: float = 60.0) -> int:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout_s)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(10)
        return self.proc.returncode


DASHBOARD_TOKEN = "test-token-0123456789abcdef"
# An adopted position stays until the operator acts: no take-profit, a far strategy stop, no time stop.
HOLD = {"exits": {"take_profit_k": 0.0, "stop_k": 50.0, "time_stop_s": 0.0, "exchange_stop_k": 2.0}}


def start_watched_node(tmp_path: Path, venue: VenueServer, alert_url: str) -> tuple[LiveProcess, str, str]:
    """`scalp-nautilus live` against `venue` holding its position (`HOLD`), with its metrics and web
    page on free loopback ports and alerts to `alert_url`; returns it, the metrics URL and the page's."""
    config = write_live_config(
        tmp_path,
        venue,
        HOLD,
        metrics={"enabled": True, "port": 0},
        dashboard={"enabled": True, "port": 0},
        alerts={"urls": [alert_url], "min_interval_s": 0.0, "name": "dry-run"},
    )
    node = LiveProcess(config, tmp_path, env={"SCALP_DASHBOARD_TOKEN": DASHBOARD_TOKEN})
    metrics = node.wait_for("metrics: ", 90).split()[1]
    page = node.wait_for("web page: ", 10).split()[2]
    return node, metrics, page
