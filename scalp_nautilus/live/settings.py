"""`configs/live_*.yaml`: which venue and instrument, the strategy (the same `strategy.yaml` as
backtests, with overrides), logging, reconciliation, and optionally a local replay venue.

Everything is checked before a node is built, let alone connected: a misspelt key, a wrong type, an
unknown venue, an instrument of another venue, a funding feed the venue does not publish, or a
missing API key stop with the file, the key and what is expected. API keys come only from the
environment (`KEY_ENV`); their values are never printed, logged or stored. Testnet unless the
caller says mainnet; a replay venue (`endpoints`) is reached with the venue's public replay
credentials and is never combined with mainnet.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from typing import Any
from typing import Literal
from urllib.parse import urlparse

import msgspec
from msgspec import Meta

from scalp_nautilus.alerts import AlertSettings
from scalp_nautilus.backtest.settings import StrategySettings
from scalp_nautilus.backtest.settings import resolve_strategy
from scalp_nautilus.config import ConfigError
from scalp_nautilus.config import load_yaml
from scalp_nautilus.live.venue.settings import REPLAY_API_KEY
from scalp_nautilus.live.venue.settings import REPLAY_API_SECRET
from scalp_nautilus.live.venue.settings import is_loopback

# (venue, mainnet) -> the environment variables holding the API key and secret (Nautilus's names).
KEY_ENV = {
    ("BINANCE", False): ("BINANCE_FUTURES_TESTNET_API_KEY", "BINANCE_FUTURES_TESTNET_API_SECRET"),
    ("BINANCE", True): ("BINANCE_API_KEY", "BINANCE_API_SECRET"),
    ("BYBIT", False): ("BYBIT_TESTNET_API_KEY", "BYBIT_TESTNET_API_SECRET"),
    ("BYBIT", True): ("BYBIT_API_KEY", "BYBIT_API_SECRET"),
}
# The funding feed each venue publishes (strategy.yaml `funding.feed`).
FUNDING_FEED = {"BINANCE": "binance_mark_price", "BYBIT": "funding_rates"}

Venue = Literal["BINANCE", "BYBIT"]
Level = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class LoggingSettings(_Section, frozen=True):
    """The node's logs: console and one file per run."""

    directory: str = "logs"  # relative to the working directory
    level: Level = "INFO"  # console
    file_level: Level = "INFO"  # DEBUG logs every message: about 100 MB for 9 minutes of BTCUSDT


class EndpointSettings(_Section, frozen=True):
    """A local replay venue (speaking the node's venue's API): its URLs, loopback only, and its
    public credentials."""

    base_url_http: str  # the replay venue's REST URL, e.g. http://127.0.0.1:8765
    base_url_ws: str  # its WebSocket URL
    api_key: str = REPLAY_API_KEY  # the replay venue's public key (it opens nothing else)
    api_secret: str = REPLAY_API_SECRET  # the replay venue's public secret

    def __post_init__(self) -> None:
        for name in ("base_url_http", "base_url_ws"):
            if not is_loopback(urlparse(getattr(self, name)).hostname or ""):
                raise ValueError(
                    f"endpoints.{name}: only a local replay venue (127.0.0.1) may replace the exchange's URLs, "
                    f"got {getattr(self, name)!r}",
                )


class TimeoutSettings(_Section, frozen=True):
    """Nautilus's start and stop time limits for the node (seconds)."""

    connection_s: Annotated[float, Meta(gt=0)] = 30.0  # the clients must connect within this
    reconciliation_s: Annotated[float, Meta(gt=0)] = 30.0  # the start-up reconciliation must finish within this
    portfolio_s: Annotated[float, Meta(gt=0)] = 10.0  # the portfolio must initialise within this
    disconnection_s: Annotated[float, Meta(gt=0)] = 10.0  # the clients must disconnect within this on stop
    post_stop_s: Annotated[float, Meta(gt=0)] = 5.0  # after the strategy stopped: its closing orders settle
    # On a stop (Ctrl-C, SIGTERM), before the strategy stops: entries held, its orders in flight answered within this
    drain_s: Annotated[float, Meta(ge=0)] = 5.0


