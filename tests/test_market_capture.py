"""The market-data recorder (`scalp-nautilus record`) against the local replay venue, offline.

The oracle is the source capture: the venue replays a real Binance capture over REST and WebSocket,
the recorder writes its own capture, and the importer must read the recording into the same
Nautilus data as the source (book deltas, trades, funding), with the book's top equal to the
exchange's own bookTicker wherever the update ids meet. Faults come from the venue's drills (a
dropped connection, a withheld diff) and from real signals sent to a recorder subprocess.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import zlib
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
import yaml

from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.enums import RecordFlag

from scalp_nautilus.capture.run import Exit
from scalp_nautilus.capture.run import MarketCapture
from scalp_nautilus.capture.settings import CaptureSettings
from scalp_nautilus.capture.writer import capture_files
from scalp_nautilus.capture.writer import read_sidecar
from scalp_nautilus.data.binance_capture import BinanceCaptureImporter
from scalp_nautilus.data.binance_capture import CaptureStats
from scalp_nautilus.data.binance_capture import read_lines
from scalp_nautilus.live.venue.capture_feed import load_capture
from scalp_nautilus.live.venue.thread import VenueThread
from tests.capture_harness import SYMBOL
from tests.capture_harness import record_settings
from tests.capture_harness import run_recorder
from tests.capture_harness import sliced
from tests.capture_harness import venue_settings
from tests.support.shared_data import PROJECT_ROOT

pytestmark = pytest.mark.real_data

F_LAST = int(RecordFlag.F_LAST)


# ---------------------------------------------------------------------- harness


@pytest.fixture(scope="module")
def source(capture_paths):
    """The 2023-04 BTCUSDT capture (with funding): its files and the venue's parsed copy."""
    paths = capture_paths("usdm_2023_04")
    return paths, load_capture(paths)


def folder(out: Path) -> Path:
    return out / "binance-usdm" / SYMBOL


def data_of(imp) -> tuple[list, list, list, object]:
    """(book deltas, trades, funding) as comparable tuples (ts_init is the recorder's own clock)."""
    deltas, trades, funding = [], [], []
    for e in imp.events():
        if isinstance(e, OrderBookDelta):
            o = e.order
            deltas.append((int(e.action), int(o.side), str(o.price), str(o.size), e.flags, e.sequence, e.ts_event))
        elif isinstance(e, TradeTick):
            trades.append((e.trade_id.value, str(e.price), str(e.size), int(e.aggressor_side), e.ts_event))
        elif isinstance(e, FundingRateUpdate):
            funding.append((str(e.rate), e.ts_event, e.next_funding_ns))
    return deltas, trades, funding, imp.stats


def ticker_check(paths, imp) -> dict[int, bool]:
    """Replay the import into a Nautilus book: for each update id the recorded bookTicker shares
    with a delta batch, whether the book's top equals it."""
    ticker = {}
    for _, _, msg in read_lines(paths, CaptureStats()):
        d = msg.get("data") or {}
        if d.get("e") == "bookTicker":
            ticker[d["u"]] = tuple(Decimal(d[k]) for k in "bBaA")
    book = OrderBook(imp.instrument.id, BookType.L2_MBP)
    out = {}
    for e in imp.events():
        if not isinstance(e, OrderBookDelta):
            continue
        book.apply_delta(e)
        if e.flags & F_LAST and e.sequence in ticker:
            top = (
                (
                    book.best_bid_price().as_decimal(),
                    book.best_bid_size().as_decimal(),
                    book.best_ask_price().as_decimal(),
                    book.best_ask_size().as_decimal(),
                )
                if book.best_bid_price()
                else None
            )
            out[e.sequence] = top == ticker[e.sequence]
    return out


