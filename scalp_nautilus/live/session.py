"""What a live session says about itself on stop: the backtest's summary and files for the session
in `<reports_dir>/live-<UTC start>/`, with the node's own fills, positions and account reports,
and the lateness of its book batches (the lag guard's session percentiles). The heartbeat while
it runs is the monitor's (`scalp_nautilus.live.monitor`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from scalp_nautilus.backtest.report import strategy_table
from scalp_nautilus.backtest.report import write_strategy_files
from scalp_nautilus.strategy.view import StrategyView


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
    view = StrategyView(strategy)
    halt = view.halt()
    lag = view.lag()
    minutes = (ended_ns - started_ns) / 60e9
    lines = [
        f"live session    {strategy.config.instrument_id}",
        f"wall time       {pd.Timestamp(started_ns, tz='UTC')} -> {pd.Timestamp(ended_ns, tz='UTC')} ({minutes:.1f} min)",
        f"orders / fills  {len(strategy.cache.orders(strategy_id=strategy.id))} / {len(fills)}",
        f"kill switch     {'HALTED: ' + halt if halt else 'not tripped'}",
        f"book lag        p50 / p99: exchange time {lag.session_exchange_p50_ms:.1f} / {lag.session_exchange_p99_ms:.1f} ms, "
        f"queue {lag.session_queue_p50_ms:.1f} / {lag.session_queue_p99_ms:.1f} ms; worst {lag.worst_ms:.0f} ms; "
        f"entries stopped by the lag guard {lag.engagements} time(s)",
        "",
        *strategy_table(rep, start_balance, change),
        "",
        f"reports         {folder.resolve()}",
    ]
    text = "\n".join(lines)
    (folder / "summary.txt").write_text(text + "\n")
    return text
