"""Running a replay venue: on its own event loop in a background thread (tests, benchmarks), or in
the foreground until cancelled (the command line's `replay-venue`)."""

from __future__ import annotations

import asyncio
import threading

from scalp_nautilus.live.venue.binance_api import ReplayVenue
from scalp_nautilus.live.venue.bybit_api import BybitReplayVenue
from scalp_nautilus.live.venue.capture_feed import Capture
from scalp_nautilus.live.venue.server import VenueServer
from scalp_nautilus.live.venue.settings import ReplayVenueSettings

APIS: dict[str, type[VenueServer]] = {"binance": ReplayVenue, "bybit": BybitReplayVenue}


def make_venue(settings: ReplayVenueSettings, capture: Capture | None = None) -> VenueServer:
    """The venue speaking `settings.api`."""
    return APIS[settings.api](settings, capture)


class VenueThread:
    """A replay venue on its own event loop in a background thread (tests, benchmarks):
    ``with VenueThread(settings) as venue: ...``; `call` runs a coroutine on the venue's loop."""

    def __init__(self, settings: ReplayVenueSettings, capture: Capture | None = None, start_timeout_s: float = 30.0) -> None:
        self._settings = settings
        self._capture = capture
        self._timeout = start_timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="replay-venue", daemon=True)
        self.venue: VenueServer | None = None

    def __enter__(self) -> VenueServer:
        self._thread.start()
        self.venue = self.call(self._make())
        return self.venue

    async def _make(self) -> VenueServer:
        venue = make_venue(self._settings, self._capture)
        await venue.start()
        return venue

    def call(self, coro, timeout: float | None = None):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout or self._timeout)

    async def _shutdown(self, venue: VenueServer) -> None:
        await venue.stop()
        # Request handlers still parked on a closed connection end here, not on a closed loop.
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __exit__(self, *exc) -> None:
        try:
            if self.venue is not None:
                self.call(self._shutdown(self.venue))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if self.venue is not None and self.venue.errors and exc[0] is None:
            raise RuntimeError(f"the replay venue failed: {self.venue.errors[0]!r}") from self.venue.errors[0]


async def serve(settings: ReplayVenueSettings) -> None:
    """Run a venue until cancelled (the command line's `replay-venue`)."""
    venue = make_venue(settings)
    await venue.start()
    print(
        f"replay venue ({settings.api} API) for {venue.symbol}: base_url_http {venue.url_http}  base_url_ws {venue.url_ws}",
        flush=True,
    )
    try:
        await venue.finished.wait()
        print(
            f"capture replayed ({venue.stats['messages']:,} messages sent); still serving its last book: Ctrl-C to stop",
            flush=True,
        )
        await asyncio.Event().wait()
    finally:
        await venue.stop()
