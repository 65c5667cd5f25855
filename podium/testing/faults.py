"""A fault-injection proxy: put it between a connector and any sandbox to break the transport on purpose.

``FaultProxy`` is a threaded HTTP proxy on 127.0.0.1 that forwards every request to one upstream
(an HTTP sandbox, the SOAP sandbox, moto's S3 server) and answers some of them with a fault instead,
chosen by a ``FaultPlan``: per request number, at random from a seed, or from a request number on::

    with FaultProxy(sandbox.url, FaultPlan.seeded(7, rate=0.3)) as proxy:
        settings = {"base_url": proxy.url, ...}      # the connector talks to the proxy

The faults are the ones vendors really produce (``Fault``): a connection reset, a body cut short
under its original Content-Length (the client sees IncompleteRead), a body cut short under a
Content-Length that matches the cut (the transfer looks complete but the document cannot be read),
a stall longer than the client's read timeout, a 503, and a 429 with ``Retry-After``.

Each request is answered on its own connection (``Connection: close``), so one fault never spills
into the next request. Absolute URLs of the upstream in an answer (next-page links) are rewritten to
the proxy, so later pages go through it too. Loopback only; for tests and ``bench/``.
"""

from __future__ import annotations

import enum
import http.client
import random
import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class Fault(enum.Enum):
    """What the proxy does to one request instead of answering it faithfully."""

    RESET = "reset"  # the connection is reset (RST) before any answer
    TRUNCATE = "truncate"  # half the body, original Content-Length: the client's read ends short
    TRUNCATE_MATCHING = "truncate_matching"  # half the body, Content-Length says half: "complete", unreadable
    STALL = "stall"  # no answer for longer than the client's read timeout
    SERVER_ERROR = "server_error"  # 503 Service Unavailable
    RATE_LIMITED = "rate_limited"  # 429 Too Many Requests with Retry-After


ALL_FAULTS = tuple(Fault)
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
               "expect", "content-length"}


@dataclass(frozen=True)
class Seen:
    """One request as the proxy saw it: its number (from 1), method, path and the fault it got."""

    number: int
    method: str
    path: str
    fault: Fault | None


class FaultPlan:
    """Which fault (or None) request number ``n`` gets; build one with the class methods."""

    def __init__(self, choose: Callable[[int, str, str], Fault | None]) -> None:
        self._choose = choose

    def __call__(self, number: int, method: str, path: str) -> Fault | None:
        return self._choose(number, method, path)

    @classmethod
    def none(cls) -> FaultPlan:
        """Forward everything faithfully."""
        return cls(lambda number, method, path: None)

    @classmethod
    def at(cls, faults: Mapping[int, Fault]) -> FaultPlan:
        """Exactly these request numbers get these faults."""
        table = dict(faults)
        return cls(lambda number, method, path: table.get(number))

    @classmethod
    def seeded(cls, seed: int, *, rate: float = 0.3, kinds: tuple[Fault, ...] = ALL_FAULTS,
               max_in_a_row: int = 2) -> FaultPlan:
        """Random faults at ``rate`` from ``seed``, never more than ``max_in_a_row`` in a row.

        With ``max_in_a_row`` below the client's retry budget every request eventually gets through,
        so a sync through this plan must end with the store a fault-free sync gives. Kinds are dealt
        from a shuffled deck, so every kind comes up once in each ``len(kinds)`` faults.
        """
        rng = random.Random(seed)
        lock = threading.Lock()
        streak = [0]
        deck: list[Fault] = []

        def choose(number: int, method: str, path: str) -> Fault | None:
            with lock:
                if streak[0] >= max_in_a_row or rng.random() >= rate:
                    streak[0] = 0
                    return None
                streak[0] += 1
                if not deck:
                    deck.extend(rng.sample(kinds, len(kinds)))
                return deck.pop()

        return cls(choose)

    @classmethod
    def from_request(cls, first: int, fault: Fault, *,
                     only: Callable[[str, str], bool] | None = None) -> FaultPlan:
        """Every request from number ``first`` on (that ``only(method, path)`` accepts) gets ``fault``:
        a vendor that breaks down mid-sync and stays broken."""
        return cls(lambda number, method, path: fault if number >= first and (only is None or only(method, path))
                   else None)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # clients that hang up (after a stall, on a reset) are the point of this server


