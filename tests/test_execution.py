"""`Execution` on its own (no engine): the orders it sends for a decision, the latch, the exits it
places around a fill, the pause after a rejection. The venue is played by the test (FakePort)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import OrderType
from nautilus_trader.model.enums import TimeInForce
from nautilus_trader.test_kit.stubs.events import TestEventStubs

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


# ---------------------------------------------------------------------- maker entries


MAKER = {"orders": {"entry": "maker", "maker_ttl_ms": 2_000.0, "reprice_ticks": 1}}


def _live_count(port) -> int:
    return len(port.live())


@given(bid=st.integers(100_000, 1_000_000), spread=st.integers(1, 50), direction=st.sampled_from([1, -1]))
@settings(max_examples=200, deadline=None)
def test_post_only_never_crosses(bid, spread, direction):
    """A maker entry joins its own side of the touch: a buy at the best bid, below the ask; a sell
    at the best ask, above the bid; post-only, so the venue refuses it rather than let it take."""
    b, a = bid / 10, (bid + spread) / 10  # on the 0.1 tick grid
    ex, port = execution(**MAKER)
    ex.on_batch(row(), b, a)
    ex.act(entry(direction))
    [(order, _)] = port.submitted
    assert order.is_post_only and order.order_type == OrderType.LIMIT
    px = order.price.as_double()
    if direction > 0:
        assert px == pytest.approx(b) and px < a
    else:
        assert px == pytest.approx(a) and px > b


def _posted(**sections):
    ex, port = execution(**{**MAKER, **sections})
    t0 = 1_000 * S
    ex.on_batch(row(ts_event=t0), BID, ASK)
    ex.act(entry(1))
    [(order, _)] = port.submitted
    ex.on_order_event(port.accept(order))
    return ex, port, order, t0


def test_a_resting_entry_is_cancelled_after_its_ttl():
    ex, port, order, t0 = _posted()
    same = entry(1)
    ex.on_batch(row(ts_event=t0 + 1_999_999_999), BID, ASK, same)
    assert port.cancels == []
    ex.on_batch(row(ts_event=t0 + 2 * S), BID, ASK, same)
    assert port.cancels == [order.client_order_id] and ex.counts["cancel_ttl"] == 1
    ex.on_batch(row(ts_event=t0 + 2 * S + 1), BID, ASK, same)
    assert len(port.cancels) == 1  # one cancel request, not one per batch
    ex.on_order_event(port.canceled(order))
    assert not ex.state.order_pending and ex.plan is None and len(port.submitted) == 1


def test_a_resting_entry_is_cancelled_when_the_signal_is_gone():
    ex, port, order, t0 = _posted()
    ex.on_batch(row(ts_event=t0 + S), BID, ASK, entry(-1))  # the signal turned
    assert port.cancels == [order.client_order_id] and ex.counts["cancel_signal"] == 1


def test_a_reprice_never_leaves_two_orders_live():
    """The bid moves up a tick: cancel, and only once the venue confirmed it, the new order at the
    new bid; the latch holds throughout, and the venue never holds two orders of ours."""
    ex, port, order, t0 = _posted()
    ex.on_batch(row(ts_event=t0 + 100_000_000), BID + 0.1, ASK + 0.1, entry(1, size=0.04))
    assert port.cancels == [order.client_order_id] and len(port.submitted) == 1
    assert ex.state.order_pending and _live_count(port) <= 1
    ex.on_batch(row(ts_event=t0 + 110_000_000), BID + 0.2, ASK + 0.2, entry(1, size=0.04))  # cancel still in flight
    assert len(port.submitted) == 1 and len(port.cancels) == 1
    ex.on_order_event(port.canceled(order))
    assert len(port.submitted) == 2 and ex.state.order_pending and ex.counts["reprices"] == 1
    new, _ = port.submitted[1]
    assert new.price.as_double() == pytest.approx(BID + 0.2) and new.quantity.as_double() == 0.04
    assert _live_count(port) <= 1
    # the new order's TTL counts from its own posting
    port.accept(new)
    ex.on_batch(row(ts_event=t0 + 2 * S), BID + 0.2, ASK + 0.2, entry(1, size=0.04))
    assert len(port.cancels) == 1


def test_a_fill_racing_the_reprice_cancel_is_kept_and_not_reposted():
    ex, port, order, t0 = _posted()
    ex.on_batch(row(ts_event=t0 + S // 10), BID + 0.1, ASK + 0.1, entry(1))
    ex.on_order_event(port.fill(order, 0.05, BID, maker=True))
    assert len(port.submitted) == 1 and ex.counts["maker_filled"] == 1 and ex.counts["reprices"] == 0
    ex.on_position(port.position_event())
    assert ex.state.side == 1 and not ex.state.order_pending


@pytest.mark.parametrize("tp_mode", ["taker", "maker"])
def test_a_partial_fills_exits_match_the_filled_size(tp_mode):
    ex, port, order, _ = _posted(exits={"take_profit_order": tp_mode})
    ex.on_order_event(port.fill(order, 0.02, BID, maker=True))
    ex.on_position(port.position_event())
    assert port.cancels == [order.client_order_id] and ex.counts["partial_fills"] == 1
    assert ex.state.order_pending  # until the rest is cancelled
    ex.on_order_event(port.canceled(order))
    assert not ex.state.order_pending and ex.state.side == 1
    if tp_mode == "maker":
        tp, _ = port.submitted[-1]
        assert tp.is_reduce_only and tp.is_post_only and tp.quantity.as_double() == 0.02
        assert tp.price.as_double() == pytest.approx(BID + 10.0)
        port.accept(tp)
        ex.act(Decision(EXIT, "stop"))  # the stop first cancels the take-profit...
        assert port.cancels[-1] == tp.client_order_id and port.submitted[-1][0] is tp
        ex.on_order_event(port.canceled(tp))  # ...then goes out at market for the position
    else:
        ex.act(Decision(EXIT, "stop"))
    exit_order, _ = port.submitted[-1]
    assert exit_order.order_type == OrderType.MARKET and exit_order.quantity.as_double() == 0.02


def test_a_post_only_refusal_is_counted_and_is_no_error():
    ex, port = execution(**MAKER)
    ex.on_batch(row(), BID, ASK)
    ex.act(entry(1))
    [(order, _)] = port.submitted
    event = TestEventStubs.order_rejected(order)
    event = type(event)(
        event.trader_id,
        event.strategy_id,
        event.instrument_id,
        event.client_order_id,
        event.account_id,
        "POST_ONLY",
        event.id,
        0,
        0,
        False,
        True,
    )  # due_post_only
    order.apply(event)
    ex.on_order_event(event)
    assert ex.counts["post_only_refusals"] == 1 and not ex.state.order_pending and port.warnings == []


def test_a_maker_take_profit_rests_from_the_fill_on_on_the_tick_grid():
    ex, port = execution(exits={"take_profit_order": "maker"})
    ex.on_batch(row(), BID, ASK)
    ex.act(entry(-1, take_profit=10.04))  # a short: take-profit below, rounded down to the tick
    [(order, _)] = port.submitted
    port.accept(order)
    ex.on_order_event(port.fill(order, 0.05, BID))
    ex.on_position(port.position_event())
    tp, position_id = port.submitted[-1]
    assert (tp.side, tp.is_reduce_only, tp.is_post_only, position_id is not None) == (OrderSide.BUY, True, True, True)
    assert tp.price.as_double() == pytest.approx(39_989.8)  # 39,999.9 - 10.04 = 39,989.86 -> 39,989.8
    assert ex.state.take_profit_price == 0.0 and not ex.state.order_pending  # rests without the latch
    port.accept(tp)
    ex.on_order_event(port.fill(tp, 0.05, 39_989.8, maker=True))
    assert ex.exit_reason == "take_profit" and ex.take_profit is None


def test_a_taker_take_profit_is_a_reduce_only_ioc_limit_at_its_price():
    ex, port = execution()
    ex.on_batch(row(), BID, ASK)
    ex.act(entry(1, take_profit=10.04))  # 40,000.1 + 10.04 = 40,010.14 -> up to 40,010.2
    [(order, _)] = port.submitted
    port.accept(order)
    ex.on_order_event(port.fill(order, 0.05, ASK))
    ex.on_position(port.position_event())
    assert ex.state.take_profit_price == pytest.approx(40_010.2)
    ex.act(Decision(EXIT, "take_profit"))
    tp, _ = port.submitted[-1]
    assert (tp.order_type, tp.time_in_force, tp.is_reduce_only) == (OrderType.LIMIT, TimeInForce.IOC, True)
    assert (tp.side, tp.price.as_double(), tp.quantity.as_double()) == (OrderSide.SELL, pytest.approx(40_010.2), 0.05)


def _cancel_rejected(order):
    from nautilus_trader.core.uuid import UUID4
    from nautilus_trader.model.events import OrderCancelRejected

    return OrderCancelRejected(
        order.trader_id,
        order.strategy_id,
        order.instrument_id,
        order.client_order_id,
        order.venue_order_id,
        order.account_id,
        "TOO_LATE",
        UUID4(),
        0,
        0,
    )


def test_a_refused_cancel_of_the_take_profit_does_not_hold_back_the_stop():
    ex, port = execution(exits={"take_profit_order": "maker"})
    ex.on_batch(row(), BID, ASK)
    ex.act(entry(1))
    [(order, _)] = port.submitted
    port.accept(order)
    ex.on_order_event(port.fill(order, 0.05, ASK))
    ex.on_position(port.position_event())
    tp, _ = port.submitted[-1]
    port.accept(tp)
    ex.act(Decision(EXIT, "stop"))
    assert port.submitted[-1][0] is tp  # waiting for the cancel
    ex.on_order_event(_cancel_rejected(tp))
    stop, _ = port.submitted[-1]
    assert stop.order_type == OrderType.MARKET and stop.is_reduce_only and ex.pending == stop.client_order_id


def test_a_refused_cancel_of_a_resting_entry_is_tried_again_and_a_silent_feed_withdraws_it():
    ex, port, order, t0 = _posted()
    ex.on_batch(row(ts_event=t0 + 2 * S), BID, ASK, entry(1))
    assert ex.counts["cancel_ttl"] == 1
    ex.on_order_event(_cancel_rejected(order))
    ex.on_batch(row(ts_event=t0 + 2 * S + 1), BID, ASK, entry(1))
    assert port.cancels == [order.client_order_id] * 2 and ex.counts["cancel_ttl"] == 2
    ex2, port2, order2, _ = _posted()
    ex2.on_stale_feed()
    assert port2.cancels == [order2.client_order_id] and ex2.counts["cancel_stale_feed"] == 1
