"""Live protection against the replay venue (loopback only, every run bounded): the protective stop
at the exchange, a refused stop, the kill switch across restarts, the SIGKILL drill, the heartbeat
and the session report. Three runs of the 2023-04 BTCUSDT capture at 15x, each checking several
things, since a live run costs about half a minute."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from nautilus_trader.accounting.factory import AccountFactory

from scalp_nautilus.live.monitor import NodeMonitor
from scalp_nautilus.live.node import banner
from scalp_nautilus.live.node import clear_halt
from scalp_nautilus.live.settings import credentials
from scalp_nautilus.live.venue.thread import VenueThread
from scalp_nautilus.strategy import risk
from scalp_nautilus.strategy.execution import EXCHANGE_STOP
from tests.support.live import ROOT
from tests.support.live import LiveProcess
from tests.support.live import live_settings
from tests.support.live import run_node
from tests.support.live import venue_settings
from tests.support.live import write_live_config

pytestmark = [pytest.mark.real_data, pytest.mark.slow]

SPEED = 15.0
FULL_RUN_S = 515.0 / SPEED + 60
TICK = 0.1


def _entries(run) -> list:
    return [o for o in run.orders if any(t.startswith("entry:") for t in o[3] or [])]


# ---------------------------------------------------------------------- the protective stop


def test_protective_stop_at_the_venue_refused_stop_and_session_report(shared_data, tmp_path):
    """A whole replay, the venue refusing the second stop. Every position the venue holds gets a
    resting reduce-only stop at 1.5 x the strategy's stop distance from the entry (checked while
    it rests); a closed position leaves none; the refused stop is followed by a market exit; no
    client order id is sent twice; the heartbeat is logged and the session report written."""
    k = 1.5
    settings = venue_settings(shared_data, speed=SPEED, faults={"reject_algo_orders": [2]})
    with VenueThread(settings) as venue:
        ex = venue.exchange
        seen = []  # (trigger at the venue, trigger expected from the node's position and plan)
        monitors = []

        def until(run):
            monitors[:] = [a for a in run.node.trader.actors() if isinstance(a, NodeMonitor)]
            s = run.strategy
            position, plan, stop = s.position(), s.execution.plan, s.execution.stop_order
            if position is not None and plan is not None and stop is not None:
                resting = ex.conditional_by_client_id(stop.client_order_id.value)
                if resting is not None and resting.open and ex.position:
                    side = 1 if position.is_long else -1
                    seen.append(
                        (
                            resting,
                            "SELL" if side > 0 else "BUY",
                            position.avg_px_open - side * k * plan.stop_distance,
                            abs(ex.position),
                            position.quantity.as_double(),
                        )
                    )
            return venue.finished.is_set() or bool(venue.errors)

        live = live_settings(tmp_path, venue, {"exits": {"exchange_stop_k": k, "exchange_stop_trigger": "mark"}}, heartbeat_s=2.0)
        run = run_node(live, until, FULL_RUN_S, session_report=True)
        conditionals = list(ex.conditionals.values())
        view = {
            "finished": venue.finished.is_set(),
            "position": ex.position,
            "rejected": list(ex.rejected),
            "client_ids": list(venue.client_ids),
            "open_orders": [o for o in ex.orders.values() if o.open],
        }
    assert view["finished"] and not venue.errors
    strategy = run.strategy
    trips = strategy.round_trips
    assert len(_entries(run)) >= 2 and len(trips) >= 2
    # Stops rested at the configured distance (to the tick), for the whole position, reduce-only, on the mark.
    assert seen, "no position was ever seen with its stop resting at the venue"
    for resting, side, expected, venue_qty, node_qty in seen:
        assert abs(resting.trigger_price - expected) <= TICK / 2 + 1e-9, (resting.trigger_price, expected)
        assert resting.qty == venue_qty == node_qty and resting.reduce_only and resting.working_type == "MARK_PRICE"
        assert (resting.side, resting.type) == (side, "STOP_MARKET")
    # The refused stop (the venue's 2nd conditional order) was followed by a market exit of that position.
    [(refused_id, _, _)] = view["rejected"]
    status = {o[0]: (o[2], o[3]) for o in run.orders}
    assert status[refused_id] == ("REJECTED", [EXCHANGE_STOP])
    assert any(t.exit_reason == "stop_rejected" for t in trips)
    assert any(s == "FILLED" and tags == ["exit:stop_rejected"] for s, tags in status.values())
    # Closed positions left no stop behind: every stop was cancelled or fired; nothing open anywhere.
    assert conditionals and all(c.status in ("CANCELED", "FINISHED") for c in conditionals)
    assert not view["open_orders"] and view["position"] == 0.0 and run.open_positions == 0
    # No client order id was ever sent twice (plain and conditional orders alike).
    assert len(view["client_ids"]) == len(set(view["client_ids"])) == len(run.orders)
    # Heartbeats every 2 s (the run lasts over 30 s) and the session report on stop.
    [monitor] = monitors
    assert monitor.beats >= 10 and monitor.last_line.startswith("heartbeat: position ")
    assert "book re-syncs 0 (gaps 0, reconnects 0" in monitor.last_line and monitor.last_line.endswith("not halted")
    assert "lag p50/p99 exchange" in monitor.last_line
    [folder] = (tmp_path / "reports").glob("live-*")
    for name in ("fills.csv", "round_trips.csv", "decisions.csv", "summary.txt", "account.csv"):
        assert (folder / name).exists(), name
    assert f"{len(trips)} round trips" in run.summary and "kill switch     not tripped" in run.summary
    assert (folder / "summary.txt").read_text().strip() == run.summary.strip()
    assert not strategy.risk.halted


# ---------------------------------------------------------------------- the kill switch across restarts


def test_kill_switch_flattens_stays_halted_after_restart_until_cleared(shared_data, tmp_path):
    """The account holds 0.1 BTC (about 2,800 USDT) and the position limit is 2,000: the adopted
    position trips the kill switch at the first book batch; it is closed at market and nothing is
    entered. A restarted node stays halted (and says so); after `--clear-halt` it trades again."""
    settings = venue_settings(shared_data, speed=SPEED, exchange={"position": 0.1}, start={"hold_without_client": True})
    strategy_cfg = {"risk": {"max_position_notional": 2000.0}}
    with VenueThread(settings) as venue:
        ex = venue.exchange
        live = live_settings(tmp_path, venue, strategy_cfg)
        state = tmp_path / "state.json"
        first = run_node(live, lambda run: run.strategy.risk.halted and ex.position == 0.0 and state.exists(), 60.0)
        halted_in_file = risk.read_halt(state)
        progress = venue.progress_s
        announced = banner(live, credentials(live, False), False)
        second = run_node(live, lambda run: venue.progress_s >= progress + 30.0, 60.0)
        print(clear_halt(live))
        cleared = risk.read_halt(state)
        third = run_node(
            live,
            lambda run: (bool(_entries(run)) and ex.position == 0.0 and run.strategy.round_trips) or venue.finished.is_set(),
            FULL_RUN_S,
        )
        client_ids = list(venue.client_ids)
    # The first node: tripped on the position notional, flattened at market, entered nothing.
    halt = first.strategy.risk.halt
    assert halt.limit == risk.MAX_POSITION_NOTIONAL and halted_in_file == halt
    mine = [o for o in first.orders if o[3]]  # (reconciliation records the adopted position as an untagged order)
    assert [o[3] for o in mine] == [["exit:kill_switch"]] and mine[0][2] == "FILLED"
    assert not _entries(first) and first.open_positions == 0
    # The second: halted from its state file, said so, sent nothing, evaluated no entry.
    assert second.strategy.risk.halt == halt and second.orders == []
    valid = [d for d in second.decisions if d[1]]
    assert valid and all(d[3] == "halted" for d in valid)  # refused because of the halt (it was `closed`)
    assert "HALTED by the kill switch (max_position_notional" in announced and "--clear-halt" in announced
    # Cleared: the third node enters again (and its position gets its stop at the venue).
    assert cleared is None and not third.strategy.risk.halted
    assert _entries(third), "no entry after the halt was cleared"
    assert any(EXCHANGE_STOP in (o[3] or []) for o in third.orders)
    assert len(client_ids) == len(set(client_ids))


# ---------------------------------------------------------------------- the SIGKILL drill


def test_sigkill_drill_the_venue_stop_closes_the_position_and_the_next_session_reports_it(shared_data, tmp_path):
    """The 2024-07-18/19 BTCUSDT capture trades at 63,943.9-63,960.0 for its first 180 s, then falls
    to 63,888.5 by 300-330 s and 63,834.5 by 420 s. The account is long 0.05 BTC from 63,950. The
    node adopts it: its own stop 1.5 bp below (9.59: the floor decides, stop_k is tiny), at
    63,940.4, under every price of the first 180 s; the exchange stop 5 x that below, on the mark
    price, at 63,950 - 47.96 = 63,902.0. The node is killed with SIGKILL at 150 s of the capture,
    its stop resting; the replay goes on, the price falls through the stop, and the venue's stop
    sells the position. A new node (`scalp-nautilus live`, as a user restarts it) finds the account
    flat and nothing open, restores the saved state, cancels a stale stop left at the venue, and
    its session report shows the round trip the stop closed while no node ran, with the P&L and
    fees the venue booked. (The capture has no mark-price stream: the venue's mark is its mid; a
    mark-triggered stop never fired on such a capture before.)"""
    entry, k, floor_bps = 63_950.0, 5.0, 1.5
    stop_distance = entry * floor_bps * 1e-4
    trigger = round(entry - k * stop_distance, 1)
    assert trigger == 63_902.0  # by hand: 63,950 - 5 x 9.5925
    captures = [str(shared_data / "binance-futures" / f) for f in ("usdm_btcusdt_20240718.gz", "usdm_btcusdt_20240719.gz")]
    settings = venue_settings(shared_data, captures=captures, speed=SPEED, exchange={"position": 0.05, "entry_price": entry})
    strategy_cfg = {
        # The floor decides the stop distance (stop_k tiny), no take-profit or time stop: only stops close it.
        "exits": {
            "exchange_stop_k": k,
            "exchange_stop_trigger": "mark",
            "stop_k": 0.01,
            "min_stop_bps": floor_bps,
            "take_profit_k": 0.0,
            "time_stop_s": 0.0,
        },
        "state": {"max_age_s": 600.0, "save_every_s": 2.0},  # the second node restores the first one's state across the gap
    }
    with VenueThread(settings) as venue:
        ex = venue.exchange
        config = write_live_config(tmp_path, venue, strategy_cfg)
        state = tmp_path / "state.json"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        node = subprocess.Popen(
            [sys.executable, "-m", "scalp_nautilus.cli", "live", "--config", str(config)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 90
            # Killed once the stop rests and the state was saved, at 150 s of the capture (the indicators warm).
            while time.monotonic() < deadline and not (
                any(c.open for c in ex.conditionals.values()) and state.exists() and venue.progress_s >= 150.0
            ):
                time.sleep(0.05)
            node.send_signal(signal.SIGKILL)
            node.wait(10)
        finally:
            if node.poll() is None:
                node.kill()
        killed_at, held = venue.progress_s, ex.position
        conditionals = list(ex.conditionals.values())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and ex.position != 0.0:
            time.sleep(0.05)
        closed_at = venue.progress_s
        # A stop an earlier session left behind (its cancel never reached the venue): stale on any restart.
        stale = ex.new_conditional(
            {
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "STOP_MARKET",
                "algoType": "CONDITIONAL",
                "quantity": "0.050",
                "triggerPrice": "60000.0",
                "reduceOnly": "true",
                "workingType": "CONTRACT_PRICE",
                "clientAlgoId": "O-20240719-000000-REPLAY-000-99",
            },
            venue.now_ms(),
        )
        state_saved = json.loads(state.read_text())
        # The next session, as a user starts it: its report accounts for the stop's round trip.
        second = LiveProcess(write_live_config(tmp_path, venue, strategy_cfg, name="live2.yaml"), tmp_path)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and "closed while offline" not in second.output:
                time.sleep(0.2)
            time.sleep(3.0)  # trading on for a while
        finally:
            code = second.stop()
        after = {
            "position": ex.position,
            "open": [o for o in ex.orders.values() if o.open],
            "open_algo": [c for c in ex.conditionals.values() if c.open],
            "client_ids": list(venue.client_ids),
            "fills": list(ex.fills),
        }
    assert node.returncode == -signal.SIGKILL and held == 0.05 and 150.0 <= killed_at < 180.0
    # The one stop the dead node left: a reduce-only sell of the whole position at the hand-computed trigger.
    [stop] = conditionals
    expected = ("SELL", "STOP_MARKET", 0.05, True, "MARK_PRICE")
    assert (stop.side, stop.type, stop.qty, stop.reduce_only, stop.working_type) == expected
    assert stop.trigger_price == pytest.approx(trigger, abs=1e-9)
    # With nobody alive, the venue's stop closed the position at market after the price fell through it.
    fills = [f for f in after["fills"] if f.order.client_order_id == stop.client_id]
    assert closed_at > killed_at and stop.status == "FINISHED"
    # A market sell at the bid once the mid reached the trigger: within 1 bp of it.
    print(
        "drill: stop fills", [(f.price, f.qty) for f in fills], "trigger", trigger, "killed at", killed_at, "closed at", closed_at
    )
    assert sum(f.qty for f in fills) == pytest.approx(0.05) and all(abs(f.price - trigger) <= trigger * 1e-4 for f in fills)
    assert sum(f.realized_pnl for f in fills) == pytest.approx(sum(f.qty * (f.price - entry) for f in fills), abs=1e-9)
    # The restarted node: flat account; the stale stop reconciled and cancelled; not halted; its state restored
    # (warm again once its windows refill: the 170 s without a node is longer than a bar may carry).
    assert stale.status == "CANCELED" and code == 0
    logs = "".join(p.read_text() for p in (tmp_path / "logs").glob("*.log"))
    assert state_saved["halt"] is None and logs.count("warm state restored") == 1
    assert "kill switch     not tripped" in second.output
    # Its report shows the round trip the stop made while no node ran: gross and fees as the venue booked them.
    saved = state_saved["position"]
    assert (saved["qty"], saved["avg_px"]) == (0.05, entry) and saved["ts_event"] > 0
    gross, fees = sum(f.realized_pnl for f in fills), sum(f.commission for f in fills)
    [folder] = [f for f in (tmp_path / "reports").glob("live-*") if (f / "offline_fills.csv").exists()]
    [line] = [x for x in (folder / "summary.txt").read_text().splitlines() if x.startswith("  closed while offline")]
    print("drill: the next session's report:", line)
    assert f"long 0.05 @ {entry:g} -> {fills[0].price:g}" in line
    paid = f"gross {gross:+.4f}, fees {fees:.4f} (+ entry fees 0.0000 paid by the previous session), net {gross - fees:+.4f}"
    assert paid in line
    assert len(pd.read_csv(folder / "offline_fills.csv")) == len(fills)
    assert json.loads(state.read_text())["position"] is None  # the report accounted for it: the next start replays nothing
    assert not after["open"] and not after["open_algo"] and after["position"] == 0.0
    assert len(after["client_ids"]) == len(set(after["client_ids"]))


# ---------------------------------------------------------------------- an adopted position's entry fee


def test_an_adopted_positions_report_separates_the_entry_fee_the_previous_session_paid(shared_data, tmp_path):
    """A first node enters and stops without closing (as it does when its connection is lost), its
    exchange stop resting. The second node adopts the position; Nautilus's reconciliation books the
    first node's entry fill with its commission into the adopted position, so the round trip's fees
    include a fee this session's balance never paid. The report names it (the venue's own
    commission of that fill) and gives this session's net without it, which is what its balance saw.

    The process has run a backtest of BINANCE (as the full suite has by now: any `BacktestEngine`
    registers its venue's accounts as calculated, process-wide and for good), so Nautilus books each
    fill again on top of the venue's report of it: the report's balance change must still be the
    venue's (before: off by the reconciled entry fee, or by the exit, in every full-suite run)."""
    AccountFactory.register_calculated_account("BINANCE")
    settings = venue_settings(shared_data, speed=SPEED, start={"hold_without_client": True})
    with VenueThread(settings) as venue:
        ex = venue.exchange

        def entered(run) -> bool:
            if ex.position != 0.0 and any(c.open for c in ex.conditionals.values()):
                run.strategy.leave_protected()
                return True
            return False

        first = run_node(live_settings(tmp_path, venue), entered, FULL_RUN_S)
        held = ex.position
        entry_fills = list(ex.fills)
        second = run_node(
            live_settings(tmp_path, venue, {"exits": {"time_stop_s": 20.0}}, name="live2.yaml"),
            lambda run: bool(run.strategy.round_trips) or venue.finished.is_set(),
            FULL_RUN_S,
            session_report=True,
        )
        after, venue_wallet = ex.position, ex.wallet
    assert held != 0.0 and first.open_positions == 1  # left open, protected
    entry_fee = sum(f.commission for f in entry_fills)
    [trip] = second.strategy.round_trips
    assert trip.kind == "adopted" and trip.carried_fees == pytest.approx(entry_fee, abs=1e-9) and entry_fee > 0
    exit_fee = sum(f.commission for f in ex.fills[len(entry_fills) :])
    assert trip.commissions == pytest.approx(entry_fee + exit_fee, abs=1e-9)
    line = next(x for x in second.summary.splitlines() if x.startswith("carried fees"))
    print("adopted:", line)
    assert f"entry fees {entry_fee:.4f} USDT" in line
    assert f"net without them {trip.realized_pnl + entry_fee:+.4f}" in line
    # ...which is the account's balance change over the session (Nautilus's "net" counts the fee twice over the two reports):
    # the venue's wallet after the exit less its wallet before the session, from the venue's own fills.
    change = float(next(x for x in second.summary.splitlines() if "balance change" in x).split("balance change")[1].split()[0])
    venue_change = sum(f.realized_pnl - f.commission for f in ex.fills[len(entry_fills) :])
    assert after == 0.0 and venue_wallet == pytest.approx(settings.exchange.balance - entry_fee + venue_change, abs=1e-9)
    assert change == pytest.approx(venue_change, abs=1e-6) and change == pytest.approx(trip.realized_pnl + entry_fee, abs=1e-6)
    # Nautilus's own states are named, not counted.
    [calculated] = [x for x in second.summary.splitlines() if x.startswith("account ")]
    assert "Nautilus also calculated" in calculated and "backtest of BINANCE" in calculated


# ---------------------------------------------------------------------- the stop after a stale-feed exit


def test_a_stale_feed_exit_cancels_the_exchange_stop_while_the_book_is_still_silent(shared_data, tmp_path):
    """The account is long 0.05 BTC; the node adopts it and rests its exchange stop. The venue's book
    goes silent (trades go on) for 300 capture seconds, 20 s of wall time at 15x: after
    `exits.stale_feed_s` the strategy exits at market, the venue fills it from its own book, and
    the stop must be cancelled within a few seconds, not when the book speaks again (before: it stayed
    at the venue until the next book batch, here the whole silence)."""
    silence_at, silence_s = 100.0, 300.0
    settings = venue_settings(
        shared_data, speed=SPEED, exchange={"position": 0.05}, faults={"silence_at_s": silence_at, "silence_s": silence_s}
    )
    with VenueThread(settings) as venue:
        ex = venue.exchange
        seen: dict[str, float] = {}

        def until(run) -> bool:
            if "stop" not in seen and any(c.open for c in ex.conditionals.values()):
                seen["stop"] = venue.progress_s
            if "flat" not in seen and "stop" in seen and ex.position == 0.0:
                seen["flat"] = time.monotonic()
            if "flat" in seen and "cancelled" not in seen and not any(c.open for c in ex.conditionals.values()):
                seen["cancelled"] = time.monotonic()
            return "cancelled" in seen or venue.progress_s >= silence_at + silence_s

        held = {"exits": {"stale_feed_s": 2.0, "time_stop_s": 0.0, "take_profit_k": 0.0, "stop_k": 50.0}}
        run = run_node(live_settings(tmp_path, venue, held), until, FULL_RUN_S)
        silenced = venue.stats["diffs_silenced"]
    assert seen.get("stop", silence_at) < silence_at and silenced > 0  # the setup: protected before the silence
    assert any(o[3] == ["exit:stale_feed"] and o[2] == "FILLED" for o in run.orders)
    assert "cancelled" in seen and seen["cancelled"] - seen["flat"] < 3.0
