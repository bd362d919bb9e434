"""The capturer's settings (`configs/record.yaml`): where captures go, what each venue records and
from which endpoints, rotation, reconnect backoff, disk limits, heartbeat and the optional import.

Endpoints are config so tests point the capturer at the local replay venue; the defaults are the
exchanges' production public market-data endpoints (no keys: market data only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from typing import Literal

import msgspec
from msgspec import Meta

VenueKind = Literal["binance-usdm", "binance-coinm", "binance-spot", "bybit-linear"]

# Public endpoints per venue kind: (base_url_http, base_url_ws, REST depth path).
ENDPOINTS: dict[str, tuple[str, str, str]] = {
    "binance-usdm": ("https://fapi.binance.com", "wss://fstream.binance.com", "/fapi/v1/depth"),
    "binance-coinm": ("https://dapi.binance.com", "wss://dstream.binance.com", "/dapi/v1/depth"),
    "binance-spot": ("https://api.binance.com", "wss://stream.binance.com:9443", "/api/v3/depth"),
    "bybit-linear": ("https://api.bybit.com", "wss://stream.bybit.com/v5/public/linear", ""),
}
DEFAULT_STREAMS: dict[str, list[str]] = {
    "binance-usdm": ["depth@0ms", "trade", "aggTrade", "bookTicker", "markPrice@1s"],
    "binance-coinm": ["depth@0ms", "trade", "aggTrade", "bookTicker", "markPrice@1s"],
    "binance-spot": ["depth@100ms", "trade", "aggTrade", "bookTicker"],
    "bybit-linear": ["orderbook.500", "publicTrade", "tickers"],
}
# Largest REST snapshot per venue kind (futures 1000 levels, spot 5000).
MAX_SNAPSHOT_LIMIT = {"binance-usdm": 1000, "binance-coinm": 1000, "binance-spot": 5000}


class VenueSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    venue: VenueKind
    symbols: list[str]
    streams: list[str] | None = None  # null: DEFAULT_STREAMS of the venue kind
    base_url_http: str | None = None  # null: the venue kind's public endpoint
    base_url_ws: str | None = None
    depth_path: str | None = None  # REST depth snapshot path (Binance); null: the venue kind's own
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

    @property
    def resolved_streams(self) -> list[str]:
        return self.streams if self.streams is not None else DEFAULT_STREAMS[self.venue]

    @property
    def http(self) -> str:
        return (self.base_url_http or ENDPOINTS[self.venue][0]).rstrip("/")

    @property
    def ws(self) -> str:
        return (self.base_url_ws or ENDPOINTS[self.venue][1]).rstrip("/")

    @property
    def depth_endpoint(self) -> str:
        return self.depth_path or ENDPOINTS[self.venue][2]


class ReconnectSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Reconnecting after a lost connection: exponential backoff, pings, REST time limits."""

    initial_s: Annotated[float, Meta(gt=0)] = 1.0  # first wait after a lost connection...
    max_s: Annotated[float, Meta(gt=0)] = 60.0  # ...doubling up to this
    stable_s: Annotated[float, Meta(gt=0)] = 30.0  # a connection that lived this long resets the wait
    snapshot_retry_s: Annotated[float, Meta(gt=0)] = 1.0  # wait before asking again for an unusable snapshot
    ping_s: Annotated[float, Meta(gt=0)] = 20.0  # WebSocket ping interval; no pong in time = connection lost
    http_timeout_s: Annotated[float, Meta(gt=0)] = 10.0  # REST snapshot request time limit


class DiskSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Free disk space: a warning, then a clean stop (exit code 1)."""

    warn_free_gb: Annotated[float, Meta(ge=0)] = 10.0  # warn (each check) when less is free...
    min_free_gb: Annotated[float, Meta(ge=0)] = 2.0  # ...and stop cleanly below this
    check_s: Annotated[float, Meta(gt=0)] = 10.0  # free space is checked this often


class ImportSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Importing closed capture files into a catalog while the capture runs."""

    catalog: str | None = None  # import closed files into this catalog (null: no import)
    every_s: Annotated[float, Meta(gt=0)] = 3600.0  # import interval (`--import-every` overrides it)


class CaptureSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    out_dir: str = "captures"  # files go to <out_dir>/<venue>/<SYMBOL>/
    venues: list[VenueSettings]  # what to capture: a venue kind, its symbols and streams (see venues[] below)
    rotate_s: Annotated[float, Meta(gt=0)] = 3600.0  # a new file at each multiple of this (UTC)
    flush_s: Annotated[float, Meta(gt=0)] = 1.0  # a crash loses at most this much (the gzip stream is synced)
    compress_level: Annotated[int, Meta(ge=1, le=9)] = 6  # gzip level (1 fastest, 9 smallest)
    # A status line per symbol this often: messages per stream, lag, gaps, reconnects
    heartbeat_s: Annotated[float, Meta(gt=0)] = 60.0
    stop_after_s: Annotated[float, Meta(gt=0)] | None = None  # record this long, then stop (drills, tests)
    reconnect: ReconnectSettings = msgspec.field(default_factory=ReconnectSettings)
    disk: DiskSettings = msgspec.field(default_factory=DiskSettings)
    import_: ImportSettings = msgspec.field(default_factory=ImportSettings, name="import")

    def __post_init__(self) -> None:
        if not self.venues:
            raise ValueError("venues: at least one venue")
        if self.disk.min_free_gb > self.disk.warn_free_gb:
            raise ValueError("disk.min_free_gb: must not exceed disk.warn_free_gb")


def load_capture_settings(path: str | Path, overrides: dict | None = None) -> CaptureSettings:
    """`configs/record.yaml`; `out_dir` and `import.catalog` relative to the working directory."""
    from scalp_nautilus.config import load_yaml

    return load_yaml(path, CaptureSettings, overrides)