def book_at(paths, sequence: int, depth: int) -> tuple[list, list]:
    """The top `depth` levels a side of the imported book after the last batch with this update id
    (a gap's CLEAR can carry the id of the snapshot that follows it)."""
    imp = BinanceCaptureImporter(paths)
    book = OrderBook(imp.instrument.id, BookType.L2_MBP)
    found = None
    for e in imp.events():
        if isinstance(e, OrderBookDelta):
            book.apply_delta(e)
            if e.flags & F_LAST and e.sequence == sequence:
                found = _levels(book.bids(), depth), _levels(book.asks(), depth)
    assert found is not None, f"update id {sequence} not in the import"
    return found


def _levels(levels, depth: int) -> list:
    return [(str(lv.price), str(lv.size())) for lv in levels[:depth]]


def snapshot_ids(deltas: list) -> list[int]:
    return sorted({d[5] for d in deltas if d[4] & int(RecordFlag.F_SNAPSHOT)})


# ---------------------------------------------------------------------- record and re-import


@pytest.mark.slow
def test_record_and_reimport_equals_source(source, tmp_path):
    """The whole capture (8.6 minutes, 514 funding updates) replayed at 60x and recorded: the
    import of the recording equals the import of the source, delta for delta, trade for trade and
    funding update for funding update, and its book equals bookTicker exactly where the source's does."""
    paths, capture = source
    with VenueThread(venue_settings(paths, speed=60.0), capture) as venue:
        recorder = run_recorder(record_settings(tmp_path, venue), venue, timeout_s=120)
    session = recorder.sessions[0]
    assert (session.gaps, session.reconnects, session.snapshots) == (0, 0, 1)
    files = capture_files(folder(tmp_path))
    assert len(files) == 1
    meta = read_sidecar(files[0])
    assert meta["closed"] and meta["gaps"] == [] and meta["reconnects"] == []
    assert [s["reason"] for s in meta["snapshots"]] == ["start"]
    # Every message the venue sent is in the file; aggTrade (the venue's copy of each trade) is not recorded by default.
    assert meta["lines"] == venue.stats["messages"] + 1 == sum(meta["streams"].values())
    assert meta["streams"]["btcusdt@trade"] == 12_935 and "btcusdt@aggTrade" not in meta["streams"]  # shared/data README

    src = BinanceCaptureImporter(paths)
    rec = BinanceCaptureImporter(files)
    src_deltas, src_trades, src_funding, src_stats = data_of(src)
    rec_deltas, rec_trades, rec_funding, rec_stats = data_of(rec)
    assert rec_stats.sequence_gaps == 0 and rec_stats.snapshots_applied == 1
    assert rec_stats.truncated_files == 0 and rec_stats.malformed_lines == 0
    # The book: the recorder's snapshot is the venue's book at the moment it asked (at 60x the replay
    # has passed the capture's own snapshot by then); from there on every diff is the source's.
    (snap_id,) = snapshot_ids(rec_deltas)
    rec_diffs = [d for d in rec_deltas if d[5] != snap_id]
    src_diffs = [d for d in src_deltas if d[5] > snap_id]
    assert len(src_diffs) > 300_000 and rec_diffs == src_diffs
    assert book_at(files, snap_id, 1000) == book_at(paths, snap_id, 1000)
    assert len(rec_trades) == src_stats.trades and rec_trades == src_trades
    assert len(rec_funding) == 514 and rec_funding == src_funding
    # The exchange's own oracle: book top == bookTicker wherever the source's is, id for id.
    src_ok = {u: ok for u, ok in ticker_check(paths, BinanceCaptureImporter(paths)).items() if u > snap_id}
    rec_ok = ticker_check(files, BinanceCaptureImporter(files))
    print(
        f"\nrecording's snapshot {snap_id}; bookTicker agreement after it: source {sum(src_ok.values())}/{len(src_ok)}, "
        f"recording {sum(rec_ok.values())}/{len(rec_ok)}"
    )
    assert len(rec_ok) > 1_000 and rec_ok == src_ok


