"""Secret values: resolved from references only, masked everywhere they could leak.

House configs name credentials by reference (an environment variable, or an Airflow connection
id). The core resolves them here without importing Airflow: the Airflow task installs a resolver
backed by Airflow's ``BaseHook`` (so any secrets backend works); outside Airflow, a connection id is
read the way Airflow itself reads environment connections (``AIRFLOW_CONN_<ID>``, JSON or URI).
Every resolved value is registered with the redactor, which the logging filter and the error
formatter use, so a secret never reaches logs, files, exceptions or XCom.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus, urlsplit, urlunsplit

from podium.boundary import HouseBoundary
from podium.errors import ConfigError

MASK = "***"
_lock = threading.Lock()
_known: set[str] = set()
_pattern: re.Pattern[str] | None = None
_byte_forms: tuple[bytes, ...] = ()  # longest first

# A base64 piece shorter than this would mask ordinary base64 content (archived images, hashes) by chance.
_MIN_BASE64_PIECE = 8
_URLSAFE = str.maketrans("+/", "-_")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")


def secret_forms(value: str) -> set[str]:
    """Every form in which ``value`` can appear in a text: as is, URL-encoded (upper- and lower-case
    escapes), JSON/HTML-escaped and inside base64.

    For base64 the three alignment-invariant pieces are taken (the value starting at a byte offset
    of 0, 1 or 2 modulo 3 inside a larger blob), standard and URL-safe alphabets: a token inside an
    encoded blob is found wherever it sits. Only base64 characters fully determined by the value
    are kept, so the pieces match whatever surrounds it.
    """
    encoded = {quote(value, safe=""), quote(value), quote_plus(value, safe="")}
    forms = {value, html.escape(value), *encoded,
             *(_PERCENT_ESCAPE.sub(lambda m: m.group().lower(), form) for form in encoded)}
    escaped = json.dumps(value)[1:-1]
    forms |= {escaped, escaped.replace("/", "\\/"), json.dumps(value, ensure_ascii=False)[1:-1]}
    raw = value.encode()
    for offset in range(3):
        blob = base64.b64encode(b"\0" * offset + raw).decode()
        piece = blob[-(-8 * offset // 6): 8 * (offset + len(raw)) // 6]
        if len(piece) >= _MIN_BASE64_PIECE:
            forms |= {piece, piece.translate(_URLSAFE)}
    return forms


def register_secret(value: str | None) -> None:
    """Remember a secret value so that ``redact`` hides it (and its encoded forms) from any text.

    Values shorter than 4 characters are not registered: masking them would mangle ordinary text.
    """
    global _pattern, _byte_forms
    if not value or len(value) < 4:
        return
    with _lock:
        if value in _known:
            return
        _known.add(value)
        install_log_redaction()
        forms = sorted({form for known in _known for form in secret_forms(known)}, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(form) for form in forms))
        _byte_forms = tuple(form.encode() for form in forms)


def registered_secrets() -> list[str]:
    """The registered secret values (handed to the sync's own worker processes, never written anywhere)."""
    with _lock:
        return sorted(_known)


def register_basic_auth(login: str, password: str) -> None:
    """Register a Basic auth password and the header's base64 of ``login:password`` (as echoed back)."""
    register_secret(password)
    for encoding in ("utf-8", "latin-1"):
        try:
            register_secret(base64.b64encode(f"{login}:{password}".encode(encoding)).decode())
        except UnicodeEncodeError:
            continue


def redact(text: str) -> str:
    """Replace every registered secret value (and its encoded forms) in ``text`` with ``***``."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def redact_bytes(data: bytes) -> bytes:
    """``redact`` for raw bytes (a page before it is archived); the secrets' UTF-8 forms are masked.

    One substring search per form rather than a regex: about 1.5 ms a megabyte and secret, where the
    alternation regex takes about 12.
    """
    mask = MASK.encode()
    for form in _byte_forms:
        if form in data:
            data = data.replace(form, mask)
    return data


def safe_text(text: str, limit: int) -> str:
    """``text`` redacted, then cut to ``limit`` characters: cutting first would leave a secret's head
    unrecognisable to the redactor (and so in the message)."""
    redacted = redact(text)
    return redacted if len(redacted) <= limit else redacted[:limit] + "…"


# Query parameters whose values are credentials (names compared lower-case, with '-' read as '_').
CREDENTIAL_PARAMS = frozenset({
    "api_key", "apikey", "key", "token", "access_token", "refresh_token", "id_token", "auth",
    "client_secret", "password", "passwd", "pwd", "secret", "signature", "sig", "session_token",
    "x_amz_signature", "x_amz_credential", "x_amz_security_token",
})


def strip_credentials(url: str) -> str:
    """``url`` without userinfo and without credential query parameters, the others kept as sent.

    Used before a URL is stored (resume positions, labels, runs): the auth object adds the
    credential again on the next request.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    kept = [pair for pair in parts.query.split("&") if pair and not _is_credential_param(pair)]
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc, query="&".join(kept)))


