"""Warm state: the pipeline's rolling state saved mid-capture and restored into a fresh pipeline
continues exactly like the pipeline that never stopped; a state that does not fit is refused; the
state file's own checks (age, instrument, format) and the bars' join across a restart."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import numpy as np
import pytest

from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.identifiers import InstrumentId

from scalp_nautilus.features import FeaturePipeline
from scalp_nautilus.indicators import VPIN
from scalp_nautilus.indicators.mid_bars import MidBars
from scalp_nautilus.indicators.settings import VPINSettings
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
def test_an_indicator_of_other_parameters_stays_cold_and_the_others_continue(capture_paths):
    cap = load("usdm_2023_04", tuple(capture_paths("usdm_2023_04")))
    events = list(replay(cap))[:20_000]
    source = pipeline_for(cap)
    _feed(source, events)
    other = FeaturePipeline(
        VPIN(VPINSettings(volume_per_hour=cap.volume_per_second() * 30, window_minutes=60.0))
    )  # another VPIN window
    cold = other.restore(json.loads(json.dumps(source.state())))
    assert list(cold) == ["vpin"] and "VPIN(" in cold["vpin"]
    assert not other.vpin.initialized and other.vpin.value == 0.0
    assert other.books == source.books and other.ofi.initialized and other.hurst.count == source.hurst.count
    assert (other.ofi.value, other.cvd.value) == (source.ofi.value, source.cvd.value)
    assert not other.snapshot().warm and "vpin" in other.snapshot().cold.split(",")


def test_state_file_checks(tmp_path):
    """The file is used only when it is recent, of this instrument, of this format and readable;
    otherwise the reason is returned and the pipeline is left as it was."""
    pipeline = FeaturePipeline(VPIN(VPINSettings(volume_per_hour=100.0, window_minutes=60.0)))
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
    # the Python pipeline's files (before issue 22): refused, saying so
    path.write_text(json.dumps({"format": warm.FORMAT, "version": 1, "instrument_id": "BTCUSDT-PERP.BINANCE"}))
    said = warm.restore(path, pipeline, "BTCUSDT-PERP.BINANCE", 1_100 * S, 300 * S)
    assert said is not None and "before it was compiled (version 1): not carried over" in said
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


BASE = {"instrument_id": "BTCUSDT-PERP.BINANCE", "vpin": {"volume_per_hour": 100.0}, "orders": {"base_size": 0.05}}
HOUR = 3600 * S


def _fed(config: dict) -> FeaturePipeline:
    """A pipeline of `config` (a strategy config's sections) fed 40 settled funding rates 8 h apart
    and 200 seconds of books and trades after them."""
    import msgspec

    from scalp_nautilus.book import BookSnapshotBuilder
    from scalp_nautilus.strategy import ScalpStrategyConfig
    from scalp_nautilus.strategy.settings import build_pipeline

    pipeline = build_pipeline(ScalpStrategyConfig.parse(msgspec.json.encode({**BASE, **config})))
    rng = np.random.default_rng(7)
    iid = InstrumentId.from_str(BASE["instrument_id"])
    for k in range(40):
        rate = Decimal(repr(round(1e-4 + 1e-5 * rng.standard_normal(), 8)))
        pipeline.on_funding(FundingRateUpdate(iid, rate, k * 8 * HOUR, k * 8 * HOUR))
    builder = BookSnapshotBuilder(depth=10, price_precision=1, size_precision=3, tick_size=0.1)
    t0, mid = 40 * 8 * HOUR, 100.0
    for i in range(2_000):
        mid += 0.1 * rng.choice((-1, 1))
        bids = [(mid - 0.05 - 0.1 * k, 1.0 + k) for k in range(10)]
        asks = [(mid + 0.05 + 0.1 * k, 1.0 + k) for k in range(10)]
        pipeline.on_trade(mid + 0.05, 0.5, 1, t0 + i * S // 10)
        pipeline.on_book(builder.from_levels(bids, asks, ts_event=t0 + i * S // 10))
    return pipeline


def test_an_exit_rule_keeps_the_warm_state(tmp_path):
    """`exits.stop_k` sizes the strategy's stops from Parkinson's sigma; it is no indicator's
    parameter, so a restart with another one restores every indicator."""
    source = _fed({"exits": {"stop_k": 2.0}})
    path = tmp_path / "state.json"
    saved_ns = source.ts_event
    warm.save(path, source, BASE["instrument_id"], saved_ns)
    restarted = _fed({"exits": {"stop_k": 3.5}})
    restarted.reset()
    assert warm.restore(path, restarted, BASE["instrument_id"], saved_ns + 10 * S, 300 * S, 86_400 * S) is None
    assert restarted.parkinson.initialized and restarted.parkinson.value == source.parkinson.value
    assert _same(restarted.snapshot(), source.snapshot())


def test_the_funding_history_outlives_the_fast_state(tmp_path):
    """Past `max_age_s` the windows warm up again but the funding history (days of settlements) is
    restored up to its own limit, `state.funding_max_age_s`; past that, nothing."""
    source = _fed({})
    assert source.funding.history == 40 and source.funding.initialized
    path = tmp_path / "state.json"
    saved_ns = source.ts_event
    warm.save(path, source, BASE["instrument_id"], saved_ns)

    later = _fed({})
    later.reset()
    said = warm.restore(path, later, BASE["instrument_id"], saved_ns + HOUR, 300 * S, 86_400 * S)
    assert said is not None and "only the slow state (funding) restored" in said
    assert later.funding.history == 40 and later.funding.value == source.funding.value
    assert later.funding.schedule.last_settlement_ns == source.funding.schedule.last_settlement_ns
    assert later.books == 0 and not later.ofi.initialized and not later.parkinson.initialized

    too_late = _fed({})
    too_late.reset()
    said = warm.restore(path, too_late, BASE["instrument_id"], saved_ns + 2 * 86_400 * S, 300 * S, 86_400 * S)
    assert said is not None and "s old" in said and too_late.funding.history == 0
