"""ScalpStrategy inside a real Nautilus BacktestEngine: gates, the order latch, several instances
per node, and funding booked on a hand-computable case and on the real 2023-04 capture."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal

import pandas as pd
import pytest

from nautilus_trader.adapters.binance.futures.types import BinanceFuturesMarkPriceUpdate
from nautilus_trader.model.data import NULL_ORDER
from nautilus_trader.model.data import BookOrder
from nautilus_trader.model.data import CustomData
from nautilus_trader.model.data import DataType
from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.data import MarkPriceUpdate
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.enums import BookAction
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import RecordFlag
from nautilus_trader.model.identifiers import TradeId
from nautilus_trader.model.objects import Price

from scalp_nautilus.data.binance_capture import BinanceCaptureImporter
from scalp_nautilus.data.simulator import SIM_SPEC
from scalp_nautilus.strategy import ScalpStrategy
from tests.strategy_harness import ForcedEntry
from tests.strategy_harness import S
from tests.strategy_harness import forced_plan
from tests.strategy_harness import run_engine
from tests.strategy_harness import scalp_config
from tests.strategy_harness import simulated

MINUTES = 8.0


def _flatten_at(events) -> str:
    return pd.Timestamp(max(e.ts_init for e in events) - 5 * S, tz="UTC").isoformat()


@pytest.fixture(scope="module")
def control():
    """Two instances in one node on the simulated market: A with the default gates, B with a dead
    zone covering every Hurst value. A 50 ms latency widens the window the latch must cover."""
    instrument, events = simulated(MINUTES)
    flatten = {"flatten_at": _flatten_at(events)}
    a = ScalpStrategy(scalp_config(str(instrument.id), "A", orders=flatten))
    b = ScalpStrategy(
        scalp_config(str(instrument.id), "B", orders=flatten, signals={"dead_zone_low": 0.0, "dead_zone_high": 1.0})
    )
    engine = run_engine(instrument, events, [a, b], latency_ms=50.0)
    orders = engine.trader.generate_orders_report()
    positions = engine.trader.generate_positions_report()
    yield a.report(), b.report(), orders, positions
    engine.dispose()


def test_default_gates_trade_and_every_position_closes(control):
    a, _, orders, positions = control
    assert a.outcomes["taken"] >= 2 and len(a.round_trips) == a.outcomes["taken"]
    mine = orders[orders["strategy_id"] == "ScalpStrategy-A"]
    tags = mine["tags"].astype(str)
    assert tags.str.contains("entry:").sum() == a.outcomes["taken"]
    assert tags.str.contains("exit:").sum() == len(a.round_trips)
    # Each position had its protective stop at the venue, cancelled once flat (or filled, closing it).
    stops = tags.str.contains("exchange_stop")
    assert stops.sum() == len(a.round_trips) and set(mine["status"][stops]) <= {"CANCELED", "FILLED"}
    assert (mine["status"][~stops] == "FILLED").all()
    assert positions["ts_closed"].notna().all()  # nothing left open
    assert a.timeline["position"].iloc[-1] == 0.0


def test_hurst_dead_zone_blocks_every_entry(control):
    a, b, orders, _ = control
    assert a.batches == b.batches  # both instances saw every batch
    assert b.outcomes["taken"] == 0 and b.round_trips == []
    assert b.outcomes["dead_zone"] > 0
    # every warm batch that A could act on was a dead-zone batch for B
    assert b.outcomes["dead_zone"] + b.outcomes["cold"] + b.outcomes["closed"] == b.batches
    assert (orders["strategy_id"] == "ScalpStrategy-B").sum() == 0


def test_one_signal_never_sends_two_orders(control):
    a, _, orders, _ = control
    mine = orders[orders["strategy_id"] == "ScalpStrategy-A"].sort_values("ts_init")
    mine = mine[~mine["tags"].astype(str).str.contains("exchange_stop")]  # resting, not in flight: no latch
    submitted = pd.to_datetime(mine["ts_init"], utc=True).to_numpy()
    resolved = pd.to_datetime(mine["ts_last"], utc=True).to_numpy()
    assert (submitted[1:] >= resolved[:-1]).all()  # each order only after the previous one resolved
    assert a.outcomes["order_pending"] + a.outcomes["exit_pending"] > 0  # the latch held some back


def test_vpin_extreme_blocks_entries_but_not_the_stop(tmp_path):
    instrument, events = simulated(MINUTES)
    start = min(e.ts_event for e in events if isinstance(e, OrderBookDelta))
    rows = tmp_path / "features.parquet"
    config = scalp_config(
        str(instrument.id),
        "C",
        orders={"flatten_at": _flatten_at(events)},
        vpin={"thresholds": [0.0, 0.0, 0.0]},  # every warm VPIN > 0 is EXTREME
        record_features=str(rows),
    )
    forced_at = start + 240 * S  # after VPIN's warm-up
    strategy = ForcedEntry(config, forced_at, forced_plan(1, 0.05, stop_distance=1.0))
    engine = run_engine(instrument, events, [strategy])
    report = strategy.report()
    fills = engine.trader.generate_order_fills_report()
    engine.dispose()
    assert report.outcomes["taken"] == 0 and report.outcomes["vpin_extreme"] > 0
    [trip] = report.round_trips
    assert (trip.kind, trip.exit_reason, trip.direction) == ("forced", "stop", 1)
    features = pd.read_parquet(rows)
    held = features[(features["ts_event"] >= trip.ts_opened) & (features["ts_event"] <= trip.ts_closed)]
    assert len(held) > 0 and (held["vpin_regime"] == 3).all()  # the stop fired while VPIN was EXTREME
    exit_fill = fills[fills["tags"].astype(str).str.contains("exit:stop")]
    assert len(exit_fill) == 1
    assert float(exit_fill["avg_px"].iloc[0]) <= trip.avg_px_open - 1.0 + 0.5  # at or through the stop (+ spread)


def test_a_silent_feed_closes_the_position(tmp_path):
    """20 s without book data (trades go on) while in a position: the watchdog exits at market
    `exits.stale_feed_s` after the last batch. (Resuming after a re-sync: test_live_replay.)"""
    instrument, events = simulated(MINUTES)
    start = min(e.ts_event for e in events if isinstance(e, OrderBookDelta))
    hole = (start + 300 * S, start + 320 * S)
    events = [e for e in events if not (isinstance(e, OrderBookDelta) and hole[0] <= e.ts_init < hole[1])]
    last_before = max(e.ts_init for e in events if isinstance(e, OrderBookDelta) and e.ts_init < hole[0])
    config = scalp_config(str(instrument.id), "W", orders={"flatten_at": _flatten_at(events)}, exits={"time_stop_s": 0.0})
    strategy = ForcedEntry(config, start + 290 * S, forced_plan(1, 0.05, stop_distance=1_000.0))
    engine = run_engine(instrument, events, [strategy])
    report = strategy.report()
    engine.dispose()
    trip = next(t for t in report.round_trips if t.kind == "forced")
    assert trip.exit_reason == "stale_feed" and strategy.stale_feeds == 1
    # Closed inside the hole: sent at the watchdog's first 1 s tick 5 s after the last batch, filled
    # by the engine at its next event (the trades go on).
    assert last_before + 5 * S <= trip.ts_closed < hole[1]
    assert report.outcomes["stale_feed"] == 1


# ---------------------------------------------------------------------- funding

T1 = pd.Timestamp("2024-03-01T00:00:00Z").value
T2 = T1 + 8 * 3600 * S
T3 = T2 + 8 * 3600 * S


def _book_batch(instrument, ts: int, seq: int, clear: bool = False) -> list[OrderBookDelta]:
    """A 5-level book around 40,000 (tick 0.1): a snapshot, or the best bid re-stated."""
    iid = instrument.id

    def delta(side, price, flags, action=BookAction.ADD):
        order = BookOrder(side, instrument.make_price(price), instrument.make_qty(5.0), 0)
        return OrderBookDelta(iid, action, order, flags, seq, ts, ts)

    if not clear:
        return [delta(OrderSide.BUY, 39_999.9, int(RecordFlag.F_LAST), BookAction.UPDATE)]
    out = [OrderBookDelta(iid, BookAction.CLEAR, NULL_ORDER, 0, seq, ts, ts)]
    levels = [(OrderSide.BUY, 39_999.9 - 0.1 * k) for k in range(5)] + [(OrderSide.SELL, 40_000.0 + 0.1 * k) for k in range(5)]
    for i, (side, price) in enumerate(levels):
        out.append(delta(side, price, int(RecordFlag.F_LAST) if i == len(levels) - 1 else 0))
    return out


# (ts, rate, settlement it names, mark): Binance's markPrice@1s around two settlements. The update
# stamped just after T1 still names T1 (its rate is the settled one); its mark is after T1.
OBSERVATIONS = [
    (T1 - 30 * S, 0.0001, T1, 40_000.0),
    (T1 - S, 0.00012, T1, 40_100.0),
    (T1 + 10_000_000, 0.00015, T1, 41_000.0),
    (T1 + S, 0.00002, T2, 41_000.0),
    (T2 - S, -0.00008, T2, 40_500.0),
    (T2 + 10_000_000, -0.0001, T2, 40_900.0),
    (T2 + S, 0.00001, T3, 40_900.0),
]


def _funding_feed(iid, feed: str) -> tuple[list, list]:
    """The observations as Nautilus's FundingRateUpdate + MarkPriceUpdate (data), or as Binance's
    custom data published by the venue's client (custom)."""
    if feed == "funding_rates":
        data = []
        for ts, rate, named, mark in OBSERVATIONS:
            data += [
                FundingRateUpdate(iid, f"{rate:.8f}", ts, ts, next_funding_ns=named),
                MarkPriceUpdate(iid, Price(mark, 2), ts, ts),
            ]
        return data, []
    data_type = DataType(BinanceFuturesMarkPriceUpdate, metadata={"instrument_id": iid})
    custom = [
        CustomData(
            data_type,
            BinanceFuturesMarkPriceUpdate(
                iid,
                Price(mark, 2),
                Price(mark, 2),
                Price(mark, 2),
                Decimal(f"{rate:.8f}"),
                named,
                ts,
                ts,
            ),
        )
        for ts, rate, named, mark in OBSERVATIONS
    ]
    return [], custom


