"""Binance's historical order-book files: Nautilus's loader streamed, and the oracle of issue 21
part 5: files in that format written from the shared raw captures' snapshots and depth diffs
import to the same book as the raw import, batch by batch; a broken ``pu`` chain is counted and
clears the book until the next snapshot."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from nautilus_trader.adapters.binance.loaders import BinanceOrderBookDeltaDataLoader
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.enums import BookAction
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.enums import RecordFlag

from scalp_nautilus.data.binance_capture import BinanceCaptureImporter
from scalp_nautilus.data.binance_l2_archive import BinanceBookArchiveImporter
from scalp_nautilus.data.binance_l2_archive import BinanceOrderBookStreamLoader
from scalp_nautilus.data.catalog import write_to_catalog
from tests.support.archive_files import L2_HEADER
from tests.support.archive_files import capture_messages
from tests.support.archive_files import l2_archive_from_capture
from tests.support.archive_files import l2_rows_of_diff
from tests.support.archive_files import l2_rows_of_snapshot

F_LAST = int(RecordFlag.F_LAST)


def test_the_stream_maps_rows_as_nautilus_load(tmp_path):
    path = tmp_path / "depth.csv"
    path.write_text(
        L2_HEADER.decode()
        + "BTCUSDT,1700000000123,101,101,b,snap,40123.5,1.25,-1\n"
        + "BTCUSDT,1700000000123,101,101,a,snap,40124.0,2.5,-1\n"
        + "BTCUSDT,1700000001456,102,110,a,set,40124.0,0.00,101\n"
        + "BTCUSDT,1700000001456,102,110,B,set,40123.0,3.00,101\n"
        + "BTCUSDT,1700000002789,111,115,b,set,40123.5,0.50,110\n"
    )
    whole = BinanceOrderBookDeltaDataLoader.load(path)
    streamed = pd.concat(list(BinanceOrderBookStreamLoader.stream(path, chunksize=2)))
    pd.testing.assert_frame_equal(streamed[whole.columns], whole, check_dtype=False)
    assert streamed["first_update_id"].tolist() == [101, 101, 102, 102, 111]
    assert streamed["pu"].tolist() == [-1, -1, 101, 101, 110]
    bad = tmp_path / "bad.csv"
    bad.write_text(L2_HEADER.decode() + "BTCUSDT,1700000000123,101,101,x,snap,40123.5,1.25,-1\n")
    with pytest.raises(RuntimeError, match="unrecognized side 'x'"):
        list(BinanceOrderBookStreamLoader.stream(bad))


def delta_key(d: OrderBookDelta) -> tuple:
    o = d.order
    return (d.action, o.side, o.price, o.size, d.flags, d.sequence, d.ts_event)


def ladders(book: OrderBook) -> tuple:
    return tuple((lv.price, lv.size()) for lv in book.bids()), tuple((lv.price, lv.size()) for lv in book.asks())


def tops(book: OrderBook) -> tuple:
    return (book.best_bid_price(), book.best_bid_size(), book.best_ask_price(), book.best_ask_size())


def batches(deltas: list[OrderBookDelta], instrument_id) -> tuple[list[tuple[int, tuple]], OrderBook]:
    """(sequence, top of book) after each batch, and the book at the end."""
    book = OrderBook(instrument_id, BookType.L2_MBP)
    out = []
    for d in deltas:
        book.apply_delta(d)
        if d.flags & F_LAST:
            out.append((d.sequence, tops(book)))
    return out, book


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.parametrize("name", ["usdm_2023_04", "usdm_2024_07", "usdm_2024_08", "cm_2024_08"])
def test_order_book_files_from_a_capture_import_to_its_book(name, capture_paths, tmp_path):
    paths = capture_paths(name)
    raw = BinanceCaptureImporter(paths)
    raw_deltas = [e for e in raw.events() if isinstance(e, OrderBookDelta)]
    # One capture tries the layout with the snapshots in a file of their own.
    updates, snapshots = l2_archive_from_capture(paths, tmp_path, snapshot_file=name == "cm_2024_08")
    assert len(updates) == 2  # two UTC days: the second file continues the first's chain
    archive = BinanceBookArchiveImporter(updates, snapshots, chunksize=50_000)
    deltas = [e for e in archive.events() if isinstance(e, OrderBookDelta)]
    assert archive.instrument == raw.instrument
    assert len(deltas) == len(raw_deltas) == raw.stats.deltas
    assert [delta_key(d) for d in deltas] == [delta_key(d) for d in raw_deltas]
    assert all(d.ts_init == d.ts_event for d in deltas)
    got, book = batches(deltas, raw.instrument.id)
    want, raw_book = batches(raw_deltas, raw.instrument.id)
    assert got == want and len(got) == raw.stats.depth_applied + 1  # + the snapshot's batch
    assert ladders(book) == ladders(raw_book)
    a, r = archive.stats, raw.stats
    assert (a.snapshots_applied, a.depth_applied, a.depth_dropped_before_snapshot, a.sequence_gaps) == (
        r.snapshots_applied,
        r.depth_applied,
        r.depth_dropped_before_snapshot,
        0,
    )
    # And into the catalog through the ordinary writer.
    writer = write_to_catalog(iter(deltas), archive.instrument, tmp_path / "cat")
    assert writer.counts[("OrderBookDelta", raw.instrument.id.value)] == len(deltas)


@pytest.mark.real_data
@pytest.mark.slow
def test_a_broken_pu_chain_clears_the_book_until_the_next_snapshot(capture_paths, tmp_path):
    paths = capture_paths("usdm_2024_08")
    raw = BinanceCaptureImporter(paths)
    raw_deltas = [e for e in raw.events() if isinstance(e, OrderBookDelta)]
    messages = capture_messages(paths)
    diffs = [d for k, d in messages if k == "depthUpdate"]
    applied = sorted({d.sequence for d in raw_deltas if not d.flags & RecordFlag.F_SNAPSHOT})
    hole, resync = applied[1_000], applied[3_000]  # a diff lost, and a snapshot later on
    # The raw book as it stood after the update `resync`: the snapshot Binance would have written.
    book = OrderBook(raw.instrument.id, BookType.L2_MBP)
    for d in raw_deltas:
        book.apply_delta(d)
        if d.sequence == resync and d.flags & F_LAST:
            break
    snap = {
        "lastUpdateId": resync,
        "bids": [(str(lv.price), str(lv.size())) for lv in book.bids()],
        "asks": [(str(lv.price), str(lv.size())) for lv in book.asks()],
    }
    first = next(d for k, d in messages if k == "snapshot")
    rows = l2_rows_of_snapshot("BTCUSDT", first, first.get("T") or first["E"])
    for d in diffs:
        if d["u"] == hole:
            continue
        rows += l2_rows_of_diff(d)
        if d["u"] == resync:
            rows += l2_rows_of_snapshot("BTCUSDT", snap, d["T"])
    path = Path(tmp_path / "gap.csv")
    path.write_text(L2_HEADER.decode() + "".join(f"{r}\n" for r in rows))

    archive = BinanceBookArchiveImporter([path], chunksize=20_000)
    deltas = [e for e in archive.events() if isinstance(e, OrderBookDelta)]
    assert archive.stats.sequence_gaps == 1 and archive.stats.snapshots_applied == 2
    (span,) = archive.stats.invalid_spans_ns
    after_hole = next(d for d in diffs if d["pu"] == hole)
    # Invalid from the last good update (the one before the lost diff) to the snapshot that re-synced it.
    last_good = next(d for d in diffs if d["u"] == applied[999])
    assert span == (last_good["T"] * 1_000_000, next(d for d in diffs if d["u"] == resync)["T"] * 1_000_000)
    # Until the hole the two streams are one; then one CLEAR, nothing until the snapshot, the
    # snapshot, the update it brackets applied again, and from there the raw stream again.
    keys = [delta_key(d) for d in deltas]
    raw_keys = [delta_key(d) for d in raw_deltas]
    cut = next(i for i, d in enumerate(raw_deltas) if d.sequence == hole)
    assert keys[:cut] == raw_keys[:cut]
    clear = deltas[cut]
    assert (clear.action, clear.flags, clear.sequence) == (BookAction.CLEAR, F_LAST, after_hole["u"])
    snapshot_clear = deltas[cut + 1]
    assert (snapshot_clear.action, snapshot_clear.sequence) == (BookAction.CLEAR, resync)
    assert snapshot_clear.flags & RecordFlag.F_SNAPSHOT
    resumed = next(i for i, d in enumerate(raw_deltas) if d.sequence > resync)
    tail = len(raw_keys) - resumed
    assert keys[-tail:] == raw_keys[resumed:]
    got, end_book = batches(deltas, raw.instrument.id)
    want, raw_book = batches(raw_deltas, raw.instrument.id)
    # The snapshot, then the update it brackets: the raw book after that update, and the same batches after.
    assert [g for g in got if g[0] == resync][-1] == next(w for w in want if w[0] == resync)
    assert [g for g in got if g[0] > resync] == [w for w in want if w[0] > resync]
    assert ladders(end_book) == ladders(raw_book)
    # While invalid, the book is empty at every batch.
    empty = [t for seq, t in got if hole < seq < resync]
    assert empty and all(t == (None, None, None, None) for t in empty)


def test_cli_imports_order_book_files(tmp_path, capsys):
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from scalp_nautilus import cli

    path = tmp_path / "BTCUSDT_T_DEPTH_2023-11-14_depth_update.csv"
    path.write_text(
        L2_HEADER.decode()
        + "BTCUSDT,1700000000123,100,100,b,snap,40123.5,1.250,-1\n"
        + "BTCUSDT,1700000000123,100,100,a,snap,40124.0,2.500,-1\n"
        + "BTCUSDT,1700000001456,95,110,a,set,40124.0,0.000,94\n"  # brackets the snapshot (U <= 100 <= u)
        + "BTCUSDT,1700000001456,95,110,b,set,40123.0,3.000,94\n"
        + "BTCUSDT,1700000002789,111,115,b,set,40123.5,0.500,110\n"
        + "BTCUSDT,1700000003000,120,125,b,set,40123.5,0.700,118\n"  # pu 118 != 115: a gap
    )
    assert cli.main(["data", "import-binance-book", str(path), "--catalog", str(tmp_path / "cat")]) == 0
    out = capsys.readouterr().out
    assert "sequence gaps 1" in out
    deltas = ParquetDataCatalog(str(tmp_path / "cat")).order_book_deltas(instrument_ids=["BTCUSDT-PERP.BINANCE"])
    assert [(d.action, d.sequence) for d in deltas] == [
        (BookAction.CLEAR, 100),
        (BookAction.ADD, 100),
        (BookAction.ADD, 100),
        (BookAction.UPDATE, 110),  # bids first, then asks, as the raw importer orders a diff's levels
        (BookAction.DELETE, 110),
        (BookAction.UPDATE, 115),
        (BookAction.CLEAR, 125),
    ]
