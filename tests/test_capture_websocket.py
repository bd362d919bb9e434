"""The capture's WebSocket glue over picows (`capture.session._Frames`), against a picows server
on loopback: a message fragmented over frames arrives whole, the server's CLOSE code is kept for the
reconnect's log line, and an exception from the session ends the connection and is kept for
`Session.run` to raise (a failed write must stop the capture, not look like a lost connection).

Over TLS (wss://, what the exchanges serve), on uvloop as `record` runs: the session's own client,
through picows's default TLS (aiofastnet's), trusts a CA named by `SSL_CERT_FILE`, receives whole and
fragmented messages, reconnects after the server's CLOSE; a certificate it does not trust, or one for
another host, stops the start at once with one line. The server side is the stdlib's TLS
(`use_aiofastnet=False`), so the client is checked against another implementation.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import cast

import aiohttp
import pytest
import uvloop
from picows import WSCloseCode
from picows import WSListener
from picows import WSMsgType
from picows import ws_connect
from picows import ws_create_server

from scalp_nautilus.capture.session import Connection
from scalp_nautilus.capture.session import Session
from scalp_nautilus.capture.session import StartFailed
from scalp_nautilus.capture.session import _Frames
from scalp_nautilus.capture.settings import CaptureSettings
from scalp_nautilus.capture.settings import ReconnectSettings
from scalp_nautilus.capture.settings import VenueSettings


class _Sender(WSListener):
    """Sends a fixed script of frames as soon as a client connects, then closes with 1001."""

    def on_ws_connected(self, transport) -> None:
        self.send_script(transport)

    def send_script(self, transport) -> None:
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


# ---------------------------------------------------------------------------------- wss://


def _certificate(folder: Path, name: str, host: str) -> tuple[Path, Path]:
    """A self-signed certificate (its own CA) for `host` (an IP address or a DNS name): (cert, key)."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("neither the cryptography package nor the openssl command to make a test certificate")
        alt = f"IP:{host}" if host[0].isdigit() else f"DNS:{host}"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"]
            + ["-subj", f"/CN={host}", "-addext", f"subjectAltName={alt}", "-keyout", str(key), "-out", str(cert)],
            check=True,
            capture_output=True,
        )
        return cert, key
    private = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    alt_name = x509.IPAddress(ipaddress.ip_address(host)) if host[0].isdigit() else x509.DNSName(host)
    now = datetime.datetime.now(datetime.UTC)
    signed = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([alt_name]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(signed.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert, key


class _Venue(_Sender):
    """Like a venue: sends nothing before the client's subscription (its first message)."""

    def on_ws_connected(self, transport) -> None:
        pass

    def on_ws_frame(self, transport, frame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self.send_script(transport)


class _TlsSession(Session):
    """The session's connection loop with the venue part reduced to keeping what arrives: ready at
    the first message; the reconnect's connection is its last (it sets `stop`)."""

    def __init__(self, out: Path, url: str, stop: asyncio.Event) -> None:
        venue = VenueSettings(venue="binance-usdm", symbols=["TEST"], streams=["trade"], base_url_ws=url)
        settings = CaptureSettings(
            out_dir=str(out), venues=[venue], reconnect=ReconnectSettings(initial_s=0.05, http_timeout_s=3)
        )
        super().__init__(settings, venue, "TEST", cast(aiohttp.ClientSession, None), lambda *args: None)
        self._url, self._stop = url, stop
        self.got: list[bytes] = []
        self.connects: list[bool] = []
        self.tls: list[str] = []  # the TLS transport's class, per connection

    def url(self) -> str:
        return self._url

    def on_connect(self, ws: Connection, reconnect: bool) -> None:
        self.connects.append(reconnect)
        tls = type(ws.transport.underlying_transport)
        self.tls.append(f"{tls.__module__}.{tls.__name__}")
        ws.send('{"method":"SUBSCRIBE"}')
        if reconnect:
            self._stop.set()

    def on_message(self, recv_ns: int, data: bytes) -> None:
        self.got.append(data)
        self.became_ready()

    @property
    def topics(self) -> list[str]:
        return ["trade"]


async def _run_over_tls(out: Path, cert: Path, key: Path) -> _TlsSession:
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    server = await ws_create_server(lambda request: _Venue(), "127.0.0.1", 0, ssl=served, use_aiofastnet=False)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    session = _TlsSession(out, f"wss://127.0.0.1:{port}/ws", stop)
    try:
        await asyncio.wait_for(session.run(stop), 5)  # a hang fails here, not at the CI's time limit
    finally:
        session.close()
        server.close()
        await server.wait_closed()
    return session


def test_wss_trusted_through_ssl_cert_file_receives_messages_and_reconnects_after_the_close(tmp_path, monkeypatch, caplog):
    cert, key = _certificate(tmp_path, "server", "127.0.0.1")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # OpenSSL's own variable, read by ssl.create_default_context
    with caplog.at_level(logging.WARNING, logger="scalp_nautilus.capture.session"):
        session = asyncio.run(_run_over_tls(tmp_path, cert, key), loop_factory=uvloop.new_event_loop)
    script = [b'{"first":1}', b'{"fragmented":2}', b'{"last":3}']
    assert session.got == script + script  # both connections, the fragments joined
    assert session.connects == [False, True] and session.reconnects == 1
    assert all(t.startswith("aiofastnet.") for t in session.tls), session.tls  # picows's default TLS, not uvloop's
    assert "WebSocket closed by the server (code 1001); reconnecting" in caplog.text


@pytest.mark.parametrize(
    ("host", "trust", "why"),
    [
        ("127.0.0.1", "another CA", "CERTIFICATE_VERIFY_FAILED"),
        ("localhost", "the server's CA", "IP address mismatch"),  # the certificate is for another host
    ],
)
def test_wss_with_a_certificate_not_trusted_fails_the_start_at_once_in_one_line(tmp_path, monkeypatch, host, trust, why):
    cert, key = _certificate(tmp_path, "server", host)
    trusted = cert if trust == "the server's CA" else _certificate(tmp_path, "other", "127.0.0.1")[0]
    monkeypatch.setenv("SSL_CERT_FILE", str(trusted))
    with pytest.raises(StartFailed) as failed:
        asyncio.run(_run_over_tls(tmp_path, cert, key), loop_factory=uvloop.new_event_loop)
    message = str(failed.value)
    assert "\n" not in message and "wss://127.0.0.1:" in message and "SSLCertVerificationError" in message
    assert why in message, message
