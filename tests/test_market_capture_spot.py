"""Recording Binance spot, offline: a loopback server serves the first file of the real NEXOUSDT
spot capture (shared/data/binance-spot) as Binance spot does: the combined stream, and
``/api/v3/depth`` answering with the capture's own snapshot first and later with the server's book.

Spot diffs have no ``pu``: the chain rule is ``U`` = previous ``u`` + 1 (`BookSync(spot=True)`).
Oracles: the rule itself, checked by hand on the recorded lines; the source lines as sent; and the
import of the source file, which the import of the recording must equal.
"""

from __future__ import annotations

import asyncio
import gzip
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from aiohttp import web

from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.enums import BookAction
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import RecordFlag

from scalp_nautilus.capture.run import MarketCapture
from scalp_nautilus.capture.writer import capture_files
from scalp_nautilus.capture.writer import read_sidecar
from scalp_nautilus.data.binance_capture import BinanceCaptureImporter
from tests.capture_harness import record_until_done

pytestmark = pytest.mark.real_data

SYMBOL = "NEXOUSDT"


@pytest.fixture(scope="module")
def spot_file(shared_data) -> Path:
    return shared_data / "binance-spot" / "spot_nexousdt_20240723.dat.gz"


@pytest.fixture(scope="module")
def spot_lines(spot_file) -> list[bytes]:
    with gzip.open(spot_file, "rb") as fh:
        return [line.rstrip(b"\n").split(b" ", 1)[1] for line in fh]


