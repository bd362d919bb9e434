"""The protective stop at the exchange (`Execution`, engine-free): placed once an entry has filled,
at `exchange_stop_k` x the plan's stop distance, re-sized, cancelled when flat, replaced for an
adopted position, and a market exit when the venue refuses it. Prices by hand on the 0.1 tick."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import OrderType
from nautilus_trader.model.enums import TimeInForce
from nautilus_trader.model.enums import TriggerType
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity
from nautilus_trader.test_kit.stubs.events import TestEventStubs

from scalp_nautilus.strategy.decision import EXIT
from scalp_nautilus.strategy.decision import Decision
from scalp_nautilus.strategy.execution import EXCHANGE_STOP
from tests.execution_harness import INSTRUMENT
from tests.execution_harness import S
from tests.execution_harness import entry
from tests.execution_harness import execution as _execution
from tests.execution_harness import row

BID, ASK = 39_999.9, 40_000.1


def execution(**sections):
    """The harness's `Execution` with the protective stop on (k = 2 unless a test sets it)."""
    exits = {"exchange_stop_k": 2.0, **sections.pop("exits", {})}
    return _execution(exits=exits, **sections)


def filled_long(ex, port, size=0.05, stop=20.0):
    ex.on_batch(row(), BID, ASK)
    ex.act(entry(1, size=size, stop=stop))
    order = port.submitted[-1][0]
    port.accept(order)
    ex.on_order_event(port.fill(order, size, ASK))
    ex.on_position(port.position_event())
    return order


def closed_event(realized=-1.0):
    return SimpleNamespace(
        ts_opened=1,
        ts_closed=2 * S,
        entry=OrderSide.BUY,
        peak_qty=Quantity(0.05, 3),
        avg_px_open=ASK,
        avg_px_close=BID,
        realized_pnl=SimpleNamespace(as_double=lambda: realized),
    )


def test_a_filled_entry_gets_a_reduce_only_stop_at_k_times_the_stop_distance():
    ex, port = execution(exits={"exchange_stop_k": 2.5, "exchange_stop_trigger": "mark"})
    filled_long(ex, port, stop=20.0)
    stop, position_id = port.submitted[-1]
    # Long 0.05 @ 40,000.1; strategy stop 20 below; the exchange's 2.5 x 20 = 50 below: 39,950.1.
    assert (stop.side, stop.order_type, stop.is_reduce_only, stop.time_in_force) == (
        OrderSide.SELL,
        OrderType.STOP_MARKET,
        True,
        TimeInForce.GTC,
    )
    assert float(stop.trigger_price) == pytest.approx(39_950.1) and float(stop.quantity) == 0.05
    assert stop.trigger_type == TriggerType.MARK_PRICE and stop.tags == [EXCHANGE_STOP] and position_id is not None
    assert ex.state.stop_price == pytest.approx(ASK - 20.0)  # the strategy's own stop is the nearer one
    assert not ex.state.order_pending  # the resting stop holds no latch: exits still go
    # Further position events for the same size place nothing more.
    ex.on_position(port.position_event())
    assert len(port.submitted) == 2


def test_short_stop_sits_above_and_last_price_trigger():
    ex, port = execution(exits={"exchange_stop_k": 2.0, "exchange_stop_trigger": "last"})
    ex.on_batch(row(), BID, ASK)
    ex.act(entry(-1, stop=15.0))
    order = port.submitted[-1][0]
    port.accept(order)
    ex.on_order_event(port.fill(order, 0.05, BID))
    ex.on_position(port.position_event())
    stop = port.submitted[-1][0]
    assert stop.side == OrderSide.BUY and float(stop.trigger_price) == pytest.approx(BID + 30.0)
    assert stop.trigger_type == TriggerType.LAST_PRICE


def test_no_stop_while_the_entry_still_fills_then_one_for_what_filled():
    ex, port = execution()
    ex.on_batch(row(), BID, ASK)
    ex.act(entry(1, size=0.05))
    order = port.submitted[-1][0]
    port.accept(order)
    ex.on_order_event(port.fill(order, 0.02, ASK))  # IOC: part filled...
    ex.on_position(port.position_event())
    assert len(port.submitted) == 1  # ...the entry is still in flight: no stop yet
    event = TestEventStubs.order_canceled(order)  # ...and the rest cancelled
    order.apply(event)
    ex.on_order_event(event)
    stop = port.submitted[-1][0]
    assert stop.order_type == OrderType.STOP_MARKET and float(stop.quantity) == 0.02


