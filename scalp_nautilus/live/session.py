"""What a live session says about itself: a heartbeat line every `heartbeat_s` (live YAML) and, on
stop, the backtest's summary and files for the session in `<reports_dir>/live-<UTC start>/`.

Heartbeat (Nautilus's log, INFO): position, unrealised P&L at the mid, session P&L (round trips
after fees + unrealised + funding booked), age of the last book batch on the node's clock, feed
gaps (sequence gaps the data client re-synced, and silences the strategy's feed watchdog found),
and whether the kill switch is halted. The session report reuses `backtest.report` (the summary
table and the strategy's files) with the node's own fills, positions and account reports.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd

from nautilus_trader.common.actor import Actor

from scalp_nautilus.backtest.report import strategy_table
from scalp_nautilus.backtest.report import write_strategy_files
from scalp_nautilus.strategy.records import SessionStatus


def heartbeat_line(s: SessionStatus, gaps: int | None) -> str:
    halted = f"HALTED ({s.halt})" if s.halt else "not halted"
    gap_text = "n/a" if gaps is None else str(gaps)
    return (
        f"heartbeat: position {s.position:+g}, unrealised {s.unrealized:+.4f} {s.currency}, session P&L "
        f"{s.session_pnl:+.4f} {s.currency}, last book {s.book_age_s:.1f} s ago, feed gaps {gap_text} "
        f"(watchdog silences {s.stale_feeds}), {halted}"
    )


class SessionMonitor(Actor):
    """Logs the heartbeat of `strategy` every `interval_s` (the data client supplies the gap count)."""

    def __init__(self, strategy, data_client, interval_s: float) -> None:
        super().__init__()
        self._strategy = strategy
        self._client = data_client
        self._interval = timedelta(seconds=interval_s)
        self.beats = 0
        self.last_line = ""

    def on_start(self) -> None:
        self.clock.set_timer("session-heartbeat", self._interval, callback=self._beat)

    def on_stop(self) -> None:
        pass  # Nautilus cancels the actor's timers itself; nothing else to release

    def _beat(self, event) -> None:
        status = self._strategy.status(self.clock.timestamp_ns())
        self.last_line = heartbeat_line(status, getattr(self._client, "gaps", None))
        self.beats += 1
        self.log.info(self.last_line)


def report_folder(reports_dir: str | Path, started_ns: int) -> Path:
    return Path(reports_dir) / f"live-{pd.Timestamp(started_ns, tz='UTC'):%Y%m%dT%H%M%SZ}"


def write_session_report(trader, strategy, folder: Path, started_ns: int, ended_ns: int, plots: bool = True) -> str:
    """The session's summary (returned, and in `summary.txt`) and files, as a backtest writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    fills = trader.generate_order_fills_report()
    account = trader.generate_account_report(strategy.config.instrument_id.venue)
    fills.to_csv(folder / "fills.csv")
    trader.generate_positions_report().to_csv(folder / "positions.csv")
    account.to_csv(folder / "account.csv")
    rep = strategy.report()
    write_strategy_files(rep, fills, folder, plots=plots, instrument=strategy.instrument)
    totals = account["total"].astype(float) if not account.empty else pd.Series(dtype=float)
    start_balance = float(totals.iloc[0]) if len(totals) else float("nan")
    change = float(totals.iloc[-1] - totals.iloc[0]) if len(totals) else 0.0
    halt = strategy.risk.halt
    minutes = (ended_ns - started_ns) / 60e9
    lines = [
        f"live session    {strategy.config.instrument_id}",
        f"wall time       {pd.Timestamp(started_ns, tz='UTC')} -> {pd.Timestamp(ended_ns, tz='UTC')} ({minutes:.1f} min)",
        f"orders / fills  {len(strategy.cache.orders(strategy_id=strategy.id))} / {len(fills)}",
        f"kill switch     {'HALTED: ' + str(halt) if halt else 'not tripped'}",
        "",
        *strategy_table(rep, start_balance, change),
        "",
        f"reports         {folder.resolve()}",
    ]
    text = "\n".join(lines)
    (folder / "summary.txt").write_text(text + "\n")
    return text
