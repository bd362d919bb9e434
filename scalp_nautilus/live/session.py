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

# What the live balance change counts: the venue's wallet moves with anything it books (funding too).
VENUE_BALANCE = "the venue's reports: trading - fees, and any funding the venue booked"


def venue_reports(account) -> list:
    """The account's states the venue reported (its REST account at connect, its balance messages),
    in the order the node received them. Not the states Nautilus calculates from fills: it does that
    for a venue registered as simulated (`AccountFactory.register_calculated_account`), which every
    `BacktestEngine` does for its venue, for the whole process and for good. A live account of that
    venue in a process that ran a backtest of it then gets each fill booked again on top of the
    venue's own report of it (the entry fee of a reconciled fill included)."""
    return [e for e in account.events if e.is_reported] if account is not None else []


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
    view = StrategyView(strategy)
    cur = view.currency
    # The balance at the start is the venue's first report (before anything this session did), at
    # the end its last; Nautilus's own calculations in between (`venue_reports`) are left out.
    venue_account = strategy.cache.account_for_venue(strategy.config.instrument_id.venue)
    reported = venue_reports(venue_account)
    totals = [b.total.as_double() for e in reported for b in e.balances if b.currency.code == cur]
    start_balance = totals[0] if totals else float("nan")
    change = totals[-1] - totals[0] if totals else 0.0
    calculated = venue_account.event_count - len(reported) if venue_account is not None else 0
    halt = view.halt()
    lag = view.lag()
    minutes = (ended_ns - started_ns) / 60e9
    carried = [t for t in rep.round_trips if t.carried_fees]
    before = offline.lines(cur) if offline is not None else []
    if carried:
        fees = sum(t.carried_fees for t in carried)
        net = sum(t.realized_pnl for t in rep.round_trips)
        before.append(
            f"carried fees    {len(carried)} round trip(s) opened before this session: their entry fees {fees:.4f} {cur} "
            f"(in Nautilus's P&L below) were paid by the previous session; this session's net without them {net + fees:+.4f}"
        )
    if calculated:
        before.append(
            f"account         Nautilus also calculated {calculated} of the account's {venue_account.event_count} states from "
            f"fills (this process ran a backtest of {venue_account.id.get_issuer()}, which makes Nautilus book each fill again "
            f"on top of the venue's report of it): left out of the balance below, the venue's {len(reported)} reports; "
            "the equity samples include them"
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
        *strategy_table(rep, start_balance, change, VENUE_BALANCE),
        "",
        f"reports         {folder.resolve()}",
    ]
    text = "\n".join(lines)
    (folder / "summary.txt").write_text(text + "\n")
    if state_path:
        warm.update(state_path, position_record(view.saved_position()))
    return text
