"""Tardis CSVs through Nautilus's loaders, Binance funding history files, and the download path."""

from __future__ import annotations

import csv
import gzip
import shutil
from decimal import Decimal

import pandas as pd
import pytest

from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.enums import BookAction
from nautilus_trader.model.enums import RecordFlag
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from scalp_nautilus.data import download
from scalp_nautilus.data.funding_history import FundingFileError
from scalp_nautilus.data.funding_history import read_settlements
from scalp_nautilus.data.funding_history import to_updates
from scalp_nautilus.data.tardis import import_tardis
from scalp_nautilus.data.tardis import load_tardis_file
from scalp_nautilus.data.tardis import tardis_spec

pytestmark = pytest.mark.real_data


def test_tardis_trades_and_quotes(shared_data, tmp_path):
    trades_csv = shared_data / "tardis" / "binance-futures_trades_BTCUSDT_2020-02-22.csv"
    quotes_csv = shared_data / "tardis" / "binance-futures_quotes_BTCUSDT_2020-02-22.csv"
    _, stats = import_tardis([trades_csv, quotes_csv], "binance-futures", "BTCUSDT", tmp_path)
    raw = pd.read_csv(trades_csv)
    cat = ParquetDataCatalog(str(tmp_path))
    ticks = cat.trade_ticks()
    assert len(ticks) == len(raw) == stats["trades"]
    assert sum(t.size.as_decimal() for t in ticks) == sum(Decimal(str(a)) for a in raw["amount"])
    sides = {"buy": AggressorSide.BUYER, "sell": AggressorSide.SELLER}
    assert [t.aggressor_side for t in ticks] == [sides[s] for s in raw["side"]]
    assert [t.ts_event for t in ticks] == [int(ts) * 1_000 for ts in raw["timestamp"]]
    assert all(t.ts_init >= t.ts_event for t in ticks)
    assert len(cat.quote_ticks()) == len(pd.read_csv(quotes_csv))
    assert str(ticks[0].instrument_id) == "BTCUSDT-PERP.BINANCE"


def test_tardis_incremental_book_snapshot_flags(shared_data):
    path = shared_data / "tardis" / "deribit_incremental_book_L2_BTC-PERPETUAL.csv"
    deltas = load_tardis_file(path, tardis_spec("deribit", "BTC-PERPETUAL"))
    raw = pd.read_csv(path)
    assert deltas[0].action == BookAction.CLEAR
    assert len(deltas) == len(raw) + 1
    assert deltas[-1].flags & RecordFlag.F_LAST
    assert str(deltas[0].instrument_id) == "BTC-PERPETUAL.DERIBIT"


def test_tardis_derivative_ticker_funding(tmp_path):
    # Tardis's derivative_ticker layout (timestamps in µs); a late local_timestamp gets clamped.
    symbol = ["binance-futures", "BTCUSDT"]
    rows = [
        [*symbol, 1585699200245000, 1585699200355684, 1585728000000000, 0.0001, 0.0001, 100.0, 6422.0, 6420.1, 6421.5],
        [*symbol, 1585699201245000, 1585699201100000, 1585728000000000, 0.00012, 0.0001, 100.0, 6421.5, 6420.0, 6421.0],
    ]
    path = tmp_path / "binance-futures_derivative_ticker_2020-04-01_BTCUSDT.csv.gz"
    with gzip.open(path, "wt", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "exchange",
                "symbol",
                "timestamp",
                "local_timestamp",
                "funding_timestamp",
                "funding_rate",
                "predicted_funding_rate",
                "open_interest",
                "last_price",
                "index_price",
                "mark_price",
            ]
        )
        w.writerows(rows)
    from collections import Counter

    stats = Counter()
    updates = load_tardis_file(path, tardis_spec("binance-futures", "BTCUSDT"), stats)
    assert [float(u.rate) for u in updates] == [0.0001, 0.00012]
    assert [u.next_funding_ns for u in updates] == [1585728000000000000] * 2
    assert updates[1].ts_init == updates[1].ts_event == 1585699201245000000 and stats["ts_init_clamped"] == 1


