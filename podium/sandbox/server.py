"""Base of the vendor sandboxes: small HTTP servers that behave as each vendor's public docs say.

A vendor sandbox subclasses ``Sandbox`` and implements ``route``; this base gives it a threaded
server on loopback, a documented rate limit answered with 429 + ``Retry-After``, fault injection
for tests (``inject(status, count)`` in-process, or ``POST /__sandbox/inject?status=503&count=2``
from another process), raw answers queued for garbage/attack tests (``serve_raw``), and a request
log (method, path, sanitized query) for assertions. Transport faults below HTTP (resets, cut bodies,
stalls) are ``podium.testing.faults.FaultProxy``'s job: put it in front of any sandbox.

A route may raise ``Refused`` (the kit's auth and paging checkers do): the base answers it with the
vendor's ``error`` hook, so every refusal has the vendor's error shape.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from podium.sandbox.faults import InjectedFaults, inject_request


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(data, ensure_ascii=False).encode()
        return cls(status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})

    @classmethod
    def xml(cls, text: str | bytes, status: int = 200, content_type: str = "text/xml; charset=utf-8") -> Response:
        body = text.encode() if isinstance(text, str) else text
        return cls(status, body, {"Content-Type": content_type})


class Refused(Exception):
    """A request the vendor refuses: ``status`` and ``message``, plus the vendor's error ``kind`` if any."""

    def __init__(self, status: int, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that went away (a killed sync) is not a sandbox error
        super().handle_error(request, client_address)


class Sandbox:
    """A vendor sandbox. Subclasses set ``name`` and implement ``route``."""

    name = "sandbox"
    # Documented rate limit: at most ``rate_limit_requests`` per ``rate_limit_window`` seconds.
    rate_limit_requests = 50
    rate_limit_window = 1.0
    retry_after_seconds = 1

    def __init__(self, *, seed: int = 7) -> None:
        self.seed = seed
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.faults = InjectedFaults()
        self._raw_answers: deque[tuple[int, bytes]] = deque()
        self._window: deque[float] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- to implement --------------------------------------------------------------------------
    def route(self, request: Request) -> Response:
        """Answer one request as the vendor would."""
        raise NotImplementedError

    # -- test controls -------------------------------------------------------------------------
    def inject(self, status: int, count: int = 1, retry_after: int | None = None) -> None:
        """Answer the next ``count`` requests with ``status`` (429 gets ``Retry-After``)."""
        self.faults.add(status, count, retry_after)

    def serve_raw(self, body: bytes, count: int = 1, status: int = 200) -> None:
        """Queue ``body`` as the next ``count`` data answers (truncated JSON, attack XML, ...).

        The vendor's route takes them with ``take_raw`` at the point where it would answer data, so
        auth and parameter checks still run first.
        """
        with self._lock:
            for _ in range(count):
                self._raw_answers.append((status, body))

    def take_raw(self) -> tuple[int, bytes] | None:
        """The next queued raw answer (status, body), or None."""
        with self._lock:
            return self._raw_answers.popleft() if self._raw_answers else None

    def reset_rate_limit(self) -> None:
        """Forget the requests counted in the rate-limit window (tests sharing one sandbox: a test's burst
        must not cost the next test's first request a 429)."""
        with self._lock:
            self._window.clear()

    def clear_faults(self) -> None:
        """Drop injected answers that were not used."""
        self.faults.clear()

    # -- serving -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "sandbox not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a background thread; returns the base URL."""
        self._server = _QuietServer((host, port), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"{self.name}-sandbox", daemon=True)
        self._thread.start()
        return self.url

    def serve_forever(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve in the foreground (``podium sandbox``)."""
        self._server = _QuietServer((host, port), _handler_for(self))
        self._server.serve_forever()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request pipeline ----------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        """Controls, injected faults and the rate limit, then the vendor route."""
        if request.path.startswith("/__sandbox/"):
            return self._control(request)
        with self._lock:
            self.requests.append((request.method, request.path, _sanitized(request.query)))
            fault = self.faults.next()
            if fault is not None:
                status, retry_after = fault
                headers = {"Retry-After": str(retry_after if retry_after is not None else self.retry_after_seconds)}
                return Response.json({"error": f"injected {status}"}, status,
                                     headers if status in (429, 503) else None)
            now = time.monotonic()
            while self._window and now - self._window[0] > self.rate_limit_window:
                self._window.popleft()
            if len(self._window) >= self.rate_limit_requests:
                return self.rate_limited()
            self._window.append(now)
        try:
            return self.route(request)
        except Refused as refusal:
            return self.error(refusal)
        except Exception as exc:  # a sandbox bug must look like a vendor 500, not hang the client
            return Response.json({"error": f"sandbox error: {type(exc).__name__}: {exc}"}, 500)

    def rate_limited(self) -> Response:
        """The vendor's 429 answer (override for vendor-specific bodies)."""
        return Response.json({"error": "Too Many Requests"}, 429, {"Retry-After": str(self.retry_after_seconds)})

    def error(self, refusal: Refused) -> Response:
        """The vendor's answer to a refused request (override for the vendor's error shape)."""
        return Response.json({"error": refusal.message}, refusal.status)

    def _control(self, request: Request) -> Response:
        if request.path == "/__sandbox/inject":
            status, count, retry_after = inject_request(request.query)
            self.inject(status, count, retry_after)
            return Response.json({"injected": status, "count": count})
        if request.path == "/__sandbox/health":
            return Response.json({"sandbox": self.name, "ok": True})
        return Response.json({"error": "unknown control"}, 404)


_SECRET_PARAMS = {"api_key", "apikey", "key", "token", "access_token", "client_secret", "password", "secret"}


def _sanitized(query: dict[str, list[str]]) -> dict[str, list[str]]:
    return {k: (["***"] if k.lower() in _SECRET_PARAMS else v) for k, v in query.items()}


def _handler_for(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                              {k: v for k, v in self.headers.items()}, body)
            response = sandbox.dispatch(request)
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read .requests instead
            return

    return Handler
