"""`strategy.risk`: each limit against hand-computed sequences, the day reset at 00:00 UTC, and the
halt in the state file (read whatever the age, cleared by the operator)."""

from __future__ import annotations

import json

import pandas as pd

from scalp_nautilus.strategy import risk
from scalp_nautilus.strategy.risk import Halt
from scalp_nautilus.strategy.risk import RiskLimits
from scalp_nautilus.strategy.settings import RiskSettings

S = 1_000_000_000
DAY0 = pd.Timestamp("2026-03-01 23:59:00", tz="UTC").value  # a minute before midnight


def test_daily_loss_sums_realised_unrealised_fees_and_funding():
    r = RiskLimits(RiskSettings(daily_loss_limit=10.0))
    # Round trip 1: gross -4.0, fees 0.7 + 0.7 -> day -5.4.
    assert r.on_fee(DAY0, 0.7) is None
    assert r.on_fee(DAY0 + S, 0.7) is None
    assert r.on_round_trip(DAY0 + S, -4.0, 1.4) is None
    assert abs(r.day_pnl - (-5.4)) < 1e-12
    # Funding paid 0.6 -> -6.0; an open position: fee 0.5 -> -6.5, unrealised -3.4 -> -9.9: not yet.
    assert r.on_funding(DAY0 + 2 * S, -0.6) is None
    assert r.on_fee(DAY0 + 3 * S, 0.5) is None
    assert r.check(DAY0 + 4 * S, -3.4, 500.0) is None
    assert abs(r.day_pnl - (-9.9)) < 1e-12
    # Unrealised -3.5 -> -10.0 <= -10: trips.
    halt = r.check(DAY0 + 5 * S, -3.5, 500.0)
    assert halt is not None and halt.limit == risk.DAILY_LOSS and halt.ts_ns == DAY0 + 5 * S
    assert r.halted
    # Later breaches do not overwrite the first.
    assert r.check(DAY0 + 6 * S, -50.0, 500.0) is None and r.halt is halt


def test_day_restarts_at_midnight_utc():
    r = RiskLimits(RiskSettings(daily_loss_limit=10.0))
    r.on_fee(DAY0, 1.0)
    r.on_round_trip(DAY0, -8.0, 1.0)  # day -9.0
    assert abs(r.day_pnl + 9.0) < 1e-12
    midnight = DAY0 + 60 * S
    assert midnight % risk.DAY_NS == 0
    # A loss of 2 after midnight counts from zero: -2 (before: -11 would have tripped).
    assert r.on_round_trip(midnight, -2.0, 0.0) is None
    assert abs(r.day_pnl + 2.0) < 1e-12 and not r.halted
    # The last nanosecond before midnight still belonged to the old day.
    r2 = RiskLimits(RiskSettings(daily_loss_limit=10.0))
    r2.on_round_trip(midnight - 1, -9.0, 0.0)
    assert r2.on_round_trip(midnight - 1, -1.0, 0.0).limit == risk.DAILY_LOSS


def test_consecutive_losses_count_after_fees_and_reset_on_a_win():
    r = RiskLimits(RiskSettings(max_consecutive_losses=3))
    assert r.on_round_trip(0, -1.0, 0.1) is None  # 1
    assert r.on_round_trip(1, 0.5, 0.6) is None  # gross win, net loss -0.1: 2
    assert r.losses_in_row == 2
    assert r.on_round_trip(2, 0.6, 0.6) is None  # break-even after fees: reset
    assert r.losses_in_row == 0
    assert r.on_round_trip(3, -1.0, 0.0) is None
    assert r.on_round_trip(4, -1.0, 0.0) is None
    halt = r.on_round_trip(5, -1.0, 0.0)
    assert halt.limit == risk.CONSECUTIVE_LOSSES and "3 losing" in halt.detail


def test_orders_per_minute_over_a_trailing_60_s():
    r = RiskLimits(RiskSettings(max_orders_per_minute=3))
    for t in (0, 10, 59):
        assert r.on_order(t * S) is None
    # At 60 s the order of 0 s has left the window (it is exactly 60 s old): 3 in the window.
    assert r.on_order(60 * S) is None
    # At 61 s: 10, 59, 60, 61 -> 4 > 3.
    halt = r.on_order(61 * S)
    assert halt.limit == risk.ORDER_RATE and "4 orders" in halt.detail


def test_position_notional_trips_above_the_limit():
    r = RiskLimits(RiskSettings(max_position_notional=1000.0))
    assert r.check(0, 0.0, 1000.0) is None
    assert r.check(1, 0.0, 1000.5).limit == risk.MAX_POSITION_NOTIONAL


def test_limits_off_by_default():
    r = RiskLimits(RiskSettings())
    for t in range(1000):
        assert r.on_order(t) is None
        assert r.on_round_trip(t, -1e6, 0.0) is None
    assert r.check(0, -1e9, 1e12) is None


