"""A JSON webhook on 127.0.0.1 for alert tests (apprise's ``json://127.0.0.1:<port>/<path>``):
keeps every POSTed body, with its path."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer


class JsonWebhook:
    def __init__(self) -> None:
        self.received: list[dict] = []
        self.arrived = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append({"path": self.path, **json.loads(body)})
                hook.arrived.set()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"json://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def titles(self) -> list[str]:
        return [r.get("title", "") for r in self.received]

    def wait_for(self, text: str, timeout_s: float) -> dict | None:
        """The first alert whose title contains `text`, waiting up to `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            hit = next((r for r in self.received if text in r.get("title", "")), None)
            if hit is not None:
                return hit
            time.sleep(0.05)
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
