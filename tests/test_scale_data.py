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
from tests.conftest import CAPTURES

SPOT_FILES = ["spot_nexousdt_20240723.dat.gz", "spot_nexousdt_20240724.dat.gz", "spot_nexousdt_20240725.dat.gz"]
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
            top = (float(book.best_bid_price()), float(book.best_bid_size()), float(book.best_ask_price()), float(book.best_ask_size()))
            compared += 1
            mismatched += top != tickers[e.sequence]
    s = imp.stats
    assert (s.sequence_gaps, s.depth_applied, s.trades, s.trade_id_gaps) == (0, 99_030, 18_817, 0)
    assert (s.mark_prices, s.funding_updates, s.book_tickers) == (0, 0, len(tickers))
    assert mismatched == 0 and compared > 10_000, (compared, mismatched)
    assert (last - first) / 3.6e12 > 34.0


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