class RiskEngineSettings(_Section, frozen=True):
    """Nautilus's own pre-trade checks (`LiveRiskEngineConfig`), before any order leaves the node.
    `max_notional_per_order` is passed on, but Nautilus 1.231's risk engine skips its notional and
    balance checks for margin accounts (all futures): the strategy's `risk.max_position_notional`
    is the limit that binds there."""

    # Submit commands per interval, Nautilus's "N/HH:MM:SS"; beyond it Nautilus denies the order (an exit
    # too), so leave headroom over the strategy's peak. Binance allows 300 per 10 s.
    max_order_submit_rate: str = "20/00:00:01"
    max_notional_per_order: Annotated[float, Meta(gt=0)] | None = None  # quote currency, this instrument

    def __post_init__(self) -> None:
        count, sep, interval = self.max_order_submit_rate.partition("/")
        parts = interval.split(":")
        if not (
            sep
            and count.isdigit()
            and int(count) > 0
            and len(parts) == 3
            and all(p.isdigit() for p in parts)
            and any(int(p) for p in parts)
        ):
            raise ValueError(
                f"risk_engine.max_order_submit_rate: expected 'N/HH:MM:SS' (e.g. '10/00:00:01'), "
                f"got {self.max_order_submit_rate!r}"
            )


class ConnectionSettings(_Section, frozen=True):
    """A lost connection: no message on any of the venue's market streams (book, trades, mark or
    tickers: BTCUSDT sends several a second) for `halt_after_s` stops entries and alerts; for
    `exit_after_s` the node exits with code 12 (`scalp_nautilus.live.supervisor`), leaving the
    position and its exchange stop at the venue (the next start adopts them)."""

    halt_after_s: Annotated[float, Meta(gt=0)] = 15.0  # no market message this long: entries stop, an alert goes out
    exit_after_s: Annotated[float, Meta(gt=0)] = 120.0  # ...this long: exit with code 12, the position left with its stop

    def __post_init__(self) -> None:
        if self.exit_after_s < self.halt_after_s:
            raise ValueError(f"connection: need halt_after_s <= exit_after_s, got {self.halt_after_s} > {self.exit_after_s}")


