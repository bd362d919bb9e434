"""`data download --source binance`: fixture zips in the archive's URL layout served from 127.0.0.1
(a bad checksum, a missing day, an interrupted download that resumes), `--from-dir`, and the
Tardis form of the command still routed to Tardis."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from nautilus_trader.persistence.catalog import ParquetDataCatalog

from scalp_nautilus import cli
from scalp_nautilus.data.archive_download import ArchiveDownloader
from scalp_nautilus.data.archive_download import download_archive
from scalp_nautilus.data.binance_archive import ArchiveError
from scalp_nautilus.data.binance_archive import ArchiveFile
from scalp_nautilus.data.binance_archive import archive_files
from scalp_nautilus.data.binance_archive import find_files
from tests.support.archive_files import ArchiveServer
from tests.support.archive_files import sha256
from tests.support.archive_files import synth_book_tickers
from tests.support.archive_files import synth_trades
from tests.support.archive_files import write_archive_zip

D1, D2, D3 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)


def trades_file(day: date) -> ArchiveFile:
    return ArchiveFile(day, "trades", "um", "BTCUSDT", "daily")


def ticker_file(day: date) -> ArchiveFile:
    return ArchiveFile(day, "bookTicker", "um", "BTCUSDT", "daily")


@pytest.fixture
def remote(tmp_path) -> Path:
    """Three days of trades and two of bookTicker (day 3 was never published); day 2's trades
    CHECKSUM does not match its zip."""
    root = tmp_path / "remote"
    for i, day in enumerate((D1, D2, D3)):
        write_archive_zip(root, trades_file(day), synth_trades(day, 20_000, seed=i, first_id=10_000 * 10 * (i + 1)))
    for i, day in enumerate((D1, D2)):
        write_archive_zip(root, ticker_file(day), synth_book_tickers(day, 5_000, seed=i, first_id=10**9 * (i + 1)))
    bad = root / (trades_file(D2).url_path + ".CHECKSUM")
    bad.write_text("0" * 64 + f"  {trades_file(D2).name}\n")
    return root


def test_url_layout_and_periods():
    """The archive's paths (binance-public-data's README); whole months monthly in auto mode;
    funding monthly only; the range is checked."""
    assert trades_file(D1).url_path == "data/futures/um/daily/trades/BTCUSDT/BTCUSDT-trades-2024-01-01.zip"
    kline = ArchiveFile(date(2024, 2, 1), "markPriceKlines", "cm", "BTCUSD_PERP", "monthly", "1m")
    assert kline.url_path == "data/futures/cm/monthly/markPriceKlines/BTCUSD_PERP/1m/BTCUSD_PERP-1m-2024-02.zip"
    assert ArchiveFile(D1, "trades", "spot", "BTCUSDT", "daily").url_path.startswith("data/spot/daily/trades/")
    files = archive_files("um", "btcusdt", ["trades", "fundingRate"], date(2024, 1, 30), date(2024, 3, 2))
    assert [(f.kind, f.period, f.start.isoformat()) for f in files] == [
        ("fundingRate", "monthly", "2024-01-01"),
        ("trades", "daily", "2024-01-30"),
        ("trades", "daily", "2024-01-31"),
        ("fundingRate", "monthly", "2024-02-01"),
        ("trades", "monthly", "2024-02-01"),
        ("fundingRate", "monthly", "2024-03-01"),
        ("trades", "daily", "2024-03-01"),
        ("trades", "daily", "2024-03-02"),
    ]
    assert len(archive_files("um", "BTCUSDT", ["trades"], D1, date(2024, 1, 31), period="daily")) == 31
    with pytest.raises(ArchiveError, match="no bookTicker for spot"):
        archive_files("spot", "BTCUSDT", ["bookTicker"], D1, D2)
    with pytest.raises(ArchiveError, match="before --from"):
        archive_files("um", "BTCUSDT", ["trades"], D2, D1)


def test_download_verifies_reports_and_skips_what_it_has(remote, tmp_path):
    files = archive_files("um", "BTCUSDT", ["trades", "bookTicker"], D1, D3)
    with ArchiveServer(remote) as server:
        server.cut[trades_file(D1).url_path] = 1_000  # the first GET of day 1 breaks off
        loader = ArchiveDownloader(tmp_path / "dl", server.url, jobs=2, progress=False, retry_pause_s=0.0)
        first = {(r.file.kind, r.file.start): r for r in loader.fetch(files)}
        assert {k: r.status for k, r in first.items()} == {
            ("bookTicker", D1): "downloaded",
            ("bookTicker", D2): "downloaded",
            ("bookTicker", D3): "missing",
            ("trades", D1): "downloaded",
            ("trades", D2): "bad checksum",
            ("trades", D3): "downloaded",
        }
        # The interrupted download went on from byte 1000 in the same run.
        day1 = [r for p, r in server.gets() if p == trades_file(D1).url_path]
        assert day1 == [None, "bytes=1000-"]
        assert first[("trades", D1)].bytes_fetched == (remote / trades_file(D1).url_path).stat().st_size
        # A bad checksum is fetched twice, whole, and the file is not kept.
        assert [r for p, r in server.gets() if p == trades_file(D2).url_path] == [None, None]
        assert not first[("trades", D2)].path.exists()
        for r in first.values():
            if r.status == "downloaded":
                assert sha256(r.path) == sha256(remote / r.file.url_path)

        server.log.clear()
        second = {(r.file.kind, r.file.start): r.status for r in loader.fetch(files)}
        assert second == {k: "verified" if r.status == "downloaded" else r.status for k, r in first.items()}
        # Verified files cost no request; the missing and the bad one are asked for again.
        asked = {p for p, _ in server.log}
        assert trades_file(D1).url_path not in asked and ticker_file(D1).url_path + ".CHECKSUM" not in asked
        assert ticker_file(D3).url_path + ".CHECKSUM" in asked and trades_file(D2).url_path in asked


def test_an_interrupted_run_resumes_in_the_next(remote, tmp_path):
    file = trades_file(D1)
    size = (remote / file.url_path).stat().st_size
    with ArchiveServer(remote) as server:
        server.cut[file.url_path] = 4_096
        once = ArchiveDownloader(tmp_path / "dl", server.url, retries=1, progress=False, retry_pause_s=0.0)
        (failed,) = once.fetch([file])
        assert failed.status == "failed" and "4096 of" in failed.detail
        part = failed.path.with_name(failed.path.name + ".part")
        assert part.stat().st_size == 4_096 and not failed.path.exists()
        (done,) = once.fetch([file])
        assert done.status == "downloaded" and done.bytes_fetched == size - 4_096
        assert server.gets()[-1] == (file.url_path, "bytes=4096-")
        assert not part.exists()


def test_a_month_not_published_is_fetched_as_days(tmp_path):
    root = tmp_path / "remote"
    for day in (D1, D2):
        write_archive_zip(root, trades_file(day), synth_trades(day, 100, seed=1, first_id=day.day * 1000))
    month = archive_files("um", "BTCUSDT", ["trades"], D1, date(2024, 1, 31))
    assert [f.period for f in month] == ["monthly"]
    with ArchiveServer(root) as server:
        results = ArchiveDownloader(tmp_path / "dl", server.url, progress=False).fetch(month)
    assert len(results) == 31
    assert [r.file.start for r in results if r.status == "downloaded"] == [D1, D2]
    assert sum(r.status == "missing" for r in results) == 29


def test_cli_downloads_and_imports_verified_files_only(remote, tmp_path, capsys):
    with ArchiveServer(remote) as server:
        argv = [
            "data",
            "download",
            "--source",
            "binance",
            "--market",
            "um",
            "--symbol",
            "BTCUSDT",
            "--from",
            "2024-01-01",
            "--to",
            "2024-01-03",
            "--types",
            "trades,bookTicker",
            "--base-url",
            server.url,
            "--download-dir",
            str(tmp_path / "dl"),
            "--catalog",
            str(tmp_path / "cat"),
            "--no-progress",
        ]
        code = cli.main(argv)
    out = capsys.readouterr().out
    assert code == 1  # a file failed its checksum
    assert "1 bad checksum" in out and "1 missing" in out and "4 downloaded" in out
    catalog = ParquetDataCatalog(str(tmp_path / "cat"))
    trades = catalog.trade_ticks(instrument_ids=["BTCUSDT-PERP.BINANCE"])
    assert len(trades) == 40_000  # days 1 and 3; day 2 was not verified
    assert {t.ts_event // 86_400_000_000_000 for t in trades} == {19723, 19725}
    assert len(catalog.quote_ticks(instrument_ids=["BTCUSDT-PERP.BINANCE"])) == 10_000


def test_from_dir_takes_a_flat_folder_and_checks_what_it_can(remote, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for f in (trades_file(D1), trades_file(D2), trades_file(D3)):
        src = remote / f.url_path
        (flat / src.name).write_bytes(src.read_bytes())
        if f.start != D3:  # day 3 comes without its CHECKSUM
            (flat / (src.name + ".CHECKSUM")).write_text(Path(f"{src}.CHECKSUM").read_text())
    assert [f.start for f, _ in find_files(flat, "um", "BTCUSDT", ["trades"], D2, D3)] == [D2, D3]
    outcome = download_archive("um", "BTCUSDT", ["trades"], None, None, tmp_path / "unused", tmp_path / "cat", from_dir=flat)
    assert [r.status for r in outcome.results] == ["verified", "bad checksum", "unverified"]
    assert not outcome.complete
    assert outcome.imported is not None and outcome.imported.stats["trades"].imported == 40_000


def test_tardis_download_keeps_its_form(monkeypatch, tmp_path, capsys):
    seen = {}

    def fake(exchange, symbol, day, types, download_dir, catalog, api_key, replace):
        seen.update(exchange=exchange, symbol=symbol, day=day, types=types)

        class Writer:
            def summary(self) -> str:
                return "ok"

        return Writer(), {}

    monkeypatch.setattr("scalp_nautilus.data.download.download_and_import", fake)
    assert cli.main(["data", "download", "--date", "2024-08-01", "--catalog", str(tmp_path)]) == 0
    assert seen == {
        "exchange": "binance-futures",
        "symbol": "BTCUSDT",
        "day": "2024-08-01",
        "types": ["incremental_book_L2", "trades", "derivative_ticker"],
    }
    assert cli.main(["data", "download", "--source", "binance", "--date", "2024-08-01"]) == 1
    assert "--date is for --source tardis" in capsys.readouterr().err
