"""Warm state: the pipeline's rolling state saved mid-capture and restored into a fresh pipeline
continues exactly like the pipeline that never stopped; a state that does not fit is refused; the
state file's own checks (age, instrument, format) and the bars' join across a restart."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from scalp_nautilus.features import FeaturePipeline
from scalp_nautilus.indicators import VPIN
from scalp_nautilus.indicators.mid_bars import MidBars
from scalp_nautilus.strategy import warm
from tests.support.captures import load
from tests.support.captures import pipeline_for
from tests.support.captures import replay

S = 1_000_000_000


def _feed(pipeline, events) -> list:
    rows = []
    for kind, obj, _ in events:
        if kind == "book":
            rows.append(pipeline.on_book(obj))
        else:
            pipeline.on_trade_tick(obj)
    return rows


def _same(a, b) -> bool:
    for x, y in zip(a, b, strict=True):
        if isinstance(x, float) and math.isnan(x):
            if not (isinstance(y, float) and math.isnan(y)):
                return False
        elif isinstance(x, np.ndarray):
            if not np.array_equal(x, y, equal_nan=True):
                return False
        elif x != y:
            return False
    return True


@pytest.mark.real_data
@pytest.mark.parametrize("cut", [0.3, 0.6])
def test_restored_pipeline_continues_bit_for_bit(capture_paths, cut):
    """Save at `cut` of the 2023-04 capture (through JSON, as the file does), restore into a new
    pipeline, feed the rest to both: every row of every feature is identical."""
    cap = load("usdm_2023_04", tuple(capture_paths("usdm_2023_04")))
    events = list(replay(cap))
    k = int(len(events) * cut)
    whole = pipeline_for(cap)
    _feed(whole, events[:k])
    saved = json.loads(json.dumps(whole.state()))
    restored = pipeline_for(cap)
    restored.restore(saved)
    assert restored.snapshot().warm and whole.snapshot().warm  # the cut is past the warm-up
    rest_whole = _feed(whole, events[k:])
    rest_restored = _feed(restored, events[k:])
    assert len(rest_whole) > 3000
    differing = [i for i, (a, b) in enumerate(zip(rest_whole, rest_restored, strict=True)) if not _same(a, b)]
    assert not differing, f"{len(differing)} rows differ, first at {differing[0]}"


@pytest.mark.real_data
def test_state_of_other_parameters_is_refused_and_leaves_the_pipeline_cold(capture_paths):
    cap = load("usdm_2023_04", tuple(capture_paths("usdm_2023_04")))
    events = list(replay(cap))[:20_000]
    source = pipeline_for(cap)
    _feed(source, events)
    other = FeaturePipeline(VPIN(window_volume=cap.volume_per_second() * 30))  # another VPIN window
    with pytest.raises(ValueError, match="vpin"):
        other.restore(source.state())
    assert not other.snapshot().warm and other.books == 0


def test_state_file_checks(tmp_path):
    """The file is used only when it is recent, of this instrument, of this format and readable;
    otherwise the reason is returned and the pipeline is left as it was."""
    pipeline = FeaturePipeline(VPIN(window_volume=100.0))
    path = tmp_path / "state.json"
    assert "no saved state" in warm.restore(path, pipeline, "BTCUSDT-PERP.BINANCE", 0, 300 * S)
    warm.save(path, pipeline, "BTCUSDT-PERP.BINANCE", 1_000 * S)
    assert warm.restore(path, pipeline, "BTCUSDT-PERP.BINANCE", 1_100 * S, 300 * S) is None
    assert "s old" in warm.restore(path, pipeline, "BTCUSDT-PERP.BINANCE", 1_400 * S, 300 * S)
    assert "s old" in warm.restore(path, pipeline, "BTCUSDT-PERP.BINANCE", 900 * S, 300 * S)  # from the future
    assert "ETHUSDT" in warm.restore(path, pipeline, "ETHUSDT-PERP.BINANCE", 1_100 * S, 300 * S)
    path.write_text(path.read_text()[:100])  # a crash mid-write of another program
    assert "cannot be read" in warm.restore(path, pipeline, "BTCUSDT-PERP.BINANCE", 1_100 * S, 300 * S)
    path.write_text(json.dumps({"format": "something else"}))
    assert "not a" in warm.restore(path, pipeline, "BTCUSDT-PERP.BINANCE", 1_100 * S, 300 * S)
    assert not (tmp_path / "state.json.tmp").exists()


def test_bars_join_across_a_restart_but_restart_after_an_outage():
    """After `bridge`, a silence longer than `max_carry` bars joins the series (one bar spans it);
    without it the same silence is an outage; a short silence is carried flat either way."""

    def run(bridge: bool, silence_s: int):
        bars, gaps = [], []
        mb = MidBars(lambda h, lo, c: bars.append(c), lambda: gaps.append(1), S, max_carry=10)
        for t in range(5):
            mb.update(100.0 + t, t * S)
        if bridge:
            mb.bridge()
        mb.update(200.0, (5 + silence_s) * S)
        mb.update(201.0, (6 + silence_s) * S)
        return bars, gaps, mb.bridged

    closes = [100.0, 101.0, 102.0, 103.0, 104.0, 200.0]
    assert run(True, 30) == (closes, [], 1)
    assert run(False, 30) == (closes, [1], 0)  # the same closes, but the consumers restart at the gap
    # A short silence: flat bars, bridged or not.
    flat = [100.0, 101.0, 102.0, 103.0, 104.0, 104.0, 104.0, 104.0, 200.0]
    assert run(True, 3) == (flat, [], 0) and run(False, 3) == (flat, [], 0)