class FaultProxy:
    """A threaded fault-injecting HTTP proxy in front of ``upstream`` (a base URL on loopback)."""

    def __init__(self, upstream: str, plan: FaultPlan | None = None, *, stall_seconds: float = 5.0,
                 retry_after: int = 0, rewrite_urls: bool = True) -> None:
        parts = urlsplit(upstream)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the fault proxy forwards to loopback only, not {parts.hostname}")
        self.upstream_host, self.upstream_port = parts.hostname, parts.port or 80
        self.upstream_root = f"{parts.scheme}://{parts.netloc}"
        self.upstream_path = parts.path.rstrip("/")
        self.plan = plan or FaultPlan.none()
        self.stall_seconds, self.retry_after, self.rewrite_urls = stall_seconds, retry_after, rewrite_urls
        self.seen: list[Seen] = []
        self._count = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> str:
        """Listen on a free loopback port; returns the proxy's URL (the upstream's path included)."""
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True).start()
        return self.url

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root(self) -> str:
        assert self._server is not None, "fault proxy not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        """The upstream URL with the proxy's address: give this to the connector as its base URL."""
        return self.root + self.upstream_path

    def use(self, plan: FaultPlan) -> None:
        """Switch to ``plan`` and count requests from 1 again (one proxy, so one URL, for every run)."""
        with self._lock:
            self.plan, self._count, self.seen = plan, 0, []

    def faults(self) -> list[Seen]:
        """The requests that got a fault."""
        with self._lock:
            return [s for s in self.seen if s.fault is not None]

    # -- one request -------------------------------------------------------------------------------
    def _number(self, method: str, path: str) -> tuple[int, Fault | None]:
        with self._lock:
            self._count += 1
            number = self._count
        fault = self.plan(number, method, path)
        with self._lock:
            self.seen.append(Seen(number, method, path, fault))
        return number, fault

    def _forward(self, method: str, target: str, headers: list[tuple[str, str]],
                 body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP:
                    conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.putheader("Connection", "close")
            conn.endheaders(body or None)
            response = conn.getresponse()
            data = response.read()
            return response.status, response.reason, response.getheaders(), data
        finally:
            conn.close()

    def _rewrite(self, data: bytes) -> bytes:
        if not self.rewrite_urls:
            return data
        return data.replace(self.upstream_root.encode(), self.root.encode())


def _handler_for(proxy: FaultProxy) -> type[socketserver.StreamRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            request_line = self.rfile.readline(65537).decode("latin-1")
            if not request_line.strip():
                return
            method, target, _ = request_line.split(" ", 2)
            headers: list[tuple[str, str]] = []
            while True:
                line = self.rfile.readline(65537).decode("latin-1")
                if line in ("\r\n", "\n", ""):
                    break
                name, _, value = line.partition(":")
                headers.append((name.strip(), value.strip()))
            length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
            body = self.rfile.read(length) if length else b""
            _, fault = proxy._number(method, target)
            if fault is Fault.RESET:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                return
            if fault is Fault.STALL:
                proxy._stopping.wait(proxy.stall_seconds)
                return
            if fault is Fault.SERVER_ERROR:
                self._answer(503, "Service Unavailable", [("Content-Type", "application/json")],
                             b'{"error": "injected 503"}')
                return
            if fault is Fault.RATE_LIMITED:
                self._answer(429, "Too Many Requests", [("Content-Type", "application/json"),
                                                       ("Retry-After", str(proxy.retry_after))],
                             b'{"error": "injected 429"}')
                return
            status, reason, upstream_headers, data = proxy._forward(method, target, headers, body)
            kept = [(k, v) for k, v in upstream_headers if k.lower() not in _HOP_BY_HOP]
            data = proxy._rewrite(data)
            if fault is Fault.TRUNCATE:
                self._answer(status, reason, kept, data[:len(data) // 2], length=len(data))
            elif fault is Fault.TRUNCATE_MATCHING:
                self._answer(status, reason, kept, data[:len(data) // 2])
            else:
                self._answer(status, reason, kept, data)

        def _answer(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes,
                    length: int | None = None) -> None:
            head = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
            head += [f"Content-Length: {len(body) if length is None else length}", "Connection: close"]
            try:
                self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
                self.wfile.flush()
            except OSError:
                return  # the client gave up already

    return Handler
