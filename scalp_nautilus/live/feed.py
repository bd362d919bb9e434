"""What the node's market data clients (`binance.py`, `bybit.py`) add for watching them: the time
of the latest market message of any stream (`last_message_ns`, the node's clock: the connection
watchdog's input) and the error their connection failed with (`connect_error`: Nautilus logs it
and carries on as if connected, so the supervisor reads it here to exit with the right code)."""

from __future__ import annotations


class WatchedFeed:
    """Mixin for a Nautilus `LiveMarketDataClient` subclass: call `_stamp()` on every message."""

    last_message_ns = 0
    connect_error: BaseException | None = None

    def _stamp(self) -> None:
        self.last_message_ns = self._clock.timestamp_ns()  # type: ignore[attr-defined]

    async def _connect(self) -> None:
        try:
            await super()._connect()  # type: ignore[misc]
        except Exception as exc:  # recorded, then raised to Nautilus, which logs it
            self.connect_error = exc
            raise
