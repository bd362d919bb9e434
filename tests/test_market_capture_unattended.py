"""The recorder left alone for weeks (issue 25): checked at start, stopped cleanly by a full disk or a
failed task, recovering crash-left files, alerting, every file importable on its own.

Each test reproduces one defect the landed recorder had (they failed before the fixes). Servers are
local: the replay venue (a real 2023 Binance capture), a REST gate in front of it that holds or
fails chosen requests, and tiny WebSocket servers that stay silent or refuse a subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import msgspec
import pandas as pd
import pytest
import yaml
from aiohttp import WSMsgType
from aiohttp import web

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
from tests.capture_harness import RestGate
from tests.capture_harness import record_settings
from tests.capture_harness import run_recorder
from tests.capture_harness import sliced
from tests.capture_harness import venue_settings
from tests.support.live import free_port
from tests.support.process import run_python
from tests.support.shared_data import PROJECT_ROOT

NO_DISK_LIMIT = {"warn_free_gb": 0.0, "min_free_gb": 0.0}


@pytest.fixture(scope="module")
def source(capture_paths):
    paths = capture_paths("usdm_2023_04")
    return paths, load_capture(paths)


def folder(out: Path, venue: str = "binance-usdm", symbol: str = SYMBOL) -> Path:
    return out / venue / symbol


def settings_for(out: Path, http: str, ws: str, venue: str = "binance-usdm", symbol: str = SYMBOL, **changes) -> CaptureSettings:
    raw = {
        "out_dir": str(out),
        "venues": [{"venue": venue, "symbols": [symbol], "base_url_http": http, "base_url_ws": ws}],
        "reconnect": {"initial_s": 0.1, "max_s": 0.2},
        "disk": NO_DISK_LIMIT,
        **changes,
    }
    return msgspec.convert(raw, CaptureSettings)


def start_error(settings: CaptureSettings, within_s: float = 30.0) -> str:
    """Run the recorder; it must refuse to start (ValueError) within `within_s`: its message."""

    async def main() -> None:
        await asyncio.wait_for(MarketCapture(settings).run(), within_s)

    with pytest.raises(ValueError) as info:
        asyncio.run(main())
    return str(info.value)


# ---------------------------------------------------------------------- validated at start


def test_url_without_scheme_is_a_config_error_naming_the_key(tmp_path):
    from scalp_nautilus.capture.settings import load_capture_settings
    from scalp_nautilus.config import ConfigError

    config = tmp_path / "record.yaml"
    config.write_text("venues:\n  - venue: binance-usdm\n    symbols: [BTCUSDT]\n    base_url_ws: fstream.binance.com\n")
    with pytest.raises(
        ConfigError, match=r"record\.yaml: key `venues\[0\]\.base_url_ws`.*fstream\.binance\.com.*ws:// or wss://"
    ):
        load_capture_settings(config)
    config.write_text("venues:\n  - venue: bybit-linear\n    symbols: [BTCUSDT]\n    base_url_http: ftp://api.bybit.com\n")
    with pytest.raises(ConfigError, match=r"key `venues\[0\]\.base_url_http`.*http:// or https://"):
        load_capture_settings(config)


@pytest.mark.parametrize("host", ["refused", "no-dns"])
def test_unreachable_endpoint_fails_at_start_with_one_line(tmp_path, host):
    """Nothing listens on the port, or the name does not resolve: before, both were retried forever."""
    base = f"127.0.0.1:{free_port()}" if host == "refused" else "capture-test.invalid"
    settings = settings_for(tmp_path, f"http://{base}", f"ws://{base}", stop_after_s=20.0)
    message = start_error(settings)
    assert "\n" not in message and base in message and "binance-usdm" in message


def test_out_dir_that_cannot_be_created_exits_with_one_line(tmp_path, capsys):
    """`record` with an out_dir it cannot write: exit 1 and one line naming the folder (before: a traceback)."""
    from scalp_nautilus.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    config = tmp_path / "record.yaml"
    config.write_text(
        yaml.safe_dump({"out_dir": str(blocker / "captures"), "venues": [{"venue": "binance-usdm", "symbols": ["BTCUSDT"]}]})
    )
    assert main(["record", "--config", str(config)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: out_dir") and str(blocker / "captures") in err[0]


@pytest.mark.real_data
def test_symbol_the_venue_does_not_list_fails_at_start(source, tmp_path):
    """FOOUSDT: the venue's exchange info does not list it (before: "connected", 0 messages, forever)."""
    paths, capture = source
    with VenueThread(venue_settings(paths), sliced(capture, 20.0)) as venue:
        message = start_error(record_settings(tmp_path, venue, symbol="FOOUSDT", stop_after_s=20.0))
    assert "FOOUSDT" in message and "not listed" in message and "\n" not in message


