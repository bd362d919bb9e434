"""Catalog writing: a round trip loses and reorders nothing; overlaps are refused or replaced."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.data import TradeTick
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from scalp_nautilus.data.binance_capture import BinanceCaptureImporter
from scalp_nautilus.data.catalog import CatalogOverlapError
from scalp_nautilus.data.catalog import CatalogWriter
from scalp_nautilus.data.catalog import describe_catalog
from scalp_nautilus.data.catalog import write_to_catalog
from scalp_nautilus.data.simulator import MarketSimulator
from scalp_nautilus.data.simulator import SimulationParams


def delta_key(d):
    o = d.order
    return (d.action, o.side, o.price.as_decimal(), o.size.as_decimal(), d.flags, d.sequence, d.ts_event, d.ts_init)


def trade_key(t):
    return (t.trade_id.value, t.price.as_decimal(), t.size.as_decimal(), t.aggressor_side, t.ts_event, t.ts_init)


def funding_key(f):
    return (Decimal(str(f.rate)), f.interval, f.next_funding_ns, f.ts_event, f.ts_init)


@pytest.mark.real_data
def test_round_trip_real_capture_in_small_chunks(capture_paths, tmp_path):
    imp = BinanceCaptureImporter(capture_paths("usdm_2023_04"))
    events = list(imp.events())
    writer = CatalogWriter(tmp_path, chunk_rows=20_000)  # many files, cut only between instants
    writer.write_instrument(imp.instrument)
    writer.extend(events)
    writer.close()
    cat = ParquetDataCatalog(str(tmp_path))
    assert len(list((tmp_path / "data" / "order_book_deltas").rglob("*.parquet"))) > 10
    assert [delta_key(d) for d in cat.order_book_deltas()] == [delta_key(e) for e in events if isinstance(e, OrderBookDelta)]
    assert [trade_key(t) for t in cat.trade_ticks()] == [trade_key(e) for e in events if isinstance(e, TradeTick)]
    assert [funding_key(f) for f in cat.funding_rates()] == [funding_key(e) for e in events if isinstance(e, FundingRateUpdate)]
    assert cat.instruments() == [imp.instrument]


def test_round_trip_simulated(tmp_path):
    sim = MarketSimulator(SimulationParams(minutes=3))
    events = list(sim.events())
    write_to_catalog(events, sim.instrument, tmp_path)
    cat = ParquetDataCatalog(str(tmp_path))
    assert [delta_key(d) for d in cat.order_book_deltas()] == [delta_key(e) for e in events if isinstance(e, OrderBookDelta)]
    assert [trade_key(t) for t in cat.trade_ticks()] == [trade_key(e) for e in events if isinstance(e, TradeTick)]
    listing = describe_catalog(tmp_path)
    assert "BTCUSDT-PERP.SIM" in listing and "OrderBookDelta" in listing


def test_overlap_refused_then_replaced(tmp_path):
    sim_events = list(MarketSimulator(SimulationParams(minutes=2)).events())
    inst = MarketSimulator().instrument
    write_to_catalog(sim_events, inst, tmp_path)
    with pytest.raises(CatalogOverlapError, match=r"already holds OrderBookDelta.*--replace"):
        write_to_catalog(sim_events, inst, tmp_path)
    other = list(MarketSimulator(SimulationParams(minutes=2, seed=99)).events())
    write_to_catalog(other, inst, tmp_path, replace=True)
    cat = ParquetDataCatalog(str(tmp_path))
    assert [delta_key(d) for d in cat.order_book_deltas()] == [delta_key(e) for e in other if isinstance(e, OrderBookDelta)]


def test_funding_series_merge_without_duplicates(tmp_path):
    sim = MarketSimulator(SimulationParams(minutes=2))
    events = list(sim.events())
    funding = [e for e in events if isinstance(e, FundingRateUpdate)]
    history, live = funding[:40], funding[40:]
    write_to_catalog(live, sim.instrument, tmp_path)
    write_to_catalog(history, sim.instrument, tmp_path)  # older data into the same series
    write_to_catalog(history[-5:], sim.instrument, tmp_path)  # exact repeats are dropped
    cat = ParquetDataCatalog(str(tmp_path))
    assert [funding_key(f) for f in cat.funding_rates()] == [funding_key(f) for f in funding]
