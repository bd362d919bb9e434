"""The capture's WebSocket glue over picows (`capture.session._Frames`), against a picows server
on loopback: a message fragmented over frames arrives whole, the server's CLOSE code is kept for the
reconnect's log line, and an exception from the session ends the connection and is kept for
`Session.run` to raise (a failed write must stop the capture, not look like a lost connection)."""

from __future__ import annotations

import asyncio

from picows import WSCloseCode
from picows import WSListener
from picows import WSMsgType
from picows import ws_connect
from picows import ws_create_server

from scalp_nautilus.capture.session import _Frames


class _Sender(WSListener):
    """Sends a fixed script of frames as soon as a client connects, then closes with 1001."""

    def on_ws_connected(self, transport) -> None:
        transport.send(WSMsgType.TEXT, b'{"first":1}')
        transport.send(WSMsgType.TEXT, b'{"frag', fin=False)
        transport.send(WSMsgType.CONTINUATION, b"mented", fin=False)
        transport.send(WSMsgType.CONTINUATION, b'":2}', fin=True)
        transport.send(WSMsgType.BINARY, b'{"last":3}')
        transport.send_close(WSCloseCode.GOING_AWAY)


async def _receive(on_data) -> _Frames:
    server = await ws_create_server(lambda request: _Sender(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        transport, frames = await ws_connect(lambda: _Frames(on_data), f"ws://127.0.0.1:{port}/")
        await asyncio.wait_for(transport.wait_disconnected(), 10)
    finally:
        server.close()
        await server.wait_closed()
    assert isinstance(frames, _Frames)
    return frames


def test_fragments_are_joined_and_the_close_code_kept():
    got: list[bytes] = []
    frames = asyncio.run(_receive(got.append))
    assert got == [b'{"first":1}', b'{"fragmented":2}', b'{"last":3}']
    assert frames.close_code == 1001 and frames.error is None and frames.reads >= 1


def test_an_exception_from_the_session_is_kept_and_ends_the_connection():
    got: list[bytes] = []

    def failing(data: bytes) -> None:
        got.append(data)
        raise OSError(28, "No space left on device")

    frames = asyncio.run(_receive(failing))
    assert got == [b'{"first":1}']  # nothing handed over after the failure
    assert isinstance(frames.error, OSError) and frames.error.errno == 28