@pytest.mark.real_data
def test_depth_snapshot_endpoint_down_fails_at_start(source, tmp_path):
    """The WebSocket up, the REST depth endpoint answering 503: no snapshot is an error, not a
    recording of diffs that cannot be imported."""
    paths, capture = source
    with VenueThread(venue_settings(paths, speed=4.0), sliced(capture, 60.0)) as venue:

        async def main() -> str:
            gate = RestGate(venue.url_http, failing=("/fapi/v1/depth",))
            await gate.start()
            try:
                settings = record_settings(
                    tmp_path, venue, http=gate.url, stop_after_s=30.0, watchdog={"snapshot_s": 2.0, "silence_s": 10.0}
                )
                with pytest.raises(ValueError) as info:
                    await asyncio.wait_for(MarketCapture(settings).run(), 30)
                return str(info.value)
            finally:
                await gate.stop()

        message = asyncio.run(main())
    assert "snapshot" in message and "503" in message and "\n" not in message


class SilentServer:
    """A venue that lists the symbol and accepts the WebSocket, then says nothing (`refuse`: a Bybit
    venue refusing every subscription)."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/fapi/v1/exchangeInfo", self._info)
        app.router.add_get("/v5/market/instruments-info", self._bybit_info)
        app.router.add_get("/stream", self._ws)
        app.router.add_get("/v5/public/linear", self._ws)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return f"127.0.0.1:{site._server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _info(self, request):
        return web.json_response({"symbols": [{"symbol": SYMBOL, "status": "TRADING"}]})

    async def _bybit_info(self, request):
        item = {"symbol": SYMBOL, "status": "Trading"}
        return web.json_response({"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": [item]}})

    async def _ws(self, request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT and self.refuse:
                req = msgspec.json.decode(msg.data)
                reply = {"success": False, "ret_msg": "error:handler not found", "op": req.get("op"), "conn_id": "x"}
                await ws.send_str(msgspec.json.encode(reply).decode())
        return ws


@pytest.mark.parametrize("venue", ["binance-usdm", "bybit-linear"])
def test_a_connection_that_delivers_nothing_fails_at_start(tmp_path, venue):
    async def main() -> str:
        server = SilentServer()
        address = await server.start()
        try:
            ws = f"ws://{address}" + ("/v5/public/linear" if venue == "bybit-linear" else "")
            settings = settings_for(
                tmp_path, f"http://{address}", ws, venue=venue, stop_after_s=20.0, watchdog={"silence_s": 1.5}
            )
            with pytest.raises(ValueError) as info:
                await asyncio.wait_for(MarketCapture(settings).run(), 20)
            return str(info.value)
        finally:
            await server.stop()

    message = asyncio.run(main())
    assert "1.5 s" in message and "\n" not in message


def test_bybit_subscription_the_venue_refuses_fails_at_start(tmp_path):
    async def main() -> str:
        server = SilentServer(refuse=True)
        address = await server.start()
        try:
            settings = settings_for(
                tmp_path, f"http://{address}", f"ws://{address}/v5/public/linear", venue="bybit-linear", stop_after_s=20.0
            )
            with pytest.raises(ValueError) as info:
                await asyncio.wait_for(MarketCapture(settings).run(), 20)
            return str(info.value)
        finally:
            await server.stop()

    message = asyncio.run(main())
    assert "refused" in message and "orderbook.50.BTCUSDT" in message and "handler not found" in message


def test_default_streams_are_what_the_venues_serve():
    """Bybit linear's default book is `orderbook.50` (the depth the venue serves; before
    `orderbook.500`), and aggTrade, never imported, is off by default (11% of the bytes)."""
    from scalp_nautilus.capture.settings import DEFAULT_STREAMS

    assert DEFAULT_STREAMS["bybit-linear"] == ["orderbook.50", "publicTrade", "tickers"]
    assert all("aggTrade" not in streams for streams in DEFAULT_STREAMS.values())


# ---------------------------------------------------------------------- a failed task stops the capture


@pytest.mark.real_data
def test_a_failing_clock_task_stops_the_capture_with_its_error(source, tmp_path, monkeypatch):
    """The clock runs the heartbeat, the disk check, `stop_after_s` and the import; when it failed it
    died silently and nothing stopped the recorder any more."""
    from scalp_nautilus.capture.run import Exit
    from scalp_nautilus.capture.session import Session

    def broken(self, period_s):
        raise RuntimeError("heartbeat broke")

    monkeypatch.setattr(Session, "heartbeat", broken)
    paths, capture = source
    with VenueThread(venue_settings(paths, speed=2.0), sliced(capture, 60.0)) as venue:

        async def main() -> MarketCapture:
            recorder = MarketCapture(record_settings(tmp_path, venue, heartbeat_s=0.5, stop_after_s=20.0))
            await asyncio.wait_for(recorder.run(), 15)
            return recorder

        recorder = asyncio.run(main())
    assert recorder.exit_code == Exit.FAILED and "heartbeat broke" in recorder.stop_reason
    (file,) = capture_files(folder(tmp_path))
    meta = read_sidecar(file)
    assert meta["closed"] and meta["lines"] == sum(1 for _ in read_lines([file], CaptureStats()))


# ---------------------------------------------------------------------- every file importable on its own


@pytest.mark.slow
@pytest.mark.real_data
def test_rotation_waits_for_the_snapshot(source, tmp_path):
    """The depth snapshot is held back until the first file's period (1 s) has ended and diffs have
    arrived after it: the first file must still hold its start snapshot (before, it closed without
    one: `[] == ['start']`), and every file imports on its own, the last one too (before, in 2 of 3
    runs, the clock opened a file after the venue's last message that held only its snapshot:
    `test_a_silence_closes_the_file_and_the_next_message_opens_the_next` is that case, deterministic)."""
    paths, capture = source
    with VenueThread(venue_settings(paths, speed=2.0), sliced(capture, 10.0)) as venue:
        gate_box: list[RestGate] = []

        async def hold_the_snapshot(recorder: MarketCapture) -> None:
            gate = gate_box[0]
            where = folder(tmp_path)
            while not (where.is_dir() and capture_files(where)):
                await asyncio.sleep(0.01)
            opened = read_sidecar(capture_files(where)[0])["opened_ns"]
            period_end = (opened // 1_000_000_000 + 1) * 1_000_000_000  # rotate_s 1: the next whole second
            while time.time_ns() < period_end + 300_000_000:  # diffs keep coming after the period's end
                await asyncio.sleep(0.01)
            assert gate.requests.get("/fapi/v1/depth") == 1  # the recorder asked, and waits
            gate.release.set()

        async def main() -> MarketCapture:
            gate = RestGate(venue.url_http, held=("/fapi/v1/depth",))
            gate_box.append(gate)
            await gate.start()
            try:
                settings = record_settings(tmp_path, venue, http=gate.url, rotate_s=1.0)

                recorder = MarketCapture(settings)

                async def watch() -> None:
                    while not venue.finished.is_set():
                        await asyncio.sleep(0.05)
                    await asyncio.sleep(0.5)
                    recorder.request_stop("test: venue finished")

                tasks = [asyncio.create_task(watch()), asyncio.create_task(hold_the_snapshot(recorder))]
                await asyncio.wait_for(recorder.run(), 60)
                await asyncio.gather(*tasks)
                return recorder
            finally:
                await gate.stop()

        recorder = asyncio.run(main())
    files = capture_files(folder(tmp_path))
    metas = [read_sidecar(f) for f in files]
    assert len(files) >= 3 and all(m["closed"] for m in metas)
    assert [s["reason"] for s in metas[0]["snapshots"]] == ["start"]
    for f, m in zip(files, metas, strict=True):
        imp = BinanceCaptureImporter([f])
        for _ in imp.events():
            pass
        stats = imp.stats
        assert stats.snapshots_applied == 1 and stats.sequence_gaps == 0, (f.name, m["snapshots"])
    assert sum(m["lines"] for m in metas) == venue.stats["messages"] + recorder.sessions[0].snapshots
    # The folder imports as one capture: no gap, one snapshot applied (the later ones arrive in sync),
    # the source's diffs after it, and its trades (through the command line, into a catalog).
    from nautilus_trader.model.data import OrderBookDelta
    from nautilus_trader.model.data import TradeTick
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from scalp_nautilus.cli import main

    def book_and_trades(imp) -> tuple[list, list]:
        events = list(imp.events())
        deltas = [(d.sequence, d.flags, str(d.order.price), str(d.order.size)) for d in events if isinstance(d, OrderBookDelta)]
        return deltas, [t.trade_id.value for t in events if isinstance(t, TradeTick)]

    rec = BinanceCaptureImporter(files)
    rec_deltas, rec_trades = book_and_trades(rec)
    src_deltas, src_trades = book_and_trades(BinanceCaptureImporter(paths))
    assert rec.stats.sequence_gaps == 0 and rec.stats.snapshots_applied == 1
    assert rec_trades == src_trades[: len(rec_trades)] and len(rec_trades) > 50
    first = rec_deltas[0][0]
    assert [d for d in rec_deltas if d[0] > first] == [d for d in src_deltas if first < d[0] <= rec_deltas[-1][0]]
    catalog = tmp_path / "catalog"
    assert main(["data", "import-binance", str(folder(tmp_path)), "--catalog", str(catalog)]) == 0
    assert len(ParquetDataCatalog(str(catalog)).trade_ticks()) == len(rec_trades)


# ------------------------------------------------------- the clock closes files, messages open them


class _DepthRest:
    """The session's REST client stand-in: every depth request answers a snapshot at `last_id`
    (one level a side), once `release` is set; `requests` counts them."""

    def __init__(self) -> None:
        self.last_id = 0
        self.requests = 0
        self.release = asyncio.Event()
        self.release.set()

    @contextlib.asynccontextmanager
    async def get(self, url, params=None, timeout=None):
        self.requests += 1
        await self.release.wait()
        now_ms = time.time_ns() // 1_000_000
        body = {
            "lastUpdateId": self.last_id,
            "E": now_ms,
            "T": now_ms,
            "bids": [["100.0", "1.000"]],
            "asks": [["100.1", "2.000"]],
        }
        yield _Response(msgspec.json.encode(body))


class _Response:
    status = 200

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def read(self) -> bytes:
        return self.body


def _diff(U: int, u: int, pu: int) -> bytes:
    now_ms = time.time_ns() // 1_000_000
    data = {
        "e": "depthUpdate",
        "E": now_ms,
        "T": now_ms,
        "s": SYMBOL,
        "U": U,
        "u": u,
        "pu": pu,
        "b": [["100.0", f"{u}.000"]],
        "a": [],
    }
    return msgspec.json.encode({"stream": "btcusdt@depth@0ms", "data": data})


def _trade(t: int) -> bytes:
    now_ms = time.time_ns() // 1_000_000
    data = {"e": "trade", "E": now_ms, "T": now_ms, "s": SYMBOL, "t": t, "p": "100.0", "q": "0.010", "m": True}
    return msgspec.json.encode({"stream": "btcusdt@trade", "data": data})


async def _settled(session) -> None:
    """Until the session's snapshot request (answered at once by `_DepthRest`) is written."""
    for _ in range(1000):
        if not session.snapshot_pending:
            return
        await asyncio.sleep(0)
    raise AssertionError("the snapshot request did not finish")


