"""MidBars: hand-worked bars, carried seconds, outages and bad mids."""

import math

import pytest

from scalp_nautilus.indicators import MidBars

S = 1_000_000_000


class MarketCapture:
    def __init__(self):
        self.bars = []

    def bar(self, high, low, close):
        self.bars.append((high, low, close))

    def gap(self):
        self.bars.append("gap")


def make(max_carry=10):
    rec = MarketCapture()
    return MidBars(rec.bar, rec.gap, S, max_carry), rec


def test_hand_worked_bars_carry_and_outage():
    bars, rec = make(max_carry=10)
    for mid, t in [(100, 0.1), (101, 0.5), (99, 0.9)]:
        bars.update(mid, int(t * S))
    assert rec.bars == []  # the open bar closes only when a later second begins
    bars.update(100, int(1.2 * S))
    # second 0: 100 -> 101 -> 99
    assert rec.bars == [(101, 99, 99)]
    bars.update(102, int(4.5 * S))
    # second 1 opens at the close 99 and sees 100; seconds 2 and 3 had no update: flat at 100
    assert rec.bars[1:] == [(100, 99, 100), (100, 100, 100), (100, 100, 100)]
    assert bars.carried == 2
    bars.update(50, 20 * S)
    # second 4 opens at 100 and sees 102; then 15 silent seconds > max_carry: an outage
    assert rec.bars[4:] == [(102, 100, 102), "gap"]
    assert bars.gaps == 1 and bars.carried == 2
    bars.update(51, 21 * S)
    # after an outage the bar opens afresh at the next mid, not at the pre-outage close
    assert rec.bars[6:] == [(50, 50, 50)]
    assert bars.closed == 6


def test_carry_limit_is_inclusive():
    bars, rec = make(max_carry=3)
    bars.update(10.0, 0)
    bars.update(11.0, 4 * S)  # seconds 1, 2, 3 silent: exactly max_carry
    assert rec.bars == [(10.0, 10.0, 10.0)] * 4
    bars.update(12.0, 9 * S)  # seconds 5-8 silent: one more than max_carry
    assert rec.bars[4:] == [(11.0, 10.0, 11.0), "gap"]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 0.0, -5.0])
def test_bad_mids_are_counted_and_skipped(bad):
    bars, rec = make()
    bars.update(100.0, 0)
    assert bars.update(bad, S // 2) is False
    bars.update(100.5, S + 1)
    assert bars.invalid == 1
    assert rec.bars == [(100.0, 100.0, 100.0)]


def test_late_stamp_folds_into_open_bar():
    bars, rec = make()
    bars.update(100.0, 5 * S + 10)
    bars.update(101.0, 5 * S - 1)  # a millisecond back across the boundary
    bars.update(100.0, 6 * S)
    assert bars.late == 1
    assert rec.bars == [(101.0, 100.0, 101.0)]


def test_constructor_rejects_bad_settings():
    rec = MarketCapture()
    with pytest.raises(ValueError):
        MidBars(rec.bar, rec.gap, 0)
    with pytest.raises(ValueError):
        MidBars(rec.bar, rec.gap, S, -1)
