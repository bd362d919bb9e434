"""FeaturePipeline: dependency order, the snapshot's field mapping, bad input, warm-up, and a
replay of the real captures with no NaN out."""

import math
from collections import Counter

import numpy as np
import pytest

from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.test_kit.stubs.data import TestDataStubs

from scalp_nautilus.book import BookSnapshotBuilder
from scalp_nautilus.features import FeaturePipeline
from scalp_nautilus.features import FeatureSnapshot
from scalp_nautilus.indicators import VPIN
from scalp_nautilus.indicators import CumulativeVolumeDelta
from scalp_nautilus.indicators import LiquidityMetrics
from scalp_nautilus.indicators import MicrostructureRegime
from scalp_nautilus.indicators import OrderFlowImbalance
from scalp_nautilus.indicators.settings import CVDSettings
from scalp_nautilus.indicators.settings import LiquiditySettings
from scalp_nautilus.indicators.settings import OFISettings
from scalp_nautilus.indicators.settings import RegimeSettings
from scalp_nautilus.indicators.settings import VPINSettings
from tests.support.captures import replay

S = 1_000_000_000
BUILDER = BookSnapshotBuilder(depth=5, price_precision=1, size_precision=3, tick_size=0.1)


def book(ts, mid=100.0, bid_size=1.0, ask_size=1.0, levels=5):
    bids = [(mid - 0.05 - 0.1 * k, bid_size) for k in range(levels)]
    asks = [(mid + 0.05 + 0.1 * k, ask_size) for k in range(levels)]
    return BUILDER.from_levels(bids, asks, ts_event=ts)


def small_pipeline(**overrides):
    kwargs = dict(
        vpin=VPIN(VPINSettings(volume_per_hour=10.0, window_minutes=60.0, n_buckets=5)),
        ofi=OrderFlowImbalance(OFISettings(zscore_window=5)),
        cvd=CumulativeVolumeDelta(CVDSettings(window=3)),
        regime=MicrostructureRegime(RegimeSettings(activity_window_s=S / 1e9)),
        liquidity=LiquidityMetrics(LiquiditySettings(ewma_alpha=0.5, lambda_window=5, lambda_min_points=3)),
    )
    kwargs.update(overrides)
    return FeaturePipeline(**kwargs)


def assert_no_nan(row: FeatureSnapshot):
    for name, value in zip(row._fields, row):
        if isinstance(value, float):
            assert math.isfinite(value), f"{name} = {value}"


def test_classifier_runs_before_vpin_cvd_and_kyle():
    p = small_pipeline()
    p.on_book(book(0, mid=100.0))
    p.on_trade(100.15, 1.0, 0, 1)
    assert p.vpin.open_bucket_volume == 0.0  # trades are held until the next batch (or a flush)
    p.flush()
    assert p.classifier.value == 1  # no venue side: Lee-Ready, above the mid
    assert p.vpin.open_bucket_volume == 1.0
    assert p.cvd.value == 1.0
    assert p.liquidity.kyle.value == 0.0 and p.liquidity.kyle.points == 0  # the flow is in the open interval
    p.on_trade(100.15, 2.0, -1, 2)
    p.flush()
    assert p.classifier.value == -1  # the venue's side wins
    assert p.cvd.value == -1.0