def resync_checks(paths, files, rec_deltas, src_deltas) -> int:
    """After the recording's last snapshot: its diffs are the source's, its book (1000 levels a
    side) the source's, and its book top equals bookTicker where the source's does. Returns that
    snapshot's id."""
    snap_id = snapshot_ids(rec_deltas)[-1]
    last = rec_deltas[-1][5]
    rec_diffs = [d for d in rec_deltas if d[5] > snap_id]
    src_diffs = [d for d in src_deltas if snap_id < d[5] <= last]
    assert len(src_diffs) > 1_000 and rec_diffs == src_diffs
    assert book_at(files, snap_id, 1000) == book_at(paths, snap_id, 1000)
    rec_ok = {u: ok for u, ok in ticker_check(files, BinanceCaptureImporter(files)).items() if u > snap_id}
    src_ok = {u: ok for u, ok in ticker_check(paths, BinanceCaptureImporter(paths)).items() if snap_id < u <= last}
    assert len(rec_ok) > 20 and rec_ok == src_ok
    return snap_id


# ---------------------------------------------------------------------- faults


@pytest.mark.slow
def test_dropped_websocket_reconnects_and_import_resyncs(source, tmp_path):
    paths, capture = source
    settings = venue_settings(paths, speed=10.0, faults={"drop_at_s": [15.0]})
    with VenueThread(settings, sliced(capture, 40.0)) as venue:
        recorder = run_recorder(record_settings(tmp_path, venue), venue, timeout_s=60)
    assert venue.stats["drops"] == 1
    session = recorder.sessions[0]
    assert (session.reconnects, session.snapshots) == (1, 2)
    (file,) = capture_files(folder(tmp_path))
    meta = read_sidecar(file)
    assert len(meta["reconnects"]) == 1 and [s["reason"] for s in meta["snapshots"]] == ["start", "reconnect"]

    rec_deltas, rec_trades, _, stats = data_of(BinanceCaptureImporter([file]))
    src_deltas, src_trades, _, _ = data_of(BinanceCaptureImporter(paths))
    # What the venue sent while the recorder was away is missing: the import sees the gap and
    # re-syncs from the recorder's fresh snapshot.
    assert stats.sequence_gaps == 1 and stats.snapshots_applied == 2
    assert stats.trade_id_gaps == 1 and set(rec_trades) < set(src_trades)
    assert session.gaps == 0  # the reconnect reset the chain: the recorder counts it as a reconnect, not a gap
    resync_checks(paths, [file], rec_deltas, src_deltas)


@pytest.mark.slow
def test_withheld_diff_is_a_gap_for_the_recorder_itself(source, tmp_path):
    paths, capture = source
    settings = venue_settings(paths, speed=10.0, faults={"gap_at_s": [15.0]})
    with VenueThread(settings, sliced(capture, 30.0)) as venue:
        recorder = run_recorder(record_settings(tmp_path, venue), venue, timeout_s=60)
    assert venue.stats["diffs_withheld"] == 1
    session = recorder.sessions[0]
    assert (session.gaps, session.reconnects, session.snapshots) == (1, 0, 2)
    (file,) = capture_files(folder(tmp_path))
    meta = read_sidecar(file)
    assert len(meta["gaps"]) == 1 and meta["gaps"][0]["reason"].startswith("pu=")
    assert [s["reason"] for s in meta["snapshots"]] == ["start", "gap"]

    rec_deltas, rec_trades, _, stats = data_of(BinanceCaptureImporter([file]))
    src_deltas, src_trades, _, _ = data_of(BinanceCaptureImporter(paths))
    assert stats.sequence_gaps == 1 and stats.snapshots_applied == 2
    assert rec_trades == src_trades[: len(rec_trades)] and stats.trade_id_gaps == 0
    resync_checks(paths, [file], rec_deltas, src_deltas)


