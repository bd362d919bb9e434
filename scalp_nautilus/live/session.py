"""What a live session says about itself on stop: the backtest's summary and files for the session
in `<reports_dir>/live-<UTC start>/`, with the node's own fills, positions and account reports,
and the lateness of its book batches (the lag guard's session percentiles). The heartbeat while
it runs is the monitor's (`scalp_nautilus.live.monitor`).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from scalp_nautilus.backtest.report import strategy_table
from scalp_nautilus.backtest.report import write_strategy_files
from scalp_nautilus.live.offline import OfflineReport
from scalp_nautilus.strategy import warm
from scalp_nautilus.strategy.records import position_record
from scalp_nautilus.strategy.view import StrategyView


def report_folder(reports_dir: str | Path, started_ns: int) -> Path:
    return Path(reports_dir) / f"live-{pd.Timestamp(started_ns, tz='UTC'):%Y%m%dT%H%M%SZ}"


def write_session_report(
    trader,
    strategy,
    folder: Path,
    started_ns: int,
    ended_ns: int,
    offline: OfflineReport | None = None,
    state_path: str | None = None,
    plots: bool = True,
) -> str:
    """The session's summary (returned, and in `summary.txt`) and files, as a backtest writes them;
    `offline`: the trades made before it while no node ran (`live.offline`), in `offline_fills.csv`
    and the summary. With `state_path`, the state file's saved position becomes the one left now:
    the report accounts for everything before, so the next start replays only later fills."""
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
    cur = view.currency
    carried = [t for t in rep.round_trips if t.carried_fees]
    before = offline.lines(cur) if offline is not None else []
    if carried:
        fees = sum(t.carried_fees for t in carried)
        net = sum(t.realized_pnl for t in rep.round_trips)
        before.append(
            f"carried fees    {len(carried)} round trip(s) opened before this session: their entry fees {fees:.4f} {cur} "
            f"(in Nautilus's P&L below) were paid by the previous session; this session's net without them {net + fees:+.4f}"
        )
    if offline is not None and offline.fills:
        pd.DataFrame([asdict(f) for f in offline.fills]).to_csv(folder / "offline_fills.csv", index=False)
    lines = [
        f"live session    {strategy.config.instrument_id}",
        f"wall time       {pd.Timestamp(started_ns, tz='UTC')} -> {pd.Timestamp(ended_ns, tz='UTC')} ({minutes:.1f} min)",
        f"orders / fills  {len(strategy.cache.orders(strategy_id=strategy.id))} / {len(fills)}",
        f"kill switch     {'HALTED: ' + halt if halt else 'not tripped'}",
        f"book lag        p50 / p99: exchange time {lag.session_exchange_p50_ms:.1f} / {lag.session_exchange_p99_ms:.1f} ms, "
        f"queue {lag.session_queue_p50_ms:.1f} / {lag.session_queue_p99_ms:.1f} ms; worst {lag.worst_ms:.0f} ms; "
        f"entries stopped by the lag guard {lag.engagements} time(s)",
        *before,
        "",
        *strategy_table(rep, start_balance, change),
        "",
        f"reports         {folder.resolve()}",
    ]
    text = "\n".join(lines)
    (folder / "summary.txt").write_text(text + "\n")
    if state_path:
        warm.update(state_path, position_record(view.saved_position()))
    return text
