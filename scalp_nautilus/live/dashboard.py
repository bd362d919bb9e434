"""The node's web page: watch and steer a running node from a browser, on loopback, behind a token.

Served by aiohttp on the node's own event loop (`dashboard.host:port`, loopback only), so every
read of the strategy and every action runs between two of its events, never beside one. One page
(`dashboard.html`: no build step, no external asset, no network beyond this server, so it works
offline) polls ``GET /api/state`` every two seconds and draws:
state and position, the P&L curve (the strategy's 1 s equity samples), the last decisions with the
gate that blocked each entry, recent feature values, the risk limits and their use, the lag, and
the open orders with the exchange stop.

Actions, ``POST /api/action`` with ``{"action": A, "confirm": A}`` (the page asks before sending):
`pause` (entries held, exits go on), `resume`, `flatten` (entries paused, the position closed at
market, its exchange stop cancelled once flat), `halt` (the kill switch, persisted) and
`clear_halt`. Each is logged (the node's log and the page's action list) with what it did.

The token comes from the environment (`dashboard.token_env`); every ``/api`` request carries it as
``Authorization: Bearer <token>``; a missing or wrong one gets 401 and nothing else. The page itself
holds no data (its HTML is the same for everyone); it keeps the token in the tab's session storage.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from collections import deque
from dataclasses import asdict
from pathlib import Path

import msgspec
from aiohttp import web

from scalp_nautilus.live.monitor import NodeMonitor
from scalp_nautilus.live.settings import DashboardSettings

log = logging.getLogger(__name__)

PAGE = Path(__file__).with_name("dashboard.html")
ACTIONS = ("pause", "resume", "flatten", "halt", "clear_halt")
WHO = "the web page"


class Dashboard:
    """The page's server (see the module doc); `start()` / `stop()` on the node's loop."""

    def __init__(self, settings: DashboardSettings, strategy, monitor: NodeMonitor, token: str) -> None:
        self.settings = settings
        self._strategy = strategy  # steered through its operator methods only
        self._monitor = monitor
        self._view = monitor.view
        self._token = token.encode()
        self.port = settings.port
        self.actions: deque[dict] = deque(maxlen=50)  # what the page did, newest last
        self.refused = 0  # requests without the right token
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/api/state", self._state)
        app.router.add_post("/api/action", self._action)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        url = f"http://{self.settings.host}:{self.port}/"
        log.info("web page on %s (token from $%s)", url, self.settings.token_env)
        print(f"web page: {url} (token from ${self.settings.token_env})", flush=True)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ requests

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(
            body=PAGE.read_bytes(),
            content_type="text/html",
            headers={"Cache-Control": "no-store", "Content-Security-Policy": "default-src 'self' 'unsafe-inline'"},
        )

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        ok = scheme == "Bearer" and hmac.compare_digest(given.encode(), self._token)
        if not ok:
            self.refused += 1
            log.warning("web page: request to %s refused (%s token)", request.path, "wrong" if given else "no")
        return ok

    async def _state(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _refused()
        return _json(self.state())

    async def _action(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _refused()
        try:
            body = await request.json()
        except ValueError:
            body = None
        action = body.get("action") if isinstance(body, dict) else None
        if action not in ACTIONS:
            return _json({"error": f"unknown action {action!r}; one of {', '.join(ACTIONS)}"}, 400)
        if body.get("confirm") != action:
            return _json({"error": f"{action}: not confirmed (send confirm: {action!r})"}, 400)
        result = self.act(action)
        return _json({"ok": True, "action": action, "result": result})

    # ------------------------------------------------------------------ actions and state

    def act(self, action: str) -> str:
        """Do `action` (one of ACTIONS) and log it; returns what was done."""
        s = self._strategy
        before = self._view.position().quantity
        if action == "pause":
            s.block_entries("paused", f"paused by {WHO}")
            result = "entries paused; exits go on"
        elif action == "resume":
            s.unblock_entries("paused")
            result = "entries resume" + (f" (still held by {', '.join(s.entry_blocks)})" if s.entry_blocks else "")
        elif action == "flatten":
            s.flatten(WHO)
            result = f"entries paused; closing position {before:+g} at market" if before else "entries paused; already flat"
        elif action == "halt":
            s.halt(WHO)
            result = "halted: orders cancelled, position closed, no entries until the halt is cleared"
        else:
            halt = self._view.halt()
            s.clear_halt(WHO)
            result = f"halt cleared ({halt})" if halt else "no halt to clear"
        entry = {"ts_ms": time.time_ns() // 1_000_000, "action": action, "result": result}
        self.actions.append(entry)
        s.log.warning(f"web page action {action}: {result}")
        return result

    def state(self) -> dict:
        now = self._strategy.clock.timestamp_ns()
        snap = self._monitor.take(now)
        v = self._view
        p, pos, lag, feed = snap.pnl, snap.position, snap.lag, snap.feed
        return {
            "ts_ms": now // 1_000_000,
            "instrument": snap.instrument_id,
            "currency": snap.currency,
            "state": snap.state,
            "halt": snap.halt,
            "blocks": snap.blocks,
            "position": {"quantity": pos.quantity, "avg_px": pos.avg_px, "mid": pos.mid, "unrealized": pos.unrealized},
            "pnl": {
                "realized": p.realized,
                "fees": p.fees,
                "funding": p.funding,
                "unrealized": p.unrealized,
                "session": p.session,
                "round_trips": p.round_trips,
                "wins": p.wins,
            },
            "curve": [[ts // 1_000_000, equity] for ts, equity, _mid, _pos in v.curve(600)],
            "decisions": [
                {
                    "ts_ms": d.ts_ns // 1_000_000,
                    "outcome": d.outcome,
                    "action": d.action,
                    "direction": d.direction,
                    "kind": d.kind,
                    "confidence": d.confidence,
                }
                for d in v.decisions(40)
            ],
            "outcomes": snap.outcomes,
            "features": v.features(),
            "history": v.feature_history(120),
            "limits": [{"name": lv.name, "limit": lv.limit, "used": lv.used} for lv in snap.limits],
            "orders": [asdict(o) for o in snap.orders],
            "lag": asdict(lag),
            "feed": asdict(feed),
            "stop_missing_s": snap.stop_missing_s,
            "actions": list(self.actions),
        }


def _refused() -> web.Response:
    return _json({"error": "token refused"}, 401)


def _json(body: dict, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(_finite(body)), status=status, content_type="application/json")


def _finite(x):
    """JSON has no NaN: NaN and infinities become null."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x