class SpotServer:
    def __init__(self, lines: list[bytes], withhold_diff: int | None = None, pace_s: float = 0.001) -> None:
        self.snapshot = lines[0]
        self.stream = lines[1:]
        self.withhold_diff, self.pace_s = withhold_diff, pace_s
        self.ws = None
        self.sent: list[bytes] = []
        self.depth_requests = 0
        self.done = asyncio.Event()
        snap = msgspec.json.decode(self.snapshot)
        self.book = ({Decimal(p): q for p, q in snap["bids"]}, {Decimal(p): q for p, q in snap["asks"]})
        self.last_u = snap["lastUpdateId"]
        self.replayed = 0

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("GET", "/stream", self._ws)
        app.router.add_route("GET", "/api/v3/depth", self._depth)
        app.router.add_route("GET", "/api/v3/exchangeInfo", self._info)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return f"127.0.0.1:{site._server.sockets[0].getsockname()[1]}"

    async def _info(self, request):
        return web.json_response({"symbols": [{"symbol": SYMBOL, "status": "TRADING"}]})

    async def _depth(self, request):
        assert request.query["symbol"] == SYMBOL
        self.depth_requests += 1
        if self.depth_requests == 1:
            return web.Response(body=self.snapshot, content_type="application/json")
        bids, asks = self.book
        body = {
            "lastUpdateId": self.last_u,
            "bids": [[str(p), q] for p, q in sorted(bids.items(), reverse=True)],
            "asks": [[str(p), q] for p, q in sorted(asks.items())],
        }
        return web.json_response(body)

    async def _ws(self, request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.ws = ws
        task = None
        async for msg in ws:  # Binance's SUBSCRIBE request: confirmed, then the stream starts
            req = msgspec.json.decode(msg.data)
            assert req["method"] == "SUBSCRIBE"
            assert set(req["params"]) == {"nexousdt@depth@100ms", "nexousdt@trade", "nexousdt@bookTicker"}
            await ws.send_str(msgspec.json.encode({"result": None, "id": req["id"]}).decode())
            task = asyncio.get_running_loop().create_task(self._run())
        if task is not None:
            task.cancel()
        return ws

    async def _run(self) -> None:
        diffs = 0
        for text in self.stream:
            await asyncio.sleep(self.pace_s)
            msg = msgspec.json.decode(text)
            data = msg["data"]
            if data.get("e") == "depthUpdate":
                diffs += 1
                for side, key in ((self.book[0], "b"), (self.book[1], "a")):
                    for p, q in data[key]:
                        if Decimal(q) == 0:
                            side.pop(Decimal(p), None)
                        else:
                            side[Decimal(p)] = q
                self.last_u = data["u"]
                if diffs == self.withhold_diff:
                    continue
            await self.ws.send_str(text.decode())
            self.sent.append(text)
        await asyncio.sleep(0.3)
        self.done.set()


def record(tmp_path: Path, server: SpotServer) -> tuple[MarketCapture, Path]:
    async def cleanup() -> None:  # the server's runner exists only once it has started
        await server._runner.cleanup()

    recorder = record_until_done(
        server.start,
        lambda host: {
            "out_dir": str(tmp_path),
            "venues": [
                {
                    "venue": "binance-spot",
                    "symbols": [SYMBOL],
                    "base_url_http": f"http://{host}",
                    "base_url_ws": f"ws://{host}",
                    "streams": ["depth@100ms", "trade", "bookTicker"],
                }
            ],
        },
        lambda: server.done,
        cleanup,
    )
    (file,) = capture_files(tmp_path / "binance-spot" / SYMBOL)
    return recorder, file


def recorded(file: Path) -> list[bytes]:
    with gzip.open(file, "rb") as fh:
        return [line.rstrip(b"\n").split(b" ", 1)[1] for line in fh]


def chain_breaks(lines: list[bytes]) -> list[tuple[int, int]]:
    """Spot's rule by hand over the recorded diffs from each snapshot on: (previous u, U) of each break."""
    breaks, prev = [], None
    for text in lines:
        msg = msgspec.json.decode(text)
        if "lastUpdateId" in msg:
            continue
        data = msg["data"]
        if data.get("e") != "depthUpdate":
            continue
        if prev is not None and data["U"] != prev + 1:
            breaks.append((prev, data["U"]))
        prev = data["u"]
    return breaks


def test_spot_recording_is_the_stream_as_sent(spot_lines, spot_file, tmp_path):
    server = SpotServer(spot_lines)
    recorder, file = record(tmp_path, server)
    session = recorder.sessions[0]
    assert (session.gaps, session.reconnects, session.snapshots) == (0, 0, 1)
    lines = recorded(file)
    # Every message as sent, in order, and the snapshot once the first diff was buffered.
    assert [x for x in lines if x != server.snapshot] == server.sent
    first_diff = next(i for i, x in enumerate(lines) if b"depthUpdate" in x)
    assert lines.index(server.snapshot) > first_diff
    assert chain_breaks(lines) == [] and sum(b"depthUpdate" in x for x in lines) == 1188
    assert read_sidecar(file)["snapshots"][0]["last_update_id"] == 134180599
    rec, stats = imported([file])
    src, _ = imported([spot_file])
    assert stats.sequence_gaps == 0 and stats.snapshots_applied == 1 and len(rec) > 3_000 and rec == src


def test_spot_withheld_diff_is_a_gap_for_the_recorder(spot_lines, spot_file, tmp_path):
    server = SpotServer(spot_lines, withhold_diff=500)
    recorder, file = record(tmp_path, server)
    session = recorder.sessions[0]
    assert (session.gaps, session.reconnects, session.snapshots) == (1, 0, 2)
    lines = recorded(file)
    (brk,) = chain_breaks(lines)
    meta = read_sidecar(file)
    assert meta["gaps"][0]["reason"] == f"U={brk[1]} but the previous diff ended at u={brk[0]}"
    assert [s["reason"] for s in meta["snapshots"]] == ["start", "gap"]
    # The fresh snapshot is the server's book at the time: at or after the diff that revealed the gap.
    snap_id = meta["snapshots"][1]["last_update_id"]
    assert snap_id >= brk[1]
    rec, stats = imported([file])
    src, _ = imported([spot_file])
    assert stats.sequence_gaps == 1 and stats.snapshots_applied == 2
    assert book_after(rec, snap_id) == book_after(src, snap_id)
    assert [d for d in rec if d[5] > snap_id] == [d for d in src if d[5] > snap_id]


def imported(paths) -> tuple[list, object]:
    """Book deltas as comparable tuples (a spot snapshot is stamped with its receive time, so its
    times are left out) and the import's counters."""
    imp = BinanceCaptureImporter(paths)
    out = []
    for e in imp.events():
        if isinstance(e, OrderBookDelta):
            snap = bool(e.flags & RecordFlag.F_SNAPSHOT)
            out.append(
                (
                    int(e.action),
                    int(e.order.side),
                    str(e.order.price),
                    str(e.order.size),
                    e.flags,
                    e.sequence,
                    None if snap else e.ts_event,
                )
            )
    return out, imp.stats


def book_after(deltas: list, sequence: int) -> tuple[dict, dict]:
    """A plain dict book from the delta tuples, after the last batch with this sequence."""
    bids: dict = {}
    asks: dict = {}
    found = None
    for action, side, price, size, flags, seq, _ in deltas:
        book = bids if side == int(OrderSide.BUY) else asks
        if action == int(BookAction.CLEAR):
            bids, asks = {}, {}
        elif action == int(BookAction.DELETE):
            book.pop(price, None)
        else:
            book[price] = size
        if flags & int(RecordFlag.F_LAST) and seq == sequence:
            found = (dict(bids), dict(asks))
    assert found is not None
    return found
