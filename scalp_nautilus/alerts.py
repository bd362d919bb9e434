"""Alerts for unattended processes (the live node and the market-data capture): one list of
`apprise` URLs reaches Telegram, Slack, Discord, e-mail, a JSON webhook and the rest
(https://github.com/caronc/apprise/wiki: ``tgram://``, ``slack://``, ``discord://``, ``mailto://``,
``json://host:port/path``, ...).

Why a worker thread: apprise delivers with blocking HTTP calls, and both users run an event loop
(Nautilus's, the capture's) that must never wait on a slow chat server. `send` only logs the alert
and queues it; one daemon thread delivers. Delivery failures are logged and counted, never raised:
an alert path that crashes the process it watches would be worse than none.

Why a throttle: a condition that persists (a feed that stays silent, a disk that stays full) is
checked every few seconds; the same `key` is sent at most once per `min_interval_s`, and the
suppressed repeats are counted and named in the next alert of that key.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from typing import Literal

import msgspec

Level = Literal["info", "success", "warning", "failure"]

_LOG_LEVEL = {"info": logging.INFO, "success": logging.INFO, "warning": logging.WARNING, "failure": logging.ERROR}


class AlertSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`alerts:` in the live and record configs."""

    urls: tuple[str, ...] = ()  # apprise URLs; empty: alerts are only logged
    min_interval_s: float = 300.0  # the same alert key at most once per this many seconds
    name: str = "scalp-nautilus"  # prefixed to every title, to tell processes apart

    def __post_init__(self) -> None:
        if self.min_interval_s < 0:
            raise ValueError("min_interval_s must be >= 0")
        if self.urls:
            _apprise(self.urls)  # a URL apprise cannot parse fails when the config is loaded, naming the key


@dataclass
class AlertCounts:
    sent: int = 0  # delivered to every URL
    failed: int = 0  # apprise reported a failure for at least one URL
    suppressed: int = 0  # repeats of a key inside its interval
    by_key: dict[str, int] = field(default_factory=dict)  # alerts raised (sent or suppressed) per key


class Alerts:
    """`send(key, title, body, level)`: log it, and deliver it to every URL unless throttled."""

    def __init__(self, settings: AlertSettings, log: logging.Logger, clock=time.monotonic) -> None:
        self.settings = settings
        self.log = log
        self.counts = AlertCounts()
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._apprise = _apprise(settings.urls) if settings.urls else None
        self._queue: queue.Queue[tuple[str, str, Level] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def send(self, key: str, title: str, body: str = "", level: Level = "warning") -> bool:
        """Raise alert `key`; True when it goes out (or is logged only, with no URLs), False when throttled."""
        now = self._clock()
        self.counts.by_key[key] = self.counts.by_key.get(key, 0) + 1
        last = self._last.get(key)
        if last is not None and now - last < self.settings.min_interval_s:
            self._held[key] = self._held.get(key, 0) + 1
            self.counts.suppressed += 1
            return False
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            body = f"{body}\n({held} repeat(s) of this alert suppressed in the last {self.settings.min_interval_s:g} s)".strip()
        full_title = f"[{self.settings.name}] {title}"
        self.log.log(_LOG_LEVEL[level], "ALERT %s: %s%s", key, title, f" — {body}" if body else "")
        if self._apprise is not None:
            self._start()
            self._queue.put((full_title, body, level))
        return True

    def close(self, timeout_s: float = 10.0) -> None:
        """Deliver what is queued (up to `timeout_s`), then stop the worker."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self.log.warning("alerts: %d alert(s) still undelivered after %.0f s at close", self._queue.qsize(), timeout_s)
        self._thread = None

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._deliver, name="alerts", daemon=True)
                self._thread.start()

    def _deliver(self) -> None:
        import apprise

        app = self._apprise
        assert app is not None  # the worker starts only when there are URLs

        types = {
            "info": apprise.NotifyType.INFO,
            "success": apprise.NotifyType.SUCCESS,
            "warning": apprise.NotifyType.WARNING,
            "failure": apprise.NotifyType.FAILURE,
        }
        while (item := self._queue.get()) is not None:
            title, body, level = item
            try:
                ok = app.notify(title=title, body=body or title, notify_type=types[level])
            except Exception:  # a broken notifier must not take the watched process down
                self.log.exception("alerts: delivery raised")
                ok = False
            if ok:
                self.counts.sent += 1
            else:
                self.counts.failed += 1
                self.log.warning("alerts: delivery of %r failed for at least one URL", title)


def _apprise(urls: tuple[str, ...]):
    import apprise

    app = apprise.Apprise()
    for url in urls:
        if not app.add(url):
            raise ValueError(f"apprise cannot use {_redact(url)!r} (see apprise's URL formats)")
    return app


def _redact(url: str) -> str:
    """The URL's scheme and host only: alert URLs carry tokens and passwords, which are never logged."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "<not a URL>"
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}/…"