def test_a_silence_closes_the_file_and_the_next_message_opens_the_next(tmp_path):
    """The defect behind the flaky last file of `test_rotation_waits_for_the_snapshot`, made
    deterministic (hand-set clock, REST stand-in): the clock opened the next file when a period
    ended in silence, its rotation snapshot was all it held, and a Binance REST snapshot names no
    symbol, so that file did not import on its own (`no depthUpdate or trade message`). Now the
    clock only closes the file; the next message opens the next one, then its snapshot comes.
    A snapshot on its way when the period ends (here a gap's) keeps the file open until it is
    written, in the file of the diffs that asked for it."""
    from scalp_nautilus.capture.binance import BinanceSession

    sent = 0

    def send(data: bytes) -> None:
        nonlocal sent
        session.on_data(data)
        sent += 1

    async def main() -> None:
        nonlocal session
        settings = settings_for(
            tmp_path,
            "http://127.0.0.1:9",
            "ws://127.0.0.1:9",
            rotate_s=3600.0,
            venues=[{"venue": "binance-usdm", "symbols": [SYMBOL], "streams": ["depth@0ms", "trade"]}],
        )
        session = BinanceSession(settings, settings.venues[0], SYMBOL, rest, alerts.append)
        where = folder(tmp_path)
        send(_diff(1, 2, 0))  # opens the first file; the start snapshot is asked for
        rest.last_id = 1
        await _settled(session)
        send(_trade(1))
        send(_diff(3, 4, 2))
        session.tick(session.writer.period_end_ns)  # the period ends in silence
        assert not session.writer.is_open and rest.requests == 1  # closed; no file, no snapshot, for the silence
        assert len(capture_files(where)) == 1
        rest.last_id = 6
        send(_diff(5, 6, 4))  # opens the next file, and asks for its rotation snapshot
        await _settled(session)
        send(_diff(7, 8, 6))
        rest.release.clear()
        send(_diff(10, 11, 9))  # a gap (pu 9, not 8): a fresh snapshot is asked for, and held
        session.tick(session.writer.period_end_ns)
        assert session.writer.is_open and len(capture_files(where)) == 2  # not closed before it
        rest.last_id = 11
        rest.release.set()
        await _settled(session)
        session.tick(session.writer.period_end_ns)
        assert not session.writer.is_open
        session.close()

    session = None
    rest = _DepthRest()
    alerts: list = []
    asyncio.run(main())
    assert session is not None and alerts == []
    files = capture_files(folder(tmp_path))
    metas = [read_sidecar(f) for f in files]
    assert len(files) == 2 and all(m["closed"] for m in metas)
    assert [[s["reason"] for s in m["snapshots"]] for m in metas] == [["start"], ["rotation", "gap"]]
    assert sum(m["lines"] for m in metas) == sent + session.snapshots == 6 + 3
    for f in files:
        first = next(read_lines([f], CaptureStats()))[2]
        assert first["data"]["e"] == "depthUpdate"  # opened by a message
        imp = BinanceCaptureImporter([f])
        for _ in imp.events():
            pass
        assert imp.stats.malformed_lines == 0 and imp.stats.depth_skipped_unsynced == 0, f.name
    assert (imp.stats.snapshots_applied, imp.stats.sequence_gaps) == (2, 1)  # the last file re-syncs after its gap


