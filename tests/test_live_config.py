"""`scalp-nautilus live`: every config error, a missing key and mainnet misuse stop before anything
connects, with the file and key named; mainnet says so first; API keys never reach a log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from scalp_nautilus.cli import main

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("BINANCE_FUTURES_TESTNET_API_KEY", "BINANCE_FUTURES_TESTNET_API_SECRET", "BINANCE_API_KEY", "BINANCE_API_SECRET")


def live_config(tmp_path: Path, name: str = "live_binance.yaml", **changes) -> Path:
    """A copy of configs/`name` beside a copy of strategy.yaml, with top-level `changes`."""
    cfg = yaml.safe_load((ROOT / "configs" / name).read_text())
    cfg.update(changes)
    cfg["logging"] = {"directory": str(tmp_path / "logs")}
    (tmp_path / "strategy.yaml").write_text((ROOT / "configs" / "strategy.yaml").read_text())
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def no_keys(monkeypatch):
    for name in KEYS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def never_connects(monkeypatch):
    """Fails the test if a node is built (the point where clients would connect)."""
    import scalp_nautilus.live.node as node

    def refuse(*args, **kwargs):
        raise AssertionError("a node was built")

    monkeypatch.setattr(node, "build_node", refuse)


def run_live(capsys, *argv) -> tuple[int, str]:
    code = main(["live", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"venue": "BINANCEE"}, "`venue`"),
        ({"instrument_id": "BTCUSDT-LINEAR.BYBIT"}, "not a BINANCE instrument"),
        ({"trader_id": 7}, "`trader_id`"),
        ({"reconciliation_lookback_mins": 0}, "`reconciliation_lookback_mins`"),
        ({"endpoints": {"base_url_http": "https://fapi.binance.com", "base_url_ws": "wss://fstream.binance.com"}}, "127.0.0.1"),
        ({"strategy": {"config_file": "strategy.yaml", "config": {"vpin": {"volume_per_hr": 1.0}}}}, "vpin.volume_per_hr"),
        (
            {"strategy": {"config_file": "strategy.yaml", "config": {"funding": {"feed": "funding_rates"}}}},
            "strategy.config.funding.feed",
        ),
        ({"risk_engine": {"max_order_submit_rate": "10 per second"}}, "risk_engine.max_order_submit_rate"),
        ({"risk_engine": {"max_order_submit_rate": "10/00:00:00"}}, "risk_engine.max_order_submit_rate"),
        ({"risk_engine": {"max_notional_per_order": -5.0}}, "risk_engine.max_notional_per_order"),
        ({"risk_engine": {"max_orders_per_sec": 5}}, "risk_engine.max_orders_per_sec"),
        ({"strategy": {"config_file": "strategy.yaml", "config": {"risk": {"daily_loss_limit": -1.0}}}}, "risk.daily_loss_limit"),
    ],
)
def test_config_errors_stop_before_connecting(tmp_path, capsys, no_keys, never_connects, changes, expected):
    path = live_config(tmp_path, **changes)
    code, out = run_live(capsys, "--config", str(path))
    assert code == 1 and expected in out and str(path) in out, out


def test_risk_engine_limits_reach_nautilus(tmp_path, no_keys):
    """`risk_engine` in the live YAML becomes the node's `LiveRiskEngineConfig`."""
    from scalp_nautilus.live.node import node_config
    from scalp_nautilus.live.settings import Credentials
    from scalp_nautilus.live.settings import load_live_settings

    path = live_config(tmp_path, risk_engine={"max_order_submit_rate": "5/00:00:02", "max_notional_per_order": 2500.0})
    config = node_config(load_live_settings(path), Credentials("k", "s", "test"), mainnet=False)
    assert config.risk_engine.max_order_submit_rate == "5/00:00:02"
    assert config.risk_engine.max_notional_per_order == {"BTCUSDT-PERP.BINANCE": 2500.0}
    settings = load_live_settings(live_config(tmp_path, "live_binance_replay.yaml"))
    default = node_config(settings, Credentials("k", "s", "t"), False)
    assert default.risk_engine.max_notional_per_order == {}


def test_missing_keys_name_the_variables(tmp_path, capsys, no_keys, never_connects):
    code, out = run_live(capsys, "--config", str(live_config(tmp_path)))
    assert code == 1 and "BINANCE_FUTURES_TESTNET_API_KEY and BINANCE_FUTURES_TESTNET_API_SECRET" in out


def test_testnet_keys_do_not_open_mainnet(tmp_path, capsys, no_keys, never_connects, monkeypatch):
    monkeypatch.setenv("BINANCE_FUTURES_TESTNET_API_KEY", "k")
    monkeypatch.setenv("BINANCE_FUTURES_TESTNET_API_SECRET", "s")
    code, out = run_live(capsys, "--config", str(live_config(tmp_path)), "--mainnet")
    assert code == 1 and "BINANCE_API_KEY and BINANCE_API_SECRET" in out


