"""The replay venue's queue models (`exchange.queue_model`, after hftbacktest's queue.rs) on a
hand-made book: a post-only buy resting at the best bid, replayed trades and level updates, and
the queue ahead and fills worked out by hand in the comments."""

from __future__ import annotations

import pytest

from scalp_nautilus.fees import FeeSchedule
from scalp_nautilus.instruments import resolve_spec
from scalp_nautilus.live.venue.capture_feed import VenueBook
from scalp_nautilus.live.venue.exchange import Exchange
from scalp_nautilus.live.venue.exchange import ExchangeSettings

BIDS = [["29999.9", "0.300"], ["29999.8", "0.400"]]
ASKS = [["30000.0", "0.200"], ["30000.1", "0.200"]]
PX = 29999.9
MAKER = 0.0002
SELL_HITS, BUY_LIFTS = True, False  # Binance's `m`: the buyer was the maker


def resting_buy(model: str, power: float = 3.0):
    book = VenueBook()
    book.apply_snapshot({"lastUpdateId": 10, "T": 1_000, "bids": BIDS, "asks": ASKS})
    settings = ExchangeSettings(fees=FeeSchedule(maker_rate=MAKER), queue_model=model, queue_power=power)
    ex = Exchange(resolve_spec("BINANCE", "BTCUSDT"), settings, book)
    o = ex.new_order(
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTX", "quantity": "0.100", "price": "29999.9"}, 1
    )
    assert ex.match(o, 1) == [] and o.status == "NEW" and o.order_id in ex.resting  # post-only accepted, resting
    return ex, o


def level(ex, size: float) -> None:
    """The stream replaced the size of our level (a depthUpdate's `b` entry)."""
    ex.book.bids[PX] = size


def filled(fills) -> list[float]:
    return [round(f.qty, 6) for f in fills]


def test_none_never_fills_at_the_price():
    ex, o = resting_buy("none")
    assert ex.on_market(2, (PX, 5.0), SELL_HITS) == []
    [fill] = ex.on_market(3, (PX - 0.1, 0.01), SELL_HITS)  # a trade through the price fills it all
    assert (fill.qty, fill.maker, o.status) == (0.1, True, "FILLED")


def test_risk_averse_fills_only_after_the_trades_exceed_the_queue_ahead():
    ex, o = resting_buy("risk_averse")
    assert ex.queue[o.order_id].front == pytest.approx(0.3)  # the displayed 0.300 is ahead of us
    assert ex.on_market(2, (PX, 0.2), SELL_HITS) == []  # 0.3 - 0.2 = 0.1 ahead
    assert ex.on_market(3, (PX, 0.5), BUY_LIFTS) == []  # a buyer lifting offers does not touch the bids
    level(ex, 0.05)  # the level shrank: cancels assumed behind us, the queue only clipped: min(0.1, 0.05)
    assert ex.on_market(4) == [] and ex.queue[o.order_id].front == pytest.approx(0.05)
    level(ex, 0.9)  # it grew: the newcomers queue behind us
    assert ex.on_market(5) == [] and ex.queue[o.order_id].front == pytest.approx(0.05)
    fills = ex.on_market(6, (PX, 0.08), SELL_HITS)  # 0.05 - 0.08 = -0.03: 0.030 reaches us
    assert filled(fills) == [0.03] and o.status == "PARTIALLY_FILLED" and fills[0].maker
    assert fills[0].commission == pytest.approx(0.03 * PX * MAKER)
    fills = ex.on_market(7, (PX, 0.5), SELL_HITS)  # the queue ahead is 0: the rest, 0.070
    assert filled(fills) == [0.07] and o.status == "FILLED" and o.order_id not in ex.resting
    assert ex.position == pytest.approx(0.1) and ex.entry_price == pytest.approx(PX)


def test_prob_model_splits_unexplained_decreases_by_queue_shares():
    """n = 2. Arrival: front 0.3. Level 0.3 -> 0.7: growth, front stays 0.3 (back 0.4).
    Level 0.7 -> 0.3 with no trade: change 0.4, p = 0.4^2 / (0.4^2 + 0.3^2) = 0.64, so
    front = 0.3 - 0.36 x 0.4 + min(0.4 - 0.64 x 0.4, 0) = 0.156. A 0.1 sell at the price: 0.056.
    Level 0.3 -> 0.2 is that trade: no unexplained change, front 0.056. Another 0.1: -0.044, so
    44 lots of 0.001 fill. Risk-averse on the same tape keeps 0.1 ahead and fills nothing."""
    ex, o = resting_buy("prob", power=2.0)
    level(ex, 0.7)
    assert ex.on_market(2) == [] and ex.queue[o.order_id].front == pytest.approx(0.3)
    level(ex, 0.3)
    assert ex.on_market(3) == [] and ex.queue[o.order_id].front == pytest.approx(0.156)
    assert ex.on_market(4, (PX, 0.1), SELL_HITS) == [] and ex.queue[o.order_id].front == pytest.approx(0.056)
    level(ex, 0.2)
    assert ex.on_market(5) == [] and ex.queue[o.order_id].front == pytest.approx(0.056)
    assert filled(ex.on_market(6, (PX, 0.1), SELL_HITS)) == [0.044]

    averse, averse_order = resting_buy("risk_averse")
    for size, trade in ((0.7, None), (0.3, None), (0.3, (PX, 0.1)), (0.2, None), (0.2, (PX, 0.1))):
        level(averse, size)
        assert averse.on_market(7, trade, SELL_HITS) == []
    assert averse.queue[averse_order.order_id].front == pytest.approx(0.1)


def test_a_cancelled_resting_order_leaves_the_queue():
    ex, o = resting_buy("risk_averse")
    ex.cancel(o, 2)
    assert o.order_id not in ex.queue and ex.on_market(3, (PX, 5.0), SELL_HITS) == []