def test_disk_limit_stops_cleanly(source, tmp_path, monkeypatch, caplog):
    """Free space falling below `disk.min_free_gb` stops the recorder with its file closed; below
    `warn_free_gb` it warns first."""
    import shutil

    from scalp_nautilus.capture import run as run_module

    paths, capture = source
    real = shutil.disk_usage
    started = time.monotonic()

    def shrinking(path):
        usage = real(path)
        free = 50 * 1024**3 if time.monotonic() - started < 2.0 else 0.5 * 1024**3
        return usage._replace(free=int(free))

    monkeypatch.setattr(run_module.shutil, "disk_usage", shrinking)
    disk = {"warn_free_gb": 60.0, "min_free_gb": 1.0, "check_s": 0.3}
    with VenueThread(venue_settings(paths, speed=1.0), sliced(capture, 30.0)) as venue:

        async def main():
            recorder = MarketCapture(record_settings(tmp_path, venue, disk=disk))
            await asyncio.wait_for(recorder.run(), 30)
            return recorder

        recorder = asyncio.run(main())
    assert recorder.stop_reason.startswith("disk") and recorder.exit_code == Exit.DISK
    assert any("GB free" in r.message and r.levelname == "WARNING" for r in caplog.records)
    (file,) = capture_files(folder(tmp_path))
    assert read_sidecar(file)["closed"]
    stats = CaptureStats()
    assert sum(1 for _ in read_lines([file], stats)) > 100 and stats.truncated_files == 0


# ---------------------------------------------------------------------- signals (a real subprocess)


def _start_recorder_process(tmp_path: Path, venue) -> tuple[subprocess.Popen, Path]:
    """`scalp-nautilus record` in its own process; the command line's overrides replace the
    config's folder and add an (hourly, so idle here) import."""
    settings = {
        "out_dir": str(tmp_path / "not-used"),
        "venues": [{"venue": "binance-usdm", "symbols": [SYMBOL], "base_url_http": venue.url_http, "base_url_ws": venue.url_ws}],
        "flush_s": 0.2,
        "disk": {"warn_free_gb": 0.0, "min_free_gb": 0.0},
    }
    config = tmp_path / "record.yaml"
    config.write_text(yaml.safe_dump(settings))
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scalp_nautilus.cli",
            "record",
            "--config",
            str(config),
            "--out-dir",
            str(tmp_path / "out"),
            "--catalog",
            str(tmp_path / "catalog"),
            "--import-every",
            "1h",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return proc, folder(tmp_path / "out")


def _wait_for_lines(where: Path, proc: subprocess.Popen, lines: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        files = capture_files(where) if where.is_dir() else []
        meta = read_sidecar(files[0]) if files else None
        if meta and meta["lines"] >= lines:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the recorder exited early:\n{proc.stdout.read().decode()}")
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"fewer than {lines} lines recorded in {timeout_s} s")


def _full_lines(path: Path) -> tuple[list[bytes], bool]:
    """The file's lines decoded with zlib in one go (all it holds), and whether the gzip stream ended."""
    inflate = zlib.decompressobj(wbits=31)
    data = inflate.decompress(path.read_bytes())
    return data.split(b"\n"), inflate.eof


@pytest.mark.slow
def test_sigterm_mid_file_leaves_it_closed_and_readable(source, tmp_path):
    paths, capture = source
    with VenueThread(venue_settings(paths, speed=1.0), sliced(capture, 120.0)) as venue:
        proc, where = _start_recorder_process(tmp_path, venue)
        _wait_for_lines(where, proc, 1_000)
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == 0, output
    assert "stopping: SIGTERM" in output and not (tmp_path / "not-used").exists()
    (file,) = capture_files(where)
    lines, clean = _full_lines(file)
    assert clean and lines[-1] == b""  # a complete gzip stream whose last line is whole
    meta = read_sidecar(file)
    assert meta["closed"] and meta["lines"] == len(lines) - 1 >= 1_000
    stats = CaptureStats()
    assert sum(1 for _ in read_lines([file], stats)) == meta["lines"]
    assert stats.truncated_files == 0 and stats.malformed_lines == 0


