"""The counters issue 26 found wrong (item 3), in a BacktestEngine; each failed before its fix:

- entries blocked by a halt counted as `closed` (the outcome of `orders.flatten_at`), not `halted`
  (`Execution`'s `Trading.HALTED`);
- the exits line had no counter for the exits the exchange stop made, and counted exit decisions
  (a taker take-profit that did not fill and the stop after it: two for one round trip); it now
  counts each round trip once, by what closed it (`ExitLeg`'s reason).
"""

from __future__ import annotations

import pytest

from nautilus_trader.model.data import OrderBookDelta

from scalp_nautilus.backtest.report import strategy_table
from scalp_nautilus.strategy import ScalpStrategy
from tests.strategy_harness import ForcedEntry
from tests.strategy_harness import S
from tests.strategy_harness import forced_plan
from tests.strategy_harness import run_engine
from tests.strategy_harness import scalp_config
from tests.strategy_harness import simulated

pytestmark = pytest.mark.slow


def test_entries_blocked_by_a_halt_count_as_halted():
    """A position limit below any entry's notional: the first entry trips the kill switch; every
    flat batch after it is an entry refused because of the halt, not because trading closed."""
    instrument, events = simulated(8.0)
    strategy = ScalpStrategy(scalp_config(str(instrument.id), "H", risk={"max_position_notional": 1.0}))
    engine = run_engine(instrument, events, [strategy])
    engine.dispose()
    assert strategy.risk.halted
    assert strategy.outcomes["closed"] == 0 and strategy.outcomes["halted"] > 0


def test_an_exit_the_exchange_stop_made_has_its_own_counter():
    """The exchange stop nearer than the strategy's own (`exchange_stop_k` 0.5) closes a forced long
    (and every other position) when the price falls: the report's exits line counts them under
    `exchange_stop`."""
    instrument, events = simulated(8.0)
    start = min(e.ts_event for e in events if isinstance(e, OrderBookDelta))
    config = scalp_config(str(instrument.id), "X", exits={"exchange_stop_k": 0.5, "time_stop_s": 0.0, "take_profit_k": 0.0})
    strategy = ForcedEntry(config, start + 240 * S, forced_plan(1, 0.05, stop_distance=4.0))
    engine = run_engine(instrument, events, [strategy])
    report = strategy.report()
    engine.dispose()
    trip = next(t for t in report.round_trips if t.kind == "forced")
    assert trip.exit_reason == "exchange_stop"  # the setup: the exchange stop closed it
    [exits] = [line for line in strategy_table(report, 10_000.0, 0.0) if line.strip().startswith("exits ")]
    by_stop = sum(t.exit_reason == "exchange_stop" for t in report.round_trips)  # every trip: k < 1 for all
    assert by_stop >= 1 and f"exchange_stop {by_stop}" in exits
    # Every round trip once, whatever the decisions tried on the way.
    counted = sum(int(part.rsplit(" ", 1)[1]) for part in exits.split(") ", 1)[1].split(", "))
    assert counted == len(report.round_trips)
