"""The capturer's settings (`configs/record.yaml`): where captures go, what each venue records and
from which endpoints, compression, rotation, reconnect backoff, the watchdog, disk limits,
heartbeat, alerts, the log file and the optional import.

Endpoints are config so tests point the capturer at the local replay venue; the defaults are the
exchanges' production public market-data endpoints (no keys: market data only). A URL is checked
when the file is read (scheme and host); whether it answers, and lists the symbols, is checked
when the capture starts (`scalp_nautilus.capture.checks`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from typing import Literal
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta

from scalp_nautilus.alerts import AlertSettings

VenueKind = Literal["binance-usdm", "binance-coinm", "binance-spot", "bybit-linear"]


class Endpoints(msgspec.Struct, frozen=True):
    http: str
    ws: str
    depth_path: str  # REST depth snapshot (Binance; Bybit's snapshots come with the subscription)
    info_path: str  # exchange info: the listed symbols and their status


# Public endpoints per venue kind.
ENDPOINTS: dict[str, Endpoints] = {
    "binance-usdm": Endpoints("https://fapi.binance.com", "wss://fstream.binance.com", "/fapi/v1/depth", "/fapi/v1/exchangeInfo"),
    "binance-coinm": Endpoints(
        "https://dapi.binance.com", "wss://dstream.binance.com", "/dapi/v1/depth", "/dapi/v1/exchangeInfo"
    ),
    "binance-spot": Endpoints(
        "https://api.binance.com", "wss://stream.binance.com:9443", "/api/v3/depth", "/api/v3/exchangeInfo"
    ),
    "bybit-linear": Endpoints(
        "https://api.bybit.com", "wss://stream.bybit.com/v5/public/linear", "", "/v5/market/instruments-info"
    ),
}
# What each venue serves and the importers read. Binance futures and spot trades are recorded as
# raw `trade`s; `aggTrade` (the same fills merged per taker order, 11% of the bytes) is never
# imported, so it is not recorded unless asked for. Bybit linear's book topics are
# orderbook.1/50/200/500 (1000 since 2025); 50 levels every 20 ms is what the replay venue serves
# and what the importer and the live node use.
DEFAULT_STREAMS: dict[str, list[str]] = {
    "binance-usdm": ["depth@0ms", "trade", "bookTicker", "markPrice@1s"],
    "binance-coinm": ["depth@0ms", "trade", "bookTicker", "markPrice@1s"],
    "binance-spot": ["depth@100ms", "trade", "bookTicker"],
    "bybit-linear": ["orderbook.50", "publicTrade", "tickers"],
}
# Largest REST snapshot per venue kind (futures 1000 levels, spot 5000).
MAX_SNAPSHOT_LIMIT = {"binance-usdm": 1000, "binance-coinm": 1000, "binance-spot": 5000}
# (lowest, highest, default). zstd 1: on the shared BTCUSDT capture, synced every second, 38 bytes a
# message for 0.7 CPU us, against gzip 6's 41 bytes for 4.5 us (zstd 3: 43 bytes, 1.2 us).
COMPRESS_LEVELS = {"gzip": (1, 9, 6), "zstd": (1, 19, 1)}


def check_url(url: str | None, schemes: tuple[str, ...], key: str) -> None:
    """A URL with one of `schemes` and a host, or ValueError naming `key` and what is expected."""
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        expected = " or ".join(f"{s}://" for s in schemes)
        raise ValueError(f"{key}: {url!r} is not a URL this can reach: expected {expected}host[:port][/path]")


class VenueSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One venue kind and the symbols captured from it (each symbol its own connection and folder)."""

    venue: VenueKind  # binance-usdm | binance-coinm | binance-spot | bybit-linear
    symbols: list[str]  # exchange symbols, e.g. [BTCUSDT, ETHUSDT]; each must be listed as trading by the venue
    streams: list[str] | None = None  # null: DEFAULT_STREAMS of the venue kind
    base_url_http: str | None = None  # null: the venue kind's public endpoint
    base_url_ws: str | None = None
    depth_path: str | None = None  # REST depth snapshot path (Binance); null: the venue kind's own
    info_path: str | None = None  # exchange-info path (the symbol check at start); null: the venue kind's own
    snapshot_limit: Annotated[int, Meta(ge=5)] = 1000  # levels a side in each REST snapshot (Binance)

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError(f"venues[{self.venue}].symbols: at least one symbol")
        depth = [s for s in self.resolved_streams if s.startswith(("depth", "orderbook."))]
        if len(depth) > 1:
            raise ValueError(f"venues[{self.venue}].streams: at most one depth stream, got {depth}")
        limit = MAX_SNAPSHOT_LIMIT.get(self.venue)
        if limit is not None and self.snapshot_limit > limit:
            raise ValueError(f"venues[{self.venue}].snapshot_limit: at most {limit} for {self.venue}")
        check_url(self.base_url_http, ("http", "https"), "base_url_http")
        check_url(self.base_url_ws, ("ws", "wss"), "base_url_ws")

    @property
    def resolved_streams(self) -> list[str]:
        return self.streams if self.streams is not None else DEFAULT_STREAMS[self.venue]

    @property
    def book_stream(self) -> str | None:
        """The depth stream (Binance ``depth...``, Bybit ``orderbook.<n>``) if it is recorded."""
        return next((s for s in self.resolved_streams if s.startswith(("depth", "orderbook."))), None)

    @property
    def http(self) -> str:
        return (self.base_url_http or ENDPOINTS[self.venue].http).rstrip("/")

    @property
    def ws(self) -> str:
        return (self.base_url_ws or ENDPOINTS[self.venue].ws).rstrip("/")

    @property
    def depth_endpoint(self) -> str:
        return self.depth_path or ENDPOINTS[self.venue].depth_path

    @property
    def info_endpoint(self) -> str:
        return self.info_path or ENDPOINTS[self.venue].info_path


class ReconnectSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Reconnecting after a lost connection: exponential backoff, pings, REST time limits."""

    initial_s: Annotated[float, Meta(gt=0)] = 1.0  # first wait after a lost connection...
    max_s: Annotated[float, Meta(gt=0)] = 60.0  # ...doubling up to this
    stable_s: Annotated[float, Meta(gt=0)] = 30.0  # a connection that lived this long resets the wait
    snapshot_retry_s: Annotated[float, Meta(gt=0)] = 1.0  # wait before asking again for an unusable snapshot
    ping_s: Annotated[float, Meta(gt=0)] = 20.0  # WebSocket ping interval; no pong in time = connection lost
    http_timeout_s: Annotated[float, Meta(gt=0)] = 10.0  # REST request time limit (snapshots, the start checks)


class WatchdogSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What counts as not doing the job. At start (the first connection) each is an error that stops
    the capture with one line; later, an alert (and, for silence, a reconnect)."""

    silence_s: Annotated[float, Meta(gt=0)] = 60.0  # no message on a connection (or none on its book stream) this long
    snapshot_s: Annotated[float, Meta(gt=0)] = 30.0  # no usable book snapshot this long after asking for one
    disconnected_s: Annotated[float, Meta(gt=0)] = 30.0  # alert when a connection stays down this long


class DiskSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Free disk space: a warning and an alert, then a clean stop (exit code 3)."""

    warn_free_gb: Annotated[float, Meta(ge=0)] = 10.0  # warn and alert (each check) when less is free...
    min_free_gb: Annotated[float, Meta(ge=0)] = 2.0  # ...and stop cleanly below this
    check_s: Annotated[float, Meta(gt=0)] = 10.0  # free space is checked this often


class ImportSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Importing closed capture files into a catalog while the capture runs."""

    catalog: str | None = None  # import closed files into this catalog (null: no import)
    every_s: Annotated[float, Meta(gt=0)] = 3600.0  # import interval (`--import-every` overrides it)


class LogSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The log file of a capture left running (the console keeps the log too)."""

    file: str | None = None  # also log to this file (null: the console only), rotated by size
    max_mb: Annotated[float, Meta(gt=0)] = 50.0  # the file is rotated at this size...
    backups: Annotated[int, Meta(ge=1)] = 10  # ...keeping this many old files (file.1 ... file.N)


class CaptureSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    out_dir: str = "captures"  # files go to <out_dir>/<venue>/<SYMBOL>/
    venues: list[VenueSettings]  # what to capture: a venue kind, its symbols and streams (see venues[] below)
    rotate_s: Annotated[float, Meta(gt=0)] = 3600.0  # a file ends at each multiple of this (UTC), holding its snapshot
    flush_s: Annotated[float, Meta(gt=0)] = 1.0  # a crash loses at most this much (the stream is synced)
    compression: Literal["gzip", "zstd"] = "gzip"  # zstd: fewer bytes for less CPU (bench_record); the importers read both
    compress_level: int | None = None  # null: gzip 6, zstd 1 (gzip 1 fastest .. 9 smallest; zstd 1 .. 19)
    # A status line per symbol this often: messages per stream, lag, gaps, reconnects
    heartbeat_s: Annotated[float, Meta(gt=0)] = 60.0
    stop_after_s: Annotated[float, Meta(gt=0)] | None = None  # record this long, then stop (drills, tests)
    reconnect: ReconnectSettings = msgspec.field(default_factory=ReconnectSettings)  # backoff, pings, REST limits
    watchdog: WatchdogSettings = msgspec.field(default_factory=WatchdogSettings)  # silence, late snapshots, disconnections
    disk: DiskSettings = msgspec.field(default_factory=DiskSettings)  # free-space limits
    alerts: AlertSettings = msgspec.field(default_factory=AlertSettings)  # where alerts go (apprise URLs)
    log: LogSettings = msgspec.field(default_factory=LogSettings)  # a rotated log file
    import_: ImportSettings = msgspec.field(default_factory=ImportSettings, name="import")  # import into a catalog as it goes

    def __post_init__(self) -> None:
        if not self.venues:
            raise ValueError("venues: at least one venue")
        if self.disk.min_free_gb > self.disk.warn_free_gb:
            raise ValueError("disk.min_free_gb: must not exceed disk.warn_free_gb")
        low, high, _ = COMPRESS_LEVELS[self.compression]
        if self.compress_level is not None and not low <= self.compress_level <= high:
            raise ValueError(f"compress_level: {self.compression} levels are {low}..{high}, got {self.compress_level}")

    @property
    def level(self) -> int:
        return self.compress_level if self.compress_level is not None else COMPRESS_LEVELS[self.compression][2]


def load_capture_settings(path: str | Path, overrides: dict | None = None) -> CaptureSettings:
    """`configs/record.yaml`; `out_dir`, `import.catalog` and `log.file` relative to the working directory."""
    from scalp_nautilus.config import load_yaml

    return load_yaml(path, CaptureSettings, overrides)
