"""The archive importer against a slow reference (a Nautilus object per row, written by the plain
`CatalogWriter`): Nautilus reads back exactly the same objects from the vectorised path's Parquet,
on files with every defect the importer must count and skip."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.data import MarkPriceUpdate
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import TradeId
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.persistence.catalog.parquet import _timestamps_to_filename

from scalp_nautilus.data.binance_archive import ArchiveError
from scalp_nautilus.data.binance_archive import ArchiveFile
from scalp_nautilus.data.binance_archive import archive_spec
from scalp_nautilus.data.binance_archive import import_archive
from scalp_nautilus.data.binance_archive import nautilus_ticks
from scalp_nautilus.data.catalog import CatalogOverlapError
from scalp_nautilus.data.catalog import CatalogWriter
from scalp_nautilus.data.catalog import catalog_file_name
from tests.support.archive_files import BOOK_TICKER_HEADER
from tests.support.archive_files import FUNDING_HEADER
from tests.support.archive_files import KLINE_HEADER
from tests.support.archive_files import TRADES_HEADER
from tests.support.archive_files import day_start_ms
from tests.support.archive_files import write_archive_zip

UM = archive_spec("um", "BTCUSDT").to_instrument()  # price precision 2, size precision 3
SPOT = archive_spec("spot", "BTCUSDT").to_instrument()  # 2 and 5
D1, D2 = date(2024, 1, 1), date(2024, 1, 2)
T1, T2 = day_start_ms(D1), day_start_ms(D2)


def trade_rows(first_id: int, t0: int, n: int) -> list[str]:
    return [
        f"{first_id + i},{42000 + (i % 7) / 10:.1f},{0.001 * (1 + i % 5):.3f},1.0,{t0 + 10 * i},{'true' if i % 3 else 'false'}"
        for i in range(n)
    ]


def write_csv(root: Path, file: ArchiveFile, lines: list[str], header: bytes | None) -> Path:
    text = (header or b"") + "".join(f"{line}\n" for line in lines).encode()
    return write_archive_zip(root, file, text)


def replace_fields(row: str, **fields: str) -> str:
    names = ["id", "price", "qty", "quote_qty", "time", "m"]
    parts = row.split(",")
    for name, value in fields.items():
        parts[names.index(name)] = value
    return ",".join(parts)


def trades_day1() -> list[str]:
    """402 rows, 8 of them bad: 5 malformed, 1 duplicate, 2 out of order; 2 values rounded."""
    rows = trade_rows(1000, T1, 400)
    rows.insert(50, rows[49])  # a duplicate
    rows.insert(120, replace_fields(rows[5], time=str(T1 + 100_000)))  # an old id: out of order
    rows[200] = replace_fields(rows[200], price="4200O.0")  # not a number
    rows[210] = rows[210] + ",extra,fields"  # a wrong field count
    rows[220] = replace_fields(rows[220], price="")  # an empty price
    rows[230] = replace_fields(rows[230], price="-1.0")  # a negative price
    rows[240] = replace_fields(rows[240], qty="0.000")  # a zero size
    rows[250] = replace_fields(rows[250], price="42000.125", qty="0.0015")  # finer than tick and lot: rounded
    rows[260] = replace_fields(rows[260], time=str(T1 - 100_000))  # time goes back
    rows[-1] = replace_fields(rows[-1], time=str(T2))  # the last trade at the next day's first instant
    return rows


def trades_day2() -> list[str]:
    rows = trade_rows(1400, T2, 300)  # ids continue, with the gap 1399 -> 1400 closed; starts at T2: a tie
    del rows[100:103]  # three trades missing: an id gap
    return rows


def reference_ticks(paths: list[Path], kind: str, instrument) -> tuple[list, dict]:
    """The slow path, written from the module's stated rules and nothing else: every row parsed
    in Python, one Nautilus object per accepted row."""
    out, counts = [], {"malformed": 0, "duplicates": 0, "out_of_order": 0, "rounded": 0}
    last_id, last_ts = -1, -1
    pp, sp = instrument.price_precision, instrument.size_precision
    for path in paths:
        with zipfile.ZipFile(path) as z:
            text = z.read(z.namelist()[0]).decode()
        rows = list(csv.reader(io.StringIO(text)))
        if rows and not rows[0][0].strip().isdigit():
            rows = rows[1:]
        unit = None
        for row in rows:
            try:
                if kind == "trades":
                    if len(row) not in (6, 7):
                        raise ValueError
                    key, t = int(row[0]), int(row[4])
                    prices, sizes = [float(row[1])], [float(row[2])]
                    seller = {"true": True, "false": False}[row[5].strip().lower()]
                else:
                    if len(row) != 7:
                        raise ValueError
                    key, t = int(row[0]), int(row[5])  # event_time is not imported
                    prices, sizes = [float(row[1]), float(row[3])], [float(row[2]), float(row[4])]
                if not all(p > 0 for p in prices) or not all(s > 0 if kind == "trades" else s >= 0 for s in sizes):
                    raise ValueError
            except (ValueError, KeyError, IndexError):
                counts["malformed"] += 1
                continue
            row_unit = 1_000 if t >= 10**14 else 1_000_000
            assert unit in (None, row_unit)
            unit = row_unit
            ts = t * row_unit
            if key <= last_id:
                counts["duplicates" if key == last_id else "out_of_order"] += 1
                continue
            if ts < last_ts:
                counts["out_of_order"] += 1
                continue
            last_id, last_ts = key, ts
            texts = [(row[1], pp), (row[2], sp)] if kind == "trades" else [(row[i], pp if i % 2 else sp) for i in range(1, 5)]
            counts["rounded"] += sum(Decimal(text_value) % Decimal(10) ** -p != 0 for text_value, p in texts)
            if kind == "trades":
                side = AggressorSide.SELLER if seller else AggressorSide.BUYER
                out.append(TradeTick(instrument.id, Price(prices[0], pp), Quantity(sizes[0], sp), side, TradeId(row[0]), ts, ts))
            else:
                bid, ask = (Price(p, pp) for p in prices)
                bid_size, ask_size = (Quantity(s, sp) for s in sizes)
                out.append(QuoteTick(instrument.id, bid, ask, bid_size, ask_size, ts, ts))
    return out, counts


def trade_fields(t: TradeTick) -> tuple:
    return (
        t.instrument_id,
        t.price.raw,
        t.price.precision,
        t.size.raw,
        t.size.precision,
        t.aggressor_side,
        t.trade_id,
        t.ts_event,
        t.ts_init,
    )


def quote_fields(q: QuoteTick) -> tuple:
    return (
        q.bid_price.raw,
        q.ask_price.raw,
        q.bid_size.raw,
        q.ask_size.raw,
        q.bid_price.precision,
        q.bid_size.precision,
        q.ts_event,
        q.ts_init,
    )


@pytest.fixture
def trade_files(tmp_path) -> list[tuple[ArchiveFile, Path]]:
    f1, f2 = ArchiveFile(D1, "trades", "um", "BTCUSDT", "daily"), ArchiveFile(D2, "trades", "um", "BTCUSDT", "daily")
    return [
        (f1, write_csv(tmp_path / "a", f1, trades_day1(), TRADES_HEADER)),
        (f2, write_csv(tmp_path / "a", f2, trades_day2(), None)),  # the older variant: no header
    ]


def test_trades_read_back_as_the_slow_path_makes_them(trade_files, tmp_path):
    """Small chunks (4 KB) so that the carried state (last id and time) crosses chunks and files."""
    result = import_archive(trade_files, UM, tmp_path / "fast", chunk_bytes=4096)
    expected, counts = reference_ticks([p for _, p in trade_files], "trades", UM)
    slow = CatalogWriter(tmp_path / "slow")
    slow.write_instrument(UM)
    slow.extend(expected)
    slow.close()
    got = ParquetDataCatalog(str(tmp_path / "fast")).trade_ticks(instrument_ids=[UM.id.value])
    ref = ParquetDataCatalog(str(tmp_path / "slow")).trade_ticks(instrument_ids=[UM.id.value])
    assert len(got) == len(ref) == len(expected) == 402 - 8 + 297
    assert [trade_fields(t) for t in got] == [trade_fields(t) for t in ref] == [trade_fields(t) for t in expected]
    s = result.stats["trades"]
    assert (s.rows, s.imported, s.malformed, s.duplicates, s.out_of_order, s.rounded) == (
        402 + 297,
        len(expected),
        counts["malformed"],
        counts["duplicates"],
        counts["out_of_order"],
        counts["rounded"],
    )
    assert (counts["malformed"], counts["duplicates"], counts["out_of_order"], counts["rounded"]) == (5, 1, 2, 2)
    ids = [int(t.trade_id.value) for t in expected]
    steps = [b - a for a, b in zip(ids, ids[1:]) if b - a > 1]
    assert (s.id_gaps, s.ids_missing) == (len(steps), sum(steps) - len(steps)) == (7, 9)
    # The rounded row: 42000.125 -> 42000.13 (half away from zero, as Nautilus), 0.0015 -> 0.002.
    rounded = next(t for t in got if t.trade_id.value == "1248")
    assert (str(rounded.price), str(rounded.size)) == ("42000.13", "0.002")
    assert {t.aggressor_side for t in got if t.trade_id.value == "1001"} == {AggressorSide.SELLER}  # is_buyer_maker true
    assert {t.aggressor_side for t in got if t.trade_id.value == "1000"} == {AggressorSide.BUYER}


def test_files_never_share_an_instant(trade_files, tmp_path, caplog):
    """Day 1's last trade and day 2's first share T2: both stay in day 1's file, so the catalog's
    file spans are disjoint, named as Nautilus names them."""
    import_archive(trade_files, UM, tmp_path / "cat")
    folder = tmp_path / "cat" / "data" / "trade_tick" / UM.id.value
    spans = sorted(
        (pq.read_table(f).column("ts_init")[0].as_py(), pq.read_table(f).column("ts_init")[-1].as_py())
        for f in folder.glob("*.parquet")
    )
    assert len(spans) == 2 and spans[0][1] == T2 * 1_000_000 < spans[1][0]
    assert sorted(f.name for f in folder.glob("*.parquet")) == sorted(_timestamps_to_filename(a, b) for a, b in spans)
    assert catalog_file_name(*spans[0]) == _timestamps_to_filename(*spans[0])
    assert not list(folder.glob(".*"))  # no partial file left behind
    with pytest.raises(CatalogOverlapError, match="already holds TradeTick"):
        import_archive(trade_files[:1], UM, tmp_path / "cat")
    again = import_archive(trade_files[:1], UM, tmp_path / "cat", replace=True)
    assert again.stats["trades"].imported == 402 - 8
    # Replacing day 1 replaced the file that also held day 2's first trade (the warning said so).
    assert len(ParquetDataCatalog(str(tmp_path / "cat")).trade_ticks()) == 402 - 8 + 297 - 1


def test_book_ticker_to_quote_ticks_and_spot_microseconds(tmp_path):
    ticker = ArchiveFile(D1, "bookTicker", "um", "BTCUSDT", "daily")
    rows = [
        f"{10**12 + 5 * i},42000.{i % 10},{1 + i % 3}.500,42000.{i % 10 + 1}0,0.{i % 9 + 1}00,{T1 + i},{T1 + i + 2}"
        for i in range(300)
    ]
    rows[10] = rows[9]  # a repeated update id
    rows[20] = rows[20].replace(f",{T1 + 20},", ",1704067200O20,", 1)  # a bad transaction time
    rows[30] = f"{10**12 + 150},42001.0,0.000,42001.1,2.000,{T1 + 30},{T1 + 32}"  # a zero size: kept (an empty side)
    path = write_csv(tmp_path, ticker, rows, BOOK_TICKER_HEADER)
    result = import_archive([(ticker, path)], UM, tmp_path / "fast", chunk_bytes=2048)
    expected, _ = reference_ticks([path], "bookTicker", UM)
    got = ParquetDataCatalog(str(tmp_path / "fast")).quote_ticks(instrument_ids=[UM.id.value])
    assert [quote_fields(q) for q in got] == [quote_fields(q) for q in expected]
    assert len(got) == 298 and result.stats["bookTicker"].duplicates == 1 and result.stats["bookTicker"].malformed == 1

    # Spot: 7-field trades stamped in microseconds (Binance's spot files from 2025).
    spot = ArchiveFile(D1, "trades", "spot", "BTCUSDT", "daily")
    lines = [f"{7 + i},42000.01000000,0.00100000,42.0,{T1 * 1000 + 250 * i},True,True" for i in range(100)]
    spot_path = write_csv(tmp_path, spot, lines, None)
    out = import_archive([(spot, spot_path)], SPOT, tmp_path / "spot")
    trades = ParquetDataCatalog(str(tmp_path / "spot")).trade_ticks(instrument_ids=[SPOT.id.value])
    assert out.stats["trades"].units == {"us": 1}
    assert [trade_fields(t) for t in trades] == [trade_fields(t) for t in reference_ticks([spot_path], "trades", SPOT)[0]]
    assert trades[1].ts_event == (T1 * 1000 + 250) * 1000


def test_a_file_that_mixes_ms_and_us_stops_the_import_and_leaves_no_trace_of_itself(trade_files, tmp_path):
    bad = ArchiveFile(date(2024, 1, 3), "trades", "um", "BTCUSDT", "daily")
    t3 = day_start_ms(bad.start)
    rows = trade_rows(5000, t3, 50) + [f"{5050 + i},42000.0,0.001,1.0,{(t3 + 600 + i) * 1000},true" for i in range(5)]
    files = [*trade_files, (bad, write_csv(tmp_path / "a", bad, rows, None))]
    with pytest.raises(ArchiveError, match="both milliseconds and microseconds"):
        import_archive(files, UM, tmp_path / "cat")
    folder = tmp_path / "cat" / "data" / "trade_tick" / UM.id.value
    assert len(list(folder.glob("*.parquet"))) == 2 and not list(folder.glob(".*"))
    assert len(ParquetDataCatalog(str(tmp_path / "cat")).trade_ticks()) == 402 - 8 + 297


def test_funding_and_mark_klines_go_through_the_funding_path(tmp_path):
    funding = ArchiveFile(D1, "fundingRate", "um", "BTCUSDT", "monthly")
    settle = [T1 + 8 * 3_600_000 * k for k in range(93)]
    funding_path = write_csv(
        tmp_path, funding, [f"{t},8,{0.0001 * (1 + k % 3):.8f}" for k, t in enumerate(settle)], FUNDING_HEADER
    )
    marks = ArchiveFile(D1, "markPriceKlines", "um", "BTCUSDT", "daily", "1m")
    klines = [f"{T1 + 60_000 * i},1,1,1,{42000 + i}.12345678,0,{T1 + 60_000 * (i + 1) - 1},0,0,0,0,0" for i in range(1440)]
    klines[5] = klines[5].replace("42005.12345678", "0.12345678")  # a mark below one unit is a mark too
    marks_path = write_csv(tmp_path, marks, klines, KLINE_HEADER)
    window = (T1 * 1_000_000, (T1 + 86_400_000) * 1_000_000)  # the first day only
    result = import_archive([(funding, funding_path), (marks, marks_path)], UM, tmp_path / "cat", window=window)
    catalog = ParquetDataCatalog(str(tmp_path / "cat"))
    rates = catalog.funding_rates(instrument_ids=[UM.id.value])
    assert [(r.ts_event, Decimal(str(r.rate)), r.interval, r.next_funding_ns) for r in rates] == [
        (t * 1_000_000, Decimal("0.0001") * (1 + k % 3), 480, None) for k, t in enumerate(settle[:3])
    ]
    assert result.stats["fundingRate"].outside_range == 90
    mark_updates = catalog.query(MarkPriceUpdate, identifiers=[UM.id.value])
    assert len(mark_updates) == 1440
    assert (mark_updates[0].ts_event, str(mark_updates[0].value)) == ((T1 + 59_999) * 1_000_000, "42000.12345678")
    assert str(mark_updates[5].value) == "0.12345678"
    assert isinstance(rates[0], FundingRateUpdate)


def test_ticks_round_as_nautilus_price():
    """Halves, values off the grid and float noise: the ticks of `Price(value, precision)`."""
    values = [0.0015, 0.0025, 42000.125, 42000.135, 1e-9, 123.455, 0.1 + 0.2, 2.675, 1.005, 9.995, 0.5]
    for precision in (0, 2, 3, 8):
        for v in values:
            assert Price(v, precision).raw == int(nautilus_ticks(v, float(10**precision))) * 10 ** (16 - precision), (
                v,
                precision,
            )


def test_the_backtests_streamed_reader_takes_the_archive_files(trade_files, tmp_path):
    """What a top-of-book backtest will stream (the project's chunked Arrow reader): the same
    trades and quotes as the catalog's own query, in order, across files."""
    from nautilus_trader.backtest.config import BacktestDataConfig
    from nautilus_trader.model.identifiers import InstrumentId

    from scalp_nautilus.backtest.streaming import data_chunks

    ticker = ArchiveFile(D1, "bookTicker", "um", "BTCUSDT", "daily")
    rows = [f"{10**12 + i},42000.{i % 10},1.000,42000.{i % 10 + 1}0,2.000,{T1 + 7 * i},{T1 + 7 * i}" for i in range(1000)]
    files = [*trade_files, (ticker, write_csv(tmp_path, ticker, rows, BOOK_TICKER_HEADER))]
    import_archive(files, UM, tmp_path / "cat")
    catalog = ParquetDataCatalog(str(tmp_path / "cat"))
    for cls, query, key in (
        (TradeTick, catalog.trade_ticks, trade_fields),
        (QuoteTick, catalog.quote_ticks, quote_fields),
    ):
        config = BacktestDataConfig(str(tmp_path / "cat"), cls, instrument_id=InstrumentId.from_str(UM.id.value))
        streamed = [x for chunk in data_chunks(config, chunk_size=100) for x in chunk]
        assert [key(x) for x in streamed] == [key(x) for x in query(instrument_ids=[UM.id.value])]
        assert len(streamed) == (402 - 8 + 297 if cls is TradeTick else 1000)


def test_agg_trades_become_trade_ticks_but_not_beside_trades(trade_files, tmp_path):
    agg = ArchiveFile(D1, "aggTrades", "um", "BTCUSDT", "daily")
    header = b"agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"
    rows = [
        f"{500 + i},42000.{i % 10},0.00{1 + i % 9},{9000 + 3 * i},{9002 + 3 * i},{T1 + 20 * i},{'true' if i % 2 else 'false'}"
        for i in range(50)
    ]
    path = write_csv(tmp_path, agg, rows, header)
    result = import_archive([(agg, path)], UM, tmp_path / "cat")
    ticks = ParquetDataCatalog(str(tmp_path / "cat")).trade_ticks(instrument_ids=[UM.id.value])
    assert result.stats["aggTrades"].imported == 50
    assert [(t.trade_id.value, str(t.price), str(t.size), t.aggressor_side, t.ts_event) for t in ticks[:2]] == [
        ("500", "42000.00", "0.001", AggressorSide.BUYER, T1 * 1_000_000),
        ("501", "42000.10", "0.002", AggressorSide.SELLER, (T1 + 20) * 1_000_000),
    ]
    with pytest.raises(ArchiveError, match="import one of them"):
        import_archive([*trade_files, (agg, path)], UM, tmp_path / "other")