@pytest.mark.parametrize("feed", ["funding_rates", "binance_mark_price"])
def test_funding_booked_on_a_position_held_across_two_settlements(feed):
    instrument = SIM_SPEC.to_instrument()
    iid = instrument.id
    t0 = T1 - 60 * S
    events = _book_batch(instrument, t0, 1, clear=True)
    events += [d for k in range(1, 6) for d in _book_batch(instrument, t0 + k * S, k + 1)]
    funding, custom = _funding_feed(iid, feed)
    events += funding
    events += [d for k in range(31, 36) for d in _book_batch(instrument, T2 + k * S, k + 100)]
    # A book that updates twice in 16 hours: the feed watchdog would rightly close the position.
    config = scalp_config(
        str(iid),
        "F",
        orders={"flatten_at": pd.Timestamp(T2 + 32 * S, tz="UTC").isoformat()},
        funding={"feed": feed},
        exits={"stale_feed_s": 0.0},
    )
    strategy = ForcedEntry(config, t0 + 2 * S, forced_plan(1, 0.5, stop_distance=1_000.0))
    engine = run_engine(instrument, events, [strategy], custom=custom)
    account = engine.trader.generate_account_report(iid.venue)
    engine.dispose()
    report = strategy.report()
    [trip] = report.round_trips
    assert trip.ts_opened < T1 and trip.ts_closed > T2 and trip.exit_reason == "flatten"
    first, second = report.funding
    # the long pays 0.5 x 40,100 x 0.00015, then receives 0.5 x 40,500 x 0.0001
    assert (first.ts_ns, first.mark, first.rate, first.position) == (T1, 40_100.0, 0.00015, 0.5)
    assert first.amount == pytest.approx(-3.0075, abs=1e-9)
    assert (second.ts_ns, second.mark, second.rate) == (T2, 40_500.0, -0.0001)
    assert second.amount == pytest.approx(2.025, abs=1e-9)
    # Nautilus's account never sees it: the balance moves by the round trip only
    change = float(account["total"].iloc[-1]) - 10_000.0
    assert change == pytest.approx(trip.realized_pnl, abs=1e-9)
    assert report.timeline["equity"].iloc[-1] == pytest.approx(10_000.0 + trip.realized_pnl - 3.0075 + 2.025, abs=1e-6)


