"""LoopbackServer: a stdlib HTTP server on 127.0.0.1 in a background thread, with vendor-agnostic
latency, concurrency / rate limits, random failures, scripted replies and a request log.

Vendor subclasses (OpenAIServer, ElevenLabsServer) implement the hooks at the bottom:
``check_auth``, ``error_reply``, ``route``, ``decorate`` and optionally ``is_public``.

Request handling order for each request:

1. read and parse the body; take the lock, stamp ``t_start``, append the Record to ``requests``;
2. a pending ``script()`` reply, if any, is sent verbatim (after its ``delay``): no auth, no limits;
3. public paths (e.g. generated image URLs) are routed at once: no auth, no limits;
4. with ``echo_auth()`` on: an error that echoes the request's credentials; else auth → 401;
5. admission, atomically under the lock: ``pause_until`` → 429, ``max_concurrency`` → 429, ``rate`` → 429
   (a 429 does not count as in flight nor as a start in the rate window);
6. ``fail_rate`` → 500 (a seeded draw per admitted request, so the sequence of outcomes is deterministic);
7. sleep ``latency``; route → response;
8. the in-flight count is decremented and ``t_end`` stamped *before* the response bytes are written, so a
   client that waits for a response before sending the next request can never see a spurious 429 and the
   log's [t_start, t_end] intervals overlap at most ``max_concurrency`` times.
"""

from __future__ import annotations

import json
import math
import random
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["LoopbackServer", "Record", "Reply", "format_retry_after"]


@dataclass
class Record:
    """One request as the server saw it. ``status`` is None while the request is being handled."""

    path: str  # without the query string
    method: str
    headers: dict[str, str]  # lower-case keys
    json: Any  # parsed JSON body, or None (no body / not JSON)
    status: int | None
    t_start: float  # time.monotonic()
    t_end: float | None = None
    query: dict[str, str] = field(default_factory=dict)
    body: bytes = field(default=b"", repr=False)
    scripted: bool = False  # answered by a script() reply
    aborted: bool = False  # the client was gone when we wrote the response


