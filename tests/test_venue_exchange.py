"""The replay venue's fill model (`scalp_nautilus/live/venue/exchange.py`) on a hand-made book:
fills, fees and P&L against hand computations, and each refusal with Binance's code."""

from __future__ import annotations

import pytest

from scalp_nautilus.fees import FeeSchedule
from scalp_nautilus.instruments import resolve_spec
from scalp_nautilus.live.venue.binance_json import binance_error
from scalp_nautilus.live.venue.capture_feed import VenueBook
from scalp_nautilus.live.venue.exchange import Exchange
from scalp_nautilus.live.venue.exchange import ExchangeSettings
from scalp_nautilus.live.venue.exchange import Reason
from scalp_nautilus.live.venue.exchange import Rejected

BIDS = [["29999.9", "0.300"], ["29999.8", "0.400"], ["29999.7", "0.300"]]
ASKS = [["30000.0", "0.200"], ["30000.1", "0.200"], ["30000.2", "1.000"]]
TAKER, MAKER = 0.0005, 0.0002


@pytest.fixture
def ex() -> Exchange:
    book = VenueBook()
    book.apply_snapshot({"lastUpdateId": 10, "T": 1_000, "bids": BIDS, "asks": ASKS})
    return Exchange(
        resolve_spec("BINANCE", "BTCUSDT"), ExchangeSettings(fees=FeeSchedule(maker_rate=MAKER, taker_rate=TAKER)), book
    )


def order(ex, now=1, **p):
    params = {"symbol": "BTCUSDT", **{k: str(v) for k, v in p.items()}}
    o = ex.new_order(params, now)
    return o, ex.match(o, now)


def test_market_order_walks_the_book_and_uses_up_what_it_took(ex):
    o, fills = order(ex, side="BUY", type="MARKET", quantity="0.500")
    assert [(f.price, f.qty) for f in fills] == [(30000.0, 0.2), (30000.1, 0.2), (30000.2, 0.1)]
    vwap = (30000.0 * 0.2 + 30000.1 * 0.2 + 30000.2 * 0.1) / 0.5
    assert o.status == "FILLED" and o.avg_price == pytest.approx(vwap, abs=1e-9)
    assert sum(f.commission for f in fills) == pytest.approx(TAKER * vwap * 0.5, abs=1e-9)
    assert ex.position == 0.5 and ex.entry_price == pytest.approx(vwap, abs=1e-9)
    # The first two levels are used up until the stream updates them.
    _, again = order(ex, side="BUY", type="MARKET", quantity="0.300")
    assert [(f.price, f.qty) for f in again] == [(30000.2, 0.3)]
    # Closing: realized P&L against the average entry, fees out of the wallet.
    _, out = order(ex, side="SELL", type="MARKET", quantity="0.800", reduceOnly="true")
    assert [(f.price, f.qty) for f in out] == [(29999.9, 0.3), (29999.8, 0.4), (29999.7, 0.1)]
    entry = (vwap * 0.5 + 30000.2 * 0.3) / 0.8
    exit_ = (29999.9 * 0.3 + 29999.8 * 0.4 + 29999.7 * 0.1) / 0.8
    assert ex.position == 0.0 and ex.realized == pytest.approx(0.8 * (exit_ - entry), abs=1e-6)
    fees = TAKER * (vwap * 0.5 + 30000.2 * 0.3 + exit_ * 0.8)
    assert ex.wallet == pytest.approx(10_000.0 + ex.realized - fees, abs=1e-6)


def test_limit_orders_by_time_in_force(ex):
    ioc, fills = order(ex, side="BUY", type="LIMIT", timeInForce="IOC", quantity="0.500", price="30000.1")
    assert sum(f.qty for f in fills) == pytest.approx(0.4) and ioc.status == "EXPIRED"  # not beyond its price
    fok, fills = order(ex, side="SELL", type="LIMIT", timeInForce="FOK", quantity="5.000", price="29999.0")
    assert fills == [] and fok.status == "EXPIRED"  # all or nothing: the bids hold 1.0
    with pytest.raises(Rejected) as post_only:
        order(ex, side="BUY", type="LIMIT", timeInForce="GTX", quantity="0.010", price="30000.2")
    assert binance_error(post_only.value)[0] == -5022


def test_post_only_checked_again_when_matched(ex):
    """A GTX order accepted on arrival is matched later (latency, or the replay moving on before the
    venue's task runs): if the book now crosses it, it expires unfilled instead of taking."""
    o = ex.new_order(
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTX", "quantity": "0.010", "price": "29999.9"}, 1
    )  # joins the best bid: accepted
    asks = [["30000.0", "0"], ["29999.9", "0.100"]]
    ex.book.apply_diff({"U": 10, "u": 11, "pu": 9, "T": 1_001, "b": [["29999.9", "0"]], "a": asks})
    assert ex.book.best_ask() == 29999.9 and ex.book.update_id == 11
    assert ex.match(o, 2) == [] and o.status == "EXPIRED" and not ex.resting
    assert ex.position == 0.0


