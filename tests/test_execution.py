"""`Execution` on its own (no engine): the orders it sends for a decision, the latch, the exits it
places around a fill, the pause after a rejection. The venue is played by the test (FakePort)."""

from __future__ import annotations

import pytest

from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import OrderType
from nautilus_trader.model.enums import TimeInForce

from scalp_nautilus.strategy.decision import EXIT
from scalp_nautilus.strategy.decision import Decision
from tests.execution_harness import S
from tests.execution_harness import entry
from tests.execution_harness import execution
from tests.execution_harness import row

BID, ASK = 39_999.9, 40_000.1


def test_taker_entry_is_an_ioc_limit_through_the_touch_and_latches():
    ex, port = execution()
    ex.on_batch(row(), BID, ASK)
    ex.act(entry(1))
    [(order, _)] = port.submitted
    # 5 bps through the ask, on the tick grid: 40,000.1 x 1.0005 = 40,020.10005 -> 40,020.1
    assert (order.side, order.order_type, order.time_in_force) == (OrderSide.BUY, OrderType.LIMIT, TimeInForce.IOC)
    assert float(order.price) == pytest.approx(40_020.1) and float(order.quantity) == 0.05
    assert ex.state.order_pending and ex.pending == order.client_order_id
    port.accept(order)
    ex.on_order_event(port.fill(order, 0.05, ASK))
    ex.on_position(port.position_event())
    # exits around the fill price: stop 20 below, take-profit 10 above
    assert (ex.state.side, ex.state.stop_price, ex.state.take_profit_price) == (1, ASK - 20.0, ASK + 10.0)
    assert not ex.state.order_pending


def test_exit_is_a_reduce_only_market_order_for_the_position():
    ex, port = execution()
    ex.on_batch(row(), BID, ASK)
    ex.act(entry(-1))
    [(order, _)] = port.submitted
    port.accept(order)
    ex.on_order_event(port.fill(order, 0.05, BID))
    ex.on_position(port.position_event())
    ex.act(Decision(EXIT, "stop"))
    exit_order, position_id = port.submitted[-1]
    assert (exit_order.side, exit_order.order_type, exit_order.is_reduce_only) == (OrderSide.BUY, OrderType.MARKET, True)
    assert float(exit_order.quantity) == 0.05 and position_id is not None
    assert ex.exit_reason == "stop" and ex.state.order_pending


def test_a_rejection_holds_the_latch_for_the_pause_in_exchange_time():
    ex, port = execution(orders={"reject_pause_s": 1.0})
    t0 = 1_000 * S
    ex.on_batch(row(ts_event=t0), BID, ASK)
    ex.act(entry(1))
    [(order, _)] = port.submitted
    ex.on_order_event(port.reject(order))
    assert ex.state.order_pending and len(port.warnings) == 1
    ex.on_batch(row(ts_event=t0 + S - 1), BID, ASK)
    assert ex.state.order_pending
    ex.on_batch(row(ts_event=t0 + S), BID, ASK)
    assert not ex.state.order_pending
