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

import pytest

from scalp_nautilus.live.node import clear_halt
from scalp_nautilus.live.venue.thread import VenueThread
from scalp_nautilus.strategy import risk
from scalp_nautilus.strategy.execution import EXCHANGE_STOP
from scalp_nautilus.testing.live import ROOT
from scalp_nautilus.testing.live import live_settings
from scalp_nautilus.testing.live import run_node
from scalp_nautilus.testing.live import venue_settings
from scalp_nautilus.testing.live import write_live_config

pytestmark = [pytest.mark.real_data, pytest.mark.slow]

SPEED = 15.0
FULL_RUN_S = 515.0 / SPEED + 60
TICK = 0.1


def _entries(run) -> list:
    return [o for o in run.orders if any(t.startswith("entry:") for t in o[3] or [])]


def _log(tmp_path) -> str:
    return "".join(p.read_text() for p in (tmp_path / "logs").glob("*.log"))


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

        def until(run):
            s = run.strategy
            position, plan, stop = s.position(), s.execution.plan, s.execution.stop_order
            if position is not None and plan is not None and stop is not None:
                resting = ex.conditional_by_client_id(stop.client_order_id.value)
                if resting is not None and resting.open and ex.position:
                    side = 1 if position.is_long else -1
                    seen.append((resting, "SELL" if side > 0 else "BUY", position.avg_px_open - side * k * plan.stop_distance,
                                 abs(ex.position), position.quantity.as_double()))
            return venue.finished.is_set() or bool(venue.errors)

        live = live_settings(tmp_path, venue, {"exits": {"exchange_stop_k": k, "exchange_stop_trigger": "mark"}},
                             heartbeat_s=2.0)
        run = run_node(live, until, FULL_RUN_S, session_report=True)
        conditionals = list(ex.conditionals.values())
        view = {"finished": venue.finished.is_set(), "position": ex.position, "rejected": list(ex.rejected),
                "client_ids": list(venue.client_ids), "open_orders": [o for o in ex.orders.values() if o.open]}
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
    assert "refused" in _log(tmp_path) and "closing the position at market" in _log(tmp_path)
    # Closed positions left no stop behind: every stop was cancelled or fired; nothing open anywhere.
    assert conditionals and all(c.status in ("CANCELED", "FINISHED") for c in conditionals)
    assert not view["open_orders"] and view["position"] == 0.0 and run.open_positions == 0
    # No client order id was ever sent twice (plain and conditional orders alike).
    assert len(view["client_ids"]) == len(set(view["client_ids"])) == len(run.orders)
    # Heartbeats every 2 s and the session report on stop.
    log = _log(tmp_path)
    assert log.count("heartbeat: position") >= 5 and "not halted" in log
    [folder] = (tmp_path / "reports").glob("live-*")
    for name in ("fills.csv", "round_trips.csv", "decisions.csv", "summary.txt", "account.csv"):
        assert (folder / name).exists(), name
    assert f"{len(trips)} round trips" in run.summary and "kill switch     not tripped" in run.summary
    assert (folder / "summary.txt").read_text().strip() == run.summary.strip()
    assert not strategy.risk.halted
