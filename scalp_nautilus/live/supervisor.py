"""Running a live node unattended: start it, watch it, serve its metrics and page, and end it with
an exit code that says why (`scalp-nautilus live`'s exit status):

====  ===================================================================================
code  meaning
====  ===================================================================================
0     stopped on request (Ctrl-C, SIGTERM): drained (see below), orders cancelled, position closed,
      report written
1     a config error (named with its file and key) or an unexpected failure
10    the venue cannot be reached: the engines did not connect within `timeouts.connection_s`
      (the line names the URL and why)
11    the venue does not list the instrument (the line names both)
12    the connection was lost for `connection.exit_after_s`: the position is left at the venue
      with its exchange stop (nothing is cancelled), the report written; the next start adopts it
13    the node connected but did not finish starting (reconciliation or portfolio timeouts)
====  ===================================================================================

Codes 10 and 12 are worth restarting after a pause (`RESTARTABLE`; a systemd unit that does:
`configs/scalp-nautilus-live.service`); 1, 11 and 13 need a person. A halt of the kill switch
does not end the process (the page can clear it); it survives a restart in the state file, so a
restarted node stays halted until the halt is cleared.

Why watch the start ourselves: Nautilus 1.231 logs a failed connection or a timed-out start and
then runs on, "RUNNING" with nothing connected. The supervisor waits for the trader to run, and on
a failure asks the venue's public instrument list once (one REST request) to tell an unreachable
venue from an unlisted instrument.

A stop on request drains first (`drain`): Nautilus delivers no event to a stopped strategy, so the
supervisor takes Ctrl-C and SIGTERM from Nautilus's own handler, holds entries and waits (at most
`timeouts.drain_s`) for the answers to the strategy's orders in flight before it stops the node.
Without it an order sent just before the stop was settled behind the strategy's back: a post-only
refusal left uncounted, an entry filled after the stop's close left open without its exchange stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
import urllib.error
import urllib.request

from nautilus_trader.core import nautilus_pyo3
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.enums import OrderStatus
from nautilus_trader.model.events import OrderFilled

from scalp_nautilus.live.monitor import EXIT_CONNECTION_LOST
from scalp_nautilus.live.monitor import NodeMonitor
from scalp_nautilus.live.offline import OfflineReport
from scalp_nautilus.live.offline import replay
from scalp_nautilus.live.offline import venue_fills
from scalp_nautilus.live.session import venue_reports
from scalp_nautilus.live.settings import LiveSettings
from scalp_nautilus.strategy.records import read_saved_position

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_VENUE_UNREACHABLE = 10
EXIT_INSTRUMENT_NOT_LISTED = 11
EXIT_STARTUP_FAILED = 13
EXIT_ERROR = 1  # the command line's (a config error or an unexpected failure)
EXIT_CODES = (EXIT_OK, EXIT_ERROR, EXIT_VENUE_UNREACHABLE, EXIT_INSTRUMENT_NOT_LISTED, EXIT_CONNECTION_LOST, EXIT_STARTUP_FAILED)
RESTARTABLE = (EXIT_VENUE_UNREACHABLE, EXIT_CONNECTION_LOST)  # worth starting again after a pause

PROBE_TIMEOUT_S = 5.0
_POLL_S = 0.1
_DRAIN_POLL_S = 0.02


def _unanswered(node: TradingNode, strategy) -> list:
    """The strategy's orders the venue has not answered: in flight, or still in the node's own
    queues (INITIALIZED: the risk and execution engines have not sent them yet)."""
    orders = node.kernel.cache.orders(strategy_id=strategy.id)
    return [o for o in orders if o.is_inflight or o.status == OrderStatus.INITIALIZED]


def _account_behind(node: TradingNode, strategy) -> bool:
    """The venue has not reported the account since the strategy's latest fill. Binance and Bybit
    send the balance in a message of its own (ACCOUNT_UPDATE, the wallet topic) after the fill's:
    a session report written between the two misses that fill's P&L and fees in its balance change.
    Only the venue's reports count (`venue_reports`): a state Nautilus calculated from the fill is not one."""
    cache = node.kernel.cache
    account = cache.account_for_venue(strategy.config.instrument_id.venue)
    fills = [e.ts_init for o in cache.orders(strategy_id=strategy.id) for e in o.events if isinstance(e, OrderFilled)]
    reported = venue_reports(account)
    if not reported or not fills:
        return False
    return reported[-1].ts_init < max(fills)