def test_resting_order_fills_when_the_market_trades_through_it(ex):
    rest, fills = order(ex, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.010", price="29999.5")
    assert fills == [] and rest.status == "NEW" and list(ex.resting) == [rest.order_id]
    assert ex.on_market(2, trade=(29999.5, 1.0)) == []  # at its price: its queue place is unknown
    [fill] = ex.on_market(3, trade=(29999.4, 1.0))
    assert (fill.price, fill.qty, fill.maker) == (29999.5, 0.01, True)
    assert fill.commission == pytest.approx(MAKER * 29999.5 * 0.01, abs=1e-12)
    assert rest.status == "FILLED" and not ex.resting
    assert ex.on_market(4, trade=(29000.0, 1.0)) == []  # filled once


def test_cancel_and_refusals(ex):
    rest, _ = order(ex, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.010", price="30001.0")
    ex.cancel(rest, 2)
    assert rest.status == "CANCELED" and not ex.resting and ex.on_market(3, trade=(30002.0, 1.0)) == []
    codes = {}
    for name, params in {
        "cancel twice": None,
        "reduce-only when flat": {"side": "BUY", "type": "MARKET", "quantity": "0.010", "reduceOnly": "true"},
        "notional under 100": {"side": "BUY", "type": "MARKET", "quantity": "0.001"},
        "off the size step": {"side": "BUY", "type": "MARKET", "quantity": "0.0105"},
        "off the tick": {"side": "BUY", "type": "LIMIT", "quantity": "0.010", "price": "29999.55"},
        "over the margin": {"side": "BUY", "type": "MARKET", "quantity": "10.000"},
        "duplicate client id": {"side": "BUY", "type": "MARKET", "quantity": "0.010", "newClientOrderId": rest.client_order_id},
    }.items():
        with pytest.raises(Rejected) as refused:
            ex.cancel(rest, 4) if params is None else order(ex, **params)
        codes[name] = binance_error(refused.value)[0]
    assert codes == {
        "cancel twice": -2011,
        "reduce-only when flat": -2022,
        "notional under 100": -4164,
        "off the size step": -1111,
        "off the tick": -4014,
        "over the margin": -2019,
        "duplicate client id": -4116,
    }


def test_amend_changes_a_resting_order_and_a_crossing_price_takes(ex):
    """Bybit's amend on the core: quantity and price of a resting order change in place; a price
    that crosses takes the open quantity from the book as a new order would (taker), the rest rests;
    refused: at or below the filled quantity, off the tick, post-only crossing, a closed order."""
    rest, _ = order(ex, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.300", price="29999.0")
    assert ex.amend(rest, 2, qty="0.500") == [] and (rest.qty, rest.price, rest.update_ms) == (0.5, 29999.0, 2)
    assert list(ex.resting) == [rest.order_id]
    # Up to 30000.1: takes 0.2 at 30000.0 and 0.2 at 30000.1 (the asks), 0.1 rests at 30000.1.
    fills = ex.amend(rest, 3, price="30000.1")
    assert [(f.price, f.qty, f.maker) for f in fills] == [(30000.0, 0.2, False), (30000.1, 0.2, False)]
    assert rest.status == "PARTIALLY_FILLED" and rest.executed == pytest.approx(0.4) and list(ex.resting) == [rest.order_id]
    refused = {}
    for name, change in {"below the filled 0.4": {"qty": "0.400"}, "off the tick": {"price": "29999.95"}}.items():
        with pytest.raises(Rejected) as r:
            ex.amend(rest, 4, **change)
        refused[name] = r.value.reason
    assert refused == {"below the filled 0.4": Reason.QTY_TOO_SMALL, "off the tick": Reason.PRICE_TICK}
    assert (rest.qty, rest.price) == (0.5, 30000.1)  # unchanged by the refusals
    maker, _ = order(ex, side="SELL", type="LIMIT", timeInForce="GTX", quantity="0.010", price="30001.0")
    with pytest.raises(Rejected) as r:
        ex.amend(maker, 5, price="29999.9")
    assert r.value.reason is Reason.POST_ONLY and maker.price == 30001.0
    ex.cancel(maker, 6)
    with pytest.raises(Rejected) as r:
        ex.amend(maker, 7, qty="0.020")
    assert r.value.reason is Reason.UNKNOWN_ORDER


# ---------------------------------------------------------------------- conditional (algo) orders


def conditional(ex, now=1, **p):
    params = {"symbol": "BTCUSDT", "algoType": "CONDITIONAL", **{k: str(v) for k, v in p.items()}}
    return ex.new_conditional(params, now)


def test_stop_market_triggers_on_the_last_price_and_closes_at_market(ex):
    order(ex, side="BUY", type="MARKET", quantity="0.300")  # long 0.3: 0.2 @ 30000.0, 0.1 @ 30000.1
    entry = (30000.0 * 0.2 + 30000.1 * 0.1) / 0.3
    ex.last_price, ex.mark = 30000.0, 30000.0
    stop = conditional(ex, side="SELL", type="STOP_MARKET", quantity="0.300", triggerPrice="29999.8", reduceOnly="true")
    assert stop.open and stop.working_type == "CONTRACT_PRICE"
    # The mark going through the trigger does not fire a last-price stop; a trade one tick above does not either.
    ex.mark = 29990.0
    ex.last_price = 29999.9
    assert ex.trigger(2) == []
    # A trade at the trigger does: a market sell of 0.3 through the bids (0.3 @ 29999.9).
    ex.last_price = 29999.8
    assert ex.trigger(3) == [stop]
    assert stop.status == "TRIGGERED" and stop.order.client_order_id == stop.client_id
    fills = ex.match(stop.order, 3)
    ex.finish(stop, 3)
    assert [(f.price, f.qty) for f in fills] == [(29999.9, 0.3)]
    assert ex.position == 0.0 and ex.realized == pytest.approx(0.3 * (29999.9 - entry), abs=1e-9)
    assert stop.status == "FINISHED" and stop.order.status == "FILLED" and not fills[0].maker
    assert ex.trigger(4) == []  # fires once


def test_mark_price_trigger_and_take_profit_direction(ex):
    order(ex, side="SELL", type="MARKET", quantity="0.100")  # short 0.1 @ 29999.9
    ex.mark, ex.last_price = 30000.0, 30000.0
    stop = conditional(
        ex, side="BUY", type="STOP_MARKET", quantity="0.100", triggerPrice="30010.0", reduceOnly="true", workingType="MARK_PRICE"
    )
    take = conditional(
        ex,
        side="BUY",
        type="TAKE_PROFIT_MARKET",
        quantity="0.100",
        triggerPrice="29990.0",
        reduceOnly="true",
        workingType="MARK_PRICE",
    )
    ex.last_price = 30020.0  # a trade through the stop: not its reference
    assert ex.trigger(2) == []
    ex.mark = 29990.0  # the mark reaches the take-profit (a buy below)
    assert ex.trigger(3) == [take]
    ex.match(take.order, 3)
    ex.finish(take, 3)
    assert ex.position == 0.0 and stop.open
    # The stop triggers later with nothing to reduce: its market order expires unfilled.
    ex.mark = 30010.0
    assert ex.trigger(4) == [stop]
    assert ex.match(stop.order, 4) == [] and stop.order.status == "EXPIRED" and ex.position == 0.0


def test_close_position_takes_the_whole_position_at_trigger_time(ex):
    order(ex, side="BUY", type="MARKET", quantity="0.200")
    ex.last_price = 30000.0
    conditional(ex, side="SELL", type="STOP_MARKET", closePosition="true", triggerPrice="29999.0")
    order(ex, side="BUY", type="MARKET", quantity="0.100")  # the position grows to 0.3 after the stop was placed
    ex.last_price = 29998.0
    [c] = ex.trigger(2)
    assert c.order.qty == pytest.approx(0.3) and c.order.reduce_only
    ex.match(c.order, 2)
    assert ex.position == 0.0


def test_conditional_order_refusals(ex):
    ex.last_price = ex.mark = 30000.0
    base = {"side": "SELL", "type": "STOP_MARKET", "quantity": "0.100", "reduceOnly": "true"}
    with pytest.raises(Rejected) as now:
        conditional(ex, **base, triggerPrice="30000.0")  # a sell stop at the last price would trigger at once
    assert binance_error(now.value)[0] == -2021
    with pytest.raises(Rejected) as both:
        conditional(ex, **base, triggerPrice="29990.0", closePosition="true")
    assert binance_error(both.value)[0] == -4136
    with pytest.raises(Rejected) as tick:
        conditional(ex, **base, triggerPrice="29990.05")
    assert binance_error(tick.value)[0] == -4014
    with pytest.raises(Rejected) as kind:
        conditional(ex, **{**base, "type": "STOP"}, triggerPrice="29990.0")
    assert binance_error(kind.value)[0] == -1116
    conditional(ex, **base, triggerPrice="29990.0", clientAlgoId="stop-1")
    # A client id is used once, across plain and conditional orders.
    with pytest.raises(Rejected) as dup:
        order(ex, side="BUY", type="MARKET", quantity="0.010", newClientOrderId="stop-1")
    assert binance_error(dup.value)[0] == -4116
    with pytest.raises(Rejected) as dup2:
        conditional(ex, **base, triggerPrice="29980.0", clientAlgoId="stop-1")
    assert binance_error(dup2.value)[0] == -4116
    c = ex.conditional_by_client_id("stop-1")
    ex.cancel_conditional(c, 2)
    assert c.status == "CANCELED"
    with pytest.raises(Rejected) as gone:
        ex.cancel_conditional(c, 3)
    assert binance_error(gone.value)[0] == -2011
    ex.last_price = 29000.0
    assert ex.trigger(4) == []  # a cancelled stop never fires