def test_snapshot_fields_are_the_indicator_values():
    """Positional construction is checked field by field against the indicators."""
    p = small_pipeline()
    rng = np.random.default_rng(0)
    for i in range(400):  # 1 s apart: the bar statistics warm up too
        p.on_book(book(i * S, mid=100 + 0.1 * rng.integers(-3, 4), bid_size=rng.uniform(1, 3)))
        p.on_trade(100.0 + rng.normal(0, 0.2), rng.uniform(0.1, 2), int(rng.choice([-1, 0, 1])), i * S + 1)
    row = p.snapshot()
    assert len(row) == len(FeatureSnapshot._fields)
    expected = {
        "ts_event": p.ts_event,
        "mid": p.mid,
        "book_valid": True,
        "ofi": p.ofi.value,
        "ofi_z": p.ofi.z,
        "vpin": p.vpin.value,
        "vpin_regime": p.vpin.regime,
        "vpin_multiplier": p.vpin.multiplier,
        "cvd": p.cvd.value,
        "cvd_z": p.cvd.z,
        "cvd_divergence": p.cvd.divergence,
        "trade_side": p.classifier.value,
        "spread_bps": p.liquidity.spread_bps,
        "depth_imbalance": p.liquidity.imbalance,
        "weighted_depth": p.liquidity.weighted_depth,
        "slippage_buy_bps": p.liquidity.slippage_buy_bps,
        "slippage_sell_bps": p.liquidity.slippage_sell_bps,
        "resilience": p.liquidity.value,
        "depth_shock": p.liquidity.depth_shock,
        "kyle_lambda": p.liquidity.kyle_lambda,
        "regime_multiplier": p.regime.value,
        "spread_state": p.regime.spread_state,
        "depth_state": p.regime.depth_state,
        "activity_state": p.regime.activity_state,
        "activity_rate": p.regime.activity_rate,
        "depth_notional": p.regime.depth_notional,
        "warm": True,
        "cold": "",
        "hurst": p.hurst.value,
        "ou_z": p.ou.z,
        "ou_active": p.ou.active,
        "ou_signal": p.ou.value,
        "parkinson_vol": p.parkinson.parkinson,
        "realized_vol": p.parkinson.realized,
        "blend_vol": p.parkinson.value,
        "funding_z": p.funding.value,
        "funding_direction": 0,
        "funding_bps": 0.0,
        **{f"lob_{i}": float(p.lob.value[i]) for i in range(21)},
        "lstm_direction": p.lstm.value,
        "lstm_confidence": p.lstm.confidence,
        "lstm_volatility": p.lstm.volatility,
        "lstm_active": p.lstm.active,
        "ensemble_direction": p.ensemble.value,
        "ensemble_confidence": p.ensemble.confidence,
    }
    assert {name: getattr(row, name) for name in expected} == expected
    # distinct values, so a swapped pair of positional arguments cannot pass unnoticed
    numbers = [v for k, v in expected.items() if isinstance(v, float) and k in row._fields[:25]]
    assert len(set(numbers)) >= len(numbers) - 2
    assert all(v for k, v in p.initialized.items() if k != "funding")
    assert p.hurst.value != 0.5 and p.parkinson.value > 0
    # The LOB vector by name (the row's tail is the LSTM and ensemble now): the inputs that vary here
    # (bid sizes, hence imbalances; the mid, hence the spread in bps, RSI, EMAs, ATR, Bollinger width)
    # give non-zero z-scores, the constant ask sizes exactly zero.
    lob = [getattr(row, f"lob_{i}") for i in range(21)]
    assert all(lob[i] != 0.0 for i in (*range(5), *range(10, 21))), lob
    assert all(lob[i] == 0.0 for i in range(5, 10)), lob