async def drain(node: TradingNode, strategy, limit_s: float) -> None:
    """Before a stop on request: entries held (`paused`), then up to `limit_s` for the answers to the
    strategy's orders not yet answered (`_unanswered`; a cancel sent and not answered included) and
    for the account's report after the latest fill (`_account_behind`)."""
    if not node.trader.is_running:
        return
    strategy.block_entries("paused", "the node is stopping")
    deadline = time.monotonic() + limit_s
    while (inflight := _unanswered(node, strategy)) and time.monotonic() < deadline:
        await asyncio.sleep(_DRAIN_POLL_S)
    if inflight:
        ids = ", ".join(o.client_order_id.value for o in inflight)
        strategy.log.warning(f"stopping with order(s) still unanswered after {limit_s:g} s: {ids}")
    while (behind := _account_behind(node, strategy)) and time.monotonic() < deadline:
        await asyncio.sleep(_DRAIN_POLL_S)
    if behind:
        strategy.log.warning(f"stopping before the venue reported the account after the latest fill ({limit_s:g} s)")


def venue_urls(settings: LiveSettings, mainnet: bool) -> tuple[str, str]:
    """(REST, WebSocket) base URLs the node uses: the replay venue's, or Nautilus's for the venue."""
    if settings.endpoints is not None:
        return settings.endpoints.base_url_http, settings.endpoints.base_url_ws
    if settings.venue == "BINANCE":
        from nautilus_trader.adapters.binance.common.enums import BinanceAccountType
        from nautilus_trader.adapters.binance.common.enums import BinanceEnvironment
        from nautilus_trader.adapters.binance.common.urls import get_http_base_url
        from nautilus_trader.adapters.binance.common.urls import get_ws_base_url

        binance = BinanceEnvironment.LIVE if mainnet else BinanceEnvironment.TESTNET
        account = BinanceAccountType.USDT_FUTURES
        return get_http_base_url(account, binance, False), get_ws_base_url(account, binance, False)
    bybit = nautilus_pyo3.BybitEnvironment.MAINNET if mainnet else nautilus_pyo3.BybitEnvironment.TESTNET
    linear = nautilus_pyo3.BybitProductType.LINEAR
    return nautilus_pyo3.get_bybit_http_base_url(bybit), nautilus_pyo3.get_bybit_ws_url_public(linear, bybit)


def venue_lists(venue: str, base_url_http: str, symbol: str) -> bool:
    """Whether the venue's public instrument list holds `symbol` (one REST request, no keys);
    raises OSError when the venue cannot be reached."""
    if venue == "BINANCE":
        body = _get_json(f"{base_url_http}/fapi/v1/exchangeInfo")
        return any(s.get("symbol") == symbol for s in body.get("symbols", []))
    body = _get_json(f"{base_url_http}/v5/market/instruments-info?category=linear&symbol={symbol}")
    return body.get("retCode") == 0 and any(s.get("symbol") == symbol for s in body.get("result", {}).get("list", []))


