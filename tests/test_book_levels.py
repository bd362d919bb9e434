"""Levels available (a step toward DESIGN §8's top-of-book mode): a book showing `levels` levels a
side is read no deeper, and every row value computed from deeper levels is NaN, never 0.

Oracles: Nautilus's own book sides (`bids()` / `asks()`); a pipeline fed books that hold only the
levels shown (whatever it computes from them, the pipeline fed deeper books showing as many must
compute too, and only the values needing more must be NaN); on a real capture, the same builder
and pipeline fed through Nautilus's `OrderBook` (`tests.oracle.replay.nautilus_rows`) against the
compiled replay, which truncates in its own kernel."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pyarrow.parquet as pq
import pytest

from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.enums import OrderSide

from scalp_nautilus.book import BookSnapshotBuilder
from scalp_nautilus.feature_replay import replay as replay_module
from scalp_nautilus.feature_replay.replay import replay_features
from scalp_nautilus.feature_table import EVERY_LEVEL
from scalp_nautilus.features import FeaturePipeline
from scalp_nautilus.features import FeatureSnapshot
from scalp_nautilus.indicators import VPIN
from scalp_nautilus.indicators import CumulativeVolumeDelta
from scalp_nautilus.indicators import HurstExponent
from scalp_nautilus.indicators import LiquidityMetrics
from scalp_nautilus.indicators import LOBFeatureVector
from scalp_nautilus.indicators import OrderFlowImbalance
from scalp_nautilus.indicators import OUZScore
from scalp_nautilus.indicators import ParkinsonVolatility
from scalp_nautilus.indicators.settings import CVDSettings
from scalp_nautilus.indicators.settings import HurstSettings
from scalp_nautilus.indicators.settings import LiquiditySettings
from scalp_nautilus.indicators.settings import LOBSettings
from scalp_nautilus.indicators.settings import OFISettings
from scalp_nautilus.indicators.settings import OUSettings
from scalp_nautilus.indicators.settings import ParkinsonSettings
from scalp_nautilus.indicators.settings import VPINSettings
from scalp_nautilus.strategy.settings import build_builder
from scalp_nautilus.strategy.settings import build_pipeline
from tests.capture_catalogs import capture_catalog  # noqa: F401 (fixture)
from tests.capture_catalogs import strategy_overrides
from tests.oracle.compare import column_differences
from tests.oracle.replay import nautilus_rows
from tests.test_book import IID
from tests.test_book import full_sides
from tests.test_book import put
from tests.test_pipeline_parity import strategy_config

# What DESIGN §8 names as needing depth beyond level 1, in this row's columns: the deeper LOB
# vector levels (and the LSTM and ensemble that read the vector), the depth measures over the
# liquidity levels (imbalance, weighted depth, resilience and its shock flag), the slippage walk,
# and the band around the mid with what the regime makes of it.
# The regime's multiplier is not among them: without depth it is that of its other two axes.
NEED_DEPTH = {
    *(f"lob_{k}" for k in (1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14)),
    *("lstm_direction", "lstm_confidence", "lstm_volatility", "ensemble_direction", "ensemble_confidence"),
    *("depth_imbalance", "weighted_depth", "resilience", "depth_shock", "slippage_buy_bps", "slippage_sell_bps"),
    *("depth_notional", "depth_state"),
}
# Integer columns have no NaN: they take their declared missing value (the top-of-book mode's).
NO_NAN = {"depth_shock": False, "depth_state": -1}


SPREAD_FACTORS, ACTIVITY_FACTORS = (1.0, 0.7, 0.4), (1.0, 0.7, 0.5)  # the regime's defaults (DESIGN 3.11)


def small_pipeline(liquidity_levels: int = 10) -> FeaturePipeline:
    return FeaturePipeline(
        vpin=VPIN(VPINSettings(volume_per_hour=10.0, window_minutes=60.0, n_buckets=2)),
        ofi=OrderFlowImbalance(OFISettings(zscore_window=3)),
        cvd=CumulativeVolumeDelta(CVDSettings(window=4, zscore_window=3)),
        liquidity=LiquidityMetrics(
            LiquiditySettings(levels=liquidity_levels, ewma_alpha=0.5, lambda_window=4, lambda_min_points=3)
        ),
        hurst=HurstExponent(HurstSettings(window=64)),
        ou=OUZScore(OUSettings(window=8, min_points=4, refit_every=1)),
        parkinson=ParkinsonVolatility(ParkinsonSettings(window=2)),
        lob=LOBFeatureVector(LOBSettings(zscore_window=3)),
    )


def builder(**kwargs) -> BookSnapshotBuilder:
    return BookSnapshotBuilder(depth=8, price_precision=1, size_precision=3, tick_size=0.1, **kwargs)


def test_the_builder_reads_no_level_past_those_shown():
    book = OrderBook(IID, BookType.L2_MBP)
    for k in range(12):
        put(book, OrderSide.BUY, 1000.0 - k, 1.0 + k)
        put(book, OrderSide.SELL, 1001.0 + k, 2.0 + k)
    bids, asks = full_sides(book, 8)
    full = builder().from_book(book, 1, 1)
    assert full.levels == EVERY_LEVEL and full.n_bids == full.n_asks == 8
    for levels in (1, 3):
        b = builder(levels=levels)
        for snap in (b.from_book(book, 1, 1), b.from_levels(bids, asks, 1)):
            assert snap.levels == levels and snap.n_bids == snap.n_asks == levels
            np.testing.assert_array_equal(snap.bid_prices[:levels], [p for p, _ in bids[:levels]])
            np.testing.assert_array_equal(snap.ask_sizes[:levels], [q for _, q in asks[:levels]])
            assert not snap.bid_prices[levels:].any() and not snap.ask_sizes[levels:].any()
    with pytest.raises(ValueError, match="levels"):
        builder(levels=0)


def test_the_columns_needing_depth_are_those_design_names():
    pipeline = FeaturePipeline(vpin=VPIN(VPINSettings(volume_per_hour=10.0, window_minutes=60.0)))
    assert pipeline.unavailable(EVERY_LEVEL) == ()
    assert set(pipeline.unavailable(1)) == NEED_DEPTH


def test_rows_of_a_book_showing_fewer_levels(monkeypatch):
    """Deep books showing 2 levels against books holding only those 2: the same numbers, except
    that every value needing more than 2 levels is NaN (the liquidity measures, over 2 levels
    here, are available)."""
    rng = np.random.default_rng(3)
    shown, held = small_pipeline(liquidity_levels=2), small_pipeline(liquidity_levels=2)
    showing, holding = builder(levels=2), builder()
    expected_nan = set(shown.unavailable(2))
    beyond_two = {"lob_1", "lob_6", "lob_11", "slippage_buy_bps", "slippage_sell_bps"}  # level 2 is enough
    assert expected_nan == NEED_DEPTH - {"depth_imbalance", "weighted_depth", "resilience", "depth_shock"} - beyond_two
    mid = 1000.05
    for i in range(400):
        mid += 0.1 * int(rng.integers(-2, 3))
        sizes = rng.uniform(0.5, 3.0, 20)
        bids = [(mid - 0.05 - 0.1 * k, sizes[k]) for k in range(10)]
        asks = [(mid + 0.05 + 0.1 * k, sizes[10 + k]) for k in range(10)]
        for pipeline in (shown, held):
            pipeline.on_trade(mid + 0.05 * (1 if i % 2 else -1), float(sizes[i % 20]), 1 if i % 3 else -1, i * 250_000_000)
        a = shown.on_book(showing.from_levels(bids, asks, ts_event=i * 250_000_000 + 1))
        b = held.on_book(holding.from_levels(bids[:2], asks[:2], ts_event=i * 250_000_000 + 1))
        assert shown.levels == 2 and held.levels == EVERY_LEVEL
        for name in FeatureSnapshot._fields:
            x, y = getattr(a, name), getattr(b, name)
            if name == "regime_multiplier":  # no depth axis: the product of the other two factors
                factors = SPREAD_FACTORS[a.spread_state] * ACTIVITY_FACTORS[a.activity_state]
                assert x == min(max(factors, 0.2), 1.0) and a.depth_state == -1, (i, x, a.spread_state, a.activity_state)
            elif name in NO_NAN and name in expected_nan:
                assert x == NO_NAN[name], (i, name, x)
            elif name in expected_nan:
                assert math.isnan(x), name
            elif isinstance(x, float):
                assert np.float64(x).tobytes() == np.float64(y).tobytes(), (i, name, x, y)
            else:
                assert x == y, (i, name, x, y)
    assert held.initialized["lob"] and held.initialized["liquidity"]


@pytest.mark.real_data
@pytest.mark.slow
def test_the_compiled_replay_shows_the_levels_as_the_nautilus_book_does(capture_catalog, tmp_path, monkeypatch):  # noqa: F811
    """The replay's kernel truncates its books to the levels shown as the builder truncates
    Nautilus's book: the rows of a 2-level view of a real capture are the same, NaN for NaN."""
    cat = capture_catalog("usdm_2024_07")
    config = strategy_config(cat.instrument_id, **strategy_overrides(cat))
    two_levels = msgspec.structs.replace(config, liquidity=msgspec.structs.replace(config.liquidity, levels=2))

    def showing_two(config, instrument):
        b = build_builder(config, instrument)
        return BookSnapshotBuilder.for_instrument(
            instrument, depth=b.depth, band_bps=b.band_bps, band_refresh_ns=b.band_refresh_ns, levels=2
        )

    monkeypatch.setattr(replay_module, "build_builder", showing_two)
    span = {"start": "2024-07-18T23:55:00Z", "end": "2024-07-19T00:05:00Z"}
    replayed = replay_features(cat.path, cat.instrument_id, two_levels, tmp_path / "two.parquet", chunk_size=4_999, **span)
    build = lambda i: (showing_two(two_levels, i), build_pipeline(two_levels))  # noqa: E731
    expected = nautilus_rows(cat.path, cat.instrument_id, build, **span)
    table = pq.read_table(replayed.path)
    assert column_differences(expected, FeatureSnapshot._fields, table) == {}
    assert len(expected) > 1000
    for name in build_pipeline(two_levels).unavailable(2):
        values = table.column(name).to_numpy()
        assert (values == NO_NAN[name]).all() if name in NO_NAN else np.isnan(values).all(), name