def _is_credential_param(pair: str) -> bool:
    name = unquote_plus(pair.partition("=")[0]).strip().lower().replace("-", "_")
    return name in CREDENTIAL_PARAMS


_factory_installed = False


def install_log_redaction() -> None:
    """Redact registered secrets in every log record at creation, whatever handler receives it.

    A record factory (not a handler filter) is used so that handlers added later — pytest's
    caplog, Airflow's task handler, urllib3's debug lines with query strings — are covered too.
    """
    global _factory_installed
    if _factory_installed:
        return
    _factory_installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _pattern is not None:
            try:
                message = record.getMessage()
            except (TypeError, ValueError):
                message = str(record.msg)
            record.msg, record.args = redact(message), None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)


# A resolver turns a connection id into a mapping of field -> value (login, password, host, extras…).
ConnectionResolver = Callable[[str], Mapping[str, Any]]


def env_connection(conn_id: str) -> Mapping[str, Any]:
    """Read ``AIRFLOW_CONN_<ID>`` as Airflow does (JSON or URI), without importing Airflow."""
    name = "AIRFLOW_CONN_" + conn_id.upper()
    raw = os.environ.get(name)
    if raw is None:
        raise ConfigError(f"connection '{conn_id}' not found (looked for environment variable {name})")
    raw = raw.strip()
    if raw.startswith("{"):
        data = json.loads(raw)
        extra = data.pop("extra", None) or {}
        if isinstance(extra, str):
            extra = json.loads(extra) if extra else {}
        return {**extra, **{k: v for k, v in data.items() if v is not None}}
    parts = urlsplit(raw)
    fields: dict[str, Any] = dict(parse_qsl(parts.query))
    if "__extra__" in fields:
        fields.update(json.loads(fields.pop("__extra__")))
    fields.update({"conn_type": parts.scheme, "host": parts.hostname, "port": parts.port,
                   "schema": unquote(parts.path.lstrip("/")) or None})
    if parts.username:
        fields["login"] = unquote(parts.username)
    if parts.password:
        fields["password"] = unquote(parts.password)
    return {k: v for k, v in fields.items() if v is not None}


_resolver: ConnectionResolver = env_connection


def set_connection_resolver(resolver: ConnectionResolver) -> None:
    """Install the resolver for connection ids (the Airflow adapter installs BaseHook's)."""
    global _resolver
    _resolver = resolver


def resolve_credentials(credentials: Mapping[str, Any] | None, secret_fields: Mapping[str, str],
                        *, where: str, boundary: HouseBoundary, connector: str,
                        required: set[str] | None = None) -> dict[str, str]:
    """Resolve a house config's credential references into the connector's secret fields.

    ``credentials`` is ``{"conn_id": ID}`` or ``{"env": {field: ENV_NAME}}``; ``secret_fields`` maps
    each secret field of the connector's spec to the connection attribute that carries it by default
    (``login``/``password``/an extra's name). ``required`` (default: all) must resolve; the others
    are taken when present. A reference outside the house's namespace (``boundary``) is refused
    before anything is read, whether or not the config went through ``podium check``.
    """
    required = set(secret_fields) if required is None else required
    values: dict[str, str] = {}
    refusals = boundary.credential_refusals(connector, credentials)
    if refusals:
        raise ConfigError("\n".join(f"{where}.{key}: {reason}" for key, reason in refusals))
    if not secret_fields:
        return values
    if not credentials:
        if required:
            raise ConfigError(f"{where}: credentials are required (fields: {', '.join(sorted(required))})")
        return values
    if "conn_id" in credentials:
        conn = _resolver(str(credentials["conn_id"]))
        for field, attribute in secret_fields.items():
            value = conn.get(field) if conn.get(field) is not None else conn.get(attribute)
            if value is None:
                if field in required:
                    raise ConfigError(f"{where}: connection '{credentials['conn_id']}' has no '{attribute}' "
                                      f"for secret field '{field}'")
                continue
            values[field] = str(value)
    elif "env" in credentials:
        env_refs = credentials["env"]
        for field in secret_fields:
            env_name = env_refs.get(field)
            if not env_name:
                if field in required:
                    raise ConfigError(f"{where}: credentials.env has no variable for secret field '{field}'")
                continue
            value = os.environ.get(env_name)
            if value is None:
                raise ConfigError(f"{where}: environment variable {env_name} (for '{field}') is not set")
            values[field] = value
    else:
        raise ConfigError(f"{where}: credentials must be {{conn_id: …}} or {{env: {{field: VAR}}}}")
    for value in values.values():
        register_secret(value)
    return values
