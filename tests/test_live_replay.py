"""The live node end to end against the local replay venue (loopback only, every run bounded).

One clean run replays the whole 2023-04 BTCUSDT capture (8.6 minutes, 15x) with the venue
rejecting the strategy's second order; it is checked for the end-to-end path, for feature parity
with a backtest over the same capture imported into the catalog, and for the rejection. A second
run has the venue drop the WebSocket and withhold a depth diff; a third stops the node mid-capture
and starts another on the saved state; a fourth starts with a position on the account.

The clean run, the faults and the adopted position run twice: with the venue speaking Binance's
API to the Binance node, and Bybit's v5 API to the Bybit node (the capture converted to Bybit's
messages, `venue.bybit_api`); `API` holds what differs between the two.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from scalp_nautilus.live.venue.thread import VenueThread
from scalp_nautilus.strategy.decision import ENTER
from tests.live_parity import differing_feature_columns
from tests.live_parity import live_and_backtest_rows
from tests.support.live import CAPTURE_2023
from tests.support.live import ROOT
from tests.support.live import VenueAddress
from tests.support.live import free_port
from tests.support.live import live_settings
from tests.support.live import run_node
from tests.support.live import start_venue_process
from tests.support.live import venue_settings
from tests.support.live import write_live_config

pytestmark = [pytest.mark.real_data, pytest.mark.slow]  # live nodes against the replay venue

SPEED = 15.0
CAPTURE_S = 515.0  # the capture's span of exchange time
FULL_RUN_S = CAPTURE_S / SPEED + 60  # the node's time limit for a whole replay
MS = 1_000_000
# Decision outcomes of a flat strategy that evaluated its signals (not a hold for the book, the
# latch, a position or the cooldown).
SIGNAL_OUTCOMES = {"taken", "dead_zone", "no_regime", "no_signal", "confidence", "cold", "vpin_extreme", "size_zero"}


# What differs between the APIs: the code a refused order gets (insufficient margin); how far the
# live event times may lie from the backtest's beyond the time shift (Nautilus's Binance parser
# goes through a double: up to 128 ns at today's epoch; Bybit's is exact); how the faulty run
# re-syncs (Binance: the reconnect and the withheld diff each break the `pu` chain, 2 gaps, 3
# snapshots from REST; Bybit: the reconnect's subscription gets a snapshot, the withheld delta is
# 1 gap and 1 re-subscription, 3 snapshots sent) and how many stale spans the strategy sees (the
# Bybit client keeps the last levels until the reconnect's snapshot replaces them in one batch:
# that silence is the feed watchdog's).
API = {
    "binance": {"reject_code": -2019, "lag_ns": 128, "fault_gaps": 2, "fault_resyncs": 3, "stale_spans": 2},
    "bybit": {"reject_code": 110007, "lag_ns": 0, "fault_gaps": 1, "fault_resyncs": 1, "stale_spans": 1},
}


def _finished(venue):
    """The venue sent its capture's last event and the strategy processed its last book diff (the
    venue finishing only means the last message left its socket: stopping then raced the node's
    last batch), or the venue failed."""
    last_u = max(int(e.data["u"]) for e in venue.capture.events if e.kind == "depth" and (e.data["b"] or e.data["a"]))

    def done(run) -> bool:
        caught_up = bool(run.decisions) and run.decisions[-1][0] >= last_u
        return bool(venue.errors) or (venue.finished.is_set() and caught_up)

    return done


def _venue_ids(venue) -> set[str]:
    """Client ids of the orders the venue accepted: plain and conditional (the protective stops; a
    triggered one's market order carries its id)."""
    ex = venue.exchange
    return {o.client_order_id for o in ex.orders.values()} | {c.client_id for c in ex.conditionals.values()}


def _unique_ids(run) -> bool:
    ids = [o[0] for o in run.orders]
    return len(ids) == len(set(ids))


# ---------------------------------------------------------------------- the clean run


@pytest.fixture(scope="module", params=list(API))
def clean(request, shared_data, tmp_path_factory):
    api = request.param
    tmp = tmp_path_factory.mktemp(f"live_clean_{api}")
    settings = venue_settings(shared_data, api=api, speed=SPEED, faults={"reject_orders": [2]})
    with VenueThread(settings) as venue:
        live = live_settings(tmp, venue, {"record_features": str(tmp / "live.parquet")})
        run = run_node(live, _finished(venue), FULL_RUN_S)
        # The venue's view after the node stopped (its thread still serves).
        view = {
            "finished": venue.finished.is_set(),
            "stats": dict(venue.stats),
            "shift_ms": venue.shift_ms,
            "fills": list(venue.exchange.fills),
            "rejected": list(venue.exchange.rejected),
            "open_orders": [o for o in venue.exchange.orders.values() if o.open],
            "orders": list(venue.exchange.orders.values()),
            "position": venue.exchange.position,
            "venue_ids": _venue_ids(venue),
            "client_ids": list(venue.client_ids),
            "trades": sum(e.kind == "trade" for e in venue.capture.events),
            "last_mark": next(e.data for e in reversed(venue.capture.events) if e.kind == "markPrice"),
            "diffs": sum(e.kind == "depth" for e in venue.capture.events),
            "api": api,
        }
    return tmp, run, view


def test_end_to_end_against_the_replay_venue(clean):
    """The node syncs its book once (0 gaps), receives every trade, computes warm features, trades
    through the venue (orders acknowledged and filled) and stops with nothing open anywhere."""
    _, run, view = clean
    assert view["finished"], "the replay did not reach the end of the capture within the time limit"
    client, strategy = run.data_client, run.strategy
    if view["api"] == "binance":
        assert (client.resyncs, client.gaps) == (1, 0) and view["stats"]["depth_requests"] == 1
    else:  # one subscription, answered with one snapshot; orders went out on Bybit's trade stream
        assert (client.gaps, client.resubscriptions, view["stats"]["snapshots"]) == (0, 0, 1)
        assert view["stats"]["ws order.create"] == view["stats"]["orders"] + view["stats"]["algo_orders"]
    assert view["stats"]["market_connections"] == 1
    # Every recorded trade reached the features; every diff after the snapshot made one book batch.
    assert strategy.pipeline.trades == view["trades"]
    assert strategy.pipeline.books == strategy.batches and strategy.batches > 0.99 * view["diffs"]
    assert any(d[2] for d in run.decisions), "the features never warmed up"
    # Funding came through Binance's mark-price stream (Bybit's tickers) into the same funding input as backtests:
    # the settlement of 2023-04-05 00:00 at 0.00002760 (README of the data), then the next rate.
    funding = strategy.pipeline.funding.schedule
    assert funding.settlements == 1 and funding.settled_rate == pytest.approx(0.0000276, abs=1e-12)
    assert funding.current_rate == float(view["last_mark"]["r"])
    assert funding.next_funding_ns == (int(view["last_mark"]["T"]) + view["shift_ms"]) * MS
    # Orders went out and were filled by the venue; the node saw the fills.
    entries = [o for o in run.orders if any(t.startswith("entry:") for t in o[3] or [])]
    assert len(entries) >= 2 and view["fills"]
    assert {o[2] for o in run.orders} <= {"FILLED", "REJECTED", "CANCELED", "EXPIRED"}
    assert len(strategy.round_trips) >= 1
    # Stopped cleanly: nothing open at the venue or in the node.
    assert not view["open_orders"] and view["position"] == 0.0 and run.open_positions == 0
    assert _unique_ids(run)


def test_live_features_equal_the_backtest_over_the_same_capture(clean, capture_paths):
    """Backtest/live parity: the recorder's rows of the live run and of a backtest over the capture
    imported into the catalog, compared at the same update ids. Tolerance: none. Both paths feed
    the same batches and trades in the same order to the same code, so every feature column must
    be bit-for-bit equal; event times differ by the venue's whole-second time shift (see `API`)."""
    tmp, _, view = clean
    live, backtest = live_and_backtest_rows(tmp, capture_paths("usdm_2023_04"))
    assert len(live) == len(backtest) > 16_000
    assert (live["update_id"].to_numpy() == backtest["update_id"].to_numpy()).all()
    shift_ns = view["shift_ms"] * MS
    # Never across a bar or bucket boundary: those are whole ms apart from any stamp.
    lag = live["ts_event"].to_numpy().astype(np.int64) - backtest["ts_event"].to_numpy().astype(np.int64) - shift_ns
    assert np.abs(lag).max() <= API[view["api"]]["lag_ns"]
    differing = differing_feature_columns(live, backtest)
    assert not differing, f"columns differing between live and backtest (rows): {differing}"
    # The comparison covers a warm, moving market, not a constant.
    assert live["warm"].mean() > 0.3 and live["vpin"].nunique() > 100 and live["hurst"].nunique() > 10


def test_rejected_order_clears_the_latch_and_trading_carries_on(clean):
    """The venue refuses the strategy's second order (an exit) with the API's code; the strategy's
    latch clears, it sends the exit again after `orders.reject_pause_s` (once: not in a loop),
    closes the position and trades on."""
    _, run, view = clean
    assert len(view["rejected"]) == 1
    rejected_id, code, _ = view["rejected"][0]
    status = {o[0]: o[2] for o in run.orders}
    assert status[rejected_id] == "REJECTED" and code == API[view["api"]]["reject_code"]
    ids = [o[0] for o in run.orders]
    after = ids[ids.index(rejected_id) + 1 :]
    assert len(after) >= 2, "no order after the rejection: the latch stayed set"
    assert len(after) < 50, "orders sent in a loop after the rejection"
    assert any(status[i] == "FILLED" for i in after)
    # Every order but the rejected one was accepted by the venue, and each was sent once.
    assert _unique_ids(run) and len(view["venue_ids"]) == len(ids) - 1
    assert len(view["client_ids"]) == len(set(view["client_ids"])) == len(ids)


# ---------------------------------------------------------------------- faults


@pytest.fixture(scope="module", params=list(API))
def faulty(request, shared_data, tmp_path_factory):
    api = request.param
    tmp = tmp_path_factory.mktemp(f"live_faults_{api}")
    settings = venue_settings(shared_data, api=api, speed=SPEED, faults={"drop_at_s": [200.0], "gap_at_s": [330.0]})
    with VenueThread(settings) as venue:
        run = run_node(live_settings(tmp, venue), _finished(venue), FULL_RUN_S)
        view = {
            "finished": venue.finished.is_set(),
            "stats": dict(venue.stats),
            "position": venue.exchange.position,
            "open_orders": [o for o in venue.exchange.orders.values() if o.open],
            "orders": len(_venue_ids(venue)),
            "api": api,
        }
    return run, view


def _invalid_spans(decisions) -> list[tuple[int, int]]:
    """(first, last) indices of each run of batches with an invalid book after the first valid one."""
    spans, start = [], None
    seen_valid = False
    for i, (_, valid, *_rest) in enumerate(decisions):
        if valid:
            if start is not None:
                spans.append((start, i - 1))
                start = None
            seen_valid = True
        elif seen_valid and start is None:
            start = i
    return spans


def test_dropped_websocket_and_sequence_gap_resync_pause_and_resume(faulty):
    run, view = faulty
    assert view["finished"]
    assert view["stats"]["drops"] == 1 and view["stats"]["diffs_withheld"] == 1
    client, expect = run.data_client, API[view["api"]]
    # The reconnect and the withheld diff are each re-synced from a fresh snapshot (see `API`):
    # a CLEAR, a new snapshot (Binance: from REST; Bybit: a re-subscription's), no duplicate order.
    assert view["stats"]["market_connections"] == 2
    assert (client.gaps, client.resyncs) == (expect["fault_gaps"], expect["fault_resyncs"])
    # Every re-sync counts, whichever path asked for it (the reconnect and the withheld diff), in
    # the heartbeat too (it counted gaps only: the reconnect's re-sync went unseen).
    assert client.book_resyncs == 2 and "book re-syncs 2 (" in run.heartbeat
    if view["api"] == "bybit":
        assert client.resubscriptions >= 1 and view["stats"]["snapshots"] == 3
    spans = _invalid_spans(run.decisions)
    assert len(spans) == expect["stale_spans"], f"unexpected stale spans {spans}"
    for first, last in spans:
        # While the book is stale nothing is entered and no signal is evaluated (exits may run).
        stale = run.decisions[first : last + 1]
        assert not [d for d in stale if d[4] == ENTER or d[3] in SIGNAL_OUTCOMES], stale
    # After the last re-sync signals are evaluated again (not only holds for the book or warm-up).
    after = run.decisions[spans[-1][1] + 1 :]
    assert len(after) > 1000
    assert {d[3] for d in after} & (SIGNAL_OUTCOMES - {"cold"})
    # No order was sent twice and nothing is left open.
    assert _unique_ids(run) and view["orders"] == len(run.orders)
    assert not view["open_orders"] and view["position"] == 0.0 and run.open_positions == 0


# ---------------------------------------------------------------------- restart


def test_restart_mid_capture_restores_the_saved_state(shared_data, tmp_path):
    """A node stopped mid-capture saves its state; the next one restores it and takes signals
    from its first batches, where a cold start needs minutes of data."""
    settings = venue_settings(shared_data, speed=SPEED, start={"hold_without_client": True})
    with VenueThread(settings) as venue:
        live = live_settings(tmp_path, venue)
        first = run_node(live, lambda run: venue.progress_s >= 240.0, FULL_RUN_S)
        stopped_at = venue.progress_s
        assert (tmp_path / "state.json").exists()
        second = run_node(live, _finished(venue), FULL_RUN_S)
        finished = venue.finished.is_set()
    assert finished and 240.0 <= stopped_at < 300.0
    assert not first.strategy.warm_restored and second.strategy.warm_restored
    cold_batches = next(i for i, d in enumerate(first.decisions) if d[2])
    assert cold_batches > 3000  # minutes of data before the first warm row
    # The restored node is warm from its first valid batch and keeps evaluating signals.
    first_valid = next(i for i, d in enumerate(second.decisions) if d[1])
    assert second.decisions[first_valid][2]
    assert all(d[3] != "cold" for d in second.decisions if d[1])
    assert {d[3] for d in second.decisions} & (SIGNAL_OUTCOMES - {"cold"})


# ---------------------------------------------------------------------- reconciliation


@pytest.mark.parametrize("api", list(API))
def test_position_on_the_account_is_adopted_not_doubled(shared_data, tmp_path, api):
    """The account already holds 0.05 BTC long. Nautilus reconciles it at start; the strategy
    adopts it, opens nothing beside it, and closes it by its own exits (a time stop at the latest)."""
    settings = venue_settings(shared_data, api=api, speed=SPEED, exchange={"position": 0.05})
    with VenueThread(settings) as venue:
        closed = []

        def until(run):
            if venue.exchange.position == 0.0 and not closed:
                closed.append(venue.progress_s)
            return bool(closed)

        run = run_node(live_settings(tmp_path, venue, {"exits": {"time_stop_s": 60.0}}), until, 90.0)
        orders = list(venue.exchange.orders.values())
        stops = list(venue.exchange.conditionals.values())
    assert closed, "the adopted position was never closed"
    first = orders[0]
    assert (first.side, first.reduce_only, first.executed) == ("SELL", True, 0.05)
    # Until it was closed nothing opened a second position beside it.
    assert all(o.reduce_only or o.time_ms > first.update_ms for o in orders)
    assert run.open_positions == 0
    # The adopted position got its protective stop at the venue once its exits were known, cancelled when it closed.
    adopted_stop = stops[0]
    assert (adopted_stop.side, adopted_stop.qty, adopted_stop.reduce_only) == ("SELL", 0.05, True)
    # On the mark price, as configured (`exchange_stop_trigger: mark`), on both APIs: Nautilus's
    # Bybit adapter sent no trigger type, and Bybit's default is the last price.
    assert adopted_stop.working_type == "MARK_PRICE"
    assert adopted_stop.time_ms <= first.time_ms and adopted_stop.status == "CANCELED"


# ---------------------------------------------------------------------- the command line


def test_command_line_dry_run_stops_cleanly_on_ctrl_c(shared_data, tmp_path):
    """The user's dry run: `scalp-nautilus replay-venue` and `scalp-nautilus live` as two
    processes; Ctrl-C (SIGINT) stops the node: exit 0, the strategy stopped and saved its state,
    and the log file holds the run."""
    files = [str(shared_data / "binance-futures" / f) for f in CAPTURE_2023]
    port = free_port()
    venue = start_venue_process(files, SPEED, port)
    try:
        config = write_live_config(tmp_path, VenueAddress(port))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        node = subprocess.Popen(
            [sys.executable, "-m", "scalp_nautilus.cli", "live", "--config", str(config)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        logs = tmp_path / "logs"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "book synced" not in "".join(p.read_text() for p in logs.glob("*.log")):
            time.sleep(0.5)
        time.sleep(3.0)  # trading for a while (45 s of the capture)
        node.send_signal(signal.SIGINT)
        out, _ = node.communicate(timeout=60)
    finally:
        venue.terminate()
        venue.wait(10)
    assert node.returncode == 0, out[-3000:]
    assert "on the replay venue at http://127.0.0.1" in out
    log = "".join(p.read_text() for p in logs.glob("*.log"))
    assert "book synced" in log and "Received SIGINT, shutting down" in log and "ScalpStrategy: STOPPED" in log
    assert (tmp_path / "state.json").exists()


# ---------------------------------------------------------------------- maker orders over the wire


@pytest.mark.slow
def test_maker_entries_rest_as_gtx_at_the_replay_venue(shared_data, tmp_path):
    """Maker entries and take-profits through Nautilus's Binance adapter: the venue receives GTX
    (post-only) limits, accepts and rests those that would not cross, refuses (-5022) those that
    would, fills resting ones only as a maker (its `prob` queue model), and the node ends flat.
    Whether the venue accepts or refuses an entry depends on how far its book moved while the order
    travelled (at 30x, 1 ms of the machine's delay is 30 ms of market), so the run may have no
    resting entry: each maker entry must reach the venue as GTX, accepted or refused as post-only."""
    speed = 30.0
    settings = venue_settings(shared_data, speed=speed, exchange={"queue_model": "prob"})
    with VenueThread(settings) as venue:
        # Nautilus's submit-rate limit counts wall time: at 30x the capture's pace, 30x the default
        # 20/s keeps it at the rate it has on the exchange's clock (else reposts are denied in bursts).
        live = live_settings(
            tmp_path,
            venue,
            {"orders": {"entry": "maker"}, "exits": {"take_profit_order": "maker"}},
            risk_engine={"max_order_submit_rate": f"{round(20 * speed)}/00:00:01"},
        )
        run = run_node(live, _finished(venue), CAPTURE_S / speed + 60)
        orders = list(venue.exchange.orders.values())
        fills, rejected = list(venue.exchange.fills), list(venue.exchange.rejected)
        position = venue.exchange.position
        finished = venue.finished.is_set()
    assert finished
    counts = run.strategy.execution.counts
    entries = [o for o in orders if o.type == "LIMIT" and not o.reduce_only]
    assert counts["maker_posted"] > 0
    # Every maker entry reached the venue as GTX: accepted ones carry it, the others were refused
    # with -5022, which the venue gives a post-only order only (each counted once by the strategy).
    assert len(entries) == counts["maker_posted"] - counts["post_only_refusals"]
    assert all(o.tif == "GTX" for o in entries)  # post-only on the wire
    assert all(f.maker for f in fills if f.order.tif == "GTX")  # a resting GTX order never takes
    assert counts["post_only_refusals"] == sum(code == -5022 for _, code, _ in rejected)
    assert position == 0.0 and run.open_positions == 0
    assert _unique_ids(run)


@pytest.mark.slow
def test_a_stop_waits_for_the_answer_to_an_order_in_flight(shared_data, tmp_path):
    """The stop's race: Nautilus delivers no event to a stopped strategy, so an entry whose answer
    came after the stop began was settled behind its back (a post-only refusal uncounted: the
    maker test's failure under load). The venue answers the first order 0.5 s late, refusing it
    as post-only (-5022); the node is stopped as soon as that entry is posted. The stop drains
    (`live.supervisor.drain`): the refusal reaches the strategy before it stops. With
    `timeouts.drain_s: 0` (no drain) this failed: post-only refusals 0."""
    speed = 30.0
    faults = {"reject_orders": [1], "reject_code": -5022, "reject_msg": "Post Only order will be rejected (drill)"}
    settings = venue_settings(shared_data, speed=speed, faults=faults)
    with VenueThread(settings) as venue:
        accept = venue._accept

        def late(kind, *args):  # on the venue's thread: its answer (and only it) comes late
            if kind == "orders":
                time.sleep(0.5)
            return accept(kind, *args)

        venue._accept = late
        live = live_settings(tmp_path, venue, {"orders": {"entry": "maker"}})
        posted = lambda run: run.strategy.execution is not None and run.strategy.execution.counts["maker_posted"] > 0  # noqa: E731
        run = run_node(live, posted, CAPTURE_S / speed + 60)
        rejected = list(venue.exchange.rejected)
    counts = run.strategy.execution.counts
    assert [code for _, code, _ in rejected] == [-5022]
    assert counts["maker_posted"] == 1 and counts["post_only_refusals"] == 1
    assert [status for _, _, status, _ in run.orders] == ["REJECTED"]
