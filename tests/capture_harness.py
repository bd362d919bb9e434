"""Running the recorder against a loopback server inside a test, on one event loop, bounded in time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from collections.abc import Callable

import msgspec

from scalp_nautilus.capture.run import MarketCapture
from scalp_nautilus.capture.settings import CaptureSettings


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