@pytest.mark.slow
def test_crash_leaves_the_file_readable_to_its_last_flush(source, tmp_path):
    """SIGKILL (no chance to close): the gzip stream has no end, but everything up to the last
    sync flush reads back, and at most the last line is cut; the importer keeps what it read."""
    paths, capture = source
    with VenueThread(venue_settings(paths, speed=1.0), sliced(capture, 120.0)) as venue:
        proc, where = _start_recorder_process(tmp_path, venue)
        _wait_for_lines(where, proc, 1_000)
        time.sleep(0.5)
        proc.kill()
        proc.communicate(timeout=30)
    (file,) = capture_files(where)
    meta = read_sidecar(file)  # written at the last flush
    assert not meta["closed"]
    lines, clean = _full_lines(file)
    full = lines[:-1]  # the last element is the cut line (or empty)
    assert not clean and len(full) >= meta["lines"] >= 1_000
    stats = CaptureStats()
    read = sum(1 for _ in read_lines([file], stats))
    assert stats.truncated_files == 1 and read == len(full) and stats.malformed_lines == (1 if lines[-1] else 0)
    _, _, _, imported = data_of(BinanceCaptureImporter([file]))
    assert imported.snapshots_applied == 1 and imported.sequence_gaps == 0


# ---------------------------------------------------------------------- COIN-M, import as it goes, config


@pytest.mark.slow
def test_coin_m_record_and_reimport(capture_paths, tmp_path):
    """COIN-M (BTCUSD_PERP, sizes in contracts): 20 s of the 2024-08 capture; the venue speaks the
    USD-M paths, so the recorder's `depth_path` and `info_path` point there (the endpoints are config)."""
    paths = capture_paths("cm_2024_08")[:1]  # the first file holds the snapshot and the 20 s
    capture = sliced(load_capture(paths), 20.0)
    settings = venue_settings(paths, speed=4.0, start={"streams": ["depth", "bookTicker"], "timeout_s": 60.0})
    with VenueThread(settings, capture) as venue:
        rec_settings = record_settings(tmp_path, venue)
        rec_settings = msgspec.structs.replace(
            rec_settings,
            venues=[
                msgspec.structs.replace(
                    rec_settings.venues[0],
                    venue="binance-coinm",
                    symbols=["BTCUSD_PERP"],
                    depth_path="/fapi/v1/depth",
                    info_path="/fapi/v1/exchangeInfo",
                )
            ],
        )
        recorder = run_recorder(rec_settings, venue, timeout_s=60)
    assert (recorder.sessions[0].gaps, recorder.sessions[0].reconnects) == (0, 0)
    files = capture_files(tmp_path / "binance-coinm" / "BTCUSD_PERP")
    rec_deltas, rec_trades, _, stats = data_of(BinanceCaptureImporter(files))
    src_deltas, src_trades, _, _ = data_of(BinanceCaptureImporter(paths))
    assert stats.sequence_gaps == 0 and stats.snapshots_applied == 1
    assert rec_trades == src_trades[: len(rec_trades)] and len(rec_trades) > 50
    snap_id = snapshot_ids(rec_deltas)[0]
    last = rec_deltas[-1][5]
    assert [d for d in rec_deltas if d[5] > snap_id] == [d for d in src_deltas if snap_id < d[5] <= last]
    assert book_at(files, snap_id, 1000) == book_at(paths, snap_id, 1000)


@pytest.mark.slow
def test_import_every_imports_closed_files_as_it_goes(source, tmp_path, caplog):
    """`import.catalog` + `import.every_s` (the command line's --catalog / --import-every): closed
    files are imported into the catalog by a child process while recording, and marked; the
    heartbeat reports each second."""
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    caplog.set_level("INFO")
    paths, capture = source
    catalog = tmp_path / "catalog"
    # Exchange times moved to now (whole seconds): the local clock can look behind the exchange,
    # and consecutive imports must still not overlap in the catalog.
    with VenueThread(venue_settings(paths, speed=1.0, rebase_time=True), sliced(capture, 12.0)) as venue:
        settings = record_settings(tmp_path / "out", venue, rotate_s=2.0, **{"import": {"catalog": str(catalog), "every_s": 3.0}})
        # Imports are child processes that take seconds each on a loaded machine: wait for two.
        recorder = run_recorder(settings, venue, timeout_s=90, until=lambda r: r.imports >= 2 or r.import_failures > 0)
    assert recorder.imports >= 2 and recorder.import_failures == 0
    files = capture_files(folder(tmp_path / "out"))
    imported = [f for f in files if (read_sidecar(f) or {}).get("imported") == str(catalog)]
    assert imported and all(read_sidecar(f)["closed"] for f in imported)
    assert imported == files[: len(imported)]  # in order, from the first
    _, trades, _, _ = data_of(BinanceCaptureImporter(imported))
    assert len(ParquetDataCatalog(str(catalog)).trade_ticks()) == len(trades) > 0
    beats = [r.message for r in caplog.records if r.message.startswith("heartbeat binance-usdm BTCUSDT")]
    # (the last beats can fall after the replay, when only rotation snapshots come)
    assert len(beats) >= 5 and any("btcusdt@depth@0ms" in b for b in beats) and "gaps 0" in beats[-1]