def test_warm_up_names_the_cold_indicators():
    p = small_pipeline()
    row = p.on_book(book(0))
    assert not row.warm and set(row.cold.split(",")) == set(p.initialized) - {"funding", "ensemble"}  # no warm-up
    for i in range(1, 60):
        p.on_trade(100.1, 1.0, 1 if i % 3 else -1, i * S // 10)
        row = p.on_book(book(i * S // 10, bid_size=1 + i % 4, mid=100 + 0.1 * (i % 3)))
    # the order flow is warm after a few seconds; the 1 s bar statistics need minutes
    assert set(row.cold.split(",")) == {"hurst", "ou", "parkinson", "lob", "lstm"}
    rng, x = np.random.default_rng(1), 0.0
    for i in range(6, 400):  # a mean-reverting mid on the tick grid, so the OU fit is valid
        x = 0.9 * x + rng.normal(0, 0.3)
        p.on_trade(100.1, 1.0, 1 if i % 3 else -1, i * S + 1)
        row = p.on_book(book(i * S, bid_size=1 + i % 4, mid=100 + round(x, 1)))
    assert row.warm and row.cold == "" and not p.funding.initialized


def test_bad_input_never_crashes_nor_leaks_nan():
    p = small_pipeline()
    rows = [
        p.on_book(BUILDER.from_levels([], [], 0)),  # empty
    ]
    p.on_trade(100.0, 1.0, 0, 1)
    p.flush()
    assert p.classifier.value == 1  # a trade before any valid book: tick rule default
    rows += [
        p.on_book(BUILDER.from_levels([(99.9, 1.0)], [], 2)),  # one-sided
        p.on_book(BUILDER.from_levels([(100.2, 1.0)], [(100.1, 1.0)], 3)),  # crossed
        p.on_book(BUILDER.from_levels([(99.9, float("nan")), (99.8, 0.0)], [(100.1, 1.0)], 4)),  # bad sizes
        p.on_book(book(5)),
        p.on_book(book(6)),  # identical consecutive snapshots
        p.on_book(book(7, bid_size=1e12, ask_size=1e-9)),  # huge and tiny sizes
        p.on_book(book(8)),
    ]
    for price, size, side in (
        (float("nan"), 1.0, 1),
        (100.0, float("nan"), 1),
        (100.0, 0.0, -1),
        (-1.0, 1.0, 1),
        (100.0, float("inf"), 1),
    ):
        p.on_trade(price, size, side, 9)  # counted below, nothing fed
    p.on_trade(100.0, 1e12, 1, 10)  # a huge trade: VPIN cuts it to its window
    rows.append(p.on_book(book(S)))
    for row in rows:
        assert_no_nan(row)
    assert [r.book_valid for r in rows[:4]] == [False, False, False, False]
    assert rows[3].mid == 0.0  # no valid book yet: mid not invented
    assert rows[-1].vpin == 1.0 and rows[-1].ofi == 0.0
    assert rows[5].ofi == 0.0  # identical snapshots: no flow
    assert p.skips.counts == {
        "invalid book (empty, one-sided or crossed): book features hold their values": 4,
        "trade with non-positive or non-finite price or size skipped": 5,
    }
    assert BUILDER.skips.counts["level with non-finite or non-positive price or size dropped"] >= 2


def test_trade_tick_adapter_matches_the_plain_path():
    plain, adapted = small_pipeline(), small_pipeline()
    for p in (plain, adapted):
        p.on_book(book(0))
    tick = TestDataStubs.trade_tick(price=100.15, size=2.0, aggressor_side=AggressorSide.SELLER, ts_event=5)
    adapted.on_trade_tick(tick)
    plain.on_trade(100.15, 2.0, -1, tick.ts_event)
    assert adapted.snapshot() == plain.snapshot()
    assert adapted.classifier.value == plain.classifier.value == -1


@pytest.mark.real_data
def test_real_capture_through_the_pipeline(capture):
    """Builder + pipeline over the whole capture: no NaN in any row, warm by the end."""
    window_volume = capture.volume_per_second() * 60
    p = FeaturePipeline(VPIN(VPINSettings(volume_per_hour=window_volume, window_minutes=60.0)))
    rows = []
    for kind, item, _ in replay(capture):
        if kind == "book":
            row = p.on_book(item)
            assert_no_nan(row)
            rows.append(row)
        else:
            p.on_trade_tick(item)
    assert rows[-1].warm, rows[-1].cold
    assert len(rows) > 5000 and p.trades == len(capture.trades)
    warm = [r for r in rows if r.warm]
    multipliers = Counter(round(r.regime_multiplier, 3) for r in warm)
    states = Counter((int(r.spread_state), int(r.depth_state), int(r.activity_state)) for r in warm)
    counts = {name: ind.skips.counts for name, ind in p._indicators.items() if getattr(ind, "skips", None) and ind.skips.counts}
    print(
        f"\n{capture.name}: {len(rows)} rows ({len(warm)} warm); regime multiplier {dict(multipliers)}, "
        f"(spread, depth, activity) states {dict(states)}; depth notional median "
        f"{np.median([r.depth_notional for r in warm]):,.0f}, activity median "
        f"{np.median([r.activity_rate for r in warm]):.1f}/s; skips {p.skips.counts} {counts}"
    )


@pytest.mark.real_data
@pytest.mark.filterwarnings("ignore:Timestamp.utcnow is deprecated")  # raised inside Nautilus's engine
def test_indicators_fed_by_a_nautilus_strategy(capture_paths):
    """Registered with `register_indicator_for_trade_ticks`, the Python subclasses receive the
    engine's ticks (Cython's cpdef dispatch reaches their handle_trade_tick) and end where direct
    calls end."""
    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.backtest.engine import BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig
    from nautilus_trader.model.currencies import USDT
    from nautilus_trader.model.enums import AccountType
    from nautilus_trader.model.enums import OmsType
    from nautilus_trader.model.identifiers import Venue
    from nautilus_trader.model.objects import Money
    from nautilus_trader.trading.strategy import Strategy

    from scalp_nautilus.indicators import LeeReadyClassifier
    from tests.support.captures import load

    cap = load("usdm_2024_08", tuple(capture_paths("usdm_2024_08")))
    trades = cap.trades[:3000]

    def make():
        return [
            VPIN(VPINSettings(volume_per_hour=50.0, window_minutes=60.0)),
            CumulativeVolumeDelta(),
            LeeReadyClassifier(),
            LiquidityMetrics(),
        ]

    class Registering(Strategy):
        def __init__(self):
            super().__init__()
            self.indicators = make()

        def on_start(self):
            for indicator in self.indicators:
                self.register_indicator_for_trade_ticks(cap.instrument.id, indicator)
            self.subscribe_trade_ticks(cap.instrument.id)

    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR")))
    engine.add_venue(Venue("BINANCE"), OmsType.NETTING, AccountType.MARGIN, [Money(10_000, USDT)], base_currency=USDT)
    engine.add_instrument(cap.instrument)
    engine.add_data(trades)
    strategy = Registering()
    engine.add_strategy(strategy)
    engine.run()
    direct = make()
    for tick in trades:
        for indicator in direct:
            indicator.handle_trade_tick(tick)
    for fed, called in zip(strategy.indicators, direct):
        assert fed.has_inputs and fed.value == called.value
    assert strategy.indicators[0].completed > 50
    engine.dispose()


def test_every_skip_reaches_the_totals():
    """Hurst, Parkinson, the mid-bar builder and the funding detector count their skips through
    `SkipCounter`: each shows in `skip_counts`, the totals the backtest report prints (issue 22)."""
    p = small_pipeline()
    p.on_book(book(0))
    p.on_book(book(20 * S))  # 19 silent bars, more than max_carry (10): an outage
    p.bars.update(-1.0, 20 * S)  # a mid no book can give
    p.hurst.update_raw(math.nan)
    p.parkinson.update_raw(99.0, 101.0, 100.0)  # high below low
    p.funding.update_raw(math.nan, 21 * S)
    p.funding.update_raw(1e-4, 8 * 3600 * S)
    p.funding.update_raw(1e-4, 8 * 3600 * S + S)  # a second later: a per-tick stream, not a settlement
    p.funding.update_raw(1e-4, 9 * 3600 * S, next_funding_ns=16 * 3600 * S)
    p.funding.update_raw(1e-4, 9 * 3600 * S + S, next_funding_ns=8 * 3600 * S)  # an earlier settlement
    totals = {k: v for k, v in p.skip_counts().items() if not k.startswith("FeaturePipeline")}
    assert totals == {
        "MidBars: feed outage (more than max_carry silent bars): the bar series restarted": 1,
        "MidBars: non-positive or non-finite mid skipped": 1,
        "HurstExponent: non-positive or non-finite sample skipped": 1,
        "ParkinsonVolatility: bar with non-positive prices or low <= close <= high violated skipped": 1,
        "FundingArbDetector: non-finite funding rate skipped": 1,
        "FundingArbDetector: funding records without next_funding_ns closer than min_interval_ns: a per-tick stream, not "
        "settlements; ignored (give next_funding_ns to use it)": 1,
        "FundingArbDetector: funding update for an earlier settlement: out of order, skipped": 1,
    }
