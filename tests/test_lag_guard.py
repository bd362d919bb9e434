"""The lag guard (`strategy.lag`): its statistics against numpy, its hysteresis, and the strategy
inside a BacktestEngine fed a book that arrives late (each batch received 2 s after its exchange
time for three minutes, then a catch-up burst): entries stop while it is late, are counted as
`lag`, and resume once caught up; exits are not blocked; the status reports the lateness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.data import TradeTick

from scalp_nautilus.strategy import ScalpStrategy
from scalp_nautilus.strategy.lag import LagGuard
from scalp_nautilus.strategy.lag import LagHistogram
from tests.strategy_harness import S
from tests.strategy_harness import run_engine
from tests.strategy_harness import scalp_config
from tests.strategy_harness import simulated

MS = 1_000_000


def test_histogram_quantiles_within_its_resolution():
    rng = np.random.default_rng(3)
    samples = np.concatenate([rng.lognormal(np.log(2e6), 1.0, 20_000), -rng.uniform(0, 1e6, 500)]).astype(np.int64)
    h = LagHistogram()
    for x in samples:
        h.add(int(x))
    for q in (0.5, 0.9, 0.99):
        exact = np.quantile(samples, q) / MS
        assert h.quantile(q) == pytest.approx(exact, rel=0.05)
    assert h.quantile(0.01) == 0.0  # negative lags (the exchange clock ahead) sit below every bucket
    assert np.isnan(LagHistogram().quantile(0.5))


def test_guard_engages_above_the_limit_and_releases_once_caught_up():
    guard = LagGuard(max_ms=500.0, resume_ms=100.0, window=8)
    now = 10 * S
    assert guard.observe(now, now - 400 * MS, now) is None  # under the limit
    assert guard.observe(now, now - 10 * MS, now - 600 * MS) is True  # the queue alone passes it
    assert guard.observe(now, now - 300 * MS, now) is None  # better, not caught up
    assert guard.observe(now, now - 90 * MS, now - 5 * MS) is False  # within resume_ms of both clocks
    assert (guard.engaged, guard.engagements, guard.worst_ns) == (False, 1, 600 * MS)
    assert guard.exchange.recent_ms(1.0) == 400.0 and guard.queue.recent_ms(1.0) == 600.0
    # A replay faster than real time: event times ahead of the clock; the queue still counts.
    assert guard.observe(now, now + 60 * S, now - 700 * MS) is True


def _late(events, start_ns: int, end_ns: int, delay_ns: int) -> list:
    """The book and trades with exchange time in [start, end) received `delay` late; those after
    `end` received no earlier than the last late one (a burst that catches up), order kept."""
    out, floor = [], 0
    for e in events:
        if not isinstance(e, (OrderBookDelta, TradeTick)) or e.ts_event < start_ns:
            out.append(e)
            continue
        ts_init = e.ts_event + delay_ns if e.ts_event < end_ns else max(e.ts_event, floor)
        floor = max(floor, ts_init)
        if isinstance(e, OrderBookDelta):
            out.append(OrderBookDelta(e.instrument_id, e.action, e.order, e.flags, e.sequence, e.ts_event, ts_init))
        else:
            out.append(
                TradeTick(e.instrument_id, e.price, e.size, e.aggressor_side, e.trade_id, e.ts_event, ts_init),
            )
    return out


def _entries(engine) -> list[int]:
    orders = engine.trader.generate_orders_report()
    mine = orders[orders["tags"].astype(str).str.contains("entry:")]
    return sorted(pd.to_datetime(mine["ts_init"], utc=True).astype("int64"))


@pytest.mark.slow
def test_a_late_book_stops_entries_until_caught_up():
    instrument, events = simulated(8.0)
    start = min(e.ts_event for e in events if isinstance(e, OrderBookDelta))
    late_from, late_to, delay = start + 150 * S, start + 330 * S, 2 * S
    lag = {"max_ms": 1000.0, "resume_ms": 100.0}
    on_time = ScalpStrategy(scalp_config(str(instrument.id), "A", lag=lag))
    engine = run_engine(instrument, events, [on_time])
    entries_on_time = _entries(engine)
    engine.dispose()
    late = ScalpStrategy(scalp_config(str(instrument.id), "B", lag=lag))
    engine = run_engine(instrument, _late(events, late_from, late_to, delay), [late])
    entries_late = _entries(engine)
    engine.dispose()
    # Without lateness the strategy enters inside the window (so blocking there is observable).
    assert [t for t in entries_on_time if late_from <= t < late_to]
    # Late: no entry is sent while the book is 2 s behind (the catch-up burst, whose batches
    # arrive at once from late_to + delay - a few ms on, excluded); each entry taken is counted.
    assert not [t for t in entries_late if late_from + delay <= t < late_to + delay - S // 5]
    assert late.outcomes["lag"] > 0 and on_time.outcomes["lag"] == 0
    assert late.lag.engagements == 1 and not late.lag.engaged  # released after the catch-up
    assert [t for t in entries_late if t >= late_to + delay], "entries never resumed"
    # The lateness is measured (p99 of the session: 2 s) and nothing was lost on the way.
    assert late.lag.exchange.session.quantile(0.99) == pytest.approx(2000.0, rel=0.05)
    assert on_time.lag.exchange.session.quantile(0.99) < 100.0 and on_time.lag.engagements == 0  # the simulator's feed delay
    assert late.batches == on_time.batches
    # Exits are never blocked: every position but one still open when the data ends closed by an exit.
    assert len(late.round_trips) >= len(entries_late) - 1 and all(t.exit_reason for t in late.round_trips)