def test_bybit_a_silence_opens_no_file(tmp_path):
    """Bybit the same: the clock opened a file when a period ended in silence, holding only its
    resubscription snapshot, or nothing (an empty file does not import: `capture holds symbols
    []`). Now the silence closes the file and opens none."""
    from scalp_nautilus.capture.bybit import BybitSession
    from scalp_nautilus.data.bybit_capture import BybitCaptureImporter

    def book(kind: str, u: int) -> bytes:
        now_ms = time.time_ns() // 1_000_000
        data = {"s": SYMBOL, "b": [["100.0", f"{u}.0"]], "a": [["100.1", "2.0"]], "u": u, "seq": u}
        return msgspec.json.encode({"topic": f"orderbook.50.{SYMBOL}", "type": kind, "ts": now_ms, "data": data, "cts": now_ms})

    async def main() -> None:
        venue = {"venue": "bybit-linear", "symbols": [SYMBOL], "streams": ["orderbook.50", "publicTrade"]}
        settings = settings_for(tmp_path, "http://127.0.0.1:9", "ws://127.0.0.1:9", rotate_s=3600.0, venues=[venue])
        session = BybitSession(settings, settings.venues[0], SYMBOL, None, alerts.append)
        session.on_data(book("snapshot", 1))
        session.on_data(book("delta", 2))
        session.tick(session.writer.period_end_ns)
        assert not session.writer.is_open
        session.close()

    alerts: list = []
    asyncio.run(main())
    (file,) = capture_files(folder(tmp_path, "bybit-linear"))
    imp = BybitCaptureImporter([file])
    for _ in imp.events():
        pass
    assert (imp.stats.snapshots_applied, imp.stats.depth_applied, alerts) == (1, 1, [])