@dataclass
class Reply:
    """A response. ``body`` may be bytes, str, or any JSON-able object (sent as application/json).

    ``delay``: seconds to wait before answering. ``close``: drop the connection without answering
    (the client sees a connection error).
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = b""
    delay: float = 0.0
    close: bool = False

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = {k.lower(): str(v) for k, v in self.headers.items()}
        body = self.body
        if isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
            headers.setdefault("content-type", "text/plain; charset=utf-8")
        else:
            data = json.dumps(body).encode()
            headers.setdefault("content-type", "application/json")
        return data, headers


def format_retry_after(seconds: float) -> str:
    """Integer seconds when whole (the RFC form), else a decimal (the openai SDK parses floats)."""
    if float(seconds).is_integer():
        return str(int(seconds))
    return f"{seconds:g}"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for idle keep-alive connections
    request_queue_size = 128  # a burst of concurrent connects must not overflow the listen backlog
    owner: LoopbackServer

    def handle_error(self, request, client_address):  # noqa: ARG002 - quiet: clients hang up in tests
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs
    server_version = "loopback/1.0"
    sys_version = ""
    server: _HTTPServer

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
        pass

    def setup(self):
        super().setup()
        # headers and body go out in two writes: without NODELAY, Nagle + delayed ACK add ~40 ms per response
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.owner._track(self.connection, add=True)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.owner._track(self.connection, add=False)

    def _dispatch(self):
        self.server.owner._serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch


class LoopbackServer:
    """Context manager; ``start()`` returns self; ``url`` is ``http://127.0.0.1:PORT``."""

    name = "loopback"
    auth_header = "authorization"  # the request header that carries the key (echoed by echo_auth)

    def __init__(
        self,
        *,
        latency: float = 0.0,
        max_concurrency: int | None = None,
        rate: tuple[int, float] | None = None,
        retry_after: float | None = None,
        fail_rate: float = 0.0,
        seed: int = 0,
        api_key: str = "test-key",
    ):
        self.latency = latency
        self.max_concurrency = max_concurrency
        self.rate = rate
        self.retry_after = retry_after
        self.fail_rate = fail_rate
        self.api_key = api_key
        self.requests: list[Record] = []
        self.peak_in_flight = 0
        self.url: str = ""
        self.port: int = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._script: deque[Reply] = deque()
        self._echo: deque[int] = deque()
        self._starts: deque[float] = deque()
        self._in_flight = 0
        self._paused_until = 0.0
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----- lifecycle -------------------------------------------------------------------------
    def start(self) -> LoopbackServer:
        if self._httpd is not None:
            return self
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stopping.clear()
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{self.name}-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping in latency / delay
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # end handler threads parked on idle keep-alive connections
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ----- test controls ---------------------------------------------------------------------
    def script(self, *replies: Reply) -> None:
        """The next len(replies) requests get these replies verbatim, before any normal handling."""
        with self._lock:
            self._script.extend(replies)

    def echo_auth(self, *statuses: int) -> None:
        """From now on answer every non-public request with an error that echoes its credentials.

        Like a careless vendor: the whole key and a truncated prefix in the message, its last
        characters, the key in a ``www-authenticate`` / ``x-echo-credentials`` header and a
        truncated one as the request id. ``statuses`` are used in turn; the last one repeats.
        A ``script()`` reply still comes first.
        """
        with self._lock:
            self._echo = deque(statuses or (401,))

    def echo_reply(self, rec: Record, status: int) -> Reply:
        cred = rec.headers.get(self.auth_header, "")
        token = cred.split(" ", 1)[-1]
        message = (
            f"Invalid credentials {cred!r}. Received {self.auth_header}: {cred[: max(6, len(cred) * 2 // 3)]}... "
            f"(a key ending in ...{token[-12:]})"
        )
        reply = self.error_reply(status, "invalid_api_key", message, retry_after=0 if status == 429 else None)
        reply.headers.update({
            "x-request-id": cred[:20], "request-id": cred[:20], "x-echo-credentials": cred,
            "www-authenticate": f'Bearer realm="api", error="invalid_token", token="{token}"',
        })  # fmt: skip
        return reply

    def pause_until(self, t: float) -> None:
        """Answer 429 (Retry-After = seconds left, ceil, >= 1) until time.monotonic() >= t."""
        with self._lock:
            self._paused_until = t

    def clear(self) -> None:
        """Forget the request log and the rate window (not the script)."""
        with self._lock:
            self.requests.clear()
            self._starts.clear()
            self.peak_in_flight = self._in_flight

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def completed(self, status: int | None = None, path: str | None = None) -> list[Record]:
        """Finished records, optionally filtered by status and/or path."""
        with self._lock:
            recs = list(self.requests)
        return [
            r
            for r in recs
            if r.status is not None and (status is None or r.status == status) and (path is None or r.path == path)
        ]

    # ----- hooks for vendor subclasses -------------------------------------------------------
    def is_public(self, rec: Record) -> bool:
        """Paths served without auth and limits (e.g. generated file URLs)."""
        return False

    def check_auth(self, rec: Record) -> Reply | None:
        """Return a 401 Reply if the request is not authorised."""
        return None

    def error_reply(self, status: int, code: str, message: str, *, retry_after: float | None = None) -> Reply:
        """A vendor-shaped error. Codes used by the base: missing_api_key, invalid_api_key, paused,
        too_many_concurrent_requests, rate_limited, server_error, not_found."""
        headers = {"retry-after": format_retry_after(retry_after)} if retry_after is not None else {}
        return Reply(status, headers, {"error": {"code": code, "message": message}})

    def route(self, rec: Record) -> Reply:
        return self.error_reply(404, "not_found", f"no route for {rec.method} {rec.path}")

    def decorate(self, rec: Record, reply: Reply) -> None:
        """Add per-vendor headers to every non-scripted reply (called while still counted in flight)."""

    # ----- internals -------------------------------------------------------------------------
    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _retry_after(self, natural: float) -> float:
        if self.retry_after is not None:
            return self.retry_after
        return max(1, math.ceil(natural - 1e-9))

    def _admit(self, now: float) -> Reply | None:
        """Under the lock: a 429 Reply, or None after counting the request in flight."""
        if now < self._paused_until:
            return self.error_reply(
                429, "paused", "The service is busy; retry later.", retry_after=self._retry_after(self._paused_until - now)
            )
        if self.max_concurrency is not None and self._in_flight >= self.max_concurrency:
            return self.error_reply(
                429,
                "too_many_concurrent_requests",
                f"Too many concurrent requests: the limit is {self.max_concurrency}.",
                retry_after=self._retry_after(1),
            )
        if self.rate is not None:
            calls, period = self.rate
            while self._starts and self._starts[0] <= now - period:
                self._starts.popleft()
            if len(self._starts) >= calls:
                return self.error_reply(
                    429,
                    "rate_limited",
                    f"Rate limit reached: {calls} requests per {period:g} s.",
                    retry_after=self._retry_after(self._starts[0] + period - now),
                )
            self._starts.append(now)
        self._in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        return None

    @staticmethod
    def _read_body(h: BaseHTTPRequestHandler) -> bytes:
        if "chunked" in h.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(h.rfile.read(size))
                h.rfile.readline()
        length = int(h.headers.get("Content-Length") or 0)
        return h.rfile.read(length) if length else b""

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        body = self._read_body(h)
        parsed = None
        if body and body.lstrip()[:1] in (b"{", b"["):
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        rec = Record(
            path=split.path,
            method=h.command,
            headers={k.lower(): v for k, v in h.headers.items()},
            json=parsed,
            status=None,
            t_start=0.0,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            body=body,
        )
        counted = fail = False
        with self._lock:
            rec.t_start = time.monotonic()
            self.requests.append(rec)
            scripted = self._script.popleft() if self._script else None
        try:
            if scripted is not None:
                rec.scripted = True
                self._sleep(scripted.delay)
                self._send(h, rec, scripted)
                return
            if self.is_public(rec):
                reply = self.route(rec)
                self.decorate(rec, reply)
                self._send(h, rec, reply)
                return
            with self._lock:
                echo = (self._echo.popleft() if len(self._echo) > 1 else self._echo[0]) if self._echo else None
            reply = self.echo_reply(rec, echo) if echo is not None else self.check_auth(rec)
            if reply is None:
                with self._lock:
                    reply = self._admit(time.monotonic())
                    if reply is None:
                        counted = True
                        rec.t_start = time.monotonic()  # admission time: consistent with the in-flight count
                        fail = self.fail_rate > 0 and self._rng.random() < self.fail_rate
                if counted:
                    if fail:
                        reply = self.error_reply(500, "server_error", "The server had an error processing your request.")
                    else:
                        self._sleep(self.latency)
                        try:
                            reply = self.route(rec)
                        except Exception as exc:  # a bug in a responder: answer 500, keep serving
                            reply = self.error_reply(500, "server_error", f"{type(exc).__name__}: {exc}")
            self.decorate(rec, reply)
            if counted:
                with self._lock:
                    self._in_flight -= 1
                    rec.t_end = time.monotonic()
                    counted = False
            self._send(h, rec, reply)
        finally:
            if counted:  # an exception before the decrement
                with self._lock:
                    self._in_flight -= 1
            if rec.t_end is None:
                rec.t_end = time.monotonic()

    def _send(self, h: BaseHTTPRequestHandler, rec: Record, reply: Reply) -> None:
        rec.status = reply.status
        if reply.close:
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        data, headers = reply.encoded()
        try:
            h.send_response(reply.status)
            for k, v in headers.items():
                if k not in ("content-length", "server", "date"):
                    h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            h.wfile.flush()
        except OSError:
            rec.aborted = True
            h.close_connection = True


def new_id(prefix: str = "") -> str:
    return prefix + uuid.uuid4().hex