class MonitorSettings(_Section, frozen=True):
    """What the node watches besides the connection (`scalp_nautilus.live.monitor`)."""

    stop_missing_s: Annotated[float, Meta(gt=0)] = 10.0  # a position without a resting exchange stop this long alerts
    daily_summary_utc: str | None = "00:00"  # HH:MM UTC of the daily summary alert; null: none

    def __post_init__(self) -> None:
        if self.daily_summary_utc is not None:
            hh, sep, mm = self.daily_summary_utc.partition(":")
            if not (sep and hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
                raise ValueError(f"daily_summary_utc: expected HH:MM (UTC), got {self.daily_summary_utc!r}")


class MetricsSettings(_Section, frozen=True):
    """The Prometheus endpoint (`scalp_nautilus.live.metrics`): http://<host>:<port>/metrics."""

    enabled: bool = False  # serve http://<host>:<port>/metrics while the node runs
    host: str = "127.0.0.1"  # loopback by default; another address exposes the node's P&L to that network
    port: Annotated[int, Meta(ge=0, le=65535)] = 9464  # 0: any free port (logged)


class DashboardSettings(_Section, frozen=True):
    """The node's web page (`scalp_nautilus.live.dashboard`), loopback only, behind a token read
    from the environment variable `token_env` (never from a file, never logged)."""

    enabled: bool = False  # serve the page while the node runs (needs the token's variable set)
    host: str = "127.0.0.1"  # loopback only (127.0.0.1, ::1 or localhost): the page steers the node
    port: Annotated[int, Meta(ge=0, le=65535)] = 8780  # 0: any free port (logged)
    # the environment variable holding the token (at least 16 characters); never written to a file or log
    token_env: str = "SCALP_DASHBOARD_TOKEN"

    def __post_init__(self) -> None:
        if not is_loopback(self.host):
            raise ValueError(f"dashboard.host: the page steers the node and listens on loopback only, got {self.host!r}")


class LiveSettings(_Section, frozen=True):
    venue: Venue  # the exchange: BINANCE (USD-M futures) or BYBIT (linear)
    instrument_id: str  # e.g. BTCUSDT-PERP.BINANCE, BTCUSDT-LINEAR.BYBIT
    trader_id: str = "SCALP-001"  # Nautilus's trader id (name-number), in logs and order ids
    strategy: StrategySettings = msgspec.field(default_factory=StrategySettings)
    logging: LoggingSettings = msgspec.field(default_factory=LoggingSettings)
    # Orders and fills this far back are reconciled at start; null: all the venue returns
    reconciliation_lookback_mins: Annotated[int, Meta(ge=1)] | None = 1440
    endpoints: EndpointSettings | None = None
    timeouts: TimeoutSettings = msgspec.field(default_factory=TimeoutSettings)
    risk_engine: RiskEngineSettings = msgspec.field(default_factory=RiskEngineSettings)
    heartbeat_s: Annotated[float, Meta(ge=0)] = 60.0  # the strategy's status line; 0: none
    reports_dir: str = "reports"  # the session report on stop: <reports_dir>/live-<UTC start time>/
    connection: ConnectionSettings = msgspec.field(default_factory=ConnectionSettings)
    monitor: MonitorSettings = msgspec.field(default_factory=MonitorSettings)
    alerts: AlertSettings = msgspec.field(default_factory=AlertSettings)
    metrics: MetricsSettings = msgspec.field(default_factory=MetricsSettings)
    dashboard: DashboardSettings = msgspec.field(default_factory=DashboardSettings)

    def __post_init__(self) -> None:
        suffix = "." + self.venue
        if not self.instrument_id.endswith(suffix):
            raise ValueError(f"instrument_id: {self.instrument_id!r} is not a {self.venue} instrument (expected ...{suffix})")

    @property
    def replay(self) -> bool:
        return self.endpoints is not None


@dataclass(frozen=True)
class Credentials:
    api_key: str
    api_secret: str
    source: str  # where they came from, for messages (never the values)

    def __repr__(self) -> str:  # never print the values
        return f"Credentials(from {self.source})"


def load_live_settings(path: str | Path, overrides: dict[str, Any] | None = None) -> LiveSettings:
    """Read and check a live config; the strategy config is merged and checked as for backtests,
    and its funding feed must be the one the venue publishes."""
    settings = load_yaml(path, LiveSettings, overrides)
    strategy = resolve_strategy(path, settings.strategy, settings.instrument_id)
    feed = strategy.config.get("funding", {}).get("feed", "funding_rates")
    if feed != FUNDING_FEED[settings.venue]:
        raise ConfigError(
            f"{path}: key `strategy.config.funding.feed`: {settings.venue} publishes funding as "
            f"{FUNDING_FEED[settings.venue]!r}, got {feed!r}",
        )
    return msgspec.structs.replace(settings, strategy=strategy)


def credentials(settings: LiveSettings, mainnet: bool, environ: dict[str, str] | None = None) -> Credentials:
    """The keys the node signs with: the replay venue's public ones, or the environment's."""
    if settings.replay:
        if mainnet:
            raise ConfigError("--mainnet with a replay venue (`endpoints`): a replay is never real money; drop one")
        e = settings.endpoints
        assert e is not None  # `replay` means endpoints
        return Credentials(e.api_key, e.api_secret, "the replay venue's public credentials")
    env: Mapping[str, str] = os.environ if environ is None else environ
    key_name, secret_name = KEY_ENV[(settings.venue, mainnet)]
    missing = [name for name in (key_name, secret_name) if not env.get(name)]
    if missing:
        network = "mainnet" if mainnet else "testnet"
        raise ConfigError(
            f"missing API credentials for {settings.venue} {network}: set {' and '.join(missing)} in the environment"
        )
    return Credentials(env[key_name], env[secret_name], f"${key_name} / ${secret_name}")


MIN_TOKEN_CHARS = 16


def dashboard_token(settings: LiveSettings, environ: Mapping[str, str] | None = None) -> str | None:
    """The web page's token from the environment (None when the page is off); a missing or short
    one stops the node before it connects."""
    d = settings.dashboard
    if not d.enabled:
        return None
    env: Mapping[str, str] = os.environ if environ is None else environ
    token = env.get(d.token_env, "")
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"dashboard.enabled: set {d.token_env} in the environment to a secret of at least {MIN_TOKEN_CHARS} "
            f"characters (e.g. `export {d.token_env}=$(python -c 'import secrets; print(secrets.token_urlsafe(24))')`)"
        )
    return token