def _get_json(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:  # it answered: reachable, but not with the list
        return {"error": exc.code}
    except ValueError:
        return {}


class Supervisor:
    """Runs `node` (built by `build_node`, with its `NodeMonitor`) to the end; `run()` returns the
    exit code and `line` the one line that explains a failure (also printed). With `token` it
    serves the web page; with `metrics.enabled` the metrics."""

    def __init__(self, node: TradingNode, settings: LiveSettings, mainnet: bool, token: str | None = None) -> None:
        self.node = node
        self.settings = settings
        self.mainnet = mainnet
        self.line = ""
        self.strategy = node.trader.strategies()[0]
        self.data_client = next(iter(node.kernel.data_engine._clients.values()))  # Nautilus keeps its clients private
        self.monitor = next(a for a in node.trader.actors() if isinstance(a, NodeMonitor))
        state = (settings.strategy.config.get("state") or {}).get("path")
        # Read before the node starts: the strategy's first save would replace it.
        self._saved = read_saved_position(state) if state else None
        self.offline: OfflineReport | None = None  # trades made while no node ran (`live.offline`)
        self.servers: list = []  # started once the node runs, stopped at the end
        self._stop_signal: signal.Signals | None = None  # Ctrl-C or SIGTERM received (`drain`)
        if settings.metrics.enabled:
            from scalp_nautilus.live.metrics import MetricsServer

            self.servers.append(MetricsServer(settings.metrics, self.monitor))
        if token is not None:
            from scalp_nautilus.live.dashboard import Dashboard

            self.servers.append(Dashboard(settings.dashboard, self.strategy, self.monitor, token))

    def run(self) -> int:
        try:
            return self.node.kernel.loop.run_until_complete(self.run_async())
        finally:
            self.monitor.alerts.close()

    async def run_async(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # replaces Nautilus's handler, which stops at once
            loop.add_signal_handler(sig, self._on_signal, sig)
        task = loop.create_task(self.node.run_async())
        failure = await self._start(task)
        if failure is not None:
            code, self.line = failure
            print(f"exit {code}: {self.line}", flush=True)
            await self._stop(task)
            return code
        await self._reconcile_offline()
        for server in self.servers:
            await server.start()
        try:
            while not task.done() and self.monitor.exit_request is None and self._stop_signal is None:
                await asyncio.sleep(_POLL_S)
            if self.monitor.exit_request is not None:
                code, self.line = self.monitor.exit_request
                print(f"exit {code}: {self.line}", flush=True)
                self.strategy.leave_protected()  # nothing in flight can be answered: no drain
                await self._stop(task)
                return code
            await drain(self.node, self.strategy, self.settings.timeouts.drain_s)
            await self._stop(task)
            return EXIT_OK
        finally:
            for server in reversed(self.servers):
                await server.stop()

    def _on_signal(self, sig: signal.Signals) -> None:
        if self._stop_signal is None:  # a second one changes nothing: the drain is bounded
            self.node.kernel.logger.warning(f"Received {sig.name}, shutting down")
            self._stop_signal = sig
        if not self.node.trader.is_running:  # still starting: `_start` waits for this task
            self.node.stop()

    async def _stop(self, task: asyncio.Task) -> None:
        kernel = self.node.kernel
        if kernel.is_running() and not task.done():
            await self.node.stop_async()
        if not self.node.trader.is_running and not task.done():
            task.cancel()  # still inside Nautilus's start (waiting out its own timeouts)
        with contextlib.suppress(asyncio.CancelledError):
            await task
        deadline = time.monotonic() + self.settings.timeouts.disconnection_s + 5.0
        while kernel.is_running() and time.monotonic() < deadline:  # a signal's stop runs on its own task
            await asyncio.sleep(_POLL_S)

    # ------------------------------------------------------------------ trades made while no node ran

    async def _reconcile_offline(self) -> None:
        """`live.offline`: the fills since the previous session's last saved position, before this one trades."""
        saved = self._saved
        if saved is None:
            return  # flat at the last save (or no state file): nothing to account for
        view = self.monitor.view
        position = view.position().quantity
        exec_client = next(iter(self.node.kernel.exec_engine._clients.values()))  # Nautilus keeps its clients private
        iid = self.strategy.config.instrument_id
        try:
            fills = await venue_fills(exec_client, self.settings.venue, iid, saved.ts_event)
        except Exception as exc:  # noqa: BLE001 - any failure of the request is reported, not fatal
            self.offline = OfflineReport(saved, error=repr(exc))
        else:
            self.offline = replay(saved, fills, position)
        lines = self.offline.lines(view.currency)
        for line in lines:
            self.strategy.log.warning(line)
        if self.offline.trips or not self.offline.consistent or self.offline.error:
            self.monitor.alerts.send("offline", "trades while the node was down", "\n".join(lines), "warning")

    # ------------------------------------------------------------------ start

    async def _start(self, task: asyncio.Task) -> tuple[int, str] | None:
        """None once the trader and the strategy run; else (code, line)."""
        t = self.settings.timeouts
        started = time.monotonic()
        connect_by = started + t.connection_s + 1.0
        ready_by = started + t.connection_s + t.reconciliation_s + t.portfolio_s + 2.0
        kernel = self.node.kernel
        while True:
            await asyncio.sleep(_POLL_S)
            if task.done():
                exc = task.exception()
                return EXIT_STARTUP_FAILED, f"the node stopped while starting ({exc!r})"
            if self.data_client.connect_error is not None:
                return await self._diagnose()
            if self.node.trader.is_running:
                if self.strategy.is_running and self.monitor.view.started:
                    return None
                if kernel.cache.instrument(self.strategy.config.instrument_id) is None:
                    return await self._diagnose()
                return EXIT_STARTUP_FAILED, f"the strategy stopped at start ({self.strategy.state_string()})"
            now = time.monotonic()
            connected = kernel.data_engine.check_connected() and kernel.exec_engine.check_connected()
            if now > connect_by and not connected:
                return await self._diagnose()
            if now > ready_by:
                return EXIT_STARTUP_FAILED, (
                    f"connected to {self.settings.venue} but not started within "
                    f"{t.reconciliation_s:g} s (reconciliation) + {t.portfolio_s:g} s (portfolio)"
                )

    async def _diagnose(self) -> tuple[int, str]:
        s = self.settings
        http, ws = venue_urls(s, self.mainnet)
        iid = self.strategy.config.instrument_id
        symbol = iid.symbol.value.rsplit("-", 1)[0]  # BTCUSDT-PERP / BTCUSDT-LINEAR -> BTCUSDT
        error = self.data_client.connect_error
        try:
            listed = await asyncio.to_thread(venue_lists, s.venue, http, symbol)
        except OSError as exc:
            reason = getattr(exc, "reason", exc)
            return EXIT_VENUE_UNREACHABLE, (
                f"cannot reach {s.venue} at {http} ({reason}); the engines did not connect within {s.timeouts.connection_s:g} s"
            )
        if not listed:
            return EXIT_INSTRUMENT_NOT_LISTED, f"{iid} is not listed by {s.venue} (its instrument list at {http} has no {symbol})"
        detail = f"; data client: {error!r}" if error is not None else ""
        return EXIT_VENUE_UNREACHABLE, (
            f"{s.venue} answers at {http} but the engines did not connect within {s.timeouts.connection_s:g} s "
            f"(streams at {ws}{detail})"
        )