def test_record_config_errors_name_file_and_key(tmp_path):
    from scalp_nautilus.capture.settings import load_capture_settings
    from scalp_nautilus.cli import parse_duration
    from scalp_nautilus.config import ConfigError

    assert load_capture_settings(PROJECT_ROOT / "configs" / "record.yaml").venues[0].depth_endpoint == "/fapi/v1/depth"
    bad = tmp_path / "record.yaml"
    bad.write_text("venues:\n  - venue: binance-usdm\n    symbols: [BTCUSDT]\n    snapshot_limt: 100\n")
    expected = r"record\.yaml: unknown key `venues\[0\]\.snapshot_limt` \(did you mean `snapshot_limit`"
    with pytest.raises(ConfigError, match=expected):
        load_capture_settings(bad)
    bad.write_text("venues:\n  - venue: binance-spot\n    symbols: [BTCUSDT]\n    snapshot_limit: 9000\n")
    with pytest.raises(ConfigError, match=r"record\.yaml.*snapshot_limit: at most 5000"):
        load_capture_settings(bad)
    bad.write_text("venues:\n  - venue: okx\n    symbols: [BTCUSDT]\n")
    with pytest.raises(ConfigError, match=r"record.yaml: key `venues\[0\].venue`"):
        load_capture_settings(bad)
    assert [parse_duration(x) for x in ("1h", "30m", "90s", "120", "1.5h")] == [3600, 1800, 90, 120, 5400]
    with pytest.raises(ValueError, match="--import-every"):
        parse_duration("soon")


def test_writer_rotation_sidecars_and_events_before_a_file(tmp_path):
    """The writer on its own, with hand-set clocks: UTC-grid rotation, sidecar contents (each
    event with the line it came after), an event noted while no file is open lands in the next
    file, and a second file opened in the same second never appends to the first."""
    import gzip

    from scalp_nautilus.capture.writer import CaptureWriter

    s = 1_000_000_000
    w = CaptureWriter(tmp_path, "BTCUSDT", rotate_s=10.0, flush_s=1.0, level=1)
    t0 = 1_700_000_003 * s  # 3 s past a multiple of 10 s
    assert w.due(t0)
    w.event("reconnects", t0 - 5)
    first = w.open(t0)
    w.write(t0 + 1, b"a@trade", b'{"x":1}')
    w.write(t0 + 2, b"a@trade", b'{"x":2}')
    w.event("gaps", t0 + 2, reason="pu=1 but the previous diff ended at u=0")
    assert not w.due(t0 + 6 * s) and w.due(t0 + 7 * s)  # the period ends at the next multiple of 10 s
    second = w.open(t0 + 7 * s)
    w.write(t0 + 7 * s, b"a@depth", b"{}")
    third = w.open(t0 + 7 * s + 1)  # same second: a distinct file
    w.close()
    assert first.name == "BTCUSDT_20231114T221323Z.gz" and len({first, second, third}) == 3
    assert capture_files(tmp_path) == [first, second, third]  # name order is time order
    with gzip.open(first, "rb") as fh:
        assert fh.read() == b'%d {"x":1}\n%d {"x":2}\n' % (t0 + 1, t0 + 2)
    meta = read_sidecar(first)
    assert meta["closed"] and meta["lines"] == 2 and meta["streams"] == {"a@trade": 2}
    assert meta["reconnects"] == [{"recv_ns": t0 - 5, "line": 0}]
    assert meta["gaps"] == [{"recv_ns": t0 + 2, "line": 2, "reason": "pu=1 but the previous diff ended at u=0"}]
    assert (meta["first_recv_ns"], meta["last_recv_ns"]) == (t0 + 1, t0 + 2)
    assert read_sidecar(second)["lines"] == 1 and read_sidecar(second)["reconnects"] == []


