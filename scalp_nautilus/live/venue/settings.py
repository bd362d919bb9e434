"""The replay venue's settings (`configs/replay_venue.yaml`, `configs/replay_venue_bybit.yaml`): the
API it speaks, the capture, the host (loopback only), the pace, when the replay starts, the
exchange's modelling assumptions and fault drills.
No server code here: the live node's settings read the replay credentials and the loopback rule
without importing aiohttp."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated
from typing import Literal

import msgspec
from msgspec import Meta

from scalp_nautilus.live.venue.exchange import ExchangeSettings

# Public replay credentials: they open nothing but a local replay venue.
REPLAY_API_KEY = "replay-venue-api-key"
REPLAY_API_SECRET = "replay-venue-api-secret"


class StartSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """When the replay starts: once the node has subscribed, so that it misses nothing."""

    # The replay starts once clients have subscribed to each of these stream kinds that the capture holds
    streams: list[str] = msgspec.field(default_factory=lambda: ["depth", "trade", "markPrice"])
    timeout_s: Annotated[float, Meta(gt=0)] = 120.0  # start anyway after this many seconds without them
    snapshot_hold_ms: Annotated[float, Meta(ge=0)] = 50.0  # after serving a depth snapshot, wait this long before the next diff
    hold_without_client: bool = False  # pause the replay while no client is subscribed to `streams`


class FaultSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Fault drills for tests: dropped connections, sequence gaps, rejected orders."""

    drop_at_s: list[float] = msgspec.field(default_factory=list)  # capture seconds
    # Withhold one depth diff at each of these capture seconds (a sequence gap)
    gap_at_s: list[float] = msgspec.field(default_factory=list)
    # The book goes silent at this capture second for `silence_s` capture seconds: no depth diff is
    # sent (the venue keeps its book, trades, marks and orders go on; the client sees a gap after it)
    silence_at_s: float | None = None
    silence_s: Annotated[float, Meta(ge=0)] = 0.0  # capture seconds of the book's silence
    reject_orders: list[int] = msgspec.field(default_factory=list)  # 1-based count of new orders
    reject_algo_orders: list[int] = msgspec.field(default_factory=list)  # 1-based count of new conditional (algo) orders
    reject_code: int | None = None  # None: the API's own code for insufficient margin (Binance -2019, Bybit 110007)
    reject_msg: str | None = None  # None: the API's own message for that code


class ReplayVenueSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    captures: list[str]  # the files of one capture, in order
    api: Literal["binance", "bybit"] = "binance"  # the exchange API the venue speaks
    symbol: str | None = None  # the capture's symbol when it holds one
    # The contract of a symbol the table does not know (any symbol served as Bybit, a renamed
    # capture): tick and lot sizes as decimal strings, or a saved Binance exchangeInfo file.
    tick_size: str | None = None
    step_size: str | None = None  # the lot size (with tick_size)
    exchange_info: str | None = None  # a saved Binance exchangeInfo JSON holding the symbol's filters
    host: str = "127.0.0.1"  # loopback only
    port: Annotated[int, Meta(ge=0, le=65535)] = 8765  # 0: any free port
    speed: Annotated[float, Meta(gt=0, le=10_000)] = 1.0  # replay speed: 1 as captured, 10 ten times faster
    rebase_time: bool = True  # move the exchange timestamps by whole seconds so that the capture starts now
    start: StartSettings = msgspec.field(default_factory=StartSettings)
    exchange: ExchangeSettings = msgspec.field(default_factory=ExchangeSettings)
    faults: FaultSettings = msgspec.field(default_factory=FaultSettings)
    api_key: str = REPLAY_API_KEY  # public replay credentials: the node sends these
    api_secret: str = REPLAY_API_SECRET  # see api_key

    def __post_init__(self) -> None:
        if not is_loopback(self.host):
            raise ValueError(f"host: the replay venue has no real authentication and binds to loopback only, got {self.host!r}")
        for name in self.start.streams:
            if name not in ("depth", "trade", "markPrice", "bookTicker"):
                raise ValueError(f"start.streams: unknown stream kind {name!r} (depth, trade, markPrice, bookTicker)")
        if (self.tick_size is None) != (self.step_size is None):
            raise ValueError("tick_size: give both tick_size and step_size (or neither)")

    def contract_spec(self, venue: str, symbol: str):
        """The served symbol's contract: from the exchange-info file, the table, or the tick and lot
        sizes given (which also override the table's)."""
        from scalp_nautilus.instruments import KNOWN_SPECS
        from scalp_nautilus.instruments import resolve_spec

        if self.exchange_info is None and self.tick_size is not None and venue == "BYBIT" and (venue, symbol) not in KNOWN_SPECS:
            from scalp_nautilus.data.bybit_capture import bybit_spec

            return bybit_spec(symbol, [], [], self.tick_size, self.step_size)
        return resolve_spec(
            venue,
            symbol,
            self.exchange_info,
            sample_price=self.tick_size,
            sample_size=self.step_size,
            tick_size=self.tick_size,
            step_size=self.step_size,
        )


def is_loopback(host: str) -> bool:
    """`host` (a name or an address) is this machine: the only place a replay venue may live."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def load_venue_settings(path: str | Path, overrides: dict | None = None) -> ReplayVenueSettings:
    """`configs/replay_venue.yaml`; capture paths relative to the config file's folder."""
    from scalp_nautilus.config import load_yaml

    settings = load_yaml(path, ReplayVenueSettings, overrides)
    base = Path(path).parent
    return msgspec.structs.replace(settings, captures=[str(base / c) for c in settings.captures])
