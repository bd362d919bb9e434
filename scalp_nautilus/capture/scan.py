"""Reading the few fields the capturer needs from a message without parsing it.

The capturer writes every message as received; per message it only needs the stream, the event
time (for the lag and the clock offset) and, for the book stream, the update ids its own sequence
check uses. A full JSON parse of a 20-level depth diff costs several times what finding those
fields costs, so they are found by a byte scan on the message as the exchanges send it (compact
JSON, keys in a fixed order). A message that does not have the expected shape is parsed in full
(`orjson`) by the caller: the scan is an optimisation, never a second format.
"""

from __future__ import annotations


def int_after(data: bytes, key: bytes, start: int = 0) -> int | None:
    """The integer that follows the first `key` (e.g. ``b'"u":'``) at or after `start`, or None
    when there is no such key or no integer right after it."""
    i = data.find(key, start)
    if i < 0:
        return None
    i += len(key)
    j = data.find(b",", i)
    k = data.find(b"}", i, j) if j >= 0 else data.find(b"}", i)  # bounded: the value ends at the first of them
    if k >= 0:
        j = k
    try:
        return int(data[i:j])
    except ValueError:  # not an integer there (a string, null, a cut message)
        return None


def str_after(data: bytes, key: bytes, start: int = 0) -> tuple[bytes, int] | None:
    """The string value that follows `key` (given with its opening quote, e.g. ``b'"topic":"'``)
    and the index after its closing quote; None without it. Values are plain names (no escapes)."""
    i = data.find(key, start)
    if i < 0:
        return None
    i += len(key)
    j = data.find(b'"', i)
    return (data[i:j], j + 1) if j > i else None


def line_stream(message: bytes) -> str:
    """The sidecar's stream name of a recorded message: a Binance combined stream's ``stream``, a
    Bybit topic without its symbol, ``snapshot`` for a REST depth snapshot."""
    if message.startswith(b'{"stream":"'):
        found = str_after(message, b'{"stream":"')
        return found[0].decode() if found else "<unreadable>"
    if message.startswith(b'{"topic":"'):
        found = str_after(message, b'{"topic":"')
        return found[0].rsplit(b".", 1)[0].decode() if found else "<unreadable>"
    if b'"lastUpdateId"' in message[:40]:
        return "snapshot"
    return "<unreadable>"