def test_halt_in_the_state_file_survives_and_is_cleared(tmp_path):
    path = tmp_path / "state.json"
    assert risk.read_halt(path) is None
    halt = Halt(risk.DAILY_LOSS, "day P&L -10", 123)
    # The warm state's save carries the halt beside the pipeline (any age of file).
    path.write_text(json.dumps({"format": "x", "saved_ns": 0, "pipeline": {"a": 1}, **risk.halt_record(halt)}))
    assert risk.read_halt(path) == halt
    assert risk.clear_halt(path) == halt
    assert risk.read_halt(path) is None
    assert json.loads(path.read_text())["pipeline"] == {"a": 1}  # the warm state is kept
    assert risk.clear_halt(path) is None


def test_unreadable_state_file_counts_as_halted(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{not json")
    halt = risk.read_halt(path)
    assert halt is not None and halt.limit == "state_file"
    risk.clear_halt(path)
    assert risk.read_halt(path) is None


# ---------------------------------------------------------------------- the same limits in a backtest


def _backtest(**risk_settings):
    from scalp_nautilus.strategy import ScalpStrategy
    from tests.strategy_harness import run_engine
    from tests.strategy_harness import scalp_config
    from tests.strategy_harness import simulated

    instrument, events = simulated(8.0)
    flatten = pd.Timestamp(max(e.ts_init for e in events) - 5 * S, tz="UTC").isoformat()
    strategy = ScalpStrategy(scalp_config(str(instrument.id), "R", orders={"flatten_at": flatten}, risk=risk_settings))
    engine = run_engine(instrument, events, [strategy])
    orders = engine.trader.generate_orders_report()
    positions = engine.trader.generate_positions_report()
    report = strategy.report()
    engine.dispose()
    return strategy, report, orders, positions


def test_backtest_kill_switch_after_the_first_losing_round_trip():
    """Backtests apply the strategy's limits: with max_consecutive_losses 1 the first round trip
    that loses after fees halts the strategy; no entry is sent after it and nothing stays open."""
    _, free_report, _, _ = _backtest()
    trips = free_report.round_trips
    first_loss = next(i for i, t in enumerate(trips) if t.realized_pnl < 0)  # Nautilus's: after commissions
    assert len(trips) > first_loss + 1, "the unlimited run must trade on after its first loss for this test to mean anything"
    strategy, report, orders, positions = _backtest(max_consecutive_losses=1)
    halt = strategy.risk.halt
    assert halt is not None and halt.limit == risk.CONSECUTIVE_LOSSES
    # The same trades as the unlimited run up to and including the first loss, then none.
    expected = [(t.ts_opened, t.realized_pnl) for t in trips[: first_loss + 1]]
    assert [(t.ts_opened, t.realized_pnl) for t in report.round_trips] == expected
    assert halt.ts_ns == trips[first_loss].ts_closed
    entries = orders[orders["tags"].astype(str).str.contains("entry:")]
    assert (pd.to_datetime(entries["ts_init"], utc=True) <= pd.Timestamp(halt.ts_ns, tz="UTC")).all()
    assert positions["ts_closed"].notna().all() and report.outcomes["closed"] > 0


def test_backtest_order_rate_trips_and_flattens():
    """max_orders_per_minute 2: the entry and its protective stop are two orders; the third in the
    same minute trips the switch (the exit still goes) and the position ends flat."""
    strategy, report, _, positions = _backtest(max_orders_per_minute=2)
    halt = strategy.risk.halt
    assert halt is not None and halt.limit == risk.ORDER_RATE and "3 orders" in halt.detail
    assert report.outcomes["taken"] == 1 and positions["ts_closed"].notna().all()


def test_backtest_daily_loss_limit_trips_on_the_running_day_pnl():
    """daily_loss_limit at half the unlimited run's worst running day P&L (by hand from its round
    trips: gross - fees, no funding in the simulation): the switch trips no later than the round
    trip that first takes the running sum below the limit, and nothing is entered after it."""
    _, free_report, _, _ = _backtest()
    running, worst = 0.0, 0.0
    for t in free_report.round_trips:
        running += t.realized_pnl  # Nautilus's realised P&L is after commissions
        worst = min(worst, running)
    assert worst < 0.0, "the unlimited run never lost: this test needs a losing stretch"
    limit = -worst / 2
    first_below = next(t for t in _cumulative(free_report.round_trips) if t[0] <= -limit)[1]
    strategy, _, orders, positions = _backtest(daily_loss_limit=limit)
    halt = strategy.risk.halt
    assert halt is not None and halt.limit == risk.DAILY_LOSS
    assert halt.ts_ns <= first_below.ts_closed  # unrealised losses and entry fees can trip it earlier
    entries = orders[orders["tags"].astype(str).str.contains("entry:")]
    assert (pd.to_datetime(entries["ts_init"], utc=True) <= pd.Timestamp(halt.ts_ns, tz="UTC")).all()
    assert positions["ts_closed"].notna().all()


def _cumulative(trips):
    running = 0.0
    for t in trips:
        running += t.realized_pnl
        yield running, t