def test_reconnect_backs_off(tmp_path, caplog):
    """Once recording, a venue that goes away: each attempt is refused and the wait doubles from
    `initial_s` up to `max_s` (at start the same refusal is an error: see the unattended tests)."""
    import re

    from aiohttp import web

    caplog.set_level("WARNING")

    async def info(request):
        return web.json_response({"symbols": [{"symbol": SYMBOL, "status": "TRADING"}]})

    sockets: list = []

    async def stream(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sockets.append(ws)
        async for msg in ws:
            req = msgspec.json.decode(msg.data)
            await ws.send_str(msgspec.json.encode({"result": None, "id": req["id"]}).decode())
            trade = {"e": "trade", "E": 1, "T": 1, "s": SYMBOL, "t": 1, "p": "1", "q": "1", "m": True}
            await ws.send_str(msgspec.json.encode({"stream": "btcusdt@trade", "data": trade}).decode())
        return ws

    async def main() -> MarketCapture:
        app = web.Application()
        app.router.add_get("/fapi/v1/exchangeInfo", info)
        app.router.add_get("/stream", stream)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        base = {"venue": "binance-usdm", "symbols": [SYMBOL], "streams": ["trade"]}
        settings = msgspec.convert(
            {
                "out_dir": str(tmp_path),
                "stop_after_s": 3.0,
                "venues": [{**base, "base_url_http": f"http://127.0.0.1:{port}", "base_url_ws": f"ws://127.0.0.1:{port}"}],
                "reconnect": {"initial_s": 0.1, "max_s": 0.4},
                "disk": {"warn_free_gb": 0.0, "min_free_gb": 0.0},
            },
            CaptureSettings,
        )
        recorder = MarketCapture(settings)
        task = asyncio.create_task(recorder.run())
        while not (recorder.sessions and recorder.sessions[0].ready):
            await asyncio.sleep(0.01)
        await site.stop()  # the venue goes away: connections are refused from now on
        for ws in sockets:
            await ws.close()
        await task
        await runner.cleanup()
        return recorder

    recorder = asyncio.run(main())
    waits = [float(m.group(1)) for r in caplog.records if (m := re.search(r"reconnecting in ([\d.]+) s", r.message))]
    assert waits[:5] == [0.1, 0.2, 0.4, 0.4, 0.4]
    assert recorder.stop_reason.startswith("stop_after_s") and recorder.exit_code == Exit.OK


def test_futures_snapshot_ending_right_before_the_first_buffered_diff_is_usable():
    """On plain numbers: a snapshot whose lastUpdateId is the first buffered diff's `pu` (the
    recorder asked right after that diff's predecessor) is usable, as `BookSync.diff` already
    accepts such a first diff; one with updates missing in between is not."""
    from scalp_nautilus.capture.binance import _ChainDiff
    from scalp_nautilus.data.binance_sync import BookSync
    from scalp_nautilus.data.binance_sync import Verdict

    sync = BookSync()
    assert sync.diff(_ChainDiff(105, 110, 100)) is Verdict.BUFFERED
    usable, dropped, replay = sync.snapshot(100)
    assert usable and dropped == 0 and [sync.diff(d) for d in replay] == [Verdict.APPLY]
    assert sync.diff(_ChainDiff(111, 112, 110)) is Verdict.APPLY
    sync = BookSync()
    sync.diff(_ChainDiff(105, 110, 101))
    assert not sync.snapshot(100)[0]  # update 101 is in neither the snapshot nor the stream
