"""Auth and paging checks every vendor sandbox needs, raising ``Refused`` in the vendor's words.

Each check takes the messages the vendor really answers, so a sandbox keeps its error texts while
the parsing and the bounds live here; the base ``Sandbox`` renders a ``Refused`` with the vendor's
``error`` hook.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping

from podium.sandbox.server import Refused, Request


def header(request: Request, name: str) -> str | None:
    """A request header, whatever its case."""
    wanted = name.lower()
    return next((value for key, value in request.headers.items() if key.lower() == wanted), None)


def int_params(request: Request, defaults: Mapping[str, int], message: str, *, status: int = 400,
               kind: str = "") -> dict[str, int]:
    """The named integer query parameters (``defaults`` when absent or empty); non-numbers are refused."""
    try:
        return {name: int(request.arg(name, str(default)) or default) for name, default in defaults.items()}
    except ValueError:
        raise Refused(status, message, kind) from None


def require(condition: bool, status: int, message: str, kind: str = "") -> None:
    """Refuse the request unless ``condition`` holds (a bound on a page parameter, a known value)."""
    if not condition:
        raise Refused(status, message, kind)


def api_key_param(request: Request, name: str, expected: str, *, missing: str, repeated: str | None = None,
                  status: int = 401, kind: str = "") -> None:
    """Check an API key sent as query parameter ``name``; ``repeated`` set refuses one given twice (400)."""
    keys = request.query.get(name, [])
    if repeated is not None and len(keys) > 1:
        raise Refused(400, repeated, kind)
    if not keys or not hmac.compare_digest(keys[0].encode(), expected.encode()):
        raise Refused(status, missing, kind)


def api_key_header(request: Request, name: str, expected: str, *, missing: str, status: int = 401,
                   kind: str = "") -> None:
    """Check an API key sent in header ``name``."""
    key = header(request, name)
    if key is None or not hmac.compare_digest(key.encode(), expected.encode()):
        raise Refused(status, missing, kind)


def bearer_token(request: Request, *, missing: str, malformed: str, status: int = 401, kind: str = "") -> str:
    """The token of an ``Authorization: Bearer`` header; a missing or other scheme is refused."""
    authorization = header(request, "Authorization")
    if not authorization:
        raise Refused(status, missing, kind)
    if not authorization.startswith("Bearer "):
        raise Refused(status, malformed, kind)
    return authorization[len("Bearer "):]


def basic_auth(request: Request, users: Mapping[str, str], *, message: str, status: int = 401,
               kind: str = "") -> str:
    """The user of a valid ``Authorization: Basic`` header (checked against ``users``: name -> password)."""
    authorization = header(request, "Authorization") or ""
    if not authorization.startswith("Basic "):
        raise Refused(status, message, kind)
    try:
        user, _, password = base64.b64decode(authorization[len("Basic "):], validate=True).decode().partition(":")
    except ValueError:
        raise Refused(status, message, kind) from None
    if user not in users or not hmac.compare_digest(users[user].encode(), password.encode()):
        raise Refused(status, message, kind)
    return user

