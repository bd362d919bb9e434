"""Trades made while no node ran (`live.offline.replay`), by hand on round numbers."""

from __future__ import annotations

import json

import pytest

from scalp_nautilus.live.offline import VenueFill
from scalp_nautilus.live.offline import replay
from scalp_nautilus.strategy.records import SavedPosition
from scalp_nautilus.strategy.records import position_record
from scalp_nautilus.strategy.records import read_saved_position

S = 1_000_000_000


def fill(ts_s: float, side: int, qty: float, px: float, fee: float) -> VenueFill:
    return VenueFill(round(ts_s * S), side, qty, px, fee, "1", "")


def test_the_exchange_stop_closes_the_saved_position():
    saved = SavedPosition(0.05, 100.0, 0.0025, 10 * S)  # long 0.05 @ 100, entry fee 0.0025 paid before
    report = replay(saved, [fill(20, -1, 0.05, 98.0, 0.00245)], venue_position=0.0)
    [trip] = report.trips
    # 0.05 x (98 - 100) = -0.1 gross; exit fee 0.00245; with the entry fee -0.10495 net.
    assert (trip.direction, trip.quantity, trip.avg_px_open, trip.avg_px_close) == (1, 0.05, 100.0, 98.0)
    assert trip.gross_pnl == pytest.approx(-0.1) and trip.exit_fees == pytest.approx(0.00245)
    assert trip.entry_fees == pytest.approx(0.0025) and trip.net_pnl == pytest.approx(-0.10495)
    assert report.consistent and report.previous_entry_fees == 0.0  # nothing adopted
    text = "\n".join(report.lines("USDT"))
    assert "closed while offline: long 0.05 @ 100 -> 98" in text and "net -0.1050 USDT" in text


def test_partial_closes_then_through_zero_into_a_short_the_venue_holds():
    saved = SavedPosition(-0.03, 200.0, 0.0, 0)  # short 0.03 @ 200
    fills = [fill(2, 1, 0.01, 190.0, 0.001), fill(1, 1, 0.01, 195.0, 0.001), fill(3, 1, 0.03, 210.0, 0.003)]
    report = replay(saved, fills, venue_position=0.02)
    [trip] = report.trips
    # In time order: buy 0.01 @195 (+0.05), 0.01 @190 (+0.10), then 0.01 of 0.03 @210 closes (-0.10): +0.05.
    assert trip.gross_pnl == pytest.approx(0.05) and trip.avg_px_close == pytest.approx((195 + 190 + 210) / 3)
    assert trip.exit_fees == pytest.approx(0.001 + 0.001 + 0.001)  # a third of the last fill's fee
    assert report.position_after == pytest.approx(0.02) and report.consistent  # the rest opened a long
    assert report.fees == pytest.approx(0.005)


def test_a_position_that_does_not_add_up_is_reported():
    report = replay(SavedPosition(0.05, 100.0, 0.0, 0), [], venue_position=0.0)
    assert not report.consistent and "MISMATCH" in "\n".join(report.lines("USDT"))


def test_an_adopted_position_names_the_entry_fees_paid_before():
    report = replay(SavedPosition(0.05, 100.0, 0.0025, 0), [], venue_position=0.05)
    assert report.consistent and report.previous_entry_fees == 0.0025
    assert "entry fees 0.0025 USDT were paid then" in "\n".join(report.lines("USDT"))
    assert replay(None, [], venue_position=0.0).lines("USDT") == []


def test_the_state_file_keeps_the_position(tmp_path):
    path = tmp_path / "state.json"
    saved = SavedPosition(-0.02, 63950.5, 0.64, 17 * S)
    path.write_text(json.dumps({"halt": None, **position_record(saved)}))
    assert read_saved_position(path) == saved
    path.write_text(json.dumps(position_record(None)))
    assert read_saved_position(path) is None and read_saved_position(tmp_path / "none.json") is None
