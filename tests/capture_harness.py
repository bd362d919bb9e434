"""Running the recorder against a loopback server inside a test, on one event loop, bounded in time;
the replay venue's and the recorder's settings the capture tests share; a REST gate in front of the
venue that holds or fails chosen requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from collections.abc import Callable
from pathlib import Path

import aiohttp
import msgspec
from aiohttp import web

from scalp_nautilus.capture.run import MarketCapture
from scalp_nautilus.capture.settings import CaptureSettings
from scalp_nautilus.live.venue.capture_feed import Capture
from scalp_nautilus.live.venue.settings import ReplayVenueSettings

SYMBOL = "BTCUSDT"


def record_until_done(
    start: Callable[[], Awaitable[str]],
    settings: Callable[[str], dict],
    done: Callable[[], asyncio.Event],
    cleanup: Callable[[], Awaitable[None]],
    timeout_s: float = 60.0,
) -> MarketCapture:
    """`start()` the server (it returns its address), record with `settings(address)` until the
    server's `done()` event is set, then stop the recorder and `cleanup()` the server."""

    async def main() -> MarketCapture:
        address = await start()
        base = {"disk": {"warn_free_gb": 0.0, "min_free_gb": 0.0}}
        recorder = MarketCapture(msgspec.convert({**base, **settings(address)}, CaptureSettings))

        async def watch() -> None:
            await asyncio.wait_for(done().wait(), timeout_s)
            recorder.request_stop("test: server done")

        task = asyncio.create_task(watch())
        try:
            await recorder.run()
            await task
        finally:
            await cleanup()
        return recorder

    recorder = asyncio.run(main())
    assert recorder.stop_reason == "test: server done"
    return recorder


def sliced(capture: Capture, seconds: float) -> Capture:
    """The first `seconds` of a capture (receive time) as the venue serves it."""
    end = capture.events[0].recv_ns + seconds * 1e9
    return Capture(capture.symbol, [e for e in capture.events if e.recv_ns <= end], capture.stats)


def venue_settings(paths, **changes) -> ReplayVenueSettings:
    base = {
        "captures": [str(p) for p in paths],
        "port": 0,
        "rebase_time": False,
        # The venue names trades aggTrade (what Nautilus subscribes to); the recorder takes raw trades.
        "start": {"streams": ["depth", "markPrice", "bookTicker"], "timeout_s": 60.0},
    }
    return msgspec.convert({**base, **changes}, ReplayVenueSettings)


def record_settings(out: Path, venue, symbol: str = SYMBOL, http: str | None = None, **changes) -> CaptureSettings:
    """The recorder on `venue` (its REST through `http` when given: a `RestGate`)."""
    raw = {
        "out_dir": str(out),
        "venues": [
            {
                "venue": "binance-usdm",
                "symbols": [symbol],
                "base_url_http": http or venue.url_http,
                "base_url_ws": venue.url_ws,
            }
        ],
        "heartbeat_s": 1.0,
        "reconnect": {"initial_s": 0.2, "max_s": 1.0, "snapshot_retry_s": 0.2},
        "disk": {"warn_free_gb": 0.0, "min_free_gb": 0.0},
        **changes,
    }
    return msgspec.convert(raw, CaptureSettings)


def run_recorder(
    settings: CaptureSettings,
    venue,
    timeout_s: float,
    before: Callable | None = None,
    until: Callable[[MarketCapture], bool] | None = None,
) -> MarketCapture:
    """Record until the venue has replayed its capture (plus a moment for the last messages) and,
    when given, `until(recorder)` holds (what a test waits for: an event, not a length of time).
    `before(recorder)`, a coroutine function, runs beside the recorder (a REST gate, a check)."""

    async def main() -> MarketCapture:
        recorder = MarketCapture(settings)

        async def watch() -> None:
            deadline = time.monotonic() + timeout_s
            while not (venue.finished.is_set() or venue.errors) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            while until is not None and not until(recorder) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            recorder.request_stop("test: venue finished" if venue.finished.is_set() else "test: time limit")

        tasks = [asyncio.create_task(watch())]
        if before is not None:
            tasks.append(asyncio.create_task(before(recorder)))
        await recorder.run()
        await asyncio.gather(*tasks)
        return recorder

    recorder = asyncio.run(main())
    assert recorder.stop_reason == "test: venue finished"
    return recorder


class RestGate:
    """A REST proxy on 127.0.0.1 in front of `upstream`: requests whose path is in `held` wait until
    `release` is set; paths in `failing` answer HTTP 503; everything else is forwarded as is.
    `requests` counts the requests per path. Runs on the event loop of the test's recorder."""

    def __init__(self, upstream: str, held: tuple[str, ...] = (), failing: tuple[str, ...] = ()) -> None:
        self.upstream = upstream.rstrip("/")
        self.held = set(held)
        self.failing = set(failing)
        self.release = asyncio.Event()
        self.requests: dict[str, int] = {}
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("GET", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._http = aiohttp.ClientSession()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        self.release.set()
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        path = request.path
        self.requests[path] = self.requests.get(path, 0) + 1
        if path in self.failing:
            return web.Response(status=503, text="service unavailable (test gate)")
        if path in self.held:
            await self.release.wait()
        assert self._http is not None
        async with self._http.get(self.upstream + path, params=request.query) as resp:
            return web.Response(status=resp.status, body=await resp.read(), content_type=resp.content_type)
