"""What the capture checks before it records: the out-dir can be written, and each venue's REST
endpoint answers and lists every symbol as trading (Binance ``exchangeInfo``, Bybit
``instruments-info``). A failure is a `StartFailed` whose message is one line naming the venue, the
URL or the symbol, and what is wrong.

Why ask the venue: a WebSocket subscription to a symbol the venue does not list is accepted and
then silent (Binance), and a REST snapshot of it fails (``-1121 Invalid symbol``); the capture
would sit "connected" recording nothing.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import aiohttp
import orjson

from scalp_nautilus.capture.session import StartFailed
from scalp_nautilus.capture.settings import VenueSettings

_TRADING = {"TRADING", "Trading"}


def check_out_dir(out_dir: str) -> Path:
    """The folder exists (made if missing) and a file can be written and removed in it."""
    path = Path(out_dir)
    probe = path / f".capture-write-check-{os.getpid()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as exc:
        why = "the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else (exc.strerror or str(exc))
        raise StartFailed(f"out_dir {path}: cannot write there ({why})") from None
    return path


async def check_venue(http: aiohttp.ClientSession, index: int, venue: VenueSettings, timeout_s: float) -> None:
    """Every symbol of `venue` is listed as trading by its exchange-info endpoint."""
    where = f"venues[{index}] ({venue.venue})"
    url = f"{venue.http}{venue.info_endpoint}"
    bybit = venue.venue == "bybit-linear"
    listed: dict[str, str] = {}
    for symbol in venue.symbols if bybit else [None]:
        params = {"category": "linear", "symbol": symbol.upper()} if symbol else None
        try:
            async with http.get(url, params=params, timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise StartFailed(f"{where}: {url} cannot be reached: {type(exc).__name__}: {exc}") from None
        if status != 200:
            raise StartFailed(f"{where}: {url} answered HTTP {status}: {body[:200].decode(errors='replace')}")
        try:
            info = orjson.loads(body)
            items = info["result"]["list"] if bybit else info["symbols"]
            listed.update({item["symbol"]: item.get("status", "") for item in items})
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise StartFailed(f"{where}: {url} did not answer with exchange info ({type(exc).__name__}: {exc})") from None
    for symbol in (s.upper() for s in venue.symbols):
        if symbol not in listed:
            raise StartFailed(f"{where}: {symbol} is not listed by {url}")
        if listed[symbol] and listed[symbol] not in _TRADING:
            raise StartFailed(f"{where}: {symbol} is listed by {url} with status {listed[symbol]}, not trading")