SETTLEMENT_2023_04 = pd.Timestamp("2023-04-05T00:00:00Z").value


def _last_mark_before(paths, settlement_ns: int) -> float:
    """From the raw capture: the mark price of the last markPriceUpdate with event time <= T."""
    best = (-1, 0.0)
    for path in paths:
        with gzip.open(path, "rt") as f:
            for line in f:
                if "markPriceUpdate" not in line:
                    continue
                data = json.loads(line.split(" ", 1)[1])["data"]
                ts = int(data["E"]) * 1_000_000
                if ts <= settlement_ns and ts > best[0]:
                    best = (ts, float(data["p"]))
    assert best[0] > 0
    return best[1]


@pytest.mark.real_data
@pytest.mark.slow
def test_funding_on_the_real_2023_04_capture(capture_paths):
    paths = capture_paths("usdm_2023_04")
    importer = BinanceCaptureImporter(paths)
    events = [e for e in importer.events() if not isinstance(e, QuoteTick)]
    instrument = importer.instrument
    start = min(e.ts_event for e in events if isinstance(e, OrderBookDelta))
    config = scalp_config(str(instrument.id), "R", orders={"flatten_at": _flatten_at(events)}, vpin={"volume_per_hour": 15_000.0})
    strategy = ForcedEntry(config, start + 10 * S, forced_plan(1, 0.01, stop_distance=5_000.0))
    run_engine(instrument, events, [strategy]).dispose()
    report = strategy.report()
    [trip] = report.round_trips
    assert trip.ts_opened < SETTLEMENT_2023_04 < trip.ts_closed
    [payment] = report.funding
    mark = _last_mark_before(paths, SETTLEMENT_2023_04)
    assert (payment.ts_ns, payment.rate, payment.position, payment.mark) == (SETTLEMENT_2023_04, 0.0000276, 0.01, mark)
    assert payment.amount == pytest.approx(-0.01 * mark * 0.0000276, rel=1e-12)


