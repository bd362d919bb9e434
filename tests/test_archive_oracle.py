"""The closing oracle of issue 21 on the shared raw captures: their trade and bookTicker streams
written as the archive publishes them (daily zipped CSVs with CHECKSUMs, both header variants),
imported through `data download --from-dir`, give back

- every bookTicker as a `QuoteTick` (prices and sizes as the capture printed them, at its
  transaction time), and
- the raw import's trades one for one (id, price, size, aggressor, time).
"""

from __future__ import annotations

import pytest

from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from scalp_nautilus.data.archive_download import download_archive
from scalp_nautilus.data.binance_capture import BinanceCaptureImporter
from tests.support.archive_files import archive_from_capture
from tests.support.archive_files import capture_messages

pytestmark = [pytest.mark.real_data, pytest.mark.slow]

MARKETS = {"usdm_2023_04": "um", "usdm_2024_07": "um", "usdm_2024_08": "um", "cm_2024_08": "cm"}


@pytest.mark.parametrize("name", list(MARKETS))
def test_archive_files_written_from_a_capture_import_to_the_capture(name, capture_paths, tmp_path):
    paths = capture_paths(name)
    files = archive_from_capture(paths, tmp_path / "archive", MARKETS[name])
    assert len({f.start for f in files}) == 2  # every capture crosses a midnight (UTC): two daily files a kind
    raw = BinanceCaptureImporter(paths)
    raw_trades = [e for e in raw.events() if isinstance(e, TradeTick)]
    inst = raw.instrument
    outcome = download_archive(
        MARKETS[name], raw.symbol, ["trades", "bookTicker"], None, None, tmp_path / "unused", tmp_path / "cat",
        from_dir=tmp_path / "archive",
    )  # fmt: skip
    assert [r.status for r in outcome.results] == ["verified"] * len(files)
    assert outcome.imported is not None and outcome.imported.instrument == inst
    catalog = ParquetDataCatalog(str(tmp_path / "cat"))

    trades = catalog.trade_ticks(instrument_ids=[inst.id.value])
    assert len(trades) == len(raw_trades) == raw.stats.trades > 1_000
    assert [(t.trade_id, t.price, t.size, t.aggressor_side, t.ts_event) for t in trades] == [
        (t.trade_id, t.price, t.size, t.aggressor_side, t.ts_event) for t in raw_trades
    ]

    tickers = [d for kind, d in capture_messages(paths) if kind == "bookTicker"]
    quotes = catalog.quote_ticks(instrument_ids=[inst.id.value])
    pp, sp = inst.price_precision, inst.size_precision
    assert len(quotes) == len(tickers) == raw.stats.book_tickers > 10_000
    assert [(q.bid_price, q.bid_size, q.ask_price, q.ask_size, q.ts_event, q.ts_init) for q in quotes] == [
        (
            Price(float(d["b"]), pp),
            Quantity(float(d["B"]), sp),
            Price(float(d["a"]), pp),
            Quantity(float(d["A"]), sp),
            d["T"] * 10**6,
            d["T"] * 10**6,
        )
        for d in tickers
    ]
    stats = outcome.imported.stats
    for kind in ("trades", "bookTicker"):
        s = stats[kind]
        assert (s.malformed, s.duplicates, s.out_of_order, s.rounded) == (0, 0, 0, 0), kind