@pytest.mark.parametrize(
    "file,key_exchange",
    [
        ("binance_web_export_BTCUSDT_perpetual.csv", "binance-usdm"),
        ("binance_web_export_BTCUSD_CM_perpetual.csv", "binance-coinm"),
    ],
)
def test_web_export_local_time_against_utc_answer_key(shared_data, file, key_exchange):
    key = {
        int(r["funding_time_ms"]) * 1_000_000: Decimal(r["funding_rate"])
        for r in csv.DictReader((shared_data / "funding" / "funding_rates_utc.csv").read_text().splitlines())
        if r["exchange"] == key_exchange
    }
    london = read_settlements(shared_data / "funding" / file, tz="Europe/London")
    assert {s.ts_ns: s.rate for s in london} == key
    # read as UTC, every summer-time row is an hour off: the option matters
    utc = read_settlements(shared_data / "funding" / file, tz="UTC")
    assert sum(s.ts_ns in key for s in utc) < 0.6 * len(key)


def test_dst_ambiguous_hour_takes_the_reading_on_the_funding_grid(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        '"Time","Contracts","Funding Interval","Funding Rate"\n'
        '"2023-10-29 08:00:00","BTCUSDT Perpetual","8h","0.010000%"\n'
        '"2023-10-29 01:00:00","BTCUSDT Perpetual","8h","0.010000%"\n',  # 01:00 happens twice in London
    )
    got = [pd.Timestamp(s.ts_ns, tz="UTC").isoformat() for s in read_settlements(path, tz="Europe/London")]
    assert got == ["2023-10-29T00:00:00+00:00", "2023-10-29T08:00:00+00:00"]


def test_archive_format_and_updates(tmp_path):
    path = tmp_path / "BTCUSDT-fundingRate-2023-04.csv"
    path.write_text(
        "calc_time,funding_interval_hours,last_funding_rate\n1680652800000,8,0.00002760\n1680681600000,8,0.00010000\n"
    )
    settlements = read_settlements(path)
    updates = to_updates(settlements, tardis_spec("binance-futures", "BTCUSDT").instrument_id)
    assert [(u.ts_event, Decimal(str(u.rate)), u.interval, u.next_funding_ns) for u in updates] == [
        (1680652800000000000, Decimal("0.00002760"), 480, None),
        (1680681600000000000, Decimal("0.00010000"), 480, None),
    ]


def test_malformed_funding_rows_name_the_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("calc_time,funding_interval_hours,last_funding_rate\n1680652800000,8,0.0001\nnot-a-time,8,0.1\n")
    with pytest.raises(FundingFileError, match=r"bad.csv:3"):
        read_settlements(path)
    path.write_text("when,rate\n1,2\n")
    with pytest.raises(FundingFileError, match="unknown funding file header"):
        read_settlements(path)


def test_download_imports_what_tardis_dev_writes(shared_data, tmp_path, monkeypatch):
    """Everything after the network call, on local files named as tardis-dev names them."""
    day = "2020-02-22"
    requested = {}

    def fake_download_datasets(exchange, data_types, symbols, from_date, to_date, api_key, download_dir):
        requested.update(exchange=exchange, data_types=data_types, symbols=symbols, from_date=from_date, to_date=to_date)
        for name in download.tardis_file_names(exchange, symbols[0], from_date, data_types):
            src = shared_data / "tardis" / f"binance-futures_{name.split('_')[1]}_BTCUSDT_{day}.csv"
            with open(src, "rb") as fin, gzip.open(tmp_path / "dl" / name, "wb") as fout:
                shutil.copyfileobj(fin, fout)

    (tmp_path / "dl").mkdir()
    monkeypatch.setattr("tardis_dev.download_datasets", fake_download_datasets)
    with pytest.raises(ValueError, match="first day of a month"):
        download.download_and_import("binance-futures", "BTCUSDT", day, ["trades"], tmp_path / "dl", tmp_path / "cat")
    _, stats = download.download_and_import(
        "binance-futures",
        "btcusdt",
        day,
        ["trades", "quotes"],
        tmp_path / "dl",
        tmp_path / "cat",
        api_key="k",
    )
    assert requested == {
        "exchange": "binance-futures",
        "data_types": ["trades", "quotes"],
        "symbols": ["BTCUSDT"],
        "from_date": day,
        "to_date": "2020-02-23",
    }
    assert stats["trades"] == 9_999 and stats["quotes"] == 9_999
    assert len(ParquetDataCatalog(str(tmp_path / "cat")).trade_ticks()) == 9_999