def test_an_unknown_instrument_stops_the_strategy_at_start():
    instrument, events = simulated(MINUTES)
    strategy = ScalpStrategy(scalp_config("ETHUSDT-PERP.SIM", "X"))
    run_engine(instrument, events[:2000], [strategy]).dispose()
    assert strategy.instrument is None and strategy.pipeline is None and strategy.batches == 0
    assert strategy.report().outcomes["taken"] == 0


# ---------------------------------------------------------------------- maker entries in the engine


def _queue_tape(instrument):
    """A quiet 5-level book (best bid 39,999.9 x 5) re-stated every second, and three sell
    aggressors of 2 at the best bid at +3.5 s, +4.5 s and +5.5 s."""
    t0 = T1
    events = _book_batch(instrument, t0, 1, clear=True)
    events += [d for k in range(1, 10) for d in _book_batch(instrument, t0 + k * S, k + 1)]
    trades = [t0 + 3_500_000_000 + k * S for k in range(3)]
    events += [
        TradeTick(
            instrument.id,
            instrument.make_price(39_999.9),
            instrument.make_qty(2.0),
            AggressorSide.SELLER,
            TradeId(f"T{k}"),
            ts,
            ts,
        )
        for k, ts in enumerate(trades)
    ]
    return t0, sorted(events, key=lambda e: e.ts_init), trades


@pytest.mark.parametrize("queue_position", [True, False])
def test_a_queue_position_fill_waits_for_the_trades_to_exceed_the_queue_ahead(queue_position):
    """A maker buy of 0.5 joins the best bid behind the displayed 5.0. With Nautilus's queue
    position the trades at its price must first use up those 5.0: 2 + 2 = 4 leave it waiting, the
    third trade (6 > 5) fills it. Without it, the first trade at the price fills it."""
    instrument = SIM_SPEC.to_instrument()
    t0, events, trades = _queue_tape(instrument)
    config = scalp_config(
        str(instrument.id),
        "Q",
        orders={"entry": "maker", "maker_ttl_ms": 60_000.0, "flatten_at": pd.Timestamp(t0 + 8 * S, tz="UTC").isoformat()},
        exits={"stale_feed_s": 0.0, "time_stop_s": 0.0},
    )
    strategy = ForcedEntry(config, t0 + S, forced_plan(1, 0.5, stop_distance=1_000.0))
    engine = run_engine(instrument, events, [strategy], queue_position=queue_position)
    fills = engine.trader.generate_fills_report().reset_index()  # one row per fill, in time order
    engine.dispose()
    entry = fills[fills["client_order_id"] == fills["client_order_id"].iloc[0]]
    [row] = entry.itertuples()
    assert (str(row.liquidity_side), float(row.last_px), float(row.last_qty)) == ("MAKER", 39_999.9, 0.5)
    assert pd.Timestamp(row.ts_event).value == (trades[2] if queue_position else trades[0])
    [trip] = strategy.report().round_trips
    assert trip.exit_reason == "flatten" and strategy.execution.counts["maker_filled"] == 1
