"""A webhook receiver on 127.0.0.1 for the tests: verifies every request with the
``standardwebhooks`` library and answers 2xx, or 503 while it is "down".

``Receiver.reserve()`` picks a port with nothing listening on it yet (connection refused until
``start()``), so a test can have a receiver that is down, then up, on the same URL.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass
class Delivery:
    id: str
    type: str
    body: dict[str, Any]
    verified: bool
    status: int


class Receiver:
    def __init__(self, secret: str, port: int = 0):
        self.hook = Webhook(secret)
        self.port = port
        self.down = False  # True: answer 503 to everything
        self.accepted: list[Delivery] = []  # answered 2xx
        self.refused: list[Delivery] = []  # answered 503
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @classmethod
    def reserve(cls, secret: str) -> Receiver:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        return cls(secret, port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    receiver.hook.verify(raw, headers)
                    verified = True
                except Exception:  # noqa: BLE001 - a bad signature is recorded, the test asserts on it
                    verified = False
                with receiver.lock:
                    status = 503 if receiver.down else (204 if verified else 400)
                    d = Delivery(headers.get("webhook-id", ""), json.loads(raw).get("type", ""), json.loads(raw), verified, status)
                    (receiver.refused if status == 503 else receiver.accepted).append(d)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def ids(self) -> Counter:
        with self.lock:
            return Counter(d.id for d in self.accepted)

    def types(self) -> Counter:
        with self.lock:
            return Counter(d.type for d in self.accepted)
