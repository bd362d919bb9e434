"""A live node that cannot do its job exits with a documented code and one line saying why
(`scalp_nautilus.live.supervisor`), run as a user runs it (`scalp-nautilus live`, its own process):
the venue down (10), an instrument the venue does not list (11, both APIs), and a connection lost
past its limit (12), which stops entries and alerts first, and leaves the position at the venue
with its exchange stop. Each prints its exit code and wall time (the issue's figures)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from scalp_nautilus.live.venue.thread import VenueThread
from tests.support.live import ROOT
from tests.support.live import VenueAddress
from tests.support.live import free_port
from tests.support.live import venue_settings
from tests.support.live import write_live_config
from tests.support.webhook import JsonWebhook

pytestmark = pytest.mark.slow  # live nodes in their own processes

CONNECT_S = 3.0


def _config(tmp_path: Path, venue, **top) -> Path:
    path = write_live_config(tmp_path, venue, **top)
    cfg = yaml.safe_load(path.read_text())
    cfg["timeouts"]["connection_s"] = CONNECT_S
    path.write_text(yaml.safe_dump(cfg))
    return path


def _start(config: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "scalp_nautilus.cli", "live", "--config", str(config)],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _exit_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("exit ")]


def test_venue_down_exits_10_naming_the_url(tmp_path):
    """Nothing listens on the venue's port: exit 10 within the connection timeout, one line with the URL."""
    port = free_port()
    started = time.monotonic()
    node = _start(_config(tmp_path, VenueAddress(port)), tmp_path)
    out, _ = node.communicate(timeout=60)
    wall = time.monotonic() - started
    print(f"venue down: exit {node.returncode} after {wall:.1f} s (connection timeout {CONNECT_S:g} s)")
    assert node.returncode == 10, out[-3000:]
    [line] = _exit_lines(out)
    assert f"http://127.0.0.1:{port}" in line and "cannot reach BINANCE" in line
    assert wall < CONNECT_S + 20  # process start (imports) + the timeout + the shutdown
    assert not (tmp_path / "reports").exists()  # nothing traded: no report claiming a session


@pytest.mark.real_data
@pytest.mark.parametrize(("api", "instrument"), [("binance", "ETHUSDT-PERP.BINANCE"), ("bybit", "ETHUSDT-LINEAR.BYBIT")])
def test_an_instrument_the_venue_does_not_list_exits_11_naming_it(shared_data, tmp_path, api, instrument):
    """The venue serves BTCUSDT only; a node configured for ETHUSDT exits 11 with one line naming
    the instrument and the venue (Binance's adapter fails its connection with a bare KeyError,
    Bybit's connects with no instrument and the strategy stops at start: both end the same way)."""
    with VenueThread(venue_settings(shared_data, api=api)) as venue:
        config = _config(tmp_path, venue, instrument_id=instrument)
        started = time.monotonic()
        node = _start(config, tmp_path)
        out, _ = node.communicate(timeout=60)
        wall = time.monotonic() - started
    print(f"unknown instrument ({api}): exit {node.returncode} after {wall:.1f} s")
    assert node.returncode == 11, out[-3000:]
    [line] = _exit_lines(out)
    assert instrument in line and f"not listed by {api.upper()}" in line
    assert wall < CONNECT_S + 20


@pytest.mark.real_data
def test_a_lost_connection_stops_entries_alerts_and_exits_12_leaving_the_stop(shared_data, tmp_path):
    """The account holds 0.05 BTC long; the node adopts it and rests its exchange stop at the venue.
    Then the venue goes dark (every connection dropped, every request refused) while its replay
    and its exchange go on. After `halt_after_s` of silence the node stops entries and alerts;
    after `exit_after_s` it exits 12, writing its report, without cancelling the stop or closing
    the position (it could not have, and a cancel without the close would unprotect it)."""
    hook = JsonWebhook()
    settings = venue_settings(shared_data, speed=15.0, exchange={"position": 0.05})
    thread = VenueThread(settings)
    try:
        with thread as venue:
            ex = venue.exchange
            config = _config(
                tmp_path,
                venue,
                connection={"halt_after_s": 3.0, "exit_after_s": 8.0},
                alerts={"urls": [hook.url], "min_interval_s": 0.0, "name": "drill"},
                heartbeat_s=1.0,
            )
            node = _start(config, tmp_path)
            try:
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline and not any(c.open for c in ex.conditionals.values()):
                    time.sleep(0.1)
                lost = time.monotonic()
                thread.call(_outage(venue, 120.0))
                [stop] = [c for c in ex.conditionals.values() if c.open]
                held, orders_before = ex.position, len(ex.orders)
                out, _ = node.communicate(timeout=90)
                wall = time.monotonic() - lost
            finally:
                if node.poll() is None:
                    node.kill()
            view = {"position": ex.position, "stop": stop.status, "orders": len(ex.orders)}
            view["refused"] = venue.stats["refused_in_outage"]
    finally:
        hook.close()
    print(f"connection lost: exit {node.returncode} {wall:.1f} s after the venue went dark (exit_after_s 8)")
    assert node.returncode == 12, out[-3000:]
    [line] = _exit_lines(out)
    assert "connection lost: no market data" in line
    assert 8.0 <= wall < 8.0 + 15.0
    # The venue still holds the position and its stop (resting, or fired by the market on its own).
    assert view["stop"] in ("NEW", "FINISHED") and view["refused"] > 0
    assert held != 0.0 and view["position"] == (held if view["stop"] == "NEW" else 0.0)
    assert view["orders"] == orders_before or view["stop"] == "FINISHED"  # nothing of the node's reached it
    # Entries stopped and an alert went out before the exit; the report was written.
    disconnect = [r for r in hook.received if r["title"].startswith("[drill] disconnected")]
    assert disconnect and disconnect[0]["type"] == "failure"
    assert "entries stopped (disconnected)" in out
    assert list((tmp_path / "reports").glob("live-*/summary.txt"))


async def _outage(venue, seconds: float) -> None:
    venue.outage(seconds)  # on the venue's loop


def test_the_systemd_unit_restarts_on_the_restartable_codes_only():
    """`configs/scalp-nautilus-live.service` restarts on failure but not on the codes that need a
    person, and never clears a halt itself; checked by systemd when it is installed."""
    import configparser
    import shutil

    from scalp_nautilus.live.supervisor import EXIT_CODES
    from scalp_nautilus.live.supervisor import EXIT_OK
    from scalp_nautilus.live.supervisor import RESTARTABLE

    unit_path = ROOT / "configs" / "scalp-nautilus-live.service"
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read(unit_path)
    service = unit["Service"]
    assert service["Restart"] == "on-failure" and "--clear-halt" not in service["ExecStart"]
    prevented = {int(c) for c in service["RestartPreventExitStatus"].split()}
    assert prevented == set(EXIT_CODES) - set(RESTARTABLE) - {EXIT_OK}
    if shutil.which("systemd-analyze"):
        check = subprocess.run(["systemd-analyze", "verify", str(unit_path)], check=False, capture_output=True, text=True)
        # Only the example's program may be missing here (an unknown key or a bad value would be named).
        missing_program = "Command /opt/scalp_nautilus/.venv/bin/scalp-nautilus is not executable"
        problems = [line for line in check.stderr.splitlines() if line.strip() and missing_program not in line]
        assert not problems, check.stderr