# ---------------------------------------------------------------------- a full disk


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, check=False)
    return done.returncode == 0


def _gzip_lines(path: Path) -> tuple[int, bool]:
    inflate = zlib.decompressobj(wbits=31)
    data = inflate.decompress(path.read_bytes())
    return data.count(b"\n"), inflate.eof and data.endswith(b"\n")


@pytest.mark.slow
@pytest.mark.real_data
def test_full_disk_drill_stops_once_with_valid_files(source, tmp_path):
    """`record` into a 2 MB tmpfs with `min_free_gb: 0` (the drill of the issue). Before: the write
    error was taken for a WebSocket error and reconnected forever; the clock died; SIGTERM left a
    file without its gzip end, a 0-byte `.json.tmp` and a sidecar that undercounted."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "2m"):
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN): the drill cannot run here")
    paths, capture = source
    try:
        with VenueThread(venue_settings(paths, speed=20.0), capture) as venue:
            config = tmp_path / "record.yaml"
            config.write_text(
                yaml.safe_dump(
                    {
                        "out_dir": str(disk),
                        "venues": [
                            {
                                "venue": "binance-usdm",
                                "symbols": [SYMBOL],
                                "base_url_http": venue.url_http,
                                "base_url_ws": venue.url_ws,
                            }
                        ],
                        "disk": {"warn_free_gb": 0.0, "min_free_gb": 0.0, "check_s": 1.0},
                    }
                )
            )
            proc = subprocess.Popen(
                [sys.executable, "-m", "scalp_nautilus.cli", "record", "--config", str(config)],
                env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )
            try:
                output = proc.communicate(timeout=60)[0].decode()
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)
                output = proc.communicate(timeout=30)[0].decode()
                pytest.fail(f"the recorder did not stop by itself on a full disk:\n{output[-3000:]}")
        assert proc.returncode == 3, output[-3000:]  # Exit.DISK: the documented code for a full disk
        assert "Traceback" not in output and "WebSocket OSError" not in output
        assert output.count("stopping: disk full") == 1, output[-3000:]
        files = capture_files(folder(disk))
        assert files
        for f in files:
            meta = read_sidecar(f)
            lines, complete = _gzip_lines(f)
            assert complete and meta["closed"] and meta["lines"] == lines > 0, (f.name, meta)
        assert not list(disk.rglob("*.tmp")) and not list(disk.rglob(".capture-reserve"))
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


# ---------------------------------------------------------------------- crash-left files


def _record_process(tmp_path: Path, venue, *extra: str) -> subprocess.Popen:
    config = tmp_path / "record.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "out_dir": str(tmp_path / "out"),
                "venues": [
                    {"venue": "binance-usdm", "symbols": [SYMBOL], "base_url_http": venue.url_http, "base_url_ws": venue.url_ws}
                ],
                "flush_s": 0.2,
                "disk": NO_DISK_LIMIT,
            }
        )
    )
    return subprocess.Popen(
        [sys.executable, "-m", "scalp_nautilus.cli", "record", "--config", str(config), *extra],
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )


def _wait_for(predicate, proc: subprocess.Popen, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the recorder exited early:\n{proc.stdout.read().decode()[-3000:]}")
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"{what}: not within {timeout_s} s:\n{proc.communicate()[0].decode()[-3000:]}")


@pytest.mark.slow
@pytest.mark.real_data
def test_a_crash_left_file_is_repaired_and_imported_with_a_warning(source, tmp_path):
    """SIGKILL, then `record --catalog C --import-every 3s`: the `closed: false` file is cut at its
    last whole line, marked truncated, and imported with a warning that names it (before: skipped
    silently, forever)."""
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    paths, capture = source
    out = folder(tmp_path / "out")
    with VenueThread(venue_settings(paths, speed=1.0, start={"streams": ["depth"], "timeout_s": 60.0}), capture) as venue:
        proc = _record_process(tmp_path, venue)

        def lines() -> int:
            files = capture_files(out) if out.is_dir() else []
            return (read_sidecar(files[0]) or {}).get("lines", 0) if files else 0

        _wait_for(lambda: lines() >= 1_000, proc, 60, "1,000 lines recorded")
        proc.kill()
        proc.communicate(timeout=30)
        (crashed,) = capture_files(out)
        assert read_sidecar(crashed)["closed"] is False
        catalog = tmp_path / "catalog"
        proc = _record_process(tmp_path, venue, "--catalog", str(catalog), "--import-every", "3s")
        _wait_for(lambda: (read_sidecar(crashed) or {}).get("imported"), proc, 60, "the crash-left file imported")
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 0, output[-3000:]
    meta = read_sidecar(crashed)
    assert meta["closed"] and meta["truncated"] and meta["imported"] == str(catalog)
    n, complete = _gzip_lines(crashed)
    assert complete and n == meta["lines"] >= 1_000
    assert "recovered after a crash" in output and crashed.name in output
    imp = BinanceCaptureImporter([crashed])
    trades = sum(1 for e in imp.events() if type(e).__name__ == "TradeTick")
    assert imp.stats.truncated_files == 0 and imp.stats.malformed_lines == 0 and imp.stats.snapshots_applied == 1
    assert len(ParquetDataCatalog(str(catalog)).trade_ticks()) >= trades > 0


# ---------------------------------------------------------------------- alerts


@pytest.mark.real_data
def test_alerts_disconnect_silence_low_disk_and_failed_import(source, tmp_path, monkeypatch, caplog):
    """Each unattended condition raises its alert (logged, and sent to the config's apprise URLs):
    the venue drops the connection and the recorder stays away longer than
    `watchdog.disconnected_s`; the feed goes quiet for `watchdog.silence_s`; free space falls below
    `disk.warn_free_gb`; an import fails (its catalog is a file)."""
    import shutil

    from scalp_nautilus.capture import run as run_module

    caplog.set_level(logging.WARNING)
    real = shutil.disk_usage
    monkeypatch.setattr(run_module.shutil, "disk_usage", lambda p: real(p)._replace(free=5 * 1024**3))
    catalog = tmp_path / "catalog-is-a-file"
    catalog.write_text("")
    paths, capture = source
    settings = venue_settings(paths, speed=1.0, faults={"drop_at_s": [3.0]})
    with VenueThread(settings, sliced(capture, 12.0)) as venue:
        changes = {
            "rotate_s": 2.0,
            "reconnect": {"initial_s": 1.5, "max_s": 1.5},
            "watchdog": {"disconnected_s": 0.5, "silence_s": 1.0},
            "disk": {"warn_free_gb": 10.0, "min_free_gb": 1.0, "check_s": 0.5},
            "import": {"catalog": str(catalog), "every_s": 2.0},
        }
        run_recorder(record_settings(tmp_path, venue, **changes), venue, timeout_s=60)
    alerts = {r.message.split(":")[0] for r in caplog.records if r.message.startswith("ALERT ")}
    for key in ("ALERT disconnected", "ALERT disk_low", "ALERT import_failed"):
        assert any(a.startswith(key) for a in alerts), (key, alerts)


def test_alert_for_a_silent_feed(tmp_path, caplog):
    """A connection that delivered, then went quiet: an alert and a reconnect (not an exit)."""

    class Quiet(SilentServer):
        async def _ws(self, request):
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            async for msg in ws:
                req = msgspec.json.decode(msg.data)
                await ws.send_str(msgspec.json.encode({"result": None, "id": req.get("id")}).decode())
                for i in range(5):
                    body = {
                        "stream": "btcusdt@trade",
                        "data": {"e": "trade", "E": 1, "T": 1, "s": SYMBOL, "t": i, "p": "1", "q": "1", "m": True},
                    }
                    await ws.send_str(msgspec.json.encode(body).decode())
            return ws

    caplog.set_level(logging.WARNING)

    async def main() -> None:
        server = Quiet()
        address = await server.start()
        try:
            settings = settings_for(
                tmp_path,
                f"http://{address}",
                f"ws://{address}",
                stop_after_s=4.0,
                watchdog={"silence_s": 1.0},
                venues=[
                    {
                        "venue": "binance-usdm",
                        "symbols": [SYMBOL],
                        "streams": ["trade"],
                        "base_url_http": f"http://{address}",
                        "base_url_ws": f"ws://{address}",
                    }
                ],
            )
            await asyncio.wait_for(MarketCapture(settings).run(), 20)
        finally:
            await server.stop()

    asyncio.run(main())
    assert any(r.message.startswith("ALERT silent") for r in caplog.records)
    assert any("reconnect" in r.message for r in caplog.records)


# ---------------------------------------------------------------------- the command line


@pytest.mark.parametrize("args", [["--help"], ["record", "--help"]])
def test_help_imports_no_heavy_library(args):
    """`--help` and `record --help` took 6.5 s: the command line imported scipy, pandas and Nautilus
    to build its parser. Each command's own modules load when it runs."""
    code = (
        "import sys\n"
        "from scalp_nautilus.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('nautilus_trader', 'scipy', 'pandas', 'torch', 'pyarrow', 'numba') if m in sys.modules)\n"
        "print('HEAVY', ','.join(heavy))\n"
    )
    done = run_python(code, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "usage: scalp-nautilus" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "HEAVY", done.stdout.splitlines()[-1]


def test_mistyped_top_level_key_suggests_the_key_as_written(tmp_path):
    """The config key is `import` (the struct's field is `import_`): suggestions name the key."""
    from scalp_nautilus.capture.settings import load_capture_settings
    from scalp_nautilus.config import ConfigError

    bad = tmp_path / "record.yaml"
    venues = "venues:\n  - venue: binance-usdm\n    symbols: [BTCUSDT]\n"
    bad.write_text(venues + "imprt: {catalog: c}\n")
    with pytest.raises(ConfigError) as info:
        load_capture_settings(bad)
    assert "did you mean `import`?" in str(info.value) and "import_" not in str(info.value)
    bad.write_text(venues + "import_: {catalog: c}\n")
    with pytest.raises(ConfigError, match=r"unknown key `import_` \(did you mean `import`\?\)"):
        load_capture_settings(bad)


# ---------------------------------------------------------------------- outages are data


@pytest.mark.slow
@pytest.mark.real_data
def test_outage_drill_span_stored_and_no_decision_inside(source, tmp_path, capsys):
    """The venue drops the connection; the recorder reconnects after 1 s (10 s of capture time at
    10x). The import stores the invalid span: from the last diff recorded before the drop to the
    snapshot after the reconnect, in exchange time (before: from the diff that revealed the gap to
    the snapshot, zero length, and only printed). A backtest across it blocks every book batch
    inside (`invalid_span`) and fills nothing there."""
    import json

    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from scalp_nautilus.cli import main
    from scalp_nautilus.data.compressed import open_lines
    from scalp_nautilus.data.spans import read_invalid_spans
    from tests.config_files import write_config

    paths, capture = source
    settings = venue_settings(paths, speed=10.0, faults={"drop_at_s": [30.0]})
    with VenueThread(settings, sliced(capture, 120.0)) as venue:
        changes = {"reconnect": {"initial_s": 1.0, "max_s": 1.0, "snapshot_retry_s": 0.2}}
        recorder = run_recorder(record_settings(tmp_path / "out", venue, **changes), venue, timeout_s=60)
    assert recorder.sessions[0].reconnects == 1
    (file,) = capture_files(folder(tmp_path / "out"))
    # The oracle, from the recorded lines: the chain's break, and the first snapshot after it.
    last_good = first_after = resync = None
    prev_u = None
    for line in open_lines(file):
        msg = json.loads(line.split(b" ", 1)[1])
        data = msg.get("data", {})
        if data.get("e") == "depthUpdate":
            if first_after is None and prev_u is not None and data["pu"] != prev_u:
                first_after = data["T"]
            elif first_after is None:
                last_good = data["T"]
            prev_u = data["u"]
        elif "lastUpdateId" in msg and first_after is not None and resync is None:
            resync = msg["T"]
    assert last_good and first_after and resync
    catalog = tmp_path / "catalog"
    assert main(["data", "import-binance", str(file.parent), "--catalog", str(catalog)]) == 0
    iid = "BTCUSDT-PERP.BINANCE"
    ((start, end),) = read_invalid_spans(catalog, iid)
    gap_ms, span_ms = first_after - last_good, (end - start) / 1e6
    with capsys.disabled():  # the drill's figures, shown with -s
        print(f"\nexchange-time gap (last diff before the drop -> first after) {gap_ms} ms; stored span {span_ms:.0f} ms")
    assert (start, end) == (last_good * 1_000_000, resync * 1_000_000) and span_ms >= gap_ms > 5_000

    deltas = ParquetDataCatalog(str(catalog)).order_book_deltas(instrument_ids=[iid])
    inside = sum(1 for d in deltas if d.flags & 128 and start < d.ts_event < end)  # F_LAST: one book batch
    config = write_config(
        tmp_path,
        {"vpin.volume_per_hour": 15_000.0, "vpin.window_minutes": 2.0, "orders.base_size": 0.05, "hurst.window": 64},
        catalog=str(catalog),
        instrument_id=iid,
        reports_dir=str(tmp_path / "rep"),
        plots=False,
        **{"venue.name": "BINANCE"},
    )
    capsys.readouterr()
    assert main(["backtest", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    decisions = pd.read_csv(tmp_path / "rep" / "decisions.csv", index_col=0)["book_batches"]
    # Only the gap's CLEAR can lie inside (the diffs buffered until the snapshot are applied after it),
    # and only when the snapshot's exchange time is later than that diff's; whatever lies inside is blocked.
    assert int(decisions.get("invalid_span", 0)) == inside <= 1
    assert (f"invalid_span {inside:,}" in out) == bool(inside)
    fills = pd.read_csv(tmp_path / "rep" / "fills.csv")
    if len(fills):
        t = pd.to_datetime(fills["ts_init"], utc=True).astype("int64").to_numpy()
        assert not ((t > start) & (t < end)).any()


# ---------------------------------------------------------------------- several symbols


@pytest.mark.slow
@pytest.mark.real_data
def test_ten_symbols_in_one_capture(capture_paths, tmp_path):
    """Ten symbols at once in one process, from ten replay venues (the 2023 capture renamed
    BTCAUSDT ... BTCJUSDT, served with the tick and lot sizes given): every folder holds every
    message its venue sent plus its snapshot, and imports on its own with no gap. (Throughput:
    bench/bench_record_load.py.)"""
    import gzip
    from contextlib import ExitStack

    raw = gzip.decompress(capture_paths("usdm_2023_04")[0].read_bytes())
    symbols = [f"BTC{chr(65 + i)}USDT" for i in range(10)]
    with ExitStack() as stack:
        venues = []
        for symbol in symbols:
            path = tmp_path / f"{symbol}.gz"
            path.write_bytes(
                gzip.compress(raw.replace(b"BTCUSDT", symbol.encode()).replace(b"btcusdt", symbol.lower().encode()), 1)
            )
            settings = venue_settings([path], speed=4.0, tick_size="0.1", step_size="0.001")
            venues.append(stack.enter_context(VenueThread(settings, sliced(load_capture([path]), 20.0))))
        raw_settings = {
            "out_dir": str(tmp_path / "out"),
            "venues": [
                {"venue": "binance-usdm", "symbols": [s], "base_url_http": v.url_http, "base_url_ws": v.url_ws}
                for s, v in zip(symbols, venues, strict=True)
            ],
            "disk": NO_DISK_LIMIT,
        }

        async def main() -> MarketCapture:
            recorder = MarketCapture(msgspec.convert(raw_settings, CaptureSettings))

            async def watch() -> None:
                while not all(v.finished.is_set() for v in venues):
                    await asyncio.sleep(0.1)
                await asyncio.sleep(0.5)
                recorder.request_stop("test: venues finished")

            task = asyncio.create_task(watch())
            await asyncio.wait_for(recorder.run(), 120)
            await task
            return recorder

        recorder = asyncio.run(main())
    assert recorder.stop_reason == "test: venues finished" and len(recorder.sessions) == 10
    for symbol, venue, session in zip(symbols, venues, recorder.sessions, strict=True):
        files = capture_files(folder(tmp_path / "out", symbol=symbol))
        metas = [read_sidecar(f) for f in files]
        assert all(m["closed"] for m in metas) and sum(m["lines"] for m in metas) == venue.stats["messages"] + session.snapshots
        imp = BinanceCaptureImporter(files, symbol=symbol, spec=venue.spec)
        for _ in imp.events():
            pass
        assert imp.stats.sequence_gaps == 0 and imp.stats.snapshots_applied == 1 and imp.stats.trades > 100, symbol


def test_log_file_is_written_and_rotated(tmp_path):
    """`log.file`: the capture's log also goes to a file, rotated at `log.max_mb` keeping `log.backups`."""
    import logging

    from scalp_nautilus.cli import main

    base = f"127.0.0.1:{free_port()}"
    config = tmp_path / "record.yaml"
    log_file = tmp_path / "logs" / "record.log"
    config.write_text(
        yaml.safe_dump(
            {
                "out_dir": str(tmp_path / "out"),
                "venues": [
                    {
                        "venue": "binance-usdm",
                        "symbols": [SYMBOL],
                        "base_url_http": f"http://{base}",
                        "base_url_ws": f"ws://{base}",
                    }
                ],
                "disk": NO_DISK_LIMIT,
                "log": {"file": str(log_file), "max_mb": 0.0002, "backups": 2},  # ~200 bytes a file
            }
        )
    )
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        for _ in range(3):
            assert main(["record", "--config", str(config)]) == 1  # nothing listens: it cannot start
    finally:
        for handler in root.handlers[len(before) :]:
            handler.close()
        root.handlers[:] = before
    text = "".join(p.read_text() for p in sorted(log_file.parent.glob("record.log*")))
    assert "cannot be reached" in text and (log_file.parent / "record.log.1").exists()
    assert not (log_file.parent / "record.log.3").exists()  # two backups kept