def test_replay_venue_never_with_mainnet(tmp_path, capsys, never_connects):
    code, out = run_live(capsys, "--config", str(live_config(tmp_path, "live_binance_replay.yaml")), "--mainnet")
    assert code == 1 and "replay" in out


class FakeNode:
    """Records `dispose` in `events`; its trader's one strategy is None."""

    def __init__(self, events: list) -> None:
        self.events = events
        self.trader = SimpleNamespace(strategies=lambda: [None])

    def dispose(self):
        self.events.append("dispose")


class FakeSupervisor:
    """Records `run` in its node's `events`; the node stops on request (exit 0)."""

    def __init__(self, node, settings, mainnet, token=None) -> None:
        self.node = node
        self.offline = None

    def run(self) -> int:
        self.node.events.append("run")
        return 0


def fake_node(monkeypatch, capsys, events: list) -> None:
    """`scalp-nautilus live` on a FakeNode: what is printed before the node is built goes to `events`."""
    import scalp_nautilus.live.node as node

    def build(settings, keys, mainnet, loop=None):
        events.append(("build", mainnet, capsys.readouterr().out))
        return FakeNode(events)

    monkeypatch.setattr(node, "build_node", build)
    monkeypatch.setattr(node, "Supervisor", FakeSupervisor)
    monkeypatch.setattr(node, "write_session_report", lambda *args, **kwargs: "the session report")


def test_mainnet_announces_real_money_before_the_node_starts(tmp_path, capsys, no_keys, monkeypatch):
    events = []
    fake_node(monkeypatch, capsys, events)
    monkeypatch.setenv("BINANCE_API_KEY", "live-key-3141")
    monkeypatch.setenv("BINANCE_API_SECRET", "live-secret-2718")
    assert main(["live", "--config", str(live_config(tmp_path)), "--mainnet"]) == 0
    (_, mainnet, printed), *rest = events
    assert mainnet and "MAINNET: REAL MONEY" in printed and rest == ["run", "dispose"]
    assert "live-key-3141" not in printed and "live-secret-2718" not in printed and "$BINANCE_API_KEY" in printed


def test_halt_in_the_state_file_is_announced_and_cleared_by_clear_halt(tmp_path, capsys, monkeypatch):
    """A halt in the state file: the start banner says so; `--clear-halt` clears it before the node
    is built (the warm state beside it is kept); the session report is printed after the run."""
    import json

    from scalp_nautilus.strategy import risk

    events = []
    fake_node(monkeypatch, capsys, events)
    path = live_config(tmp_path, "live_binance_replay.yaml")
    cfg = yaml.safe_load(path.read_text())
    state = tmp_path / "state.json"
    cfg["strategy"]["config"]["state"]["path"] = str(state)
    path.write_text(yaml.safe_dump(cfg))
    state.write_text(json.dumps({"pipeline": {"x": 1}, **risk.halt_record(risk.Halt(risk.DAILY_LOSS, "day P&L -101", 5))}))
    assert main(["live", "--config", str(path)]) == 0
    (_, _, printed), *_ = events
    assert "HALTED by the kill switch (daily_loss_limit: day P&L -101)" in printed and "--clear-halt" in printed
    assert risk.read_halt(state) is not None
    events.clear()
    assert main(["live", "--config", str(path), "--clear-halt"]) == 0
    (_, _, printed), *rest = events
    assert "cleared the halt" in printed and "HALTED" not in printed.split("cleared the halt")[1]
    assert risk.read_halt(state) is None and json.loads(state.read_text())["pipeline"] == {"x": 1}
    assert rest == ["run", "dispose"] and "the session report" in capsys.readouterr().out


@pytest.mark.slow
def test_api_keys_never_reach_the_logs(tmp_path):
    """A real node built (not connected) in a fresh process, with keys that would be easy to spot,
    at DEBUG level on console and file: neither holds them."""
    key, secret = "spot-me-key-8675309", "spot-me-secret-5551212"
    path = live_config(tmp_path)
    cfg = yaml.safe_load(path.read_text())
    cfg["logging"] = {"directory": str(tmp_path / "logs"), "level": "DEBUG", "file_level": "DEBUG"}
    path.write_text(yaml.safe_dump(cfg))
    script = (
        "import asyncio, sys\n"
        "from scalp_nautilus.live.settings import load_live_settings, credentials\n"
        "from scalp_nautilus.live.node import build_node, banner\n"
        f"s = load_live_settings({str(path)!r}); k = credentials(s, False)\n"
        "print(banner(s, k, False)); print(repr(k))\n"
        "node = build_node(s, k, False, loop=asyncio.new_event_loop()); node.dispose()\n"
    )
    env = {
        **os.environ,
        "BINANCE_FUTURES_TESTNET_API_KEY": key,
        "BINANCE_FUTURES_TESTNET_API_SECRET": secret,
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    logs = "".join(p.read_text() for p in (tmp_path / "logs").iterdir())
    assert "BINANCE_FUTURES_TESTNET_API_KEY" in done.stdout and len(logs) > 1000  # it did log
    for text in (done.stdout, done.stderr, logs):
        assert key not in text and secret not in text
