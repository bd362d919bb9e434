"""Scale data: Binance spot captures (spot's chain rule, the 34-hour NEXOUSDT capture against its
own bookTicker), the simulator's real-intensity profile against the real BTCUSDT captures."""

from __future__ import annotations

import dataclasses
import gzip
import json
from types import SimpleNamespace

import pytest

from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.enums import RecordFlag
from nautilus_trader.model.instruments import CurrencyPair

from scalp_nautilus.data.binance_capture import BinanceCaptureImporter
from scalp_nautilus.data.binance_sync import BookSync
from scalp_nautilus.data.binance_sync import Verdict
from scalp_nautilus.data.simulator import BTCUSDT_CAPTURES
from scalp_nautilus.data.simulator import PROFILES
from scalp_nautilus.data.simulator import MarketSimulator
from scalp_nautilus.data.simulator import capture_rates
from tests.capture_catalogs import SPOT
from tests.capture_catalogs import SPOT_FILES
from tests.capture_catalogs import capture_catalog  # noqa: F401 (fixture)
from tests.capture_catalogs import run_capture_backtest
from tests.support.shared_data import CAPTURES

F_LAST = int(RecordFlag.F_LAST)


def d(U, u, pu=None):
    return SimpleNamespace(U=U, u=u, pu=pu)


def test_spot_chain_rule_by_hand():
    """Spot: snapshot 100 holds updates up to 100; diffs with u <= 100 are stale; the first applied
    one brackets 101; then U must be the previous u + 1 (no `pu`)."""
    sync = BookSync(spot=True)
    assert sync.diff(d(95, 100)) is Verdict.BUFFERED
    assert sync.diff(d(101, 104)) is Verdict.BUFFERED
    usable, dropped, replay = sync.snapshot(100)
    assert usable and dropped == 1 and [x.u for x in replay] == [104]
    assert sync.diff(replay[0]) is Verdict.APPLY
    assert sync.diff(d(105, 107)) is Verdict.APPLY
    assert sync.diff(d(109, 110)) is Verdict.GAP  # 108 missing
    # a snapshot that leaves a hole before the buffered diffs is unusable
    assert sync.snapshot(107) == (False, 0, [])
    # futures' rule is unchanged: U <= lastUpdateId <= u for the first diff, then pu
    fut = BookSync()
    fut.snapshot(100)
    assert fut.diff(d(101, 103, 100)) is Verdict.APPLY  # pu == lastUpdateId
    assert fut.diff(d(104, 105, 102)) is Verdict.GAP


@pytest.mark.real_data
@pytest.mark.slow
def test_spot_capture_imports_gapless_and_book_equals_book_ticker(shared_data):
    """The 34.2-hour NEXOUSDT spot capture: one continuous chain, every trade, a `CurrencyPair`,
    and the book rebuilt from the imported deltas equals bookTicker (bid, ask and their sizes) at
    every update id the two streams share (17,468 here; the data README counts 133)."""
    paths = [shared_data / "binance-spot" / f for f in SPOT_FILES]
    tickers = {}
    for path in paths:
        with gzip.open(path, "rt") as fh:
            for line in fh:
                if "@bookTicker" in line:
                    t = json.loads(line.split(" ", 1)[1])["data"]
                    tickers[int(t["u"])] = tuple(float(t[k]) for k in ("b", "B", "a", "A"))
    imp = BinanceCaptureImporter(paths)
    assert isinstance(imp.instrument, CurrencyPair) and imp.instrument.id.value == "NEXOUSDT.BINANCE"
    book = OrderBook(imp.instrument.id, BookType.L2_MBP)
    compared = mismatched = 0
    first = last = None
    for e in imp.events():
        if not isinstance(e, OrderBookDelta):
            continue
        first = first or e.ts_event
        last = e.ts_event
        book.apply_delta(e)
        if e.flags & F_LAST and e.sequence in tickers:
            bid = (float(book.best_bid_price()), float(book.best_bid_size()))
            top = (*bid, float(book.best_ask_price()), float(book.best_ask_size()))
            compared += 1
            mismatched += top != tickers[e.sequence]
    s = imp.stats
    assert (s.sequence_gaps, s.depth_applied, s.trades, s.trade_id_gaps) == (0, 99_030, 18_817, 0)
    assert (s.mark_prices, s.funding_updates, s.book_tickers) == (0, 0, len(tickers))
    assert mismatched == 0 and compared > 10_000, (compared, mismatched)
    assert (last - first) / 3.6e12 > 34.0


