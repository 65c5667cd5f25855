"""The UWP sandbox: a moto S3 server on loopback with seeded data-product drops.

moto's S3 (``moto.server``) runs in a thread behind a small WSGI layer of ours that seeds drops
and injects faults. Credentials are checked: moto's IAM authentication is switched on
(``settings.INITIAL_NO_AUTH_ACTION_COUNT = 0``, the switch behind ``set_initial_no_auth_action_count``)
and one IAM user with fixed, public test keys may read S3; any other key answers 403
``InvalidAccessKeyId``, a wrong secret 403 ``SignatureDoesNotMatch``, as AWS does.

A drop is seeded on first use of a bucket, under the prefix of that first request, from the
bucket/prefix name (the same name gives the same bytes), so every demo house can have its own.
The default drop has the real sample rows plus generated Flemish rows, an activities file with a
UTF-8 BOM, participants and performers in cp1252, and one malformed participation row.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qs

from connectors.uwp.data import Drop, build_drop, mutate_drop, newest_change
from podium import clock
from podium.sandbox.faults import InjectedFaults, inject_request

ACCOUNT = "123456789012"  # moto's default account
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_ERRORS = {
    400: ("BadRequest", "Bad Request"),
    401: ("AccessDenied", "Access Denied"),
    403: ("AccessDenied", "Access Denied"),
    429: ("SlowDown", "Please reduce your request rate."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("SlowDown", "Please reduce your request rate."),
}


class UwpSandbox:
    """moto S3 on loopback with seeded UWP drops, ``mutate``, fault injection and checked credentials."""

    name = "uwp"
    default_port = 8705
    region = "eu-west-1"
    # Fixed test credentials of the sandbox's IAM user (public, never valid anywhere else).
    access_key_id = "AKIAUWPSANDBOX000001"
    secret_access_key = "uwp-sandbox-secret-0000000000000000000001"
    # moto keeps one S3 and IAM state per process: sandboxes running side by side share it, so
    # buckets and the IAM switch are reference-counted across instances.
    _auth_users: ClassVar[int] = 0
    _bucket_users: ClassVar[dict[str, int]] = {}
    _auth_lock = threading.Lock()

    def __init__(self, *, seed: int = 7, bucket: str = "uwp-demo", prefix: str = "dataproduct/",
                 require_auth: bool = True, malformed_row: bool = True, activities: int = 36,
                 participants: int = 60, participations: int = 150, today: date | None = None) -> None:
        self.seed = seed
        # The drops hold a fixed 2024-25 season; ``today`` (default podium.clock.today()) dates changes.
        self.today = today or clock.today(UTC)
        self.bucket = bucket
        self.prefix = prefix
        self.require_auth = require_auth
        self.sizes = {"activities": activities, "participants": participants, "participations": participations}
        self.malformed_row = malformed_row
        self.drops: dict[tuple[str, str], Drop] = {}
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.faults = InjectedFaults()
        self._lock = threading.RLock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._turn = 0
        self._last_change: datetime | None = None
        self._auth_on = False

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The S3 endpoint URL (``endpoint_url`` in a house config)."""
        assert self._server is not None, "sandbox not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a background thread; returns the endpoint URL."""
        self._server = self._make_server(host, port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="uwp-sandbox", daemon=True)
        self._thread.start()
        return self.url

    def serve_forever(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve in the foreground (``podium sandbox uwp``)."""
        self._server = self._make_server(host, port)
        try:
            self._server.serve_forever()
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving, drop the seeded buckets and switch IAM checks off again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock, UwpSandbox._auth_lock:
            for bucket in {bucket for bucket, _ in self.drops}:
                UwpSandbox._bucket_users[bucket] -= 1
                if UwpSandbox._bucket_users[bucket] <= 0:
                    del UwpSandbox._bucket_users[bucket]
                    self._delete_bucket(bucket)
            self.drops.clear()
            self.faults.clear()
        self._auth(False)

    def __enter__(self) -> UwpSandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _make_server(self, host: str, port: int) -> Any:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        class QuietHandler(MotoRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:  # tests read .requests instead
                return None

        self._ensure_user()
        self.seed_drop(self.bucket, self.prefix)
        self._auth(self.require_auth)
        app = DomainDispatcherApplication(create_backend_app)
        return make_server(host, port, self._middleware(app), threaded=True, request_handler=QuietHandler)

    # -- test controls -------------------------------------------------------------------------
    def inject(self, status: int, count: int = 1, retry_after: int | None = None) -> None:
        """Answer the next ``count`` S3 requests with ``status`` as S3 does (XML error, Retry-After)."""
        self.faults.add(status, count, retry_after)

    def clear_faults(self) -> None:
        """Forget injected faults not yet served."""
        self.faults.clear()

    def mutate(self, count: int) -> list[str]:
        """Re-upload the activity, participant and participation files with ``count`` rows each
        modified on ``today``; returns the vendor ids of the changed rows."""
        with self._lock:
            # Changes happen on ``today``, but after every change the drops already hold (even in the same second).
            now = clock.moment_on(self.today, UTC)
            stamps = [s for s in (self._last_change, *map(newest_change, self.drops.values())) if s is not None]
            if stamps and now <= max(stamps):
                now = max(stamps) + timedelta(seconds=1)
            self._last_change = now
            changed: list[str] = []
            for (bucket, prefix), drop in self.drops.items():
                ids = mutate_drop(drop, count, now, self._turn)
                changed.extend(ids)
                for name in ("activiteit_results.csv", "participant_results.csv", "deelname_results.csv"):
                    self._put(bucket, prefix + name, drop[name].render())
            self._turn += 1
            return changed

    def seed_drop(self, bucket: str, prefix: str = "") -> Drop:
        """Create ``bucket`` (if needed) and upload a drop under ``prefix`` seeded from their names."""
        with self._lock:
            backend = self._s3()
            if bucket not in backend.buckets:
                backend.create_bucket(bucket, self.region)
            drop = self.drops.get((bucket, prefix))
            if drop is None:
                name = f"{bucket}/{prefix}" if self.seed == 7 else f"{bucket}/{prefix}#{self.seed}"
                drop = build_drop(name, malformed_row=self.malformed_row, **self.sizes)
                self.drops[(bucket, prefix)] = drop
                with UwpSandbox._auth_lock:
                    if not any(b == bucket for b, p in self.drops if p != prefix):
                        UwpSandbox._bucket_users[bucket] = UwpSandbox._bucket_users.get(bucket, 0) + 1
            for file in drop.files.values():
                self._put(bucket, prefix + file.name, file.render())
            return drop

    # -- moto plumbing -------------------------------------------------------------------------
    @staticmethod
    def _s3() -> Any:
        from moto.s3.models import s3_backends

        return s3_backends[ACCOUNT]["aws"]

    def _put(self, bucket: str, key: str, body: bytes) -> None:
        self._s3().put_object(bucket, key, body)

    def _delete_bucket(self, bucket: str) -> None:
        backend = self._s3()
        if bucket in backend.buckets:
            for key in list(backend.buckets[bucket].keys.keys()):
                backend.delete_object(bucket, key)
            backend.delete_bucket(bucket)

    def _ensure_user(self) -> None:
        """The IAM user whose fixed keys may read S3 (created once per process)."""
        from moto.iam.models import iam_backends

        iam = iam_backends[ACCOUNT]["aws"]
        if "uwp-reader" in iam.users:
            return
        iam.create_user(self.region, "uwp-reader")
        key = iam.create_access_key("uwp-reader")
        del iam.access_keys[key.physical_resource_id]
        key.access_key_id, key.secret_access_key = self.access_key_id, self.secret_access_key
        iam.access_keys[self.access_key_id] = key
        iam.put_user_policy("uwp-reader", "read-drops", json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject", "s3:HeadObject",
                                                         "s3:GetBucketLocation"], "Resource": "*"}],
        }))

    def _auth(self, on: bool) -> None:
        """Switch moto's IAM checks on while any sandbox that wants them runs (a process-wide setting)."""
        from moto import settings

        with UwpSandbox._auth_lock:
            if on and not self._auth_on:
                UwpSandbox._auth_users += 1
            elif not on and self._auth_on:
                UwpSandbox._auth_users -= 1
            self._auth_on = on
            settings.INITIAL_NO_AUTH_ACTION_COUNT = 0 if UwpSandbox._auth_users > 0 else float("inf")

    def _middleware(self, app: Any) -> Any:
        def serve(environ: dict[str, Any], start_response: Any) -> Any:
            path = environ.get("PATH_INFO", "") or "/"
            query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            if path == "/__sandbox/health":
                return _reply(start_response, 200, json.dumps({"sandbox": self.name, "ok": True}).encode(),
                              "application/json")
            if path == "/__sandbox/inject":
                status, count, retry_after = inject_request(query)
                self.inject(status, count, retry_after)
                return _reply(start_response, 200, json.dumps({"injected": status, "count": count}).encode(),
                              "application/json")
            if path == "/__sandbox/mutate":
                ids = self.mutate(int((query.get("count") or ["1"])[0]))
                return _reply(start_response, 200, json.dumps({"changed": ids}).encode(), "application/json")
            with self._lock:
                self.requests.append((environ.get("REQUEST_METHOD", "GET"), path, query))
            fault = self.faults.next()
            if fault is not None:
                status, retry_after = fault
                code, message = _ERRORS.get(status, ("InternalError", "Injected error"))
                body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                        f"<Message>{message}</Message><RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId>"
                        "</Error>").encode()
                headers = [("Retry-After", str(retry_after or 1))] if status in (429, 503) else []
                return _reply(start_response, status, body, "application/xml", headers)
            bucket = path.lstrip("/").split("/", 1)[0]
            if _BUCKET_NAME.match(bucket) and not bucket.startswith("moto-api"):
                with self._lock:
                    if bucket not in self._s3().buckets:  # new, or dropped by another sandbox's stop()
                        known = [p for b, p in self.drops if b == bucket]
                        for prefix in known or [(query.get("prefix") or [""])[0]]:
                            self.seed_drop(bucket, prefix)
            return app(environ, start_response)

        return serve


def _reply(start_response: Any, status: int, body: bytes, content_type: str,
           headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    from http import HTTPStatus

    start_response(f"{status} {HTTPStatus(status).phrase}",
                   [("Content-Type", content_type), ("Content-Length", str(len(body))), *(headers or [])])
    return [body]