def _closed_by_take_profit():
    ex, port = execution()
    filled_long(ex, port)
    stop = port.submitted[-1][0]
    port.accept(stop)
    ex.act(Decision(EXIT, "take_profit"))
    exit_order = port.submitted[-1][0]
    port.accept(exit_order)
    ex.on_order_event(port.fill(exit_order, 0.05, BID))
    trip = ex.on_position_closed(closed_event(), 0.0)
    assert trip.exit_reason == "take_profit" and ex.stop_order is None
    return ex, port, stop


def test_stop_still_open_at_the_next_batch_after_the_close_is_cancelled_and_no_other_placed():
    ex, port, stop = _closed_by_take_profit()
    assert port.cancels == []  # not at the close: the venue usually cancels it itself
    ex.on_batch(row(), BID, ASK)
    assert port.cancels == [stop.client_order_id]
    ex.on_order_event(port.canceled(stop))
    ex.on_batch(row(), BID, ASK)
    assert port.cancels == [stop.client_order_id]  # once
    assert len(port.submitted) == 3 and not ex.state.order_pending


def test_stop_the_venue_cancelled_at_the_close_gets_no_cancel_of_ours():
    """Nautilus's matching engine cancels a closed position's reduce-only orders at the closing fill:
    a cancel of ours would only come back refused ("not found")."""
    ex, port, stop = _closed_by_take_profit()
    ex.on_order_event(port.canceled(stop))
    ex.on_batch(row(), BID, ASK)
    assert port.cancels == [] and len(port.submitted) == 3


def test_a_refused_stop_closes_the_position_at_market():
    ex, port = execution()
    filled_long(ex, port)
    stop = port.submitted[-1][0]
    ex.on_order_event(port.reject(stop))
    exit_order, _ = port.submitted[-1]
    assert (exit_order.order_type, exit_order.is_reduce_only, exit_order.side) == (OrderType.MARKET, True, OrderSide.SELL)
    assert exit_order.tags == ["exit:stop_rejected"] and ex.exit_reason == "stop_rejected"
    assert len(port.errors) == 1 and "refused" in port.errors[0]


def test_a_position_the_stop_closed_is_an_exchange_stop_round_trip():
    ex, port = execution()
    filled_long(ex, port)
    stop = port.submitted[-1][0]
    port.accept(stop)
    ex.on_order_event(port.fill(stop, 0.05, 39_959.0))
    trip = ex.on_position_closed(closed_event(), 0.0)
    assert trip.exit_reason == EXCHANGE_STOP and port.cancels == []


def test_adoption_cancels_stale_stops_and_protects_the_adopted_position():
    ex, port = execution(exits={"exchange_stop_k": 2.0, "stop_k": 2.0, "stop_horizon_s": 1.0})
    # A stop left at the venue by the previous session, reconciled as an open order.
    stale = port.order_factory.stop_market(INSTRUMENT.id, OrderSide.SELL, Quantity(0.05, 3), Price(39_000.0, 1), reduce_only=True)
    port.submit(stale)
    port.accept(stale)
    port.signed_qty, port.avg_px = 0.05, 40_000.0
    ex.adopt()
    assert port.cancels == [stale.client_order_id] and not ex.state.order_pending
    # The first valid batch plans the exits: stop distance 2 x blend_vol (2e-5) x mid 40,000 x sqrt(1) = 1.6.
    ex.on_batch(row(), BID, ASK)
    stop = port.submitted[-1][0]
    assert stop is not stale and float(stop.trigger_price) == pytest.approx(round(40_000.0 - 2.0 * 1.6, 1))


def test_no_stop_with_k_zero():
    ex, port = execution(exits={"exchange_stop_k": 0.0})
    filled_long(ex, port)
    assert len(port.submitted) == 1


def test_beside_a_resting_maker_take_profit():
    """With a maker take-profit resting, the stop rests too; neither holds the latch; the kill
    switch's cancel leaves both (the exit takes the take-profit, the close the stop); a filled
    take-profit closes the round trip and the stop, still open at the next batch, is cancelled."""
    ex, port = execution(exits={"take_profit_order": "maker"})
    filled_long(ex, port)
    (tp, _), (stop, _) = port.submitted[-2:]
    assert tp.is_post_only and tp.is_reduce_only and stop.order_type == OrderType.STOP_MARKET
    port.accept(tp)
    port.accept(stop)
    assert not ex.state.order_pending and ex._working_orders() == []
    ex.cancel_working()
    assert port.cancels == []
    ex.on_order_event(port.fill(tp, 0.05, float(tp.price)))
    trip = ex.on_position_closed(closed_event(0.5), 0.0)
    ex.on_batch(row(), BID, ASK)
    assert trip.exit_reason == "take_profit" and port.cancels == [stop.client_order_id]