@pytest.mark.real_data
@pytest.mark.slow
def test_spot_capture_backtests_streamed_across_its_days_and_replays_to_the_same_rows(capture_catalog, tmp_path):  # noqa: F811
    """The 34.2-hour spot capture, imported into a catalog, backtested streamed (small chunks) from
    its first to its last event across two midnights; the strategy runs without funding data and
    the report says so; the engine-free feature replay gives the recorder's rows bit for bit."""
    import pyarrow.parquet as pq

    from scalp_nautilus.backtest.settings import check_strategy_config
    from scalp_nautilus.config import read_yaml
    from scalp_nautilus.feature_replay.replay import replay_features

    cat = capture_catalog(SPOT)
    out = run_capture_backtest(cat, tmp_path / "bt", chunk_size=5_000)
    rep = out.strategies[0]
    rows = pq.read_table(tmp_path / "bt" / "features.parquet")
    ts = rows.column("ts_event").to_numpy()
    assert rows.num_rows == rep.batches > 90_000 and (ts[-1] - ts[0]) / 3.6e12 > 34.0
    days = {str(d) for d in ts.astype("datetime64[ns]").astype("datetime64[D]")}
    assert days == {"2024-07-23", "2024-07-24", "2024-07-25"}
    assert "is a spot pair (no funding data" in out.summary()
    for column in ("funding_z", "funding_direction", "funding_bps"):  # the funding features stay off
        assert not rows.column(column).to_numpy().any(), column
    strategy_yaml = tmp_path / "bt" / "strategy.yaml"
    config = check_strategy_config(
        read_yaml(strategy_yaml), "scalp_nautilus.strategy:ScalpStrategyConfig", cat.instrument_id, str(strategy_yaml)
    )
    replayed = replay_features(cat.path, cat.instrument_id, config, tmp_path / "replayed.parquet", chunk_size=4_999)
    assert pq.read_table(replayed.path).equals(rows)


@pytest.mark.real_data
@pytest.mark.slow
def test_btcusdt_profile_rates_match_the_captures(capture_paths):
    """The capture rates the profile is compared with are the captures' (recomputed here), and the
    profile's simulated rates lie within the captures' range (min to max over the three USDT-M
    captures) for every rate."""
    for name, rates in BTCUSDT_CAPTURES.items():
        measured = capture_rates(BinanceCaptureImporter(capture_paths(name)).events())
        assert measured == pytest.approx(rates, rel=0.005), name
    assert set(BTCUSDT_CAPTURES) == {n for n in CAPTURES if n.startswith("usdm")}
    sim = capture_rates(MarketSimulator(dataclasses.replace(PROFILES["btcusdt"], minutes=2.0)).events())
    for key in sim:
        values = [r[key] for r in BTCUSDT_CAPTURES.values()]
        assert min(values) <= sim[key] <= max(values), (key, sim[key], values)


@pytest.mark.slow
def test_backtest_across_a_hole_between_two_spans_of_one_catalog(tmp_path):
    """Two simulated spans of one instrument in one catalog (23:30-23:36 and 23:45-23:51, each
    opening with its own snapshot), backtested over a range spanning both. Across the 9-minute hole:
    no book batch; the first batch after it is the second span's snapshot (a valid, fresh book);
    the bar-based windows restart by the warm-state rule (a silence over `max_carry` = 10 one-second
    bars is an outage): Hurst back to 0.5 and the blended volatility to 0 although both were live
    before; and no entry from the hole until Hurst has a full window again (64 one-second samples)."""
    import pandas as pd

    from scalp_nautilus.backtest.runner import run_backtest
    from scalp_nautilus.backtest.settings import load_backtest_settings
    from scalp_nautilus.data.simulator import SimulationParams
    from scalp_nautilus.data.simulator import simulate_to_catalog
    from tests.support.configs import write_config

    cat = tmp_path / "cat"
    simulate_to_catalog(cat, SimulationParams(minutes=6, seed=1))
    simulate_to_catalog(cat, SimulationParams(start="2024-01-01T23:45:00Z", minutes=6, seed=2))
    config = write_config(
        tmp_path,
        strategy={"vpin.window_minutes": 1.0, "hurst.window": 64},
        catalog=str(cat),
        reports_dir=str(tmp_path / "rep"),
        plots=False,
        start="2024-01-01T23:30:00Z",
        end="2024-01-01T23:51:00Z",
    )
    run_backtest(load_backtest_settings(config, None, {"record_features": str(tmp_path / "f.parquet")}))
    rows = pd.read_parquet(tmp_path / "f.parquet")
    hole_start = pd.Timestamp("2024-01-01T23:36:00Z").value
    hole_end = pd.Timestamp("2024-01-01T23:45:00Z").value
    ts = rows["ts_event"].to_numpy()
    assert not ((ts > hole_start) & (ts < hole_end)).any()
    before, after = rows[ts < hole_start].iloc[-1], rows[ts >= hole_end].iloc[0]
    assert before["book_valid"] and before["hurst"] != 0.5 and before["blend_vol"] > 0
    assert after["ts_event"] == hole_end and after["book_valid"]
    assert after["hurst"] == 0.5 and after["blend_vol"] == 0.0
    # the pipeline reports it: warm before the hole, cold after it (naming the restarted windows)
    # until they are full again
    assert before["warm"] and not after["warm"] and {"hurst", "parkinson"} <= set(after["cold"].split(","))
    rewarmed = rows[(ts >= hole_end) & rows["warm"].to_numpy()]
    assert len(rewarmed) and rewarmed["ts_event"].iloc[0] >= hole_end + 64e9
    trips = pd.read_csv(tmp_path / "rep" / "round_trips.csv")
    assert (trips["ts_opened"] < hole_start).any() and (trips["ts_opened"] > hole_end).any()  # traded on both sides
    assert not ((trips["ts_opened"] > hole_start) & (trips["ts_opened"] < hole_end + 64e9)).any()
    assert not ((trips["ts_opened"] < hole_start) & (trips["ts_closed"] > hole_start)).any()  # nothing held into it
