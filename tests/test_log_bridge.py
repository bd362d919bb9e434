"""One logging path (issue 15, defect 4): while a `ScalpStrategy` runs, the standard-library
loggers of the indicators, features, models and the funding ledger write into Nautilus's logger,
so their warnings (skips, the LSTM's fallback and accuracy guard) reach the node's log file."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import typing

import pytest

from scalp_nautilus import log_bridge
from tests.config_files import ROOT


class FakeLogger:
    """Stands in for `nautilus_trader.common.component.Logger`: records (component, level, message)."""

    lines: typing.ClassVar[list[tuple[str, str, str]]] = []

    def __init__(self, name: str) -> None:
        self.name = name

    def debug(self, msg: str) -> None:
        self.lines.append((self.name, "DEBUG", msg))

    def info(self, msg: str) -> None:
        self.lines.append((self.name, "INFO", msg))

    def warning(self, msg: str) -> None:
        self.lines.append((self.name, "WARNING", msg))

    def error(self, msg: str) -> None:
        self.lines.append((self.name, "ERROR", msg))


@pytest.fixture
def fake(monkeypatch):
    FakeLogger.lines = []
    monkeypatch.setattr(log_bridge, "Logger", FakeLogger)
    assert not log_bridge.attached()  # no strategy left it attached
    yield FakeLogger.lines
    while log_bridge.attached():
        log_bridge.detach()


def test_bridged_loggers_reach_nautilus_at_their_level_and_only_while_attached(fake, caplog):
    vpin = logging.getLogger("scalp_nautilus.indicators.vpin")
    ledger = logging.getLogger("scalp_nautilus.strategy.funding")
    cli = logging.getLogger("scalp_nautilus.backtest")  # progress lines stay on the console
    vpin.warning("before: not forwarded")
    log_bridge.attach()
    log_bridge.attach()  # a second strategy in the node: still one handler
    vpin.warning("skip %s", "NaN size")
    ledger.info("settlement booked")
    vpin.debug("below INFO: not forwarded")
    cli.warning("progress")
    try:
        raise ValueError("bad")
    except ValueError:
        logging.getLogger("scalp_nautilus.models.lstm").exception("model failed")
    log_bridge.detach()
    vpin.warning("one strategy still running")
    log_bridge.detach()
    vpin.warning("after: not forwarded")
    assert fake[:3] == [
        ("scalp_nautilus.indicators.vpin", "WARNING", "skip NaN size"),
        ("scalp_nautilus.strategy.funding", "INFO", "settlement booked"),
        ("scalp_nautilus.models.lstm", "ERROR", fake[2][2]),
    ]
    assert fake[2][2].startswith("model failed") and "ValueError: bad" in fake[2][2]
    assert fake[3:] == [("scalp_nautilus.indicators.vpin", "WARNING", "one strategy still running")]
    # Not printed twice: while bridged the records do not also go to the root logger's handlers.
    forwarded = {"skip NaN size", "settlement booked", "one strategy still running"}
    assert not forwarded & {r.getMessage() for r in caplog.records}
    assert {"before: not forwarded", "after: not forwarded", "progress"} <= {r.getMessage() for r in caplog.records}
    assert not log_bridge.attached() and logging.getLogger("scalp_nautilus.indicators").propagate


@pytest.mark.slow
def test_a_strategy_run_writes_the_lstm_warning_into_nautilus_log_file(tmp_path):
    """End to end in a fresh process (Nautilus's logger is one per process): a backtest engine with a
    log file, ScalpStrategy with a model file that does not exist; the LSTM's error (it runs the
    fallback) must be in the file, under its component name, and so must a skip's warning."""
    script = textwrap.dedent(f"""
        from nautilus_trader.common.config import LoggingConfig
        from tests import strategy_harness as h
        instrument, events = h.simulated(1.0)
        config = h.scalp_config(str(instrument.id), lstm={{"model_path": {str(tmp_path / "missing.pt")!r}}})
        h.LoggingConfig = lambda **k: LoggingConfig(
            log_level="ERROR", log_level_file="WARNING", log_directory={str(tmp_path)!r}, log_file_name="node",
        )
        engine = h.run_engine(instrument, events, [h.ScalpStrategy(config)])
        engine.dispose()
    """)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = "".join(p.read_text() for p in tmp_path.glob("node*"))
    lines = [x for x in text.splitlines() if "missing.pt" in x]
    assert lines, text[-3000:]
    assert "[ERROR]" in lines[0] and "scalp_nautilus.models.lstm: LSTMPredictor: model file" in lines[0], lines[0]
    assert "[WARN]" in text and "(counted; further ones are not logged)" in text, text[-3000:]
